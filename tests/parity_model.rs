//! The model against the original implementation, fed the reference pixels
//! (so that this test checks the network alone, not preprocessing).

mod common;

use burn::tensor::Device;
use common::*;
use inctrl::detector::{Detector, read_all};

#[test]
fn checkpoint_model_matches_reference_tensors() {
    let expected = Expected::load();
    let device = Device::flex();
    let mut detector =
        Detector::from_checkpoint(open_checkpoint("model.pyth"), tiny_config(), &device).unwrap();
    for case in cases().cases {
        let category = detector.category(&case.category).unwrap();
        let prompts: Vec<Vec<f32>> = case
            .prompts
            .iter()
            .map(|p| expected.get(&format!("pixels/{p}")))
            .collect();
        let prompt_set = detector.encode_prompts(&prompts).unwrap();
        for query in &case.queries {
            let pixels = vec![expected.get(&format!("pixels/{}", query.image))];
            let out = detector.forward(&category, &prompt_set, &pixels).unwrap();
            let [final_score, patch_map, embedding, ts, is, protos] =
                pollster::block_on(read_all([
                    out.final_score.unsqueeze_dim(1),
                    out.patch_map,
                    out.embedding,
                    out.text_score.unsqueeze_dim(1),
                    out.image_score.unsqueeze_dim(1),
                    category.prototypes.clone(),
                ]))
                .unwrap();
            println!("ts {ts:?} is {is:?} protos {:?}", &protos[..4]);
            let key = &query.key;
            println!(
                "{key}: final {} vs {}, patch_map {:e}, embedding {:e}",
                final_score[0],
                expected.get(&format!("{key}/final"))[0],
                max_abs_diff(&patch_map, &expected.get(&format!("{key}/patch_map"))),
                max_rel_diff(&embedding, &expected.get(&format!("{key}/embedding"))),
            );
        }
    }
}

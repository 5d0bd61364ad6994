//! Leave-one-out scores of the prompt images, with the tiny fixture model:
//! each equals encoding the other K − 1 as a prompt set and scoring the one
//! left out against it.

mod common;

use common::*;
use inctrl::calibrate::calibrate;

#[test]
fn leave_one_out_equals_scoring_each_prompt_against_the_others() {
    let mut detector = cpu_detector();
    let load = load_image;
    let prompts: Vec<_> = [
        "nominal_a.jpg",
        "nominal_b.jpg",
        "nominal_c.jpg",
        "gray_wide.png",
    ]
    .iter()
    .map(|name| load(name))
    .collect();
    let category = detector.category("metal_nut").unwrap();

    let loo = detector
        .score_leave_one_out_blocking(&category, &prompts)
        .unwrap();
    assert_eq!(loo.len(), prompts.len());
    for (held_out, got) in loo.iter().enumerate() {
        let others: Vec<_> = (0..prompts.len())
            .filter(|&i| i != held_out)
            .map(|i| prompts[i].clone())
            .collect();
        let set = detector.encode_prompts(&others).unwrap();
        let direct = detector
            .score_blocking(&category, &set, std::slice::from_ref(&prompts[held_out]))
            .unwrap();
        assert_eq!(got, &direct[0], "prompt {held_out} left out");
        // Scored against a set holding itself, a prompt would look more normal.
        let all = detector.encode_prompts(&prompts).unwrap();
        let with_itself = detector
            .score_blocking(&category, &all, std::slice::from_ref(&prompts[held_out]))
            .unwrap();
        assert!(with_itself[0].patch_max < got.patch_max);
    }

    let scores: Vec<f32> = loo.iter().map(|s| s.score).collect();
    let calibration = calibrate(&scores, 0.25).unwrap();
    let max = scores.iter().copied().fold(f32::MIN, f32::max);
    assert_eq!((calibration.threshold, calibration.normals), (max, 4));
    let one = detector.score_leave_one_out_blocking(&category, &prompts[..1]);
    assert!(one.unwrap_err().to_string().contains("at least 2"));
}

//! Per-sample semantics: a query's result must not depend on what else is in its batch.

mod common;

use common::*;

#[test]
fn batch_scores_equal_one_by_one_scores_exactly() {
    let mut detector = cpu_detector();
    let load = load_image;
    let category = detector.category("candle").unwrap();
    let prompts = detector
        .encode_prompts(&[load("nominal_a.jpg"), load("nominal_b.jpg")])
        .unwrap();
    let queries: Vec<_> = [
        "nominal_c.jpg",
        "local_defect.jpg",
        "global_defect.jpg",
        "gray_wide.png",
        "thin_strip.jpg",
    ]
    .iter()
    .map(|name| load(name))
    .collect();

    let batch = detector
        .score_blocking(&category, &prompts, &queries)
        .unwrap();
    for (query, batched) in queries.iter().zip(&batch) {
        let alone = detector
            .score_blocking(&category, &prompts, std::slice::from_ref(query))
            .unwrap();
        assert_eq!(
            &alone[0], batched,
            "a query scored alone and in a batch must agree bit for bit"
        );
    }
    let distinct: std::collections::BTreeSet<u32> =
        batch.iter().map(|s| s.score.to_bits()).collect();
    assert_eq!(
        distinct.len(),
        queries.len(),
        "different images get different scores"
    );
}

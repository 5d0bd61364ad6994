//! The `inctrl` binary end to end: convert, score (JSON and table), and clean
//! one-line errors with a non-zero exit code on bad input.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde::Deserialize;

/// Runs a command that must fail and returns its one-line error.
fn failure(args: &[&str]) -> String {
    let out = run_inctrl(args);
    assert!(!out.status.success(), "{args:?} should have failed");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[derive(Deserialize)]
struct Report {
    category: String,
    k: usize,
    results: Vec<ImageResult>,
}

#[derive(Deserialize)]
struct ImageResult {
    image: String,
    score: f32,
    patch_max: f32,
    text_score: f32,
    image_score: f32,
    holistic_score: f32,
    patch_map: Vec<f32>,
}

fn convert(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let config = fixture("config.json");
    let checkpoint = fixture("model.pyth");
    let mut args = vec![
        "convert",
        "--checkpoint",
        path(&checkpoint),
        "--config",
        path(&config),
        "--out",
        path(&out),
    ];
    args.extend_from_slice(extra);
    inctrl_stdout(&args);
    out
}

/// `inctrl score` for case 1 of the fixtures (metal_nut, K = 2) with extra arguments.
fn score_case1(weights: &Path, extra: &[&str]) -> Report {
    let case = &cases().cases[1];
    let images: Vec<PathBuf> = case
        .prompts
        .iter()
        .chain(case.queries.iter().map(|q| &q.image))
        .map(|n| image_path(n))
        .collect();
    let mut args = vec![
        "score",
        "--weights",
        path(weights),
        "--category",
        &case.category,
    ];
    for prompt in &images[..case.prompts.len()] {
        args.extend(["--prompt", path(prompt)]);
    }
    args.extend_from_slice(extra);
    args.extend(images[case.prompts.len()..].iter().map(|p| path(p)));
    serde_json::from_str(&inctrl_stdout(&args)).unwrap()
}

fn assert_matches_reference(report: &Report) {
    let case = &cases().cases[1];
    let expected = Expected::load();
    assert_eq!((report.category.as_str(), report.k), ("metal_nut", 2));
    assert_eq!(report.results.len(), case.queries.len());
    for (query, result) in case.queries.iter().zip(&report.results) {
        let key = &query.key;
        assert!(result.image.ends_with(&query.image));
        for (name, value) in [
            ("final", result.score),
            ("patch_max", result.patch_max),
            ("text_score", result.text_score),
            ("image_score", result.image_score),
            ("holistic_score", result.holistic_score),
        ] {
            let want = expected.get(&format!("{key}/{name}"))[0];
            assert!(
                (value - want).abs() <= 1e-6,
                "{key}/{name}: {value} vs {want}"
            );
        }
        assert!(
            max_abs_diff(
                &result.patch_map,
                &expected.get(&format!("{key}/patch_map"))
            ) <= 1e-6
        );
    }
}

#[test]
fn convert_then_score_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = convert(dir.path(), "tiny.bpk", &[]);
    assert_matches_reference(&score_case1(
        &bundle,
        &["--format", "json", "--device", "cpu"],
    ));
}

#[test]
fn scores_straight_from_the_checkpoint() {
    let config = fixture("config.json");
    assert_matches_reference(&score_case1(
        &fixture("model.pyth"),
        &["--config", path(&config)],
    ));
}

#[test]
fn table_format_lists_every_query() {
    let config = fixture("config.json");
    let checkpoint = fixture("model.pyth");
    let (a, b, c) = (
        image_path("nominal_a.jpg"),
        image_path("nominal_b.jpg"),
        image_path("local_defect.jpg"),
    );
    let table = inctrl_stdout(&[
        "score",
        "--weights",
        path(&checkpoint),
        "--config",
        path(&config),
        "--category",
        "candle",
        "--prompt",
        path(&a),
        "--format",
        "table",
        path(&b),
        path(&c),
    ]);
    assert!(table.contains("category candle, K = 1"), "{table}");
    assert!(
        table.contains("holistic")
            && table.contains("nominal_b.jpg")
            && table.contains("local_defect.jpg"),
        "{table}"
    );
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = convert(dir.path(), "tiny.bpk", &["--half"]);
    let corrupt = dir.path().join("corrupt.jpg");
    let jpeg = std::fs::read(image_path("nominal_a.jpg")).unwrap();
    std::fs::write(&corrupt, &jpeg[..jpeg.len() / 3]).unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.path().join("garbage.bpk");
    std::fs::write(&garbage, b"not a model at all").unwrap();
    let good = image_path("nominal_a.jpg");
    let score = |weights: &Path, category: &str, query: &Path| {
        failure(&[
            "score",
            "--weights",
            path(weights),
            "--category",
            category,
            "--prompt",
            path(&good),
            path(query),
        ])
    };

    let err = score(&bundle, "candle", &corrupt);
    assert!(
        err.contains("corrupt.jpg") && err.contains("corrupt or truncated JPEG"),
        "{err}"
    );
    let err = score(&bundle, "candle", &empty);
    assert!(err.contains("empty.png") && err.contains("empty"), "{err}");
    let err = score(&garbage, "candle", &good);
    assert!(err.contains("unrecognised weights file"), "{err}");
    let err = score(&bundle, "hot_dog", &good);
    assert!(
        err.contains("'hot_dog'") && err.contains("--with-text"),
        "{err}"
    );
    let err = score(&dir.path().join("missing.bpk"), "candle", &good);
    assert!(err.contains("missing.bpk"), "{err}");
    let err = failure(&[
        "convert",
        "--checkpoint",
        path(&garbage),
        "--out",
        path(&dir.path().join("x.bpk")),
    ]);
    assert!(err.contains("unrecognised weights file"), "{err}");
}

/// `inctrl score` of one query against one prompt, returning the final score.
fn score_one(weights: &Path, category: &str) -> Result<f32, String> {
    let (prompt, query) = (image_path("nominal_a.jpg"), image_path("local_defect.jpg"));
    let args = [
        "score",
        "--weights",
        path(weights),
        "--category",
        category,
        "--prompt",
        path(&prompt),
        path(&query),
    ];
    let out = run_inctrl(&args);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let report: Report = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.category, category);
    Ok(report.results[0].score)
}

#[test]
fn with_text_bundle_scores_any_category_name() {
    let dir = tempfile::tempdir().unwrap();
    let with_text = convert(dir.path(), "text.bpk", &["--with-text"]);
    let score = score_one(&with_text, "circuit board").unwrap();
    assert!(score.is_finite());
}

#[test]
fn extra_categories_are_precomputed_without_the_text_tower() {
    let dir = tempfile::tempdir().unwrap();
    let with_text = convert(dir.path(), "text.bpk", &["--with-text"]);
    let precomputed = convert(
        dir.path(),
        "cats.bpk",
        &["--categories", "hot_dog,metal_nut"],
    );
    for category in ["hot_dog", "metal_nut"] {
        let from_table = score_one(&precomputed, category).unwrap();
        let from_tower = score_one(&with_text, category).unwrap();
        assert!(
            (from_table - from_tower).abs() <= 1e-6,
            "{category}: precomputed prototypes give {from_table}, the text tower {from_tower}"
        );
    }
    let err = score_one(&precomputed, "circuit board").unwrap_err();
    assert!(err.contains("--with-text"), "{err}");
}

/// `--precision f16` (opt-in): within a small distance of the original's
/// f32 scores, on the CPU and on wgpu (lavapipe has shader-f16), and really
/// computed in f16: not equal to the f32 run.
#[test]
fn f16_compute_stays_close_to_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = convert(dir.path(), "tiny.bpk", &[]);
    let expected = Expected::load();
    let case = &cases().cases[1];
    for device in ["cpu", "wgpu"] {
        let full = score_case1(&bundle, &["--device", device]);
        let half = score_case1(&bundle, &["--device", device, "--precision", "f16"]);
        let mut worst: f32 = 0.0;
        let mut moved: f32 = 0.0;
        for ((query, f16), f32) in case.queries.iter().zip(&half.results).zip(&full.results) {
            let want = expected.get(&format!("{}/final", query.key))[0];
            let map = expected.get(&format!("{}/patch_map", query.key));
            worst = worst
                .max((f16.score - want).abs())
                .max(max_abs_diff(&f16.patch_map, &map));
            moved = moved.max((f16.score - f32.score).abs());
        }
        println!("{device}: f16 within {worst:e} of the reference");
        assert!(worst <= 2e-3, "{device}: f16 is {worst} off the reference");
        assert!(
            moved > 1e-6,
            "{device}: f16 gave the f32 scores; was it computed in f16?"
        );
    }
}

//! `inctrl score` with folders, glob patterns, `--format csv`, `--threshold`
//! and `--maps`, and `inctrl calibrate`, end to end with the tiny fixture model.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use inctrl::CropGeometry;
use inctrl::maps::{DEFAULT_SIGMA, anomaly_map};
use inctrl::preprocess::preprocess_image;
use serde_json::Value;

/// `<work>/tiny.bpk`, prompts in `<work>/good/` and queries in `<work>/queries/`.
fn workspace() -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    inctrl_stdout(&[
        "convert",
        "--checkpoint",
        path(&fixture("model.pyth")),
        "--config",
        path(&fixture("config.json")),
        "--out",
        path(&dir.join("tiny.bpk")),
    ]);
    for (folder, names) in [
        ("good", &["nominal_a.jpg", "nominal_b.jpg"][..]),
        (
            "queries",
            &[
                "local_defect.jpg",
                "nominal_c.jpg",
                "gray_wide.png",
                "rgba_tall.png",
            ][..],
        ),
    ] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
        for name in names {
            std::fs::copy(image_path(name), dir.join(folder).join(name)).unwrap();
        }
    }
    std::fs::write(dir.join("queries/notes.txt"), "not an image").unwrap();
    work
}

fn score(dir: &Path, extra: &[&str]) -> String {
    let weights = dir.join("tiny.bpk");
    let mut args = vec![
        "score",
        "--weights",
        path(&weights),
        "--category",
        "metal_nut",
    ];
    args.extend_from_slice(extra);
    inctrl_stdout(&args)
}

fn results(json: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(json).unwrap();
    report["results"].as_array().unwrap().clone()
}

#[test]
fn folders_and_patterns_score_as_the_files_they_name() {
    let work = workspace();
    let dir = work.path();
    let (good, queries) = (dir.join("good"), dir.join("queries"));
    let explicit = score(
        dir,
        &[
            "--prompt",
            path(&good.join("nominal_a.jpg")),
            "--prompt",
            path(&good.join("nominal_b.jpg")),
            path(&queries.join("gray_wide.png")),
            path(&queries.join("local_defect.jpg")),
            path(&queries.join("nominal_c.jpg")),
            path(&queries.join("rgba_tall.png")),
        ],
    );
    let pattern = queries.join("*.jpg");
    let expanded = score(
        dir,
        &[
            "--prompt",
            path(&good),
            path(&queries.join("*.png")),
            path(&pattern),
        ],
    );
    let (explicit, expanded) = (results(&explicit), results(&expanded));
    let names: Vec<&str> = expanded
        .iter()
        .map(|r| r["image"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names[0].ends_with("gray_wide.png") && names[3].ends_with("nominal_c.jpg"));
    for r in &expanded {
        let same = explicit.iter().find(|e| e["image"] == r["image"]).unwrap();
        assert_eq!(
            same, r,
            "the same image scores the same however it was named"
        );
    }
    let folder = results(&score(dir, &["--prompt", path(&good), path(&queries)]));
    assert_eq!(folder.len(), 4, "the folder's images, not its notes");
}

#[test]
fn csv_and_threshold_report_every_image() {
    let work = workspace();
    let dir = work.path();
    let (good, queries) = (dir.join("good"), dir.join("queries"));
    let plain = results(&score(dir, &["--prompt", path(&good), path(&queries)]));
    let mut scores: Vec<f32> = plain
        .iter()
        .map(|r| r["score"].as_f64().unwrap() as f32)
        .collect();
    scores.sort_by(f32::total_cmp);
    let threshold = scores[1].to_string(); // two images above it, two not
    let json = score(
        dir,
        &[
            "--prompt",
            path(&good),
            "--threshold",
            &threshold,
            path(&queries),
        ],
    );
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["threshold"].as_f64().unwrap() as f32, scores[1]);
    let flags: Vec<bool> = results(&json)
        .iter()
        .map(|r| r["anomalous"].as_bool().unwrap())
        .collect();
    assert_eq!(flags.iter().filter(|&&a| a).count(), 2, "{flags:?}");
    assert!(plain.iter().all(|r| r.get("anomalous").is_none()));

    let csv = score(
        dir,
        &[
            "--prompt",
            path(&good),
            "--threshold",
            &threshold,
            "--format",
            "csv",
            path(&queries),
        ],
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "image",
            "score",
            "anomalous",
            "patch_max",
            "text_score",
            "image_score",
            "holistic_score"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), plain.len());
    for (row, (json, flag)) in rows.iter().zip(plain.iter().zip(&flags)) {
        assert_eq!(&row[0], json["image"].as_str().unwrap());
        assert_eq!(row[2].parse::<bool>().unwrap(), *flag);
        for (column, key) in [
            (1, "score"),
            (3, "patch_max"),
            (4, "text_score"),
            (5, "image_score"),
            (6, "holistic_score"),
        ] {
            let value: f32 = row[column].parse().unwrap();
            assert_eq!(value, json[key].as_f64().unwrap() as f32, "{key}");
        }
    }
    let without = score(
        dir,
        &["--prompt", path(&good), "--format", "csv", path(&queries)],
    );
    assert!(
        without
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(2) == Some("")),
        "{without}"
    );
}

/// `(shape, values)` of a float32 `.npy` file.
fn read_npy(path: &Path) -> ((usize, usize), Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    let dims: Vec<usize> = shape[..shape.find(')').unwrap()]
        .split(", ")
        .map(|d| d.parse().unwrap())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    ((dims[0], dims[1]), values)
}

#[test]
fn maps_are_written_at_image_resolution() {
    let work = workspace();
    let dir = work.path();
    let (good, queries, maps) = (dir.join("good"), dir.join("queries"), dir.join("maps"));
    let json = score(
        dir,
        &[
            "--prompt",
            path(&good),
            "--maps",
            path(&maps),
            path(&queries),
        ],
    );
    for result in results(&json) {
        let image = PathBuf::from(result["image"].as_str().unwrap());
        let stem = image.file_stem().unwrap().to_str().unwrap();
        let pixels = preprocess_image(&std::fs::read(&image).unwrap(), 240).unwrap();
        let geometry: &CropGeometry = pixels.geometry();
        let patch_map: Vec<f32> = result["patch_map"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let expected = anomaly_map(&patch_map, geometry, Some(DEFAULT_SIGMA)).unwrap();

        let ((rows, columns), values) = read_npy(&maps.join(format!("{stem}.npy")));
        assert_eq!(
            (columns as u32, rows as u32),
            (geometry.width, geometry.height),
            "{stem}"
        );
        assert!(
            values
                .iter()
                .zip(&expected.values)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{stem}: the .npy holds the library's map"
        );
        let cut = geometry.width != geometry.height;
        assert_eq!(
            values.iter().any(|v| v.is_nan()),
            cut,
            "{stem}: NaN where cut"
        );

        let png = std::fs::File::open(maps.join(format!("{stem}.png"))).unwrap();
        let info = png::Decoder::new(std::io::BufReader::new(png))
            .read_info()
            .unwrap();
        let size = (info.info().width, info.info().height);
        assert_eq!(size, (geometry.width, geometry.height), "{stem}");
    }
}

#[test]
fn calibrate_sets_the_threshold_from_normals_or_leave_one_out() {
    let work = workspace();
    let dir = work.path();
    let (good, queries) = (dir.join("good"), dir.join("queries"));
    let weights = dir.join("tiny.bpk");
    let calibrate = |extra: &[&str]| -> Value {
        let mut args = vec![
            "calibrate",
            "--weights",
            path(&weights),
            "--category",
            "metal_nut",
            "--prompt",
            path(&good),
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&inctrl_stdout(&args)).unwrap()
    };
    // Four normals (the prompts among them are left out): k = ⌊0.4 · 5⌋ = 2,
    // the second-largest of their scores against the prompts.
    let calibration = calibrate(&["--false-alarm", "0.4", path(&queries), path(&good)]);
    let mut scores: Vec<f32> = results(&score(dir, &["--prompt", path(&good), path(&queries)]))
        .iter()
        .map(|r| r["score"].as_f64().unwrap() as f32)
        .collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(calibration["threshold"].as_f64().unwrap() as f32, scores[1]);
    assert_eq!(calibration["normals"], 4);
    assert_eq!(calibration["method"], "normals");
    assert_eq!(calibration["expected_false_alarm"], 0.4);
    assert!(calibration.get("warning").is_none());

    // No normals: each prompt against the other, and too few for 1 %.
    let loo = calibrate(&[]);
    assert_eq!(
        (loo["method"].as_str(), loo["normals"].as_u64()),
        (Some("leave_one_out"), Some(2))
    );
    assert_eq!(loo["false_alarm"], 0.01);
    assert!(
        loo["warning"]
            .as_str()
            .unwrap()
            .contains("at least 99 normal images")
    );
    let against_each_other = [
        ("nominal_b.jpg", "nominal_a.jpg"),
        ("nominal_a.jpg", "nominal_b.jpg"),
    ]
    .map(|(prompt, query)| {
        let out = score(
            dir,
            &[
                "--prompt",
                path(&good.join(prompt)),
                path(&good.join(query)),
            ],
        );
        results(&out)[0]["score"].as_f64().unwrap() as f32
    });
    let max = against_each_other[0].max(against_each_other[1]);
    assert_eq!(loo["threshold"].as_f64().unwrap() as f32, max);
}

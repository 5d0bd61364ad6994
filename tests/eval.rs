//! `inctrl prepare elpv` + `inctrl eval` end to end on the real ELPV dataset
//! (the `elpv-dataset` PyPI package, which `test.sh` installs; CC BY-NC-SA, so
//! it is never committed) with the tiny fixture model: report structure, one
//! score per test image per prompt set, metrics that the CSV reproduces, and
//! an interrupted, killed and resumed run that ends with the same report.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{fixture, inctrl, python_package_dir, rows_written, run};
use inctrl::eval::metrics::{auroc, average_precision};
use serde_json::Value;

const TEST_NORMALS: usize = 377;
const TEST_ANOMALIES: usize = 313 + 402;
const TRAIN_NORMALS: usize = 1131;
const SEEDS: [u32; 2] = [10, 11];

/// The `data/` folder of the installed `elpv-dataset` package.
fn elpv_source() -> PathBuf {
    python_package_dir("elpv_dataset", "elpv-dataset").join("data")
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// `inctrl eval` of `<work>/data` with `<work>/tiny.bpk`, writing `<name>.json` and `<name>.csv`.
fn eval_command(work: &Path, name: &str, k: &str, seeds: &str) -> Command {
    let mut command = inctrl();
    command
        .args(["eval", "--k", k, "--seeds", seeds, "--weights"])
        .arg(work.join("tiny.bpk"))
        .arg("--data")
        .arg(work.join("data"))
        .arg("--out")
        .arg(work.join(format!("{name}.json")))
        .arg("--scores")
        .arg(work.join(format!("{name}.csv")));
    command
}

/// The ELPV run: K = 2 and two seeds.
fn eval(work: &Path, name: &str, resume: bool) -> Command {
    let mut command = eval_command(work, name, "2", "2");
    if resume {
        command.arg("--resume");
    }
    command
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `(seed, image) -> (label, score)` from a scores CSV, checking each appears once.
fn read_scores(path: &Path, category: &str) -> BTreeMap<(u32, String), (u8, f32)> {
    // A plain CSV: a header, then rows, as pandas.read_csv expects.
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["category", "k", "seed", "image", "label", "score"]
    );
    let mut scores = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        assert_eq!((&record[0], &record[1]), (category, "2"), "{record:?}");
        let key = (record[2].parse().unwrap(), record[3].to_owned());
        let value = (record[4].parse().unwrap(), record[5].parse().unwrap());
        assert!(
            scores.insert(key, value).is_none(),
            "scored twice: {record:?}"
        );
    }
    scores
}

fn wait_for_rows(child: &mut Child, path: &Path, rows: usize) {
    while rows_written(path) < rows {
        assert!(
            child.try_wait().unwrap().is_none(),
            "eval ended before {rows} rows"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The fixture model as `<work>/tiny.bpk`.
fn convert_tiny_model(work: &Path) {
    run(inctrl()
        .args(["convert", "--config"])
        .arg(fixture("config.json"))
        .arg("--checkpoint")
        .arg(fixture("model.pyth"))
        .arg("--out")
        .arg(work.join("tiny.bpk")));
}

fn prepare(work: &Path) {
    run(inctrl()
        .args(["prepare", "elpv"])
        .arg(elpv_source())
        .arg(work.join("data")));
    let elpv = work.join("data/elpv");
    let counts =
        ["train/good", "test/good", "test/mono", "test/poly"].map(|f| count_files(&elpv.join(f)));
    assert_eq!(counts, [TRAIN_NORMALS, TEST_NORMALS, 313, 402]);
    convert_tiny_model(work);
}

/// Everything the report promises, checked against the data and the CSV.
fn check_report(work: &Path, report: &Value, scores: &BTreeMap<(u32, String), (u8, f32)>) {
    assert_eq!(report["complete"], true);
    assert_eq!(report["settings"]["k"], serde_json::json!([2]));
    assert_eq!(report["settings"]["seeds"], serde_json::json!(SEEDS));
    let categories = report["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 1);
    let elpv = &categories[0];
    assert_eq!(elpv["name"], "elpv");
    assert_eq!(elpv["test_images"], TEST_NORMALS + TEST_ANOMALIES);
    assert_eq!(elpv["anomalous"], TEST_ANOMALIES);
    assert_eq!(elpv["train_normals"], TRAIN_NORMALS);

    let runs = elpv["runs"].as_array().unwrap();
    assert_eq!(runs.len(), SEEDS.len());
    let (mut aurocs, mut auprcs) = (Vec::new(), Vec::new());
    for (run, seed) in runs.iter().zip(SEEDS) {
        assert_eq!(
            (run["k"].as_u64(), run["seed"].as_u64()),
            (Some(2), Some(u64::from(seed)))
        );
        let prompts: BTreeSet<&str> = run["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(prompts.len(), 2, "two different prompts: {prompts:?}");
        for prompt in &prompts {
            assert!(prompt.starts_with("elpv/train/good/"), "{prompt}");
            assert!(work.join("data").join(prompt).is_file(), "{prompt}");
        }
        assert_eq!(run["scored"], TEST_NORMALS + TEST_ANOMALIES);

        let mine: Vec<(&String, &(u8, f32))> = scores
            .iter()
            .filter(|((s, _), _)| *s == seed)
            .map(|((_, image), v)| (image, v))
            .collect();
        assert_eq!(
            mine.len(),
            TEST_NORMALS + TEST_ANOMALIES,
            "every test image once"
        );
        for (image, (label, _)) in &mine {
            let anomalous = !image.starts_with("elpv/test/good/");
            assert_eq!(*label, u8::from(anomalous), "{image}");
            assert!(work.join("data").join(image).is_file(), "{image}");
            assert!(
                !prompts.contains(image.as_str()),
                "a prompt is not a test image"
            );
        }
        let labels: Vec<bool> = mine.iter().map(|(_, (l, _))| *l == 1).collect();
        let values: Vec<f32> = mine.iter().map(|(_, (_, s))| *s).collect();
        let (roc, prc) = (
            auroc(&labels, &values).unwrap(),
            average_precision(&labels, &values).unwrap(),
        );
        assert_eq!(run["auroc"].as_f64(), Some(roc), "AUROC from the CSV");
        assert_eq!(run["auprc"].as_f64(), Some(prc), "AUPRC from the CSV");
        aurocs.push(roc);
        auprcs.push(prc);
    }
    assert_ne!(
        runs[0]["prompts"], runs[1]["prompts"],
        "seeds draw different prompts"
    );
    let summary = &elpv["summary"]["2"];
    assert_eq!(summary["seeds"], 2);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let std =
        |v: &[f64]| (v.iter().map(|x| (x - mean(v)).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    for (key, values) in [("auroc", &aurocs), ("auprc", &auprcs)] {
        let reported = |stat: &str| summary[format!("{key}_{stat}")].as_f64().unwrap();
        assert!(
            (reported("mean") - mean(values)).abs() < 1e-12,
            "{key} mean"
        );
        assert!((reported("std") - std(values)).abs() < 1e-12, "{key} std");
    }
}

/// The report without what names the scores file.
fn comparable(mut report: Value) -> Value {
    report["settings"].as_object_mut().unwrap().remove("scores");
    report
}

#[test]
fn prepare_and_evaluate_elpv_then_interrupt_kill_and_resume() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    prepare(work);

    let out = run(&mut eval(work, "whole", false));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| elpv |") && table.contains("K=2 AUROC"),
        "{table}"
    );
    let whole = read_json(&work.join("whole.json"));
    let whole_scores = read_scores(&work.join("whole.csv"), "elpv");
    check_report(work, &whole, &whole_scores);

    // Ctrl-C: the partial report and scores are written, and the error says how to go on.
    let csv = work.join("parts.csv");
    let mut child = eval(work, "parts", false)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_rows(&mut child, &csv, 300);
    let pid = child.id().to_string();
    run(Command::new("kill").args(["-INT", &pid]));
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "an interrupted run exits as SIGINT would"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--resume"), "{stderr}");
    let partial = read_json(&work.join("parts.json"));
    assert_eq!(partial["complete"], false);
    assert!(rows_written(&csv) < 2 * (TEST_NORMALS + TEST_ANOMALIES));

    // SIGKILL gives no chance to clean up: only the flushed CSV rows survive.
    let mut child = eval(work, "parts", true)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_rows(&mut child, &csv, 1500);
    child.kill().unwrap();
    child.wait().unwrap();

    run(&mut eval(work, "parts", true));
    let resumed = read_json(&work.join("parts.json"));
    let resumed_scores = read_scores(&csv, "elpv");
    assert_eq!(
        resumed_scores, whole_scores,
        "the same score for every image"
    );
    assert_eq!(comparable(resumed), comparable(whole));
}

/// A PyTorch `.pt` file as `torch.save(list_of_tensors)` writes it: a zip with a
/// protocol-2 pickle whose tensors point at raw little-endian storages.
fn write_torch_list(path: &Path, tensors: &[Vec<f32>], shape: [u32; 3]) {
    use std::io::Write;
    let global = |module: &str, name: &str| format!("c{module}\n{name}\n").into_bytes();
    let text = |s: &str| {
        let mut bytes = vec![b'X'];
        bytes.extend_from_slice(&(s.len() as u32).to_le_bytes());
        bytes.extend_from_slice(s.as_bytes());
        bytes
    };
    let int = |v: u32| {
        let mut bytes = vec![b'J'];
        bytes.extend_from_slice(&v.to_le_bytes());
        bytes
    };
    let strides = [shape[1] * shape[2], shape[2], 1];
    let mut pickle = vec![0x80, 2, b']', b'('];
    for (i, tensor) in tensors.iter().enumerate() {
        pickle.extend(global("torch._utils", "_rebuild_tensor_v2"));
        pickle.extend(b"((");
        pickle.extend(text("storage"));
        pickle.extend(global("torch", "FloatStorage"));
        pickle.extend(text(&i.to_string()));
        pickle.extend(text("cpu"));
        pickle.extend(int(tensor.len() as u32));
        pickle.extend(b"tQ");
        pickle.extend(int(0));
        for dims in [shape, strides] {
            pickle.push(b'(');
            dims.into_iter().for_each(|d| pickle.extend(int(d)));
            pickle.push(b't');
        }
        pickle.push(0x89);
        pickle.extend(global("collections", "OrderedDict"));
        pickle.extend(b")Rt");
        pickle.push(b'R');
    }
    pickle.extend(b"e.");

    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut entry = |name: &str, bytes: &[u8]| {
        zip.start_file(format!("fewshot/{name}"), stored).unwrap();
        zip.write_all(bytes).unwrap();
    };
    entry("data.pkl", &pickle);
    entry("byteorder", b"little");
    for (i, tensor) in tensors.iter().enumerate() {
        let bytes: Vec<u8> = tensor.iter().flat_map(|v| v.to_le_bytes()).collect();
        entry(&format!("data/{i}"), &bytes);
    }
    entry("version", b"3");
    zip.finish().unwrap();
}

/// Scores by image name from a one-run scores CSV.
fn scores_by_image(path: &Path) -> BTreeMap<String, f32> {
    read_scores(path, "metal_nut")
        .into_iter()
        .map(|((_, image), (_, score))| (image, score))
        .collect()
}

#[test]
fn official_few_shot_files_are_used_as_given() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let category = work.join("data/metal_nut");
    for (folder, images) in [
        ("train/good", ["nominal_a.jpg", "nominal_b.jpg"]),
        ("test/good", ["nominal_c.jpg", "nominal_d.jpg"]),
        ("test/defect", ["local_defect.jpg", "global_defect.jpg"]),
    ] {
        std::fs::create_dir_all(category.join(folder)).unwrap();
        for image in images {
            std::fs::copy(common::image_path(image), category.join(folder).join(image)).unwrap();
        }
    }
    convert_tiny_model(work);
    // The reference preprocessing of the two training images, as the official files hold it.
    let expected = common::Expected::load();
    let pixels = ["nominal_a.jpg", "nominal_b.jpg"].map(|i| expected.get(&format!("pixels/{i}")));
    std::fs::create_dir_all(work.join("fewshot/2")).unwrap();
    write_torch_list(&work.join("fewshot/2/metal_nut.pt"), &pixels, [3, 240, 240]);

    let eval_with = |name: &str, k: &str, extra: &[&str]| {
        let mut command = eval_command(work, name, k, "1");
        command.args(extra);
        command
    };
    run(&mut eval_with("drawn", "2", &[]));
    let fewshot = work.join("fewshot");
    run(&mut eval_with(
        "official",
        "2",
        &["--prompts-dir", fewshot.to_str().unwrap()],
    ));

    let (drawn, official) = (
        scores_by_image(&work.join("drawn.csv")),
        scores_by_image(&work.join("official.csv")),
    );
    assert_eq!(drawn.len(), 4);
    assert_eq!(
        drawn.keys().collect::<Vec<_>>(),
        official.keys().collect::<Vec<_>>()
    );
    for (image, score) in &drawn {
        let diff = (score - official[image]).abs();
        assert!(
            diff < 1e-5,
            "{image}: drawn {score}, official file {}",
            official[image]
        );
    }
    let report = read_json(&work.join("official.json"));
    let prompts = &report["categories"][0]["runs"][0]["prompts"];
    assert!(
        prompts[0].as_str().unwrap().ends_with("metal_nut.pt#0"),
        "{prompts}"
    );

    let error_for_k4 = |name: &str| {
        let out = eval_with(name, "4", &["--prompts-dir", fewshot.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = error_for_k4("missing");
    assert!(missing.contains("no metal_nut.pt"), "{missing}");
    write_torch_list(&fewshot.join("metal_nut.pt"), &pixels, [3, 240, 240]);
    let wrong_k = error_for_k4("wrong_k");
    assert!(
        wrong_k.contains("holds 2 prompt images, not K = 4"),
        "{wrong_k}"
    );
}

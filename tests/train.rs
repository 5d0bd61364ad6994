//! `inctrl train` end to end with the tiny fixture model: auxiliary data from
//! the original's JSON lists (textile images of the `conformal-clip-data`
//! PyPI package, MIT), validation on ELPV (the `elpv-dataset` package, as in
//! `tests/eval.rs`), an interrupted and resumed run that equals an
//! uninterrupted one, a falling loss, and a model that `score` and `eval` load.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fixture, image_path, inctrl, python_package_dir, rows_written, run};
use serde_json::{Value, json};

const STEPS_PER_EPOCH: usize = 20;
const EPOCHS: usize = 4;

/// The first `count` images of a folder, sorted.
fn first_images(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= count,
        "{} has {} files",
        dir.display(),
        files.len()
    );
    files.truncate(count);
    files
}

/// A JSON list in the original's format.
fn write_list(path: &Path, images: &[PathBuf], anomalous: bool, category: &str) {
    let items: Vec<Value> = images
        .iter()
        .map(|p| json!({"image_path": p.display().to_string(), "target": u8::from(anomalous), "type": category}))
        .collect();
    std::fs::write(path, serde_json::to_string(&items).unwrap()).unwrap();
}

/// Training lists (textile) and validation lists (ELPV) in `work`.
fn write_data(work: &Path) {
    let textile = python_package_dir("conformal_clip_data", "conformal-clip-data")
        .join("data/textile_images/simulated");
    let mut anomalies = first_images(&textile.join("local"), 12);
    anomalies.extend(first_images(&textile.join("global"), 12));
    write_list(
        &work.join("textile_normal.json"),
        &first_images(&textile.join("nominal"), 24),
        false,
        "textile",
    );
    write_list(
        &work.join("textile_outlier.json"),
        &anomalies,
        true,
        "textile",
    );

    let elpv = work.join("elpv");
    run(inctrl()
        .args(["prepare", "elpv"])
        .arg(python_package_dir("elpv_dataset", "elpv-dataset").join("data"))
        .arg(&elpv));
    let elpv = elpv.join("elpv");
    let mut test = first_images(&elpv.join("test/mono"), 10);
    test.extend(first_images(&elpv.join("test/poly"), 10));
    write_list(&work.join("elpv_outlier.json"), &test, true, "elpv");
    write_list(
        &work.join("elpv_normal.json"),
        &first_images(&elpv.join("test/good"), 20),
        false,
        "elpv",
    );
    write_list(
        &work.join("elpv_train.json"),
        &first_images(&elpv.join("train/good"), 8),
        false,
        "elpv",
    );
}

fn train(work: &Path, out: &str, resume: bool) -> Command {
    let mut command = inctrl();
    command
        .args(["train", "--weights"])
        .arg(fixture("model.pyth"))
        .arg("--config")
        .arg(fixture("config.json"))
        .arg("--data")
        .arg(work.join("textile_normal.json"))
        .arg("--data")
        .arg(work.join("textile_outlier.json"))
        .arg("--val")
        .arg(work.join("elpv_normal.json"))
        .arg("--val")
        .arg(work.join("elpv_outlier.json"))
        .arg("--val-train-json")
        .arg(work.join("elpv_train.json"))
        .args([
            "--batch-size",
            "8",
            "--steps-per-epoch",
            &STEPS_PER_EPOCH.to_string(),
        ])
        .args(["--epochs", &EPOCHS.to_string(), "--out"])
        .arg(work.join(out));
    if resume {
        command.arg("--resume");
    }
    command
}

/// Rows of a CSV file after its header, split into fields.
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

fn column(rows: &[Vec<String>], index: usize) -> Vec<f64> {
    rows.iter().map(|r| r[index].parse().unwrap()).collect()
}

/// Interrupts a run with SIGINT in its second epoch, then resumes it.
fn interrupted_then_resumed(work: &Path) {
    let mut child = train(work, "resumed", false)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = work.join("resumed/train.csv");
    while rows_written(&log) < STEPS_PER_EPOCH + 5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    run(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let stopped = rows_written(&log);
    assert!(
        stopped < EPOCHS * STEPS_PER_EPOCH,
        "stopped after step {stopped}"
    );

    let out = train(work, "resumed", false).output().unwrap();
    assert!(
        !out.status.success(),
        "a second run into the same folder needs --resume"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    run(&mut train(work, "resumed", true));
}

#[test]
fn train_resume_then_score_and_evaluate_the_model() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    write_data(work);
    run(&mut train(work, "whole", false));
    interrupted_then_resumed(work);

    let whole = csv_rows(&work.join("whole/train.csv"));
    assert_eq!(whole.len(), EPOCHS * STEPS_PER_EPOCH);
    let steps: Vec<f64> = column(&whole, 0);
    assert_eq!(
        steps,
        (1..=whole.len()).map(|s| s as f64).collect::<Vec<_>>()
    );
    // A resumed run sees the same batches and state: the same losses.
    let resumed = csv_rows(&work.join("resumed/train.csv"));
    for (a, b) in column(&whole, 2).iter().zip(column(&resumed, 2)) {
        assert!((a - b).abs() < 1e-6, "resumed loss {b} vs {a}");
    }
    assert_eq!(resumed.len(), whole.len());

    // The loss falls and every epoch was validated; best.bpk is the best epoch.
    let epochs = csv_rows(&work.join("whole/epochs.csv"));
    assert_eq!(epochs.len(), EPOCHS);
    let mean_loss = column(&epochs, 1);
    assert!(
        mean_loss[EPOCHS - 1] < mean_loss[0],
        "epoch losses {mean_loss:?}"
    );
    let aurocs = column(&epochs, 2);
    assert!(aurocs.iter().all(|a| (0.0..=1.0).contains(a)), "{aurocs:?}");
    for file in ["model.bpk", "best.bpk", "loss.png", "state/progress.json"] {
        assert!(work.join("whole").join(file).is_file(), "{file}");
    }
    let png = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(work.join("whole/loss.png")).unwrap(),
    ));
    let info = png.read_info().unwrap();
    assert_eq!((info.info().width, info.info().height), (800, 400));

    check_scores_changed(work);
    let report = work.join("eval.json");
    run(inctrl()
        .args(["eval", "--k", "2", "--seeds", "1", "--weights"])
        .arg(work.join("whole/best.bpk"))
        .arg("--data")
        .arg(work.join("elpv_normal.json"))
        .arg("--data")
        .arg(work.join("elpv_outlier.json"))
        .arg("--train-json")
        .arg(work.join("elpv_train.json"))
        .arg("--out")
        .arg(&report));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let auroc = report["categories"][0]["runs"][0]["auroc"]
        .as_f64()
        .unwrap();
    let best = aurocs.iter().copied().fold(f64::MIN, f64::max);
    // eval draws its own prompts (seed 10, as --val did): the same AUROC as the best epoch.
    assert!(
        (auroc - best).abs() < 1e-6,
        "eval AUROC {auroc} vs best validation {best}"
    );
}

/// The trained model scores, and differently from the model it started from.
fn check_scores_changed(work: &Path) {
    let score = |weights: &Path, config: bool| {
        let mut command = inctrl();
        command
            .args(["score", "--category", "textile", "--weights"])
            .arg(weights);
        if config {
            command.arg("--config").arg(fixture("config.json"));
        }
        command
            .arg("--prompt")
            .arg(image_path("nominal_a.jpg"))
            .arg("--prompt")
            .arg(image_path("nominal_b.jpg"))
            .arg(image_path("local_defect.jpg"));
        let out = run(&mut command);
        let scores: Value = serde_json::from_slice(&out.stdout).unwrap();
        scores["results"][0]["score"].as_f64().unwrap()
    };
    let before = score(&fixture("model.pyth"), true);
    let after = score(&work.join("whole/model.bpk"), false);
    assert!(
        (before - after).abs() > 1e-4,
        "training changed nothing: {before} vs {after}"
    );

    // `convert` re-packs it, e.g. half-size with the category precomputed, as for the web page.
    let half = work.join("half.bpk");
    run(inctrl()
        .args([
            "convert",
            "--half",
            "--categories",
            "textile",
            "--checkpoint",
        ])
        .arg(work.join("whole/model.bpk"))
        .arg("--out")
        .arg(&half));
    let repacked = score(&half, false);
    assert!(
        (repacked - after).abs() < 1e-2,
        "float16 towers: {repacked} vs {after}"
    );
}

/// The f16 feature cache against the exact one: the same batch's patch maps and first-step loss.
#[test]
fn f16_cache_stays_close_to_f32() {
    use inctrl::train::{
        CacheEntry, CachePrecision, FeatureCache, Sample, TrainConfig, Trainer, assemble_batch,
    };
    let work = tempfile::tempdir().unwrap();
    let names = [
        "nominal_a.jpg",
        "nominal_b.jpg",
        "nominal_c.jpg",
        "local_defect.jpg",
        "global_defect.jpg",
    ];
    let entries: Vec<CacheEntry> = names
        .iter()
        .map(|n| CacheEntry {
            path: image_path(n),
            category: "metal_nut".into(),
        })
        .collect();
    let samples = [
        (0, [1, 2], false),
        (1, [0, 2], false),
        (3, [0, 1], true),
        (4, [1, 2], true),
    ]
    .map(|(query, prompts, anomalous)| Sample {
        query,
        prompts: prompts.to_vec(),
        anomalous,
    });
    let run = |precision: CachePrecision, file: &str| {
        let mut detector = common::cpu_detector();
        let cache = FeatureCache::open_or_build(
            &work.path().join(file),
            &mut detector,
            "tiny",
            &entries,
            precision,
            |_, _| {},
        )
        .unwrap();
        let batch = assemble_batch(&cache, &samples);
        let mut trainer = Trainer::new(detector.model(), &TrainConfig::new());
        let loss = trainer.step(&batch).unwrap().loss;
        (common::values(batch.patch_map), loss)
    };
    let (exact_map, exact_loss) = run(CachePrecision::F32, "f32.bin");
    let (half_map, half_loss) = run(CachePrecision::F16, "f16.bin");
    let map_difference = common::max_abs_diff(&exact_map, &half_map);
    let loss_difference = (exact_loss - half_loss).abs();
    eprintln!("f16 cache: patch maps within {map_difference:e}, loss within {loss_difference:e}");
    assert!(map_difference > 0.0, "the f16 cache rounds");
    assert!(
        map_difference < 1e-3 && loss_difference < 1e-4,
        "{map_difference:e}, {loss_difference:e}"
    );
}

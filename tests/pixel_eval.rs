//! `inctrl eval --pixel` on a small MVTec AD tree made from the fixture
//! images, with masks in MVTec AD's naming, VisA's (as `inctrl prepare`
//! writes it) and at half the image's resolution: the reported pixel AUROC
//! and AUPRO are the library's metrics over maps rendered at each mask's
//! resolution (normal images: all-normal masks at their own), and a missing
//! mask or `--resume` is a clear error.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::*;
use inctrl::Detector;
use inctrl::eval::pixel::PixelMetrics;
use inctrl::maps::{DEFAULT_SIGMA, anomaly_map_sized};
use inctrl::preprocess::preprocess_image;
use serde_json::Value;

/// `(left, top, width, height)`.
type Rectangle = (u32, u32, u32, u32);

/// An anomalous test image and its mask.
struct Defect {
    image: &'static str,
    mask: &'static str,
    size: (u32, u32),
    rectangles: &'static [Rectangle],
}

impl Defect {
    fn truth(&self) -> Vec<bool> {
        let (width, height) = self.size;
        let mut truth = vec![false; (width * height) as usize];
        for &(left, top, w, h) in self.rectangles {
            for y in top..top + h {
                for x in left..left + w {
                    truth[(y * width + x) as usize] = true;
                }
            }
        }
        truth
    }
}

/// The defect's mask as an 8-bit gray PNG, 255 in its rectangles.
fn write_mask(file: &Path, defect: &Defect) {
    let (width, height) = defect.size;
    let pixels: Vec<u8> = defect
        .truth()
        .iter()
        .map(|&t| if t { 255 } else { 0 })
        .collect();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut encoder = png::Encoder::new(std::fs::File::create(file).unwrap(), width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
}

/// The anomalous test images: MVTec AD's mask naming, VisA's, and a mask at
/// half the image's resolution.
const DEFECTS: [Defect; 3] = [
    Defect {
        image: "crack/local_defect.jpg",
        mask: "crack/local_defect_mask.png",
        size: (250, 250),
        rectangles: &[(100, 100, 40, 30), (10, 200, 20, 20)],
    },
    Defect {
        image: "crack/rgba_tall.png",
        mask: "crack/rgba_tall.png",
        size: (180, 260),
        rectangles: &[(60, 5, 30, 20)],
    },
    Defect {
        image: "scratch/global_defect.jpg",
        mask: "scratch/global_defect_mask.png",
        size: (125, 125),
        rectangles: &[(0, 0, 125, 40), (50, 60, 10, 10), (60, 70, 10, 10)],
    },
];

fn dataset(root: &Path) {
    let category = root.join("metal_nut");
    let copy = |name: &str, to: &str| {
        let target = category.join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(image_path(name), target).unwrap();
    };
    for name in ["nominal_a.jpg", "nominal_b.jpg", "nominal_c.jpg"] {
        copy(name, &format!("train/good/{name}"));
    }
    for name in ["nominal_d.jpg", "gray_wide.png"] {
        copy(name, &format!("test/good/{name}"));
    }
    for defect in &DEFECTS {
        let name = Path::new(defect.image).file_name().unwrap();
        copy(name.to_str().unwrap(), &format!("test/{}", defect.image));
        write_mask(&category.join("ground_truth").join(defect.mask), defect);
    }
}

/// The pixel metrics recomputed with the library from the report's prompts.
fn recompute(data: &Path, weights: &Path, prompts: &[&str]) -> (f64, f64, u64, usize) {
    let mut detector = Detector::open(weights, None, &Device::flex()).unwrap();
    let load = |p: &Path| preprocess_image(&std::fs::read(p).unwrap(), 240).unwrap();
    let prompt_pixels: Vec<_> = prompts.iter().map(|p| load(&data.join(p))).collect();
    let set = detector.encode_prompts(&prompt_pixels).unwrap();
    let category = detector.category("metal_nut").unwrap();
    let category_dir = data.join("metal_nut");
    let mut metrics = PixelMetrics::new();
    let normals = ["nominal_d.jpg", "gray_wide.png"].map(|n| (format!("test/good/{n}"), None));
    let defects = DEFECTS
        .iter()
        .map(|d| (format!("test/{}", d.image), Some(d)));
    for (image, defect) in normals.into_iter().chain(defects) {
        let pixels = load(&category_dir.join(image));
        let score = detector
            .score_blocking(&category, &set, std::slice::from_ref(&pixels))
            .unwrap()
            .remove(0);
        let geometry = pixels.geometry();
        let ((width, height), truth) = match defect {
            None => (
                (geometry.width, geometry.height),
                vec![false; (geometry.width * geometry.height) as usize],
            ),
            Some(defect) => (defect.size, defect.truth()),
        };
        let map = anomaly_map_sized(
            &score.patch_map,
            geometry,
            width,
            height,
            Some(DEFAULT_SIGMA),
        )
        .unwrap();
        metrics.add(&map.values, &truth, width as usize).unwrap();
    }
    let scores = metrics.compute().unwrap();
    (scores.auroc, scores.aupro, scores.pixels, scores.regions)
}

#[test]
fn eval_pixel_reports_pixel_auroc_and_aupro_at_mask_resolution() {
    let work = tempfile::tempdir().unwrap();
    let (work, data) = (work.path(), work.path().join("data"));
    dataset(&data);
    let weights = work.join("tiny.bpk");
    let out = run_inctrl(&[
        "convert",
        "--checkpoint",
        path(&fixture("model.pyth")),
        "--config",
        path(&fixture("config.json")),
        "--out",
        path(&weights),
    ]);
    assert!(out.status.success());
    let eval = |name: &str, extra: &[&str]| {
        let (report, scores) = (
            work.join(format!("{name}.json")),
            work.join(format!("{name}.csv")),
        );
        let mut args = vec![
            "eval",
            "--weights",
            path(&weights),
            "--data",
            path(&data),
            "--k",
            "2",
            "--seeds",
            "1",
            "--pixel",
            "--out",
            path(&report),
            "--scores",
            path(&scores),
        ];
        args.extend_from_slice(extra);
        (run_inctrl(&args), report)
    };

    let (out, report_path) = eval("run", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("K=2 pixel AUROC | K=2 AUPRO"), "{table}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(report_path).unwrap()).unwrap();
    let category = &report["categories"][0];
    let run = &category["runs"][0];
    let pixel = &run["pixel"];
    let prompts: Vec<&str> = run["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();

    let (auroc, aupro, pixels, regions) = recompute(&data, &weights, &prompts);
    assert_eq!(pixel["auroc"].as_f64(), Some(auroc));
    assert_eq!(pixel["aupro"].as_f64(), Some(aupro));
    let expected_pixels = 250 * 250 + 320 * 200 + 250 * 250 + 180 * 260 + 125 * 125;
    assert_eq!(
        (pixel["pixels"].as_u64(), pixels),
        (Some(expected_pixels), expected_pixels)
    );
    // Two, one, and two (the touching squares are one region).
    assert_eq!((pixel["regions"].as_u64(), regions), (Some(5), 5));
    // Unseen: the wide normal image's cut sides (320 − 200 columns) and the tall one's ends.
    assert!(pixel["unseen"].as_u64().unwrap() > 120 * 200);
    let summary = &category["summary"]["2"];
    assert_eq!(summary["pixel_auroc_mean"].as_f64(), Some(auroc));
    assert_eq!(summary["aupro_std"].as_f64(), Some(0.0));

    let (out, _) = eval("resumed", &["--resume"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("cannot be resumed"),
        "{err}"
    );

    std::fs::remove_file(data.join("metal_nut/ground_truth/scratch/global_defect_mask.png"))
        .unwrap();
    let (out, _) = eval("missing", &[]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("global_defect_mask.png"),
        "{err}"
    );
}

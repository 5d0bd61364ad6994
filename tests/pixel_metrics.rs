//! Pixel AUROC and AUPRO, the Gaussian smoothing of the maps and the `.npy`
//! writer against an independent computation (`tools/pixel-metrics/`:
//! scikit-learn's `roc_auc_score`, a per-region PRO straight from its
//! definition, scipy's `gaussian_filter`, numpy's `load`) on a small synthetic
//! set: maps made from patch maps through wide, square and tall geometries
//! (so with unseen pixels and ties), masks with several 8-connected regions.
//! Python 3 must be installed; its packages are pinned in a venv under target/.

use std::path::Path;
use std::process::Command;

use inctrl::CropGeometry;
use inctrl::eval::pixel::PixelMetrics;
use inctrl::maps::{AnomalyMap, anomaly_map_sized, npy_f32};
use serde_json::{Value, json};

/// A deterministic stream of numbers in `[0, 1)`.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A 15×15 patch map in steps of 1/8, so that maps share values (ties).
    fn patch_map(&mut self) -> Vec<f32> {
        (0..225)
            .map(|_| (self.next() * 8.0).floor() / 8.0)
            .collect()
    }
}

/// A mask from rectangles `(left, top, width, height)` and single pixels.
fn mask(width: usize, height: usize, boxes: &[(usize, usize, usize, usize)]) -> Vec<bool> {
    let mut mask = vec![false; width * height];
    for &(left, top, w, h) in boxes {
        for y in top..top + h {
            for x in left..left + w {
                mask[y * width + x] = true;
            }
        }
    }
    mask
}

/// JSON numbers for a map: its exact values as f64, NaN as null.
fn numbers(values: &[f32]) -> Vec<Value> {
    values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                Value::Null
            } else {
                json!(f64::from(v))
            }
        })
        .collect()
}

fn reference(input: &Value, dir: &Path) -> Value {
    let (source, target) = (dir.join("in.json"), dir.join("out.json"));
    std::fs::write(&source, input.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pixel-metrics/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&source)
        .arg(&target)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{} failed (it needs python3 with venv support): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(target).unwrap()).unwrap()
}

/// Four test images: `(map, mask)`.
fn synthetic_set() -> Vec<(AnomalyMap, Vec<bool>)> {
    let mut stream = Stream(0x9e37_79b9_7f4a_7c15);
    // Wide 40×24: columns 0..8 and 32..40 unseen. Regions: a block, a
    // diagonal chain (one region by 8-connectivity), a single pixel, and a
    // block half outside the crop.
    let wide = CropGeometry::new(40, 24, 240).unwrap();
    let mut wide_mask = mask(40, 24, &[(10, 3, 5, 4), (30, 20, 1, 1), (4, 12, 6, 3)]);
    for i in 0..5 {
        wide_mask[(14 + i) * 40 + 18 + i] = true;
    }
    // A normal square image, and a tall one with one region, not smoothed.
    let square = CropGeometry::new(16, 16, 240).unwrap();
    let tall = CropGeometry::new(12, 30, 240).unwrap();
    let mut images = vec![
        (
            anomaly_map_sized(&stream.patch_map(), &wide, 40, 24, Some(4.0)).unwrap(),
            wide_mask,
        ),
        (
            anomaly_map_sized(&stream.patch_map(), &square, 16, 16, Some(4.0)).unwrap(),
            vec![false; 256],
        ),
        (
            anomaly_map_sized(&stream.patch_map(), &tall, 12, 30, None).unwrap(),
            mask(12, 30, &[(3, 10, 5, 8)]),
        ),
    ];
    // Raw values in quarters: many ties across normal and anomalous pixels.
    let values = (0..100)
        .map(|_| (stream.next() * 4.0).floor() / 4.0)
        .collect();
    let raw = AnomalyMap {
        width: 10,
        height: 10,
        values,
    };
    images.push((raw, mask(10, 10, &[(0, 0, 3, 3), (6, 5, 2, 4)])));
    images
}

#[test]
fn pixel_metrics_smoothing_and_npy_match_the_python_reference() {
    let dir = tempfile::tempdir().unwrap();
    let images = synthetic_set();
    let mut metrics = PixelMetrics::new();
    for (map, mask) in &images {
        metrics.add(&map.values, mask, map.width as usize).unwrap();
    }
    let ours = metrics.compute().unwrap();

    // Smoothing: a 200×120 image (resized 400×240, crop from x = 80) rendered
    // at 100×120, so σ = 4 input pixels is 1 column and 2 rows; columns 20..80 seen.
    let geometry = CropGeometry::new(200, 120, 240).unwrap();
    let patch_map = Stream(7).patch_map();
    let sharp = anomaly_map_sized(&patch_map, &geometry, 100, 120, None).unwrap();
    let smooth = anomaly_map_sized(&patch_map, &geometry, 100, 120, Some(4.0)).unwrap();
    let seen = |map: &AnomalyMap| -> Vec<f32> {
        (0..120)
            .flat_map(|y| map.values[y * 100 + 20..y * 100 + 80].to_vec())
            .collect()
    };
    let npy = dir.path().join("smooth.npy");
    std::fs::write(&npy, npy_f32(smooth.width, smooth.height, &smooth.values)).unwrap();

    let input = json!({
        "images": images.iter().map(|(map, mask)| json!({
            "width": map.width, "height": map.height,
            "map": numbers(&map.values), "mask": mask,
        })).collect::<Vec<_>>(),
        "smooth": [{"width": 60, "height": 120, "map": numbers(&seen(&sharp)), "sigma": [2.0, 1.0]}],
        "npy": [npy],
    });
    let theirs = reference(&input, dir.path());

    assert_eq!(ours.regions, 7, "block, chain, pixel, cut block; one; two");
    assert_eq!(theirs["regions"], 7);
    assert_eq!(
        ours.unseen,
        16 * 24 + 12 * 18,
        "wide: 16 columns; tall: 18 rows"
    );
    let (auroc, aupro) = (
        theirs["auroc"].as_f64().unwrap(),
        theirs["aupro"].as_f64().unwrap(),
    );
    assert!(
        (ours.auroc - auroc).abs() < 1e-12,
        "pixel AUROC {} vs scikit-learn {auroc}",
        ours.auroc
    );
    assert!(
        (ours.aupro - aupro).abs() < 1e-12,
        "AUPRO {} vs reference {aupro}",
        ours.aupro
    );
    assert!(ours.auroc > 0.3 && ours.auroc < 0.9 && ours.aupro > 0.0 && ours.aupro < 1.0);

    let scipy: Vec<f64> = serde_json::from_value(theirs["smooth"][0].clone()).unwrap();
    let smoothed = seen(&smooth);
    assert_ne!(smoothed, seen(&sharp));
    for (i, (a, b)) in smoothed.iter().zip(&scipy).enumerate() {
        assert!(
            (f64::from(*a) - b).abs() < 1e-6,
            "pixel {i}: {a} vs scipy {b}"
        );
    }
    let outside = (0..120).flat_map(|y| (0..100).map(move |x| (x, y)));
    for (x, y) in outside.filter(|(x, _)| !(20..80).contains(x)) {
        assert!(
            smooth.values[y * 100 + x].is_nan(),
            "({x}, {y}) was not seen"
        );
    }

    let loaded = &theirs["npy"][0];
    assert_eq!(loaded["shape"], json!([120, 100]));
    let values: Vec<Option<f64>> = serde_json::from_value(loaded["values"].clone()).unwrap();
    let back: Vec<f32> = values
        .iter()
        .map(|v| v.map_or(f32::NAN, |v| v as f32))
        .collect();
    assert!(
        back.iter()
            .zip(&smooth.values)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

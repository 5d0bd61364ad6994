//! The decode corpus: `preprocess_image` against Pillow, bit for bit, on a few
//! hundred generated files of every format and mode the preprocessing reads.
//!
//! `tools/pillow-parity/corpus.sh` (a venv with the pinned Pillow and numpy in
//! target/pillow-venv; rebuilt only when its scripts or pins change) writes the
//! files, Pillow's [3, 240, 240] tensor for each (the original pipeline:
//! `Image.open`, shorter side to 240 with BICUBIC, centre crop,
//! `.convert("RGB")`, /255, CLIP mean/std) and a manifest to
//! target/decode-corpus. Every tensor must be equal to ours in every bit, and
//! every file Pillow refuses we must refuse too. The corpus must also still
//! hold every kind of file in `required_kinds`, so shrinking the generator
//! fails here. Without python3 (and, on Debian, python3-venv) the test fails
//! with what to install; it never skips.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use inctrl::preprocess::preprocess_image;
use serde::Deserialize;
use serde_json::Value;

const SIZE: u32 = 240;
const VALUES: usize = 3 * 240 * 240;

#[derive(Deserialize)]
struct Manifest {
    size: u32,
    pillow: String,
    files: Vec<Entry>,
}

/// One file as Pillow saw it (tools/pillow-parity/reference.py).
#[derive(Deserialize)]
struct Entry {
    name: String,
    format: Option<String>,
    mode: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    /// What Pillow raised; no reference tensor then.
    error: Option<String>,
    /// Facts read from the file: sampling factors, bit depth, compression...
    props: BTreeMap<String, Value>,
}

impl Entry {
    fn is(&self, format: &str, mode: &str) -> bool {
        self.error.is_none()
            && self.format.as_deref() == Some(format)
            && self.mode.as_deref() == Some(mode)
    }

    fn format_is(&self, format: &str) -> bool {
        self.error.is_none() && self.format.as_deref() == Some(format)
    }

    fn prop(&self, key: &str) -> &Value {
        self.props.get(key).unwrap_or(&Value::Null)
    }

    fn num(&self, key: &str) -> Option<u64> {
        self.prop(key).as_u64()
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.prop(key).as_str()
    }

    fn size(&self) -> (u32, u32) {
        (self.width.unwrap_or(0), self.height.unwrap_or(0))
    }
}

struct Corpus {
    dir: PathBuf,
    manifest: Manifest,
    build_seconds: f64,
}

/// Runs corpus.sh once per test binary.
fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("tools/pillow-parity/corpus.sh");
        let dir = root.join("target/decode-corpus");
        let start = Instant::now();
        let output = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .current_dir(root)
            .output()
            .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{} failed ({}); the decode corpus needs python3 with venv and pip \
             (Debian: apt-get install python3 python3-venv; test.sh installs them) \
             and PyPI for tools/pillow-parity/requirements.txt:\n{log}",
            script.display(),
            output.status,
        );
        let text = std::fs::read_to_string(dir.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{}: no manifest.json: {e}\n{log}", dir.display()));
        let manifest: Manifest = serde_json::from_str(&text).expect("manifest.json");
        Corpus {
            dir,
            manifest,
            build_seconds: start.elapsed().as_secs_f64(),
        }
    })
}

/// A kind of file the corpus must hold: its name and the test on an entry.
type Kind = (String, Box<dyn Fn(&Entry) -> bool>);

/// The kinds of file the corpus must contain, each as a test on the manifest
/// entry (Pillow's view plus facts read from the file, never the file name).
fn required_kinds() -> Vec<Kind> {
    let kind = |name: &str, f: Box<dyn Fn(&Entry) -> bool>| -> Kind { (name.to_string(), f) };
    let mut kinds: Vec<Kind> = Vec::new();

    // JPEG
    for (label, sampling) in [
        ("4:4:4", "1x1,1x1,1x1"),
        ("4:2:2", "2x1,1x1,1x1"),
        ("4:2:0", "2x2,1x1,1x1"),
    ] {
        for process in ["baseline", "progressive"] {
            if process == "progressive" && label == "4:2:2" {
                continue;
            }
            kinds.push(kind(
                &format!("JPEG {process} RGB {label}"),
                Box::new(move |e| {
                    e.is("JPEG", "RGB")
                        && e.text("process") == Some(process)
                        && e.text("sampling") == Some(sampling)
                }),
            ));
        }
    }
    for process in ["baseline", "progressive"] {
        kinds.push(kind(
            &format!("JPEG {process} grayscale"),
            Box::new(move |e| e.is("JPEG", "L") && e.text("process") == Some(process)),
        ));
        kinds.push(kind(
            &format!("JPEG {process} restart interval"),
            Box::new(move |e| {
                e.format_is("JPEG")
                    && e.text("process") == Some(process)
                    && e.num("restart_interval").unwrap_or(0) > 0
            }),
        ));
    }
    kinds.push(kind(
        "JPEG Adobe CMYK",
        Box::new(|e| e.is("JPEG", "CMYK") && e.num("adobe_transform") == Some(0)),
    ));
    for (label, test) in [
        (
            "",
            Box::new(|_: &Entry| true) as Box<dyn Fn(&Entry) -> bool>,
        ),
        (
            " subsampled",
            Box::new(|e: &Entry| e.text("sampling").is_some_and(|s| s.starts_with("2x2"))),
        ),
        (
            " progressive",
            Box::new(|e: &Entry| e.text("process") == Some("progressive")),
        ),
    ] {
        kinds.push(kind(
            &format!("JPEG YCCK{label}"),
            Box::new(move |e| {
                e.is("JPEG", "CMYK") && e.num("adobe_transform") == Some(2) && test(e)
            }),
        ));
    }
    for orientation in [3, 6, 8] {
        kinds.push(kind(
            &format!("JPEG EXIF orientation {orientation} (not applied)"),
            Box::new(move |e| {
                e.format_is("JPEG") && e.num("orientation") == Some(orientation) && {
                    let (w, h) = e.size();
                    w != h
                }
            }),
        ));
    }

    // PNG: colour type and bit depth from IHDR
    for (label, color_type, depth) in [
        ("1-bit gray", 0, 1),
        ("2-bit gray", 0, 2),
        ("4-bit gray", 0, 4),
        ("8-bit gray", 0, 8),
        ("16-bit gray", 0, 16),
        ("1-bit palette", 3, 1),
        ("2-bit palette", 3, 2),
        ("4-bit palette", 3, 4),
        ("8-bit palette", 3, 8),
        ("8-bit gray+alpha", 4, 8),
        ("16-bit gray+alpha", 4, 16),
        ("8-bit RGB", 2, 8),
        ("16-bit RGB", 2, 16),
        ("8-bit RGBA", 6, 8),
        ("16-bit RGBA", 6, 16),
    ] {
        kinds.push(kind(
            &format!("PNG {label}"),
            Box::new(move |e| {
                e.format_is("PNG")
                    && e.num("color_type") == Some(color_type)
                    && e.num("bit_depth") == Some(depth)
            }),
        ));
    }
    for (mode, label) in [("P", "palette"), ("L", "gray"), ("RGB", "RGB")] {
        kinds.push(kind(
            &format!("PNG {label} with tRNS"),
            Box::new(move |e| e.is("PNG", mode) && e.prop("trns") == &Value::Bool(true)),
        ));
    }
    kinds.push(kind("PNG mode 1", Box::new(|e| e.is("PNG", "1"))));
    kinds.push(kind("PNG mode LA", Box::new(|e| e.is("PNG", "LA"))));
    kinds.push(kind("PNG mode I;16", Box::new(|e| e.is("PNG", "I;16"))));

    // GIF
    kinds.push(kind("GIF palette", Box::new(|e| e.is("GIF", "P"))));
    kinds.push(kind("GIF gray", Box::new(|e| e.is("GIF", "L"))));
    kinds.push(kind(
        "GIF transparency",
        Box::new(|e| e.format_is("GIF") && e.prop("transparency") == &Value::Bool(true)),
    ));
    kinds.push(kind(
        "GIF animation",
        Box::new(|e| e.format_is("GIF") && e.num("frames").unwrap_or(0) > 1),
    ));

    // BMP: bits per pixel and compression (0 BI_RGB, 3 BI_BITFIELDS)
    for (bits, compression) in [(1, 0), (8, 0), (16, 0), (16, 3), (24, 0), (32, 0)] {
        kinds.push(kind(
            &format!("BMP {bits}-bit, compression {compression}"),
            Box::new(move |e| {
                e.format_is("BMP")
                    && e.num("bits_per_pixel") == Some(bits)
                    && e.num("compression") == Some(compression)
            }),
        ));
    }

    // WebP
    for lossless in [true, false] {
        for mode in ["RGB", "RGBA"] {
            let label = if lossless { "lossless" } else { "lossy" };
            kinds.push(kind(
                &format!("WebP {label} {mode}"),
                Box::new(move |e| {
                    e.is("WEBP", mode) && e.prop("lossless") == &Value::Bool(lossless)
                }),
            ));
        }
    }

    // TIFF: every mode with every compression, and raw palettes Pillow cannot write
    for mode in ["1", "L", "LA", "I;16", "RGB", "RGBA", "CMYK", "P"] {
        for compression in ["raw", "tiff_lzw", "tiff_adobe_deflate"] {
            kinds.push(kind(
                &format!("TIFF {mode} {compression}"),
                Box::new(move |e| e.is("TIFF", mode) && e.text("compression") == Some(compression)),
            ));
        }
    }
    for depth in [1, 4, 8] {
        kinds.push(kind(
            &format!("TIFF {depth}-bit palette"),
            Box::new(move |e| {
                e.is("TIFF", "P")
                    && e.num("photometric") == Some(3)
                    && e.prop("bits") == &Value::from(vec![depth])
            }),
        ));
    }
    kinds.push(kind(
        "TIFF big-endian palette",
        Box::new(|e| e.is("TIFF", "P") && e.text("byte_order") == Some("MM")),
    ));

    // Shapes
    kinds.push(kind("1x1 image", Box::new(|e| e.size() == (1, 1))));
    kinds.push(kind(
        "1-pixel-wide strip",
        Box::new(|e| {
            let (w, h) = e.size();
            w == 1 && h > 240
        }),
    ));
    kinds.push(kind(
        "3-pixel-high strip",
        Box::new(|e| {
            let (w, h) = e.size();
            h == 3 && w > 240
        }),
    ));
    kinds.push(kind(
        "odd sizes either side of 240",
        Box::new(|e| e.size() == (241, 239)),
    ));
    kinds.push(kind(
        "downscaled (shorter side > 500)",
        Box::new(|e| {
            let (w, h) = e.size();
            w.min(h) > 500
        }),
    ));

    // Files Pillow refuses, which we must refuse too
    for format in ["JPEG", "PNG"] {
        kinds.push(kind(
            &format!("truncated {format} (Pillow raises)"),
            Box::new(move |e| e.format.as_deref() == Some(format) && e.error.is_some()),
        ));
    }
    kinds
}

#[test]
fn corpus_has_every_required_kind() {
    let corpus = corpus();
    let files = &corpus.manifest.files;
    let missing: Vec<String> = required_kinds()
        .into_iter()
        .filter(|(_, test)| !files.iter().any(test))
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "the decode corpus lacks {} required kinds (tools/pillow-parity/gen_images.py):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
    let pin = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pillow-parity/requirements.txt"),
    )
    .unwrap();
    assert!(
        pin.lines()
            .any(|l| l.trim() == format!("Pillow=={}", corpus.manifest.pillow)),
        "manifest made with Pillow {}, not the pinned one",
        corpus.manifest.pillow
    );
}

/// What went wrong with one file, if anything.
fn check(dir: &Path, entry: &Entry) -> Option<String> {
    let bytes = std::fs::read(dir.join("images").join(&entry.name)).unwrap();
    let Ok(ours) = std::panic::catch_unwind(|| preprocess_image(&bytes, SIZE)) else {
        return Some(format!("{}: preprocess_image panics", entry.name));
    };
    let what = format!(
        "{} ({} {} {}x{})",
        entry.name,
        entry.format.as_deref().unwrap_or("?"),
        entry.mode.as_deref().unwrap_or("?"),
        entry.width.unwrap_or(0),
        entry.height.unwrap_or(0)
    );
    match (&entry.error, ours) {
        (Some(_), Err(_)) => None,
        (Some(pillow), Ok(_)) => Some(format!("{what}: Pillow raises `{pillow}`, ours decodes")),
        (None, Err(e)) => Some(format!("{what}: Pillow decodes, ours fails: {e}")),
        (None, Ok(pixels)) => {
            // The geometry the anomaly maps are drawn with starts from Pillow's size.
            let size = (pixels.geometry().width, pixels.geometry().height);
            if (Some(size.0), Some(size.1)) != (entry.width, entry.height) {
                return Some(format!("{what}: our geometry says {}x{}", size.0, size.1));
            }
            let tensor = pixels.values();
            let path = dir.join("reference").join(format!("{}.f32", entry.name));
            let raw = std::fs::read(&path).unwrap();
            assert_eq!(raw.len(), VALUES * 4, "{}", path.display());
            let expected = raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let mut differ = 0;
            let mut worst = (0.0f32, 0);
            for (i, (got, want)) in tensor.iter().zip(expected).enumerate() {
                if got.to_bits() != want.to_bits() {
                    differ += 1;
                    let d = (got - want).abs();
                    if d >= worst.0 {
                        worst = (d, i);
                    }
                }
            }
            let plane = 240 * 240;
            let (c, y, x) = (worst.1 / plane, worst.1 % plane / 240, worst.1 % 240);
            (differ > 0 || tensor.len() != VALUES).then(|| {
                format!(
                    "{what}: {differ} of {VALUES} values differ (len {}), \
                     max |diff| {} at [{c}, {y}, {x}]",
                    tensor.len(),
                    worst.0
                )
            })
        }
    }
}

#[test]
fn every_file_decodes_bit_exactly_as_pillow_does() {
    let corpus = corpus();
    let files = &corpus.manifest.files;
    assert_eq!(corpus.manifest.size, SIZE);
    assert!(!files.is_empty(), "empty decode corpus");
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = files.len().div_ceil(threads);
    let mut failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(|| {
                    part.iter()
                        .filter_map(|e| check(&corpus.dir, e))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    failures.sort();

    let mut formats = BTreeMap::<&str, usize>::new();
    for e in files {
        *formats
            .entry(e.format.as_deref().unwrap_or("?"))
            .or_default() += 1;
    }
    let refused = files.iter().filter(|e| e.error.is_some()).count();
    let formats: Vec<String> = formats.iter().map(|(f, n)| format!("{f} {n}")).collect();
    // Straight to stderr, past the test harness's capture: one line in test.sh's log.
    let _ = writeln!(
        std::io::stderr(),
        "decode corpus: {} files ({}), {} bit-exact with Pillow {}, {} refused by both, \
         {} failing; corpus {:.1} s, check {:.1} s",
        files.len(),
        formats.join(", "),
        files.len() - refused - failures.len(),
        corpus.manifest.pillow,
        refused,
        failures.len(),
        corpus.build_seconds,
        start.elapsed().as_secs_f64(),
    );
    assert!(
        failures.is_empty(),
        "{} of {} corpus files differ from Pillow (target/decode-corpus):\n  {}",
        failures.len(),
        files.len(),
        failures.join("\n  ")
    );
}

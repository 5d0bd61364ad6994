//! `inctrl score --maps DIR`: each query's anomaly map as a heat map over the
//! image (`<name>.png`) and as float32 values (`<name>.npy`, NaN where the
//! centre crop cut the image). `<name>` is the image's path below the folder
//! the queries share, without its extension, so `test/*/000.png` gives
//! `DIR/crack/000.png`, `DIR/good/000.png`, ... The colours span the smallest
//! to the largest patch value over all queries of the run, so that maps
//! compare across images.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use inctrl::maps::{anomaly_map, encode_png, npy_f32, overlay_rgb};
use inctrl::preprocess::decode_rgb8;
use inctrl::{Error, Result};

use super::Progress;
use super::score::Scored;

/// Writes the overlay and the `.npy` of every scored image into `dir`.
pub fn write_all(dir: &Path, images: &[PathBuf], scored: &[Scored], sigma: f32) -> Result<()> {
    let names = output_names(images)?;
    let range = value_range(scored);
    let mut progress = Progress::new("maps", images.len(), "images");
    for ((image, scored), name) in images.iter().zip(scored).zip(&names) {
        let map = anomaly_map(&scored.score.patch_map, &scored.geometry, Some(sigma))?;
        let bytes = std::fs::read(image).map_err(|e| Error::io(image.display(), e))?;
        let (_, _, rgb) = decode_rgb8(&bytes).map_err(|e| Error::image(image.display(), e))?;
        let png = encode_png(map.width, map.height, &overlay_rgb(&rgb, &map, range)?)?;
        write(&dir.join(format!("{name}.png")), &png)?;
        write(
            &dir.join(format!("{name}.npy")),
            &npy_f32(map.width, map.height, &map.values),
        )?;
        progress.advance(1);
    }
    progress.finish();
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let folder = path.parent().expect("map paths have a folder");
    std::fs::create_dir_all(folder).map_err(|e| Error::io(folder.display(), e))?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path.display(), e))
}

/// Smallest and largest patch value over the run (the maps are convex
/// combinations of their patch values, so they stay inside).
fn value_range(scored: &[Scored]) -> (f32, f32) {
    scored
        .iter()
        .flat_map(|s| &s.score.patch_map)
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Each image's path below the queries' common folder, without extension.
fn output_names(images: &[PathBuf]) -> Result<Vec<String>> {
    let absolute = images
        .iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| Error::io(p.display(), e)))
        .collect::<Result<Vec<_>>>()?;
    let mut common = absolute[0].parent().unwrap_or(Path::new("/")).to_path_buf();
    while !absolute.iter().all(|p| p.starts_with(&common)) {
        common.pop();
    }
    let mut seen = HashSet::new();
    absolute
        .iter()
        .zip(images)
        .map(|(path, given)| {
            let relative = path.strip_prefix(&common).expect("common is an ancestor");
            let name = relative.with_extension("").display().to_string();
            if !seen.insert(name.clone()) {
                return Err(Error::InvalidInput(format!(
                    "two queries would write maps named {name} (the second is {}): score them separately",
                    given.display()
                )));
            }
            Ok(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_mirror_the_paths_below_the_common_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "test/crack/000.png",
            "test/good/000.png",
            "test/good/a.b.jpg",
            "x.png",
        ] {
            std::fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
            std::fs::write(root.join(name), b"").unwrap();
        }
        let paths = |names: &[&str]| names.iter().map(|n| root.join(n)).collect::<Vec<_>>();
        let names = output_names(&paths(&[
            "test/crack/000.png",
            "test/good/000.png",
            "test/good/a.b.jpg",
        ]));
        assert_eq!(names.unwrap(), ["crack/000", "good/000", "good/a.b"]);
        assert_eq!(output_names(&paths(&["x.png"])).unwrap(), ["x"]);
        let clash = output_names(&paths(&["x.png", "x.png"]))
            .unwrap_err()
            .to_string();
        assert!(clash.contains("named x"), "{clash}");
    }
}

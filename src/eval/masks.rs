//! Ground-truth masks of an MVTec AD style tree: the mask of
//! `<category>/test/<defect>/<name>.<ext>` is
//! `<category>/ground_truth/<defect>/<name>_mask.png` (MVTec AD, and what
//! `inctrl prepare` writes for SDD and AITEX) or `.../<name>.png` (VisA as
//! `inctrl prepare` writes it). Any non-zero value marks an anomalous pixel.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::preprocess::decode_rgb8;

/// A mask: `[height, width]` row-major, `true` where anomalous.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Per pixel: anomalous or not.
    pub pixels: Vec<bool>,
}

/// The ground-truth mask file of an anomalous test image.
pub fn mask_path(image: &Path) -> Result<PathBuf> {
    let missing = |detail: String| {
        Error::InvalidInput(format!(
            "no ground-truth mask for {}: {detail}",
            image.display()
        ))
    };
    let defect = image
        .parent()
        .ok_or_else(|| missing("it has no folder".into()))?;
    let test = defect
        .parent()
        .filter(|t| t.file_name().is_some_and(|n| n == "test"));
    let (Some(test), Some(defect_name), Some(stem)) = (test, defect.file_name(), image.file_stem())
    else {
        return Err(missing(
            "pixel metrics need the MVTec AD layout (<category>/test/<defect>/)".into(),
        ));
    };
    let folder = test.with_file_name("ground_truth").join(defect_name);
    let stem = stem.to_string_lossy();
    let candidates = [
        folder.join(format!("{stem}_mask.png")),
        folder.join(format!("{stem}.png")),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            missing(format!(
                "neither {} nor {} exists",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}

/// Reads a mask image.
pub fn read_mask(path: &Path) -> Result<Mask> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    let (width, height, rgb) = decode_rgb8(&bytes).map_err(|e| Error::image(path.display(), e))?;
    Ok(Mask {
        width,
        height,
        pixels: rgb.chunks_exact(3).map(|p| p != [0, 0, 0]).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mvtec_and_visa_mask_names() {
        let dir = tempfile::tempdir().unwrap();
        let cat = dir.path().join("bottle");
        for file in [
            "test/crack/000.png",
            "ground_truth/crack/000_mask.png",
            "test/defect/001.JPG",
            "ground_truth/defect/001.png",
            "test/hole/002.png",
        ] {
            std::fs::create_dir_all(cat.join(file).parent().unwrap()).unwrap();
            std::fs::write(cat.join(file), b"").unwrap();
        }
        assert_eq!(
            mask_path(&cat.join("test/crack/000.png")).unwrap(),
            cat.join("ground_truth/crack/000_mask.png")
        );
        assert_eq!(
            mask_path(&cat.join("test/defect/001.JPG")).unwrap(),
            cat.join("ground_truth/defect/001.png")
        );
        let err = mask_path(&cat.join("test/hole/002.png"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("002_mask.png") && err.contains("002.png"),
            "{err}"
        );
        let err = mask_path(Path::new("x/1.png")).unwrap_err().to_string();
        assert!(err.contains("MVTec AD layout"), "{err}");
    }
}

//! AITEX fabric.

use std::path::Path;

use inctrl::{Error, Result};

use super::io::{Image, file_name, files, folders, stem};
use super::write_tiles;

/// AITEX defect codes (second field of a file name) and their class folders.
const AITEX_CLASSES: [(&str, &str); 12] = [
    ("002", "Broken_end"),
    ("006", "Broken_yarn"),
    ("010", "Broken_pick"),
    ("016", "Weft_curling"),
    ("019", "Fuzzyball"),
    ("022", "Cut_selvage"),
    ("023", "Crease"),
    ("025", "Warp_ball"),
    ("027", "Knots"),
    ("029", "Contamination"),
    ("030", "Nep"),
    ("036", "Weft_crack"),
];
/// AITEX and SDD tiles are 256 pixels wide.
pub(super) const TILE: usize = 256;

/// AITEX: images cut into 256-pixel-wide tiles (`<folder>_<stem>_<i>` for normal
/// images, `<stem>_<i>` for defect images); a defect image's tiles are kept only
/// where its mask marks the defect, under the class named by its defect code.
pub(super) fn aitex(src: &Path, out: &Path) -> Result<usize> {
    let mut normal = Vec::new();
    for dir in folders(&src.join("NODefect_images"))? {
        for path in files(&dir)? {
            let image = Image::read(&path)?;
            let prefix = format!("{}_{}", file_name(&dir), stem(&path));
            normal.extend(
                aitex_normal_tiles(&image).map(|(i, tile)| (format!("{prefix}_{i}"), tile)),
            );
        }
    }
    let mut anomalous = Vec::new();
    for path in files(&src.join("Defect_images/Defect_images"))? {
        let stem = stem(&path);
        let class = aitex_class(&stem)?;
        let image = Image::read(&path)?;
        let mask = Image::read(
            &src.join("Mask_images/Mask_images")
                .join(format!("{stem}_mask.png")),
        )?;
        // The script counts tiles by the aspect ratio, ceil(width / height), not
        // by width / 256: 16 for the 4096 × 256 images of the data set.
        for i in 0..image.width.div_ceil(image.height) {
            let (tile, tile_mask) = (
                image.crop(i * TILE, 0, TILE, image.height),
                mask.crop(i * TILE, 0, TILE, mask.height),
            );
            if tile_mask.has_marks() {
                anomalous.push((class.clone(), format!("{stem}_{i}"), tile, tile_mask));
            }
        }
    }
    write_tiles(out, normal, anomalous)
}

/// The script always takes 16 tiles of a normal image, whatever its width (the
/// last may be narrower). Tiles past the right edge would be empty, which the
/// script fails to write; they never occur in the 4096-pixel-wide images, and
/// are skipped here.
fn aitex_normal_tiles(image: &Image) -> impl Iterator<Item = (usize, Image)> + '_ {
    (0..16)
        .map(|i| (i, image.crop(i * TILE, 0, TILE, image.height)))
        .filter(|(_, tile)| tile.width > 0)
}

/// The class folder of a defect image `<id>_<code>_<n>`; an unknown code is an
/// error, as it is a `KeyError` in the script.
fn aitex_class(stem: &str) -> Result<String> {
    let code = stem.split('_').nth(1).unwrap_or_default();
    AITEX_CLASSES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, class)| class.to_string())
        .ok_or_else(|| Error::InvalidInput(format!("AITEX: unknown defect code in '{stem}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::test_support::{filled, names};

    #[test]
    fn aitex_tiles_and_classes() {
        let src = tempfile::tempdir().unwrap();
        for dir in ["2306881-210020u", "2311694-1930c7u"] {
            let path = src.path().join("NODefect_images").join(dir);
            std::fs::create_dir_all(&path).unwrap();
            filled(16 * TILE, 2, 9, &[])
                .write_png(&path.join("0001_000_05.png"))
                .unwrap();
        }
        let defects = src.path().join("Defect_images/Defect_images");
        let masks = src.path().join("Mask_images/Mask_images");
        std::fs::create_dir_all(&defects).unwrap();
        std::fs::create_dir_all(&masks).unwrap();
        // 600 × 200: ceil(600 / 200) = 3 tiles, the last 88 pixels wide; marks in tiles 0 and 2.
        filled(600, 200, 5, &[])
            .write_png(&defects.join("0001_002_00.png"))
            .unwrap();
        filled(600, 200, 0, &[(100, 10), (550, 199)])
            .write_png(&masks.join("0001_002_00_mask.png"))
            .unwrap();
        // 1024 × 512: ceil(1024 / 512) = 2 tiles, so a mark at x = 700 (tile 2) is never seen.
        filled(1024, 512, 5, &[])
            .write_png(&defects.join("0002_036_00.png"))
            .unwrap();
        filled(1024, 512, 0, &[(700, 0)])
            .write_png(&masks.join("0002_036_00_mask.png"))
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let aitex_out = out.path().join("AITEX");
        assert_eq!(aitex(src.path(), &aitex_out).unwrap(), 32 + 2);
        assert_eq!(
            names(&aitex_out.join("test/Broken_end")),
            ["0001_002_00_0.png", "0001_002_00_2.png"]
        );
        assert_eq!(
            names(&aitex_out.join("ground_truth/Broken_end")),
            ["0001_002_00_0_mask.png", "0001_002_00_2_mask.png"]
        );
        assert!(!aitex_out.join("test/Weft_crack").exists());
        let last = Image::read(&aitex_out.join("test/Broken_end/0001_002_00_2.png")).unwrap();
        assert_eq!((last.width, last.height), (600 - 2 * TILE, 200));
        // 32 normal tiles; the split puts indices 29, 15, 24, 17, 8, 9, 30, 25 in test.
        let (train, test) = (
            names(&aitex_out.join("train/good")),
            names(&aitex_out.join("test/good")),
        );
        assert_eq!((train.len(), test.len()), (24, 8));
        assert!(test.contains(&"2306881-210020u_0001_000_05_15.png".to_owned()));
        assert!(test.contains(&"2311694-1930c7u_0001_000_05_13.png".to_owned()));
        assert!(train.contains(&"2306881-210020u_0001_000_05_0.png".to_owned()));
    }

    #[test]
    fn aitex_rejects_unknown_defect_codes() {
        assert_eq!(aitex_class("0001_030_02").unwrap(), "Nep");
        assert!(aitex_class("0001_031_02").is_err());
    }
}

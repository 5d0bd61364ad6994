//! KolektorSDD.

use std::path::Path;

use inctrl::{Error, Result};

use super::io::{Image, file_name, files, folders, stem};
use super::write_tiles;

/// KolektorSDD: every image whose name ends in `jpg` (case-sensitive, as the
/// script's test) is cut into three horizontal bands, rows `..h/3`, `h/3..2h/3`
/// and `2h/3..` (integer division), named `<folder>_<stem>_<i>`; a band is
/// anomalous if its part of `<stem>_label.bmp` has any mark.
pub(super) fn sdd(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for dir in folders(src)? {
        let group = file_name(&dir);
        for path in files(&dir)?
            .into_iter()
            .filter(|p| file_name(p).ends_with("jpg"))
        {
            let stem = stem(&path);
            let image = Image::read(&path)?;
            let label = Image::read(&dir.join(format!("{stem}_label.bmp")))?;
            if (label.width, label.height) != (image.width, image.height) {
                return Err(Error::InvalidInput(format!(
                    "{}: label size differs from the image",
                    path.display()
                )));
            }
            let h = image.height;
            for (i, rows) in [(0, h / 3), (h / 3, h * 2 / 3), (h * 2 / 3, h)]
                .into_iter()
                .enumerate()
            {
                let band = |img: &Image| img.crop(0, rows.0, img.width, rows.1 - rows.0);
                let name = format!("{group}_{stem}_{i}");
                let mask = band(&label);
                if mask.has_marks() {
                    anomalous.push(("defect".to_owned(), name, band(&image), mask));
                } else {
                    normal.push((name, band(&image)));
                }
            }
        }
    }
    write_tiles(out, normal, anomalous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::test_support::{filled, names, touch};

    fn write_bmp(img: &Image, path: &Path) {
        let mut file = std::fs::File::create(path).unwrap();
        image::codecs::bmp::BmpEncoder::new(&mut file)
            .encode(
                &img.rgb,
                img.width as u32,
                img.height as u32,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
    }

    #[test]
    fn sdd_cuts_thirds_and_marks_bands() {
        let src = tempfile::tempdir().unwrap();
        // Height 10: bands are rows 0..3, 3..6 and 6..10.
        for (group, part, mark) in [
            ("kos01", "Part0", Some((1, 2))),
            ("kos01", "Part1", Some((3, 6))),
            ("kos02", "Part0", None),
        ] {
            let dir = src.path().join(group);
            std::fs::create_dir_all(&dir).unwrap();
            // The decoder goes by signature, so PNG bytes stand in for the JPEG.
            filled(4, 10, 7, &[])
                .write_png(&dir.join(format!("{part}.jpg")))
                .unwrap();
            let label = filled(4, 10, 0, mark.as_slice());
            write_bmp(&label, &dir.join(format!("{part}_label.bmp")));
        }
        // Not ending in lower-case `jpg`: ignored, as by the script.
        touch(&src.path().join("kos02"), &["Part9.JPG"]);
        let out = tempfile::tempdir().unwrap();
        let sdd_out = out.path().join("SDD");
        assert_eq!(sdd(src.path(), &sdd_out).unwrap(), 9);
        assert_eq!(
            names(&sdd_out.join("test/defect")),
            ["kos01_Part0_0.png", "kos01_Part1_2.png"]
        );
        assert_eq!(
            names(&sdd_out.join("ground_truth/defect")),
            ["kos01_Part0_0_mask.png", "kos01_Part1_2_mask.png"]
        );
        // Normal bands in order: kos01_Part0_{1,2}, kos01_Part1_{0,1}, kos02_Part0_{0,1,2};
        // train_test_split of 7 puts indices 0 and 1 in test.
        assert_eq!(
            names(&sdd_out.join("test/good")),
            ["kos01_Part0_1.png", "kos01_Part0_2.png"]
        );
        assert_eq!(names(&sdd_out.join("train/good")).len(), 5);
        let last = Image::read(&sdd_out.join("test/defect/kos01_Part1_2.png")).unwrap();
        assert_eq!((last.width, last.height), (4, 4));
        let mask =
            Image::read(&sdd_out.join("ground_truth/defect/kos01_Part1_2_mask.png")).unwrap();
        assert_eq!(
            &mask.rgb[..3 * 4 + 3],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 0, 0, 0]
        );
    }
}

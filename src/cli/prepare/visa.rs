//! VisA.

use std::path::Path;

use inctrl::{Error, Result};

use super::io::{Image, copy_into, file_name, read_text};

/// VisA: the official `split_csv/1cls.csv` decides train/test; test masks are
/// binarised (any mark becomes 255).
pub(super) fn visa(src: &Path, out: &Path) -> Result<usize> {
    let mut written = 0;
    for line in read_text(&src.join("split_csv/1cls.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [object, split, label, image, mask, ..] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "1cls.csv: unexpected line '{line}'"
            )));
        };
        let kind = if label == "normal" { "good" } else { "defect" };
        copy_into(&src.join(image), &out.join(object).join(split).join(kind))?;
        written += 1;
        if split == "test" && kind == "defect" && !mask.is_empty() {
            let mask_path = src.join(mask);
            let binary = Image::read(&mask_path)?.binarised();
            binary.write_png(
                &out.join(object)
                    .join("ground_truth/defect")
                    .join(file_name(&mask_path)),
            )?;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::test_support::{filled, names, touch};

    #[test]
    fn visa_follows_the_csv_and_binarises_masks() {
        let src = tempfile::tempdir().unwrap();
        touch(
            &src.path().join("candle/Data/Images/Normal"),
            &["0000.JPG", "0001.JPG"],
        );
        touch(&src.path().join("candle/Data/Images/Anomaly"), &["000.JPG"]);
        let masks = src.path().join("candle/Data/Masks/Anomaly");
        std::fs::create_dir_all(&masks).unwrap();
        let mut mask = filled(3, 2, 0, &[]);
        mask.rgb[3..6].fill(3);
        mask.write_png(&masks.join("000.png")).unwrap();
        std::fs::create_dir_all(src.path().join("split_csv")).unwrap();
        std::fs::write(
            src.path().join("split_csv/1cls.csv"),
            "object,split,label,image,mask\n\
             candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n\
             candle,test,normal,candle/Data/Images/Normal/0001.JPG,\n\
             candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        assert_eq!(visa(src.path(), out.path()).unwrap(), 3);
        let candle = out.path().join("candle");
        assert_eq!(names(&candle.join("train/good")), ["0000.JPG"]);
        assert_eq!(names(&candle.join("test/good")), ["0001.JPG"]);
        assert_eq!(names(&candle.join("test/defect")), ["000.JPG"]);
        assert_eq!(names(&candle.join("ground_truth/defect")), ["000.png"]);
        let written = Image::read(&candle.join("ground_truth/defect/000.png")).unwrap();
        assert_eq!(
            written.rgb,
            [0, 0, 0, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}

//! Head CT (Kaggle).

use std::path::Path;

use inctrl::{Error, Result};

use super::copy_split;
use super::io::{copy_into, read_text};

/// Head CT: `labels.csv` rows `id,label` (header skipped); image `head_ct/head_ct/<id:03>.png`.
/// Label 0 is normal and 1 anomalous; the script selects exactly these two values.
pub(super) fn headct(src: &Path, out: &Path) -> Result<usize> {
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in read_text(&src.join("labels.csv"))?
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
    {
        let parsed: Option<(u32, u32)> = line
            .split_once(',')
            .and_then(|(id, label)| Some((id.trim().parse().ok()?, label.trim().parse().ok()?)));
        let (id, label) =
            parsed.ok_or_else(|| Error::InvalidInput(format!("labels.csv: bad line '{line}'")))?;
        let path = src.join("head_ct/head_ct").join(format!("{id:03}.png"));
        match label {
            0 => normal.push(path),
            1 => anomalous.push(path),
            _ => {}
        }
    }
    let mut written = copy_split(&normal, out)?;
    for path in &anomalous {
        copy_into(path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::test_support::{names, touch};

    #[test]
    fn headct_reads_labels_in_csv_order() {
        let src = tempfile::tempdir().unwrap();
        let labels = [1, 0, 0, 1, 0, 0, 1, 0, 1, 1];
        let mut csv = "id,hemorrhage\n".to_owned();
        let mut files = Vec::new();
        for (id, label) in labels.iter().enumerate() {
            csv += &format!("{id},{label}\n");
            files.push(format!("{id:03}.png"));
        }
        std::fs::write(src.path().join("labels.csv"), csv).unwrap();
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        touch(&src.path().join("head_ct/head_ct"), &refs);
        let out = tempfile::tempdir().unwrap();
        let head = out.path().join("headct");
        assert_eq!(headct(src.path(), &head).unwrap(), 10);
        // Normal ids 1, 2, 4, 5, 7: the split of 5 puts indices 1 and 4 in test.
        assert_eq!(names(&head.join("test/good")), ["002.png", "007.png"]);
        assert_eq!(
            names(&head.join("train/good")),
            ["001.png", "004.png", "005.png"]
        );
        assert_eq!(
            names(&head.join("test/defect")),
            ["000.png", "003.png", "006.png", "008.png", "009.png"]
        );
    }
}

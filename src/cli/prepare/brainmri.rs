//! Brain MRI (Kaggle).

use std::path::Path;

use inctrl::Result;

use super::copy_split;
use super::io::{copy_into, files};

/// Brain MRI: `no/` normal, `yes/` anomalous, copied unchanged.
pub(super) fn brainmri(src: &Path, out: &Path) -> Result<usize> {
    let normal = files(&src.join("no"))?;
    let mut written = copy_split(&normal, out)?;
    for path in files(&src.join("yes"))? {
        copy_into(&path, &out.join("test/defect"))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::prepare::test_support::{names, touch};

    #[test]
    fn brainmri_splits_sorted_normal_files() {
        let src = tempfile::tempdir().unwrap();
        touch(
            &src.path().join("no"),
            &["e.jpg", "a.jpg", "c.jpg", "b.jpg", "d.jpg"],
        );
        touch(&src.path().join("yes"), &["y1.jpg", "Y2.JPG"]);
        let out = tempfile::tempdir().unwrap();
        let brain = out.path().join("brainmri");
        assert_eq!(brainmri(src.path(), &brain).unwrap(), 7);
        // train_test_split of 5 puts indices 1 and 4 in test.
        assert_eq!(names(&brain.join("test/good")), ["b.jpg", "e.jpg"]);
        assert_eq!(
            names(&brain.join("train/good")),
            ["a.jpg", "c.jpg", "d.jpg"]
        );
        assert_eq!(names(&brain.join("test/defect")), ["Y2.JPG", "y1.jpg"]);
    }
}

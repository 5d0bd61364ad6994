//! ELPV solar cells.

use std::path::Path;

use inctrl::{Error, Result};

use super::copy_split;
use super::io::{copy_into, read_text};

/// ELPV: probability 0 is normal, 1 is anomalous (folder `mono` or `poly` by cell
/// type); the uncertain 1/3 and 2/3 cells are left out, and so would be a defective
/// cell of any other type, as the script only selects `mono` and `poly`.
pub(super) fn elpv(src: &Path, out: &Path) -> Result<usize> {
    let labels = read_text(&src.join("labels.csv"))?;
    let (mut normal, mut anomalous) = (Vec::new(), Vec::new());
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [path, probability, kind] = fields[..] else {
            return Err(Error::InvalidInput(format!(
                "labels.csv: unexpected line '{line}'"
            )));
        };
        let probability: f64 = probability
            .parse()
            .map_err(|_| Error::InvalidInput(format!("labels.csv: bad probability in '{line}'")))?;
        if probability == 0.0 {
            normal.push(src.join(path));
        } else if probability == 1.0 && matches!(kind, "mono" | "poly") {
            anomalous.push((src.join(path), kind.to_owned()));
        }
    }
    let mut written = copy_split(&normal, out)?;
    for (path, kind) in &anomalous {
        copy_into(path, &out.join("test").join(kind))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elpv_split_and_folders() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("images")).unwrap();
        let mut labels = String::new();
        for (i, (p, kind)) in [(0.0, "mono"); 8]
            .into_iter()
            .chain([
                (1.0, "mono"),
                (1.0, "poly"),
                (0.3333, "poly"),
                (1.0, "cigs"),
            ])
            .enumerate()
        {
            let name = format!("images/cell{i:04}.png");
            std::fs::write(src.path().join(&name), [i as u8]).unwrap();
            labels += &format!("{name}  {p}   {kind}\n");
        }
        std::fs::write(src.path().join("labels.csv"), labels).unwrap();
        let dst = tempfile::tempdir().unwrap();
        assert_eq!(elpv(src.path(), &dst.path().join("elpv")).unwrap(), 10);
        let count = |f: &str| {
            std::fs::read_dir(dst.path().join("elpv").join(f))
                .unwrap()
                .count()
        };
        assert_eq!(
            (
                count("train/good"),
                count("test/good"),
                count("test/mono"),
                count("test/poly")
            ),
            (6, 2, 1, 1)
        );
        assert!(!dst.path().join("elpv/test/cigs").exists());
        // train_test_split(range(8), test_size=0.25, random_state=42) puts items 1 and 5 in test.
        assert!(dst.path().join("elpv/test/good/cell0001.png").exists());
        assert!(dst.path().join("elpv/test/good/cell0005.png").exists());
    }
}

//! What `inctrl eval` scores: per category, the training normals that prompts
//! are drawn from and the labelled test images, read from an MVTec AD style
//! tree (`<category>/train/good`, `test/good`, `test/<defect>/`) or from the
//! original code's JSON lists (`[{"image_path", "target", "type"}]`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use serde::Deserialize;

/// A labelled test image.
#[derive(Debug, Clone, PartialEq)]
pub struct TestImage {
    /// Where it is.
    pub path: PathBuf,
    /// How reports name it: relative to the data folder, or as the JSON lists it.
    pub name: String,
    /// Whether it shows an anomaly.
    pub anomalous: bool,
}

/// One category's images.
#[derive(Debug, Clone, Default)]
pub struct CategoryData {
    /// The category name (the folder or the JSON `type`), which also picks the text prompts.
    pub name: String,
    /// Normal training images, sorted: the pool prompts are drawn from.
    pub train_normals: Vec<TestImage>,
    /// Test images in a fixed order (normal first, then anomalies, each sorted).
    pub test: Vec<TestImage>,
}

/// Whether the original code would read this file: png, jpg or jpeg in any case, or npy.
pub fn is_image_file(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    ["png", "jpg", "jpeg", "npy"].contains(&extension.to_ascii_lowercase().as_str())
}

#[derive(Deserialize)]
struct JsonItem {
    image_path: String,
    target: u8,
    #[serde(rename = "type")]
    category: String,
}

/// Reads every data source, keeps the categories in `only` (all if empty), and
/// checks that each can be evaluated.
pub fn load(
    data: &[PathBuf],
    train_json: &[PathBuf],
    only: &[String],
) -> Result<Vec<CategoryData>> {
    let mut categories: BTreeMap<String, CategoryData> = BTreeMap::new();
    for source in data {
        if source.is_dir() {
            for category in read_tree(source)? {
                merge(&mut categories, category);
            }
        } else {
            for item in read_json(source)? {
                let entry = entry(&mut categories, &item.category);
                entry.test.push(TestImage {
                    path: PathBuf::from(&item.image_path),
                    name: item.image_path,
                    anomalous: item.target != 0,
                });
            }
        }
    }
    for source in train_json {
        for item in read_json(source)?.into_iter().filter(|i| i.target == 0) {
            entry(&mut categories, &item.category)
                .train_normals
                .push(TestImage {
                    path: PathBuf::from(&item.image_path),
                    name: item.image_path,
                    anomalous: false,
                });
        }
    }
    select(categories, only)
}

fn entry<'a>(
    categories: &'a mut BTreeMap<String, CategoryData>,
    name: &str,
) -> &'a mut CategoryData {
    categories
        .entry(name.to_owned())
        .or_insert_with(|| CategoryData {
            name: name.to_owned(),
            ..Default::default()
        })
}

fn merge(categories: &mut BTreeMap<String, CategoryData>, category: CategoryData) {
    let target = entry(categories, &category.name);
    target.train_normals.extend(category.train_normals);
    target.test.extend(category.test);
}

fn select(
    mut categories: BTreeMap<String, CategoryData>,
    only: &[String],
) -> Result<Vec<CategoryData>> {
    let unknown: Vec<&String> = only
        .iter()
        .filter(|n| !categories.contains_key(*n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&String> = categories.keys().collect();
        return Err(Error::InvalidInput(format!(
            "categories {unknown:?} are not in the data (found {known:?})"
        )));
    }
    if !only.is_empty() {
        categories.retain(|name, _| only.contains(name));
    }
    if categories.is_empty() {
        return Err(Error::InvalidInput(
            "no categories found: expected <category>/train/good and <category>/test/<good|defect> folders, or JSON lists".into(),
        ));
    }
    for category in categories.values() {
        let anomalous = category.test.iter().filter(|t| t.anomalous).count();
        if anomalous == 0 || anomalous == category.test.len() {
            return Err(Error::InvalidInput(format!(
                "category '{}' has {} test images, {anomalous} anomalous: AUROC needs both kinds",
                category.name,
                category.test.len()
            )));
        }
    }
    Ok(categories.into_values().collect())
}

fn read_json(path: &Path) -> Result<Vec<JsonItem>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::InvalidInput(format!(
            "{}: not a list of {{\"image_path\", \"target\", \"type\"}} entries: {e}",
            path.display()
        ))
    })
}

/// `root` itself is a category (it has `test/`), or each subfolder with `test/` is.
fn read_tree(root: &Path) -> Result<Vec<CategoryData>> {
    if root.join("test").is_dir() {
        return Ok(vec![read_category(root, root)?]);
    }
    subfolders(root)?
        .into_iter()
        .filter(|dir| dir.join("test").is_dir())
        .map(|dir| read_category(root, &dir))
        .collect()
}

fn read_category(root: &Path, dir: &Path) -> Result<CategoryData> {
    let base = if root == dir {
        dir.parent().unwrap_or(dir)
    } else {
        root
    };
    let images = |folder: &Path, anomalous: bool| -> Result<Vec<TestImage>> {
        Ok(image_files(folder)?
            .into_iter()
            .map(|path| TestImage {
                name: path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
                path,
                anomalous,
            })
            .collect())
    };
    let train_good = dir.join("train").join("good");
    let train_normals = if train_good.is_dir() {
        images(&train_good, false)?
    } else {
        Vec::new()
    };
    let mut test = images(&dir.join("test").join("good"), false).unwrap_or_default();
    for defect in subfolders(&dir.join("test"))? {
        if defect.file_name().is_some_and(|n| n != "good") {
            test.extend(images(&defect, true)?);
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(CategoryData {
        name,
        train_normals,
        test,
    })
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut paths = entries
        .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir.display(), e)))
        .collect::<Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect())
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|p| p.is_file() && is_image_file(p))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_original_extensions_in_any_case() {
        for name in [
            "a.png", "b.PNG", "c.jpg", "d.JPG", "e.jpeg", "f.JPEG", "g.npy",
        ] {
            assert!(is_image_file(Path::new(name)), "{name}");
        }
        for name in ["a.bmp", "b.txt", "c", "d.png.bak"] {
            assert!(!is_image_file(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn reads_an_mvtec_tree_and_json_lists() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("capsule");
        for folder in ["train/good", "test/good", "test/crack", "test/squeeze"] {
            std::fs::create_dir_all(dir.join(folder)).unwrap();
        }
        for file in [
            "train/good/000.png",
            "train/good/001.png",
            "test/good/000.png",
            "test/crack/000.png",
            "test/squeeze/000.jpg",
            "test/crack/notes.txt",
        ] {
            std::fs::write(dir.join(file), b"").unwrap();
        }
        let categories = load(&[root.path().to_owned()], &[], &[]).unwrap();
        assert_eq!(categories.len(), 1);
        let capsule = &categories[0];
        assert_eq!(capsule.name, "capsule");
        assert_eq!(capsule.train_normals.len(), 2);
        let test: Vec<(&str, bool)> = capsule
            .test
            .iter()
            .map(|t| (t.name.as_str(), t.anomalous))
            .collect();
        assert_eq!(
            test,
            [
                ("capsule/test/good/000.png", false),
                ("capsule/test/crack/000.png", true),
                ("capsule/test/squeeze/000.jpg", true)
            ]
        );

        let json = root.path().join("list.json");
        std::fs::write(&json, r#"[{"image_path": "x/1.png", "target": 0, "type": "candle"}, {"image_path": "x/2.png", "target": 1, "type": "candle"}]"#).unwrap();
        let categories = load(std::slice::from_ref(&json), &[], &["candle".into()]).unwrap();
        assert_eq!(categories[0].test.len(), 2);
        let err = load(&[json], &[], &["pcb1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("pcb1") && err.contains("candle"), "{err}");
    }
}

//! Image arguments as users give them: files, folders (the images inside,
//! sorted by name) and glob patterns (`'good/*.png'`, `'test/**/*.jpg'`;
//! quoted, or on shells that leave them unexpanded), in the order given.

use std::path::{Path, PathBuf};

use inctrl::{Error, Result};

/// File extensions `inctrl score` reads from a folder (any letter case).
const IMAGE_EXTENSIONS: [&str; 8] = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"];

/// Expands every argument into image files; a folder or pattern that yields
/// none is an error naming it.
pub fn expand(arguments: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for argument in arguments {
        let found = if argument.is_dir() {
            folder_images(argument)?
        } else if !argument.exists() && is_pattern(argument) {
            matches(argument)?
        } else {
            vec![argument.clone()]
        };
        if found.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} holds no images ({})",
                argument.display(),
                IMAGE_EXTENSIONS.join(", ")
            )));
        }
        files.extend(found);
    }
    Ok(files)
}

fn is_pattern(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The image files directly inside `dir`, sorted.
fn folder_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir.display(), e))?.path();
        if path.is_file() && is_image(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The files a glob pattern matches, sorted (whatever their extension: the
/// pattern says what is wanted).
fn matches(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let paths =
        glob::glob(&text).map_err(|e| Error::InvalidInput(format!("bad pattern {text}: {e}")))?;
    let mut files = Vec::new();
    for path in paths {
        let path = path.map_err(|e| {
            let shown = e.path().display().to_string();
            Error::io(shown, e.into())
        })?;
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_files_folders_and_patterns_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b/2.png",
            "b/1.JPG",
            "b/notes.txt",
            "b/deep/3.png",
            "c/x.png",
        ] {
            std::fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
            std::fs::write(root.join(name), b"").unwrap();
        }
        let got = expand(&[
            root.join("c/x.png"),
            root.join("b"),
            root.join("b/**/*.png"),
        ])
        .unwrap();
        let names: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["c/x.png", "b/1.JPG", "b/2.png", "b/2.png", "b/deep/3.png"]
        );
        let err = expand(&[root.join("b/*.gif")]).unwrap_err().to_string();
        assert!(err.contains("b/*.gif holds no images"), "{err}");
        let err = expand(&[root.join("b/deep/empty")]);
        assert!(
            err.is_ok(),
            "a missing plain path is left for the reader to report"
        );
    }
}

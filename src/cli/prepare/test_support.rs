//! Fixtures shared by the converters' unit tests.

use std::path::Path;

use super::io::Image;

/// A `width × height` image of value `v` with the pixels `marks` (x, y) set to 255.
pub(super) fn filled(width: usize, height: usize, v: u8, marks: &[(usize, usize)]) -> Image {
    let mut rgb = vec![v; width * height * 3];
    for &(x, y) in marks {
        rgb[(y * width + x) * 3..][..3].fill(255);
    }
    Image { width, height, rgb }
}

/// The sorted file names in `dir` (none if it does not exist).
pub(super) fn names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes files `names` (each holding its own name) into `dir`, creating it.
pub(super) fn touch(dir: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for name in names {
        std::fs::write(dir.join(name), name.as_bytes()).unwrap();
    }
}

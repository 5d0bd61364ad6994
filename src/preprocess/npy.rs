//! `.npy` arrays of `uint8` pixels (H×W, H×W×3 or H×W×4): how some datasets
//! ship images, which the original opens with `np.load` and
//! `PIL.Image.fromarray`.

use super::{Pixels, PreprocessError, preprocess_pixels};

/// The model input for a `.npy` file's bytes, as `Image.fromarray(np.load(f))` gives it.
pub fn preprocess_npy(bytes: &[u8], size: u32) -> Result<Pixels, PreprocessError> {
    let (height, width, channels, data) = read_npy(bytes).map_err(PreprocessError::Npy)?;
    preprocess_pixels(width, height, channels, data, size)
}

/// `(height, width, channels, pixels)` of a C-ordered `uint8` `.npy` array.
fn read_npy(bytes: &[u8]) -> Result<(u32, u32, usize, &[u8]), String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("not a .npy file".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        version => return Err(format!("unsupported .npy version {version}")),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .map(String::from_utf8_lossy)
        .ok_or("truncated .npy header")?;
    let descr = field(&header, "descr").ok_or("the .npy header has no descr")?;
    if !["'|u1'", "'u1'", "'<u1'", "'>u1'"].contains(&descr.trim()) {
        return Err(format!(
            "unsupported .npy dtype {} (uint8 arrays only)",
            descr.trim()
        ));
    }
    if field(&header, "fortran_order").is_some_and(|v| v.trim() == "True") {
        return Err("Fortran-ordered .npy arrays are not supported".into());
    }
    let shape = field(&header, "shape").ok_or("the .npy header has no shape")?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')' || c == ' ')
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("bad .npy shape {shape}"))
        })
        .collect::<Result<_, _>>()?;
    let (height, width, channels) = match dims.as_slice() {
        [h, w] => (*h, *w, 1),
        [h, w, c] => (*h, *w, *c),
        _ => {
            return Err(format!(
                "a {}-dimensional .npy array is not an image",
                dims.len()
            ));
        }
    };
    let data = &bytes[data_start.min(bytes.len())..];
    if data.len() != height * width * channels {
        return Err(format!(
            "the .npy data holds {} bytes, its shape needs {}",
            data.len(),
            height * width * channels
        ));
    }
    Ok((height as u32, width as u32, channels, data))
}

/// The text of `'key': value` in a numpy header dict, up to the next key.
fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}':"))? + key.len() + 3;
    let rest = &header[start..];
    let end = if rest.trim_start().starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',').unwrap_or(rest.len())
    };
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn reads_gray_and_color_uint8_arrays() {
        let gray = npy("|u1", "(2, 3)", &[1, 2, 3, 4, 5, 6]);
        assert_eq!(read_npy(&gray).unwrap(), (2, 3, 1, &[1, 2, 3, 4, 5, 6][..]));
        let color = npy("|u1", "(1, 2, 3)", &[9; 6]);
        assert_eq!(read_npy(&color).unwrap().2, 3);
    }

    #[test]
    fn refuses_other_arrays_by_name() {
        assert!(
            read_npy(&npy("<f4", "(2, 2)", &[0; 16]))
                .unwrap_err()
                .contains("uint8 arrays only")
        );
        assert!(
            read_npy(&npy("|u1", "(2, 2)", &[0; 3]))
                .unwrap_err()
                .contains("needs 4")
        );
        assert!(
            read_npy(&npy("|u1", "(4,)", &[0; 4]))
                .unwrap_err()
                .contains("not an image")
        );
        assert!(read_npy(b"garbage").unwrap_err().contains("not a .npy"));
    }
}

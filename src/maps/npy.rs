//! A float map as a NumPy `.npy` file (format 1.0): `np.load` gives a
//! `float32` array of shape `(height, width)`.

/// The `.npy` bytes of a row-major `float32` array of shape `(height, width)`.
pub fn npy_f32(width: u32, height: u32, values: &[f32]) -> Vec<u8> {
    debug_assert_eq!(values.len() as u64, u64::from(width) * u64::from(height));
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({height}, {width}), }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces and
    // ended by a newline to a multiple of 64 bytes, as NumPy writes it.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numpys_format() {
        let bytes = npy_f32(3, 2, &[0.0, 1.0, 2.0, 3.0, 4.0, f32::NAN]);
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        // 10 + 59 + 1 bytes round up to 128, as `np.save` pads them.
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 118);
        assert_eq!(&bytes[10..10 + header.len()], header.as_bytes());
        assert_eq!(bytes[127], b'\n');
        assert_eq!(bytes.len(), 128 + 6 * 4);
        assert_eq!(&bytes[132..136], &1.0f32.to_le_bytes());
        assert!(f32::from_le_bytes(bytes[148..152].try_into().unwrap()).is_nan());
    }
}

//! Preprocessing edge cases; exact parity on the fixture images is in `parity.rs`.

mod common;

use inctrl::preprocess::{PreprocessError, preprocess_image, preprocess_rgba};

const SIZE: u32 = 240;

fn read(name: &str) -> Vec<u8> {
    std::fs::read(common::image_path(name)).unwrap()
}

/// Cuts where Pillow raises "image file is truncated" too.
#[test]
fn truncated_images_are_errors() {
    let jpeg = read("nominal_a.jpg");
    let png = read("rgba_tall.png");
    let cases = [
        (&jpeg[..jpeg.len() / 3], "JPEG"),
        (&jpeg[..jpeg.len() - 2], "JPEG"),
        (&png[..png.len() / 3], "PNG"),
    ];
    for (bytes, format) in cases {
        match preprocess_image(bytes, SIZE) {
            Err(PreprocessError::Corrupt { format: f, .. }) => assert_eq!(f, format),
            other => panic!(
                "{format} cut to {} bytes: {:?}",
                bytes.len(),
                other.map(|t| t.values().len())
            ),
        }
    }
}

#[test]
fn empty_garbage_and_unsupported_inputs_are_named() {
    let message = |bytes: &[u8]| preprocess_image(bytes, SIZE).unwrap_err().to_string();
    assert_eq!(message(b""), "image is empty (0 bytes)");
    assert!(
        message(b"<svg xmlns='http://www.w3.org/2000/svg'/>").contains("unsupported image format")
    );
    assert!(message(b"%PDF-1.7 garbage").contains("unsupported image format"));
    assert!(message(&[0x42; 1000]).contains("unsupported image format"));
}

#[test]
fn decoded_rgba_matches_the_same_png() {
    // rgba_tall.png is an RGBA PNG: feeding its decoded pixels must give the same tensor.
    let png = read("rgba_tall.png");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgba).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let from_rgba = preprocess_rgba(info.width, info.height, &rgba, SIZE).unwrap();
    assert_eq!(from_rgba, preprocess_image(&png, SIZE).unwrap());

    let err = preprocess_rgba(4, 4, &[0; 10], SIZE).unwrap_err();
    assert!(matches!(err, PreprocessError::BufferSize { .. }), "{err}");
}

//! Writes the tensor for each image file given as raw little-endian f32 to
//! `<file>.f32` next to `$OUT_DIR` (argument 1), for comparison with Pillow.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out_dir = std::path::Path::new(&args[1]);
    for path in &args[2..] {
        let bytes = std::fs::read(path).unwrap();
        let name = std::path::Path::new(path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let result = std::panic::catch_unwind(|| inctrl::preprocess::preprocess_image(&bytes, 240));
        match result {
            Err(_) => println!("{name}: ERROR panic"),
            Ok(Err(e)) => println!("{name}: ERROR {e}"),
            Ok(Ok(t)) => {
                let raw: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(out_dir.join(format!("{name}.f32")), raw).unwrap();
            }
        }
    }
}

//! Declares the `threaded` cfg: CPU kernels use rayon natively, and in the
//! WebAssembly module built with the `threads` feature (shared memory, Web
//! Worker pool); the plain WebAssembly module runs them on one thread.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(threaded)");
    let wasm =
        std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "wasm"));
    if !wasm || std::env::var_os("CARGO_FEATURE_THREADS").is_some() {
        println!("cargo::rustc-cfg=threaded");
    }
}

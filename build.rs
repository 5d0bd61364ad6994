//! Declares two cfgs. `threaded`: CPU kernels use rayon natively, and in the
//! WebAssembly module built with the `threads` feature (shared memory, Web
//! Worker pool); the plain WebAssembly module runs them on one thread.
//! `relaxed_simd`: the threaded module's matrix kernel fuses multiply and add
//! with relaxed SIMD (pkg/worker.js checks the browser has it); the plain
//! module keeps to baseline SIMD so that it loads in every browser.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(threaded)");
    println!("cargo::rustc-check-cfg=cfg(relaxed_simd)");
    let wasm =
        std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "wasm"));
    let threads = std::env::var_os("CARGO_FEATURE_THREADS").is_some();
    if !wasm || threads {
        println!("cargo::rustc-cfg=threaded");
    }
    if wasm && threads {
        println!("cargo::rustc-cfg=relaxed_simd");
    }
}

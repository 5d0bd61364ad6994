//! Which matrix kernel the CPU backend's linear layers run on this machine,
//! for benchmarks to print beside their numbers.

/// A short name of the linear layers' matrix kernel on this CPU.
pub fn cpu_matrix_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if crate::ops::cpu::packed_gemm::preferred() {
        return "packed AVX2/FMA (weights packed once)";
    }
    #[cfg(target_arch = "wasm32")]
    return "panel SIMD128";
    #[cfg(not(target_arch = "wasm32"))]
    "gemm crate"
}

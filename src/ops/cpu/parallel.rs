//! Where the CPU kernels split their work: across rayon's pool natively and in
//! the threaded WebAssembly module (`cfg(threaded)`, see build.rs), one block
//! after another in the single-threaded module.

/// Number of threads kernels spread over.
pub fn threads() -> usize {
    #[cfg(threaded)]
    return rayon::current_num_threads();
    #[cfg(not(threaded))]
    return 1;
}

/// Calls `f(first_row, block)` on consecutive blocks of whole rows of `data`
/// (each row `width` long), in parallel where threads exist. There are a few
/// blocks per thread so that uneven progress evens out.
pub fn for_each_row_block(data: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let width = width.max(1);
    let rows = data.len() / width;
    let block_rows = rows.div_ceil(4 * threads()).max(1);
    #[cfg(threaded)]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(block_rows * width)
            .enumerate()
            .for_each(|(i, block)| f(i * block_rows, block));
    }
    #[cfg(not(threaded))]
    data.chunks_mut(block_rows * width)
        .enumerate()
        .for_each(|(i, block)| f(i * block_rows, block));
}

/// Calls `f(task)` for every task in `0..tasks`, in parallel where threads exist.
pub fn for_each_task(tasks: usize, f: impl Fn(usize) + Sync + Send) {
    #[cfg(threaded)]
    {
        use rayon::prelude::*;
        (0..tasks).into_par_iter().for_each(f);
    }
    #[cfg(not(threaded))]
    (0..tasks).for_each(f);
}

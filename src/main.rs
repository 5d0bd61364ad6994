//! The `inctrl` command line: convert checkpoints, score images, benchmark.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Inference allocates and frees many multi-megabyte activations per image; the
/// system allocator hands them back to the OS each time (page faults on every
/// reuse), mimalloc keeps them. Measured: K = 4 prompt set 2.1 s → 1.7 s.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (the Rust bindings
/// name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed memory before returning it to the OS: never.
/// Its default, 10 ms, is shorter than one transformer block (~25 ms on two
/// cores), so every block's activations were page-faulted in anew (7 % of a
/// query went to the kernel zeroing pages). With 1000 ms, mimalloc's
/// statistics still showed 1.5 GiB purged over `inctrl bench --k 8 --runs 2`,
/// about 10,000 page faults per K = 8 prompt set; without purging the whole
/// bench takes 1,700, and 0.5–0.7 s less system time. The process keeps its
/// peak (1.1 GiB for that bench), which it reached anyway.
const PURGE_DELAY_MS: std::ffi::c_long = -1;

fn main() -> ExitCode {
    // SAFETY: setting an option before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    let command = cli::Command::parse();
    match command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

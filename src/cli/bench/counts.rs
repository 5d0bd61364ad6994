//! `inctrl bench --counts`: the work one warm query and one prompt set make
//! the device do: kernel launches (CubeCL's launch observer sees every one,
//! fused and copy kernels included), host↔device transfers, and device memory
//! reserved anew (0 once the allocator's pools hold what a query needs).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::cubecl::logging::{LaunchObservation, LaunchObserver};
use burn::tensor::Device;
use inctrl::Result;
use inctrl::{Category, Detector, Pixels, Transfers};

use crate::cli::read_back;

/// Counts kernel launches while installed.
#[derive(Default)]
struct Launches(AtomicU64);

impl LaunchObserver for Launches {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one piece of work made the device do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// Kernel launches (compute dispatches on wgpu).
    pub launches: u64,
    /// Host→device uploads and device→host readbacks.
    pub transfers: Transfers,
    /// Bytes the device allocator reserved beyond what it held before.
    pub new_device_bytes: u64,
}

/// Runs `f` and counts the device work it causes; `f` must end with a readback
/// so that everything it launched has run.
pub fn count(device: &Device, f: impl FnOnce() -> Result<()>) -> Result<Work> {
    let reserved = || device.memory_pool_usage().map_or(0, |u| u.bytes_reserved);
    let before = (reserved(), Transfers::now());
    let launches = Arc::new(Launches::default());
    let observation = LaunchObservation::new(launches.clone());
    f()?;
    drop(observation);
    Ok(Work {
        launches: launches.0.load(Ordering::Relaxed),
        transfers: Transfers::since(before.1),
        new_device_bytes: reserved().saturating_sub(before.0),
    })
}

/// Counts a warm K = 2 prompt set and a warm query (each run once before).
pub fn print_counts(detector: &Detector, category: &Category, images: &[Pixels]) -> Result<()> {
    let device = detector.device();
    let (prompt_images, query) = (&images[..2], &images[2..3]);
    let encode = || {
        let prompts = detector.encode_prompts(prompt_images)?;
        read_back(prompts.features().adapted_mean.clone()).map(drop)
    };
    encode()?;
    let prompt_set = count(device, encode)?;
    let prompts = detector.encode_prompts(prompt_images)?;
    let score = || detector.score_blocking(category, &prompts, query).map(drop);
    score()?;
    let warm_query = count(device, score)?;
    println!("| work | kernel launches | uploads | readbacks | new device memory |");
    println!("|---|---|---|---|---|");
    for (what, work) in [
        ("prompt set K=2", prompt_set),
        ("query (K=2, warm)", warm_query),
    ] {
        println!(
            "| {what} | {} | {} | {} | {:.1} MiB |",
            work.launches,
            work.transfers.uploads,
            work.transfers.readbacks,
            work.new_device_bytes as f64 / f64::from(1 << 20)
        );
    }
    Ok(())
}

//! Host↔device traffic counters: every upload and readback the library makes
//! goes through here, so that benchmarks and tests can hold a query to one of each.

use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::{Device, Tensor, TensorData};

static UPLOADS: AtomicU64 = AtomicU64::new(0);
static READBACKS: AtomicU64 = AtomicU64::new(0);

/// Host→device uploads and device→host readbacks made by detectors in this
/// process (each readback transaction counts once, however many tensors it reads):
/// what `inctrl bench --counts` reports and tests hold a query's traffic to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Tensors created from host data.
    pub uploads: u64,
    /// Readback transactions.
    pub readbacks: u64,
}

impl Transfers {
    /// The counts so far.
    pub fn now() -> Self {
        Self {
            uploads: UPLOADS.load(Ordering::Relaxed),
            readbacks: READBACKS.load(Ordering::Relaxed),
        }
    }

    /// The transfers made since `earlier`.
    pub fn since(earlier: Self) -> Self {
        let now = Self::now();
        Self {
            uploads: now.uploads - earlier.uploads,
            readbacks: now.readbacks - earlier.readbacks,
        }
    }
}

/// `Tensor::from_data`, counted as an upload.
pub(crate) fn upload<const D: usize, K: burn::tensor::kind::Basic>(
    data: TensorData,
    device: &Device,
) -> Tensor<D, K> {
    UPLOADS.fetch_add(1, Ordering::Relaxed);
    Tensor::from_data(data, device)
}

/// Counts one readback transaction.
pub(crate) fn count_readback() {
    READBACKS.fetch_add(1, Ordering::Relaxed);
}

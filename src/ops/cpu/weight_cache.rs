//! A linear layer's weight in the native kernel's packed layout, kept beside
//! the layer so that it is packed once, not on every call.
//!
//! The cache holds a clone of the weight tensor it packed: flex shares the
//! buffer, so this costs no copy, and it keeps that buffer alive, so a weight
//! found at the same address with the same layout is the same weight. A layer
//! whose weight is replaced (loading, conversion) is packed again on its next
//! call. Cloning a layer starts an empty cache.

#[cfg(target_arch = "x86_64")]
pub use native::PackedWeightCache;

#[cfg(target_arch = "x86_64")]
mod native {
    use std::fmt;
    use std::sync::{Arc, Mutex};

    use burn::backend::flex::FlexTensor;

    use super::super::linear::Weight;
    use super::super::packed_gemm::PackedWeight;

    /// The packed weight of one linear layer, made on its first CPU call.
    #[derive(Default)]
    pub struct PackedWeightCache(Mutex<Option<Entry>>);

    struct Entry {
        /// The tensor that was packed (sharing the layer's buffer).
        source: FlexTensor,
        packed: Arc<PackedWeight>,
    }

    impl PackedWeightCache {
        /// The packed form of `tensor`, whose values `weight` describes:
        /// the cached one if `tensor` is the tensor packed last, else a new one.
        pub fn get(&self, tensor: &FlexTensor, weight: Weight) -> Arc<PackedWeight> {
            let mut entry = self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match entry.as_ref() {
                Some(cached) if same_tensor(&cached.source, tensor) => cached.packed.clone(),
                _ => {
                    let packed = Arc::new(PackedWeight::new(weight));
                    *entry = Some(Entry {
                        source: tensor.clone(),
                        packed: packed.clone(),
                    });
                    packed
                }
            }
        }
    }

    /// Same buffer and same view of it. Sound because the cache keeps the
    /// buffer it compares against alive, so no other tensor can reuse its address.
    fn same_tensor(a: &FlexTensor, b: &FlexTensor) -> bool {
        a.bytes().as_ptr() == b.bytes().as_ptr()
            && a.layout() == b.layout()
            && a.dtype() == b.dtype()
    }

    impl Clone for PackedWeightCache {
        fn clone(&self) -> Self {
            Self::default()
        }
    }

    impl fmt::Debug for PackedWeightCache {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("PackedWeightCache")
        }
    }
}

/// Other targets run the `gemm` crate or the browser kernel, which need no cache.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Debug, Default)]
pub struct PackedWeightCache;

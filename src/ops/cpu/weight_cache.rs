//! A linear layer's weight in the native kernel's packed layout, kept beside
//! the layer so that it is packed once, not on every call.
//!
//! The cache holds a clone of the weight tensor it packed: flex shares the
//! buffer, so this costs no copy, and it keeps that buffer alive, so a weight
//! found at the same address with the same layout is the same weight. A layer
//! whose weight is replaced (loading, conversion) is packed again on its next
//! call. Cloning a layer starts an empty cache. A cache made with
//! `PackedWeightCache::new(false)` never packs: for layers that run too
//! rarely to repay a second copy of their weight (the text tower).

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
    pub struct PackedWeightCache {
        enabled: bool,
        entry: Mutex<Option<Entry>>,
    }

    struct Entry {
        /// The tensor that was packed (sharing the layer's buffer).
        source: FlexTensor,
        packed: Arc<PackedWeight>,
    }

    impl PackedWeightCache {
        /// An empty cache; `enabled: false` makes one that never packs.
        pub fn new(enabled: bool) -> Self {
            Self {
                enabled,
                entry: Mutex::new(None),
            }
        }

        /// The packed form of `tensor`, whose values `weight` describes:
        /// the cached one if `tensor` is the tensor packed last, else a new
        /// one; `None` if this cache never packs.
        pub fn get(&self, tensor: &FlexTensor, weight: Weight) -> Option<Arc<PackedWeight>> {
            if !self.enabled {
                return None;
            }
            let mut entry = self
                .entry
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let packed = match entry.as_ref() {
                Some(cached) if same_tensor(&cached.source, tensor) => cached.packed.clone(),
                _ => {
                    let packed = Arc::new(PackedWeight::new(weight));
                    *entry = Some(Entry {
                        source: tensor.clone(),
                        packed: packed.clone(),
                    });
                    packed
                }
            };
            Some(packed)
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
            Self::new(self.enabled)
        }
    }

    impl fmt::Debug for PackedWeightCache {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("PackedWeightCache")
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::sync::Arc;

    use burn::backend::flex::{FlexTensor, Layout};
    use burn::tensor::{Bytes, DType, Shape};

    use super::PackedWeightCache;
    use crate::ops::cpu::linear::Weight;

    fn weight_tensor(values: Vec<f32>, k: usize, n: usize) -> FlexTensor {
        let layout = Layout::contiguous(Shape::from(vec![k, n]));
        FlexTensor::new(Bytes::from_elems(values), layout, DType::F32)
    }

    fn view(tensor: &FlexTensor, k: usize, n: usize) -> Weight<'_> {
        Weight {
            values: tensor.storage::<f32>(),
            row_stride: n as isize,
            col_stride: 1,
            dims: [k, n],
        }
    }

    #[test]
    fn packs_once_per_tensor_and_never_when_disabled() {
        let first = weight_tensor(vec![1.0; 6], 2, 3);
        let second = weight_tensor(vec![2.0; 6], 2, 3);
        let cache = PackedWeightCache::new(true);
        let packed = cache.get(&first, view(&first, 2, 3)).expect("enabled");
        let again = cache
            .get(&first.clone(), view(&first, 2, 3))
            .expect("enabled");
        assert!(
            Arc::ptr_eq(&packed, &again),
            "the same tensor is packed once"
        );
        let other = cache.get(&second, view(&second, 2, 3)).expect("enabled");
        assert!(
            !Arc::ptr_eq(&packed, &other),
            "another tensor is packed anew"
        );
        let copy = cache
            .clone()
            .get(&second, view(&second, 2, 3))
            .expect("enabled");
        assert!(!Arc::ptr_eq(&other, &copy), "a clone starts empty");
        let disabled = PackedWeightCache::new(false);
        assert!(disabled.get(&first, view(&first, 2, 3)).is_none());
    }
}

/// Other targets run the `gemm` crate or the browser kernel, which need no cache.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Debug)]
pub struct PackedWeightCache;

#[cfg(not(target_arch = "x86_64"))]
impl PackedWeightCache {
    /// Nothing to keep on this target.
    pub fn new(_enabled: bool) -> Self {
        Self
    }
}

//! Which images make up each training batch: the original's balanced sampler
//! (`datasets/new_utlis.py`) and in-context prompt draws (`IC_dataset_new.py`).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::eval::split::Mt19937;

/// One training image, by its index in the feature cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainImage {
    /// The category, which picks the prompt pool and the text prompts.
    pub category: String,
    /// Whether it shows an anomaly.
    pub anomalous: bool,
}

/// One query of a batch and the normal prompts drawn for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The query's image index.
    pub query: usize,
    /// K distinct normal images of the query's category (a normal query may draw itself, as in the original).
    pub prompts: Vec<usize>,
    /// Whether the query is anomalous.
    pub anomalous: bool,
}

/// Batches of half normal, then half anomalous queries, each class drawn from
/// an endless sequence of shuffled passes, with K prompts drawn per query.
#[derive(Debug, Clone)]
pub struct BalancedSampler {
    rng: Mt19937,
    normals: Endless,
    anomalies: Endless,
    pools: BTreeMap<String, Vec<usize>>,
    categories: Vec<String>,
    shot: usize,
}

impl BalancedSampler {
    /// A sampler over `images` drawing `shot` prompts per query, seeded with `seed`.
    pub fn new(images: &[TrainImage], shot: usize, seed: u32) -> Result<Self> {
        let indices = |anomalous: bool| -> Vec<usize> {
            (0..images.len())
                .filter(|&i| images[i].anomalous == anomalous)
                .collect()
        };
        let (normals, anomalies) = (indices(false), indices(true));
        if normals.is_empty() || anomalies.is_empty() {
            return Err(Error::InvalidInput(format!(
                "training needs normal and anomalous images; found {} normal and {} anomalous",
                normals.len(),
                anomalies.len()
            )));
        }
        let mut pools: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in &normals {
            pools.entry(images[i].category.clone()).or_default().push(i);
        }
        for image in images {
            let pool = pools.get(&image.category).map_or(0, Vec::len);
            if pool < shot {
                return Err(Error::InvalidInput(format!(
                    "category '{}' has {pool} normal images, fewer than the {shot} prompts each query draws",
                    image.category
                )));
            }
        }
        Ok(Self {
            rng: Mt19937::new(seed),
            normals: Endless::new(normals),
            anomalies: Endless::new(anomalies),
            pools,
            categories: images.iter().map(|i| i.category.clone()).collect(),
            shot,
        })
    }

    /// The next batch: `size / 2` normal queries, then `size - size / 2` anomalous ones.
    pub fn next_batch(&mut self, size: usize) -> Vec<Sample> {
        let normal_count = size / 2;
        (0..size)
            .map(|i| {
                let anomalous = i >= normal_count;
                let query = if anomalous {
                    self.anomalies.next(&mut self.rng)
                } else {
                    self.normals.next(&mut self.rng)
                };
                let prompts = self.draw_prompts(query);
                Sample {
                    query,
                    prompts,
                    anomalous,
                }
            })
            .collect()
    }

    /// `random.sample(pool, shot)` over the query's category's normal images.
    fn draw_prompts(&mut self, query: usize) -> Vec<usize> {
        let pool = &self.pools[&self.categories[query]];
        let mut order = pool.clone();
        for i in 0..self.shot {
            let j = i + self.rng.interval((order.len() - 1 - i) as u32) as usize;
            order.swap(i, j);
        }
        order.truncate(self.shot);
        order
    }
}

/// One class's images in a fresh random order for every pass.
#[derive(Debug, Clone)]
struct Endless {
    items: Vec<usize>,
    order: Vec<usize>,
    position: usize,
}

impl Endless {
    fn new(items: Vec<usize>) -> Self {
        Self {
            items,
            order: Vec::new(),
            position: 0,
        }
    }

    fn next(&mut self, rng: &mut Mt19937) -> usize {
        if self.position == self.order.len() {
            self.order = rng.permutation(self.items.len());
            self.position = 0;
        }
        self.position += 1;
        self.items[self.order[self.position - 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Vec<TrainImage> {
        let image = |category: &str, anomalous| TrainImage {
            category: category.into(),
            anomalous,
        };
        vec![
            image("a", false),
            image("a", false),
            image("a", true),
            image("b", false),
            image("b", false),
            image("b", false),
            image("b", true),
        ]
    }

    #[test]
    fn batches_are_balanced_and_prompts_come_from_the_query_category() {
        let images = images();
        let mut sampler = BalancedSampler::new(&images, 2, 10).unwrap();
        for _ in 0..20 {
            let batch = sampler.next_batch(5);
            let labels: Vec<bool> = batch.iter().map(|s| s.anomalous).collect();
            assert_eq!(labels, [false, false, true, true, true]);
            for sample in &batch {
                assert_eq!(images[sample.query].anomalous, sample.anomalous);
                assert_eq!(sample.prompts.len(), 2);
                assert_ne!(sample.prompts[0], sample.prompts[1]);
                for &p in &sample.prompts {
                    assert!(!images[p].anomalous);
                    assert_eq!(images[p].category, images[sample.query].category);
                }
            }
        }
    }

    #[test]
    fn every_image_is_used_once_per_pass() {
        let images = images();
        let mut sampler = BalancedSampler::new(&images, 1, 3).unwrap();
        // Five normals: five batches of two normal queries cover two full passes.
        let mut normals: Vec<usize> = (0..5)
            .flat_map(|_| sampler.next_batch(4))
            .filter(|s| !s.anomalous)
            .map(|s| s.query)
            .collect();
        normals.sort_unstable();
        assert_eq!(normals, [0, 0, 1, 1, 3, 3, 4, 4, 5, 5]);
    }

    #[test]
    fn too_few_normals_or_no_anomalies_are_refused() {
        let images = images();
        let error = BalancedSampler::new(&images, 3, 0).unwrap_err().to_string();
        assert!(
            error.contains("category 'a' has 2 normal images"),
            "{error}"
        );
        let normal_only: Vec<TrainImage> = images.into_iter().filter(|i| !i.anomalous).collect();
        let error = BalancedSampler::new(&normal_only, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(error.contains("0 anomalous"), "{error}");
    }
}

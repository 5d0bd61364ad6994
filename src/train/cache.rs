//! The frozen towers' outputs for every training image, computed once.
//!
//! The CLIP towers never change during training, so each image's embedding,
//! its three tapped layers' tokens and its text prior are computed once and
//! kept in one file, memory-mapped while training: every step then runs only
//! the patch comparison, the adapter and the heads. A JSON sidecar records
//! what the file was made from; a cache made from other weights, images or
//! precision is rebuilt.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use half::f16;
use memmap2::Mmap;
use serde_json::json;

use crate::config::{PATCH_GRID_CELLS, PATCH_LAYERS};
use crate::detector::{Detector, read_all};
use crate::error::{Error, Result};
use crate::model::inctrl::text_prior;
use crate::model::vision::VisionOutput;
use crate::preprocess::preprocess_file;

/// Images encoded per forward pass while building the cache.
const BUILD_BATCH: usize = 8;
const FORMAT_VERSION: u32 = 1;

/// How the layer tokens are stored (embeddings and text priors are always f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePrecision {
    /// Exact.
    #[default]
    F32,
    /// Half the disk and page cache, with the rounding of float16.
    F16,
}

impl CachePrecision {
    fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        }
    }
}

/// One image to cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The image file.
    pub path: PathBuf,
    /// Its category, whose text prototypes give its text prior.
    pub category: String,
}

/// The size of one image's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordLayout {
    embed_dim: usize,
    layers: usize,
    tokens: usize,
    width: usize,
    precision: CachePrecision,
}

impl RecordLayout {
    fn token_values(&self) -> usize {
        self.tokens * self.width
    }

    /// `[text prior f32][embedding f32 × embed_dim][layers × tokens × width tokens]`.
    fn bytes(&self) -> usize {
        4 * (1 + self.embed_dim) + self.layers * self.token_values() * self.precision.bytes()
    }
}

/// Frozen-tower features of a list of images, by index in that list.
#[derive(Debug)]
pub struct FeatureCache {
    map: Mmap,
    layout: RecordLayout,
    count: usize,
}

impl FeatureCache {
    /// Opens the cache at `path` if it was made from `weights_id`, `entries` and
    /// `precision`; otherwise encodes every image with `detector` (calling
    /// `progress(done, total)`) and writes it there first.
    pub fn open_or_build(
        path: &Path,
        detector: &mut Detector,
        weights_id: &str,
        entries: &[CacheEntry],
        precision: CachePrecision,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let layout = layout_of(detector, precision);
        let description = describe(weights_id, entries, &layout).to_string();
        let sidecar = sidecar_path(path);
        let current = std::fs::read_to_string(&sidecar).ok();
        if current.as_deref() != Some(description.as_str()) || !path.is_file() {
            // The sidecar goes last: an interrupted build is never taken for a finished one.
            let _ = std::fs::remove_file(&sidecar);
            write_records(path, detector, entries, &layout, &mut progress)?;
            std::fs::write(&sidecar, &description).map_err(|e| Error::io(sidecar.display(), e))?;
        }
        Self::map(path, layout, entries.len())
    }

    fn map(path: &Path, layout: RecordLayout, count: usize) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
        // SAFETY: the file is ours, written completely before its sidecar, and
        // nothing writes it while training reads it.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path.display(), e))?;
        if map.len() != count * layout.bytes() {
            return Err(Error::InvalidInput(format!(
                "{} holds {} bytes, not the {} of {count} cached images: delete it to rebuild",
                path.display(),
                map.len(),
                count * layout.bytes()
            )));
        }
        Ok(Self { map, layout, count })
    }

    /// How many images it holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds no image.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn record(&self, index: usize) -> &[u8] {
        let size = self.layout.bytes();
        &self.map[index * size..(index + 1) * size]
    }

    /// The text priors s_t of the images at `indices`.
    pub fn text_scores(&self, indices: &[usize]) -> Vec<f32> {
        indices
            .iter()
            .map(|&i| f32_values(&self.record(i)[..4])[0])
            .collect()
    }

    /// g(image) of the images at `indices`, `[indices, embed_dim]`.
    pub fn embeddings(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let end = 4 * (1 + self.layout.embed_dim);
        let values: Vec<f32> = indices
            .iter()
            .flat_map(|&i| f32_values(&self.record(i)[4..end]))
            .collect();
        tensor(values, [indices.len(), self.layout.embed_dim], device)
    }

    /// The tapped layers' tokens of the images at `indices`, each `[indices, 1 + patches, width]`.
    pub fn layer_tokens(&self, indices: &[usize], device: &Device) -> Vec<Tensor<3>> {
        let layout = self.layout;
        let start = 4 * (1 + layout.embed_dim);
        let layer_bytes = layout.token_values() * layout.precision.bytes();
        (0..layout.layers)
            .map(|layer| {
                let values: Vec<f32> = indices
                    .iter()
                    .flat_map(|&i| {
                        let offset = start + layer * layer_bytes;
                        let bytes = &self.record(i)[offset..offset + layer_bytes];
                        match layout.precision {
                            CachePrecision::F32 => f32_values(bytes),
                            CachePrecision::F16 => f16_values(bytes),
                        }
                    })
                    .collect();
                tensor(values, [indices.len(), layout.tokens, layout.width], device)
            })
            .collect()
    }

    /// The images' tower outputs, as [`VisionTransformer::forward`](crate::model::vision::VisionTransformer::forward) returns them.
    pub fn vision_output(&self, indices: &[usize], device: &Device) -> VisionOutput {
        VisionOutput {
            embedding: self.embeddings(indices, device),
            layer_tokens: self.layer_tokens(indices, device),
        }
    }
}

fn layout_of(detector: &Detector, precision: CachePrecision) -> RecordLayout {
    let config = detector.config();
    RecordLayout {
        embed_dim: config.embed_dim,
        layers: PATCH_LAYERS.len(),
        tokens: 1 + PATCH_GRID_CELLS,
        width: config.vision_cfg.width,
        precision,
    }
}

fn describe(weights_id: &str, entries: &[CacheEntry], layout: &RecordLayout) -> serde_json::Value {
    let images: Vec<[String; 2]> = entries
        .iter()
        .map(|e| [e.path.display().to_string(), e.category.clone()])
        .collect();
    json!({
        "format": FORMAT_VERSION,
        "weights": weights_id,
        "precision": layout.precision.name(),
        "layout": [layout.embed_dim, layout.layers, layout.tokens, layout.width],
        "images": images,
    })
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

fn write_records(
    path: &Path,
    detector: &mut Detector,
    entries: &[CacheEntry],
    layout: &RecordLayout,
    progress: &mut impl FnMut(usize, usize),
) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path.display(), e))?;
    let mut out = BufWriter::new(file);
    let size = detector.config().vision_cfg.image_size;
    for (batch_index, batch) in entries.chunks(BUILD_BATCH).enumerate() {
        let pixels = batch
            .iter()
            .map(|e| preprocess_file(&e.path, size))
            .collect::<Result<Vec<_>>>()?;
        let vision = detector
            .model()
            .visual
            .forward(detector.stack_images(&pixels, "training")?);
        let text_scores = batch_text_scores(detector, batch, &vision.embedding)?;
        // One readback per batch.
        let [text_scores, embedding, layer7, layer9, layer11] = pollster::block_on(read_all([
            text_scores.unsqueeze_dim(0),
            vision.embedding.clone(),
            flatten(&vision.layer_tokens[0]),
            flatten(&vision.layer_tokens[1]),
            flatten(&vision.layer_tokens[2]),
        ]))?;
        for (i, text_score) in text_scores.into_iter().enumerate() {
            let mut record = Vec::with_capacity(layout.bytes());
            record.extend(text_score.to_le_bytes());
            let row = |values: &[f32], len: usize| values[i * len..(i + 1) * len].to_vec();
            push_f32(&mut record, &row(&embedding, layout.embed_dim));
            for layer in [&layer7, &layer9, &layer11] {
                let tokens = row(layer, layout.token_values());
                match layout.precision {
                    CachePrecision::F32 => push_f32(&mut record, &tokens),
                    CachePrecision::F16 => push_f16(&mut record, &tokens),
                }
            }
            out.write_all(&record)
                .map_err(|e| Error::io(path.display(), e))?;
        }
        progress(
            (batch_index * BUILD_BATCH + batch.len()).min(entries.len()),
            entries.len(),
        );
    }
    out.flush().map_err(|e| Error::io(path.display(), e))
}

/// Each image's text prior with its own category's prototypes, `[batch]`.
fn batch_text_scores(
    detector: &mut Detector,
    batch: &[CacheEntry],
    embedding: &Tensor<2>,
) -> Result<Tensor<1>> {
    let mut scores = Vec::with_capacity(batch.len());
    for (i, entry) in batch.iter().enumerate() {
        let category = detector.category(&entry.category)?;
        let (_, score) = text_prior(embedding.clone().narrow(0, i, 1), category.prototypes);
        scores.push(score);
    }
    Ok(Tensor::cat(scores, 0))
}

/// `[batch, tokens, width]` → `[batch, tokens · width]`, for reading back.
fn flatten(tokens: &Tensor<3>) -> Tensor<2> {
    let [batch, count, width] = tokens.dims();
    tokens.clone().reshape([batch, count * width])
}

fn push_f32(record: &mut Vec<u8>, values: &[f32]) {
    record.extend(values.iter().flat_map(|v| v.to_le_bytes()));
}

fn push_f16(record: &mut Vec<u8>, values: &[f32]) {
    record.extend(values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()));
}

fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn f16_values(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

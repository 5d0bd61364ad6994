//! The WebAssembly surface, and the only module that knows wasm-bindgen.
//!
//! One [`WasmDetector`] lives in a Web Worker (`pkg/worker.js`); pages use it
//! through the `InctrlDetector` wrapper of `pkg/detector.js`. Every method
//! returns a `Result`, so bad input becomes a JavaScript exception with a clear
//! message instead of a panic, which would end the whole module.
//!
//! Two modules are built from it: with the `wgpu` feature (WebGPU, and the CPU
//! on one thread), and with the `threads` feature (the CPU only, on a pool of
//! Web Workers sharing the module's memory; pages that are cross-origin
//! isolated can run it).

use std::collections::HashMap;
use std::sync::Arc;

use burn::tensor::Device;
#[cfg(feature = "wgpu")]
use burn::tensor::wgpu::WgpuSetup;
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::calibrate::{Calibration, calibrate};
use crate::config::ClipConfig;
use crate::detector::{Category, Detector, PromptSet, Score, read_all};
use crate::error::{Error, Result};
use crate::maps::{DEFAULT_SIGMA, anomaly_map};
use crate::precision::ComputePrecision;
use crate::preprocess::{Pixels, preprocess_image, preprocess_rgba};
use crate::weights::bundle::{Bundle, Precision, read_bundle};
use crate::weights::checkpoint::{Checkpoint, ReadAt};
use crate::weights::convert::stream_bundle;
use crate::weights::{SNIFF_LEN, WeightsFormat};

/// `initThreadPool(n)`: starts the module's `n` worker threads (threaded build).
/// The re-export is what links wasm-bindgen-rayon's JS export into this
/// module; Rust itself never calls it.
#[cfg(feature = "threads")]
#[allow(unused_imports)]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Installs the panic hook and a logger, so that a bug or a GPU backend error
/// (e.g. a shader the browser refuses) shows its message in the console.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    if log::set_logger(&ConsoleLogger).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// `weightsFormat(head)`: `bundle` or `checkpoint`, from a weights file's first
/// `weightsHeaderLength()` bytes, by the sniffer the CLI and the library use;
/// throws naming the problem (empty, legacy torch file, not weights at all).
#[wasm_bindgen(js_name = weightsFormat)]
pub fn weights_format(head: &[u8]) -> std::result::Result<String, JsError> {
    WeightsFormat::sniff(head)
        .map(|format| format.kind().to_owned())
        .map_err(js_error)
}

/// How many leading bytes `weightsFormat` needs.
#[wasm_bindgen(js_name = weightsHeaderLength)]
pub fn weights_header_length() -> u32 {
    SNIFF_LEN as u32
}

/// `calibrate(scores, falseAlarmRate)`: the threshold that the scores of normal
/// images set for a false-alarm rate in (0, 1), by the library's rule
/// (`inctrl::calibrate`: the `⌊rate·(n + 1)⌋`-th largest score; anomalous means
/// strictly above it), as `{threshold, falseAlarmRate, expectedFalseAlarm,
/// normals, warning}` (`warning`: null, or why the normals are too few).
#[wasm_bindgen(js_name = calibrate)]
pub fn calibrate_scores(
    scores: Vec<f32>,
    false_alarm_rate: f64,
) -> std::result::Result<JsValue, JsError> {
    let calibration = calibrate(&scores, false_alarm_rate).map_err(js_error)?;
    to_js(&CalibrationOutput::from(calibration))
}

/// Sends warnings and errors of the `log` crate to the browser console.
struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        let message = JsValue::from_str(&format!("{}: {}", record.target(), record.args()));
        match record.level() {
            log::Level::Error => web_sys::console::error_1(&message),
            _ => web_sys::console::warn_1(&message),
        }
    }

    fn flush(&self) {}
}

/// An image handed over by the worker: encoded file bytes, or decoded RGBA pixels
/// (from an `ImageBitmap` or `ImageData`).
#[derive(Deserialize)]
struct ImageInput {
    name: String,
    bytes: Option<serde_bytes::ByteBuf>,
    width: Option<u32>,
    height: Option<u32>,
    rgba: Option<serde_bytes::ByteBuf>,
}

/// What a page needs to know about loaded weights.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleInfo {
    categories: Vec<String>,
    text_tower: bool,
    precision: &'static str,
    image_size: usize,
}

/// One query's result: the library's [`Score`] (camelCase in this build) and,
/// when a threshold was given, the decision.
#[derive(Serialize)]
struct ScoreOutput {
    #[serde(flatten)]
    score: Score,
    /// `score > threshold` (compared in f32, as the CLI does).
    #[serde(skip_serializing_if = "Option::is_none")]
    anomalous: Option<bool>,
}

impl ScoreOutput {
    fn new(score: Score, threshold: Option<f32>) -> Self {
        Self {
            anomalous: threshold.map(|t| score.score > t),
            score,
        }
    }
}

/// A [`Calibration`] in the JS API's names; `warning` is null when there is none.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CalibrationOutput {
    threshold: f32,
    false_alarm_rate: f64,
    expected_false_alarm: f64,
    normals: usize,
    warning: Option<String>,
}

impl From<Calibration> for CalibrationOutput {
    fn from(c: Calibration) -> Self {
        Self {
            threshold: c.threshold,
            false_alarm_rate: c.false_alarm,
            expected_false_alarm: c.expected_false_alarm,
            normals: c.normals,
            warning: c.warning,
        }
    }
}

/// An encoded prompt set and the preprocessed images it came from (for
/// leave-one-out calibration, and to recognise a prompt image among normals).
struct StoredPrompts {
    set: PromptSet,
    pixels: Vec<Pixels>,
}

/// A detector on one device, holding the current weights, the categories used
/// so far and the encoded prompt sets, by id (the page's prompt-set handles).
#[wasm_bindgen]
pub struct WasmDetector {
    device: Device,
    backend: &'static str,
    fallback_reason: Option<String>,
    #[cfg(feature = "wgpu")]
    gpu: Option<WgpuSetup>,
    detector: Option<Detector>,
    /// Text prototypes by the name asked for, so a category per call costs one upload.
    categories: HashMap<String, Category>,
    prompt_sets: HashMap<u32, StoredPrompts>,
    /// Ids are never reused, so a stale handle cannot reach another prompt set.
    next_prompt_set: u32,
}

#[wasm_bindgen]
impl WasmDetector {
    /// Creates a detector. `backend` is `"webgpu"`, `"cpu"` or `"auto"` (WebGPU
    /// when an adapter is granted, else the CPU). Check `navigator.gpu` before
    /// asking for WebGPU: some browsers crash wgpu when it is missing.
    /// `precision`: `f32` (parity-exact) or `f16`, which needs a device that
    /// computes in f16 (a WebGPU adapter with `shader-f16`, or the CPU).
    pub async fn create(
        backend: &str,
        precision: &str,
    ) -> std::result::Result<WasmDetector, JsError> {
        let precision: ComputePrecision = precision.parse().map_err(js_error)?;
        let mut detector = match backend {
            "cpu" => Self::on(Device::flex(), "cpu", None),
            #[cfg(feature = "wgpu")]
            "webgpu" => Self::on_gpu(Self::init_webgpu().await?),
            #[cfg(feature = "wgpu")]
            "auto" => match Self::init_webgpu().await {
                Ok(gpu) => Self::on_gpu(gpu),
                Err(e) => Self::on(Device::flex(), "cpu", Some(e.to_string())),
            },
            #[cfg(not(feature = "wgpu"))]
            "webgpu" | "auto" => {
                return Err(js_error(Error::InvalidInput(format!(
                    "this module runs on the CPU only; backend '{backend}' needs the WebGPU module"
                ))));
            }
            other => {
                return Err(js_error(Error::InvalidInput(format!(
                    "unknown backend '{other}' (use webgpu, cpu or auto)"
                ))));
            }
        };
        precision
            .configure(&mut detector.device)
            .map_err(js_error)?;
        Ok(detector)
    }

    /// `f32` or `f16`: what the model computes in.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        ComputePrecision::of(&self.device).name().to_owned()
    }

    /// Threads the CPU kernels run on: the pool size in the threaded module
    /// (after `initThreadPool`), else 1.
    #[wasm_bindgen(getter)]
    pub fn threads(&self) -> u32 {
        crate::ops::cpu::threads() as u32
    }

    /// `"webgpu"` or `"cpu"`: where the model actually runs.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.to_owned()
    }

    /// Why `"auto"` fell back to the CPU, if it did.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// Loads a `.bpk` bundle. On failure the weights loaded before stay in use.
    #[wasm_bindgen(js_name = loadBundle)]
    pub fn load_bundle(&mut self, bytes: Vec<u8>) -> std::result::Result<JsValue, JsError> {
        let Bundle {
            config,
            model,
            text_table,
            precision,
        } = read_bundle(burn::tensor::Bytes::from_bytes_vec(bytes), &self.device)
            .map_err(js_error)?;
        let info = BundleInfo {
            categories: text_table.names().map(str::to_owned).collect(),
            text_tower: model.text.is_some(),
            precision: precision.name(),
            image_size: config.vision_cfg.image_size,
        };
        self.detector = Some(Detector::new(
            model,
            config,
            text_table,
            self.device.clone(),
        ));
        // Prototypes and prompt features belong to the weights they came from.
        self.categories.clear();
        self.prompt_sets.clear();
        to_js(&info)
    }

    /// Converts an official checkpoint (`checkpoint.pyth`, read slice by slice from
    /// the `Blob`, so the 835 MB file is never in memory at once) into float16
    /// bundle bytes with the text tower, ready for `loadBundle` and for caching.
    /// `config_json` is an open_clip config (by default ViT-B-16-plus-240);
    /// `on_progress(bytesRead)` is called as the file is read.
    #[wasm_bindgen(js_name = convertCheckpoint)]
    pub fn convert_checkpoint(
        &self,
        checkpoint: web_sys::Blob,
        config_json: Option<String>,
        on_progress: Option<js_sys::Function>,
    ) -> std::result::Result<Vec<u8>, JsError> {
        let config = match config_json {
            Some(json) => ClipConfig::from_json(&json),
            None => Ok(ClipConfig::vit_b_16_plus_240()),
        }
        .map_err(js_error)?;
        let source = BlobSource::new(checkpoint, on_progress).map_err(js_error)?;
        let checkpoint = Checkpoint::open(Arc::new(source)).map_err(js_error)?;
        let writer =
            stream_bundle(Arc::new(checkpoint), &config, Precision::F16).map_err(js_error)?;
        let bytes = writer
            .into_bytes()
            .map_err(|e| js_error(Error::Weights(format!("writing the bundle failed: {e}"))))?;
        Ok(bytes.to_vec())
    }

    /// Checks a category name (an unknown one is an error) and prepares its text
    /// prior, so that scoring with it later costs nothing extra.
    #[wasm_bindgen(js_name = setCategory)]
    pub fn set_category(&mut self, name: &str) -> std::result::Result<(), JsError> {
        self.category(name).map(drop)
    }

    /// Encodes normal prompt images (an array of image inputs) and keeps them
    /// under a new id, returned, until `freePrompts(id)` or new weights.
    #[wasm_bindgen(js_name = encodePrompts)]
    pub async fn encode_prompts(&mut self, images: JsValue) -> std::result::Result<u32, JsError> {
        let pixels = self.decode_all(images)?;
        let set = self.loaded()?.encode_prompts(&pixels).map_err(js_error)?;
        // Read one value back so that the work (and any device error) happens here.
        let mean = set.features().adapted_mean.clone().unsqueeze();
        read_all([mean]).await.map_err(js_error)?;
        let id = self.next_prompt_set;
        self.next_prompt_set += 1;
        self.prompt_sets.insert(id, StoredPrompts { set, pixels });
        Ok(id)
    }

    /// Frees an encoded prompt set; false if there was none with this id.
    #[wasm_bindgen(js_name = freePrompts)]
    pub fn free_prompts(&mut self, id: u32) -> bool {
        self.prompt_sets.remove(&id).is_some()
    }

    /// Scores one query image against the prompt set `prompts` (an id from
    /// `encodePrompts`) with the text prior of `category`. With a `threshold`
    /// the result says whether the score is above it (`anomalous`). With
    /// `maps`, it carries `anomalyMap: {width, height, data: Float32Array}`: the
    /// patch map at the image's own size (NaN where the centre crop cut the
    /// image), smoothed with a Gaussian of `sigma` model-input pixels (default
    /// 4; 0: none). The map's array owns its buffer, so it can be transferred.
    pub async fn score(
        &mut self,
        image: JsValue,
        prompts: u32,
        category: &str,
        threshold: Option<f32>,
        maps: bool,
        sigma: Option<f32>,
    ) -> std::result::Result<JsValue, JsError> {
        if let Some(t) = threshold.filter(|t| !t.is_finite()) {
            return Err(js_error(Error::InvalidInput(format!(
                "the threshold must be a finite number, got {t}"
            ))));
        }
        let sigma = sigma.unwrap_or(DEFAULT_SIGMA);
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(js_error(Error::InvalidInput(format!(
                "the maps' sigma must be a finite number of pixels, 0 or more, got {sigma}"
            ))));
        }
        let category = self.category(category)?;
        let prompts = &self.prompts(prompts)?.set;
        let pixels = decode(serde_wasm_bindgen::from_value(image)?, self.image_size()?)?;
        let score = self
            .loaded()?
            .score(&category, prompts, std::slice::from_ref(&pixels))
            .await
            .map_err(js_error)?
            .remove(0);
        let map = maps
            .then(|| anomaly_map(&score.patch_map, pixels.geometry(), Some(sigma)))
            .transpose()
            .map_err(js_error)?;
        let output = to_js(&ScoreOutput::new(score, threshold))?;
        if let Some(map) = map {
            let value = Object::new();
            set(&value, "width", &map.width.into())?;
            set(&value, "height", &map.height.into())?;
            // A copy out of the module's memory into an array of its own.
            set(&value, "data", &Float32Array::from(map.values.as_slice()))?;
            set(&output, "anomalyMap", &value)?;
        }
        Ok(output)
    }

    /// The score of one normal image against the prompt set `prompts`, for
    /// calibration; `undefined` when the image is one of the set's own prompt
    /// images (scored against itself it would look too normal, so it is left
    /// out, as `inctrl calibrate` leaves it out).
    #[wasm_bindgen(js_name = scoreNormal)]
    pub async fn score_normal(
        &mut self,
        image: JsValue,
        prompts: u32,
        category: &str,
    ) -> std::result::Result<Option<f32>, JsError> {
        let category = self.category(category)?;
        let stored = self.prompts(prompts)?;
        let pixels = decode(serde_wasm_bindgen::from_value(image)?, self.image_size()?)?;
        if stored.pixels.contains(&pixels) {
            return Ok(None);
        }
        let scores = self
            .loaded()?
            .score(&category, &stored.set, &[pixels])
            .await
            .map_err(js_error)?;
        Ok(Some(scores[0].score))
    }

    /// Each image of the prompt set `prompts` (K ≥ 2) scored against the other
    /// K − 1, in order (`Detector::score_leave_one_out`).
    #[wasm_bindgen(js_name = scoreLeaveOneOut)]
    pub async fn score_leave_one_out(
        &mut self,
        prompts: u32,
        category: &str,
    ) -> std::result::Result<Vec<f32>, JsError> {
        let category = self.category(category)?;
        let stored = self.prompts(prompts)?;
        let scores = self
            .loaded()?
            .score_leave_one_out(&category, &stored.pixels)
            .await
            .map_err(js_error)?;
        Ok(scores.into_iter().map(|s| s.score).collect())
    }

    /// Bytes of WebAssembly memory in use by this module (it never shrinks).
    #[wasm_bindgen(js_name = memoryBytes)]
    pub fn memory_bytes(&self) -> f64 {
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as f64
    }

    /// Destroys the WebGPU device, as a driver reset would, so pages and tests can
    /// exercise their recovery path. Does nothing on the CPU.
    #[wasm_bindgen(js_name = simulateDeviceLoss)]
    pub fn simulate_device_loss(&self) {
        #[cfg(feature = "wgpu")]
        if let Some(gpu) = &self.gpu {
            gpu.device.destroy();
        }
    }
}

impl WasmDetector {
    fn on(device: Device, backend: &'static str, fallback_reason: Option<String>) -> Self {
        Self {
            device,
            backend,
            fallback_reason,
            #[cfg(feature = "wgpu")]
            gpu: None,
            detector: None,
            categories: HashMap::new(),
            prompt_sets: HashMap::new(),
            next_prompt_set: 1,
        }
    }

    /// Burn's wgpu runtime watches the device itself: once it is lost, every
    /// readback fails with an error that says so (see `detector::read_all`).
    #[cfg(feature = "wgpu")]
    fn on_gpu((device, setup): (Device, WgpuSetup)) -> Self {
        Self {
            gpu: Some(setup),
            ..Self::on(device, "webgpu", None)
        }
    }

    #[cfg(feature = "wgpu")]
    async fn init_webgpu() -> Result<(Device, WgpuSetup)> {
        Device::wgpu_options()
            .init_with_setup_async()
            .await
            .map_err(|e| Error::Device(format!("WebGPU is not available: {e:?}")))
    }

    fn loaded(&self) -> std::result::Result<&Detector, JsError> {
        self.detector
            .as_ref()
            .ok_or_else(|| js_error(Error::InvalidInput("load weights first".into())))
    }

    fn loaded_mut(&mut self) -> std::result::Result<&mut Detector, JsError> {
        self.detector
            .as_mut()
            .ok_or_else(|| js_error(Error::InvalidInput("load weights first".into())))
    }

    /// The text prototypes of `name`, prepared once per name and weights.
    fn category(&mut self, name: &str) -> std::result::Result<Category, JsError> {
        if let Some(category) = self.categories.get(name) {
            return Ok(category.clone());
        }
        let category = self.loaded_mut()?.category(name).map_err(js_error)?;
        self.categories.insert(name.to_owned(), category.clone());
        Ok(category)
    }

    fn prompts(&self, id: u32) -> std::result::Result<&StoredPrompts, JsError> {
        self.prompt_sets.get(&id).ok_or_else(|| {
            js_error(Error::InvalidInput(format!(
                "no prompt set {id}: it was freed, or encoded for other weights"
            )))
        })
    }

    fn image_size(&self) -> std::result::Result<u32, JsError> {
        Ok(self.loaded()?.config().vision_cfg.image_size as u32)
    }

    fn decode_all(&self, images: JsValue) -> std::result::Result<Vec<Pixels>, JsError> {
        let inputs: Vec<ImageInput> = serde_wasm_bindgen::from_value(images)?;
        let size = self.image_size()?;
        inputs
            .into_iter()
            .map(|input| decode(input, size))
            .collect()
    }
}

/// Preprocesses one image input exactly as the original pipeline does.
fn decode(input: ImageInput, size: u32) -> std::result::Result<Pixels, JsError> {
    let result = match (&input.bytes, &input.rgba, input.width, input.height) {
        (Some(bytes), _, _, _) => preprocess_image(bytes, size),
        (None, Some(rgba), Some(width), Some(height)) => preprocess_rgba(width, height, rgba, size),
        _ => {
            return Err(js_error(Error::InvalidInput(format!(
                "image {}: neither file bytes nor RGBA pixels with a size",
                input.name
            ))));
        }
    };
    result.map_err(|e| js_error(Error::image(input.name, e)))
}

fn js_error(error: Error) -> JsError {
    JsError::new(&error.to_string())
}

fn to_js<T: Serialize>(value: &T) -> std::result::Result<JsValue, JsError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

/// `target[key] = value` on a plain object.
fn set(target: &JsValue, key: &str, value: &JsValue) -> std::result::Result<(), JsError> {
    Reflect::set(target, &JsValue::from_str(key), value)
        .map(drop)
        .map_err(|_| JsError::new(&format!("setting {key} on a result failed")))
}

/// A `Blob` read synchronously slice by slice (`FileReaderSync` exists in workers
/// only), reporting the bytes read so far to an optional callback.
struct BlobSource {
    blob: web_sys::Blob,
    reader: web_sys::FileReaderSync,
    on_progress: Option<js_sys::Function>,
    read: std::cell::Cell<u64>,
}

// SAFETY: the JS handles are only touched on the thread that called
// `convertCheckpoint`: the single-threaded module has no other thread, and in
// the threaded one the conversion reads the file sequentially on that thread
// (only the CPU kernels of `ops::cpu` run on the pool).
unsafe impl Send for BlobSource {}
unsafe impl Sync for BlobSource {}

impl BlobSource {
    fn new(blob: web_sys::Blob, on_progress: Option<js_sys::Function>) -> Result<Self> {
        let reader = web_sys::FileReaderSync::new().map_err(|_| {
            Error::InvalidInput("checkpoint conversion must run in a Web Worker".into())
        })?;
        Ok(Self {
            blob,
            reader,
            on_progress,
            read: std::cell::Cell::new(0),
        })
    }
}

impl ReadAt for BlobSource {
    fn len(&self) -> u64 {
        self.blob.size() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let end = offset + buf.len() as u64;
        let failed =
            |_| Error::Weights(format!("reading bytes {offset}..{end} of the file failed"));
        let slice = self
            .blob
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(failed)?;
        let data = self.reader.read_as_array_buffer(&slice).map_err(failed)?;
        Uint8Array::new(&data).copy_to(buf);
        self.read.set(self.read.get() + buf.len() as u64);
        if let Some(callback) = &self.on_progress {
            // A failing progress callback must not abort the conversion.
            let _ = callback.call1(&JsValue::NULL, &JsValue::from_f64(self.read.get() as f64));
        }
        Ok(())
    }
}

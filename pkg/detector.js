// InctrlDetector: the page-side API. All heavy work runs in worker.js, so the
// page never freezes; images and weights never leave the browser.

const BURNPACK_MAGIC = [0x4e, 0x52, 0x55, 0x42]; // "BURN" as a little-endian u32
const ZIP_MAGIC = [0x50, 0x4b]; // "PK": a torch.save checkpoint

/** An error from the detector; `kind` is `error`, `devicelost` or `fatal`. */
export class InctrlError extends Error {
  constructor(message, kind = 'error') {
    super(message);
    this.name = 'InctrlError';
    this.kind = kind;
  }
}

/**
 * InCTRL anomaly detection in a Web Worker, on WebGPU or the CPU.
 *
 * Events: `devicelost` and `fatal` (detail: {message}) tell the page that the
 * detector must be re-created, e.g. with `recreate({ backend: 'cpu' })`, which
 * replays the weights, category and prompts already set.
 */
export class InctrlDetector extends EventTarget {
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  #workerUrl;
  #threads;
  #state = { weights: null, category: null, prompts: null };

  /** `webgpu` or `cpu`: where the model runs. */
  backend = null;
  /** Why `auto` chose the CPU, if it did. */
  fallbackReason = null;
  /** Threads the CPU backend computes on (1 on WebGPU, whose work is on the GPU). */
  threads = 1;
  /** Why the CPU backend runs on one thread, if it does (e.g. the page is not cross-origin isolated). */
  threadsReason = null;
  /** Info on the loaded weights (categories, textTower, precision, imageSize). */
  info = null;

  constructor(workerUrl, threads) {
    super();
    this.#workerUrl = workerUrl;
    this.#threads = threads;
  }

  /**
   * Starts a detector. `backend`: `auto` (WebGPU if available, else CPU), `webgpu` or `cpu`.
   * On the CPU, a cross-origin isolated page runs on `threads` workers (default: one per
   * logical core, `navigator.hardwareConcurrency`); other pages run on one thread.
   */
  static async create({
    backend = 'auto',
    threads,
    workerUrl = new URL('./worker.js', import.meta.url),
  } = {}) {
    const detector = new InctrlDetector(workerUrl, threads);
    await detector.#start(backend);
    return detector;
  }

  /**
   * Loads weights: a URL to a `.bpk` bundle (downloaded once, then served from the
   * Cache API), or a File/Blob/ArrayBuffer/Uint8Array holding a `.bpk` bundle or an
   * official `checkpoint.pyth` (converted in the page, then cached).
   * `onProgress({phase, loaded, total})` reports bytes. Earlier weights stay loaded
   * if this fails.
   */
  async loadWeights(source, { onProgress, cache = true, config } = {}) {
    const info = await this.#loadWeights(source, { onProgress, cache, config });
    this.#state = { weights: { source, cache, config }, category: null, prompts: null };
    this.info = info;
    return info;
  }

  /** Sets the category name used for the text prior (e.g. `candle`, `metal_nut`). */
  async setCategory(name) {
    await this.#call('setCategory', { name });
    this.#state.category = name;
  }

  /**
   * Encodes the normal example images once. Images: File, Blob, ImageBitmap,
   * ImageData, ArrayBuffer or Uint8Array (file bytes), optionally as `{name, image}`.
   * Returns K.
   */
  async setPrompts(images) {
    const count = await this.#call('setPrompts', { images: [...images] });
    this.#state.prompts = [...images];
    return count;
  }

  /**
   * Scores query images. Resolves to one result per image:
   * `{name, score, patchMax, textScore, imageScore, holisticScore, patchMap: Float32Array(225), ms}`.
   */
  async score(images, { onProgress } = {}) {
    return this.#call('score', { images: [...images] }, onProgress);
  }

  /** Bytes of WebAssembly memory the worker's module uses. */
  async memoryBytes() {
    return this.#call('memory');
  }

  /**
   * Ends the worker, then starts a new one on `backend` (and `threads`, by default the same),
   * restoring weights, category and prompts.
   */
  async recreate({ backend = 'cpu', threads = this.#threads, onProgress } = {}) {
    const state = this.#state;
    this.#stop(new InctrlError('the detector was re-created', 'error'));
    this.#threads = threads;
    await this.#start(backend);
    if (state.weights) {
      const { source, cache, config } = state.weights;
      this.info = await this.#loadWeights(source, { onProgress, cache, config });
    }
    this.#state = { weights: state.weights, category: null, prompts: null };
    if (state.category) await this.setCategory(state.category);
    if (state.prompts) await this.setPrompts(state.prompts);
    return this;
  }

  /** Destroys the GPU device as a driver reset would (for testing recovery). */
  async simulateDeviceLoss() {
    return this.#call('simulateDeviceLoss');
  }

  /** Stops the worker and frees its memory. */
  dispose() {
    this.#stop(new InctrlError('the detector was disposed'));
  }

  async #start(backend) {
    this.#worker = new Worker(this.#workerUrl, { type: 'module' });
    this.#worker.onmessage = ({ data }) => this.#receive(data);
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new InctrlError(`the detector worker failed: ${event.message ?? 'unknown error'}`, 'fatal'));
    };
    const started = await this.#call('create', { backend, threads: this.#threads });
    this.backend = started.backend;
    this.fallbackReason = started.fallbackReason;
    this.threads = started.threads;
    this.threadsReason = started.threadsReason;
  }

  async #loadWeights(source, { onProgress, cache, config }) {
    if (typeof source === 'string' || source instanceof URL) {
      // Relative to the page, not to the worker's script.
      const url = new URL(source, globalThis.document?.baseURI ?? globalThis.location?.href).href;
      return this.#call('loadUrl', { url, cache }, onProgress);
    }
    const blob = source instanceof Blob ? source : new Blob([source]);
    const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    if (ZIP_MAGIC.every((b, i) => head[i] === b)) {
      const file = blob instanceof File ? blob : new File([blob], 'checkpoint.pyth');
      return this.#call('convert', { file, config, cache }, onProgress);
    }
    if (!BURNPACK_MAGIC.every((b, i) => head[i] === b)) {
      throw new InctrlError(
        'not a weights file: expected an inctrl .bpk bundle or an official checkpoint.pyth',
      );
    }
    return this.#call('loadBlob', { blob }, onProgress);
  }

  #call(op, args, onProgress) {
    if (!this.#worker) return Promise.reject(new InctrlError('the detector was disposed'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.#worker.postMessage({ id, op, args });
    });
  }

  #receive({ id, result, error, kind, progress }) {
    const pending = this.#pending.get(id);
    if (!pending) return;
    if (progress !== undefined) {
      pending.onProgress?.(progress);
      return;
    }
    this.#pending.delete(id);
    if (error === undefined) {
      pending.resolve(result);
      return;
    }
    const failure = new InctrlError(error, kind);
    pending.reject(failure);
    if (kind !== 'error') this.#fail(failure);
  }

  /** A lost device or crashed module: tell the page, fail what is in flight. */
  #fail(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.dispatchEvent(new CustomEvent(error.kind, { detail: { message: error.message } }));
  }

  #stop(error) {
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
    this.#worker?.terminate();
    this.#worker = null;
  }
}

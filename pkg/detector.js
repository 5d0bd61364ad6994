// InctrlDetector: the page-side API. All heavy work runs in worker.js, so the
// page never freezes; images and weights never leave the browser.


/** The Cache API cache that holds downloaded and converted weights (also named in worker.js). */
const CACHE_NAME = 'inctrl-weights-v1';

/** Test hook, not public API: `detector[Symbol.for('inctrl-web.simulateDeviceLoss')]()`. */
const SIMULATE_DEVICE_LOSS = Symbol.for('inctrl-web.simulateDeviceLoss');

/** Lets only this module make `PromptSet` handles. */
const INTERNAL = Symbol('inctrl-web.internal');

/** How the browser decodes pixel sources: no colour management, no premultiplication. */
const BITMAP_OPTIONS = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };

/**
 * An error from the detector; `kind` is `error`, `abort`, `devicelost` or `fatal`.
 * An aborted operation rejects with kind `abort` and name `AbortError`.
 */
export class InctrlError extends Error {
  constructor(message, kind = 'error', options) {
    super(message, options);
    this.name = kind === 'abort' ? 'AbortError' : 'InctrlError';
    this.kind = kind;
  }
}

/**
 * Encoded normal images ("a prompt set"), made by `InctrlDetector.encodePrompts`
 * and passed to `score(images, { prompts })`. It lives in the detector's worker
 * until `dispose()`; `recreate()` encodes it again on the new backend; loading
 * other weights invalidates it (scoring with it then rejects, saying so).
 */
export class PromptSet {
  #release;

  constructor(key, { count, names, release }) {
    if (key !== INTERNAL) throw new TypeError('prompt sets come from InctrlDetector.encodePrompts()');
    /** Number of images (K). */
    this.count = count;
    /** The images' names, in order. */
    this.names = names;
    this.#release = release;
  }

  /** Whether `dispose()` was called. */
  get disposed() {
    return this.#release === null;
  }

  /** Frees the encoded features in the worker. Using the set afterwards rejects. */
  dispose() {
    const release = this.#release;
    this.#release = null;
    release?.();
  }
}

/**
 * InCTRL anomaly detection in a Web Worker, on WebGPU or the CPU.
 *
 * Events: `devicelost` and `fatal` (detail: {message}) tell the page that the
 * detector must be re-created, e.g. with `recreate({ backend: 'cpu' })`, which
 * replays the weights, category and prompt sets already set.
 */
export class InctrlDetector extends EventTarget {
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  #workerUrl;
  #threads;
  #precision;
  /** What `recreate` replays: `{source: absolute URL | Blob, cache, config}`. */
  #weights = null;
  #category = null;
  /** The prompt set of `setPrompts`. */
  #defaultPrompts = null;
  /** See the `threshold` accessor. */
  #threshold = null;
  /** Every live handle: `{items, remoteId, failure}`. */
  #promptSets = new Map();

  /** `webgpu` or `cpu`: where the model runs. */
  backend = null;
  /** Why `auto` chose the CPU, if it did. */
  fallbackReason = null;
  /** Threads the CPU backend computes on (1 on WebGPU, whose work is on the GPU). */
  threads = 1;
  /** Why the CPU backend runs on one thread, if it does (e.g. the page is not cross-origin isolated). */
  threadsReason = null;
  /** `f32` or `f16`: what the model computes in (`info.precision` is how the weights are stored). */
  precision = 'f32';
  /** Info on the loaded weights (categories, textTower, precision, imageSize, bytes, cache). */
  info = null;

  /**
   * The anomaly threshold: `score` results carry `anomalous: score > threshold` (compared
   * in f32, as the CLI's `--threshold` does) while it is a number; `null` (the start)
   * leaves `anomalous` out. `calibrate` sets it; it can be set by hand. Loading weights
   * clears it; `recreate()` keeps it.
   */
  get threshold() {
    return this.#threshold;
  }

  set threshold(value) {
    this.#threshold = checkThreshold(value, 'threshold');
  }

  constructor(workerUrl, threads, precision) {
    super();
    this.#workerUrl = workerUrl;
    this.#threads = threads;
    this.#precision = precision;
  }

  /**
   * Starts a detector. `backend`: `auto` (WebGPU if available, else CPU), `webgpu` or `cpu`.
   * On the CPU, a cross-origin isolated page runs on `threads` workers (default: one per
   * logical core, `navigator.hardwareConcurrency`); other pages run on one thread.
   * `precision`: `f32` (default; matches the original) or `f16` (opt-in, faster on GPUs
   * with `shader-f16`, slightly different scores). `f16` on a GPU without `shader-f16`
   * rejects for `webgpu`; `auto` then falls back to the CPU and says why in `fallbackReason`.
   */
  static async create({
    backend = 'auto',
    threads,
    precision = 'f32',
    workerUrl = new URL('./worker.js', import.meta.url),
  } = {}) {
    const detector = new InctrlDetector(workerUrl, threads, precision);
    await detector.#start(backend);
    return detector;
  }

  /**
   * Deletes every cached download and converted checkpoint of this origin. Resolves
   * to whether there was anything to delete.
   */
  static async clearCache() {
    if (typeof caches === 'undefined') return false;
    return caches.delete(CACHE_NAME);
  }

  /**
   * Loads weights: a URL to a `.bpk` bundle (cached in the Cache API; a cached copy
   * is revalidated with the server before use), or a File/Blob/ArrayBuffer/Uint8Array
   * holding a `.bpk` bundle or an official `checkpoint.pyth` (converted in the page,
   * then cached; `config` is its open_clip config object, by default ViT-B-16-plus-240).
   * `onProgress` sees `initiate`, then `download` with bytes, then `ready`. Earlier
   * weights stay loaded if this fails or is aborted through `signal`.
   */
  async loadWeights(source, { onProgress, cache = true, config, signal } = {}) {
    throwIfAborted(signal);
    const configJson = serialiseConfig(config);
    // What recreate() replays: the URL, or the bytes as one File (never a second
    // ArrayBuffer), whose fixed name and time keep a converted checkpoint's cache key.
    let replay;
    if (typeof source === 'string' || source instanceof URL) {
      replay = new URL(source, baseUrl()).href;
    } else if (source instanceof File) {
      replay = source;
    } else if (source instanceof Blob || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
      replay = new File([source], 'weights', { lastModified: Date.now() });
    } else {
      throw new InctrlError('weights: expected a URL, File, Blob, ArrayBuffer or Uint8Array');
    }
    const info = await this.#loadWeights(replay, { onProgress, cache, config: configJson, signal });
    this.#weights = { source: replay, cache, config: configJson };
    this.#category = null;
    // A threshold belongs to the weights that scored its normals.
    this.#threshold = null;
    this.#invalidatePromptSets();
    this.info = info;
    return info;
  }

  /** Sets the default category name for the text prior (e.g. `candle`, `metal_nut`). */
  async setCategory(name) {
    await this.#call('setCategory', { name });
    this.#category = name;
  }

  /**
   * Encodes normal example images into a prompt set that can be used for any number
   * of `score` calls. Images: see `ImageInput` (files, URLs, bitmaps, canvases, ...).
   */
  async encodePrompts(images, { signal } = {}) {
    throwIfAborted(signal);
    const items = await prepareImages(images);
    let remoteId;
    try {
      // Structured clones: our own bitmaps stay here for recreate().
      remoteId = await this.#call('encodePrompts', { images: items.map(wire) }, undefined, { signal });
    } catch (error) {
      closeOwned(items);
      throw error;
    }
    const handle = new PromptSet(INTERNAL, {
      count: items.length,
      names: items.map((item) => item.name),
      release: () => this.#releasePrompts(handle),
    });
    this.#promptSets.set(handle, { items, remoteId, failure: null });
    return handle;
  }

  /** Encodes the default prompt set (replacing the previous one); returns K. */
  async setPrompts(images, { signal } = {}) {
    const prompts = await this.encodePrompts(images, { signal });
    this.#defaultPrompts?.dispose();
    this.#defaultPrompts = prompts;
    return prompts.count;
  }

  /**
   * Scores query images against `prompts` (default: `setPrompts`'s) with the text
   * prior of `category` (default: `setCategory`'s). Resolves to one result per image:
   * `{name, score, patchMax, textScore, imageScore, holisticScore, patchMap: Float32Array(225), ms}`,
   * plus `anomalous` while a threshold is set (`threshold` here overrides `this.threshold`
   * for this call; `null`: none) and, with `maps: true` or `maps: {sigma}`, `anomalyMap:
   * {width, height, data: Float32Array}` at the image's own size (NaN outside the centre
   * crop the model saw; Gaussian `sigma` in model-input pixels, default 4, 0 for none).
   * Aborting through `signal` stops before the next image and rejects the whole call.
   */
  async score(images, options = {}) {
    throwIfAborted(options.signal);
    this.#scoreArgs(options); // fail before reading any image
    return this.#scoreItems(await prepareImages(images), options);
  }

  /**
   * Scores a live video until stopped: a `MediaStream` (its first video track) or a
   * playing `<video>`. Whenever the previous frame's score is done it takes the newest
   * frame (frames that came meanwhile are skipped, never queued), at most `maxFps` per
   * second, and calls `onResult` with `score`'s result for it plus `frameTime` (the
   * frame's timestamp, ms). Frames move to the worker as `VideoFrame`s (`ImageBitmap`s
   * where there is no `VideoFrame`), not copied on the page. `prompts`, `category`,
   * `threshold` and `maps` are `score`'s. Returns `{stop, done}`: `stop()` or `signal`
   * stop it, as does the end of the video or its track; `done` then resolves to the
   * number of frames scored, or rejects with what stopped it (an error of `onResult`,
   * a lost GPU, disposed prompts). The camera is the caller's: stopping leaves it on.
   */
  scoreStream(source, { onResult, signal, maxFps = Infinity, ...options } = {}) {
    throwIfAborted(signal);
    if (typeof onResult !== 'function') throw new InctrlError('scoreStream: onResult must be a function');
    if (typeof maxFps !== 'number' || !(maxFps > 0)) {
      throw new InctrlError(`maxFps: expected a number above 0, got ${String(maxFps)}`);
    }
    const open = videoOpener(source);
    this.#scoreArgs(options); // fail now, not at the first frame
    const stopper = new AbortController();
    const stop = () => stopper.abort();
    signal?.addEventListener('abort', stop);
    const done = (async () => {
      const frames = newestFrames(await open(), stopper.signal);
      try {
        return await this.#scoreFrames(frames, { ...options, signal: stopper.signal }, onResult, 1000 / maxFps);
      } finally {
        frames.close();
      }
    })().finally(() => {
      signal?.removeEventListener('abort', stop);
      stopper.abort(); // ends the frame source on errors too
    });
    return { stop, done };
  }

  /**
   * Sets `threshold` from normal images alone, at `falseAlarmRate` (default 0.01): from
   * the scores of `normals` (other normal images; the prompt set's own images among them
   * are left out) or, when `normals` is empty or omitted, from the prompt images scored
   * leave-one-out (each against the other K − 1; needs K ≥ 2). The rule is the library's
   * (`inctrl calibrate`'s): the ⌊rate·(n + 1)⌋-th largest of the n scores. Resolves to
   * `{threshold, falseAlarmRate, expectedFalseAlarm, normals, warning, method}`; `warning`
   * says when the normals are too few for the rate asked (else null).
   */
  async calibrate(normals = [], { falseAlarmRate = 0.01, prompts, category, onProgress, signal } = {}) {
    throwIfAborted(signal);
    if (typeof falseAlarmRate !== 'number' || !(falseAlarmRate > 0 && falseAlarmRate < 1)) {
      throw new InctrlError(`falseAlarmRate must be a number between 0 and 1 (exclusive), got ${String(falseAlarmRate)}`);
    }
    const { record, name } = this.#target(prompts, category);
    const items = await prepareImages(normals ?? []);
    const transfer = items.filter((item) => item.owned).map((item) => item.image);
    try {
      const calibration = await this.#call(
        'calibrate',
        { normals: items.map(wire), prompts: record.remoteId, category: name, falseAlarmRate },
        onProgress,
        { signal, transfer },
      );
      this.#threshold = calibration.threshold;
      return calibration;
    } finally {
      closeOwned(items);
    }
  }

  /** Bytes of WebAssembly memory the worker's module uses. */
  async memoryBytes() {
    return this.#call('memory');
  }

  /**
   * Ends the worker, then starts a new one on `backend` (and `threads`, by default the same),
   * restoring the weights, the category and every prompt set (encoded again). Prompt sets
   * that cannot be restored (e.g. a URL that is gone) reject when used, and this rejects
   * after restoring everything else.
   */
  async recreate({ backend = 'cpu', threads = this.#threads, onProgress } = {}) {
    this.#stop(new InctrlError('the detector was re-created', 'error'));
    this.#threads = threads;
    await this.#start(backend);
    if (!this.#weights) return this;
    const { source, cache, config } = this.#weights;
    this.info = await this.#loadWeights(source, { onProgress, cache, config });
    if (this.#category) await this.#call('setCategory', { name: this.#category });
    const failures = [];
    for (const record of this.#promptSets.values()) {
      if (record.failure) continue;
      record.remoteId = null;
      try {
        record.remoteId = await this.#call('encodePrompts', { images: record.items.map(wire) });
      } catch (error) {
        record.failure = `this prompt set could not be restored after recreate(): ${error.message}`;
        failures.push(error.message);
      }
    }
    if (failures.length) {
      throw new InctrlError(`recreate() could not restore ${failures.length} prompt set(s): ${failures.join('; ')}`);
    }
    return this;
  }

  /** Destroys the GPU device as a driver reset would (a test hook, not public API). */
  async [SIMULATE_DEVICE_LOSS]() {
    return this.#call('simulateDeviceLoss');
  }

  /** Stops the worker and frees its memory, prompt sets included. */
  dispose() {
    this.#stop(new InctrlError('the detector was disposed'));
    for (const record of this.#promptSets.values()) closeOwned(record.items);
    this.#promptSets.clear();
    this.#defaultPrompts = null;
  }

  /**
   * `score`'s options as the worker's `score` takes them, or a clear error (no prompts or
   * category, a bad threshold or maps). The threshold is the detector's at this call.
   */
  #scoreArgs({ prompts, category, threshold, maps = false }) {
    const { record, name } = this.#target(prompts, category);
    const limit = threshold === undefined ? this.#threshold : checkThreshold(threshold, 'threshold');
    const sigma = mapSigma(maps);
    return { prompts: record.remoteId, category: name, threshold: limit, maps: sigma !== null, sigma: sigma ?? undefined };
  }

  /** Scores prepared images (`{name, image, owned}`) with `score`'s options. */
  async #scoreItems(items, options) {
    // Bitmaps and video frames made here are moved to the worker, not copied.
    const transfer = items.filter((item) => item.owned).map((item) => item.image);
    try {
      throwIfAborted(options.signal);
      const args = { images: items.map(wire), ...this.#scoreArgs(options) };
      return await this.#call('score', args, options.onProgress, { signal: options.signal, transfer });
    } finally {
      closeOwned(items); // no-op for the ones already moved
    }
  }

  /** `scoreStream`'s loop: one frame at a time, at least `interval` ms apart; resolves to the count. */
  async #scoreFrames(frames, options, onResult, interval) {
    let count = 0;
    for (;;) {
      const started = performance.now();
      const frame = await frames.next();
      if (!frame) return count;
      let result;
      try {
        [result] = await this.#scoreItems([{ name: `frame ${count + 1}`, image: frame.image, owned: true }], options);
      } catch (error) {
        if (error.kind === 'abort') return count;
        throw error;
      }
      // A frame the worker finished after stop() is not reported.
      if (options.signal.aborted) return count;
      count += 1;
      onResult({ ...result, frameTime: frame.time });
      await delay(interval - (performance.now() - started), options.signal);
    }
  }

  async #start(backend) {
    this.#worker = new Worker(this.#workerUrl, { type: 'module' });
    this.#worker.onmessage = ({ data }) => this.#receive(data);
    this.#worker.onerror = (event) => {
      event.preventDefault?.();
      this.#fail(new InctrlError(`the detector worker failed: ${event.message ?? 'unknown error'}`, 'fatal'));
    };
    const started = await this.#call('create', { backend, threads: this.#threads, precision: this.#precision });
    this.backend = started.backend;
    this.fallbackReason = started.fallbackReason;
    this.threads = started.threads;
    this.threadsReason = started.threadsReason;
    this.precision = started.precision;
  }

  async #loadWeights(source, { onProgress, cache, config, signal }) {
    if (typeof source === 'string' || source instanceof URL) {
      // Relative to the page, not to the worker's script.
      const url = new URL(source, globalThis.document?.baseURI ?? globalThis.location?.href).href;
      return this.#call('loadUrl', { url, cache }, onProgress, { signal });
    }
    // The worker tells a bundle from a checkpoint with the library's own sniffer.
    const file = source instanceof File ? source : new File([source], 'weights');
    return this.#call('loadFile', { file, config, cache }, onProgress, { signal });
  }

  /** The prompt set's record and the category name a call uses, or a clear error. */
  #target(prompts, category) {
    const set = prompts ?? this.#defaultPrompts;
    if (!set) throw new InctrlError('no prompts: call setPrompts(images) first, or pass { prompts } from encodePrompts()');
    const record = this.#record(set);
    const name = category ?? this.#category;
    if (!name) throw new InctrlError('no category: call setCategory(name) first, or pass { category }');
    return { record, name };
  }

  /** The live record of a handle, or a clear error. */
  #record(handle) {
    const record = this.#promptSets.get(handle);
    if (!record) {
      if (!(handle instanceof PromptSet)) {
        throw new InctrlError('prompts: expected a PromptSet from encodePrompts()');
      }
      throw new InctrlError(handle.disposed ? 'this prompt set was disposed' : 'this prompt set belongs to another detector');
    }
    if (record.failure) throw new InctrlError(record.failure);
    return record;
  }

  #releasePrompts(handle) {
    const record = this.#promptSets.get(handle);
    if (!record) return;
    this.#promptSets.delete(handle);
    if (this.#defaultPrompts === handle) this.#defaultPrompts = null;
    closeOwned(record.items);
    if (record.remoteId !== null && !record.failure && this.#worker) {
      // Queued behind any score still using it.
      this.#call('freePrompts', { id: record.remoteId }).catch(() => {});
    }
  }

  /** New weights: every prompt set was encoded with the old ones (the worker dropped them). */
  #invalidatePromptSets() {
    for (const record of this.#promptSets.values()) {
      record.failure = 'this prompt set was encoded for weights that are no longer loaded; encode its images again';
      record.remoteId = null;
      closeOwned(record.items);
      record.items = [];
    }
    this.#defaultPrompts?.dispose();
    this.#defaultPrompts = null;
  }

  #call(op, args, onProgress, { signal, transfer = [] } = {}) {
    if (!this.#worker) return Promise.reject(new InctrlError('the detector was disposed'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = this.#nextId++;
    const worker = this.#worker;
    const onAbort = () => worker.postMessage({ op: 'abort', args: { target: id } });
    signal?.addEventListener('abort', onAbort);
    const settle = (finish) => (value) => {
      signal?.removeEventListener('abort', onAbort);
      finish(value);
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject), onProgress, signal });
      worker.postMessage({ id, op, args }, transfer);
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
    if (kind === 'abort') {
      pending.reject(abortError(pending.signal));
      return;
    }
    const failure = new InctrlError(error, kind);
    pending.reject(failure);
    if (kind === 'devicelost' || kind === 'fatal') this.#fail(failure);
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

function baseUrl() {
  return globalThis.document?.baseURI ?? globalThis.location?.href;
}

function abortError(signal) {
  const reason = signal?.reason;
  const detail = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new InctrlError(`the operation was aborted${detail}`, 'abort', { cause: reason });
}

function throwIfAborted(signal) {
  if (signal?.aborted) throw abortError(signal);
}

/** The config as JSON with sorted keys (so that equal configs share a cache entry). */
function serialiseConfig(config) {
  if (config === undefined || config === null) return undefined;
  const value = typeof config === 'string' ? JSON.parse(config) : config;
  const sorted = (v) => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((key) => [key, sorted(v[key])]));
    }
    return v;
  };
  return JSON.stringify(sorted(value));
}

/** A threshold as given (a finite number, or null for none), or a clear error. */
function checkThreshold(value, what) {
  if (value === null || (typeof value === 'number' && Number.isFinite(value))) return value;
  throw new InctrlError(`${what}: expected a finite number or null, got ${String(value)}`);
}

/** `score`'s `maps` option as the sigma to smooth with (undefined: the default), or null for no maps. */
function mapSigma(maps) {
  if (maps === false || maps === undefined || maps === null) return null;
  if (maps === true) return undefined;
  if (typeof maps === 'object') {
    const { sigma } = maps;
    if (sigma === undefined || (typeof sigma === 'number' && Number.isFinite(sigma) && sigma >= 0)) return sigma;
    throw new InctrlError(`maps.sigma: expected a number of pixels, 0 or more, got ${String(sigma)}`);
  }
  throw new InctrlError('maps: expected true, false or { sigma }');
}

/** What goes to the worker for one prepared image. */
function wire({ name, image }) {
  return { name, image };
}

function closeOwned(items) {
  for (const item of items) if (item.owned) item.image.close();
}

/** Resolves after `ms` milliseconds, or at once when `signal` aborts. */
function delay(ms, signal) {
  if (!(ms > 0) || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * `scoreStream`'s source as a function that resolves to `{video, ends, release}` once it
 * plays: `ends` are the event targets and names that mean no more frames; `release`
 * undoes what was set up here. Throws at once for anything else.
 */
function videoOpener(source) {
  if (isA(source, 'HTMLVideoElement')) {
    return async () => ({ video: source, ends: [[source, 'ended'], [source, 'emptied']], release() {} });
  }
  if (!isA(source, 'MediaStream')) {
    throw new InctrlError('scoreStream: expected a MediaStream or an HTMLVideoElement');
  }
  const [track] = source.getVideoTracks();
  if (!track) throw new InctrlError('scoreStream: the MediaStream has no video track');
  return async () => {
    // A video element of our own plays the track; nothing is shown.
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    const own = new MediaStream([track]);
    video.srcObject = own;
    await video.play();
    // 'inactive' (Chromium) also covers the track being stopped on this page.
    return { video, ends: [[track, 'ended'], [own, 'inactive']], release: () => { video.srcObject = null; } };
  };
}

/**
 * The newest frame of a playing video, each frame at most once: `next()` waits for a
 * frame not yet taken (the video presents them; none are kept) and resolves to
 * `{image: VideoFrame | ImageBitmap, time}` (ms), or to null once the video ended or
 * `signal` aborted. `close()` releases the source.
 */
function newestFrames({ video, ends, release }, signal) {
  let fresh = false;
  let ended = signal.aborted;
  let wake = () => {};
  const presented = () => {
    fresh = true;
    wake();
    handle = video.requestVideoFrameCallback(presented);
  };
  let handle = video.requestVideoFrameCallback(presented);
  const end = () => {
    ended = true;
    wake();
  };
  for (const [target, type] of ends) target.addEventListener(type, end);
  signal.addEventListener('abort', end);
  return {
    async next() {
      while (!fresh && !ended) await new Promise((resolve) => { wake = resolve; });
      if (ended) return null;
      fresh = false;
      return grabFrame(video);
    },
    close() {
      video.cancelVideoFrameCallback(handle);
      for (const [target, type] of ends) target.removeEventListener(type, end);
      signal.removeEventListener('abort', end);
      release();
    },
  };
}

/** The frame the video shows now, as a handle to its pixels (no copy where `VideoFrame` exists). */
async function grabFrame(video) {
  if (typeof VideoFrame === 'function') {
    const image = new VideoFrame(video);
    return { image, time: image.timestamp / 1000 };
  }
  const time = video.currentTime * 1000;
  return { image: await createImageBitmap(video, BITMAP_OPTIONS), time };
}

const isA = (value, name) => typeof globalThis[name] === 'function' && value instanceof globalThis[name];

/** The last path segment of a URL, for a default image name. */
function urlName(url) {
  try {
    const segment = new URL(url).pathname.split('/').filter(Boolean).pop();
    return segment ? decodeURIComponent(segment) : null;
  } catch {
    return null;
  }
}

/**
 * Normalises images for the worker: `{name, image, owned}` where `image` is an absolute
 * URL string, a Blob, bytes, an ImageData or an ImageBitmap. Sources only the page can
 * read (img, canvas, video, VideoFrame) become ImageBitmaps made here (`owned`).
 */
async function prepareImages(images) {
  if (typeof images?.[Symbol.iterator] !== 'function' || typeof images === 'string') {
    throw new InctrlError('images: expected an array (or other iterable) of images, e.g. [file]');
  }
  const items = [];
  try {
    let index = 0;
    for (const item of images) {
      index += 1;
      const wrapped = item !== null && typeof item === 'object' && 'image' in item && !isA(item, 'HTMLImageElement');
      const image = wrapped ? item.image : item;
      const given = wrapped && typeof item.name === 'string' ? item.name : null;
      items.push(await prepareImage(image, given, index));
    }
  } catch (error) {
    closeOwned(items);
    throw error;
  }
  return items;
}

async function prepareImage(image, given, index) {
  const fallback = `image ${index}`;
  if (typeof image === 'string' || image instanceof URL) {
    const url = new URL(image, baseUrl()).href;
    return { name: given ?? urlName(url) ?? fallback, image: url, owned: false };
  }
  if (image instanceof Blob) {
    return { name: given ?? (image instanceof File ? image.name : fallback), image, owned: false };
  }
  if (image instanceof ArrayBuffer || ArrayBuffer.isView(image) || isA(image, 'ImageData') || isA(image, 'ImageBitmap')) {
    return { name: given ?? fallback, image, owned: false };
  }
  const name = given ?? (isA(image, 'HTMLImageElement') ? urlName(image.currentSrc || image.src) : null) ?? fallback;
  const drawable = ['HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'VideoFrame']
    .some((type) => isA(image, type));
  if (!drawable) {
    throw new InctrlError(
      `${name}: unsupported image type (use a URL, File, Blob, bytes, ImageData, ImageBitmap, ` +
        'HTMLImageElement, HTMLCanvasElement, OffscreenCanvas or VideoFrame)',
    );
  }
  try {
    if (isA(image, 'HTMLImageElement')) await image.decode();
    return { name, image: await createImageBitmap(image, BITMAP_OPTIONS), owned: true };
  } catch (error) {
    throw new InctrlError(`${name}: the browser could not read this image (${error?.message ?? error})`);
  }
}

// The Web Worker that owns the model, so that loading and scoring never freeze
// the page. It speaks a small request/response protocol with detector.js:
// {id, op, args} in; {id, result} | {id, error, kind} | {id, progress} out.
// {op: 'abort', args: {target}} is handled at once (not queued): it aborts the
// request `target`, which stops at its next check (between download chunks,
// between images) with kind `abort`.
//
// It loads one of two WebAssembly modules: inctrl.js (WebGPU, or the CPU on one
// thread) or inctrl_threads.js (the CPU on a pool of workers sharing memory,
// which browsers allow only on cross-origin isolated pages).

/** Also named in detector.js (`InctrlDetector.clearCache`). */
const CACHE_NAME = 'inctrl-weights-v1';

let detector = null;
let queue = Promise.resolve();
/** Abort controllers of the requests queued or running, by id. */
const controllers = new Map();

self.onmessage = ({ data: { id, op, args } }) => {
  if (op === 'abort') {
    controllers.get(args.target)?.abort();
    return;
  }
  const controller = new AbortController();
  controllers.set(id, controller);
  // One operation at a time: the detector is not re-entrant.
  queue = queue.then(() => run(id, op, args, controller.signal)).finally(() => controllers.delete(id));
};

async function run(id, op, args, signal) {
  const progress = (detail) => self.postMessage({ id, progress: detail });
  try {
    signal.throwIfAborted();
    const result = await handlers[op](args ?? {}, { progress, signal });
    // Result arrays made for the page (patch and anomaly maps) are moved, not copied.
    self.postMessage({ id, result }, transferables(result));
  } catch (error) {
    self.postMessage({ id, error: messageOf(error), kind: kindOf(error) });
  }
}

/** The buffers of the maps in a list of score results (each owns its buffer). */
function transferables(result) {
  if (!Array.isArray(result)) return [];
  const buffers = new Set();
  for (const item of result) {
    for (const array of [item?.patchMap, item?.anomalyMap?.data]) {
      if (array instanceof Float32Array && array.byteLength === array.buffer.byteLength) buffers.add(array.buffer);
    }
  }
  return [...buffers];
}

function messageOf(error) {
  return String(error?.message ?? error);
}

/**
 * `fatal`: the module crashed and this worker is unusable; `devicelost`: the GPU is
 * gone; `abort`: the page aborted the request.
 */
function kindOf(error) {
  if (error instanceof WebAssembly.RuntimeError) return 'fatal';
  if (error?.name === 'AbortError') return 'abort';
  if (/GPU device was lost/.test(messageOf(error))) return 'devicelost';
  return 'error';
}

const handlers = {
  async create({ backend, threads, precision }) {
    let reason = null;
    if (backend !== 'cpu') {
      if (await webgpuAdapterAvailable()) {
        try {
          detector = await createOn(await loadModule('./inctrl.js'), backend, precision);
          if (detector.backend === 'webgpu') return describe(null, null);
          reason = detector.fallbackReason;
        } catch (error) {
          // `webgpu` asked for this device: say why it cannot be used (e.g. no
          // shader-f16 for f16). `auto` goes on to the CPU and says why.
          if (backend === 'webgpu') throw error;
          reason = messageOf(error);
        }
      } else if (backend === 'webgpu') {
        throw new Error('WebGPU is not available in this browser');
      } else {
        reason = 'this browser offers no WebGPU adapter';
      }
    }
    const { module, threadsReason } = await cpuModule(threads);
    detector = await createOn(module, 'cpu', precision);
    return describe(reason, threadsReason);
  },

  /** A weights File of either kind: the library's sniffer (the CLI's too) decides. */
  async loadFile({ file, config, cache }, context) {
    const head = new Uint8Array(await file.slice(0, wasm.weightsHeaderLength()).arrayBuffer());
    return wasm.weightsFormat(head) === 'checkpoint'
      ? handlers.convert({ file, config, cache }, context)
      : handlers.loadBlob({ blob: file }, context);
  },

  async loadUrl({ url, cache }, { progress, signal }) {
    progress({ status: 'initiate', file: url });
    const report = (phase, loaded, total) => progress({ status: 'download', file: url, phase, loaded, total });
    const { bytes, cacheStatus } = await fetchWeights(url, cache, report, signal);
    return commit(bytes, cacheStatus, url, progress, signal);
  },

  async loadBlob({ blob }, { progress, signal }) {
    const file = blob.name ?? 'weights';
    progress({ status: 'initiate', file });
    progress({ status: 'download', file, phase: 'read', loaded: 0, total: blob.size });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    progress({ status: 'download', file, phase: 'read', loaded: blob.size, total: blob.size });
    return commit(bytes, 'not cached (local file)', file, progress, signal);
  },

  /** `config`: the open_clip config as canonical JSON, or undefined for the default. */
  async convert({ file, config, cache }, { progress, signal }) {
    progress({ status: 'initiate', file: file.name });
    const report = (phase, loaded, total) => progress({ status: 'download', file: file.name, phase, loaded, total });
    // The converted bundle depends on the file and on the config it was read with.
    const id = `${file.name}-${file.size}-${file.lastModified}-${hash(config ?? 'default config')}`;
    const key = new URL(`/__inctrl__/converted/${encodeURIComponent(id)}.bpk`, self.location.origin).href;
    const store = cache ? await openCache() : null;
    const hit = store && (await store.match(key));
    if (hit) {
      const bytes = await readBody(hit, 'cache', report, signal);
      return commit(bytes, 'converted copy from cache', file.name, progress, signal);
    }
    // Synchronous (FileReaderSync): an abort is seen once the conversion is done.
    const bytes = detector.convertCheckpoint(file, config ?? undefined, (loaded) => report('convert', loaded, file.size));
    await nextTask();
    signal.throwIfAborted();
    const cacheStatus = store ? await putInCache(store, key, bytes) : 'not cached';
    return commit(bytes, cacheStatus, file.name, progress, signal);
  },

  setCategory({ name }) {
    detector.setCategory(name);
    return name;
  },

  /** Encodes a prompt set; resolves to its id in the module's registry. */
  async encodePrompts({ images }, { signal }) {
    const inputs = [];
    for (const [index, image] of images.entries()) inputs.push(await toInput(image, index, signal));
    signal.throwIfAborted();
    return detector.encodePrompts(inputs);
  },

  freePrompts({ id }) {
    return detector.freePrompts(id);
  },

  /**
   * `threshold`: null or a number (results then carry `anomalous`); `maps`: whether to
   * add `anomalyMap`, smoothed with `sigma` (undefined: the library's default, 4).
   */
  async score({ images, prompts, category, threshold, maps, sigma }, { progress, signal }) {
    const results = [];
    for (const [index, image] of images.entries()) {
      // Let a pending abort message in before each image.
      await nextTask();
      signal.throwIfAborted();
      const input = await toInput(image, index, signal);
      signal.throwIfAborted();
      const start = performance.now();
      const result = await detector.score(input, prompts, category, threshold ?? undefined, maps, sigma);
      const ms = performance.now() - start;
      results.push({ ...result, patchMap: new Float32Array(result.patchMap), ms, name: input.name });
      progress({ status: 'score', name: input.name, loaded: index + 1, total: images.length });
    }
    return results;
  },

  /**
   * A threshold for `falseAlarmRate` from the scores of `normals` against the prompt
   * set (its own prompt images among them are left out), or, with no normals, from
   * its prompt images scored leave-one-out. The rule is the library's (`calibrate`).
   */
  async calibrate({ normals, prompts, category, falseAlarmRate }, { progress, signal }) {
    let scores;
    let method;
    if (normals.length === 0) {
      method = 'leaveOneOut';
      scores = await detector.scoreLeaveOneOut(prompts, category);
    } else {
      method = 'normals';
      scores = [];
      for (const [index, image] of normals.entries()) {
        await nextTask();
        signal.throwIfAborted();
        const input = await toInput(image, index, signal);
        signal.throwIfAborted();
        const score = await detector.scoreNormal(input, prompts, category);
        if (score !== undefined) scores.push(score);
        progress({ status: 'calibrate', name: input.name, loaded: index + 1, total: normals.length });
      }
      if (scores.length === 0) {
        throw new Error('every normal image given is also a prompt image: give other normal images');
      }
    }
    return { ...wasm.calibrate(Float32Array.from(scores), falseAlarmRate), method };
  },

  memory() {
    return detector.memoryBytes();
  },

  simulateDeviceLoss() {
    detector.simulateDeviceLoss();
  },
};

/** Loads the bundle unless the request was aborted first: then the old weights stay. */
async function commit(bytes, cacheStatus, file, progress, signal) {
  await nextTask();
  signal.throwIfAborted();
  const info = detector.loadBundle(bytes);
  progress({ status: 'ready', file });
  return { ...info, bytes: bytes.length, cache: cacheStatus };
}

/** Resolves after the tasks already queued (e.g. an abort message) have run. */
function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** A short stable hash (FNV-1a, 32 bits) of a string, for cache keys. */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** The modules loaded so far, by URL: each is initialised once per worker. */
const modules = new Map();

async function loadModule(url) {
  if (!modules.has(url)) {
    modules.set(url, import(url).then(async (module) => {
      await module.default();
      return module;
    }));
  }
  return modules.get(url);
}

/** The module the detector runs in (for its weights-format sniffer). */
let wasm = null;

async function createOn(module, backend, precision) {
  detector?.free();
  detector = null;
  wasm = module;
  return module.WasmDetector.create(backend, precision);
}

function describe(fallbackReason, threadsReason) {
  return {
    backend: detector.backend,
    precision: detector.precision,
    fallbackReason: detector.fallbackReason ?? fallbackReason,
    threads: detector.threads,
    threadsReason,
  };
}

/**
 * A module whose one function multiplies and adds with `f32x4.relaxed_madd`: it
 * validates where the threaded module's matrix kernel can run.
 */
const RELAXED_SIMD_PROBE = (() => {
  const f32x4Zero = [0x43, 0, 0, 0, 0, 0xfd, 0x13]; // f32.const 0, f32x4.splat
  const body = [0, ...f32x4Zero, ...f32x4Zero, ...f32x4Zero, 0xfd, 0x85, 0x02, 0x1a, 0x0b]; // madd, drop, end
  const header = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  const types = [1, 4, 1, 0x60, 0, 0]; // one type: () -> ()
  const functions = [3, 2, 1, 0];
  return new Uint8Array([...header, ...types, ...functions, 0x0a, body.length + 2, 1, body.length, ...body]);
})();

/**
 * The CPU module: threaded, with `threads` workers (default: one per logical
 * core), when the page is cross-origin isolated, the browser has relaxed SIMD
 * and more than one is wanted; else single-threaded, with the reason.
 */
async function cpuModule(threads) {
  const cores = navigator.hardwareConcurrency || 1;
  const wanted = Math.max(1, Math.min(threads ?? cores, cores));
  let threadsReason = null;
  if (wanted === 1) {
    threadsReason = threads === 1 ? 'one thread was asked for' : 'this device reports one core';
  } else if (!self.crossOriginIsolated) {
    threadsReason =
      'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin ' +
      'and Cross-Origin-Embedder-Policy: require-corp)';
  } else if (!WebAssembly.validate(RELAXED_SIMD_PROBE)) {
    threadsReason = 'this browser lacks WebAssembly relaxed SIMD, which the threaded module is built with';
  } else {
    try {
      const module = await loadModule('./inctrl_threads.js');
      await module.initThreadPool(wanted);
      return { module, threadsReason };
    } catch (error) {
      modules.delete('./inctrl_threads.js');
      threadsReason = `the threaded module failed to start (${messageOf(error)})`;
    }
  }
  return { module: await loadModule('./inctrl.js'), threadsReason };
}

async function webgpuAdapterAvailable() {
  if (!('gpu' in navigator)) return false;
  try {
    return (await navigator.gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * The weights at `url`. A cached copy is used only after the server confirms it is
 * current (a conditional GET with the ETag/Last-Modified it came with, or a HEAD
 * comparing sizes when it came with neither), or when the server cannot be reached.
 */
async function fetchWeights(url, useCache, report, signal) {
  const store = useCache ? await openCache() : null;
  const hit = store && (await store.match(url));
  let response = null;
  let changed = false;
  if (hit) {
    const check = await revalidate(url, hit, signal);
    if (check.current) return { bytes: await readBody(hit, 'cache', report, signal), cacheStatus: check.status };
    response = check.response;
    changed = true;
  }
  response ??= await get(url, signal);
  const bytes = await readBody(response, 'download', report, signal);
  // The stale copy goes even if the new one does not fit.
  if (changed) await store.delete(url);
  let cacheStatus = store ? await putInCache(store, url, bytes, response.headers) : 'not cached';
  if (changed) cacheStatus = `${cacheStatus} (re-downloaded: changed on the server)`;
  return { bytes, cacheStatus };
}

/** `{current, status}` for a usable cached copy, else `{current: false, response}` (null: fetch again). */
async function revalidate(url, cached, signal) {
  const etag = cached.headers.get('ETag');
  const lastModified = cached.headers.get('Last-Modified');
  try {
    if (etag || lastModified) {
      const headers = {};
      if (etag) headers['If-None-Match'] = etag;
      if (lastModified) headers['If-Modified-Since'] = lastModified;
      const response = await fetch(url, { headers, cache: 'no-store', signal });
      if (response.status === 304) return { current: true, status: 'from cache' };
      if (!response.ok) throw httpError(url, response);
      return { current: false, response };
    }
    const head = await fetch(url, { method: 'HEAD', cache: 'no-store', signal });
    if (!head.ok) throw httpError(url, head);
    const size = head.headers.get('Content-Length');
    if (size !== null && size === cached.headers.get('Content-Length')) return { current: true, status: 'from cache' };
    return { current: false, response: null };
  } catch (error) {
    // Offline, or the server is down: the cached copy is all there is.
    if (error instanceof TypeError) return { current: true, status: 'from cache (server unreachable, not revalidated)' };
    throw error;
  }
}

async function get(url, signal) {
  // no-store: the Cache API holds the one copy, not the HTTP cache as well.
  const response = await fetchOrExplain(url, { cache: 'no-store', signal }, 'weights');
  if (!response.ok) throw httpError(url, response);
  return response;
}

/** fetch, with a network failure's message naming what and where (a bare "Failed to fetch" does not). */
async function fetchOrExplain(url, options, what) {
  try {
    return await fetch(url, options);
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new Error(`${what}: fetching ${url} failed (${messageOf(error)}; offline, or another origin without CORS?)`);
  }
}

function httpError(url, response) {
  return new Error(`fetching ${url} failed: HTTP ${response.status}`);
}

async function openCache() {
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null; // no Cache API (e.g. an insecure origin): work without it
  }
}

/**
 * Stores bytes with the validators they came with; a full quota is not an error,
 * the weights just are not cached.
 */
async function putInCache(store, key, bytes, origin = new Headers()) {
  const headers = new Headers({ 'Content-Length': String(bytes.length) });
  for (const name of ['ETag', 'Last-Modified']) {
    const value = origin.get(name);
    if (value !== null) headers.set(name, value);
  }
  try {
    await store.put(key, new Response(bytes, { headers }));
    return 'cached';
  } catch (error) {
    if (error?.name === 'QuotaExceededError') return 'not cached (storage quota exceeded)';
    return `not cached (${messageOf(error)})`;
  }
}

/** The whole body, reporting `(phase, loaded, total)` per chunk; stops when aborted. */
async function readBody(response, phase, report, signal) {
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  report(phase, 0, total);
  for (;;) {
    if (signal.aborted) {
      await reader.cancel().catch(() => {});
      signal.throwIfAborted();
    }
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    report(phase, loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * What the module takes for one `{name, image}` from detector.js: encoded bytes
 * (decoded in Rust exactly as Pillow would: files, buffers, fetched URLs) or RGBA
 * pixels with a size (ImageData, and ImageBitmaps or VideoFrames the browser decoded).
 */
async function toInput({ name, image }, index, signal) {
  name ??= `image ${index + 1}`;
  if (typeof image === 'string') {
    const response = await fetchOrExplain(image, { signal }, name);
    if (!response.ok) throw new Error(`${name}: ${httpError(image, response).message}`);
    return { name, bytes: new Uint8Array(await response.arrayBuffer()) };
  }
  if (image instanceof Blob) return { name, bytes: new Uint8Array(await image.arrayBuffer()) };
  if (image instanceof ArrayBuffer) return { name, bytes: new Uint8Array(image) };
  if (ArrayBuffer.isView(image)) {
    return { name, bytes: new Uint8Array(image.buffer, image.byteOffset, image.byteLength) };
  }
  if (isA(image, 'ImageData')) {
    const { buffer, byteOffset, byteLength } = image.data;
    return { name, width: image.width, height: image.height, rgba: new Uint8Array(buffer, byteOffset, byteLength) };
  }
  // Bitmaps, and the video frames of scoreStream, moved here from the page.
  if (isA(image, 'ImageBitmap') || isA(image, 'VideoFrame')) {
    const width = image.displayWidth ?? image.width;
    const height = image.displayHeight ?? image.height;
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true });
    context.drawImage(image, 0, 0, width, height);
    image.close(); // this worker's handle
    const data = context.getImageData(0, 0, width, height);
    return { name, width, height, rgba: new Uint8Array(data.data.buffer) };
  }
  throw new TypeError(`${name}: unsupported image type`);
}

function isA(value, name) {
  return typeof self[name] === 'function' && value instanceof self[name];
}

// The Web Worker that owns the model, so that loading and scoring never freeze
// the page. It speaks a small request/response protocol with detector.js:
// {id, op, args} in; {id, result} | {id, error, kind} | {id, progress} out.
//
// It loads one of two WebAssembly modules: inctrl.js (WebGPU, or the CPU on one
// thread) or inctrl_threads.js (the CPU on a pool of workers sharing memory,
// which browsers allow only on cross-origin isolated pages).

const CACHE_NAME = 'inctrl-weights-v1';

let detector = null;
let queue = Promise.resolve();

self.onmessage = ({ data: { id, op, args } }) => {
  // One operation at a time: the detector is not re-entrant.
  queue = queue.then(() => run(id, op, args));
};

async function run(id, op, args) {
  const progress = (detail) => self.postMessage({ id, progress: detail });
  try {
    const result = await handlers[op](args ?? {}, progress);
    self.postMessage({ id, result });
  } catch (error) {
    self.postMessage({ id, error: messageOf(error), kind: kindOf(error) });
  }
}

function messageOf(error) {
  return String(error?.message ?? error);
}

/** `fatal`: the module crashed and this worker is unusable; `devicelost`: the GPU is gone. */
function kindOf(error) {
  if (error instanceof WebAssembly.RuntimeError) return 'fatal';
  if (/GPU device was lost/.test(messageOf(error))) return 'devicelost';
  return 'error';
}

const handlers = {
  async create({ backend, threads }) {
    let reason = null;
    if (backend !== 'cpu') {
      if (await webgpuAdapterAvailable()) {
        detector = await createOn(await loadModule('./inctrl.js'), backend);
        if (detector.backend === 'webgpu') return describe(null, null);
        reason = detector.fallbackReason;
      } else if (backend === 'webgpu') {
        throw new Error('WebGPU is not available in this browser');
      } else {
        reason = 'this browser offers no WebGPU adapter';
      }
    }
    const { module, threadsReason } = await cpuModule(threads);
    detector = await createOn(module, 'cpu');
    return describe(reason, threadsReason);
  },

  async loadUrl({ url, cache }, progress) {
    const { bytes, cacheStatus } = await fetchWeights(url, cache, progress);
    return { ...load(bytes), cache: cacheStatus };
  },

  async loadBlob({ blob }, progress) {
    progress({ phase: 'read', loaded: 0, total: blob.size });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    progress({ phase: 'read', loaded: blob.size, total: blob.size });
    return { ...load(bytes), cache: 'not cached (local file)' };
  },

  async convert({ file, config, cache }, progress) {
    const key = new URL(
      `/__inctrl__/converted/${encodeURIComponent(`${file.name}-${file.size}-${file.lastModified}`)}.bpk`,
      self.location.origin,
    ).href;
    const store = cache ? await openCache() : null;
    const hit = store && (await store.match(key));
    if (hit) {
      const bytes = await readBody(hit, 'cache', progress);
      return { ...load(bytes), cache: 'converted copy from cache' };
    }
    const report = (loaded) => progress({ phase: 'convert', loaded, total: file.size });
    const bytes = detector.convertCheckpoint(file, config ?? undefined, report);
    const cacheStatus = store ? await putInCache(store, key, bytes) : 'not cached';
    return { ...load(bytes), cache: cacheStatus };
  },

  setCategory({ name }) {
    detector.setCategory(name);
    return name;
  },

  async setPrompts({ images }) {
    return detector.setPrompts(await Promise.all(images.map(toInput)));
  },

  async score({ images }, progress) {
    const results = [];
    for (const [index, image] of images.entries()) {
      const input = await toInput(image, index);
      const start = performance.now();
      const result = await detector.score(input);
      const ms = performance.now() - start;
      results.push({ ...result, patchMap: new Float32Array(result.patchMap), ms, name: input.name });
      progress({ phase: 'score', loaded: index + 1, total: images.length });
    }
    return results;
  },

  memory() {
    return detector.memoryBytes();
  },

  simulateDeviceLoss() {
    detector.simulateDeviceLoss();
  },
};

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

async function createOn(module, backend) {
  detector?.free();
  return module.WasmDetector.create(backend);
}

function describe(fallbackReason, threadsReason) {
  return {
    backend: detector.backend,
    fallbackReason: detector.fallbackReason ?? fallbackReason,
    threads: detector.threads,
    threadsReason,
  };
}

/**
 * The CPU module: threaded, with `threads` workers (default: one per logical
 * core), when the page is cross-origin isolated and more than one is wanted;
 * else single-threaded, with the reason.
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

function load(bytes) {
  const info = detector.loadBundle(bytes);
  return { ...info, bytes: bytes.length };
}

async function webgpuAdapterAvailable() {
  if (!('gpu' in navigator)) return false;
  try {
    return (await navigator.gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** The weights at `url`, from the Cache API when present, with byte progress. */
async function fetchWeights(url, useCache, progress) {
  const absolute = new URL(url, self.location.href).href;
  const store = useCache ? await openCache() : null;
  const hit = store && (await store.match(absolute));
  if (hit) return { bytes: await readBody(hit, 'cache', progress), cacheStatus: 'from cache' };
  const response = await fetch(absolute);
  if (!response.ok) throw new Error(`fetching ${url} failed: HTTP ${response.status}`);
  const bytes = await readBody(response, 'download', progress);
  const cacheStatus = store ? await putInCache(store, absolute, bytes) : 'not cached';
  return { bytes, cacheStatus };
}

async function openCache() {
  try {
    return await caches.open(CACHE_NAME);
  } catch {
    return null; // no Cache API (e.g. an insecure origin): work without it
  }
}

/** Stores bytes; a full quota is not an error, the weights just are not cached. */
async function putInCache(store, key, bytes) {
  try {
    await store.put(key, new Response(bytes, { headers: { 'Content-Length': String(bytes.length) } }));
    return 'cached';
  } catch (error) {
    if (error?.name === 'QuotaExceededError') return 'not cached (storage quota exceeded)';
    return `not cached (${messageOf(error)})`;
  }
}

async function readBody(response, phase, progress) {
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    progress({ phase, loaded, total });
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
 * Normalises any supported image into what the module takes: encoded bytes
 * (decoded in Rust exactly as Pillow would) or RGBA pixels with a size.
 */
async function toInput(item, index) {
  const image = item?.image ?? item;
  const name = item?.name ?? image?.name ?? `image ${index + 1}`;
  if (image instanceof Blob) return { name, bytes: new Uint8Array(await image.arrayBuffer()) };
  if (image instanceof ArrayBuffer) return { name, bytes: new Uint8Array(image) };
  if (ArrayBuffer.isView(image)) {
    return { name, bytes: new Uint8Array(image.buffer, image.byteOffset, image.byteLength) };
  }
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    const { buffer, byteOffset, byteLength } = image.data;
    return { name, width: image.width, height: image.height, rgba: new Uint8Array(buffer, byteOffset, byteLength) };
  }
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const data = context.getImageData(0, 0, image.width, image.height);
    return { name, width: data.width, height: data.height, rgba: new Uint8Array(data.data.buffer) };
  }
  throw new TypeError(`${name}: unsupported image type (use a File, Blob, ImageBitmap, ImageData or bytes)`);
}

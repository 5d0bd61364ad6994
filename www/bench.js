// The benchmark page: times prompt-set encoding and warm single-query scoring
// with the packaged detector (so the Web Worker round trip is included), and
// reads the wasm memory size, which only grows, as the peak. The result is
// shown and left in `window.inctrlBench` for tools/bench-browser.mjs.
import { InctrlDetector } from './pkg/detector.js';

const params = new URLSearchParams(location.search);
const settings = {
  weights: params.get('weights') ?? 'models/random-f16.bpk',
  backend: params.get('backend') ?? 'auto',
  ks: (params.get('k') ?? '2,4,8').split(',').map(Number),
  runs: Number(params.get('runs') ?? 3),
  // Cap on the CPU backend's threads (default: every core).
  threads: params.has('threads') ? Number(params.get('threads')) : undefined,
};
const bench = { settings, done: null, result: null, error: null, status: '', rows: [] };
window.inctrlBench = bench;

const $ = (id) => document.getElementById(id);
const status = (text) => {
  bench.status = text;
  $('bench-status').textContent = text;
};

/** A reproducible noise image (xorshift), so every backend sees the same input. */
function noiseImage(seed, size) {
  const data = new Uint8ClampedArray(size * size * 4);
  let state = seed * 2654435761 || 1;
  for (let i = 0; i < data.length; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = (i & 3) === 3 ? 255 : state & 255;
  }
  return new ImageData(data, size, size);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median wall time of `runs` calls after one warm-up call (shader compilation, caches). */
async function time(what, runs, action) {
  status(`${what}: warming up…`);
  const warmStart = performance.now();
  await action();
  const coldMs = performance.now() - warmStart;
  const times = [];
  for (let run = 0; run < runs; run += 1) {
    status(`${what}: run ${run + 1} of ${runs}…`);
    const start = performance.now();
    await action();
    times.push(performance.now() - start);
  }
  const row = { what, medianMs: median(times), coldMs, times };
  const tr = document.createElement('tr');
  for (const text of [what, `${row.medianMs.toFixed(0)} ms`, times.map((t) => t.toFixed(0)).join(', ')]) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  $('bench-table').tBodies[0].append(tr);
  bench.rows.push(row);
  return row;
}

async function run() {
  const detector = await InctrlDetector.create({ backend: settings.backend, threads: settings.threads });
  $('backend-badge').textContent =
    detector.backend === 'webgpu' ? 'WebGPU' : `CPU, ${detector.threads} thread${detector.threads === 1 ? '' : 's'}`;
  $('backend-badge').className = `badge badge-${detector.backend}`;
  status('loading weights…');
  const loadStart = performance.now();
  const info = await detector.loadWeights(settings.weights, { cache: false });
  const loadMs = performance.now() - loadStart;
  await detector.setCategory(info.categories.includes('object') ? 'object' : info.categories[0]);
  const size = info.imageSize;
  const prompts = Array.from({ length: Math.max(...settings.ks) }, (_, i) => noiseImage(i + 1, size));
  const rows = [];
  for (const k of settings.ks) {
    rows.push(await time(`prompt set K=${k}`, settings.runs, () => detector.setPrompts(prompts.slice(0, k))));
  }
  await detector.setPrompts(prompts.slice(0, Math.min(4, prompts.length)));
  const query = noiseImage(1000, size);
  let workerMs = [];
  rows.push(
    await time('query (warm)', settings.runs, async () => {
      const [result] = await detector.score([query]);
      workerMs.push(result.ms);
    }),
  );
  workerMs = workerMs.slice(1);
  const memoryBytes = await detector.memoryBytes();
  detector.dispose();
  status(`done: peak wasm memory ${(memoryBytes / 2 ** 20).toFixed(0)} MiB, weights loaded in ${loadMs.toFixed(0)} ms`);
  return {
    backend: detector.backend,
    threads: detector.threads,
    precision: info.precision,
    weightsBytes: info.bytes,
    loadMs,
    rows,
    queryWorkerMs: median(workerMs),
    memoryBytes,
    userAgent: navigator.userAgent,
  };
}

bench.done = run().then(
  (result) => {
    bench.result = result;
    return result;
  },
  (error) => {
    bench.error = String(error.message ?? error);
    status(`failed: ${bench.error}`);
    throw error;
  },
);

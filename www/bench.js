// The benchmark page: times prompt-set encoding and warm single-query scoring
// with the packaged detector (so the Web Worker round trip is included), and
// reads the wasm memory size, which only grows, as the peak. The result is
// shown and left in `window.inctrlBench` for tools/bench-browser.mjs.
//
// `?counts=1` also counts the WebGPU calls of each measurement's last run (dispatches,
// uploads, readbacks, pipeline compiles...) inside the detector's worker, through
// gpu-count-worker.js (see gpu-counts.js); they land in each row's `counts`.
import { InctrlDetector } from './pkg/detector.js';
import { countingWorker } from './gpu-counts.js';

const params = new URLSearchParams(location.search);
const settings = {
  weights: params.get('weights') ?? 'models/random-f16.bpk',
  backend: params.get('backend') ?? 'auto',
  ks: (params.get('k') ?? '2,4,8').split(',').map(Number),
  runs: Number(params.get('runs') ?? 3),
  // Cap on the CPU backend's threads (default: every core).
  threads: params.has('threads') ? Number(params.get('threads')) : undefined,
  counts: params.get('counts') === '1',
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

/**
 * Median wall time of `runs` calls after one warm-up call (shader compilation, caches);
 * with a `counter`, the last call's WebGPU calls are counted too (outside the timing).
 */
async function time(what, runs, action, counter) {
  status(`${what}: warming up…`);
  const warmStart = performance.now();
  await action();
  const coldMs = performance.now() - warmStart;
  const times = [];
  let counts = null;
  for (let run = 0; run < runs; run += 1) {
    status(`${what}: run ${run + 1} of ${runs}…`);
    const counted = counter && run === runs - 1;
    if (counted) await counter.reset();
    const start = performance.now();
    await action();
    times.push(performance.now() - start);
    if (counted) counts = await counter.read();
  }
  const row = { what, medianMs: median(times), coldMs, times, ...(counts && { counts }) };
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

/** The counted rows' WebGPU calls as a second table. */
function showCounts(rows) {
  const counted = rows.filter((row) => row.counts);
  if (counted.length === 0) return;
  const table = document.createElement('table');
  table.id = 'counts-table';
  const head = table.createTHead().insertRow();
  for (const text of ['WebGPU calls (last run)', ...counted.map((row) => row.what)]) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
  const body = table.createTBody();
  for (const [label, key] of COUNT_ROWS) {
    const tr = body.insertRow();
    for (const text of [label, ...counted.map((row) => String(row.counts[key]))]) tr.insertCell().textContent = text;
  }
  const heading = document.createElement('h2');
  heading.textContent = 'GPU work';
  $('bench-table').after(heading, table);
}

const COUNT_ROWS = [
  ['dispatches', 'dispatches'],
  ['queue submits', 'submits'],
  ['uploads (writeBuffer)', 'uploads'],
  ['upload bytes', 'uploadBytes'],
  ['readbacks (mapAsync, read)', 'readbacks'],
  ['readback round trips', 'readbackRounds'],
  ['buffer copies', 'copies'],
  ['pipelines created', 'pipelines'],
  ['buffers created', 'buffers'],
  ['bytes of buffers created', 'bufferBytes'],
];

async function run() {
  const counter = settings.counts ? countingWorker() : null;
  const detector = await InctrlDetector.create({
    backend: settings.backend,
    threads: settings.threads,
    ...(counter && { workerUrl: counter.workerUrl }),
  });
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
    rows.push(await time(`prompt set K=${k}`, settings.runs, () => detector.setPrompts(prompts.slice(0, k)), counter));
  }
  // The query runs against K = 4 prompts (or fewer); the last prompt set timed may be that one.
  const queryK = Math.min(4, prompts.length);
  if (settings.ks.at(-1) !== queryK) await detector.setPrompts(prompts.slice(0, queryK));
  const query = noiseImage(1000, size);
  let workerMs = [];
  rows.push(
    await time('query (warm)', settings.runs, async () => {
      const [result] = await detector.score([query]);
      workerMs.push(result.ms);
    }, counter),
  );
  counter?.close();
  showCounts(rows);
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

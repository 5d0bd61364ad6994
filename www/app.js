// The demo page: wires the InctrlDetector API to the form controls.
import { InctrlDetector } from './pkg/detector.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** Longest side of a result's picture, in canvas pixels. */
const PICTURE_SIDE = 320;

const demo = {
  detector: null,
  /** The normal examples' prompt set (a handle from encodePrompts). */
  prompts: null,
  /** Aborts the scoring in progress. */
  scoring: null,
  results: [],
  /** Extra normal images for calibration (none: the prompts, leave-one-out). */
  normals: [],
  /** The threshold the verdicts use (the slider's value; also `detector.threshold`). */
  threshold: 0.5,
  /** The last calibration, as `detector.calibrate` resolved it. */
  calibration: null,
  /** Resolves once the detector has started (used by tests and scripts). */
  ready: null,
};
window.inctrlDemo = demo;

// ---------- errors ----------

function showError(message, action) {
  const item = document.createElement('div');
  item.className = 'error';
  item.textContent = message;
  if (action) {
    const button = document.createElement('button');
    button.textContent = action.label;
    button.addEventListener('click', () => {
      item.remove();
      action.run();
    });
    item.append(button);
  }
  const close = document.createElement('button');
  close.className = 'close';
  close.setAttribute('aria-label', 'Dismiss');
  close.textContent = '×';
  close.addEventListener('click', () => item.remove());
  item.append(close);
  $('errors').append(item);
}

/** Runs an action, turning any failure into a visible error; the page keeps working. */
async function guarded(what, action) {
  try {
    return await action();
  } catch (error) {
    // A lost device or crashed module is announced once, by the detector's event;
    // a stop the user asked for is no error.
    if (!['devicelost', 'fatal', 'abort'].includes(error.kind)) showError(`${what}: ${error.message ?? error}`);
    return undefined;
  }
}

// ---------- backend ----------

/** "WebGPU", or "CPU, 8 threads". */
function backendLabel({ backend, threads }) {
  if (backend === 'webgpu') return 'WebGPU';
  return `CPU, ${threads} ${threads === 1 ? 'thread' : 'threads'}`;
}

function showBackend() {
  const { backend, fallbackReason, threads, threadsReason } = demo.detector;
  const badge = $('backend-badge');
  badge.textContent = backendLabel(demo.detector);
  badge.className = `badge badge-${backend}`;
  badge.dataset.backend = backend;
  badge.dataset.threads = String(threads);
  const reasons = [
    fallbackReason && `CPU because ${fallbackReason}`,
    backend === 'cpu' && threadsReason && `one thread because ${threadsReason}`,
  ].filter(Boolean);
  badge.title = reasons.length ? reasons.join('; ') : `Running on ${badge.textContent}`;
}

async function startDetector(backend) {
  demo.detector = await InctrlDetector.create({ backend });
  demo.detector.threshold = demo.threshold;
  for (const kind of ['devicelost', 'fatal']) {
    demo.detector.addEventListener(kind, ({ detail }) => {
      showError(`The ${demo.detector.backend} backend stopped: ${detail.message}`, {
        label: 'Continue on the CPU',
        run: () => switchBackend('cpu'),
      });
    });
  }
  showBackend();
}

async function switchBackend(backend) {
  $('backend-badge').textContent = 'switching…';
  await guarded('Switching backend', async () => {
    await demo.detector.recreate({ backend, onProgress: showWeightsProgress });
    $('backend-select').value = backend;
  });
  hideWeightsProgress();
  showBackend();
}

// ---------- weights ----------

function showWeightsProgress({ status, phase, loaded, total }) {
  $('weights-progress').hidden = false;
  if (status !== 'download') {
    $('weights-progress-fill').style.width = status === 'ready' ? '100%' : '0%';
    $('weights-progress-text').textContent = status === 'ready' ? 'Preparing the model…' : 'Starting…';
    return;
  }
  const fraction = total ? loaded / total : 0;
  $('weights-progress-fill').style.width = `${(100 * fraction).toFixed(1)}%`;
  const mb = (n) => (n / 1e6).toFixed(1);
  const verb = { download: 'Downloading', cache: 'Reading cache', read: 'Reading', convert: 'Converting' }[phase] ?? phase;
  $('weights-progress-text').textContent = total ? `${verb} ${mb(loaded)} / ${mb(total)} MB` : `${verb} ${mb(loaded)} MB`;
}

function hideWeightsProgress() {
  $('weights-progress').hidden = true;
}

async function loadWeights(source) {
  const info = await guarded('Loading weights', () =>
    demo.detector.loadWeights(source, { onProgress: showWeightsProgress }));
  hideWeightsProgress();
  if (!info) return;
  const size = `${(info.bytes / 1e6).toFixed(1)} MB`;
  const text = info.textTower ? ', any category name' : '';
  $('model-info').textContent = `Loaded ${size} (${info.precision}), ${info.categories.length} built-in categories${text}; ${info.cache}.`;
  $('model-info').dataset.loaded = 'true';
  $('category-list').replaceChildren(...info.categories.map((name) => new Option(name)));
  $('category').disabled = false;
  $('category-button').disabled = false;
  setPromptsEnabled(false);
  demo.prompts?.dispose(); // encoded for the weights loaded before
  demo.prompts = null;
  // Loading weights clears the detector's threshold: the slider's stays in force, but a
  // calibration belongs to the weights that scored its normals.
  demo.detector.threshold = demo.threshold;
  if (demo.calibration) {
    demo.calibration = null;
    const info = $('calibration-info');
    info.textContent = 'The threshold was calibrated for other weights: calibrate again.';
    delete info.dataset.threshold;
    delete info.dataset.method;
    $('calibration-warning').hidden = true;
    $('threshold-marks').replaceChildren();
  }
  $('k-badge').textContent = 'K = 0';
  $('prompt-thumbs').replaceChildren();
  $('category-info').textContent = 'Choose the category of the objects you inspect.';
}

// ---------- category and prompts ----------

function setPromptsEnabled(enabled) {
  $('prompt-files').disabled = !enabled;
  $('prompt-drop').classList.toggle('disabled', !enabled);
  setQueriesEnabled(false);
}

function setQueriesEnabled(enabled) {
  $('query-files').disabled = !enabled;
  $('query-drop').classList.toggle('disabled', !enabled);
  $('normal-files').disabled = !enabled;
  $('normal-drop').classList.toggle('disabled', !enabled);
  $('calibrate-button').disabled = !enabled;
}

async function setCategory(name) {
  const done = await guarded('Setting the category', async () => {
    await demo.detector.setCategory(name);
    return true;
  });
  if (!done) return;
  $('category-info').textContent = `Text prior for “${name}”.`;
  $('category-info').dataset.category = name;
  setPromptsEnabled(true);
}

async function setPrompts(files) {
  const prompts = await guarded('Encoding the normal examples', () => demo.detector.encodePrompts(files));
  if (prompts === undefined) return;
  demo.prompts?.dispose();
  demo.prompts = prompts;
  $('k-badge').textContent = `K = ${prompts.count}`;
  $('prompt-thumbs').replaceChildren(...files.map(thumbnail));
  setQueriesEnabled(true);
}

function thumbnail(file) {
  const figure = document.createElement('figure');
  const img = document.createElement('img');
  img.alt = file.name;
  img.src = URL.createObjectURL(file);
  img.onerror = () => img.replaceWith(placeholder(file.name));
  const caption = document.createElement('figcaption');
  caption.textContent = file.name;
  figure.append(img, caption);
  return figure;
}

function placeholder(name) {
  const div = document.createElement('div');
  div.className = 'placeholder';
  div.textContent = name.split('.').pop().toUpperCase();
  return div;
}

// ---------- threshold and calibration ----------

/** `0.05` as `5 %`, `1/3` as `33.3 %`. */
function percent(rate) {
  return `${Number((100 * rate).toFixed(1))} %`;
}

/** Puts `value` on the slider, into the detector and into the verdicts. */
function setThreshold(value) {
  demo.threshold = value;
  demo.detector.threshold = value;
  const slider = $('threshold');
  slider.min = String(Math.min(0, value));
  slider.max = String(Math.max(1, value));
  slider.value = String(value);
  $('threshold-value').textContent = value.toFixed(4);
  renderResults();
}

function setNormals(files) {
  demo.normals = files;
  $('normal-count').textContent = files.length
    ? `${files.length} extra normal ${files.length === 1 ? 'image' : 'images'}: ${files.map((f) => f.name).join(', ')}`
    : 'Without them, the normal examples are scored leave-one-out (each against the others).';
  $('normal-count').dataset.count = String(files.length);
  $('clear-normals').hidden = files.length === 0;
}

/** "Calibrate from normal images": the extra normals if any were given, else leave-one-out. */
async function calibrate() {
  const rate = Number($('false-alarm').value) / 100;
  const normals = demo.normals;
  const info = $('calibration-info');
  const previous = info.textContent;
  $('calibrate-button').disabled = true;
  info.textContent = normals.length
    ? `Scoring ${normals.length} normal images…`
    : `Scoring the ${demo.prompts.count} normal examples leave-one-out…`;
  const calibration = await guarded('Calibrating', () => demo.detector.calibrate(normals, {
    falseAlarmRate: rate,
    prompts: demo.prompts,
    onProgress: ({ loaded, total }) => { info.textContent = `Scoring normal image ${loaded} of ${total}…`; },
  }));
  $('calibrate-button').disabled = $('query-files').disabled;
  if (!calibration) {
    info.textContent = previous;
    return;
  }
  demo.calibration = calibration;
  const { threshold, falseAlarmRate, expectedFalseAlarm, normals: n, warning, method } = calibration;
  const source = method === 'leaveOneOut'
    ? `${n} normal examples scored leave-one-out`
    : `${n} normal ${n === 1 ? 'image' : 'images'}`;
  info.textContent = `Calibrated from ${source}: threshold ${threshold.toFixed(4)} for a ${percent(falseAlarmRate)} ` +
    `false-alarm rate (about ${percent(expectedFalseAlarm)} of normal images are expected above it).`;
  info.dataset.threshold = String(threshold);
  info.dataset.method = method;
  delete info.dataset.byHand;
  $('calibration-warning').textContent = warning ?? '';
  $('calibration-warning').hidden = !warning;
  $('threshold-marks').replaceChildren(new Option('calibrated', String(threshold)));
  setThreshold(threshold);
}

// ---------- scoring and results ----------

async function scoreFiles(files) {
  demo.scoring?.abort();
  const scoring = new AbortController();
  demo.scoring = scoring;
  $('stop-button').hidden = false;
  for (const [index, file] of files.entries()) {
    if (scoring.signal.aborted) break;
    $('score-progress').textContent = `Scoring ${index + 1} of ${files.length}…`;
    // One call per file, so that one unreadable file does not stop the others.
    const scored = await guarded(`Scoring ${file.name}`, () =>
      demo.detector.score([file], { prompts: demo.prompts, maps: true, signal: scoring.signal }));
    const [result] = scored ?? [];
    if (result) demo.results.push({ ...result, file });
    renderResults();
  }
  if (demo.scoring === scoring) {
    demo.scoring = null;
    $('stop-button').hidden = true;
  }
  const stopped = scoring.signal.aborted ? ' (stopped)' : '';
  $('score-progress').textContent = demo.results.length ? `${demo.results.length} scored${stopped}` : '';
}

/**
 * Sorts the results and updates their verdicts; a result's picture is drawn once, and
 * again only when the colour range (the smallest to the largest patch value of all
 * results, so that maps compare) changes.
 */
function renderResults() {
  let range = [Infinity, -Infinity];
  for (const { patchMap } of demo.results) {
    for (const value of patchMap) range = [Math.min(range[0], value), Math.max(range[1], value)];
  }
  const sorted = [...demo.results].sort((a, b) => b.score - a.score);
  for (const result of sorted) {
    result.view ??= resultItem(result);
    showVerdict(result);
    const key = range.join();
    if (result.view.range !== key) {
      result.view.range = key;
      drawAnomalyMap(result.view.canvas, result, range);
    }
  }
  $('results').replaceChildren(...sorted.map((r) => r.view.item));
}

/** Anomalous when the score is above the threshold, compared in f32 as the detector does. */
function showVerdict(result) {
  const anomalous = Math.fround(result.score) > Math.fround(demo.threshold);
  const { item, verdict } = result.view;
  item.className = `result ${anomalous ? 'anomalous' : 'normal'}`;
  item.dataset.anomalous = String(anomalous);
  verdict.textContent = anomalous ? 'anomalous' : 'normal';
}

function resultItem(result) {
  const item = document.createElement('li');
  item.dataset.name = result.name;
  item.dataset.score = String(result.score);

  const canvas = document.createElement('canvas');
  canvas.className = 'anomaly-map';

  const body = document.createElement('div');
  body.className = 'result-body';
  const title = document.createElement('h3');
  title.append(text(result.name, 'name'));
  title.title = result.name;
  const verdict = document.createElement('span');
  verdict.className = 'verdict';
  title.append(verdict);
  const score = document.createElement('div');
  score.className = 'score';
  score.append(bar(result.score), text(`${result.score.toFixed(4)}`, 'score-value'));
  const details = document.createElement('dl');
  for (const [label, value] of [
    ['patch max', result.patchMax],
    ['text prior', result.textScore],
    ['image residual', result.imageScore],
    ['holistic', result.holisticScore],
  ]) {
    details.append(text(label, 'dt'), text(value.toFixed(4), 'dd'));
  }
  const { width, height } = result.anomalyMap;
  const timing = text(`${width}×${height} px · ${Math.round(result.ms)} ms on ${backendLabel(demo.detector)}`, 'muted');
  timing.classList.add('timing');
  body.append(title, score, details, timing);
  item.append(canvas, body);
  return { item, canvas, verdict, range: null };
}

function text(content, tag) {
  const element = document.createElement(['dt', 'dd'].includes(tag) ? tag : 'span');
  if (!['dt', 'dd'].includes(tag)) element.className = tag;
  element.textContent = content;
  return element;
}

function bar(value) {
  const outer = document.createElement('div');
  outer.className = 'bar';
  const inner = document.createElement('div');
  inner.style.width = `${Math.min(100, Math.max(0, 100 * value)).toFixed(1)}%`;
  outer.append(inner);
  return outer;
}

/**
 * The whole image with its full-size anomaly map on top (sampled at the canvas's
 * resolution: the map is smooth). Pixels the model never saw (cut by its centre crop,
 * NaN in the map) are hatched grey.
 */
async function drawAnomalyMap(canvas, result, [low, high]) {
  const { width, height, data } = result.anomalyMap;
  const scale = Math.min(1, PICTURE_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  canvas.width = w;
  canvas.height = h;
  canvas.dataset.mapWidth = String(width);
  canvas.dataset.mapHeight = String(height);
  // The file's own pixels, not turned by EXIF (the model's decoder does not turn them either).
  result.bitmap ??= createImageBitmap(result.file, { resizeWidth: w, resizeHeight: h, imageOrientation: 'none' })
    .catch(() => null); // a format the browser cannot show (e.g. TIFF) still gets its map
  const bitmap = await result.bitmap;
  const context = canvas.getContext('2d');
  context.fillStyle = '#2a2f3a';
  context.fillRect(0, 0, w, h);
  if (bitmap) context.drawImage(bitmap, 0, 0, w, h);
  const overlay = new ImageData(w, h);
  const span = high > low ? high - low : 1;
  for (let y = 0; y < h; y += 1) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / h)) * width;
    for (let x = 0; x < w; x += 1) {
      const value = data[row + Math.min(width - 1, Math.floor(((x + 0.5) * width) / w))];
      const at = 4 * (y * w + x);
      if (Number.isNaN(value)) {
        overlay.data.set((x + y) % 8 < 3 ? [60, 64, 74, 215] : [150, 154, 164, 165], at);
      } else {
        const [r, g, b] = heatColor((value - low) / span);
        overlay.data.set([r, g, b, 120], at);
      }
    }
  }
  const layer = new OffscreenCanvas(w, h);
  layer.getContext('2d').putImageData(overlay, 0, 0);
  context.drawImage(layer, 0, 0);
  canvas.dataset.drawn = 'true';
}

/** Dark blue → cyan → yellow → red. */
function heatColor(t) {
  const stops = [[30, 40, 140], [20, 170, 200], [250, 220, 60], [220, 40, 40]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

// ---------- wiring ----------

function dropzone(id, input, onFiles) {
  const zone = $(id);
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (!$(input).disabled) onFiles([...event.dataTransfer.files]);
  });
  $(input).addEventListener('change', (event) => {
    const files = [...event.target.files];
    event.target.value = '';
    if (files.length) onFiles(files);
  });
}

$('url-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const url = $('weights-url').value.trim() || $('weights-url').placeholder;
  loadWeights(url);
});
$('category-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = $('category').value.trim();
  if (name) setCategory(name);
});
dropzone('weights-drop', 'weights-file', ([file]) => loadWeights(file));
dropzone('prompt-drop', 'prompt-files', setPrompts);
dropzone('query-drop', 'query-files', scoreFiles);
dropzone('normal-drop', 'normal-files', setNormals);
$('clear-normals').addEventListener('click', () => setNormals([]));
$('calibrate-button').addEventListener('click', calibrate);
$('threshold').addEventListener('input', () => {
  setThreshold(Number($('threshold').value));
  $('calibration-info').dataset.byHand = 'true';
});
$('backend-select').addEventListener('change', (event) => switchBackend(event.target.value));
$('stop-button').addEventListener('click', () => demo.scoring?.abort());
$('clear-cache').addEventListener('click', async () => {
  const cleared = await guarded('Clearing the cache', () => InctrlDetector.clearCache());
  if (cleared !== undefined) $('model-info').textContent += cleared ? ' Cache cleared.' : ' The cache was empty.';
});

demo.ready = (async () => {
  const backend = params.get('backend') ?? 'auto';
  $('backend-select').value = backend;
  await guarded('Starting the detector', () => startDetector(backend));
  if (params.get('weights')) {
    $('weights-url').value = params.get('weights');
    await loadWeights(params.get('weights'));
  }
})();

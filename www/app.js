// The demo page: wires the InctrlDetector API to the form controls.
import { InctrlDetector } from './pkg/detector.js';
import { listCameras, setupCamera, startInspection, stopCamera, stopInspection, updateCapture } from './camera.js';
import { download, label, resultsCsv, resultsJson, stamp } from './export.js';
import { paintMap, patchRange } from './heatmap.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** Longest side of a result's picture, in canvas pixels. */
const PICTURE_SIDE = 320;

const demo = {
  detector: null,
  /** The normal examples' prompt set (a handle from encodePrompts). */
  prompts: null,
  /** The files of the prompt set: dropped, or captured by the camera. */
  promptFiles: [],
  /** Aborts the scoring in progress. */
  scoring: null,
  /** Scored images in the order scored: score results plus `{index, file, backend, threads}`. */
  results: [],
  /** Results scored so far in this session (numbers the rows, even after "clear results"). */
  scored: 0,
  /** The results table's order: `key` is `order`, `name` or `score`. */
  sort: { key: 'score', descending: true },
  /** Extra normal images for calibration (none: the prompts, leave-one-out). */
  normals: [],
  /** The threshold the verdicts use (the slider's value; also `detector.threshold`). */
  threshold: 0.5,
  /** The last calibration, as `detector.calibrate` resolved it. */
  calibration: null,
  /** Resolves once the detector has started (used by tests and scripts). */
  ready: null,
  /** Resolves once the service worker keeps the page for offline use (or cannot). */
  offline: null,
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
  await stopInspection(); // the camera's frames would fail while the worker is replaced
  await guarded('Switching backend', async () => {
    await demo.detector.recreate({ backend, onProgress: showWeightsProgress });
    $('backend-select').value = backend;
  });
  hideWeightsProgress();
  showBackend();
  startInspection();
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
  await stopInspection(); // its prompt set belongs to the weights loaded now
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
  demo.promptFiles = [];
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
  updateCapture();
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

/** Encodes `files` as the prompt set (replacing the last one); the camera inspects with the new one. */
async function setPrompts(files) {
  const prompts = await guarded('Encoding the normal examples', () => demo.detector.encodePrompts(files));
  if (prompts === undefined) return;
  await stopInspection(); // it scores with the set disposed here
  demo.prompts?.dispose();
  demo.prompts = prompts;
  demo.promptFiles = files;
  $('k-badge').textContent = `K = ${prompts.count}`;
  $('prompt-thumbs').replaceChildren(...files.map(thumbnail));
  setQueriesEnabled(true);
  startInspection();
}

/** A camera capture joins the prompt set (the last 8 are kept). */
function addPrompt(file) {
  return setPrompts([...demo.promptFiles, file].slice(-8));
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
    if (result) {
      demo.scored += 1;
      const { backend, threads } = demo.detector;
      demo.results.push({ ...result, index: demo.scored, file, backend, threads });
    }
    renderResults();
  }
  if (demo.scoring === scoring) {
    demo.scoring = null;
    $('stop-button').hidden = true;
  }
  $('score-progress').textContent = scoring.signal.aborted ? 'Stopped.' : '';
}

/** How each sort key orders two results (ascending). */
const ORDER = {
  order: (a, b) => a.index - b.index,
  name: (a, b) => a.name.localeCompare(b.name) || a.index - b.index,
  score: (a, b) => a.score - b.score || a.index - b.index,
};

/**
 * Sorts the results table and updates its verdicts and summary; a result's picture is
 * drawn once, and again only when the colour range (the smallest to the largest patch
 * value of all results, so that maps compare) changes.
 */
function renderResults() {
  const range = patchRange(demo.results);
  const { key, descending } = demo.sort;
  const sorted = [...demo.results].sort((a, b) => (descending ? -1 : 1) * ORDER[key](a, b));
  for (const result of sorted) {
    result.view ??= resultRow(result);
    showVerdict(result);
    if (result.view.range !== range.join()) {
      result.view.range = range.join();
      drawAnomalyMap(result.view.canvas, result, range);
    }
  }
  $('results').replaceChildren(...sorted.map((r) => r.view.row));
  for (const header of document.querySelectorAll('#results-table th[aria-sort]')) {
    const active = header.querySelector('button').dataset.sort === key;
    header.setAttribute('aria-sort', active ? (descending ? 'descending' : 'ascending') : 'none');
  }
  showSummary(range);
}

/** "7 scored, 2 above the threshold 0.4000", the legend's range, and what can be exported. */
function showSummary([low, high]) {
  const total = demo.results.length;
  const above = demo.results.filter((r) => label(r.score, demo.threshold) === 'anomalous').length;
  const summary = $('results-summary');
  summary.dataset.total = String(total);
  summary.dataset.above = String(above);
  summary.textContent = total
    ? `${total} scored, ${above} above the threshold ${demo.threshold.toFixed(4)}`
    : 'No results yet.';
  $('legend-low').textContent = total ? low.toFixed(3) : 'low';
  $('legend-high').textContent = total ? high.toFixed(3) : 'high';
  for (const id of ['export-csv', 'export-json', 'clear-results']) $(id).disabled = total === 0;
}

/** Clicking a column's header sorts by it; clicking it again reverses the order. */
function sortBy(key) {
  const { sort } = demo;
  demo.sort = sort.key === key ? { key, descending: !sort.descending } : { key, descending: key === 'score' };
  renderResults();
}

/** Anomalous when the score is above the threshold, compared in f32 as the detector does. */
function showVerdict(result) {
  const verdict = label(result.score, demo.threshold);
  const { row } = result.view;
  row.className = `result ${verdict}`;
  row.dataset.anomalous = String(verdict === 'anomalous');
  result.view.verdict.textContent = verdict;
}

/** A table row: number, picture, name, score, verdict, components, time and a PNG download. */
function resultRow(result) {
  const row = document.createElement('tr');
  row.dataset.name = result.name;
  row.dataset.score = String(result.score);

  const canvas = document.createElement('canvas');
  canvas.className = 'anomaly-map';
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `${result.name} with its anomaly map`);
  const name = document.createElement('th');
  name.scope = 'row';
  const { width, height } = result.anomalyMap;
  name.append(text(result.name, 'name'), text(`${width}×${height} px`, 'muted'));
  name.firstChild.title = result.name;
  const score = document.createElement('div');
  score.className = 'score';
  score.append(bar(result.score), text(result.score.toFixed(4), 'score-value'));
  const verdict = text('', 'verdict');
  const details = document.createElement('dl');
  for (const [term, value] of [
    ['patch max', result.patchMax],
    ['text prior', result.textScore],
    ['image residual', result.imageScore],
    ['holistic', result.holisticScore],
  ]) {
    details.append(text(term, 'dt'), text(value.toFixed(4), 'dd'));
  }
  const png = document.createElement('button');
  png.type = 'button';
  png.className = 'secondary';
  png.textContent = 'PNG';
  png.setAttribute('aria-label', `Download ${result.name} with its anomaly map as PNG`);
  png.addEventListener('click', () => guarded('Saving the PNG', () => exportPng(result)));

  row.append(
    cell('#', String(result.index)),
    cell('Anomaly map', canvas),
    name,
    cell('Score', score),
    cell('Verdict', verdict),
    cell('Components', details),
    cell('Time', text(`${Math.round(result.ms)} ms on ${backendLabel(result)}`, 'timing')),
    cell('Download', png),
  );
  return { row, canvas, verdict, range: null };
}

/** A table cell; `heading` labels it where the narrow layout shows cells as a list. */
function cell(heading, content) {
  const td = document.createElement('td');
  td.dataset.label = heading;
  td.append(content);
  return td;
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
 * The file's own pixels at `w × h` (not turned by EXIF: the model's decoder does not turn
 * them either), or null for a format the browser cannot show (e.g. TIFF: it still gets its map).
 */
function picture(file, w, h) {
  return createImageBitmap(file, { resizeWidth: w, resizeHeight: h, imageOrientation: 'none' }).catch(() => null);
}

/** The whole image with its full-size anomaly map on top, at most PICTURE_SIDE pixels long. */
async function drawAnomalyMap(canvas, result, range) {
  const { width, height } = result.anomalyMap;
  const scale = Math.min(1, PICTURE_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  canvas.width = w;
  canvas.height = h;
  canvas.dataset.mapWidth = String(width);
  canvas.dataset.mapHeight = String(height);
  result.bitmap ??= picture(result.file, w, h);
  paintMap(canvas.getContext('2d'), await result.bitmap, result.anomalyMap, w, h, range);
  canvas.dataset.drawn = 'true';
}

/** The picture at the image's own size, its map coloured as in the table, as a PNG download. */
async function exportPng(result) {
  const { width, height } = result.anomalyMap;
  const canvas = new OffscreenCanvas(width, height);
  const bitmap = await picture(result.file, width, height);
  paintMap(canvas.getContext('2d'), bitmap, result.anomalyMap, width, height, patchRange(demo.results));
  bitmap?.close();
  const stem = result.name.replace(/\.[^.]*$/, '');
  download(await canvas.convertToBlob({ type: 'image/png' }), `${stem}-anomaly-map.png`);
}

function exportCsv() {
  const csv = resultsCsv(demo.results, demo.threshold);
  download(new Blob([csv], { type: 'text/csv' }), `inctrl-results-${stamp()}.csv`);
}

function exportJson() {
  const json = resultsJson(demo.results, {
    threshold: demo.threshold,
    category: $('category-info').dataset.category ?? null,
    prompts: demo.prompts?.names ?? [],
  });
  download(new Blob([json], { type: 'application/json' }), `inctrl-results-${stamp()}.json`);
}

/** "Clear results": forgets every result and its picture. */
function clearResults() {
  demo.scoring?.abort();
  for (const result of demo.results) result.bitmap?.then((bitmap) => bitmap?.close());
  demo.results = [];
  $('score-progress').textContent = '';
  renderResults();
}

// ---------- tabs ----------

const TABS = ['tab-images', 'tab-camera'];

/** Shows one tab's panel; leaving the camera turns it off. */
function selectTab(id) {
  for (const tab of TABS) {
    const selected = tab === id;
    $(tab).setAttribute('aria-selected', String(selected));
    $(tab).tabIndex = selected ? 0 : -1;
    $($(tab).getAttribute('aria-controls')).hidden = !selected;
  }
  if (id === 'tab-camera') guarded('Listing cameras', listCameras);
  else stopCamera();
}

/** Arrow keys, Home and End move between tabs (the ARIA tabs pattern). */
function tabKeys(event) {
  const index = TABS.indexOf(event.target.id);
  const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: TABS.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const id = TABS[(next + TABS.length) % TABS.length];
  selectTab(id);
  $(id).focus();
}

// ---------- offline ----------

/** Caches the page, the package and its modules (sw.js) so that it works offline; weights cache themselves. */
async function registerServiceWorker() {
  const status = $('offline-status');
  if (!('serviceWorker' in navigator)) {
    status.textContent = 'Offline use needs a secure page (https, or this machine).';
    return;
  }
  const registered = await guarded('Preparing offline use', () => navigator.serviceWorker.register('sw.js'));
  if (!registered) return;
  await navigator.serviceWorker.ready;
  status.textContent = 'Works offline: this page, the package and its WebAssembly modules are cached in this ' +
    'browser, and so are weights once loaded.';
  status.dataset.ready = 'true';
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
for (const button of document.querySelectorAll('#results-table button.sort')) {
  button.addEventListener('click', () => sortBy(button.dataset.sort));
}
$('export-csv').addEventListener('click', exportCsv);
$('export-json').addEventListener('click', exportJson);
$('clear-results').addEventListener('click', clearResults);
for (const tab of TABS) {
  $(tab).addEventListener('click', () => selectTab(tab));
  $(tab).addEventListener('keydown', tabKeys);
}
setupCamera({ demo, guarded, backendLabel, addPrompt });
$('stop-button').addEventListener('click', () => demo.scoring?.abort());
$('clear-cache').addEventListener('click', async () => {
  const cleared = await guarded('Clearing the cache', () => InctrlDetector.clearCache());
  if (cleared !== undefined) $('model-info').textContent += cleared ? ' Cache cleared.' : ' The cache was empty.';
});

demo.offline = registerServiceWorker();
demo.ready = (async () => {
  const backend = params.get('backend') ?? 'auto';
  $('backend-select').value = backend;
  await guarded('Starting the detector', () => startDetector(backend));
  if (params.get('weights')) {
    $('weights-url').value = params.get('weights');
    await loadWeights(params.get('weights'));
  }
})();

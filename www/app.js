// The demo page: wires the InctrlDetector API to the form controls.
import { InctrlDetector } from './pkg/detector.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const GRID = 15;

const demo = {
  detector: null,
  /** The normal examples' prompt set (a handle from encodePrompts). */
  prompts: null,
  /** Aborts the scoring in progress. */
  scoring: null,
  results: [],
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
      demo.detector.score([file], { prompts: demo.prompts, signal: scoring.signal }));
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

function renderResults() {
  const threshold = Number($('threshold').value);
  const mapMax = Math.max(1e-6, ...demo.results.map((r) => Math.max(...r.patchMap)));
  const sorted = [...demo.results].sort((a, b) => b.score - a.score);
  $('results').replaceChildren(...sorted.map((r) => resultItem(r, threshold, mapMax)));
}

function resultItem(result, threshold, mapMax) {
  const anomalous = result.score >= threshold;
  const item = document.createElement('li');
  item.className = `result ${anomalous ? 'anomalous' : 'normal'}`;
  item.dataset.name = result.name;
  item.dataset.score = String(result.score);
  item.dataset.anomalous = String(anomalous);

  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 240;
  drawHeatMap(canvas, result, mapMax);

  const body = document.createElement('div');
  body.className = 'result-body';
  const title = document.createElement('h3');
  title.append(text(result.name, 'name'));
  title.title = result.name;
  const verdict = document.createElement('span');
  verdict.className = 'verdict';
  verdict.textContent = anomalous ? 'anomalous' : 'normal';
  title.append(verdict);
  const score = document.createElement('div');
  score.className = 'score';
  score.innerHTML = '';
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
  const timing = text(`${Math.round(result.ms)} ms on ${backendLabel(demo.detector)}`, 'muted');
  timing.classList.add('timing');
  body.append(title, score, details, timing);
  item.append(canvas, body);
  return item;
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

/** The square the model saw (shorter side, centre crop) with the patch map on top. */
async function drawHeatMap(canvas, result, mapMax) {
  const context = canvas.getContext('2d');
  context.fillStyle = '#2a2f3a';
  context.fillRect(0, 0, canvas.width, canvas.height);
  try {
    const bitmap = await createImageBitmap(result.file);
    const side = Math.min(bitmap.width, bitmap.height);
    const sx = (bitmap.width - side) / 2;
    const sy = (bitmap.height - side) / 2;
    context.drawImage(bitmap, sx, sy, side, side, 0, 0, canvas.width, canvas.height);
  } catch {
    // A format the browser cannot show (e.g. TIFF) still gets its heat map.
  }
  const cell = canvas.width / GRID;
  for (let i = 0; i < GRID * GRID; i += 1) {
    const [r, g, b] = heatColor(result.patchMap[i] / mapMax);
    context.fillStyle = `rgba(${r}, ${g}, ${b}, 0.45)`;
    context.fillRect((i % GRID) * cell, Math.floor(i / GRID) * cell, cell, cell);
  }
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
$('threshold').addEventListener('input', () => {
  $('threshold-value').textContent = Number($('threshold').value).toFixed(3);
  renderResults();
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

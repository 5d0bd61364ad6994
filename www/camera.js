// The Camera tab: a camera's frames scored live with detector.scoreStream, the
// anomaly map over the video, a rolling score chart, frames per second and an alarm
// when a frame scores above the threshold. Frames never leave the tab.
import { download, label, stamp } from './export.js';
import { patchRange, mapOverlay } from './heatmap.js';

const $ = (id) => document.getElementById(id);
/** Frames on the rolling score chart. */
const CHART_FRAMES = 120;
/** Recent frames whose patch values set the map's colour range (so colours compare across frames). */
const RANGE_FRAMES = 30;
/** Frames per second are counted over this many milliseconds. */
const FPS_WINDOW = 3000;
/** Longest side of the live overlay: the map is smooth, so more pixels add nothing. */
const OVERLAY_SIDE = 320;

/** What the tab needs from the page: `{demo, guarded, backendLabel, addPrompt}`. */
let page = null;

const camera = {
  /** The MediaStream while the camera is on. */
  stream: null,
  /** The running `scoreStream` handle. */
  live: null,
  /** Recent frames: `{at, score, patchMap}`, newest last. */
  frames: [],
  captures: 0,
};

/** Wires the tab's controls; `deps` are the page's shared pieces (see `page`). */
export function setupCamera(deps) {
  page = deps;
  $('camera-start').addEventListener('click', () => startCamera());
  $('camera-stop').addEventListener('click', () => stopCamera());
  $('camera-capture').addEventListener('click', () => captureFrame());
  $('camera-png').addEventListener('click', () => saveView());
  $('camera-device').addEventListener('change', () => {
    if (camera.stream) startCamera();
  });
}

/** Lists the cameras in the device choice (names appear once the page may use a camera). */
export async function listCameras() {
  const select = $('camera-device');
  const devices = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  // Before the page may use a camera, browsers list at most an anonymous one: the default.
  const cameras = devices.filter((device) => device.kind === 'videoinput' && device.deviceId);
  const chosen = select.value;
  select.replaceChildren(
    new Option('Default camera', ''),
    ...cameras.map((device, index) => new Option(device.label || `Camera ${index + 1}`, device.deviceId)),
  );
  if (cameras.some((device) => device.deviceId === chosen)) select.value = chosen;
}

/** Turns the chosen camera on (again, if another was on), then inspects when there are prompts. */
async function startCamera() {
  await stopCamera();
  const deviceId = $('camera-device').value;
  const stream = await page.guarded('Starting the camera', () => navigator.mediaDevices.getUserMedia({
    video: deviceId ? { deviceId: { exact: deviceId } } : true,
    audio: false,
  }));
  if (!stream) return;
  camera.stream = stream;
  const video = $('camera-video');
  video.srcObject = stream;
  await page.guarded('Showing the camera', () => video.play());
  await listCameras();
  $('camera-device').value = stream.getVideoTracks()[0].getSettings().deviceId ?? '';
  $('camera-start').hidden = true;
  $('camera-stop').hidden = false;
  $('camera-png').disabled = false;
  updateCapture();
  startInspection();
}

/** Stops inspecting and ends the camera's tracks, which releases the camera. */
export async function stopCamera() {
  await stopInspection();
  if (!camera.stream) return;
  for (const track of camera.stream.getTracks()) track.stop();
  camera.stream = null;
  $('camera-video').srcObject = null;
  $('camera-start').hidden = false;
  $('camera-stop').hidden = true;
  $('camera-png').disabled = true;
  updateCapture();
  clearOverlay();
  setState('off', 'Camera off');
}

/** Capturing needs a camera and a category (prompts are encoded for the loaded weights). */
export function updateCapture() {
  $('camera-capture').disabled = !camera.stream || $('prompt-files').disabled;
}

/** Starts scoring the camera's frames against the page's prompt set, if both are there. */
export function startInspection() {
  if (!camera.stream || camera.live) return;
  if (!page.demo.prompts) {
    setState('waiting', 'Waiting for normal examples: capture some');
    return;
  }
  camera.frames = [];
  $('camera-stage').dataset.frames = '0';
  const live = page.demo.detector.scoreStream($('camera-video'), {
    prompts: page.demo.prompts,
    maps: true,
    onResult: showFrame,
  });
  camera.live = live;
  setState('starting', 'Inspecting…');
  page.guarded('Live inspection', () => live.done).then(() => {
    // Ended by itself (an error, or the camera went away), not by stopInspection().
    if (camera.live !== live) return;
    camera.live = null;
    setState('stopped', 'Inspection stopped');
  });
}

/** Stops scoring (the camera stays on); resolves once no frame is in flight. */
export async function stopInspection() {
  const live = camera.live;
  camera.live = null;
  if (!live) return;
  live.stop();
  await live.done.catch(() => {});
}

/** One scored frame: the map over the video, the numbers, the chart and the alarm. */
function showFrame(result) {
  camera.frames.push({ at: performance.now(), score: result.score, patchMap: result.patchMap });
  if (camera.frames.length > CHART_FRAMES) camera.frames.shift();
  const threshold = page.demo.threshold;
  const anomalous = label(result.score, threshold) === 'anomalous';
  $('camera-score').textContent = result.score.toFixed(4);
  $('camera-threshold').textContent = threshold.toFixed(4);
  $('camera-fps').textContent = framesPerSecond().toFixed(1);
  $('camera-backend').textContent = page.backendLabel(page.demo.detector);
  const stage = $('camera-stage');
  stage.dataset.frames = String(Number(stage.dataset.frames) + 1);
  stage.dataset.score = String(result.score);
  if (anomalous) setState('alarm', 'Anomaly: the score is above the threshold');
  else setState('normal', 'Normal');
  drawOverlay(result.anomalyMap);
  drawChart(threshold);
}

/** The stage's state (`off`, `waiting`, `starting`, `normal`, `alarm`, `stopped`); announced only when it changes. */
function setState(state, text) {
  const stage = $('camera-stage');
  if (stage.dataset.state === state) return;
  stage.dataset.state = state;
  $('camera-alarm').textContent = text;
}

function framesPerSecond() {
  const now = performance.now();
  const recent = camera.frames.filter((frame) => now - frame.at <= FPS_WINDOW);
  if (recent.length < 2) return 0;
  return (1000 * (recent.length - 1)) / (recent.at(-1).at - recent[0].at);
}

function drawOverlay(map) {
  const range = patchRange(camera.frames.slice(-RANGE_FRAMES));
  const scale = Math.min(1, OVERLAY_SIDE / Math.max(map.width, map.height));
  const canvas = $('camera-overlay');
  canvas.width = Math.max(1, Math.round(map.width * scale));
  canvas.height = Math.max(1, Math.round(map.height * scale));
  canvas.getContext('2d').putImageData(mapOverlay(map, canvas.width, canvas.height, range), 0, 0);
  $('camera-legend-low').textContent = range[0].toFixed(3);
  $('camera-legend-high').textContent = range[1].toFixed(3);
}

function clearOverlay() {
  const canvas = $('camera-overlay');
  canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
}

/** The last frames' scores as a line, with the threshold dashed; points above it red. */
function drawChart(threshold) {
  const canvas = $('camera-chart');
  const context = canvas.getContext('2d');
  const { width, height } = canvas;
  const scores = camera.frames.map((frame) => frame.score);
  const low = Math.min(threshold, ...scores);
  const high = Math.max(threshold, ...scores);
  const pad = Math.max(1e-3, 0.1 * (high - low));
  const y = (value) => height - 8 - ((value - (low - pad)) / (high - low + 2 * pad)) * (height - 16);
  // The newest frame at the right; the line spans the width until the chart is full.
  const x = (index) => 8 + (index / Math.max(1, scores.length - 1)) * (width - 16);
  context.clearRect(0, 0, width, height);
  context.strokeStyle = '#c62f2f';
  context.setLineDash([6, 4]);
  context.beginPath();
  context.moveTo(0, y(threshold));
  context.lineTo(width, y(threshold));
  context.stroke();
  context.setLineDash([]);
  context.strokeStyle = '#3454d1';
  context.lineWidth = 2;
  context.beginPath();
  scores.forEach((score, index) => context.lineTo(x(index), y(score)));
  context.stroke();
  for (const [index, score] of scores.entries()) {
    if (label(score, threshold) !== 'anomalous') continue;
    context.fillStyle = '#c62f2f';
    context.fillRect(x(index) - 2.5, y(score) - 2.5, 5, 5);
  }
  context.fillStyle = '#4a5468';
  context.font = '12px system-ui, sans-serif';
  context.fillText((high + pad).toFixed(3), 4, 14);
  context.fillText((low - pad).toFixed(3), 4, height - 4);
  const above = scores.filter((score) => label(score, threshold) === 'anomalous').length;
  canvas.setAttribute('aria-label', `Scores of the last ${scores.length} frames: latest ${scores.at(-1).toFixed(4)}, ` +
    `highest ${Math.max(...scores).toFixed(4)}; ${above} above the threshold ${threshold.toFixed(4)}`);
}

/** The video's current frame, drawn at its own size. */
function currentFrame() {
  const video = $('camera-video');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  return canvas;
}

/** "Capture as normal example": the current frame, as a lossless PNG file, joins the prompt set. */
async function captureFrame() {
  const blob = await new Promise((resolve) => currentFrame().toBlob(resolve, 'image/png'));
  camera.captures += 1;
  await page.addPrompt(new File([blob], `camera-${camera.captures}.png`, { type: 'image/png' }));
}

/** "Save view as PNG": the current frame with the latest map over it. */
async function saveView() {
  const canvas = currentFrame();
  canvas.getContext('2d').drawImage($('camera-overlay'), 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  download(blob, `inctrl-camera-${stamp()}.png`);
}

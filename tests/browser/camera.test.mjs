// Live camera inspection with Chromium's fake camera (a moving test pattern):
// detector.scoreStream() scores the newest frame whenever the previous score is done,
// at most maxFps, moves frames to the worker without copying them on the page, and
// stops when stopped (stop() or an AbortSignal), with no backlog of frames after; the
// demo's Camera tab builds a prompt set from captured frames, shows the live map, a
// rolling chart, frames per second, the backend and an alarm, and "Stop camera" ends
// the camera's tracks.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS, FAKE_CAMERA, apiSite, downloadOf, launchBrowser, openDemo, openPage, pngSize, promptThroughThePage, setSlider, startServer,
} from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
/** Waits for what follows a frame or two once the model is loaded. */
const SOON = { timeout: 30_000 };

let server;
let browser;

before(async () => {
  server = await startServer({ directory: apiSite().root });
  browser = await launchBrowser(FAKE_CAMERA);
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('scoreStream() scores the newest camera frames until stopped, and no more after', TIMEOUT, async () => {
  const { context, page } = await openPage(browser, server.url, 'api.html');
  try {
    const out = await page.evaluate(async () => {
      const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
      const detector = await window.inctrl.InctrlDetector.create({ backend: 'cpu' });
      await detector.loadWeights('models/tiny.bpk');
      await detector.setCategory('metal_nut');
      await detector.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      const camera = await navigator.mediaDevices.getUserMedia({ video: true });
      // Frames must reach the worker as they are: no bitmap copies made on the page.
      let bitmaps = 0;
      const createBitmap = window.createImageBitmap;
      window.createImageBitmap = (...args) => {
        bitmaps += 1;
        return createBitmap(...args);
      };

      // A MediaStream at full speed, stopped by stop().
      const fast = [];
      const started = performance.now();
      const stream = detector.scoreStream(camera, { maps: true, onResult: (r) => fast.push({ ...r, at: performance.now() }) });
      while (fast.length < 6 && performance.now() - started < 60_000) await sleep(50);
      stream.stop();
      const atStop = fast.length;
      const fastCount = await stream.done;
      await sleep(1500);

      // A <video> at most 4 frames per second, stopped by its AbortSignal.
      const video = document.createElement('video');
      video.muted = true;
      video.srcObject = camera;
      await video.play();
      const slow = [];
      const controller = new AbortController();
      const capped = detector.scoreStream(video, { maxFps: 4, signal: controller.signal, onResult: (r) => slow.push(r.frameTime) });
      const since = performance.now();
      await sleep(3000);
      controller.abort();
      const slowAtStop = slow.length;
      const slowCount = await capped.done;
      const seconds = (performance.now() - since) / 1000;
      await sleep(1000);

      const failures = {};
      for (const [what, source, options] of [
        ['no onResult', camera, {}],
        ['not a video', 'camera.mp4', { onResult() {} }],
        ['bad maxFps', camera, { onResult() {}, maxFps: 0 }],
      ]) {
        try {
          detector.scoreStream(source, options);
        } catch (error) {
          failures[what] = error.message;
        }
      }
      const tracks = camera.getTracks().map((track) => track.readyState);
      camera.getTracks().forEach((track) => track.stop());
      detector.dispose();
      return {
        fast: fast.map(({ name, score, frameTime, patchMap, anomalyMap, ms }) => ({
          name, score, frameTime, ms, cells: patchMap.length, map: [anomalyMap.width, anomalyMap.height],
        })),
        fastCount, atStop, fastAfter: fast.length, slow, slowCount, slowAtStop, seconds, bitmaps, failures, tracks,
      };
    });
    console.log(`camera: ${out.fast.length} frames at full speed (${out.fast.map((r) => Math.round(r.ms)).join(', ')} ms each), ` +
      `${out.slow.length} at most 4/s in ${out.seconds.toFixed(1)} s`);
    assert.ok(out.fast.length >= 6, `results arrive: ${out.fast.length}`);
    assert.equal(out.fastAfter, out.atStop, 'no result after stop(), not even the frame then in the worker');
    assert.equal(out.fastCount, out.atStop, 'done resolves to the frames reported');
    for (const [index, r] of out.fast.entries()) {
      assert.ok(Number.isFinite(r.score), `frame ${index}: score ${r.score}`);
      assert.equal(r.cells, 225);
      assert.deepEqual(r.map, [640, 480], 'the map at the camera frame size');
      assert.equal(r.name, `frame ${index + 1}`);
    }
    // The newest frame each time: never a frame twice, never one from a backlog.
    const times = out.fast.map((r) => r.frameTime);
    assert.ok(times.every((t, i) => i === 0 || t > times[i - 1]), `frame times increase: ${times}`);
    // The camera makes a frame every 50 ms; a score takes longer, so the frames in between are skipped.
    for (let i = 1; i < out.fast.length; i += 1) {
      const gap = times[i] - times[i - 1];
      assert.ok(gap >= out.fast[i - 1].ms - 100, `frame ${i + 1} is ${gap} ms after the one before, which took ${out.fast[i - 1].ms} ms to score`);
    }
    assert.equal(out.slowCount, out.slowAtStop);
    assert.equal(out.slow.length, out.slowAtStop, 'no result after the signal aborted');
    assert.ok(out.slow.length >= 2, `capped results arrive: ${out.slow.length}`);
    assert.ok(out.slow.length <= Math.ceil(4 * out.seconds) + 1, `maxFps 4: ${out.slow.length} in ${out.seconds} s`);
    // Grabs are 250 ms apart. Single gaps between the frames' own times can be shorter when
    // a loaded machine delivers one camera frame late (CI saw 150 ms once), so the check is
    // on the average: without the cap it is one score's time (about 100-200 ms here).
    const averageGap = (out.slow.at(-1) - out.slow[0]) / (out.slow.length - 1);
    assert.ok(averageGap >= 250 - 25, `at most 4 frames/s: ${averageGap} ms apart on average (${out.slow})`);
    assert.equal(out.bitmaps, 0, 'frames went to the worker as VideoFrames, not as bitmaps copied on the page');
    assert.match(out.failures['no onResult'], /onResult must be a function/);
    assert.match(out.failures['not a video'], /expected a MediaStream or an HTMLVideoElement/);
    assert.match(out.failures['bad maxFps'], /maxFps: expected a number above 0/);
    assert.deepEqual(out.tracks, ['live'], 'scoreStream leaves the camera to its owner');
  } finally {
    await context.close();
  }
});

/** Keeps every stream the page gets from getUserMedia in `window.cameraStreams`, to see their tracks end. */
function recordCameraStreams() {
  window.cameraStreams = [];
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    window.cameraStreams.push(stream);
    return stream;
  };
}

test('the demo Camera tab: prompts captured from the camera, live map, chart, fps, alarm; stopping ends the camera', TIMEOUT, async () => {
  const { context, page, consoleErrors } = await openDemo(browser, server.url, { backend: 'cpu', weights: 'models/tiny.bpk' }, {
    init: recordCameraStreams,
  });
  const stage = (key) => page.getAttribute('#camera-stage', `data-${key}`);
  const frames = async () => Number(await stage('frames'));
  try {
    await page.waitForSelector('#model-info[data-loaded="true"]', TIMEOUT);
    await page.fill('#category', 'metal_nut');
    await page.click('#category-button');
    await page.waitForSelector('#category-info[data-category="metal_nut"]', TIMEOUT);
    // The tabs work from the keyboard: arrow keys move between them.
    await page.focus('#tab-images');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.getAttribute('#tab-camera', 'aria-selected'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-camera');
    assert.equal(await page.isVisible('#camera-view'), true);

    await page.click('#camera-start');
    await page.waitForSelector('#camera-stage[data-state="waiting"]', SOON);
    assert.match(await page.textContent('#camera-device'), /fake_device_0/);
    // "Capture as normal example", twice: the prompt set is made of camera frames.
    await page.click('#camera-capture');
    await page.waitForFunction(() => document.getElementById('k-badge').textContent === 'K = 1', null, SOON);
    await page.click('#camera-capture');
    await page.waitForFunction(() => document.getElementById('k-badge').textContent === 'K = 2', null, SOON);
    assert.deepEqual(await page.evaluate(() => window.inctrlDemo.prompts.names), ['camera-1.png', 'camera-2.png']);
    await page.waitForFunction(() => Number(document.getElementById('camera-stage').dataset.frames) >= 3, null, SOON);

    // The numbers, the chart and the map over the video.
    const shown = await page.evaluate(() => {
      const overlay = document.getElementById('camera-overlay');
      const pixels = overlay.getContext('2d').getImageData(0, 0, overlay.width, overlay.height).data;
      return {
        score: document.getElementById('camera-score').textContent,
        fps: Number(document.getElementById('camera-fps').textContent),
        backend: document.getElementById('camera-backend').textContent,
        chart: document.getElementById('camera-chart').getAttribute('aria-label'),
        overlay: [overlay.width, overlay.height],
        painted: pixels.filter((_, i) => i % 4 === 3 && pixels[i] > 0).length / (overlay.width * overlay.height),
        legend: [document.getElementById('camera-legend-low').textContent, document.getElementById('camera-legend-high').textContent],
      };
    });
    assert.match(shown.score, /^\d\.\d{4}$/);
    assert.ok(shown.fps > 0, `frames per second: ${shown.fps}`);
    assert.match(shown.backend, /^CPU, \d+ threads?$/);
    assert.match(shown.chart, /^Scores of the last \d+ frames: latest \d\.\d{4}/);
    assert.deepEqual(shown.overlay, [320, 240], 'the map covers the 640×480 frame');
    assert.equal(shown.painted, 1, 'every overlay pixel is coloured (map or hatching)');
    assert.ok(shown.legend.every((value) => /^\d\.\d{3}$/.test(value)), `legend ${shown.legend}`);

    // The alarm follows the threshold.
    await setSlider(page, 0);
    await page.waitForSelector('#camera-stage[data-state="alarm"]', SOON);
    assert.match(await page.textContent('#camera-alarm'), /Anomaly/);
    await page.locator('#inspect-panel').screenshot({ path: join(ARTIFACTS, 'camera-alarm.png') });
    await setSlider(page, 1);
    await page.waitForSelector('#camera-stage[data-state="normal"]', SOON);
    // The view with a threshold just above the frames' scores (the README's picture).
    await setSlider(page, Number(await stage('score')) + 0.02);
    const before = await frames();
    await page.waitForFunction((n) => Number(document.getElementById('camera-stage').dataset.frames) >= n + 3, before, SOON);
    await page.locator('#inspect-panel').screenshot({ path: join(ARTIFACTS, 'camera-view.png') });

    const view = await downloadOf(page, '#camera-png');
    assert.match(view.name, /^inctrl-camera-\d{8}-\d{6}\.png$/);
    assert.deepEqual(pngSize(view.bytes), [640, 480]);

    // Stopping: no more frames, and every camera track has ended (the camera is released).
    await page.click('#camera-stop');
    await page.waitForSelector('#camera-stage[data-state="off"]', SOON);
    const stopped = await frames();
    await page.waitForTimeout(1500);
    assert.equal(await frames(), stopped, 'no frame is scored after stopping');
    const tracks = await page.evaluate(() => window.cameraStreams.flatMap((s) => s.getTracks().map((t) => t.readyState)));
    assert.ok(tracks.length > 0 && tracks.every((state) => state === 'ended'), `tracks: ${tracks}`);
    assert.equal(await page.isVisible('#camera-start'), true);
    assert.deepEqual(consoleErrors, []);
  } finally {
    await context.close();
  }
});

// Decisions and locations in the browser, on the CPU backend: detector.calibrate()
// sets the same threshold as `inctrl calibrate` on the same files (from other normal
// images, and leave-one-out), `anomalous` follows the threshold, and anomalyMap has
// the image's own size, NaN exactly where the centre crop cut the image, and the
// values of `inctrl score --maps` (.npy). The demo calibrates, shows the threshold on
// its slider and draws the full-size map over the whole image. test.sh writes the
// CLI's answers: target/browser-calibration-*.json, target/browser-maps{,-sharp}/.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, ROOT, apiSite, image, launchBrowser, openDemo, openPage, startServer } from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
/** The CLI's and the page's scores agree to 1e-4 (api.test.mjs); thresholds are such scores. */
const SCORE_TOLERANCE = 1e-4;
const MAP_TOLERANCE = 1e-5;

let server;
let browser;

before(async () => {
  server = await startServer({ directory: apiSite().root });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** What `inctrl calibrate` printed (test.sh): `normals`, `loo2` or `loo3`. */
function cliCalibration(name) {
  return JSON.parse(readFileSync(join(ROOT, 'target', `browser-calibration-${name}.json`), 'utf8'));
}

/** A NumPy .npy file of little-endian float32: `{shape, data}`. */
function readNpy(path) {
  const bytes = readFileSync(path);
  assert.equal(bytes.toString('latin1', 0, 6), '\x93NUMPY', `${path}: not a .npy file`);
  const major = bytes[6];
  const [start, length] = major === 1 ? [10, bytes.readUInt16LE(8)] : [12, bytes.readUInt32LE(8)];
  const header = bytes.toString('latin1', start, start + length);
  assert.match(header, /'descr': '<f4'/, header);
  assert.match(header, /'fortran_order': False/, header);
  const shape = /'shape': \((\d+), (\d+)\)/.exec(header).slice(1).map(Number);
  const body = bytes.subarray(start + length);
  assert.equal(body.length, 4 * shape[0] * shape[1], `${path}: data length`);
  const data = new Float32Array(body.length / 4);
  for (let i = 0; i < data.length; i += 1) data[i] = body.readFloatLE(4 * i);
  return { shape, data };
}

/**
 * The pixels along one axis of `length` (the other side `other`) that torchvision's
 * Resize(240) then CenterCrop(240) keep, by their own rules (the resized long side is
 * truncated, the crop offset rounded half to even): pixel i is seen when its centre,
 * taken through the resize, lands inside the crop. `[first, last]`.
 */
function seenPixels(length, other, size = 240) {
  const resized = length <= other ? size : Math.trunc((size * length) / other);
  const half = (resized - size) / 2;
  const offset = half % 1 === 0.5 && Math.floor(half) % 2 === 0 ? Math.floor(half) : Math.round(half);
  const seen = [];
  for (let i = 0; i < length; i += 1) {
    const at = ((i + 0.5) * resized) / length - offset;
    if (at >= 0 && at < size) seen.push(i);
  }
  return [seen[0], seen.at(-1)];
}

/** A page with `window.inctrl` and a CPU detector as `window.detector`: tiny weights, metal_nut, prompts a and b. */
async function openApi() {
  const opened = await openPage(browser, server.url, 'api.html');
  await opened.page.evaluate(async () => {
    window.detector = await window.inctrl.InctrlDetector.create({ backend: 'cpu' });
    await detector.loadWeights('models/tiny.bpk');
    await detector.setCategory('metal_nut');
    await detector.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
  });
  return opened;
}

function assertClose(actual, expected, tolerance, label) {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: ${actual} vs ${expected} (diff ${Math.abs(actual - expected)})`);
}

/** The page's calibration against the CLI's: the same rule on the same scores. */
function assertSameCalibration(page, cli, method) {
  assertClose(page.threshold, cli.threshold, SCORE_TOLERANCE, `${method} threshold`);
  assert.equal(page.normals, cli.normals, `${method}: normals`);
  assert.equal(page.falseAlarmRate, cli.false_alarm, `${method}: falseAlarmRate`);
  assert.equal(page.expectedFalseAlarm, cli.expected_false_alarm, `${method}: expectedFalseAlarm`);
  assert.equal(page.warning, cli.warning ?? null, `${method}: warning`);
  assert.equal(page.method, method);
}

test('calibrate() equals inctrl calibrate from other normals and leave-one-out; anomalous follows the threshold', TIMEOUT, async () => {
  const { context, page } = await openApi();
  try {
    const out = await page.evaluate(async () => {
      const dir = 'fixtures/images/';
      const pick = (results) => results.map(({ name, score, anomalous }) => ({ name, score, anomalous, has: 'anomalous' in results[0] }));
      const failure = (promise) => promise.then(() => null, (error) => error.message);
      const before = { threshold: detector.threshold, results: pick(await detector.score([`${dir}local_defect.jpg`])) };

      // Other normals: nominal_a is a prompt image, left out (as the CLI leaves it out).
      const normals = ['nominal_a.jpg', 'nominal_c.jpg', 'nominal_d.jpg', 'thin_strip.jpg', 'gray_wide.png', 'rgba_tall.png']
        .map((name) => dir + name);
      const progress = [];
      const fromNormals = await detector.calibrate(normals, {
        falseAlarmRate: 0.34,
        onProgress: ({ status, loaded, total }) => progress.push(`${status} ${loaded}/${total}`),
      });
      const thresholdAfter = detector.threshold;
      const scoredNormals = pick(await detector.score(normals.slice(1)));
      const scoredDefects = pick(await detector.score([`${dir}local_defect.jpg`, `${dir}global_defect.jpg`]));

      // Leave-one-out, K = 2 at the default rate (too few: a warning), and K = 3 at 50 %.
      const loo2 = await detector.calibrate();
      const loo2Empty = await detector.calibrate([], {});
      const three = await detector.encodePrompts([`${dir}nominal_a.jpg`, `${dir}nominal_b.jpg`, `${dir}nominal_c.jpg`]);
      const loo3 = await detector.calibrate(null, { prompts: three, category: 'metal_nut', falseAlarmRate: 0.5 });
      // Leave-one-out by hand: each prompt against a prompt set of the other.
      const onlyA = await detector.encodePrompts([`${dir}nominal_a.jpg`]);
      const onlyB = await detector.encodePrompts([`${dir}nominal_b.jpg`]);
      const byHand = [
        (await detector.score([`${dir}nominal_b.jpg`], { prompts: onlyA }))[0].score,
        (await detector.score([`${dir}nominal_a.jpg`], { prompts: onlyB }))[0].score,
      ];

      // Set by hand, overridden per call, cleared.
      detector.threshold = 0.38;
      const queries = ['local_defect.jpg', 'global_defect.jpg', 'nominal_c.jpg', 'nominal_d.jpg', 'thin_strip.jpg'].map((n) => dir + n);
      const manual = pick(await detector.score(queries));
      const overridden = pick(await detector.score(queries, { threshold: null }));
      const perCall = pick(await detector.score(queries, { threshold: 0 }));
      detector.threshold = null;
      const cleared = pick(await detector.score(queries.slice(0, 1)));

      let badThreshold = null;
      try {
        detector.threshold = '0.5';
      } catch (error) {
        badThreshold = error.message;
      }
      const errors = {
        badThreshold,
        oneImage: await failure(detector.calibrate([], { prompts: onlyA })),
        onlyPrompts: await failure(detector.calibrate([`${dir}nominal_b.jpg`, `${dir}nominal_a.jpg`])),
        badRate: await failure(detector.calibrate([], { falseAlarmRate: 1 })),
        aborted: await failure(detector.calibrate(normals, { signal: AbortSignal.abort() })),
      };
      const thresholdAfterErrors = detector.threshold;
      await detector.calibrate([], { falseAlarmRate: 0.5 });
      await detector.loadWeights('models/tiny.bpk');
      return {
        before, fromNormals, progress, thresholdAfter, scoredNormals, scoredDefects, loo2, loo2Empty, loo3, byHand,
        manual, overridden, perCall, cleared, errors, thresholdAfterErrors, afterLoad: detector.threshold,
      };
    });

    // No threshold yet: no `anomalous`.
    assert.equal(out.before.threshold, null);
    assert.equal(out.before.results[0].has, false);

    // From other normals: the CLI's threshold, normals, expected rate; set on the detector.
    const cli = cliCalibration('normals');
    assertSameCalibration(out.fromNormals, cli, 'normals');
    assert.equal(out.fromNormals.normals, 5, 'the prompt image among the normals is left out');
    assert.deepEqual(out.progress, [1, 2, 3, 4, 5, 6].map((i) => `calibrate ${i}/6`));
    assert.equal(out.thresholdAfter, out.fromNormals.threshold);
    // The rule on the page's own scores of the same normals: k = ⌊0.34 · 6⌋ = 2, the
    // second largest; one normal is above it, and it is strictly above.
    const normalScores = out.scoredNormals.map((r) => r.score).sort((a, b) => b - a);
    assert.equal(out.fromNormals.threshold, normalScores[1]);
    assert.deepEqual(out.scoredNormals.filter((r) => r.anomalous).length, 1);
    for (const r of [...out.scoredNormals, ...out.scoredDefects]) {
      assert.equal(r.anomalous, r.score > out.fromNormals.threshold, `${r.name}: ${r.score} vs ${out.fromNormals.threshold}`);
    }

    // Leave-one-out: the CLI's answers, warning included; equal to scoring each prompt
    // against the others directly.
    assertSameCalibration(out.loo2, cliCalibration('loo2'), 'leaveOneOut');
    assert.match(out.loo2.warning, /2 normal images cannot set a 1% false-alarm rate/);
    assert.deepEqual(out.loo2Empty, out.loo2);
    assertSameCalibration(out.loo3, cliCalibration('loo3'), 'leaveOneOut');
    assertClose(out.loo2.threshold, Math.max(...out.byHand), 1e-5, 'leave-one-out against prompt sets of K - 1');

    // By hand: compared in f32, as the CLI's --threshold compares.
    const limit = Math.fround(0.38);
    assert.ok(out.manual.some((r) => r.anomalous) && out.manual.some((r) => !r.anomalous), 'the threshold splits the queries');
    for (const r of out.manual) assert.equal(r.anomalous, r.score > limit, r.name);
    assert.ok(out.overridden.every((r) => !r.has), 'threshold: null leaves anomalous out');
    assert.ok(out.perCall.every((r) => r.anomalous === true), 'a threshold per call');
    assert.equal(out.cleared[0].has, false);

    assert.match(out.errors.badThreshold, /threshold: expected a finite number or null/);
    assert.match(out.errors.oneImage, /leave-one-out scoring needs at least 2 prompt images, got 1/);
    assert.match(out.errors.onlyPrompts, /every normal image given is also a prompt image/);
    assert.match(out.errors.badRate, /between 0 and 1/);
    assert.match(out.errors.aborted, /aborted/);
    assert.equal(out.thresholdAfterErrors, null, 'failed calibrations leave the threshold alone');
    assert.equal(out.afterLoad, null, 'loading weights clears the threshold');
  } finally {
    await context.close();
  }
});

test('anomalyMap: the image size, NaN exactly outside the crop, the values of inctrl score --maps', TIMEOUT, async () => {
  const { context, page } = await openApi();
  const files = ['gray_wide.png', 'rgba_tall.png', 'local_defect.jpg'];
  try {
    const out = await page.evaluate(async (files) => {
      const paths = files.map((name) => `fixtures/images/${name}`);
      const describe = (results) => results.map(({ name, anomalyMap, patchMap }) => ({
        name,
        width: anomalyMap.width,
        height: anomalyMap.height,
        float32: anomalyMap.data instanceof Float32Array && patchMap instanceof Float32Array,
        // Its own buffer (not a view into the module's memory), so it could be transferred.
        ownBuffer: anomalyMap.data.buffer.byteLength === anomalyMap.data.byteLength
          && !(typeof SharedArrayBuffer === 'function' && anomalyMap.data.buffer instanceof SharedArrayBuffer),
        data: Array.from(anomalyMap.data),
      }));
      const smooth = describe(await detector.score(paths, { maps: true }));
      const sharp = describe(await detector.score(paths, { maps: { sigma: 0 } }));
      const defaultSigma = describe(await detector.score(paths.slice(0, 1), { maps: { sigma: 4 } }));
      const none = await detector.score(paths.slice(0, 1));
      const failure = (promise) => promise.then(() => null, (error) => error.message);
      return {
        smooth,
        sharp,
        defaultSigma,
        withoutMaps: 'anomalyMap' in none[0],
        badSigma: await failure(detector.score(paths.slice(0, 1), { maps: { sigma: -1 } })),
      };
    }, files);

    assert.equal(out.withoutMaps, false, 'no map unless asked for');
    assert.match(out.badSigma, /sigma/);
    assert.deepEqual(out.defaultSigma[0].data, out.smooth[0].data, 'maps: true smooths with sigma 4');
    // Worked by hand: 320×200 is resized to 384×240 and cut from x = 72, so columns
    // 60..259 are seen; 180×260 to 240×346 cut from y = 53, rows 40..219.
    assert.deepEqual(seenPixels(320, 200), [60, 259]);
    assert.deepEqual(seenPixels(260, 180), [40, 219]);
    const sizes = { 'gray_wide.png': [320, 200], 'rgba_tall.png': [180, 260], 'local_defect.jpg': [250, 250] };
    for (const [maps, folder] of [[out.smooth, 'browser-maps'], [out.sharp, 'browser-maps-sharp']]) {
      for (const map of maps) {
        const [width, height] = sizes[map.name];
        assert.deepEqual([map.width, map.height], [width, height], `${map.name}: the image's size`);
        assert.ok(map.float32 && map.ownBuffer, `${map.name}: a Float32Array with its own buffer`);
        assert.equal(map.data.length, width * height);
        const [x0, x1] = seenPixels(width, height);
        const [y0, y1] = seenPixels(height, width);
        let unseen = 0;
        for (let y = 0; y < height; y += 1) {
          for (let x = 0; x < width; x += 1) {
            const seen = x >= x0 && x <= x1 && y >= y0 && y <= y1;
            const value = map.data[y * width + x];
            assert.equal(Number.isNaN(value), !seen, `${map.name} (${x}, ${y}): ${value}`);
            if (!seen) unseen += 1;
          }
        }
        assert.equal(unseen, width * height - (x1 - x0 + 1) * (y1 - y0 + 1));
        const npy = readNpy(join(ROOT, 'target', folder, map.name.replace(/\.\w+$/, '.npy')));
        assert.deepEqual(npy.shape, [height, width], `${folder}/${map.name}: shape`);
        let worst = 0;
        for (let i = 0; i < map.data.length; i += 1) {
          const [page, cli] = [map.data[i], npy.data[i]];
          assert.equal(Number.isNaN(page), Number.isNaN(cli), `${folder}/${map.name}: NaN at ${i}`);
          if (!Number.isNaN(page)) worst = Math.max(worst, Math.abs(page - cli));
        }
        assert.ok(worst <= MAP_TOLERANCE, `${folder}/${map.name}: largest difference from the CLI ${worst}`);
        console.log(`${folder}/${map.name}: ${width}x${height}, ${unseen} unseen, largest difference from the CLI ${worst.toExponential(1)}`);
      }
    }
    // The smoothing really happened (else the comparison above proves less).
    assert.notDeepEqual(out.smooth[0].data, out.sharp[0].data);
    assert.deepEqual(out.smooth.map((m) => m.data.some((v) => Number.isNaN(v))), [true, true, false]);
  } finally {
    await context.close();
  }
});

test('demo: calibrate (leave-one-out, then from extra normals), the threshold on the slider, full-size maps over the whole image', TIMEOUT, async () => {
  const { context, page, consoleErrors } = await openDemo(browser, server.url, { backend: 'cpu', weights: 'models/tiny.bpk' });
  const waitFor = (fn, arg) => page.waitForFunction(fn, arg, TIMEOUT);
  try {
    await page.waitForSelector('#model-info[data-loaded="true"]', TIMEOUT);
    await page.fill('#category', 'metal_nut');
    await page.click('#category-button');
    await page.waitForSelector('#category-info[data-category="metal_nut"]', TIMEOUT);
    await page.setInputFiles('#prompt-files', [image('nominal_a.jpg'), image('nominal_b.jpg')]);
    await waitFor(() => document.getElementById('k-badge').textContent === 'K = 2');

    // No extra normals: leave-one-out; K = 2 is too few for 1 %, and the page says so.
    const slider = () => page.evaluate(() => Number(document.getElementById('threshold').value));
    await page.click('#calibrate-button');
    await waitFor(() => document.getElementById('calibration-info').dataset.method === 'leaveOneOut');
    const loo = cliCalibration('loo2');
    assertClose(await slider(), loo.threshold, SCORE_TOLERANCE, 'slider after leave-one-out');
    assert.equal(await page.textContent('#calibration-warning'), loo.warning);
    assert.equal(await page.isVisible('#calibration-warning'), true);
    await page.locator('#calibration-panel').screenshot({ path: join(ARTIFACTS, 'demo-calibrated-leave-one-out.png') });
    // The slider shows the detector's threshold (a range input keeps about 15 digits).
    const detectorThreshold = () => page.evaluate(() => window.inctrlDemo.detector.threshold);
    assertClose(await slider(), await detectorThreshold(), 1e-12, 'slider vs detector.threshold');

    // Extra normals (a prompt image among them, left out) at 34 %.
    const normals = ['nominal_a.jpg', 'nominal_c.jpg', 'nominal_d.jpg', 'thin_strip.jpg', 'gray_wide.png', 'rgba_tall.png'];
    await page.setInputFiles('#normal-files', normals.map(image));
    await waitFor(() => document.getElementById('normal-count').dataset.count === '6');
    await page.fill('#false-alarm', '34');
    await page.click('#calibrate-button');
    await waitFor(() => document.getElementById('calibration-info').dataset.method === 'normals');
    const cli = cliCalibration('normals');
    const threshold = await detectorThreshold();
    assertClose(await slider(), threshold, 1e-12, 'slider vs detector.threshold');
    assertClose(threshold, cli.threshold, SCORE_TOLERANCE, 'threshold after calibration from normals');
    assert.equal(Number(await page.getAttribute('#calibration-info', 'data-threshold')), threshold);
    assert.equal(await page.isVisible('#calibration-warning'), false, 'no warning: 5 normals support 34 %');
    assert.match(await page.textContent('#calibration-info'), /from 5 normal images: threshold 0\.\d{4} for a 34 % false-alarm rate/);
    assert.equal(await page.textContent('#threshold-value'), threshold.toFixed(4));
    // The calibrated value is marked on the slider.
    assertClose(Number(await page.getAttribute('#threshold-marks option', 'value')), threshold, 1e-12, 'the mark');

    // Verdicts follow the threshold; every result carries its full-size map.
    const queries = ['gray_wide.png', 'rgba_tall.png', 'local_defect.jpg', 'global_defect.jpg', 'nominal_c.jpg', 'nominal_d.jpg', 'thin_strip.jpg'];
    await page.setInputFiles('#query-files', queries.map(image));
    await waitFor((n) => document.querySelectorAll('#results tr').length >= n
      && !/Scoring/.test(document.getElementById('score-progress').textContent)
      && [...document.querySelectorAll('#results canvas')].every((c) => c.dataset.drawn === 'true'), queries.length);
    const shown = await page.$$eval('#results tr', (items) => items.map((item) => ({
      name: item.dataset.name,
      score: Number(item.dataset.score),
      anomalous: item.dataset.anomalous === 'true',
      verdict: item.querySelector('.verdict').textContent,
    })));
    const flags = await page.evaluate(() => Object.fromEntries(window.inctrlDemo.results.map((r) => [r.name, r.anomalous])));
    assert.equal(shown.length, queries.length);
    for (const r of shown) {
      assert.equal(r.anomalous, r.score > threshold, `${r.name}: ${r.score} vs ${threshold}`);
      assert.equal(flags[r.name], r.anomalous, `${r.name}: the detector's own flag`);
      assert.equal(r.verdict, r.anomalous ? 'anomalous' : 'normal');
    }
    // Of these normals, rgba_tall.png scores above the threshold; nominal_d.jpg's score is
    // the threshold itself (the second largest), which is not above it.
    const byName = Object.fromEntries(shown.map((r) => [r.name, r]));
    assert.equal(byName['rgba_tall.png'].anomalous, true);
    assert.equal(byName['nominal_d.jpg'].score, threshold);
    assert.equal(byName['nominal_d.jpg'].verdict, 'normal');

    // The wide image's picture: the whole image (its aspect ratio), hatched grey where
    // the model did not see it, heat colours where it did.
    const wide = await page.evaluate(() => {
      const item = document.querySelector('#results tr[data-name="gray_wide.png"]');
      const canvas = item.querySelector('canvas');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const rgb = (x, y) => Array.from(pixels.subarray(4 * (y * canvas.width + x), 4 * (y * canvas.width + x) + 3));
      const y = Math.floor(canvas.height / 2);
      const column = (fraction) => Array.from({ length: 8 }, (_, i) => rgb(Math.floor(fraction * canvas.width) + i, y));
      return {
        width: canvas.width,
        height: canvas.height,
        mapWidth: Number(canvas.dataset.mapWidth),
        mapHeight: Number(canvas.dataset.mapHeight),
        margin: [...column(0.02), ...column(0.9)],
        centre: column(0.5),
      };
    });
    assert.deepEqual([wide.mapWidth, wide.mapHeight], [320, 200]);
    assert.equal(wide.width / wide.height, 320 / 200, 'the canvas shows the whole image, not the crop');
    // gray_wide.png is grey: the margins stay grey (hatched: two shades), the centre is coloured.
    const saturation = ([r, g, b]) => Math.max(r, g, b) - Math.min(r, g, b);
    assert.ok(wide.margin.every((p) => saturation(p) <= 12), `margins: ${JSON.stringify(wide.margin)}`);
    assert.ok(new Set(wide.margin.map((p) => p[0])).size >= 2, 'margins are hatched');
    assert.ok(wide.centre.every((p) => saturation(p) > 20), `centre: ${JSON.stringify(wide.centre)}`);

    await page.screenshot({ path: join(ARTIFACTS, 'demo-calibrated-maps.png'), fullPage: true });
    await page.locator('#results tr[data-name="gray_wide.png"]').screenshot({ path: join(ARTIFACTS, 'demo-map-wide.png') });

    // Moving the slider by hand moves the verdicts and the detector's threshold.
    await page.evaluate(() => {
      const range = document.getElementById('threshold');
      range.value = '0';
      range.dispatchEvent(new Event('input'));
    });
    assert.equal(await page.evaluate(() => window.inctrlDemo.detector.threshold), 0);
    assert.ok((await page.$$eval('#results tr', (items) => items.map((i) => i.dataset.anomalous))).every((a) => a === 'true'));
    assert.deepEqual(consoleErrors, []);
  } finally {
    await context.close();
  }
});

// The package's JS API (pkg/detector.js) used directly by a page, on the CPU
// backend: a checkpoint converted in the page, every kind of image input, several
// images per call, prompt-set handles with a category per call (surviving
// recreate), aborting, and the weights cache (revalidation, clearCache). Scores
// are compared with the native CLI's (test.sh writes target/browser-expected*.json).
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';

import { FIXTURES, ROOT, apiSite, launchBrowser, nativeScores, openPage, startServer } from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };

let server;
let browser;
let site;

before(async () => {
  site = apiSite();
  server = await startServer({ directory: site.root });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** name → score from a CLI expected file. */
function expectedScores(name) {
  return new Map(nativeScores(name).results.map((r) => [basename(r.image), r.score]));
}

/** Each `{name, score}` against `expected.get(as(name))` within `tolerance`. */
function assertScores(results, expected, tolerance, as = (name) => name) {
  assert.ok(results.length > 0, 'no results');
  for (const { name, score } of results) {
    const key = as(name);
    assert.ok(expected.has(key), `no native score for ${key}`);
    const diff = Math.abs(score - expected.get(key));
    assert.ok(diff <= tolerance, `${name}: page ${score} vs native ${expected.get(key)} (diff ${diff})`);
  }
}

/** A page with `window.inctrl` and a CPU detector as `window.detector`. */
async function openApi(options = {}) {
  const opened = await openPage(browser, server.url, 'api.html');
  await opened.page.evaluate(async (threads) => {
    window.detector = await window.inctrl.InctrlDetector.create({ backend: 'cpu', threads });
    window.bytes = async (path) => (await fetch(path)).arrayBuffer();
  }, options.threads);
  return opened;
}

test('a .pyth checkpoint converted in the page with its config object scores as the CLI; the cache key includes the config', TIMEOUT, async () => {
  const config = JSON.parse(readFileSync(join(FIXTURES, 'config.json'), 'utf8'));
  const { context, page } = await openApi();
  try {
    const out = await page.evaluate(async (config) => {
      const statuses = [];
      const checkpoint = new File([await window.bytes('fixtures/model.pyth')], 'model.pyth', { lastModified: 1 });
      const info = await detector.loadWeights(checkpoint, {
        config,
        onProgress: (p) => statuses.push(p.status === 'download' ? `download:${p.phase}` : p.status),
      });
      await detector.setCategory('widget'); // not a built-in category: the text tower computes it
      const k = await detector.setPrompts([
        { name: 'nominal_a.jpg', image: await window.bytes('fixtures/images/nominal_a.jpg') },
        'fixtures/images/nominal_b.jpg',
      ]);
      const score = async () => (await detector.score(['fixtures/images/local_defect.jpg', 'fixtures/images/global_defect.jpg']))
        .map(({ name, score }) => ({ name, score }));
      const scores = await score();
      // The same config with its keys in another order: the converted copy from the cache.
      const reordered = Object.fromEntries(Object.entries(config).reverse());
      const again = await detector.loadWeights(checkpoint, { config: reordered });
      // Another config must not be served the cached conversion: it is converted, and fails.
      let otherConfig = null;
      const wrong = { ...config, vision_cfg: { ...config.vision_cfg, layers: config.vision_cfg.layers - 1 } };
      try {
        await detector.loadWeights(checkpoint, { config: wrong });
      } catch (error) {
        otherConfig = error.message;
      }
      // The failed load left the cached conversion loaded.
      await detector.setCategory('widget');
      await detector.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      return { info, k, statuses, scores, again: again.cache, otherConfig, after: await score(), info2: detector.info };
    }, config);
    assert.equal(out.info.precision, 'f16');
    assert.equal(out.info.textTower, true);
    assert.equal(out.info.cache, 'cached');
    assert.equal(out.k, 2);
    assert.equal(out.statuses[0], 'initiate');
    assert.equal(out.statuses.at(-1), 'ready');
    assert.ok(out.statuses.slice(1, -1).every((s) => s === 'download:convert'), out.statuses.join());
    assert.ok(out.statuses.length > 3, 'byte progress while converting');
    const expected = expectedScores('converted');
    assertScores(out.scores, expected, 1e-4);
    assert.equal(out.again, 'converted copy from cache');
    assert.match(out.otherConfig ?? 'no error', /unexpected|missing|shape/i);
    assert.equal(out.info2.cache, 'converted copy from cache');
    assertScores(out.after, expected, 1e-4);
  } finally {
    await context.close();
  }
});

test('URL strings, bytes, ImageBitmap, ImageData, canvases, <img> and VideoFrame in one score() call', TIMEOUT, async () => {
  const { context, page } = await openApi();
  try {
    const results = await page.evaluate(async () => {
      await detector.loadWeights('models/tiny.bpk');
      await detector.setCategory('metal_nut');
      await detector.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      const options = { premultiplyAlpha: 'none', colorSpaceConversion: 'none' };
      const png = await (await fetch('fixtures/images/gray_wide.png')).blob();
      const bitmap = await createImageBitmap(png, options);
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      const context2d = canvas.getContext('2d');
      context2d.drawImage(bitmap, 0, 0);
      const imageData = context2d.getImageData(0, 0, bitmap.width, bitmap.height);
      const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
      offscreen.getContext('2d').putImageData(imageData, 0, 0);
      const img = new Image();
      img.src = 'fixtures/images/gray_wide.png';
      const frame = new VideoFrame(canvas, { timestamp: 0 });
      const jpeg = await createImageBitmap(await (await fetch('fixtures/images/nominal_c.jpg')).blob(), options);
      const inputs = [
        'fixtures/images/nominal_c.jpg',
        new URL('fixtures/images/thin_strip.jpg', location.href),
        { name: 'nominal_d.jpg', image: new Uint8Array(await window.bytes('fixtures/images/nominal_d.jpg')) },
        { name: 'bitmap:gray_wide.png', image: bitmap },
        { name: 'imagedata:gray_wide.png', image: imageData },
        { name: 'canvas:gray_wide.png', image: canvas },
        { name: 'offscreen:gray_wide.png', image: offscreen },
        { name: 'img:gray_wide.png', image: img },
        { name: 'videoframe:gray_wide.png', image: frame },
        { name: 'browser-decoded:nominal_c.jpg', image: jpeg },
      ];
      const progress = [];
      const scored = await detector.score(inputs, { onProgress: (p) => progress.push(`${p.loaded}/${p.total}`) });
      frame.close();
      const failure = (promise) => promise.then(() => null, (error) => error.message);
      return {
        notIterable: await failure(detector.score(imageData)),
        missing: await failure(detector.score(['fixtures/images/missing.png'])),
        scored: scored.map(({ name, score, patchMap }) => ({ name, score, cells: patchMap.length })),
        progress,
        // The page's own objects are still usable: nothing of theirs was moved to the worker.
        bitmapWidth: bitmap.width,
        imageDataBytes: imageData.data.length,
      };
    });
    const expected = expectedScores();
    const names = results.scored.map((r) => r.name);
    assert.deepEqual(names, [
      'nominal_c.jpg', 'thin_strip.jpg', 'nominal_d.jpg', 'bitmap:gray_wide.png', 'imagedata:gray_wide.png',
      'canvas:gray_wide.png', 'offscreen:gray_wide.png', 'img:gray_wide.png', 'videoframe:gray_wide.png',
      'browser-decoded:nominal_c.jpg',
    ]);
    assert.ok(results.scored.every((r) => r.cells === 225));
    assert.equal(results.progress.at(-1), `${names.length}/${names.length}`);
    assert.ok(results.bitmapWidth > 0 && results.imageDataBytes > 0);
    assert.match(results.notIterable, /expected an array/);
    assert.match(results.missing, /^missing\.png: fetching http:\S+\/fixtures\/images\/missing\.png failed: HTTP 404/);
    const bare = (name) => name.split(':').pop();
    // File bytes and URLs go through the Pillow-exact decoder; a lossless PNG decoded by
    // the browser gives the same pixels.
    assertScores(results.scored.slice(0, -1), expected, 1e-4, bare);
    // A JPEG decoded by the browser is not bit-exact with Pillow, only close.
    assertScores(results.scored.slice(-1), expected, 2e-2, bare);
  } finally {
    await context.close();
  }
});

test('two prompt sets with two categories in one page; handles survive recreate(), fail clearly once disposed or stale', TIMEOUT, async () => {
  const { context, page } = await openApi();
  try {
    const out = await page.evaluate(async () => {
      const pick = (results) => results.map(({ name, score }) => ({ name, score }));
      await detector.loadWeights('models/tiny.bpk');
      const metal = await detector.encodePrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      const candle = await detector.encodePrompts([
        await (await fetch('fixtures/images/nominal_c.jpg')).blob(),
        'fixtures/images/nominal_d.jpg',
      ]);
      const metalQueries = ['fixtures/images/local_defect.jpg', 'fixtures/images/global_defect.jpg'];
      const candleQueries = [...metalQueries, 'fixtures/images/nominal_a.jpg'];
      const a = pick(await detector.score(metalQueries, { prompts: metal, category: 'metal_nut' }));
      const b = pick(await detector.score(candleQueries, { prompts: candle, category: 'candle' }));
      const a2 = pick(await detector.score(metalQueries, { prompts: metal, category: 'metal_nut' }));
      await detector.recreate({ backend: 'cpu' });
      const b2 = pick(await detector.score(candleQueries, { prompts: candle, category: 'candle' }));
      candle.dispose();
      const failure = async (run) => {
        try {
          await run();
          return null;
        } catch (error) {
          return `${error.name}: ${error.message}`;
        }
      };
      const disposed = await failure(() => detector.score(metalQueries, { prompts: candle, category: 'candle' }));
      const noDefault = await failure(() => detector.score(metalQueries, { prompts: metal }));
      const a3 = pick(await detector.score(metalQueries.slice(0, 1), { prompts: metal, category: 'metal_nut' }));
      await detector.loadWeights('models/tiny.bpk');
      const stale = await failure(() => detector.score(metalQueries, { prompts: metal, category: 'metal_nut' }));
      return {
        counts: [metal.count, candle.count],
        names: candle.names,
        disposedFlags: [metal.disposed, candle.disposed],
        a, b, a2, b2, a3, disposed, noDefault, stale,
      };
    });
    assert.deepEqual(out.counts, [2, 2]);
    assert.deepEqual(out.names, ['image 1', 'nominal_d.jpg']);
    assert.deepEqual(out.disposedFlags, [false, true]);
    const metal = expectedScores();
    const candle = expectedScores('candle');
    assertScores(out.a, metal, 1e-4);
    assertScores(out.a2, metal, 1e-4);
    assertScores(out.a3, metal, 1e-4);
    assertScores(out.b, candle, 1e-4);
    assertScores(out.b2, candle, 1e-4);
    // The two prompt sets really differ (else the comparison above proves little).
    assert.ok(Math.abs(out.a[0].score - out.b[0].score) > 1e-3);
    assert.match(out.disposed, /^InctrlError: this prompt set was disposed/);
    assert.match(out.noDefault, /no category/);
    assert.match(out.stale, /weights that are no longer loaded/);
  } finally {
    await context.close();
  }
});

test('aborting a score stops between images; aborting a download keeps the loaded weights', TIMEOUT, async () => {
  const { context, page } = await openApi();
  // Requests for held/ never complete until the worker gives up on them.
  await context.route('**/held/**', () => {});
  try {
    const out = await page.evaluate(async () => {
      await detector.loadWeights('models/tiny.bpk');
      await detector.setCategory('metal_nut');
      await detector.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      const outcome = async (promise) => {
        try {
          await promise;
          return 'resolved';
        } catch (error) {
          return { name: error.name, kind: error.kind, inctrl: error instanceof window.inctrl.InctrlError, message: error.message };
        }
      };
      // Abort once the first image is scored: the second (a held URL) is never scored, nor the third.
      const controller = new AbortController();
      const scored = [];
      const score = detector.score(
        ['fixtures/images/local_defect.jpg', 'held/nominal_c.jpg', 'fixtures/images/global_defect.jpg'],
        { signal: controller.signal, onProgress: ({ name }) => { scored.push(name); controller.abort(); } },
      );
      const scoreAbort = await outcome(score);
      // Between images: the abort (sent when the first result arrives) reaches the worker
      // while it scores the second of twelve local images; it stops before the next one.
      const many = new AbortController();
      const manyScored = [];
      const bytes = await window.bytes('fixtures/images/local_defect.jpg');
      const twelve = Array.from({ length: 12 }, (_, i) => ({ name: `copy ${i + 1}`, image: bytes }));
      const manyAbort = await outcome(detector.score(twelve, {
        signal: many.signal,
        onProgress: ({ name }) => { manyScored.push(name); many.abort(); },
      }));
      const already = await outcome(detector.score(['fixtures/images/local_defect.jpg'], { signal: AbortSignal.abort() }));
      // Abort a download: the tiny weights stay loaded.
      const download = new AbortController();
      const statuses = [];
      const load = detector.loadWeights('held/other.bpk', {
        signal: download.signal,
        onProgress: ({ status }) => {
          statuses.push(status);
          if (status === 'initiate') download.abort(new Error('the user left'));
        },
      });
      const loadAbort = await outcome(load);
      const cached = await (await caches.open('inctrl-weights-v1')).match(new URL('held/other.bpk', location.href).href);
      const after = await detector.score(['fixtures/images/local_defect.jpg', 'fixtures/images/global_defect.jpg']);
      return {
        scoreAbort, scored, manyAbort, manyScored, already, loadAbort, statuses, cached: cached !== undefined,
        info: detector.info, after: after.map(({ name, score }) => ({ name, score })),
      };
    });
    for (const abort of [out.scoreAbort, out.manyAbort, out.already, out.loadAbort]) {
      assert.equal(typeof abort, 'object', 'rejected');
      assert.equal(abort.name, 'AbortError');
      assert.equal(abort.kind, 'abort');
      assert.equal(abort.inctrl, true);
    }
    assert.match(out.loadAbort.message, /aborted: the user left/);
    assert.deepEqual(out.scored, ['local_defect.jpg']);
    assert.ok(out.manyScored.length >= 1 && out.manyScored.length < 12, `scored ${out.manyScored.length} of 12`);
    assert.deepEqual(out.statuses, ['initiate']);
    assert.equal(out.cached, false);
    assert.equal(out.info.precision, 'f32');
    assert.equal(out.info.bytes, readFileSync(join(ROOT, 'www/models/tiny.bpk')).length);
    assertScores(out.after, expectedScores(), 1e-4);
  } finally {
    await context.close();
  }
});

test('cached weights are revalidated: unchanged served from the cache, changed re-downloaded; clearCache empties it', TIMEOUT, async () => {
  const tiny = join(ROOT, 'www/models/tiny.bpk');
  const half = join(ROOT, 'target/browser-tiny-f16.bpk');
  const file = join(site.scratch, 'weights.bpk');
  const noValidators = join(site.scratch, 'plain.bpk');
  copyFileSync(tiny, file);
  copyFileSync(tiny, noValidators);
  const { context, page } = await openApi();
  const load = (path) => page.evaluate(async (path) => {
    const { precision, cache } = await detector.loadWeights(path);
    return { precision, cache };
  }, path);
  /** What the server answered for `path`, once it has logged at least `count` requests for it. */
  const seen = async (path, count) => {
    const lines = () => server.requests.filter((r) => r.path === `/scratch/${path}`).map((r) => `${r.method} ${r.status}`);
    for (let waited = 0; lines().length < count && waited < 10_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return lines();
  };
  /** Replaces a served file with other bytes and a later modification time. */
  const change = (path, from, seconds) => {
    copyFileSync(from, path);
    const later = Date.now() / 1000 + seconds;
    utimesSync(path, later, later);
  };
  try {
    // A server with Last-Modified: conditional GETs.
    assert.deepEqual(await load('scratch/weights.bpk'), { precision: 'f32', cache: 'cached' });
    assert.deepEqual(await load('scratch/weights.bpk'), { precision: 'f32', cache: 'from cache' });
    assert.deepEqual(await seen('weights.bpk', 2), ['GET 200', 'GET 304']);
    change(file, half, 60);
    const changed = await load('scratch/weights.bpk');
    assert.equal(changed.precision, 'f16');
    assert.match(changed.cache, /^cached \(re-downloaded: changed on the server\)$/);
    assert.deepEqual(await load('scratch/weights.bpk'), { precision: 'f16', cache: 'from cache' });
    assert.deepEqual(await seen('weights.bpk', 4), ['GET 200', 'GET 304', 'GET 200', 'GET 304']);

    // Unreachable server: the cached copy, said so.
    await context.route('**/scratch/weights.bpk', (route) => route.abort('internetdisconnected'));
    assert.deepEqual(await load('scratch/weights.bpk'), {
      precision: 'f16',
      cache: 'from cache (server unreachable, not revalidated)',
    });
    await context.unroute('**/scratch/weights.bpk');

    // A server without ETag/Last-Modified: a HEAD compares sizes.
    await context.route('**/scratch/plain.bpk', async (route) => {
      const response = await route.fetch();
      const headers = response.headers();
      delete headers['last-modified'];
      delete headers.etag;
      await route.fulfill({ response, headers });
    });
    assert.deepEqual(await load('scratch/plain.bpk'), { precision: 'f32', cache: 'cached' });
    assert.deepEqual(await load('scratch/plain.bpk'), { precision: 'f32', cache: 'from cache' });
    change(noValidators, half, 60);
    assert.equal((await load('scratch/plain.bpk')).precision, 'f16');
    assert.deepEqual(await seen('plain.bpk', 4), ['GET 200', 'HEAD 200', 'HEAD 200', 'GET 200']);

    const cleared = await page.evaluate(async () => ({
      first: await window.inctrl.InctrlDetector.clearCache(),
      second: await window.inctrl.InctrlDetector.clearCache(),
      left: await caches.has('inctrl-weights-v1'),
    }));
    assert.deepEqual(cleared, { first: true, second: false, left: false });
    assert.deepEqual(await load('scratch/weights.bpk'), { precision: 'f16', cache: 'cached' });
    assert.deepEqual(await seen('weights.bpk', 5), ['GET 200', 'GET 304', 'GET 200', 'GET 304', 'GET 200']);
  } finally {
    await context.close();
  }
});

test('precision f16: WebGPU without shader-f16 refuses it by name, auto falls back to the CPU in f16, weights are sniffed by the library', TIMEOUT, async () => {
  const { context, page } = await openApi();
  try {
    const out = await page.evaluate(async () => {
      const { InctrlDetector } = window.inctrl;
      const failure = async (run) => {
        try {
          await run();
          return null;
        } catch (error) {
          return error.message;
        }
      };
      const gpuRefusal = await failure(() => InctrlDetector.create({ backend: 'webgpu', precision: 'f16' }));
      const half = await InctrlDetector.create({ backend: 'auto', precision: 'f16' });
      await half.loadWeights('models/tiny.bpk');
      await half.setCategory('metal_nut');
      await half.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
      const queries = ['fixtures/images/local_defect.jpg', 'fixtures/images/global_defect.jpg'];
      const scores = (await half.score(queries)).map(({ name, score }) => ({ name, score }));
      const notWeights = await failure(() => half.loadWeights(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])));
      const stillLoaded = (await half.score(queries.slice(0, 1)))[0].score;
      const result = {
        gpuRefusal, notWeights, scores, stillLoaded,
        backend: half.backend, precision: half.precision, fallbackReason: half.fallbackReason,
        badPrecision: await failure(() => InctrlDetector.create({ backend: 'cpu', precision: 'f8' })),
      };
      half.dispose();
      return result;
    });
    assert.match(out.gpuRefusal ?? 'created', /f16/, 'webgpu + f16 must be refused on SwiftShader');
    assert.match(out.gpuRefusal, /shader-f16/);
    assert.equal(out.backend, 'cpu');
    assert.equal(out.precision, 'f16');
    assert.match(out.fallbackReason ?? '', /f16/);
    assert.match(out.notWeights ?? 'loaded', /unrecognised weights file/);
    assert.match(out.badPrecision ?? 'created', /unknown precision 'f8'/);
    const expected = expectedScores();
    assertScores(out.scores, expected, 2e-3);
    // Really computed in f16: not the f32 scores.
    assert.ok(out.scores.some(({ name, score }) => Math.abs(score - expected.get(name)) > 1e-6), 'f16 gave the f32 scores');
    assert.equal(out.stillLoaded, out.scores[0].score, 'a failed load keeps the weights');
  } finally {
    await context.close();
  }
});

test('a browser without relaxed SIMD gets the single-threaded module, says why, and scores as the threaded one', TIMEOUT, async () => {
  const { context, page } = await openApi();
  try {
    // The package's worker, started after a module that makes every wasm module
    // fail validation, as the relaxed-SIMD probe does in browsers without it.
    writeFileSync(join(site.root, 'no-wasm-validate.js'), 'WebAssembly.validate = () => false;\n');
    writeFileSync(join(site.root, 'no-relaxed-simd-worker.js'), "import './no-wasm-validate.js';\nimport './pkg/worker.js';\n");
    const out = await page.evaluate(async () => {
      const workerUrl = new URL('no-relaxed-simd-worker.js', location.href);
      const plain = await window.inctrl.InctrlDetector.create({ backend: 'cpu', workerUrl });
      const scores = async (d) => {
        await d.loadWeights('models/tiny.bpk');
        await d.setCategory('metal_nut');
        await d.setPrompts(['fixtures/images/nominal_a.jpg', 'fixtures/images/nominal_b.jpg']);
        return (await d.score(['fixtures/images/local_defect.jpg', 'fixtures/images/nominal_c.jpg'])).map((r) => r.score);
      };
      return {
        cores: navigator.hardwareConcurrency,
        plain: { threads: plain.threads, reason: plain.threadsReason, scores: await scores(plain) },
        threaded: { threads: detector.threads, reason: detector.threadsReason, scores: await scores(detector) },
      };
    });
    assert.ok(out.cores > 1, 'the test needs a machine with more than one core');
    assert.equal(out.threaded.threads, out.cores, 'Chromium has relaxed SIMD: the threaded module runs');
    assert.equal(out.threaded.reason, null);
    assert.equal(out.plain.threads, 1);
    assert.match(out.plain.reason, /lacks WebAssembly relaxed SIMD/);
    out.plain.scores.forEach((score, i) => {
      const diff = Math.abs(score - out.threaded.scores[i]);
      assert.ok(diff <= 1e-4, `query ${i}: single-threaded ${score} vs threaded ${out.threaded.scores[i]}`);
    });
  } finally {
    await context.close();
  }
});

// The demo page in headless chromium, on the CPU (WebAssembly: the threaded
// module on the cross-origin isolated test server, the single-threaded one
// without isolation) and WebGPU (SwiftShader) backends: scores equal the native
// CLI's, bad files show errors without breaking later work, a lost GPU is
// recovered on the CPU, and the page talks to nobody but its own origin, with
// GET requests only.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS, image, launchBrowser, nativeScores, openDemo, scoreThroughThePage, startServer, waitForResults,
} from './harness.mjs';

const QUERIES = ['nominal_c.jpg', 'nominal_d.jpg', 'local_defect.jpg', 'global_defect.jpg', 'gray_wide.png', 'rgba_tall.png', 'thin_strip.jpg'];
const TIMEOUT = { timeout: 600_000 };

let server;
let browser;
const expected = new Map();
const corrupt = join(ARTIFACTS, 'corrupt.jpg');
const garbage = join(ARTIFACTS, 'garbage.pyth');
const badBundle = join(ARTIFACTS, 'bad.bpk');

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  for (const result of nativeScores().results) expected.set(basename(result.image), result.score);
  const { readFileSync } = await import('node:fs');
  const jpeg = readFileSync(image('nominal_c.jpg'));
  writeFileSync(corrupt, jpeg.subarray(0, jpeg.length / 3));
  writeFileSync(garbage, Buffer.from('PK\u0003\u0004 this is not a checkpoint'));
  writeFileSync(badBundle, Buffer.concat([Buffer.from([0x4e, 0x52, 0x55, 0x42]), Buffer.alloc(64, 7)]));
});

after(async () => {
  await browser?.close();
  server?.stop();
});

async function errors(page) {
  return page.$$eval('#errors .error', (items) => items.map((item) => item.textContent));
}

async function scoresOnPage(page) {
  return page.$$eval('#results tr', (items) =>
    items.map((item) => ({ name: item.dataset.name, score: Number(item.dataset.score) })));
}


function assertScoresMatch(scores, tolerance) {
  for (const { name, score } of scores) {
    assert.ok(expected.has(name), `no native score for ${name}`);
    const diff = Math.abs(score - expected.get(name));
    assert.ok(diff <= tolerance, `${name}: page ${score} vs native ${expected.get(name)} (diff ${diff})`);
  }
}

function assertOnlyOwnOriginGets(requests, label, own = server) {
  const origin = new URL(own.url).origin;
  assert.ok(requests.length > 0, `${label}: no requests recorded`);
  for (const request of requests) {
    const url = new URL(request.url);
    if (url.protocol === 'blob:' || url.protocol === 'data:') continue;
    assert.equal(url.origin, origin, `${label}: request to another origin: ${request.url}`);
    assert.equal(request.method, 'GET', `${label}: ${request.method} ${request.url}`);
    assert.ok(!request.body || request.body.length === 0, `${label}: request with a body: ${request.url}`);
  }
}

for (const [backend, tolerance] of [['cpu', 1e-4], ['webgpu', 1e-3]]) {
  test(`demo on the ${backend} backend matches the native CLI`, TIMEOUT, async () => {
    const { context, page, requests } = await openDemo(browser, server.url, { backend, weights: 'models/tiny.bpk' });
    try {
      assert.equal(await page.getAttribute('#backend-badge', 'data-backend'), backend);
      const { threads, cores, isolated } = await page.evaluate(() => ({
        threads: window.inctrlDemo.detector.threads,
        cores: navigator.hardwareConcurrency,
        isolated: crossOriginIsolated,
      }));
      assert.ok(isolated, 'the test server makes the page cross-origin isolated');
      // The CPU runs on every core through the threaded module; WebGPU reports 1.
      assert.equal(threads, backend === 'cpu' ? cores : 1, `threads on ${backend}`);
      if (backend === 'cpu') {
        assert.match(await page.textContent('#backend-badge'), new RegExp(`^CPU, ${cores} threads?$`));
      }

      const queries = QUERIES.map(image);
      await scoreThroughThePage(page, [...queries.slice(0, 3), corrupt, ...queries.slice(3)], QUERIES.length);
      const scores = await scoresOnPage(page);
      assert.equal(scores.length, QUERIES.length, 'every readable query is scored');
      assertScoresMatch(scores, tolerance);
      const shown = await errors(page);
      assert.ok(shown.some((e) => e.includes('corrupt.jpg') && e.includes('corrupt or truncated JPEG')), `errors: ${shown}`);
      await page.screenshot({ path: join(ARTIFACTS, `demo-${backend}.png`), fullPage: true });

      // Wrong files as weights: visible errors, and the loaded model keeps working.
      await page.setInputFiles('#weights-file', garbage);
      await page.setInputFiles('#weights-file', badBundle);
      await page.waitForFunction(() => document.querySelectorAll('#errors .error').length >= 3, null, TIMEOUT);
      const weightErrors = (await errors(page)).slice(1).join('\n');
      assert.match(weightErrors, /not a readable PyTorch zip archive/);
      assert.match(weightErrors, /not a readable \.bpk bundle/);
      await page.setInputFiles('#query-files', [image('nominal_c.jpg')]);
      await waitForResults(page, QUERIES.length + 1);
      assertScoresMatch(await scoresOnPage(page), tolerance);

      const memory = await page.evaluate(() => window.inctrlDemo.detector.memoryBytes());
      console.log(`${backend}: wasm memory ${(memory / 2 ** 20).toFixed(0)} MiB`);
      assertOnlyOwnOriginGets(requests, backend);
      assert.ok(server.requests.every((r) => r.method === 'GET'), 'the server saw only GET requests');
    } finally {
      await context.close();
    }
  });
}

test('without cross-origin isolation the CPU backend runs single-threaded and says why', TIMEOUT, async () => {
  const plain = await startServer({ isolated: false });
  const { context, page, requests } = await openDemo(browser, plain.url, { backend: 'cpu', weights: 'models/tiny.bpk' });
  try {
    const state = await page.evaluate(() => ({
      isolated: crossOriginIsolated,
      threads: window.inctrlDemo.detector.threads,
      reason: window.inctrlDemo.detector.threadsReason,
    }));
    assert.equal(state.isolated, false);
    assert.equal(state.threads, 1);
    assert.match(state.reason, /not cross-origin isolated/);
    assert.equal(await page.textContent('#backend-badge'), 'CPU, 1 thread');
    const queries = ['local_defect.jpg', 'gray_wide.png'];
    await scoreThroughThePage(page, queries.map(image), queries.length);
    assertScoresMatch(await scoresOnPage(page), 1e-4);
    assertOnlyOwnOriginGets(requests, 'not isolated', plain);
  } finally {
    await context.close();
    plain.stop();
  }
});

test('a lost GPU device is reported and scoring continues on the CPU', TIMEOUT, async () => {
  const { context, page, requests } = await openDemo(browser, server.url, { backend: 'webgpu', weights: 'models/tiny.bpk' });
  try {
    await scoreThroughThePage(page, [image('local_defect.jpg')], 1);
    // A test hook behind a symbol: not part of the public API.
    await page.evaluate(() => window.inctrlDemo.detector[Symbol.for('inctrl-web.simulateDeviceLoss')]());
    await page.setInputFiles('#query-files', [image('global_defect.jpg')]);
    const recover = page.locator('#errors .error button', { hasText: 'Continue on the CPU' });
    await recover.waitFor(TIMEOUT);
    assert.match((await errors(page)).join('\n'), /GPU device was lost/);
    await recover.click();
    await page.waitForSelector('#backend-badge[data-backend="cpu"]', TIMEOUT);
    await page.setInputFiles('#query-files', [image('global_defect.jpg')]);
    await waitForResults(page, 2);
    const scores = await scoresOnPage(page);
    assert.deepEqual(scores.map((s) => s.name).sort(), ['global_defect.jpg', 'local_defect.jpg']);
    assertScoresMatch(scores, 1e-4);
    assertOnlyOwnOriginGets(requests, 'recovery');
  } finally {
    await context.close();
  }
});

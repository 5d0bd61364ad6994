// The GPU work of one warm query and one warm K=2 prompt set in the browser (WebGPU
// on SwiftShader, the tiny fixture model), counted inside the detector's worker by
// www/gpu-count-worker.js, which patches the WebGPU prototypes before it runs the
// package's worker unchanged. Once warm, nothing is compiled and the only traffic is
// the pixels up and the results down, in one round trip each.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apiSite, launchBrowser, openPage, startServer } from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
/** The model's input: 3 float32 channels of 240 × 240 (the tiny model's `image_size`, as at full size). */
const IMAGE_BYTES = 3 * 240 * 240 * 4;
/** A query's six results (score, patch max, text, image and holistic scores, the 15×15 map), float32. */
const RESULT_BYTES = (5 + 15 * 15) * 4;
/** What encoding a prompt set reads back to finish its work: the adapted mean feature, 640 float32. */
const PROMPT_SYNC_BYTES = 640 * 4;

let server;
let browser;
let context;
let page;

before(async () => {
  server = await startServer({ directory: apiSite('site-gpu-counts').root });
  browser = await launchBrowser();
  ({ context, page } = await openPage(browser, server.url, 'api.html'));
  const backend = await page.evaluate(async () => {
    const { countingWorker } = await import('./gpu-counts.js');
    window.counter = countingWorker();
    window.detector = await window.inctrl.InctrlDetector.create({ backend: 'webgpu', workerUrl: window.counter.workerUrl });
    await detector.loadWeights('models/tiny.bpk', { cache: false });
    await detector.setCategory('metal_nut');
    const bytes = async (path) => new Uint8Array(await (await fetch(path)).arrayBuffer());
    window.prompts = [await bytes('fixtures/images/nominal_a.jpg'), await bytes('fixtures/images/nominal_b.jpg')];
    window.query = await bytes('fixtures/images/local_defect.jpg');
    const start = performance.now();
    await detector.setPrompts(prompts); // warm-up: compiles the prompt path's shaders
    window.promptWarmupMs = Math.round(performance.now() - start);
    return detector.backend;
  });
  assert.equal(backend, 'webgpu', 'the detector must run on WebGPU');
});

after(async () => {
  await context?.close();
  await browser?.close();
  await server?.stop();
});

/**
 * What the worker's WebGPU calls were for one `what` ('prompts' or 'query') after
 * `warmups` runs; `ms`: the time of each run, the counted one last.
 */
async function count(what, warmups) {
  return page.evaluate(async ({ what, warmups }) => {
    const run = { prompts: () => detector.setPrompts(prompts), query: () => detector.score([query]) }[what];
    const ms = [];
    const timed = async () => {
      const start = performance.now();
      await run();
      ms.push(Math.round(performance.now() - start));
    };
    for (let i = 0; i < warmups; i += 1) await timed();
    return { ...(await counter.count(timed)), ms };
  }, { what, warmups });
}

function report(t, counts) {
  const { dispatches, submits, uploads, uploadBytes, readbacks, readbackRounds, copyBytes, pipelines, buffers, ms } = counts;
  t.diagnostic(JSON.stringify({ dispatches, submits, uploads, uploadBytes, readbacks, readbackRounds, copyBytes, pipelines, buffers, ms }));
}

test('a warm K=2 prompt set uploads its two images once, reads back once and compiles nothing', TIMEOUT, async (t) => {
  const counts = await count('prompts', 0); // warmed up in before()
  counts.ms.unshift(await page.evaluate(() => promptWarmupMs));
  report(t, counts);
  assert.ok(counts.dispatches > 0, 'no compute dispatch seen: is the shim counting the module\'s calls?');
  assert.equal(counts.indirectDispatches, 0, 'indirect dispatches');
  // The two images' pixels, as one tensor; nothing else (no shader parameters left to upload).
  assert.deepEqual(counts.uploadSizes, [2 * IMAGE_BYTES], 'host -> device uploads (bytes each)');
  assert.equal(counts.writeMaps, 0, 'uploads through mapped staging buffers');
  assert.equal(counts.buffersMappedAtCreation, 0, 'uploads through buffers mapped at creation');
  // One readback, of the value that finishes the work.
  assert.equal(counts.readbacks, 1, 'device -> host mappings');
  assert.equal(counts.readbackRounds, 1, 'device -> host round trips');
  assert.equal(counts.copies, 1, 'copies to staging buffers');
  assert.equal(counts.copyBytes, PROMPT_SYNC_BYTES, 'bytes copied to staging buffers');
  assert.equal(counts.pipelines, 0, 'pipelines created (shader compiles) on a warm prompt set');
  assert.equal(counts.shaderModules, 0, 'shader modules created on a warm prompt set');
});

test('a warm query uploads only its image, reads its six results back in one round trip and compiles nothing', TIMEOUT, async (t) => {
  const counts = await count('query', 1);
  report(t, counts);
  assert.ok(counts.dispatches > 0, 'no compute dispatch seen: is the shim counting the module\'s calls?');
  // Attention runs as Burn's unit flash kernel, one dispatch per block (src/ops/mod.rs). Burn's
  // default without autotune, ten kernels per block plus copies of q, kᵀ and v, made 811.
  assert.ok(counts.dispatches <= 650, `dispatches per warm query: ${counts.dispatches} (607 measured with flash attention)`);
  assert.equal(counts.indirectDispatches, 0, 'indirect dispatches');
  assert.deepEqual(counts.uploadSizes, [IMAGE_BYTES], 'host -> device uploads (bytes each)');
  assert.equal(counts.writeMaps, 0, 'uploads through mapped staging buffers');
  assert.equal(counts.buffersMappedAtCreation, 0, 'uploads through buffers mapped at creation');
  // One transaction: each result is copied to its own staging buffer and all six are
  // mapped together after one submit, so the query waits on the device once.
  assert.equal(counts.readbackRounds, 1, 'device -> host round trips');
  assert.equal(counts.readbacks, 6, 'device -> host mappings (one per result)');
  assert.equal(counts.mapsInFlightPeak, 6, 'mappings pending at once');
  assert.equal(counts.copies, 6, 'copies to staging buffers');
  assert.equal(counts.copyBytes, RESULT_BYTES, 'bytes copied to staging buffers (the results)');
  assert.equal(counts.pipelines, 0, 'pipelines created (shader compiles) on a warm query');
  assert.equal(counts.shaderModules, 0, 'shader modules created on a warm query');
});

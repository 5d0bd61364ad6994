// The benchmark page (www/bench.html, run at full size by tools/bench-browser.mjs)
// keeps working: with the tiny model on each backend it reports every
// measurement, the backend it ran on and the wasm memory. No timing is asserted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, startServer } from './harness.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

for (const backend of ['cpu', 'webgpu']) {
  test(`bench page measures on ${backend}`, { timeout: 300_000 }, async () => {
    const page = await browser.newPage();
    const query = new URLSearchParams({ weights: 'models/tiny.bpk', backend, k: '2', runs: '2' });
    await page.goto(`${server.url}bench.html?${query}`);
    const result = await page.evaluate(() => window.inctrlBench.done);
    assert.equal(result.backend, backend);
    assert.ok(result.threads >= 1 && (backend === 'cpu' || result.threads === 1), `threads ${result.threads}`);
    assert.deepEqual(
      result.rows.map((row) => row.what),
      ['prompt set K=2', 'query (warm)'],
    );
    for (const row of result.rows) {
      assert.equal(row.times.length, 2, row.what);
      assert.ok(row.times.every((ms) => ms > 0), row.what);
      assert.ok(row.medianMs >= Math.min(...row.times) && row.medianMs <= Math.max(...row.times), row.what);
    }
    assert.ok(result.queryWorkerMs > 0);
    assert.ok(result.memoryBytes > 0 && result.memoryBytes < 2 ** 30, `wasm memory ${result.memoryBytes}`);
    assert.equal(await page.locator('#bench-table tbody tr').count(), 2);
    await page.close();
  });
}

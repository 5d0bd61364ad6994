// Offline use: after one visit the demo's service worker (www/sw.js) has cached the
// page, the package and both WebAssembly modules, and the package has cached the
// weights, so with the network gone the page reloads and scores as the CLI does, on
// every CPU thread. A new version replaces the cache cleanly: a changed page is stored
// over the old one, and a new service-worker version fills a new cache and deletes the
// old. "Offline" is context.setOffline(true) and the server stopped as well: Playwright's
// offline mode does not reach service workers (microsoft/playwright#2311).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS, ROOT, image, launchBrowser, nativeScores, openDemo, promptThroughThePage, startServer, waitForResults,
} from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
/** The site: www/ linked, but the page and the service worker copied, so that the test can change them. */
const SITE = join(ARTIFACTS, 'offline-site');

let server;
let browser;

before(async () => {
  rmSync(SITE, { recursive: true, force: true });
  mkdirSync(SITE, { recursive: true });
  for (const entry of readdirSync(join(ROOT, 'www'))) {
    if (entry === 'index.html' || entry === 'sw.js') copyFileSync(join(ROOT, 'www', entry), join(SITE, entry));
    else if (!existsSync(join(SITE, entry))) symlinkSync(join(ROOT, 'www', entry), join(SITE, entry));
  }
  server = await startServer({ directory: SITE });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** Replaces `from` by `to` in the site's copy of `file`. */
function edit(file, from, to) {
  const path = join(SITE, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} has no ${from}`);
  writeFileSync(path, text.replace(from, to));
}

/** The Cache API caches of the page's origin, by name: the number of entries each. */
async function caches(page) {
  return page.evaluate(async () => Object.fromEntries(await Promise.all((await window.caches.keys()).sort()
    .map(async (name) => [name, (await (await window.caches.open(name)).keys()).length]))));
}

/** No network: the page's and its workers' requests fail, and nothing listens on the server's port. */
async function goOffline(context) {
  await context.setOffline(true);
  await server.stop();
}

/** The network back: the server again on its port (the origin, and so its caches, stay the same). */
async function goOnline(context) {
  server = await startServer({ directory: SITE, port: new URL(server.url).port });
  await context.setOffline(false);
}

/** Reloads the page and waits for the detector and the weights (from whatever answers). */
async function reload(page) {
  await page.reload();
  await page.evaluate(() => window.inctrlDemo.ready);
  await page.waitForSelector('#model-info[data-loaded="true"]', TIMEOUT);
}

test('after one visit the demo loads and scores offline; a new version replaces the cache', TIMEOUT, async () => {
  const { context, page, consoleErrors } = await openDemo(browser, server.url, { backend: 'cpu', weights: 'models/tiny.bpk' });
  const expected = new Map(nativeScores().results.map((r) => [basename(r.image), r.score]));
  try {
    // The first visit: the service worker installs (caching the shell) and takes control.
    await page.evaluate(() => window.inctrlDemo.offline);
    assert.equal(await page.getAttribute('#offline-status', 'data-ready'), 'true');
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, TIMEOUT);
    const online = await caches(page);
    // The shell (page, scripts, style, package, both modules, the thread pool's snippet) and the weights.
    assert.ok(online['inctrl-demo-v1'] >= 12, JSON.stringify(online));
    assert.equal(online['inctrl-weights-v1'], 1, JSON.stringify(online));
    await page.waitForSelector('#model-info[data-loaded="true"]', TIMEOUT);

    await goOffline(context);
    await reload(page);
    assert.match(await page.textContent('#model-info'), /from cache \(server unreachable, not revalidated\)/);
    const { threads, cores } = await page.evaluate(() => ({
      threads: window.inctrlDemo.detector.threads,
      cores: navigator.hardwareConcurrency,
    }));
    assert.equal(threads, cores, 'the threaded CPU module starts offline too');
    await promptThroughThePage(page);
    const queries = ['local_defect.jpg', 'gray_wide.png'];
    await page.setInputFiles('#query-files', queries.map(image));
    await waitForResults(page, queries.length);
    const scores = await page.$$eval('#results tr', (rows) => rows.map((row) => [row.dataset.name, Number(row.dataset.score)]));
    assert.equal(scores.length, queries.length);
    for (const [name, score] of scores) {
      assert.ok(Math.abs(score - expected.get(name)) <= 1e-4, `${name}: offline ${score} vs native ${expected.get(name)}`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'offline-scored.png'), fullPage: true });

    // A new version of the page: stored over the old one on the next visit online.
    edit('index.html', '<title>', '<meta name="inctrl-test-version" content="2">\n  <title>');
    await goOnline(context);
    await reload(page);
    await goOffline(context);
    await reload(page);
    assert.equal(await page.getAttribute('meta[name="inctrl-test-version"]', 'content'), '2', 'the new page, offline');

    // A new service-worker version: a new cache, the old one deleted, the weights kept.
    edit('sw.js', 'const VERSION = 1;', 'const VERSION = 2;');
    await goOnline(context);
    await reload(page);
    let replaced = await caches(page);
    for (let tries = 0; 'inctrl-demo-v1' in replaced && tries < 600; tries += 1) {
      await page.waitForTimeout(100);
      replaced = await caches(page);
    }
    assert.deepEqual(Object.keys(replaced), ['inctrl-demo-v2', 'inctrl-weights-v1']);
    assert.equal(replaced['inctrl-demo-v2'], online['inctrl-demo-v1']);
    await goOffline(context);
    await reload(page);
    assert.equal(await page.getAttribute('meta[name="inctrl-test-version"]', 'content'), '2');
    assert.deepEqual(consoleErrors.filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(e)), []);
  } finally {
    await context.close();
  }
});

// Shared pieces of the browser tests: the static server, Debian's chromium
// driven by playwright-core, and the fixtures.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { chromium } = require(join(root, 'tools/node_modules/playwright-core'));

export const ROOT = root;
export const FIXTURES = resolve(root, '../shared/fixtures/tiny');
export const ARTIFACTS = join(root, 'test-artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

/** Chromium flags: WebGPU on SwiftShader, no sandbox (root), no background traffic. */
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function image(name) {
  return join(FIXTURES, 'images', name);
}

/**
 * Serves `directory` (default www/) on `port` (default: a free one), cross-origin isolated
 * unless `isolated` is false; records every request the server answers: {method, path,
 * status}. `stop()` resolves once the server has exited.
 */
export async function startServer({ isolated = true, directory = join(root, 'www'), port = 0 } = {}) {
  const args = [join(root, 'tools/serve.py'), directory, String(port), ...(isolated ? [] : ['--no-isolation'])];
  const server = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const requests = [];
  server.stderr.on('data', (chunk) => {
    for (const line of String(chunk).split('\n')) {
      const match = /"(\w+) (\S+) HTTP\/[\d.]+" (\d+)/.exec(line);
      if (match) requests.push({ method: match[1], path: match[2], status: Number(match[3]) });
    }
  });
  const url = await new Promise((resolveUrl, reject) => {
    server.stdout.on('data', (chunk) => {
      const match = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(String(chunk));
      if (match) resolveUrl(match[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const exited = new Promise((resolveExit) => server.on('exit', resolveExit));
  return { url, requests, stop: () => { server.kill(); return exited; } };
}

/** Chromium's fake camera (a moving test pattern), granted without asking. */
export const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

export async function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/**
 * Opens the demo and records every request the page and its worker make. `options`
 * go to the browser context (e.g. `bypassCSP` to inject test scripts); `init` runs in
 * the page before its own scripts.
 */
export async function openDemo(browser, baseUrl, query, { init, ...options } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, ...options });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const requests = [];
  context.on('request', (request) => {
    requests.push({ method: request.method(), url: request.url(), body: request.postDataBuffer() });
  });
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  await page.goto(`${baseUrl}?${new URLSearchParams(query)}`);
  await page.evaluate(() => window.inctrlDemo.ready);
  return { context, page, requests, consoleErrors };
}

/**
 * Scores the native CLI printed for the same images (`inctrl score`, JSON), written
 * by test.sh: `target/browser-expected.json`, or `target/browser-expected-<name>.json`.
 */
export function nativeScores(name) {
  const file = name ? `browser-expected-${name}.json` : 'browser-expected.json';
  return JSON.parse(readFileSync(join(root, 'target', file), 'utf8'));
}

/**
 * A site for the API tests in test-artifacts/<name> (default `site`): www/ (linked), the
 * tiny fixtures under fixtures/, a writable scratch/ folder, and api.html, a blank page
 * that exposes the package as `window.inctrl` (the module namespace of pkg/detector.js).
 */
export function apiSite(name = 'site') {
  const site = join(ARTIFACTS, name);
  rmSync(site, { recursive: true, force: true });
  mkdirSync(join(site, 'scratch'), { recursive: true });
  for (const entry of readdirSync(join(root, 'www'))) {
    if (!existsSync(join(site, entry))) symlinkSync(join(root, 'www', entry), join(site, entry));
  }
  symlinkSync(FIXTURES, join(site, 'fixtures'));
  writeFileSync(join(site, 'api.html'), '<!doctype html><meta charset="utf-8"><title>api</title><link rel="icon" href="data:,"><script type="module" src="api.js"></script>\n');
  writeFileSync(
    join(site, 'api.js'),
    "import * as inctrl from './pkg/detector.js';\nwindow.inctrl = inctrl;\nwindow.inctrlReady = true;\n",
  );
  return { root: site, scratch: join(site, 'scratch') };
}

/** Opens `path` on `baseUrl` in a fresh context (empty caches); records the page's and worker's requests. */
export async function openPage(browser, baseUrl, path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  context.on('request', (request) => requests.push({ method: request.method(), url: request.url() }));
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`page console: ${message.text()}`);
  });
  await page.goto(new URL(path, baseUrl).href);
  await page.waitForFunction(() => window.inctrlReady === true);
  return { context, page, requests };
}

const WAIT = { timeout: 300_000 };

/** Waits until the demo shows `count` results, none being scored. */
export async function waitForResults(page, count) {
  await page.waitForFunction(
    (n) => document.querySelectorAll('#results tr').length >= n && !/Scoring/.test(document.getElementById('score-progress').textContent),
    count,
    WAIT,
  );
}

/** Through the demo's own controls (weights loading): category metal_nut, normal examples a and b. */
export async function promptThroughThePage(page) {
  await page.waitForSelector('#model-info[data-loaded="true"]', WAIT);
  await page.fill('#category', 'metal_nut');
  await page.click('#category-button');
  await page.waitForSelector('#category-info[data-category="metal_nut"]', WAIT);
  await page.setInputFiles('#prompt-files', [image('nominal_a.jpg'), image('nominal_b.jpg')]);
  await page.waitForFunction(() => document.getElementById('k-badge').textContent === 'K = 2', null, WAIT);
}

/** Category, prompts and queries through the page's own controls; waits for `scored` results. */
export async function scoreThroughThePage(page, queries, scored) {
  await promptThroughThePage(page);
  await page.setInputFiles('#query-files', queries);
  await waitForResults(page, scored);
}

/** Moves the demo's threshold slider to `value` as a person dragging it would. */
export async function setSlider(page, value) {
  await page.evaluate((v) => {
    const range = document.getElementById('threshold');
    range.value = String(v);
    range.dispatchEvent(new Event('input'));
  }, value);
}

/** `[width, height]` of a PNG file's bytes (its IHDR chunk), after checking its signature. */
export function pngSize(bytes) {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!bytes.subarray(0, 8).equals(signature) || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('not a PNG file');
  }
  return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
}

/** The file a click on `selector` downloads: `{name, bytes}`. */
export async function downloadOf(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click(selector)]);
  return { name: download.suggestedFilename(), bytes: readFileSync(await download.path()) };
}

/**
 * The serious and critical accessibility violations axe-core (tools/node_modules) finds
 * in the page, one line each. The page's CSP forbids injected scripts: open it in a
 * context with `bypassCSP`.
 */
export async function axeViolations(page) {
  await page.addScriptTag({ path: join(root, 'tools/node_modules/axe-core/axe.min.js') });
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`));
  return violations;
}

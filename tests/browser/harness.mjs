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
 * Serves `directory` (default www/) on a free port, cross-origin isolated unless
 * `isolated` is false; records every request the server answers: {method, path, status}.
 */
export async function startServer({ isolated = true, directory = join(root, 'www') } = {}) {
  const args = [join(root, 'tools/serve.py'), directory, '0', ...(isolated ? [] : ['--no-isolation'])];
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
  return { url, requests, stop: () => server.kill() };
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

/** Opens the demo and records every request the page and its worker make. */
export async function openDemo(browser, baseUrl, query) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
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
 * A site for the API tests in test-artifacts/site: www/ (linked), the tiny fixtures
 * under fixtures/, a writable scratch/ folder, and api.html, a blank page that
 * exposes the package as `window.inctrl` (the module namespace of pkg/detector.js).
 */
export function apiSite() {
  const site = join(ARTIFACTS, 'site');
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

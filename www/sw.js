// The demo's service worker: after one visit the page, the package and its
// WebAssembly modules load with no network. The weights are not its business: the
// package keeps them in its own Cache API store ('inctrl-weights-v1'), which this
// worker never touches.
//
// Online, every file is fetched as usual (the HTTP cache revalidates it with the
// server) and the stored copy replaced when the server's changed; offline, the stored
// copy answers. Each page load also refreshes the files it did not ask for (the other
// backend's module), so what is stored is always one version of the whole. A new
// storage scheme gets a new VERSION: the new worker fills a new cache and deletes the
// old ones when it takes over.

const VERSION = 1;
const PREFIX = 'inctrl-demo-';
const CACHE = `${PREFIX}v${VERSION}`;

/** The app shell, relative to this file; the static imports of its scripts are added (e.g. pkg/snippets/). */
const SHELL = [
  './',
  'app.js',
  'camera.js',
  'export.js',
  'heatmap.js',
  'style.css',
  'pkg/detector.js',
  'pkg/worker.js',
  'pkg/inctrl.js',
  'pkg/inctrl_bg.wasm',
  'pkg/inctrl_threads.js',
  'pkg/inctrl_threads_bg.wasm',
];

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(dropOldCaches().then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const key = shellKey(request);
  if (!key) return; // not ours (weights, images): the network as usual
  event.respondWith(networkFirst(request, key));
  // A page load refreshes the rest of the shell in the background.
  if (request.mode === 'navigate') event.waitUntil(refreshShell(key));
});

/** Stores the whole shell, fresh from the server (an install fails if any file cannot be had). */
async function precache() {
  const cache = await caches.open(CACHE);
  for (const url of await shellUrls()) {
    const response = await fetch(url, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    await cache.put(url, response);
  }
}

/** Every cache of an earlier version of this worker; the package's weights cache stays. */
async function dropOldCaches() {
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name.startsWith(PREFIX) && name !== CACHE).map((name) => caches.delete(name)));
}

/** The shell's absolute URLs: SHELL, plus what its scripts import statically, recursively. */
async function shellUrls() {
  const urls = new Set(SHELL.map((path) => new URL(path, self.registration.scope).href));
  for (const url of urls) {
    if (!url.endsWith('.js')) continue;
    const source = await (await fetch(url, { cache: 'no-cache' })).text();
    for (const [, path] of source.matchAll(/^\s*import\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      urls.add(new URL(path, url).href);
    }
  }
  return [...urls];
}

/** The cache key of a shell request (its URL without the query string; the page's is the scope), or null. */
function shellKey(request) {
  if (request.method !== 'GET') return null;
  const url = new URL(request.url);
  url.search = '';
  const scope = self.registration.scope;
  if (url.href === new URL('index.html', scope).href) return scope;
  const shell = SHELL.some((path) => new URL(path, scope).href === url.href);
  return shell || url.href.startsWith(new URL('pkg/snippets/', scope).href) ? url.href : null;
}

/** The server's response (stored if it changed), or the stored copy when the server cannot be reached. */
async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await keep(cache, key, response);
    return response;
  } catch (error) {
    const stored = await cache.match(key);
    if (stored) return stored;
    throw error;
  }
}

/** Stores a copy of `response` unless the stored one has the same validators (then it is the same file). */
async function keep(cache, key, response) {
  const stored = await cache.match(key);
  if (stored && sameFile(stored, response)) return;
  await cache.put(key, response.clone());
}

/** Same validators (an ETag or a modification time, and the size): the same file. Without validators, never. */
function sameFile(a, b) {
  const validated = ['ETag', 'Last-Modified'].some((name) => a.headers.get(name) !== null);
  return validated && ['ETag', 'Last-Modified', 'Content-Length'].every((name) => a.headers.get(name) === b.headers.get(name));
}

/** Brings every stored shell file but `except` up to date with the server; offline, keeps them. */
async function refreshShell(except) {
  const cache = await caches.open(CACHE);
  try {
    for (const url of await shellUrls()) {
      if (url === except) continue;
      const response = await fetch(url);
      if (response.ok) await keep(cache, url, response);
      await response.body?.cancel().catch(() => {});
    }
  } catch {
    // Offline: the stored copies stay as they are.
  }
}

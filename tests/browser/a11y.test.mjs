// Accessibility and small screens: every control of the demo is reached with Tab and
// shows where the focus is; the file pickers inside the drop zones included; the
// heat-map colour legend gives its range; the layout fits 390 px without sideways
// scrolling; and axe-core (tools/node_modules) finds no serious or critical violation,
// with results shown and with the camera running, at 1280 and 390 px. Screenshots of
// both widths go to test-artifacts/.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { ARTIFACTS, FAKE_CAMERA, axeViolations, image, launchBrowser, openDemo, scoreThroughThePage, startServer } from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
const WIDTHS = [1280, 390];

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser(FAKE_CAMERA);
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/**
 * Tabs through the whole page from the top: per stop, the focused element's id (or
 * its text) and whether a focus indicator shows (an outline on it, or on the drop zone
 * around a file input).
 */
async function tabStops(page) {
  // A click on the page's top corner starts the Tab order from the top.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.mouse.click(1, 1);
  const stops = [];
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    const stop = await page.evaluate(() => {
      const element = document.activeElement;
      if (!element || element === document.body) return null;
      const shown = (e) => {
        const style = getComputedStyle(e);
        return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
      };
      const zone = element.closest('.dropzone');
      return {
        name: element.id || element.getAttribute('aria-label') || element.textContent.trim(),
        visible: shown(element) || (zone !== null && shown(zone)),
      };
    });
    // Past the last control the focus leaves the page (or wraps to the first).
    if (!stop || stop.name === stops[0]?.name) break;
    stops.push(stop);
  }
  return stops;
}

/** Whether the page scrolls sideways at its current width. */
async function overflows(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

test('keyboard, focus, legend, 390 px layout and axe-core on the demo with results and with the camera', TIMEOUT, async () => {
  // axe's script is injected into the page, which the page's CSP would refuse.
  const { context, page, consoleErrors } = await openDemo(browser, server.url, { backend: 'cpu', weights: 'models/tiny.bpk' }, {
    bypassCSP: true,
  });
  try {
    await scoreThroughThePage(page, ['local_defect.jpg', 'gray_wide.png'].map(image), 2);

    const stops = await tabStops(page);
    const names = stops.map((s) => s.name);
    for (const id of ['weights-url', 'weights-file', 'clear-cache', 'category', 'prompt-files', 'normal-files', 'false-alarm',
      'calibrate-button', 'threshold', 'tab-images', 'query-files', 'export-csv', 'export-json', 'clear-results']) {
      assert.ok(names.includes(id), `${id} is reached with Tab (stops: ${names.join(', ')})`);
    }
    assert.ok(names.includes('Score'), 'the score column sorts from the keyboard');
    assert.ok(names.includes('Download local_defect.jpg with its anomaly map as PNG'));
    const hidden = stops.filter((s) => !s.visible).map((s) => s.name);
    assert.deepEqual(hidden, [], 'every focused control shows a focus indicator');

    // The legend gives the colour scale's range.
    const legend = [await page.textContent('#legend-low'), await page.textContent('#legend-high')];
    assert.ok(legend.every((value) => /^\d\.\d{3}$/.test(value)) && Number(legend[0]) < Number(legend[1]), `legend ${legend}`);

    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      assert.equal(await overflows(page), false, `no sideways scrolling at ${width} px`);
      await page.screenshot({ path: join(ARTIFACTS, `a11y-results-${width}.png`), fullPage: true });
      assert.deepEqual(await axeViolations(page), [], `axe at ${width} px, results`);
    }

    // The camera tab, running.
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.click('#tab-camera');
    await page.click('#camera-start');
    await page.click('#camera-capture');
    await page.waitForFunction(() => Number(document.getElementById('camera-stage').dataset.frames) >= 2, null, TIMEOUT);
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      assert.equal(await overflows(page), false, `no sideways scrolling at ${width} px, camera`);
      await page.screenshot({ path: join(ARTIFACTS, `a11y-camera-${width}.png`), fullPage: true });
      assert.deepEqual(await axeViolations(page), [], `axe at ${width} px, camera`);
    }
    await page.click('#camera-stop');
    assert.deepEqual(consoleErrors, []);
  } finally {
    await context.close();
  }
});

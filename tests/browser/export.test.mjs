// Results that leave only when asked: the demo's results table sorts by score (from
// the keyboard too) and counts the results above the threshold; "Export CSV" and
// "Export JSON" download files made in the page that hold exactly the page's results
// (patch maps in the JSON), a result's "PNG" downloads its picture with the map at the
// image's size, and "Clear results" empties the session. Nothing is sent anywhere.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  ARTIFACTS, downloadOf, image, launchBrowser, openDemo, pngSize, scoreThroughThePage, setSlider, startServer,
} from './harness.mjs';

const TIMEOUT = { timeout: 300_000 };
/** A name that CSV must quote: a comma and a double quote. */
const ODD_NAME = 'odd, "quoted" name.jpg';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  copyFileSync(image('global_defect.jpg'), join(ARTIFACTS, ODD_NAME));
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** RFC 4180 CSV: rows of fields (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      rows.push([...row, field.replace(/\r$/, '')]);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  assert.equal(`${row.join(',')}${field}`, '', 'the CSV ends with a line break');
  return rows;
}

/** The table's rows as shown: `[name, score]`, top to bottom. */
async function tableOrder(page) {
  return page.$$eval('#results tr', (rows) => rows.map((row) => [row.dataset.name, Number(row.dataset.score)]));
}

test('results table sorts and counts; CSV, JSON and PNG downloads hold the page\'s results; clear empties it', TIMEOUT, async () => {
  const { context, page, requests, consoleErrors } = await openDemo(browser, server.url, { backend: 'cpu', weights: 'models/tiny.bpk' });
  try {
    const files = [image('local_defect.jpg'), join(ARTIFACTS, ODD_NAME), image('nominal_c.jpg'), image('gray_wide.png')];
    await scoreThroughThePage(page, files, files.length);
    const results = await page.evaluate(() => window.inctrlDemo.results.map(({ name, score, patchMax, textScore, imageScore, holisticScore, backend, threads, ms, patchMap, anomalyMap }) => ({
      name, score, patchMax, textScore, imageScore, holisticScore, backend, threads, ms, patchMap: Array.from(patchMap), size: [anomalyMap.width, anomalyMap.height],
    })));
    assert.equal(results.length, files.length);

    // Sorted by score, highest first; the header's button sorts, from the keyboard too.
    const byScore = [...results].sort((a, b) => b.score - a.score).map((r) => [r.name, r.score]);
    assert.deepEqual(await tableOrder(page), byScore);
    assert.equal(await page.getAttribute('th:has(button[data-sort="score"])', 'aria-sort'), 'descending');
    await page.focus('button[data-sort="score"]');
    await page.keyboard.press('Enter');
    assert.deepEqual(await tableOrder(page), [...byScore].reverse());
    assert.equal(await page.getAttribute('th:has(button[data-sort="score"])', 'aria-sort'), 'ascending');
    await page.click('button[data-sort="order"]');
    assert.deepEqual(await tableOrder(page), results.map((r) => [r.name, r.score]));
    assert.equal(await page.getAttribute('th:has(button[data-sort="score"])', 'aria-sort'), 'none');
    await page.click('button[data-sort="score"]');
    assert.deepEqual(await tableOrder(page), byScore);

    // A threshold between the scores: the count above it follows.
    await setSlider(page, (byScore[1][1] + byScore[2][1]) / 2);
    // The slider keeps about 15 digits: the page's threshold is what it kept.
    const threshold = await page.evaluate(() => window.inctrlDemo.threshold);
    const above = results.filter((r) => Math.fround(r.score) > Math.fround(threshold)).length;
    assert.equal(above, 2);
    assert.equal(await page.getAttribute('#results-summary', 'data-above'), String(above));
    assert.equal(await page.textContent('#results-summary'), `4 scored, 2 above the threshold ${threshold.toFixed(4)}`);
    await page.locator('#inspect-panel').screenshot({ path: join(ARTIFACTS, 'export-table.png') });

    const before = requests.length;
    const csv = await downloadOf(page, '#export-csv');
    assert.match(csv.name, /^inctrl-results-\d{8}-\d{6}\.csv$/);
    const [header, ...rows] = parseCsv(csv.bytes.toString('utf8'));
    assert.deepEqual(header, ['name', 'score', 'label', 'threshold', 'patch_max', 'text_score', 'image_score', 'holistic_score', 'backend', 'threads', 'ms']);
    assert.deepEqual(rows, results.map((r) => [
      r.name, r.score, Math.fround(r.score) > Math.fround(threshold) ? 'anomalous' : 'normal', threshold,
      r.patchMax, r.textScore, r.imageScore, r.holisticScore, r.backend, r.threads, r.ms,
    ].map(String)), 'the CSV holds the page\'s results, numbers in full');
    assert.ok(rows.some((row) => row[0] === ODD_NAME));
    assert.equal(rows.filter((row) => row[2] === 'anomalous').length, above);

    const json = await downloadOf(page, '#export-json');
    assert.match(json.name, /^inctrl-results-\d{8}-\d{6}\.json$/);
    const session = JSON.parse(json.bytes.toString('utf8'));
    assert.equal(session.threshold, threshold);
    assert.equal(session.category, 'metal_nut');
    assert.deepEqual(session.prompts, ['nominal_a.jpg', 'nominal_b.jpg']);
    assert.deepEqual(session.results.map(({ name, score, patchMax, textScore, imageScore, holisticScore, backend, threads, ms, patchMap, width, height }) => ({
      name, score, patchMax, textScore, imageScore, holisticScore, backend, threads, ms, patchMap, size: [width, height],
    })), results);
    assert.ok(session.results.every((r) => r.patchMap.length === 225));

    const png = await downloadOf(page, '#results tr[data-name="gray_wide.png"] button');
    assert.equal(png.name, 'gray_wide-anomaly-map.png');
    assert.deepEqual(pngSize(png.bytes), [320, 200], 'the picture at the image\'s own size');

    // Nothing left the page: no request at all while exporting, but blob: downloads.
    const sent = requests.slice(before).filter((r) => !r.url.startsWith('blob:'));
    assert.deepEqual(sent.map((r) => `${r.method} ${r.url}`), []);

    await page.click('#clear-results');
    assert.equal(await page.locator('#results tr').count(), 0);
    assert.equal(await page.textContent('#results-summary'), 'No results yet.');
    assert.equal(await page.evaluate(() => window.inctrlDemo.results.length), 0);
    for (const id of ['#export-csv', '#export-json', '#clear-results']) assert.equal(await page.isDisabled(id), true, id);
    // New results are numbered on from the session's count.
    await page.setInputFiles('#query-files', [image('nominal_d.jpg')]);
    await page.waitForSelector('#results tr[data-name="nominal_d.jpg"]', TIMEOUT);
    assert.equal(await page.textContent('#results tr td[data-label="#"]'), '5');
    assert.deepEqual(consoleErrors, []);
  } finally {
    await context.close();
  }
});

// The session's results as files, made in the page and handed to the browser's
// download (a Blob): nothing is uploaded anywhere.

/** The CSV columns, in order. */
const COLUMNS = ['name', 'score', 'label', 'threshold', 'patch_max', 'text_score', 'image_score', 'holistic_score', 'backend', 'threads', 'ms'];

/** `anomalous` when the score is above the threshold, compared in f32 as the detector does. */
export function label(score, threshold) {
  return Math.fround(score) > Math.fround(threshold) ? 'anomalous' : 'normal';
}

/** One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
function field(value) {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The results as CSV, one row each in the order scored: numbers in full (the shortest
 * text that reads back as the same number), `label` against `threshold`.
 */
export function resultsCsv(results, threshold) {
  const rows = results.map((r) => [
    r.name, r.score, label(r.score, threshold), threshold, r.patchMax, r.textScore, r.imageScore, r.holisticScore,
    r.backend, r.threads, r.ms,
  ]);
  return [COLUMNS, ...rows].map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}

/** The session as JSON: the settings, and every result with its 15×15 patch map (row-major). */
export function resultsJson(results, { threshold, category, prompts }) {
  return JSON.stringify({
    exported: new Date().toISOString(),
    category,
    prompts,
    threshold,
    results: results.map((r) => ({
      name: r.name,
      score: r.score,
      label: label(r.score, threshold),
      patchMax: r.patchMax,
      textScore: r.textScore,
      imageScore: r.imageScore,
      holisticScore: r.holisticScore,
      backend: r.backend,
      threads: r.threads,
      ms: r.ms,
      width: r.anomalyMap.width,
      height: r.anomalyMap.height,
      patchMap: Array.from(r.patchMap),
    })),
  }, null, 1);
}

/** `20250131-154502`: a file-name stamp for now, in local time. */
export function stamp(date = new Date()) {
  const two = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}-` +
    `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

/** Hands `blob` to the browser's download as `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // The download reads the URL after this task: revoke it later, not now.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// Anomaly maps as colours, shared by the results table, its PNG export and the camera view.

/** The colour scale, low to high: dark blue → cyan → yellow → red (the legend's CSS ramp too). */
const STOPS = [[30, 40, 140], [20, 170, 200], [250, 220, 60], [220, 40, 40]];

/** The colour of `t` in [0, 1] on the scale. */
export function heatColor(t) {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  return STOPS[i].map((c, k) => Math.round(c + f * (STOPS[i + 1][k] - c)));
}

/** `[low, high]` over the patch maps of `results` (Infinity, -Infinity for none). */
export function patchRange(results) {
  let low = Infinity;
  let high = -Infinity;
  for (const { patchMap } of results) {
    for (const value of patchMap) {
      if (value < low) low = value;
      if (value > high) high = value;
    }
  }
  return [low, high];
}

/**
 * A `w × h` overlay of a full-size anomaly map (`{width, height, data}`), sampled at
 * the overlay's resolution (the map is smooth): heat colours from `low` to `high`,
 * half transparent, and grey hatching where the model saw nothing (NaN: cut by its
 * centre crop).
 */
export function mapOverlay({ width, height, data }, w, h, [low, high]) {
  const overlay = new ImageData(w, h);
  const span = high > low ? high - low : 1;
  for (let y = 0; y < h; y += 1) {
    const row = Math.min(height - 1, Math.floor(((y + 0.5) * height) / h)) * width;
    for (let x = 0; x < w; x += 1) {
      const value = data[row + Math.min(width - 1, Math.floor(((x + 0.5) * width) / w))];
      const at = 4 * (y * w + x);
      if (Number.isNaN(value)) {
        overlay.data.set((x + y) % 8 < 3 ? [60, 64, 74, 215] : [150, 154, 164, 165], at);
      } else {
        const [r, g, b] = heatColor((value - low) / span);
        overlay.data.set([r, g, b, 120], at);
      }
    }
  }
  return overlay;
}

/**
 * Draws `picture` (an ImageBitmap, a video, or null for a dark box) at `w × h` with
 * the anomaly map on top.
 */
export function paintMap(context, picture, map, w, h, range) {
  context.fillStyle = '#2a2f3a';
  context.fillRect(0, 0, w, h);
  if (picture) context.drawImage(picture, 0, 0, w, h);
  const layer = new OffscreenCanvas(w, h);
  layer.getContext('2d').putImageData(mapOverlay(map, w, h, range), 0, 0);
  context.drawImage(layer, 0, 0);
}

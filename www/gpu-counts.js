// Measurement instrumentation, not part of the package: the page's side of
// gpu-count-worker.js. `countingWorker()` gives a worker URL for
// `InctrlDetector.create({workerUrl})` and reads that worker's WebGPU call counts:
//
//   const counter = countingWorker();
//   const detector = await InctrlDetector.create({ backend: 'webgpu', workerUrl: counter.workerUrl });
//   ... warm up ...
//   const counts = await counter.count(() => detector.score([image]));
//
// The counts cover every WebGPU call the worker made from the reset to the read:
// `count` resets, awaits the action (which ends with a readback, so all its work has
// been submitted), then reads.

export function countingWorker() {
  const name = `inctrl-gpu-counts-${Math.random().toString(36).slice(2)}`;
  const workerUrl = new URL(`gpu-count-worker.js?channel=${name}`, import.meta.url);
  const channel = new BroadcastChannel(name);
  const pending = new Map();
  let next = 0;
  channel.onmessage = ({ data }) => {
    const resolve = pending.get(data?.reply);
    if (!resolve) return;
    pending.delete(data.reply);
    resolve(data.counts);
  };
  const ask = (op) => new Promise((resolve, reject) => {
    const request = next++;
    const timer = setTimeout(() => {
      pending.delete(request);
      reject(new Error(`the counting worker did not answer '${op}' (is the detector's worker gpu-count-worker.js?)`));
    }, 10_000);
    pending.set(request, (counts) => {
      clearTimeout(timer);
      resolve(counts);
    });
    channel.postMessage({ request, op });
  });
  return {
    workerUrl,
    /** Zeroes the counters; resolves to what they held. */
    reset: () => ask('reset'),
    /** The counters since the last reset. */
    read: () => ask('read'),
    /** Counts what `action` (awaited) makes the worker do. */
    async count(action) {
      await ask('reset');
      await action();
      return ask('read');
    },
    close: () => channel.close(),
  };
}

// Every public API of inctrl-web, as a strict TypeScript user writes it. It is
// only type-checked (tsc --noEmit, tests/types/tsconfig.json), never run.
import {
  InctrlDetector,
  InctrlError,
  PromptSet,
  type AnomalyMap,
  type Backend,
  type Calibration,
  type CalibrationProgress,
  type ClipConfig,
  type ImageInput,
  type LoadProgress,
  type ScoreProgress,
  type ScoreResult,
  type ScoreStream,
  type StreamResult,
  type WeightsInfo,
} from 'inctrl-web';

function onLoad(progress: LoadProgress): void {
  switch (progress.status) {
    case 'initiate':
      console.log(`loading ${progress.file}`);
      break;
    case 'download': {
      const percent = progress.total ? (100 * progress.loaded) / progress.total : 0;
      console.log(`${progress.phase} ${progress.file}: ${percent.toFixed(0)} %`);
      break;
    }
    case 'ready':
      console.log(`${progress.file} ready`);
      break;
  }
}

function onScore({ status, name, loaded, total }: ScoreProgress): void {
  console.log(status, name, `${loaded}/${total}`);
}

function onCalibrate({ status, name, loaded, total }: CalibrationProgress): void {
  console.log(status, name, `${loaded}/${total}`);
}

/** The share of the map the model saw (NaN marks the rest). */
function seenShare({ width, height, data }: AnomalyMap): number {
  return data.filter((v) => !Number.isNaN(v)).length / (width * height);
}

const config: ClipConfig = {
  embed_dim: 640,
  vision_cfg: { image_size: 240, layers: 12, width: 896, head_width: 64, patch_size: 16 },
  text_cfg: { context_length: 77, vocab_size: 49408, width: 640, heads: 10, layers: 12 },
};

export async function example(
  checkpoint: File,
  normals: File[],
  img: HTMLImageElement,
  canvas: HTMLCanvasElement,
  video: HTMLVideoElement,
): Promise<ScoreResult[]> {
  const backend: Backend = 'auto';
  const detector = await InctrlDetector.create({ backend, threads: 2, precision: 'f32', workerUrl: new URL('./worker.js', location.href) });
  const where: 'webgpu' | 'cpu' = detector.backend;
  console.log(where, detector.fallbackReason ?? '', detector.threads, detector.threadsReason ?? '', detector.precision);
  detector.addEventListener('devicelost', () => void detector.recreate({ backend: 'cpu', onProgress: onLoad }));

  const controller = new AbortController();
  let info: WeightsInfo = await detector.loadWeights('/models/inctrl.bpk', {
    onProgress: onLoad,
    cache: true,
    signal: controller.signal,
  });
  info = await detector.loadWeights(checkpoint, { config, onProgress: onLoad });
  await detector.loadWeights(new Uint8Array(await checkpoint.arrayBuffer()));
  console.log(info.categories, info.textTower, info.precision, info.imageSize, info.bytes, info.cache, detector.info);

  await detector.setCategory('candle');
  const k: number = await detector.setPrompts(normals);

  const frame = new VideoFrame(video, { timestamp: 0 });
  const offscreen = new OffscreenCanvas(240, 240);
  const bitmap = await createImageBitmap(img);
  const pixels = new ImageData(240, 240);
  const inputs: ImageInput[] = [
    'images/query.png',
    new URL('images/query.png', location.href),
    normals[0],
    new Blob([await normals[0].arrayBuffer()]),
    await normals[0].arrayBuffer(),
    new Uint8Array(await normals[0].arrayBuffer()),
    img,
    canvas,
    offscreen,
    frame,
    bitmap,
    pixels,
    { name: 'frame 7', image: frame },
  ];

  const screws: PromptSet = await detector.encodePrompts(normals.slice(0, k), { signal: controller.signal });
  console.log(screws.count, screws.names.join(', '), screws.disposed);
  const results = await detector.score(inputs, {
    prompts: screws,
    category: 'screw',
    onProgress: onScore,
    signal: controller.signal,
  });
  for (const r of results) {
    const cells: Float32Array = r.patchMap;
    console.log(r.name, r.score, r.patchMax, r.textScore, r.imageScore, r.holisticScore, cells.length, r.ms);
  }

  // A threshold from normal images alone (leave-one-out without them), then decisions and maps.
  const calibration: Calibration = await detector.calibrate(normals.slice(k), {
    falseAlarmRate: 0.05,
    prompts: screws,
    category: 'screw',
    onProgress: onCalibrate,
    signal: controller.signal,
  });
  const { threshold, falseAlarmRate, expectedFalseAlarm, normals: n, method } = calibration;
  if (calibration.warning !== null) console.warn(calibration.warning);
  console.log(threshold, falseAlarmRate, expectedFalseAlarm, n, method === 'leaveOneOut');
  await detector.calibrate();
  const current: number | null = detector.threshold;
  detector.threshold = current ?? 0.4;
  const decided = await detector.score([img], { prompts: screws, category: 'screw', maps: { sigma: 0 }, threshold: null });
  for (const { anomalous, anomalyMap } of await detector.score(['images/query.png'], { maps: true })) {
    const flag: boolean | undefined = anomalous;
    if (anomalyMap) console.log(flag, anomalyMap.width, anomalyMap.height, seenShare(anomalyMap));
  }
  detector.threshold = null;
  console.log(decided.length);

  // A camera, live: the newest frame whenever the last score is done, at most 5 per second.
  const camera: MediaStream = await navigator.mediaDevices.getUserMedia({ video: true });
  const live: ScoreStream = detector.scoreStream(camera, {
    onResult: ({ score, frameTime, patchMap, anomalyMap }: StreamResult) => console.log(score, frameTime, patchMap.length, anomalyMap?.width),
    maxFps: 5,
    prompts: screws,
    category: 'screw',
    threshold: 0.4,
    maps: true,
    signal: controller.signal,
  });
  const fromVideo = detector.scoreStream(video, { onResult: (r) => console.log(r.name, r.anomalous) });
  live.stop();
  fromVideo.stop();
  const frames: number = (await live.done) + (await fromVideo.done);
  console.log(frames);
  camera.getTracks().forEach((track) => track.stop());
  screws.dispose();

  try {
    await detector.score([img]);
  } catch (error) {
    if (error instanceof InctrlError && error.kind === 'abort') console.log('aborted', error.name);
  }
  console.log(await detector.memoryBytes());
  await InctrlDetector.clearCache();
  frame.close();
  detector.dispose();
  return results;
}

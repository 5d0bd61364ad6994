/** Where the model runs. `auto` picks WebGPU when the browser grants an adapter, else the CPU. */
export type Backend = 'auto' | 'webgpu' | 'cpu';

/**
 * Encoded image files. They are decoded inside the module exactly as the original
 * Python pipeline (Pillow) decodes them, so scores match the reference implementation.
 * A string or `URL` is fetched (relative to the page) by the detector's worker.
 */
export type FileSource = string | URL | File | Blob | ArrayBuffer | ArrayBufferView;

/**
 * Images the browser has already decoded (or drawn). Their RGBA pixels are used as
 * they are, so scores are close to, but not bit-exact with, the reference pipeline's
 * (the browser's decoder, not Pillow's, made the pixels). Read without colour
 * management or alpha premultiplication.
 */
export type PixelSource = ImageBitmap | ImageData | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | VideoFrame;

/** Anything an image can be handed over as. */
export type ImageSource = FileSource | PixelSource;

/** An image, optionally with a display name (default: the file or URL name, else `image N`). */
export type ImageInput = ImageSource | { name: string; image: ImageSource };

/** An open_clip model config (the JSON of `open_clip/model_configs/*.json`); absent fields take open_clip's defaults. */
export interface ClipConfig {
  embed_dim: number;
  vision_cfg: {
    image_size?: number;
    layers?: number;
    width?: number;
    head_width?: number;
    mlp_ratio?: number;
    patch_size?: number;
  };
  text_cfg: {
    context_length?: number;
    vocab_size?: number;
    width?: number;
    heads?: number;
    layers?: number;
    mlp_ratio?: number;
  };
  quick_gelu?: boolean;
  custom_text?: boolean;
}

/**
 * Progress of loading weights, in this order: `initiate`, `download` (any number of
 * times, with bytes), `ready`. `phase` says where the bytes come from: the network, the
 * Cache API, a local file, or the checkpoint being converted.
 */
export type LoadProgress =
  | { status: 'initiate'; file: string }
  | {
      status: 'download';
      file: string;
      phase: 'download' | 'cache' | 'read' | 'convert';
      loaded: number;
      /** 0 when unknown. */
      total: number;
    }
  | { status: 'ready'; file: string };

/** Progress of `score`: `loaded` of `total` images done, the last one `name`. */
export interface ScoreProgress {
  status: 'score';
  name: string;
  loaded: number;
  total: number;
}

/** What the loaded weights offer. */
export interface WeightsInfo {
  /** Categories with precomputed text prototypes. */
  categories: string[];
  /** Whether any category name works (the text tower is loaded). */
  textTower: boolean;
  precision: 'f32' | 'f16';
  imageSize: number;
  /** Size of the weights in bytes. */
  bytes: number;
  /**
   * How the Cache API was used: `cached`, `from cache` (the server confirmed the copy is
   * current), `from cache (server unreachable, not revalidated)`,
   * `cached (re-downloaded: changed on the server)`, `converted copy from cache`,
   * `not cached (storage quota exceeded)`, ...
   */
  cache: string;
}

/** Progress of `calibrate` over extra normal images: `loaded` of `total` done, the last one `name`. */
export interface CalibrationProgress {
  status: 'calibrate';
  name: string;
  loaded: number;
  total: number;
}

/**
 * The patch map at the image's own resolution: the 15×15 map taken back through the
 * resize and centre crop the model's input came from, bilinear, smoothed with a Gaussian
 * (sigma 4 model-input pixels unless asked otherwise). `NaN` marks pixels the centre crop
 * cut away (the model never saw them).
 */
export interface AnomalyMap {
  width: number;
  height: number;
  /** `width × height` values, row-major; its buffer is the page's own (moved from the worker, not copied). */
  data: Float32Array;
}

/** A threshold set from normal images alone, by `InctrlDetector.calibrate`. */
export interface Calibration {
  /** Scores strictly above it are anomalous. */
  threshold: number;
  /** The false-alarm rate asked for. */
  falseAlarmRate: number;
  /** `k / (n + 1)`: the share of new normal images expected above the threshold (at most `falseAlarmRate` unless warned). */
  expectedFalseAlarm: number;
  /** How many normal scores set it (prompt images among the normals are left out). */
  normals: number;
  /** Why the normals are too few for the rate asked (the threshold is then their largest score); null when they suffice. */
  warning: string | null;
  /** `normals`: extra normal images; `leaveOneOut`: each prompt image against the other K − 1. */
  method: 'normals' | 'leaveOneOut';
}

/** One query's scores. Higher `score` means more anomalous. */
export interface ScoreResult {
  name: string;
  /** Final anomaly score: (holisticScore + patchMax) / 2. */
  score: number;
  /** Largest patch-level residual. */
  patchMax: number;
  /** Text prior from the category's normal/anomalous prompts. */
  textScore: number;
  /** Image-level residual score. */
  imageScore: number;
  /** Holistic head score. */
  holisticScore: number;
  /** 15×15 patch residual map, row-major. */
  patchMap: Float32Array;
  /** `score > threshold` (in f32) when a threshold was in force; absent otherwise. */
  anomalous?: boolean;
  /** With `score(images, { maps })`: the map at the image's own size. */
  anomalyMap?: AnomalyMap;
  /** Milliseconds this query took. */
  ms: number;
}

/** A `scoreStream` result: `score`'s result for one video frame. */
export interface StreamResult extends ScoreResult {
  /** The frame's timestamp in milliseconds (`VideoFrame.timestamp / 1000`; the video's current time where there is no `VideoFrame`). */
  frameTime: number;
}

/** A running `scoreStream`. */
export interface ScoreStream {
  /** Stops it; no result is reported after this. The camera stays on (it is the caller's). */
  stop(): void;
  /**
   * Resolves to the number of frames scored once stopped (`stop()`, the signal, or the
   * end of the video or its track); rejects with the error that stopped it otherwise.
   */
  readonly done: Promise<number>;
}

/**
 * An error from the detector. `devicelost` and `fatal` mean the detector must be
 * re-created; `abort` (with `name` `AbortError`) means the caller's signal aborted the
 * operation, and nothing that was loaded changed.
 */
export declare class InctrlError extends Error {
  kind: 'error' | 'abort' | 'devicelost' | 'fatal';
}

/**
 * Encoded normal images, from `InctrlDetector.encodePrompts`. Survives `recreate()`
 * (encoded again on the new backend); loading other weights invalidates it.
 */
export declare class PromptSet {
  private constructor();
  /** Number of images (K). */
  readonly count: number;
  /** The images' names, in order. */
  readonly names: readonly string[];
  /** Whether `dispose()` was called. */
  readonly disposed: boolean;
  /** Frees the encoded features in the detector's worker. */
  dispose(): void;
}

/** InCTRL in a Web Worker. Dispatches `devicelost` and `fatal` events ({detail: {message}}). */
export declare class InctrlDetector extends EventTarget {
  private constructor();
  /**
   * `threads` caps the CPU backend's worker pool (default: `navigator.hardwareConcurrency`);
   * more than one thread needs a cross-origin isolated page. `precision: 'f16'` computes in
   * half precision (opt-in; needs `shader-f16` on WebGPU, else `webgpu` rejects and `auto`
   * falls back to the CPU).
   */
  static create(options?: {
    backend?: Backend;
    threads?: number;
    precision?: 'f32' | 'f16';
    workerUrl?: string | URL;
  }): Promise<InctrlDetector>;
  /** Deletes every cached download and converted checkpoint; resolves to whether there was any. */
  static clearCache(): Promise<boolean>;
  readonly backend: 'webgpu' | 'cpu';
  readonly fallbackReason: string | null;
  /** Threads the CPU backend computes on; 1 on WebGPU. */
  readonly threads: number;
  /** Why the CPU backend runs on one thread, if it does. */
  readonly threadsReason: string | null;
  /** What the model computes in (`info.precision` is how the weights are stored). */
  readonly precision: 'f32' | 'f16';
  readonly info: WeightsInfo | null;
  /**
   * While a number, `score` results carry `anomalous: score > threshold` (compared in f32,
   * as the CLI's `--threshold`). `calibrate` sets it; set it by hand, or `null` to clear it.
   * Loading weights clears it.
   */
  threshold: number | null;
  /**
   * A URL is cached and revalidated before each use; a `.pyth` checkpoint is converted
   * in the page (with `config`, default ViT-B-16-plus-240) and the result cached.
   */
  loadWeights(
    source: string | URL | Blob | ArrayBuffer | ArrayBufferView,
    options?: {
      onProgress?: (progress: LoadProgress) => void;
      cache?: boolean;
      config?: ClipConfig;
      signal?: AbortSignal;
    },
  ): Promise<WeightsInfo>;
  /** The default category for `score`. */
  setCategory(name: string): Promise<void>;
  /** Encodes a prompt set to pass as `score(images, { prompts })`. */
  encodePrompts(images: Iterable<ImageInput>, options?: { signal?: AbortSignal }): Promise<PromptSet>;
  /** Encodes the default prompt set for `score`; resolves to K. */
  setPrompts(images: Iterable<ImageInput>, options?: { signal?: AbortSignal }): Promise<number>;
  score(
    images: Iterable<ImageInput>,
    options?: {
      /** Default: the `setPrompts` set. */
      prompts?: PromptSet;
      /** Default: the `setCategory` name. */
      category?: string;
      /** This call's threshold for `anomalous` (default: `detector.threshold`; null: none). */
      threshold?: number | null;
      /** Add `anomalyMap` to each result: `true` (sigma 4) or `{ sigma }` in model-input pixels (0: not smoothed). */
      maps?: boolean | { sigma?: number };
      onProgress?: (progress: ScoreProgress) => void;
      signal?: AbortSignal;
    },
  ): Promise<ScoreResult[]>;
  /**
   * Scores a live video until stopped: a `MediaStream` (its first video track) or a
   * playing `<video>`. Whenever the previous frame's score is done it takes the newest
   * frame (the ones in between are skipped, never queued), at most `maxFps` per second
   * (default: as fast as scoring goes), and calls `onResult` with it. Frames move to the
   * worker as `VideoFrame`s, not copied on the page. The other options are `score`'s.
   */
  scoreStream(
    source: MediaStream | HTMLVideoElement,
    options: {
      onResult: (result: StreamResult) => void;
      signal?: AbortSignal;
      maxFps?: number;
      /** Default: the `setPrompts` set. */
      prompts?: PromptSet;
      /** Default: the `setCategory` name. */
      category?: string;
      /** Default: `detector.threshold` at each frame; null: none. */
      threshold?: number | null;
      maps?: boolean | { sigma?: number };
    },
  ): ScoreStream;
  /**
   * Sets `threshold` at `falseAlarmRate` (default 0.01) from normal images alone: the
   * scores of `normals` against the prompt set (its own images among them left out), or,
   * with `normals` empty or omitted, the prompt images scored leave-one-out (K ≥ 2). The
   * threshold is the ⌊rate·(n + 1)⌋-th largest of the n scores (as `inctrl calibrate`).
   */
  calibrate(
    normals?: Iterable<ImageInput> | null,
    options?: {
      falseAlarmRate?: number;
      /** Default: the `setPrompts` set. */
      prompts?: PromptSet;
      /** Default: the `setCategory` name. */
      category?: string;
      onProgress?: (progress: CalibrationProgress) => void;
      signal?: AbortSignal;
    },
  ): Promise<Calibration>;
  memoryBytes(): Promise<number>;
  /** A new worker on `backend` with the same weights, category and prompt sets. */
  recreate(options?: {
    backend?: Backend;
    threads?: number;
    onProgress?: (progress: LoadProgress) => void;
  }): Promise<InctrlDetector>;
  dispose(): void;
}

/** Where the model runs. `auto` picks WebGPU when the browser grants an adapter, else the CPU. */
export type Backend = 'auto' | 'webgpu' | 'cpu';

/** Anything an image can be handed over as; file bytes are decoded exactly as Pillow would. */
export type ImageSource = File | Blob | ImageBitmap | ImageData | ArrayBuffer | Uint8Array;

/** An image with a display name. */
export type ImageInput = ImageSource | { name: string; image: ImageSource };

/** Byte progress of a long operation. */
export interface Progress {
  phase: 'download' | 'cache' | 'read' | 'convert' | 'score';
  loaded: number;
  /** 0 when unknown. */
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
  /** How the Cache API was used, e.g. `cached`, `from cache`, `not cached (storage quota exceeded)`. */
  cache: string;
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
  /** Milliseconds this query took. */
  ms: number;
}

/** An error from the detector. `devicelost` and `fatal` mean the detector must be re-created. */
export declare class InctrlError extends Error {
  kind: 'error' | 'devicelost' | 'fatal';
}

/** InCTRL in a Web Worker. Dispatches `devicelost` and `fatal` events ({detail: {message}}). */
export declare class InctrlDetector extends EventTarget {
  /**
   * `threads` caps the CPU backend's worker pool (default: `navigator.hardwareConcurrency`);
   * more than one thread needs a cross-origin isolated page.
   */
  static create(options?: { backend?: Backend; threads?: number; workerUrl?: string | URL }): Promise<InctrlDetector>;
  readonly backend: 'webgpu' | 'cpu';
  readonly fallbackReason: string | null;
  /** Threads the CPU backend computes on; 1 on WebGPU. */
  readonly threads: number;
  /** Why the CPU backend runs on one thread, if it does. */
  readonly threadsReason: string | null;
  readonly info: WeightsInfo | null;
  loadWeights(
    source: string | URL | Blob | ArrayBuffer | Uint8Array,
    options?: { onProgress?: (p: Progress) => void; cache?: boolean; config?: string },
  ): Promise<WeightsInfo>;
  setCategory(name: string): Promise<void>;
  setPrompts(images: Iterable<ImageInput>): Promise<number>;
  score(images: Iterable<ImageInput>, options?: { onProgress?: (p: Progress) => void }): Promise<ScoreResult[]>;
  memoryBytes(): Promise<number>;
  recreate(options?: { backend?: Backend; threads?: number; onProgress?: (p: Progress) => void }): Promise<InctrlDetector>;
  simulateDeviceLoss(): Promise<void>;
  dispose(): void;
}

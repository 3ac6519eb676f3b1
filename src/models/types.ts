import type { ImageTensor } from '../runtime/onnx.js';
import type { ResampleKernel } from '../resample/index.js';

/** What a model is, as shown by `upscale models` and recorded in provenance. */
export interface ModelDescriptor {
  /** Stable id: `bicubic`, a built-in model's id, or a file's path. */
  readonly id: string;
  readonly name: string;
  readonly kind: 'classical' | 'network';
  /** Native integer scale of a network; classical methods resize to any size and use it as their default factor. */
  readonly scale: number;
  readonly description: string;
  /** Native scales available: built-in families come at several (`-m esrgan-thick -s 2` uses the x2 network). */
  readonly scales?: readonly number[];
  readonly aliases?: readonly string[];
  /** What content it suits. */
  readonly suits?: string;
  readonly license?: string;
  /** Where the weights come from: an npm package or a file. */
  readonly source?: string;
  readonly parameters?: number;
  /** Measured with `upscale eval` (PSNR-Y dB, SSIM-Y), keyed like `Set5 x4`. */
  readonly quality?: Readonly<Record<string, { readonly psnr: number; readonly ssim: number }>>;
  /** Seconds per output megapixel at x4 on the 2-core reference machine (`npm run bench`). */
  readonly secondsPerMegapixel?: number;
  /**
   * Denoise strength 0..1 of a model that has one (`photo`): the strength in use once chosen, the default in a
   * family's listing. Absent for models without it.
   */
  readonly denoise?: number;
  /** The strengths a family with separately trained noise levels offers (`anime`: 0, 0.5, 1); absent for a blend. */
  readonly denoiseLevels?: readonly number[];
  /** Run as a self-ensemble (test-time augmentation: the mean of 8 flips and rotations), 8 times the compute. */
  readonly tta?: boolean;
}

/** A model as named by the user: its description, and a loader for each native scale it comes in. */
export interface ModelChoice {
  readonly descriptor: ModelDescriptor;
  readonly scales: readonly number[];
  load(scale: number): Promise<LoadedModel>;
}

/** A super-resolution network ready to run on one tile. */
export interface TileModel {
  readonly scale: number;
  /** Colour channels the network takes and returns: 3 (RGB) or 1 (grey/luma). */
  readonly channels: 1 | 3;
  /** The value white maps to in the network's input and output: 1 or 255. */
  readonly range: 1 | 255;
  /** Input edges must be multiples of this; tiles are padded by edge replication to get there. */
  readonly sizeMultiple: number;
  /** Input pixels of context each output pixel depends on; used as the tile overlap. */
  readonly receptiveField: number;
  /** Estimated working memory per input pixel, for choosing a tile size. */
  readonly bytesPerInputPixel: number;
  /**
   * False for a network that looks at the whole image (global pooling, as Real-CUGAN's squeeze-excitation does):
   * tiles then change its result, so the automatic tile size covers the whole image when memory allows.
   * @default true
   */
  readonly tilingSafe?: boolean;
  /** Tiles start on multiples of this (strided layers behind the network's own padding). @default 1 */
  readonly tileAlignment?: number;
  run(input: ImageTensor): Promise<ImageTensor>;
  dispose(): Promise<void>;
}

export interface ClassicalModel {
  readonly kind: 'classical';
  readonly descriptor: ModelDescriptor;
  readonly kernel: ResampleKernel;
}

export interface NetworkModel {
  readonly kind: 'network';
  readonly descriptor: ModelDescriptor;
  readonly network: TileModel;
  /** SHA-256 of the weights file, hex, for provenance. */
  readonly sha256: string;
}

export type LoadedModel = ClassicalModel | NetworkModel;

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

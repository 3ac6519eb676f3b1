/**
 * One small unit per network architecture (the way spandrel does it): a declarative detector over a state dict's
 * keys and shapes that reads the hyperparameters, and a converter that builds the ONNX graph from the weights.
 */
import type { StateDict } from '../weights/tensor.js';

/** What a converted model needs to run in the tiled pipeline, and what `upscale models info` shows. */
export interface ArchitectureDescription {
  /** Native scale: output edge / input edge. */
  readonly scale: number;
  /** Image channels in and out (3 for RGB; 1 for grey models). */
  readonly inChannels: number;
  readonly outChannels: number;
  /** Input edges must be multiples of this (the tiler pads tiles by edge replication to get there). */
  readonly sizeMultiple: number;
  /** Input pixels of context each output pixel depends on (beyond which the effect is negligible): the tile overlap. */
  readonly receptiveField: number;
  /** False when the network looks at the whole image (global pooling...), so tiles would change the result. */
  readonly tilingSafe: boolean;
  /** Tiles must start on multiples of this (see METADATA_KEYS.tileAlignment). @default 1 */
  readonly tileAlignment?: number;
  /** Working memory per input pixel of a tile, in bytes, when the architecture knows better than the default guess. */
  readonly bytesPerInputPixel?: number;
  /** Number of weights. */
  readonly parameters: number;
  /** Hyperparameters read from the weights, for display: `{ blocks: 23, features: 64 }`. */
  readonly details: Readonly<Record<string, string | number | boolean>>;
}

export interface Architecture<P = unknown> {
  /** Stable id, as shown by `upscale models info`: `esrgan`, `compact`, `span`, `swinir`. */
  readonly id: string;
  /** Human name: `ESRGAN (RRDBNet)`. */
  readonly name: string;
  /**
   * The hyperparameters when `weights` are this architecture's, else undefined. Only looks at keys and shapes;
   * must not throw on someone else's weights.
   */
  detect(weights: StateDict): P | undefined;
  describe(weights: StateDict, params: P): ArchitectureDescription;
  /**
   * The ONNX model: one float32 input `input` [1, C, H, W] in 0..1 (dynamic H and W), one output `output`
   * [1, C, H·scale, W·scale], `upscale.*` metadata (see ../metadata-keys.ts). Throws UpscaleError('MODEL_INVALID')
   * naming the tensor when a weight has an unexpected shape.
   */
  toOnnx(weights: StateDict, params: P): Uint8Array;
}

/** ONNX building blocks shared by the architecture converters: layers whose weights come from a state dict. */
import { GraphBuilder, attr } from '../../onnx/index.js';
import { METADATA_KEYS } from '../metadata-keys.js';
import type { StateDict } from '../weights/tensor.js';
import { tensor } from './state.js';
import type { ArchitectureDescription } from './types.js';

/**
 * A 2-D convolution with the weights `${prefix}.weight` [out, in/groups, k, k] and, when present,
 * `${prefix}.bias`; "same" padding by default (PyTorch's `padding=k//2`).
 */
export function conv2d(
  g: GraphBuilder,
  x: string,
  weights: StateDict,
  prefix: string,
  options: { padding?: number; stride?: number; groups?: number } = {},
): string {
  const w = tensor(weights, `${prefix}.weight`);
  if (w.shape.length !== 4) tensor(weights, `${prefix}.weight`, [undefined, undefined, undefined, undefined]);
  const [, , kh, kw] = w.shape as [number, number, number, number];
  const padH = options.padding ?? Math.floor(kh / 2);
  const padW = options.padding ?? Math.floor(kw / 2);
  const inputs = [x, g.initializer(g.uniqueName(`${prefix}.weight`), w.shape, w.data)];
  const b = weights.get(`${prefix}.bias`);
  if (b !== undefined) inputs.push(g.initializer(g.uniqueName(`${prefix}.bias`), tensor(weights, `${prefix}.bias`, [w.shape[0]]).shape, b.data));
  return g.node('Conv', inputs, {
    kernel_shape: attr.ints([kh, kw]),
    pads: attr.ints([padH, padW, padH, padW]),
    strides: attr.ints([options.stride ?? 1, options.stride ?? 1]),
    group: attr.int(options.groups ?? 1),
  });
}

/**
 * {@link conv2d} after checking that `${prefix}.weight` has the shape `[out, in/groups, kh, kw]` the architecture
 * expects (`undefined` entries match anything), so that inconsistent weights fail naming the tensor instead of
 * failing later in onnxruntime.
 */
export function checkedConv2d(
  g: GraphBuilder,
  x: string,
  weights: StateDict,
  prefix: string,
  shape: readonly [number | undefined, number | undefined, number | undefined, number | undefined],
  options: { padding?: number; stride?: number; groups?: number } = {},
): string {
  tensor(weights, `${prefix}.weight`, shape);
  return conv2d(g, x, weights, prefix, options);
}

export function leakyRelu(g: GraphBuilder, x: string, slope: number): string {
  return g.node('LeakyRelu', [x], { alpha: attr.float(slope) });
}

/** A float32 scalar constant (for Mul/Add with broadcasting). */
export function scalar(g: GraphBuilder, name: string, value: number): string {
  return g.initializer(g.uniqueName(name), [], new Float32Array([value]));
}

/** PyTorch's `pixel_shuffle` (the channel order DepthToSpace calls CRD). */
export function pixelShuffle(g: GraphBuilder, x: string, factor: number): string {
  return g.node('DepthToSpace', [x], { blocksize: attr.int(factor), mode: attr.string('CRD') });
}

/**
 * PyTorch's `pixel_unshuffle` (channel c's sub-pixel (i, j) goes to channel c·f² + i·f + j), as a stride-f
 * convolution with one-hot weights: exact, shape-agnostic, and cheap next to the network behind it.
 */
export function pixelUnshuffle(g: GraphBuilder, x: string, channels: number, factor: number): string {
  const f2 = factor * factor;
  const w = new Float32Array(channels * f2 * channels * f2);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < factor; i++) {
      for (let j = 0; j < factor; j++) {
        const out = c * f2 + i * factor + j;
        w[((out * channels + c) * factor + i) * factor + j] = 1;
      }
    }
  }
  const weight = g.initializer(g.uniqueName('unshuffle.weight'), [channels * f2, channels, factor, factor], w);
  return g.node('Conv', [x, weight], { kernel_shape: attr.ints([factor, factor]), strides: attr.ints([factor, factor]) });
}

/** Nearest-neighbour enlargement by an integer factor (PyTorch `F.interpolate(scale_factor=f, mode='nearest')`). */
export function upsampleNearest(g: GraphBuilder, x: string, factor: number): string {
  const scales = g.initializer(g.uniqueName('nearest_scales'), [4], new Float32Array([1, 1, factor, factor]));
  return g.node('Resize', [x, '', scales], {
    mode: attr.string('nearest'),
    coordinate_transformation_mode: attr.string('asymmetric'),
    nearest_mode: attr.string('floor'),
  });
}

/** Declares the standard input, finishes the graph with the standard output and `upscale.*` metadata. */
export function imageInput(g: GraphBuilder, channels: number): string {
  return g.input('input', 'float32', [1, channels, 'height', 'width']);
}

export function finishModel(g: GraphBuilder, output: string, description: ArchitectureDescription, name: string): Uint8Array {
  const out = g.node('Identity', [output], {}, { output: 'output' });
  g.output(out, 'float32', [1, description.outChannels, 'out_height', 'out_width']);
  return g.toModel({
    metadata: {
      [METADATA_KEYS.scale]: String(description.scale),
      [METADATA_KEYS.range]: '0-1',
      [METADATA_KEYS.receptiveField]: String(description.receptiveField),
      [METADATA_KEYS.sizeMultiple]: String(description.sizeMultiple),
      [METADATA_KEYS.name]: name,
      ...(description.bytesPerInputPixel === undefined ? {} : { [METADATA_KEYS.bytesPerInputPixel]: String(Math.ceil(description.bytesPerInputPixel)) }),
      ...(description.tilingSafe ? {} : { [METADATA_KEYS.tilingSafe]: 'false' }),
      ...((description.tileAlignment ?? 1) > 1 ? { [METADATA_KEYS.tileAlignment]: String(description.tileAlignment) } : {}),
    },
  });
}

/**
 * One converter per NCNN layer type, from ncnn's semantics (Tencent/ncnn src/layer/*.cpp; param ids from
 * docs/developer-guide/operators.md) to ONNX nodes on NCHW tensors with a batch of 1. ncnn blobs have no batch axis,
 * so ncnn's axis 0 of an image (c, h, w) is ONNX axis 1; a 1-D blob (global pooling, InnerProduct) is [1, n, 1, 1].
 * Each converter reads its weights from the .bin in the order ncnn's `load_model` does, and describes its outputs:
 * channels, size and first-pixel position relative to the model input (for the scale, the input size multiple and the
 * border the network eats) and reach (for the receptive field). The converters live by concern: context.ts (types,
 * parameter readers, blob helpers), activations.ts, convolution.ts, per-channel.ts, elementwise.ts (joins and
 * constants), resample.ts (resizing, borders and crops) and pooling.ts (pooling, InnerProduct); this module holds
 * the table of converters by type.
 */
import { attr } from '../../../onnx/index.js';
import { clip, elementwise, hardSwish, mish } from './activations.js';
import { FLT_MAX, floatParam } from './context.js';
import type { LayerConverter } from './context.js';
import { convolution, deconvolution } from './convolution.js';
import { binaryOp, concat, dropout, eltwise, memoryData, noop, split } from './elementwise.js';
import { batchNorm, prelu, scale } from './per-channel.js';
import { innerProduct, pooling } from './pooling.js';
import { crop, interp, padding, pixelShuffleLayer, reorg } from './resample.js';

export { UNIT, affineText, intParam } from './context.js';
export type { Affine, Blob, ConstantBlob, ImageBlob, LayerContext, LayerConverter, VectorBlob } from './context.js';

/**
 * Converters by ncnn layer type. `Input` is handled by the converter itself (it becomes the ONNX input).
 * Adding a layer type means adding one function and one line here.
 */
export const LAYER_CONVERTERS: ReadonlyMap<string, LayerConverter> = new Map<string, LayerConverter>([
  ['Convolution', convolution(false)],
  ['ConvolutionDepthWise', convolution(true)],
  ['Deconvolution', deconvolution(false)],
  ['DeconvolutionDepthWise', deconvolution(true)],
  ['ReLU', elementwise((ctx, x) => {
    const slope = floatParam(ctx, 0, 0);
    return slope === 0 ? ctx.node('Relu', [x]) : ctx.node('LeakyRelu', [x], { alpha: attr.float(slope) });
  })],
  ['PReLU', prelu],
  ['Sigmoid', elementwise((ctx, x) => ctx.node('Sigmoid', [x]))],
  ['TanH', elementwise((ctx, x) => ctx.node('Tanh', [x]))],
  ['Swish', elementwise((ctx, x) => ctx.node('Mul', [x, ctx.node('Sigmoid', [x])]))],
  ['Mish', elementwise(mish)],
  ['ELU', elementwise((ctx, x) => ctx.node('Elu', [x], { alpha: attr.float(floatParam(ctx, 0, 0.1)) }))],
  ['HardSigmoid', elementwise((ctx, x) => ctx.node('HardSigmoid', [x], { alpha: attr.float(floatParam(ctx, 0, 0.2)), beta: attr.float(floatParam(ctx, 1, 0.5)) }))],
  ['HardSwish', elementwise((ctx, x) => hardSwish(ctx, x, floatParam(ctx, 0, 0.2), floatParam(ctx, 1, 0.5)))],
  ['Clip', elementwise((ctx, x) => clip(ctx, x, floatParam(ctx, 0, -FLT_MAX), floatParam(ctx, 1, FLT_MAX)))],
  ['BatchNorm', batchNorm],
  ['Scale', scale],
  ['BinaryOp', binaryOp],
  ['Eltwise', eltwise],
  ['Concat', concat],
  ['Split', split],
  ['Noop', noop],
  ['Dropout', dropout],
  ['Interp', interp],
  ['PixelShuffle', pixelShuffleLayer],
  ['Reorg', reorg],
  ['Padding', padding],
  ['Crop', crop],
  ['MemoryData', memoryData],
  ['Pooling', pooling],
  ['InnerProduct', innerProduct],
]);

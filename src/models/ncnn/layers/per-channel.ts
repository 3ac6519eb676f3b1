/**
 * Per-channel layers: PReLU (ONNX PRelu with one slope or one per channel), BatchNorm (folded into a multiply and an
 * add as ncnn's load_model does) and Scale (a per-channel multiply with an optional bias, or by a second blob).
 */
import { counts, derived, floatParam, imageOrVector, intParam, perChannel, positive, same, single } from './context.js';
import type { LayerConverter } from './context.js';

export const prelu: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const count = positive(ctx, 0, intParam(ctx, 0, 0), 'num_slope');
  const slope = ctx.raw(count, 'slope_data');
  if (count !== 1 && count !== x.channels) ctx.fail(`expected num_slope to be 1 or ${x.channels} (the input's channels), got ${count}`);
  const s = ctx.initializer('slope', count === 1 ? [1] : [count, 1, 1], slope);
  return [derived(x, ctx.node('PRelu', [x.name, s]))];
};

export const batchNorm: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const channels = positive(ctx, 0, intParam(ctx, 0, 0), 'channels');
  const eps = floatParam(ctx, 1, 0);
  const slope = ctx.raw(channels, 'slope_data');
  const mean = ctx.raw(channels, 'mean_data');
  const variance = ctx.raw(channels, 'var_data');
  const bias = ctx.raw(channels, 'bias_data');
  const a = new Float32Array(channels);
  const b = new Float32Array(channels);
  for (let i = 0; i < channels; i++) {
    // As ncnn's BatchNorm::load_model, including its guard against a zero variance.
    const sqrtVar = Math.fround(Math.sqrt(Math.fround(variance[i]! + eps))) || 0.0001;
    a[i] = bias[i]! - (slope[i]! * mean[i]!) / sqrtVar;
    b[i] = slope[i]! / sqrtVar;
  }
  const scaled = ctx.node('Mul', [x.name, perChannel(ctx, 'scale', b, x.channels, 'channels')]);
  return [derived(x, ctx.node('Add', [scaled, perChannel(ctx, 'shift', a, x.channels, 'channels')]))];
};

/**
 * Scale: a per-channel multiply by its own weights (with an optional bias), or, with scale_data_size -233, by a
 * second blob (`2 1 x s`: waifu2x cunet's squeeze-excitation, s a 1-D blob of one value per channel).
 */
export const scale: LayerConverter = (ctx, inputs) => {
  const count = intParam(ctx, 0, 0);
  if (count === -233) {
    counts(ctx, 2, 1);
    // ncnn's Scale::load_model reads no bias for -233 (its forward would read a missing one).
    if (intParam(ctx, 1, 0) !== 0) ctx.fail('a bias with the scale from a second blob (scale_data_size -233) is not supported');
    const x = imageOrVector(ctx, inputs[0]);
    const s = imageOrVector(ctx, inputs[1], 'scale blob (second input)');
    const channels = x.kind === 'image' ? x.channels : x.length;
    if (s.kind !== 'vector' || (s.length !== channels && s.length !== 1)) {
      ctx.fail(`expected the scale blob (second input) to be a 1-D blob of ${channels} values, got ${s.kind === 'vector' ? `${s.length} values` : 'an image'}`);
    }
    const y = ctx.node('Mul', [x.name, s.name]);
    return [x.kind === 'image' ? derived(x, y, { global: true }) : same(x, y)];
  }
  const x = single(ctx, inputs);
  positive(ctx, 0, count, 'scale_data_size');
  const factors = ctx.raw(count, 'scale_data');
  const bias = intParam(ctx, 1, 0) !== 0 ? ctx.raw(count, 'bias_data') : undefined;
  let y = ctx.node('Mul', [x.name, perChannel(ctx, 'scale', factors, x.channels, 'scale_data_size')]);
  if (bias !== undefined) y = ctx.node('Add', [y, perChannel(ctx, 'bias', bias, x.channels, 'scale_data_size')]);
  return [derived(x, y)];
};

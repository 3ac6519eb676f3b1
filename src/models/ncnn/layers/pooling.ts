/**
 * Pooling and InnerProduct. Global pooling turns an image into a 1-D blob of one value per channel (what a
 * squeeze-excitation block weighs its channels by), InnerProduct maps such a blob to another (an ONNX 1×1 Conv on
 * [1, n, 1, 1]); windowed max and average pooling keep an image, with ncnn's four padding modes and its rule for
 * which padded pixels an average counts (ncnn src/layer/pooling.cpp, innerproduct.cpp).
 */
import { attr, int64s } from '../../../onnx/index.js';
import type { Attributes } from '../../../onnx/index.js';
import { fusedActivation } from './activations.js';
import { counts, derived, imageOrVector, intParam, moved, positive, refuse, scaleAffine, single } from './context.js';
import type { Affine, LayerConverter } from './context.js';

const POOL_TYPES = ['max', 'average'] as const;
const PAD_MODES = ['full', 'valid', 'same upper', 'same lower'] as const;

/** One axis of a windowed pooling: ncnn's padding, and how much of it an average leaves out of its count. */
interface PoolAxis {
  /** Pixels added before and after (with the tail that full padding adds so the last window fits). */
  readonly begin: number;
  readonly end: number;
  /** Of those, the pixels an average with avgpool_count_include_pad 0 does not count. */
  readonly skipBegin: number;
  readonly skipEnd: number;
  readonly size: Affine;
}

/**
 * Pooling: `0=` type (0 max, 1 average), `1=`/`11=` kernel w/h, `2=`/`12=` stride w/h, `3=` left, `14=` right, `13=`
 * top, `15=` bottom padding, `4=` global, `5=` pad mode (0 full: pad the tail so the last window fits, 1 valid,
 * 2 SAME_UPPER, 3 SAME_LOWER), `6=` count the padding in averages, `7=` adaptive (`8=`/`18=` output size).
 */
export const pooling: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const typeId = intParam(ctx, 0, 0);
  const type = POOL_TYPES[typeId] ?? ctx.fail(`unsupported pooling type ${typeId} (parameter 0; 0 max, 1 average)`);
  if (intParam(ctx, 4, 0) !== 0) {
    const y = ctx.node(type === 'max' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.name]);
    return [{ kind: 'vector', name: y, length: x.channels }];
  }
  if (intParam(ctx, 7, 0) !== 0) {
    const outW = intParam(ctx, 8, 0);
    const outH = intParam(ctx, 18, outW);
    if (outW === -233 && outH === -233) return [x];
    return ctx.fail(`adaptive pooling to a fixed size (${outW} × ${outH}, parameters 8 and 18) is not supported (the output would not follow the input size)`);
  }
  const modeId = intParam(ctx, 5, 0);
  const mode = PAD_MODES[modeId] ?? ctx.fail(`unsupported pad_mode ${modeId} (parameter 5; 0 full, 1 valid, 2 same upper, 3 same lower)`);
  const includePad = intParam(ctx, 6, 0) !== 0;
  const kw = positive(ctx, 1, intParam(ctx, 1, 0), 'kernel_w');
  const kh = positive(ctx, 11, intParam(ctx, 11, kw), 'kernel_h');
  const sw = positive(ctx, 2, intParam(ctx, 2, 1), 'stride_w');
  const sh = positive(ctx, 12, intParam(ctx, 12, sw), 'stride_h');
  const left = intParam(ctx, 3, 0);
  const right = intParam(ctx, 14, left);
  const top = intParam(ctx, 13, left);
  const bottom = intParam(ctx, 15, top);
  if ([left, right, top, bottom].some((v) => v < 0)) ctx.fail(`negative padding ${top}, ${left}, ${bottom}, ${right} (top, left, bottom, right) is not supported`);
  const h = poolAxis(x.h, kh, sh, top, bottom, mode);
  const w = poolAxis(x.w, kw, sw, left, right, mode);

  const window: Attributes = { kernel_shape: attr.ints([kh, kw]), strides: attr.ints([sh, sw]) };
  let y: string;
  if (type === 'max') {
    // ncnn pads with -FLT_MAX, which no window picks unless it holds nothing else, as ONNX's implicit padding.
    y = ctx.node('MaxPool', [x.name], { ...window, pads: attr.ints([h.begin, w.begin, h.end, w.end]) });
  } else if (includePad) {
    // ncnn divides by the kernel area everywhere; every window lies inside the padded input, so ONNX does too.
    y = ctx.node('AveragePool', [x.name], { ...window, pads: attr.ints([h.begin, w.begin, h.end, w.end]), count_include_pad: attr.int(1) });
  } else {
    // The padding ncnn counts (SAME modes: all of it, as zeros) is made explicit; the rest ONNX leaves out of the count.
    let source = x.name;
    const counted = [h.begin - h.skipBegin, w.begin - w.skipBegin, h.end - h.skipEnd, w.end - w.skipEnd];
    if (counted.some((v) => v < 0)) {
      ctx.fail(`an average that leaves padding ${top}, ${left}, ${bottom}, ${right} out of its count with ${mode} padding ${h.begin}, ${w.begin}, ${h.end}, ${w.end} is not supported`);
    }
    if (counted.some((v) => v > 0)) {
      const [ct, cl, cb, cr] = counted as [number, number, number, number];
      source = ctx.node('Pad', [x.name, ctx.initializer('pads', [8], int64s([0, 0, ct, cl, 0, 0, cb, cr]))]);
    }
    y = ctx.node('AveragePool', [source], { ...window, pads: attr.ints([h.skipBegin, w.skipBegin, h.skipEnd, w.skipEnd]), count_include_pad: attr.int(0) });
  }
  const radius = Math.max((kh - 1) / 2, (kw - 1) / 2) * Math.min(x.h.den / x.h.num, x.w.den / x.w.num);
  return [derived(x, y, { h: h.size, w: w.size, reach: x.reach + radius })];
};

/** ncnn's Pooling::make_padding for one axis whose edge is a multiple of the stride plus `a.off`. */
function poolAxis(a: Affine, kernel: number, stride: number, padBegin: number, padEnd: number, mode: (typeof PAD_MODES)[number]): PoolAxis {
  let begin = padBegin;
  let end = padEnd;
  if (mode === 'full') {
    end += mod(-(a.off + padBegin + padEnd - kernel), stride);
  } else if (mode !== 'valid') {
    const total = Math.max(0, kernel - stride + mod(-a.off, stride));
    const half = Math.floor(total / 2);
    [begin, end] = mode === 'same upper' ? [half, total - half] : [total - half, half];
  }
  const skipEnd = mode === 'full' ? end : padEnd;
  const scaled = scaleAffine({ ...a, off: 0 }, 1, stride);
  const size = moved({ ...scaled, off: Math.floor((a.off + begin + end - kernel) / stride) + 1 }, a, (kernel - 1) / 2 - begin);
  return { begin, end, skipBegin: padBegin, skipEnd, size };
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/**
 * InnerProduct on a 1-D blob: `0=` num_output, `1=` bias, `2=` weight_data_size (num_output × input length, stored
 * row by row, "type 0" with a storage tag), `9=`/`10=` the fused activation. Over an image ncnn flattens it, which
 * ties the weights to one input size: refused.
 */
export const innerProduct: LayerConverter = (ctx, inputs) => {
  counts(ctx, 1, 1);
  const x = imageOrVector(ctx, inputs[0]);
  if (x.kind === 'image') {
    return ctx.fail('an InnerProduct over a whole image (flattened) is not supported (its weights fix the input size); only over a 1-D blob, after a global pooling');
  }
  const outputs = positive(ctx, 0, intParam(ctx, 0, 0), 'num_output');
  const size = positive(ctx, 2, intParam(ctx, 2, 0), 'weight_data_size');
  refuse(ctx, 8, intParam(ctx, 8, 0), 0, 'int8 quantization');
  if (size !== outputs * x.length) ctx.fail(`weight_data_size ${size} is not num_output ${outputs} × the input's ${x.length} values`);
  const weight = ctx.initializer('weight', [outputs, x.length, 1, 1], ctx.tagged(size, 'weight_data'));
  const inputsOnnx = [x.name, weight];
  if (intParam(ctx, 1, 0) !== 0) inputsOnnx.push(ctx.initializer('bias', [outputs], ctx.raw(outputs, 'bias_data')));
  const y = ctx.node('Conv', inputsOnnx, { kernel_shape: attr.ints([1, 1]) });
  return [{ kind: 'vector', name: fusedActivation(ctx, y), length: outputs }];
};

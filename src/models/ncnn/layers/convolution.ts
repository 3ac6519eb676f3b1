/**
 * Convolution, ConvolutionDepthWise, Deconvolution and DeconvolutionDepthWise: their shared parameters, the input
 * channels implied by the weight count, and the conversion to ONNX Conv and ConvTranspose (with a weight transpose per
 * group for the deconvolutions), including the fused activation and the output size and reach.
 */
import { attr, int64s } from '../../../onnx/index.js';
import { fusedActivation } from './activations.js';
import { derived, floatParam, intParam, moved, positive, refuse, scalar, scaleAffine, shift, single } from './context.js';
import type { Affine, ImageBlob, LayerContext, LayerConverter } from './context.js';

interface ConvParams {
  readonly outChannels: number;
  readonly kernel: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly stride: readonly [number, number];
  /** top, left, bottom, right. */
  readonly pads: readonly [number, number, number, number];
  readonly bias: boolean;
  readonly weightCount: number;
  readonly group: number;
}

/** Parameters shared by Convolution, ConvolutionDepthWise, Deconvolution and DeconvolutionDepthWise. */
function convParams(ctx: LayerContext, grouped: boolean): ConvParams {
  const outChannels = positive(ctx, 0, intParam(ctx, 0, 0), 'num_output');
  const kw = positive(ctx, 1, intParam(ctx, 1, 0), 'kernel_w');
  const kh = positive(ctx, 11, intParam(ctx, 11, kw), 'kernel_h');
  const dw = positive(ctx, 2, intParam(ctx, 2, 1), 'dilation_w');
  const dh = positive(ctx, 12, intParam(ctx, 12, dw), 'dilation_h');
  const sw = positive(ctx, 3, intParam(ctx, 3, 1), 'stride_w');
  const sh = positive(ctx, 13, intParam(ctx, 13, sw), 'stride_h');
  const left = intParam(ctx, 4, 0);
  const right = intParam(ctx, 15, left);
  const top = intParam(ctx, 14, left);
  const bottom = intParam(ctx, 16, top);
  const weightCount = positive(ctx, 6, intParam(ctx, 6, 0), 'weight_data_size');
  const group = grouped ? positive(ctx, 7, intParam(ctx, 7, 1), 'group') : 1;
  if (outChannels % group !== 0) ctx.fail(`num_output ${outChannels} is not a multiple of group ${group}`);
  return {
    outChannels,
    kernel: [kh, kw],
    dilation: [dh, dw],
    stride: [sh, sw],
    pads: [top, left, bottom, right],
    bias: intParam(ctx, 5, 0) !== 0,
    weightCount,
    group,
  };
}

/** Input channels implied by the weight count, checked against the input blob. */
function convInputChannels(ctx: LayerContext, p: ConvParams, x: ImageBlob): number {
  const perGroup = p.weightCount / (p.outChannels * p.kernel[0] * p.kernel[1]);
  if (!Number.isInteger(perGroup) || perGroup < 1) {
    ctx.fail(`weight_data_size ${p.weightCount} is not num_output ${p.outChannels} × kernel ${p.kernel[0]}×${p.kernel[1]} × input channels`);
  }
  const channels = perGroup * p.group;
  if (channels !== x.channels) ctx.fail(`its weights expect ${channels} input channels, but its input blob has ${x.channels}`);
  return channels;
}

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

function reachOf(x: ImageBlob, kernel: readonly [number, number], dilation: readonly [number, number]): number {
  const radius = Math.max(...[0, 1].map((i) => (dilation[i]! * (kernel[i]! - 1)) / 2));
  return x.reach + radius * Math.min(x.h.den / x.h.num, x.w.den / x.w.num);
}

/** Convolution and ConvolutionDepthWise: weights [out, in / group, kh, kw], which is ONNX's Conv layout. */
export function convolution(grouped: boolean): LayerConverter {
  return (ctx, inputs) => {
    const x = single(ctx, inputs);
    const p = convParams(ctx, grouped);
    const padValue = floatParam(ctx, 18, 0);
    refuse(ctx, 8, intParam(ctx, 8, 0), 0, 'int8 quantization');
    refuse(ctx, 19, intParam(ctx, 19, 0), 0, 'dynamic_weight');
    convInputChannels(ctx, p, x);
    const [top, left, bottom, right] = p.pads;
    const same = p.pads.every((v) => v === -233) ? 'SAME_UPPER' : p.pads.every((v) => v === -234) ? 'SAME_LOWER' : undefined;
    if (same === undefined && p.pads.some((v) => v < 0)) ctx.fail(`unsupported padding ${p.pads.join(', ')} (top, left, bottom, right)`);
    if (same !== undefined && padValue !== 0) ctx.fail(`SAME padding with pad_value ${padValue} is not supported`);

    const weight = ctx.tagged(p.weightCount, 'weight_data');
    const w = ctx.initializer('weight', [p.outChannels, p.weightCount / (p.outChannels * p.kernel[0] * p.kernel[1]), p.kernel[0], p.kernel[1]], weight);
    const inputsOnnx = [x.name, w];
    if (p.bias) inputsOnnx.push(ctx.initializer('bias', [p.outChannels], ctx.raw(p.outChannels, 'bias_data')));

    let source = x.name;
    let pads = [top, left, bottom, right];
    if (same === undefined && padValue !== 0 && pads.some((v) => v > 0)) {
      source = ctx.node('Pad', [x.name, ctx.initializer('pads', [8], int64s([0, 0, top, left, 0, 0, bottom, right])), scalar(ctx, 'pad_value', padValue)]);
      pads = [0, 0, 0, 0];
    }
    inputsOnnx[0] = source;
    const y = ctx.node('Conv', inputsOnnx, {
      kernel_shape: attr.ints(p.kernel),
      strides: attr.ints(p.stride),
      dilations: attr.ints(p.dilation),
      group: attr.int(p.group),
      ...(same === undefined ? { pads: attr.ints(pads) } : { auto_pad: attr.string(same) }),
    });
    const size = (a: Affine, i: 0 | 1): Affine => {
      const extent = p.dilation[i] * (p.kernel[i] - 1) + 1;
      const stride = p.stride[i];
      const scaled = scaleAffine({ ...a, off: 0 }, 1, stride);
      if (same !== undefined) {
        // ncnn's -233 (and ONNX's SAME_UPPER) pads (ceil(in / stride) - 1) · stride + extent - in in all, the odd
        // pixel after; `in` is a multiple of the stride plus a.off.
        const total = Math.max(0, mod(-a.off, stride) - stride + extent);
        const begin = same === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
        return moved({ ...scaled, off: Math.ceil(a.off / stride) }, a, (extent - 1) / 2 - begin);
      }
      const padding = i === 0 ? top + bottom : left + right;
      return moved({ ...scaled, off: Math.floor((a.off + padding - extent) / stride) + 1 }, a, (extent - 1) / 2 - (i === 0 ? top : left));
    };
    return [derived(x, fusedActivation(ctx, y), { channels: p.outChannels, h: size(x.h, 0), w: size(x.w, 1), reach: reachOf(x, p.kernel, p.dilation) })];
  };
}

/**
 * Deconvolution and DeconvolutionDepthWise: ncnn stores [group, out / group, in / group, kh, kw] and applies the
 * kernel unflipped, as ONNX ConvTranspose does with its [in, out / group, kh, kw] layout: a transpose per group.
 */
export function deconvolution(grouped: boolean): LayerConverter {
  return (ctx, inputs) => {
    const x = single(ctx, inputs);
    const p = convParams(ctx, grouped);
    const outPadRight = intParam(ctx, 18, 0);
    const outPadBottom = intParam(ctx, 19, outPadRight);
    refuse(ctx, 20, intParam(ctx, 20, 0), 0, 'a fixed output_w');
    refuse(ctx, 21, intParam(ctx, 21, 0), 0, 'a fixed output_h');
    refuse(ctx, 28, intParam(ctx, 28, 0), 0, 'dynamic_weight');
    if (p.pads.some((v) => v < 0)) ctx.fail(`unsupported padding ${p.pads.join(', ')} (top, left, bottom, right)`);
    if (outPadRight < 0 || outPadBottom < 0) ctx.fail(`unsupported output padding ${outPadBottom}, ${outPadRight}`);
    const inChannels = convInputChannels(ctx, p, x);

    const stored = ctx.tagged(p.weightCount, 'weight_data');
    const outG = p.outChannels / p.group;
    const inG = inChannels / p.group;
    const k = p.kernel[0] * p.kernel[1];
    const transposed = new Float32Array(stored.length);
    for (let g = 0; g < p.group; g++) {
      for (let o = 0; o < outG; o++) {
        for (let i = 0; i < inG; i++) {
          const from = ((g * outG + o) * inG + i) * k;
          const to = ((g * inG + i) * outG + o) * k;
          transposed.set(stored.subarray(from, from + k), to);
        }
      }
    }
    const inputsOnnx = [x.name, ctx.initializer('weight', [inChannels, outG, p.kernel[0], p.kernel[1]], transposed)];
    if (p.bias) inputsOnnx.push(ctx.initializer('bias', [p.outChannels], ctx.raw(p.outChannels, 'bias_data')));
    const y = ctx.node('ConvTranspose', inputsOnnx, {
      kernel_shape: attr.ints(p.kernel),
      strides: attr.ints(p.stride),
      dilations: attr.ints(p.dilation),
      group: attr.int(p.group),
      pads: attr.ints(p.pads),
      output_padding: attr.ints([outPadBottom, outPadRight]),
    });
    const [top, left, bottom, right] = p.pads;
    const size = (a: Affine, i: 0 | 1): Affine => {
      const extent = p.dilation[i] * (p.kernel[i] - 1) + 1;
      const stride = p.stride[i];
      const extra = i === 0 ? outPadBottom - top - bottom : outPadRight - left - right;
      // Input pixel j spreads over full-output pixels j · stride .. j · stride + extent - 1; the output starts after
      // the padding is cut off.
      return moved(shift(scaleAffine(a, stride, 1), extent - stride + extra), a, ((i === 0 ? top : left) - (extent - 1) / 2) / stride);
    };
    const radius = Math.max(...[0, 1].map((i) => (p.dilation[i]! * (p.kernel[i]! - 1)) / 2 / p.stride[i]!));
    return [
      derived(x, fusedActivation(ctx, y), {
        channels: p.outChannels,
        h: size(x.h, 0),
        w: size(x.w, 1),
        reach: x.reach + radius * Math.min(x.h.den / x.h.num, x.w.den / x.w.num),
      }),
    ];
  };
}

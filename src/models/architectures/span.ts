/**
 * SPAN: Wan et al., "Swift Parameter-free Attention Network for Efficient Super-Resolution" (CVPRW 2024,
 * github.com/hongyuanyu/SPAN, basicsr/archs/span_arch.py), as spandrel and traiNNer-redux load it: a `no_norm` buffer
 * turns the input normalisation off, and the number of blocks (6 in the paper) is read from the keys.
 *
 * Keys: conv_1, block_1..block_6 (SPAB: c1_r, c2_r, c3_r), conv_2 are Conv3XC layers. A training checkpoint holds
 * each one's branches: a 1x1 skip `sk`, `conv.0` (1x1, expands ×2) → `conv.1` (3x3 on the zero-padded input) →
 * `conv.2` (1x1), and `eval_conv`, the 3x3 conv those fold into. The reference recomputes `eval_conv` from the
 * branches on every forward at inference, so the stored one (possibly stale) is ignored here too: the branches are
 * folded the same way, in float64. A re-parameterised ("fused") checkpoint, as the NTIRE 2024-2026 efficient-SR
 * entries ship them, holds only the `eval_conv` of each layer, used as it is.
 *
 * forward: x = (x − rgb_mean)·255 (unless `no_norm`); f = conv_1(x); SPAB(x): o1 = c1_r(x), a1 = silu(o1),
 * o3 = c3_r(silu(c2_r(a1))), out = (o3 + x)·(sigmoid(o3) − 0.5), and it also returns o1 — but the reference's SiLU
 * runs in place (`nn.SiLU(inplace=True)`), so the tensor it returns is a1, not the raw conv output. b1 = block_1(f)
 * ... bN = block_N(bN-1); conv_cat (1x1) over [f, conv_2(bN), b1, block_N's a1]; upsampler.0 (3x3 to out·scale²)
 * and pixel shuffle.
 */
import { GraphBuilder, attr } from '../../onnx/index.js';
import type { StateDict, WeightTensor } from '../weights/tensor.js';
import { checkedConv2d, conv2d, finishModel, imageInput, pixelShuffle, scalar } from './graph.js';
import { countParameters, countSequence, hasAll, pixelShuffleChannels, shapeOf, tensor } from './state.js';
import type { Architecture } from './types.js';

export interface SpanParams {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** SPAB blocks (6 in the reference). */
  readonly blocks: number;
  readonly scale: number;
  /** Subtract the DIV2K mean and multiply by 255 first (false when the checkpoint has `no_norm`). */
  readonly norm: boolean;
  /** Re-parameterised checkpoint: each Conv3XC is stored only as its folded 3x3 `eval_conv`. */
  readonly fused: boolean;
  /** conv_cat's output channels: `features` in the paper, fewer in some slimmed challenge entries. */
  readonly catChannels: number;
}

const RGB_MEAN = [0.4488, 0.4371, 0.404];
const IMG_RANGE = 255;

/**
 * Conv3XC's branches folded into one 3x3 conv: W = w3·w2·w1 + centre(sk), b = w3·(Σ w2·b1 + b2) + b3 + sk_b.
 * Exact, borders included: the reference pads the input with zeros before the 1x1 expand, whose output there is b1.
 */
function foldConv3XC(weights: StateDict, prefix: string, cin: number, cout: number): StateDict {
  const get = (key: string, shape: readonly (number | undefined)[]): WeightTensor => tensor(weights, `${prefix}.${key}`, shape);
  // The expanded widths (2·cin and 2·cout in the reference), from the 1x1 convs on either side of the 3x3.
  const mid = shapeOf(weights, `${prefix}.conv.0.weight`)?.[0];
  const mid2 = shapeOf(weights, `${prefix}.conv.2.weight`)?.[1];
  const w1 = get('conv.0.weight', [mid, cin, 1, 1]).data;
  const b1 = get('conv.0.bias', [mid]).data;
  const w2 = get('conv.1.weight', [mid2, mid, 3, 3]).data;
  const b2 = get('conv.1.bias', [mid2]).data;
  const w3 = get('conv.2.weight', [cout, mid2, 1, 1]).data;
  const b3 = get('conv.2.bias', [cout]).data;
  const sk = get('sk.weight', [cout, cin, 1, 1]).data;
  const skBias = get('sk.bias', [cout]).data;
  const [m1, m2] = [b1.length, b2.length];

  // w21[n, i, k] = Σ_m w2[n, m, k]·w1[m, i]; b21[n] = Σ_{m,k} w2[n, m, k]·b1[m] + b2[n]
  const w21 = new Float64Array(m2 * cin * 9);
  const b21 = new Float64Array(m2);
  for (let n = 0; n < m2; n++) {
    b21[n] = b2[n]!;
    for (let m = 0; m < m1; m++) {
      for (let k = 0; k < 9; k++) {
        const w = w2[(n * m1 + m) * 9 + k]!;
        b21[n]! += w * b1[m]!;
        for (let i = 0; i < cin; i++) w21[(n * cin + i) * 9 + k]! += w * w1[m * cin + i]!;
      }
    }
  }
  const weight = new Float32Array(cout * cin * 9);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    let b = b3[o]! + skBias[o]!;
    for (let n = 0; n < m2; n++) b += w3[o * m2 + n]! * b21[n]!;
    bias[o] = b;
    for (let i = 0; i < cin; i++) {
      for (let k = 0; k < 9; k++) {
        let w = k === 4 ? sk[o * cin + i]! : 0;
        for (let n = 0; n < m2; n++) w += w3[o * m2 + n]! * w21[(n * cin + i) * 9 + k]!;
        weight[(o * cin + i) * 9 + k] = w;
      }
    }
  }
  return new Map([
    [`${prefix}.weight`, { shape: [cout, cin, 3, 3], data: weight, dtype: 'F32' }],
    [`${prefix}.bias`, { shape: [cout], data: bias, dtype: 'F32' }],
  ]);
}

function foldedParameters(p: SpanParams): number {
  const nf = p.features;
  const conv3x3 = (cin: number, cout: number): number => cout * cin * 9 + cout;
  const conv3xcs = conv3x3(p.inChannels, nf) + (3 * p.blocks + 1) * conv3x3(nf, nf);
  return conv3xcs + (4 * nf * p.catChannels + p.catChannels) + conv3x3(p.catChannels, p.outChannels * p.scale * p.scale);
}

export const span: Architecture<SpanParams> = {
  id: 'span',
  name: 'SPAN',

  detect(weights) {
    // Training checkpoints carry the branches (`sk`, `conv.*`); fused ones only `eval_conv`.
    const fused = !weights.has('conv_1.sk.weight');
    const layer = fused ? 'eval_conv' : 'sk';
    const keys = [`conv_1.${layer}.weight`, `block_1.c1_r.${layer}.weight`, 'conv_cat.weight', `conv_2.${layer}.weight`, 'upsampler.0.weight'];
    if (!hasAll(weights, ...keys) || (!fused && !weights.has('conv_1.conv.0.weight'))) return undefined;
    const first = shapeOf(weights, `conv_1.${layer}.weight`);
    const last = shapeOf(weights, 'upsampler.0.weight');
    const cat = shapeOf(weights, 'conv_cat.weight');
    if (first?.length !== 4 || last?.length !== 4 || cat?.length !== 4) return undefined;
    const [features, inChannels] = first as [number, number];
    const layout = pixelShuffleChannels(last[0] as number, inChannels);
    if (layout === undefined) return undefined;
    const blocks = countSequence(weights, (i) => `block_${i + 1}.c1_r.${layer}.weight`);
    const norm = !weights.has('no_norm');
    // The mean subtracted has three channels.
    if (blocks < 1 || (norm && inChannels !== 3)) return undefined;
    return { inChannels, outChannels: layout.outChannels, features, blocks, scale: layout.scale, norm, fused, catChannels: cat[0] as number };
  },

  describe(weights, p) {
    return {
      scale: p.scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: 1,
      // 3x3 convs on the longest path, all at the input resolution: conv_1, three per block, conv_2, the upsampler.
      receptiveField: 3 * p.blocks + 3,
      tilingSafe: true,
      // conv_cat's four-way concatenation plus a few live feature maps, and the upsampler's output.
      bytesPerInputPixel: 4 * (8 * p.features + 2 * p.outChannels * p.scale * p.scale),
      parameters: countParameters(weights),
      // What the network runs with once each Conv3XC is folded into one 3x3 conv (the figure the paper reports).
      details: { blocks: p.blocks, features: p.features, norm: p.norm, fused: p.fused, foldedParameters: foldedParameters(p) },
    };
  },

  toOnnx(weights, p) {
    const nf = p.features;
    const g = new GraphBuilder({ name: 'span' });
    const conv3xc = (x: string, prefix: string, cin: number): string =>
      p.fused
        ? checkedConv2d(g, x, weights, `${prefix}.eval_conv`, [nf, cin, 3, 3])
        : conv2d(g, x, foldConv3XC(weights, prefix, cin, nf), prefix);
    const silu = (x: string): string => g.node('Mul', [x, g.node('Sigmoid', [x])]);

    let x = imageInput(g, p.inChannels);
    if (p.norm) {
      const mean = g.initializer(g.uniqueName('rgb_mean'), [1, 3, 1, 1], Float32Array.from(RGB_MEAN));
      x = g.node('Mul', [g.node('Sub', [x, mean]), scalar(g, 'img_range', IMG_RANGE)]);
    }
    const features = conv3xc(x, 'conv_1', p.inChannels);
    let out = features;
    let block1Out = '';
    let lastActivation = '';
    for (let b = 1; b <= p.blocks; b++) {
      const a1 = silu(conv3xc(out, `block_${b}.c1_r`, nf));
      const o3 = conv3xc(silu(conv3xc(a1, `block_${b}.c2_r`, nf)), `block_${b}.c3_r`, nf);
      const attention = g.node('Sub', [g.node('Sigmoid', [o3]), scalar(g, 'half', 0.5)]);
      out = g.node('Mul', [g.node('Add', [o3, out]), attention]);
      if (b === 1) block1Out = out;
      lastActivation = a1;
    }
    const cat = g.node('Concat', [features, conv3xc(out, 'conv_2', nf), block1Out, lastActivation], { axis: attr.int(1) });
    // Some slimmed entries merge into fewer channels than the body carries; the upsampler follows conv_cat.
    const merged = checkedConv2d(g, cat, weights, 'conv_cat', [p.catChannels, 4 * nf, 1, 1]);
    const upsampled = checkedConv2d(g, merged, weights, 'upsampler.0', [p.outChannels * p.scale * p.scale, p.catChannels, 3, 3]);
    return finishModel(g, p.scale > 1 ? pixelShuffle(g, upsampled, p.scale) : upsampled, span.describe(weights, p), 'SPAN');
  },
};

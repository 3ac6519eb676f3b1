/**
 * ESRGAN / RRDBNet: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (2018,
 * github.com/xinntao/ESRGAN), with Real-ESRGAN's x2 / x1 variants that pixel-unshuffle their input by 2 / 4
 * (github.com/xinntao/Real-ESRGAN) and ESRGAN+'s extra 1x1 convs (Rakotonirina & Rasoanaivo, ICASSP 2020).
 *
 * conv_first → RRDB blocks (3 dense blocks of 5 convs each; dense and RRDB outputs scaled by 0.2 before their residual
 * add) → trunk conv, added to conv_first's output → per stage: ×2 nearest, conv, LeakyReLU → HR conv, LeakyReLU →
 * last conv. LeakyReLU slope 0.2 everywhere. Checkpoints name the same layers in three ways:
 *
 * | layer       | `old-arch` (most community models)               | `basicsr` (Real-ESRGAN) | `rrdb-trunk` (BSRGAN)     |
 * | ----------- | ------------------------------------------------ | ----------------------- | ------------------------- |
 * | first       | model.0                                          | conv_first              | conv_first                |
 * | dense conv  | model.1.sub.N.RDB1.conv1.0                       | body.N.rdb1.conv1       | RRDB_trunk.N.RDB1.conv1   |
 * | trunk       | model.1.sub.<blocks>                             | conv_body               | trunk_conv                |
 * | stage i ≥ 1 | model.<3i> (Upsample at 3i-1, LeakyReLU at 3i+1) | conv_up<i>              | upconv<i>                 |
 * | HR conv     | model.<3n+2>                                     | conv_hr                 | HRconv                    |
 * | last        | model.<3n+4>                                     | conv_last               | conv_last                 |
 *
 * `old-arch` is ESRGAN's first release (RRDB_ESRGAN_x4_old_arch.pth) and what most community models use
 * (4x-UltraSharp...); `rrdb-trunk` is xinntao/ESRGAN's later release and BSRGAN / RealSR.
 */
import { GraphBuilder, attr } from '../../onnx/index.js';
import type { StateDict } from '../weights/tensor.js';
import { checkedConv2d, finishModel, imageInput, leakyRelu, pixelUnshuffle, scalar, upsampleNearest } from './graph.js';
import { countParameters, countSequence, hasAll, indicesUnder, shapeOf } from './state.js';
import type { Architecture } from './types.js';

export type EsrganLayout = 'old-arch' | 'basicsr' | 'rrdb-trunk';

export interface EsrganParams {
  readonly layout: EsrganLayout;
  /** Image channels, before any pixel-unshuffle. */
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  readonly blocks: number;
  /** Channels each dense-block conv adds (num_grow_ch, gc). */
  readonly growth: number;
  /** ×2 nearest-upsampling stages. */
  readonly upsamplings: number;
  /** Pixel-unshuffle factor of the input: 1, 2 (x2 variant) or 4 (x1 variant). */
  readonly unshuffle: number;
  /** ESRGAN+: dense blocks have a `conv1x1`. */
  readonly plus: boolean;
}

/** Layer names (without `.weight` / `.bias`) in each layout. */
interface Names {
  first: string;
  dense(block: number, rdb: number, conv: number): string;
  conv1x1(block: number, rdb: number): string;
  trunk: string;
  up(stage: number): string;
  hr: string;
  last: string;
}

function names(layout: EsrganLayout, blocks: number, upsamplings: number): Names {
  if (layout === 'old-arch') {
    return {
      first: 'model.0',
      dense: (b, r, c) => `model.1.sub.${b}.RDB${r}.conv${c}.0`,
      conv1x1: (b, r) => `model.1.sub.${b}.RDB${r}.conv1x1`,
      trunk: `model.1.sub.${blocks}`,
      up: (i) => `model.${3 * i}`,
      hr: `model.${3 * upsamplings + 2}`,
      last: `model.${3 * upsamplings + 4}`,
    };
  }
  const basicsr = layout === 'basicsr';
  return {
    first: 'conv_first',
    dense: (b, r, c) => (basicsr ? `body.${b}.rdb${r}.conv${c}` : `RRDB_trunk.${b}.RDB${r}.conv${c}`),
    conv1x1: (b, r) => (basicsr ? `body.${b}.rdb${r}.conv1x1` : `RRDB_trunk.${b}.RDB${r}.conv1x1`),
    trunk: basicsr ? 'conv_body' : 'trunk_conv',
    up: (i) => (basicsr ? `conv_up${i}` : `upconv${i}`),
    hr: basicsr ? 'conv_hr' : 'HRconv',
    last: 'conv_last',
  };
}

/** Which layout, with its block and stage counts, or undefined. */
function layoutOf(weights: StateDict): { layout: EsrganLayout; blocks: number; upsamplings: number } | undefined {
  if (hasAll(weights, 'model.0.weight', 'model.1.sub.0.RDB1.conv1.0.weight')) {
    const blocks = countSequence(weights, (i) => `model.1.sub.${i}.RDB1.conv1.0.weight`);
    // The highest index under `model.` is the last conv, at 3n + 4.
    const last = Math.max(...indicesUnder(weights, 'model.'));
    return (last - 4) % 3 === 0 && last >= 4 ? { layout: 'old-arch', blocks, upsamplings: (last - 4) / 3 } : undefined;
  }
  if (hasAll(weights, 'conv_first.weight', 'body.0.rdb1.conv1.weight', 'conv_body.weight', 'conv_last.weight')) {
    const blocks = countSequence(weights, (i) => `body.${i}.rdb1.conv1.weight`);
    return { layout: 'basicsr', blocks, upsamplings: countSequence(weights, (i) => `conv_up${i + 1}.weight`) };
  }
  if (hasAll(weights, 'conv_first.weight', 'RRDB_trunk.0.RDB1.conv1.weight', 'trunk_conv.weight', 'conv_last.weight')) {
    const blocks = countSequence(weights, (i) => `RRDB_trunk.${i}.RDB1.conv1.weight`);
    return { layout: 'rrdb-trunk', blocks, upsamplings: countSequence(weights, (i) => `upconv${i + 1}.weight`) };
  }
  return undefined;
}

const SLOPE = 0.2;
const RESIDUAL_SCALE = 0.2;
/**
 * Tile overlap cap: 23 RRDB blocks stack 345 3x3 convs (a theoretical reach of ~350 px), but the 0.2-scaled residual
 * branches make what lies beyond a few pixels negligible: Real-ESRGAN's own tiled inference pads tiles by 10 px
 * (tile_pad) and realesrgan-ncnn-vulkan by 10 (prepadding). 16 keeps a margin at a tile overhead of 13% on
 * 512 px tiles (32 would cost 28%, for a heavy network that is all compute).
 */
const MAX_RECEPTIVE_FIELD = 16;

function scaleOf(p: EsrganParams): number {
  return 2 ** p.upsamplings / p.unshuffle;
}

export const esrgan: Architecture<EsrganParams> = {
  id: 'esrgan',
  name: 'ESRGAN (RRDBNet)',

  detect(weights) {
    const found = layoutOf(weights);
    if (found === undefined || found.blocks === 0) return undefined;
    const n = names(found.layout, found.blocks, found.upsamplings);
    const first = shapeOf(weights, `${n.first}.weight`);
    const dense = shapeOf(weights, `${n.dense(0, 1, 1)}.weight`);
    const last = shapeOf(weights, `${n.last}.weight`);
    if (first?.length !== 4 || dense?.length !== 4 || last?.length !== 4) return undefined;
    const [features, firstIn] = first as [number, number];
    const outChannels = last[0] as number;
    // Real-ESRGAN's x2 / x1 models see the input pixel-unshuffled: conv_first takes 4× / 16× the image channels.
    const unshuffle = firstIn === outChannels * 4 ? 2 : firstIn === outChannels * 16 ? 4 : 1;
    const params: EsrganParams = {
      layout: found.layout,
      inChannels: firstIn / (unshuffle * unshuffle),
      outChannels,
      features,
      blocks: found.blocks,
      growth: dense[0] as number,
      upsamplings: found.upsamplings,
      unshuffle,
      plus: weights.has(`${n.conv1x1(0, 1)}.weight`),
    };
    return Number.isInteger(scaleOf(params)) ? params : undefined;
  },

  describe(weights, p) {
    const scale = scaleOf(p);
    // 3x3 convs on the longest path, in input pixels: 2 + 15 per block at the unshuffled resolution, then each stage's
    // conv at 2^i times it and the two HR convs; plus the unshuffle's own reach.
    const lowRes = 2 + 15 * p.blocks;
    let highRes = 2 / 2 ** p.upsamplings;
    for (let i = 1; i <= p.upsamplings; i++) highRes += 1 / 2 ** i;
    const reach = Math.ceil(p.unshuffle * (lowRes + highRes) + p.unshuffle - 1);
    return {
      scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: p.unshuffle,
      receptiveField: Math.min(reach, MAX_RECEPTIVE_FIELD),
      tilingSafe: true,
      // Five float feature maps at the output resolution (or the dense blocks' concatenations, if larger): the
      // RealESRGAN_x4plus size measured ~18 KB per input pixel of a tile (1862 MB peak RSS on 288x288 tiles).
      bytesPerInputPixel: 4 * Math.max(5 * p.features * scale * scale, (3 * p.features + 4 * p.growth) / p.unshuffle ** 2),
      parameters: countParameters(weights),
      details: { layout: p.layout, blocks: p.blocks, features: p.features, growth: p.growth, unshuffle: p.unshuffle, plus: p.plus },
    };
  },

  toOnnx(weights, p) {
    const n = names(p.layout, p.blocks, p.upsamplings);
    const { features: nf, growth: gc } = p;
    const g = new GraphBuilder({ name: 'esrgan' });
    const conv = (x: string, prefix: string, cin: number, cout: number, k = 3): string =>
      checkedConv2d(g, x, weights, prefix, [cout, cin, k, k]);
    const concat = (xs: string[]): string => (xs.length === 1 ? (xs[0] as string) : g.node('Concat', xs, { axis: attr.int(1) }));
    const residualScale = scalar(g, 'residual_scale', RESIDUAL_SCALE);
    const residual = (x: string, branch: string): string => g.node('Add', [x, g.node('Mul', [branch, residualScale])]);

    // Each conv sees the block input and every earlier output; ESRGAN+ adds conv1x1(x) to the 2nd, the 2nd to the 4th.
    const denseBlock = (x: string, b: number, r: number): string => {
      const feats = [x];
      for (let c = 1; c <= 4; c++) {
        let y = leakyRelu(g, conv(concat(feats), n.dense(b, r, c), nf + (c - 1) * gc, gc), SLOPE);
        if (p.plus && c === 2) y = g.node('Add', [y, conv(x, n.conv1x1(b, r), nf, gc, 1)]);
        if (p.plus && c === 4) y = g.node('Add', [y, feats[2] as string]);
        feats.push(y);
      }
      return residual(x, conv(concat(feats), n.dense(b, r, 5), nf + 4 * gc, nf));
    };

    const input = imageInput(g, p.inChannels);
    const shuffled = p.unshuffle === 1 ? input : pixelUnshuffle(g, input, p.inChannels, p.unshuffle);
    const first = conv(shuffled, n.first, p.inChannels * p.unshuffle ** 2, nf);
    let x = first;
    for (let b = 0; b < p.blocks; b++) {
      let y = x;
      for (let r = 1; r <= 3; r++) y = denseBlock(y, b, r);
      x = residual(x, y);
    }
    x = g.node('Add', [first, conv(x, n.trunk, nf, nf)]);
    for (let i = 1; i <= p.upsamplings; i++) x = leakyRelu(g, conv(upsampleNearest(g, x, 2), n.up(i), nf, nf), SLOPE);
    x = conv(leakyRelu(g, conv(x, n.hr, nf, nf), SLOPE), n.last, nf, p.outChannels);
    return finishModel(g, x, esrgan.describe(weights, p), 'ESRGAN');
  },
};

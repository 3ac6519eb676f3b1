/**
 * IMDN as the paper has it: Hui et al., "Lightweight Image Super-Resolution with Information Multi-distillation
 * Network" (ACM MM 2019; github.com/Zheng222/IMDN, model/architecture.py IMDN and IMDN_AS, model/block.py IMDModule
 * and CCALayer). The released IMDN_x2/x3/x4.pth: 64 features, 6 blocks, 694K-715K weights. Its block is the one of
 * imdn.ts plus contrast-aware channel attention (CCA) before the 1x1 fusion.
 *
 * Keys: fea_conv (3x3), IMDB1..IMDBn (c1..c5, cca.conv_du.0 and .2), c.0 (1x1 over every block's output), LR_conv
 * (3x3), upsampler.0 (3x3 to out·s², then pixel shuffle). IMDModule(x): c1..c4 give the distilled parts as in
 * imdn.ts's {@link distillationChain} (d = C/4, LeakyReLU 0.05); x + c5(CCA([d1, d2, d3, d4])), c5 1x1.
 * CCA(u) = u · sigmoid(conv_du.2(relu(conv_du.0(σ + μ)))), with μ and σ each channel's mean and population standard
 * deviation over H and W (σ = sqrt(mean((u − μ)²)), no epsilon); conv_du are 1x1 convs C → C/16 → C.
 * IMDN: f = fea_conv(x), b_i = IMDB_i(b_i-1), LR_conv(lrelu(c.0([b_1..b_n]))) + f, upsampler. Pixels in 0..1 (the
 * authors' test_IMDN.py divides by 255 and clamps the output to 0..1).
 *
 * IMDN_AS (the "adaptive cropping" model for any scale, on inputs already enlarged to the output size) has the same
 * body; fea_conv is two 3x3 stride-2 convs with a LeakyReLU 0.05 between (keys fea_conv.0, fea_conv.2) and the
 * upsampler enlarges x4, so it is a x1 model whose inputs must be multiples of 4 (the tiler pads them).
 *
 * The attention's statistics cover the whole image, so tiles (or padding) change the result: not tiling-safe.
 */
import { GraphBuilder, attr } from '../../onnx/index.js';
import type { StateDict } from '../weights/tensor.js';
import { checkedConv2d, finishModel, imageInput, leakyRelu, pixelShuffle } from './graph.js';
import { distillationChain } from './imdn.js';
import { countParameters, countSequence, hasAll, pixelShuffleChannels, shapeOf } from './state.js';
import type { Architecture } from './types.js';

export interface ImdnCcaParams {
  /** `imdn`: the x2/x3/x4 models; `adaptive`: IMDN_AS, whose two stride-2 first convs shrink the input by 4. */
  readonly variant: 'imdn' | 'adaptive';
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** Channels each step distils (features / 4). */
  readonly distilled: number;
  /** CCA's inner width (features / 16). */
  readonly attentionChannels: number;
  readonly blocks: number;
  /** Output edge / input edge: the upsampler's factor, divided by 4 for IMDN_AS. */
  readonly scale: number;
}

const SLOPE = 0.05;
/** IMDN_AS's two stride-2 convs. */
const ADAPTIVE_STRIDE = 4;

function expectedKeys(variant: ImdnCcaParams['variant'], blocks: number): string[] {
  const layers = [...(variant === 'adaptive' ? ['fea_conv.0', 'fea_conv.2'] : ['fea_conv']), 'c.0', 'LR_conv', 'upsampler.0'];
  for (let b = 1; b <= blocks; b++) layers.push(...['c1', 'c2', 'c3', 'c4', 'c5', 'cca.conv_du.0', 'cca.conv_du.2'].map((l) => `IMDB${b}.${l}`));
  return layers.flatMap((l) => [`${l}.weight`, `${l}.bias`]);
}

/** Contrast-aware channel attention: x · sigmoid(up(relu(down(std + mean)))), statistics per channel over H, W. */
function cca(g: GraphBuilder, weights: StateDict, x: string, prefix: string, channels: number, mid: number): string {
  const reduce = { axes: attr.ints([2, 3]), keepdims: attr.int(1) };
  const mean = g.node('ReduceMean', [x], reduce);
  const centred = g.node('Sub', [x, mean]);
  const std = g.node('Sqrt', [g.node('ReduceMean', [g.node('Mul', [centred, centred])], reduce)]);
  const down = checkedConv2d(g, g.node('Add', [std, mean]), weights, `${prefix}.conv_du.0`, [mid, channels, 1, 1]);
  const up = checkedConv2d(g, g.node('Relu', [down]), weights, `${prefix}.conv_du.2`, [channels, mid, 1, 1]);
  return g.node('Mul', [x, g.node('Sigmoid', [up])]);
}

export const imdnCca: Architecture<ImdnCcaParams> = {
  id: 'imdn-cca',
  name: 'IMDN (ACM MM 2019, with contrast-aware channel attention)',

  detect(weights) {
    if (!hasAll(weights, 'IMDB1.c1.weight', 'IMDB1.c4.weight', 'IMDB1.cca.conv_du.0.weight', 'c.0.weight', 'LR_conv.weight', 'upsampler.0.weight')) return undefined;
    const variant = weights.has('fea_conv.0.weight') ? 'adaptive' : 'imdn';
    const first = shapeOf(weights, variant === 'adaptive' ? 'fea_conv.0.weight' : 'fea_conv.weight');
    const last = shapeOf(weights, 'upsampler.0.weight');
    const distilled = shapeOf(weights, 'IMDB1.c4.weight')?.[0];
    const attentionChannels = shapeOf(weights, 'IMDB1.cca.conv_du.0.weight')?.[0];
    if (first?.length !== 4 || last?.length !== 4 || distilled === undefined || attentionChannels === undefined) return undefined;
    const [features, inChannels] = first as [number, number];
    // The block applies CCA over the four distilled parts and then a C → C fusion: they must make up C channels.
    if (4 * distilled !== features) return undefined;
    const layout = pixelShuffleChannels(last[0] as number, inChannels);
    if (layout === undefined) return undefined;
    let scale = layout.scale;
    if (variant === 'adaptive') {
      if (scale % ADAPTIVE_STRIDE !== 0) return undefined;
      scale /= ADAPTIVE_STRIDE;
    }
    const blocks = countSequence(weights, (i) => `IMDB${i + 1}.c1.weight`);
    const keys = expectedKeys(variant, blocks);
    if (blocks < 1 || weights.size !== keys.length || !hasAll(weights, ...keys)) return undefined;
    return { variant, inChannels, outChannels: layout.outChannels, features, distilled, attentionChannels, blocks, scale };
  },

  describe(weights, p) {
    const adaptive = p.variant === 'adaptive';
    const nf = p.features;
    const out = p.outChannels * p.scale * p.scale;
    return {
      scale: p.scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: adaptive ? ADAPTIVE_STRIDE : 1,
      // Stride-2 convs: tiles must start on their grid to see the same samples.
      ...(adaptive ? { tileAlignment: ADAPTIVE_STRIDE } : {}),
      // The convolutions' reach (the attention's is the whole image): fea_conv, four 3x3 per block, LR_conv and the
      // upsampler's conv, 1 px each; for IMDN_AS the first conv is at full resolution, the second at half (2 px),
      // the rest at a quarter (4 px each).
      receptiveField: adaptive ? 1 + 2 + ADAPTIVE_STRIDE * (4 * p.blocks + 2) : 4 * p.blocks + 3,
      tilingSafe: false,
      // Every block's output lives until c.0's concatenation (twice, with it), plus a block's working maps and the
      // upsampler's output; IMDN_AS runs the body on a sixteenth of the pixels, after two larger first maps.
      bytesPerInputPixel: adaptive
        ? 4 * (nf + nf / 4 + ((2 * p.blocks + 6) * nf) / 16 + 2 * out)
        : 4 * ((2 * p.blocks + 6) * nf + 2 * out),
      parameters: countParameters(weights),
      details: { variant: p.variant, blocks: p.blocks, features: nf, distilled: p.distilled, attentionChannels: p.attentionChannels, channelAttention: true },
    };
  },

  toOnnx(weights, p) {
    const nf = p.features;
    const g = new GraphBuilder({ name: 'imdn_cca' });
    const conv = (x: string, prefix: string, cin: number, cout: number, k: number, stride = 1): string =>
      checkedConv2d(g, x, weights, prefix, [cout, cin, k, k], { stride });
    const lrelu = (x: string): string => leakyRelu(g, x, SLOPE);

    const input = imageInput(g, p.inChannels);
    const features =
      p.variant === 'adaptive'
        ? conv(lrelu(conv(input, 'fea_conv.0', p.inChannels, nf, 3, 2)), 'fea_conv.2', nf, nf, 3, 2)
        : conv(input, 'fea_conv', p.inChannels, nf, 3);
    const outs: string[] = [];
    let x = features;
    for (let b = 1; b <= p.blocks; b++) {
      const prefix = `IMDB${b}`;
      const distilled = distillationChain(g, weights, x, p, [`${prefix}.c1`, `${prefix}.c2`, `${prefix}.c3`, `${prefix}.c4`]);
      const attended = cca(g, weights, distilled, `${prefix}.cca`, 4 * p.distilled, p.attentionChannels);
      x = g.node('Add', [x, conv(attended, `${prefix}.c5`, 4 * p.distilled, nf, 1)]);
      outs.push(x);
    }
    const fused = lrelu(conv(g.node('Concat', outs, { axis: attr.int(1) }), 'c.0', nf * p.blocks, nf, 1));
    const body = g.node('Add', [conv(fused, 'LR_conv', nf, nf, 3), features]);
    const factor = p.variant === 'adaptive' ? p.scale * ADAPTIVE_STRIDE : p.scale;
    const y = conv(body, 'upsampler.0', nf, p.outChannels * factor * factor, 3);
    const name = `IMDN${p.variant === 'adaptive' ? '_AS' : ''} x${p.scale} (${nf} features, ${p.blocks} blocks, CCA)`;
    return finishModel(g, factor > 1 ? pixelShuffle(g, y, factor) : y, imdnCca.describe(weights, p), name);
  },
};

/**
 * IMDN as the AIM 2019 constrained-SR winner and the NTIRE 2022 efficient-SR baseline have it (Hui et al.,
 * "Lightweight Image Super-Resolution with Information Multi-distillation Network", ACM MM 2019; the baseline's code
 * is models/imdn_baseline.py and IMDBlock in models/basicblock.py of github.com/ofsoundof/NTIRE2022_ESR, from KAIR):
 * 64 features, 8 blocks, 894K weights. Unlike the paper's IMDModule (github.com/Zheng222/IMDN, `IMDB<i>.cca` keys,
 * converted by imdn-cca.ts), this block has no contrast-aware channel attention, so it is safe to tile.
 *
 * Keys: model.0 (3x3), model.1.sub.0..n-1 (blocks), model.1.sub.<n> (3x3), model.2 (3x3 to out·scale², then pixel
 * shuffle). IMDBlock(x): conv1..conv3 (`convK.0`, 3x3, then LeakyReLU 0.05) each split into d = C/4 distilled and
 * 3C/4 remaining channels, the remaining feeding the next; conv4 (3x3, 3C/4 → d, no activation); conv1x1 over the
 * four distilled parts; + x. IMDN: f = model.0(x), f + sub.<n>(blocks(f)), model.2, pixel shuffle. Pixels in 0..1.
 */
import { GraphBuilder, attr, int64s } from '../../onnx/index.js';
import type { StateDict } from '../weights/tensor.js';
import { checkedConv2d, finishModel, imageInput, leakyRelu, pixelShuffle } from './graph.js';
import { countParameters, countSequence, hasAll, pixelShuffleChannels, shapeOf } from './state.js';
import type { Architecture } from './types.js';

export interface ImdnParams {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** Channels each step distils (features / 4). */
  readonly distilled: number;
  readonly blocks: number;
  readonly scale: number;
}

const SLOPE = 0.05;

function expectedKeys(blocks: number): string[] {
  const layers = ['model.0', `model.1.sub.${blocks}`, 'model.2'];
  for (let b = 0; b < blocks; b++) layers.push(...['conv1.0', 'conv2.0', 'conv3.0', 'conv4', 'conv1x1'].map((l) => `model.1.sub.${b}.${l}`));
  return layers.flatMap((l) => [`${l}.weight`, `${l}.bias`]);
}

/**
 * The information multi-distillation chain that IMDN's blocks share (this file's and imdn-cca.ts's): `layers[0..2]`
 * are 3x3 convs (→ `features`) followed by LeakyReLU 0.05, each output split into `distilled` kept channels and the
 * rest, which feeds the next; `layers[3]` is a 3x3 conv from the rest to `distilled` channels, no activation.
 * Returns the four distilled parts concatenated (4·distilled channels), before the block's attention and 1x1 fusion.
 */
export function distillationChain(
  g: GraphBuilder,
  weights: StateDict,
  x: string,
  shape: { readonly features: number; readonly distilled: number },
  layers: readonly [string, string, string, string],
): string {
  const { features: nf, distilled } = shape;
  const remaining = nf - distilled;
  const split = g.initializer(g.uniqueName('split'), [2], int64s([distilled, remaining]));
  const parts: string[] = [];
  let r = x;
  for (const [i, cin] of [nf, remaining, remaining].entries()) {
    const activated = leakyRelu(g, checkedConv2d(g, r, weights, layers[i] as string, [nf, cin, 3, 3]), SLOPE);
    const [d, rest] = g.nodeWithOutputs('Split', [activated, split], 2, { axis: attr.int(1) }) as [string, string];
    parts.push(d);
    r = rest;
  }
  parts.push(checkedConv2d(g, r, weights, layers[3], [distilled, remaining, 3, 3]));
  return g.node('Concat', parts, { axis: attr.int(1) });
}

export const imdn: Architecture<ImdnParams> = {
  id: 'imdn',
  name: 'IMDN (AIM 2019, without channel attention)',

  detect(weights) {
    if (!hasAll(weights, 'model.0.weight', 'model.1.sub.0.conv1.0.weight', 'model.1.sub.0.conv1x1.weight', 'model.2.weight')) return undefined;
    const first = shapeOf(weights, 'model.0.weight');
    const last = shapeOf(weights, 'model.2.weight');
    const distilled = shapeOf(weights, 'model.1.sub.0.conv4.weight')?.[0];
    if (first?.length !== 4 || last?.length !== 4 || distilled === undefined) return undefined;
    const [features, inChannels] = first as [number, number];
    const layout = pixelShuffleChannels(last[0] as number, inChannels);
    const blocks = countSequence(weights, (i) => `model.1.sub.${i}.conv1x1.weight`);
    if (layout === undefined || blocks < 1 || distilled >= features) return undefined;
    const keys = expectedKeys(blocks);
    if (weights.size !== keys.length || !hasAll(weights, ...keys)) return undefined;
    return { inChannels, outChannels: layout.outChannels, features, distilled, blocks, scale: layout.scale };
  },

  describe(weights, p) {
    return {
      scale: p.scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: 1,
      // Only convolutions, all at the input resolution: model.0, four 3x3 per block, sub.<n>, model.2. Exact.
      receptiveField: 4 * p.blocks + 3,
      tilingSafe: true,
      // The first conv's output (kept for the long skip), a block's input, working and distilled maps, the output.
      bytesPerInputPixel: 4 * (6 * p.features + 2 * p.outChannels * p.scale * p.scale),
      parameters: countParameters(weights),
      details: { blocks: p.blocks, features: p.features, distilled: p.distilled, channelAttention: false },
    };
  },

  toOnnx(weights, p) {
    const nf = p.features;
    const g = new GraphBuilder({ name: 'imdn' });
    const conv = (x: string, prefix: string, cin: number, cout: number, k: number): string => checkedConv2d(g, x, weights, prefix, [cout, cin, k, k]);

    const features = conv(imageInput(g, p.inChannels), 'model.0', p.inChannels, nf, 3);
    let x = features;
    for (let b = 0; b < p.blocks; b++) {
      const prefix = `model.1.sub.${b}`;
      const distilled = distillationChain(g, weights, x, p, [`${prefix}.conv1.0`, `${prefix}.conv2.0`, `${prefix}.conv3.0`, `${prefix}.conv4`]);
      x = g.node('Add', [x, conv(distilled, `${prefix}.conv1x1`, 4 * p.distilled, nf, 1)]);
    }
    const body = g.node('Add', [features, conv(x, `model.1.sub.${p.blocks}`, nf, nf, 3)]);
    const y = conv(body, 'model.2', nf, p.outChannels * p.scale * p.scale, 3);
    const name = `IMDN x${p.scale} (${nf} features, ${p.blocks} blocks)`;
    return finishModel(g, p.scale > 1 ? pixelShuffle(g, y, p.scale) : y, imdn.describe(weights, p), name);
  },
};

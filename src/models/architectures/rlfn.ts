/**
 * RLFN: Kong et al., "Residual Local Feature Network for Efficient Super-Resolution" (CVPRW 2022,
 * github.com/bytedance/RLFN, model/block.py and rlfn*.py), the NTIRE 2022 efficient-SR winner. Two key layouts:
 *
 * | layer          | `ntire` (challenge repository, team04_rlfn.pth) | `bytedance` (the authors' model_zoo) |
 * | -------------- | ----------------------------------------------- | ------------------------------------ |
 * | first conv     | fea_conv                                        | conv_1                               |
 * | block i        | B<i>                                            | block_<i>                            |
 * | before upscale | LR_conv                                         | conv_2                               |
 *
 * and upsampler.0 in both. RLFB(x): lrelu(c1_r), lrelu(c2_r), lrelu(c3_r) (3x3: C → mid → mid → C), + x, c5
 * (1x1), ESA (esa.ts, conv3 alone, 16 channels). RLFN: f = first(x), blocks in a chain, last conv + f, upsampler.0
 * (3x3 to out·scale²) and pixel shuffle. LeakyReLU slope 0.05. The challenge checkpoint has 46 features, 48 mid
 * channels and 4 blocks (317K weights); the paper's RLFN 52 features and 6 blocks.
 *
 * Pixels are in 0..255 (bytedance's test_demo.py multiplies by 255; the NTIRE 2022 test script gives data_range
 * 255): the graph scales on the way in and out.
 */
import { GraphBuilder } from '../../onnx/index.js';
import { ESA_LAYERS, ESA_TILE_OVERLAP, cropToScaled, esa, padToEsaMinimum } from './esa.js';
import { checkedConv2d, finishModel, imageInput, leakyRelu, pixelShuffle, scalar } from './graph.js';
import { countParameters, countSequence, hasAll, pixelShuffleChannels, shapeOf } from './state.js';
import type { Architecture } from './types.js';

export type RlfnLayout = 'ntire' | 'bytedance';

export interface RlfnParams {
  readonly layout: RlfnLayout;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** Channels inside a block, between c1_r and c3_r (= features unless pruned: 48 for 46 features). */
  readonly midChannels: number;
  readonly blocks: number;
  /** ESA's inner width (16). */
  readonly esaChannels: number;
  readonly scale: number;
  /** Pixel range the network works in: 255. */
  readonly range: number;
}

const SLOPE = 0.05;
const RANGE = 255;

interface Names {
  readonly first: string;
  block(i: number): string;
  readonly last: string;
}

const NAMES: Readonly<Record<RlfnLayout, Names>> = {
  ntire: { first: 'fea_conv', block: (i) => `B${i}`, last: 'LR_conv' },
  bytedance: { first: 'conv_1', block: (i) => `block_${i}`, last: 'conv_2' },
};

function expectedKeys(names: Names, blocks: number): string[] {
  const layers = [names.first, names.last, 'upsampler.0'];
  for (let b = 1; b <= blocks; b++) {
    const prefix = names.block(b);
    layers.push(...['c1_r', 'c2_r', 'c3_r', 'c5'].map((l) => `${prefix}.${l}`), ...ESA_LAYERS.rlfn.map((l) => `${prefix}.esa.${l}`));
  }
  return layers.flatMap((l) => [`${l}.weight`, `${l}.bias`]);
}

export const rlfn: Architecture<RlfnParams> = {
  id: 'rlfn',
  name: 'RLFN',

  detect(weights) {
    const layout = (['ntire', 'bytedance'] as const).find((l) => hasAll(weights, `${NAMES[l].first}.weight`, `${NAMES[l].block(1)}.c1_r.weight`));
    if (layout === undefined) return undefined;
    const names = NAMES[layout];
    const first = shapeOf(weights, `${names.first}.weight`);
    const last = shapeOf(weights, 'upsampler.0.weight');
    const midChannels = shapeOf(weights, `${names.block(1)}.c1_r.weight`)?.[0];
    const esaChannels = shapeOf(weights, `${names.block(1)}.esa.conv1.weight`)?.[0];
    if (first?.length !== 4 || last?.length !== 4 || midChannels === undefined || esaChannels === undefined) return undefined;
    const [features, inChannels] = first as [number, number];
    const shuffle = pixelShuffleChannels(last[0] as number, inChannels);
    const blocks = countSequence(weights, (i) => `${names.block(i + 1)}.c1_r.weight`);
    if (shuffle === undefined || blocks < 1) return undefined;
    // Exactly the reference's layers (RFDN, with the same names plus distillation convs, is not RLFN).
    const keys = expectedKeys(names, blocks);
    if (weights.size !== keys.length || !hasAll(weights, ...keys)) return undefined;
    const { outChannels, scale } = shuffle;
    return { layout, inChannels, outChannels, features, midChannels, blocks, esaChannels, scale, range: RANGE };
  },

  describe(weights, p) {
    return {
      scale: p.scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: 1,
      // Not the (much larger) reach of the attention: the overlap that covers the tile-border effect (esa.ts).
      receptiveField: ESA_TILE_OVERLAP,
      // ESA depends on the position in the image (esa.ts): tiles come close to the whole image, never equal.
      tilingSafe: false,
      // The first conv's output (kept for the final add), a block's input and working maps, the upsampler's output.
      bytesPerInputPixel: 4 * (4 * p.features + 2 * p.midChannels + 2 * p.outChannels * p.scale * p.scale),
      parameters: countParameters(weights),
      details: { layout: p.layout, blocks: p.blocks, features: p.features, midChannels: p.midChannels, esaChannels: p.esaChannels, range: `0-${p.range}` },
    };
  },

  toOnnx(weights, p) {
    const nf = p.features;
    const names = NAMES[p.layout];
    const g = new GraphBuilder({ name: 'rlfn' });
    const conv = (x: string, prefix: string, cin: number, cout: number, k: number): string => checkedConv2d(g, x, weights, prefix, [cout, cin, k, k]);
    const lrelu = (x: string): string => leakyRelu(g, x, SLOPE);

    const { x: input, size } = padToEsaMinimum(g, imageInput(g, p.inChannels));
    const range = scalar(g, 'img_range', p.range);
    const features = conv(g.node('Mul', [input, range]), names.first, p.inChannels, nf, 3);
    let x = features;
    for (let b = 1; b <= p.blocks; b++) {
      const prefix = names.block(b);
      const first = lrelu(conv(x, `${prefix}.c1_r`, nf, p.midChannels, 3));
      const mid = lrelu(conv(first, `${prefix}.c2_r`, p.midChannels, p.midChannels, 3));
      const local = g.node('Add', [lrelu(conv(mid, `${prefix}.c3_r`, p.midChannels, nf, 3)), x]);
      x = esa(g, conv(local, `${prefix}.c5`, nf, nf, 1), weights, `${prefix}.esa`, nf, p.esaChannels, 'rlfn');
    }
    const low = g.node('Add', [conv(x, names.last, nf, nf, 3), features]);
    let y = conv(low, 'upsampler.0', nf, p.outChannels * p.scale * p.scale, 3);
    if (p.scale > 1) y = pixelShuffle(g, y, p.scale);
    y = cropToScaled(g, g.node('Div', [y, range]), size, p.scale);
    return finishModel(g, y, rlfn.describe(weights, p), `RLFN x${p.scale} (${nf} features, ${p.blocks} blocks)`);
  },
};

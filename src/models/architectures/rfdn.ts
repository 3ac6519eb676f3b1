/**
 * RFDN: Liu et al., "Residual Feature Distillation Network for Lightweight Image Super-Resolution" (ECCVW 2020,
 * github.com/njulj/RFDN, RFDN.py and block.py): the AIM 2020 efficient-SR winner (RFDN_AIM.pth, 50 features, 4
 * blocks, 433K weights), also the NTIRE 2022 efficient-SR baseline (the same file).
 *
 * Keys: fea_conv (3x3), B1..Bn (RFDB), c.0 (1x1 over every block's output), LR_conv (3x3), upsampler.0 (3x3 to
 * out·scale², then pixel shuffle). RFDB(x): three steps of d_k = lrelu(cK_d(r)) (1x1, C → C/2) and
 * r = lrelu(cK_r(r) + r) (3x3), starting from r = x; d_4 = lrelu(c4(r)) (3x3, C → C/2); c5 (1x1) over
 * [d_1..d_4]; ESA (esa.ts, with conv_max and conv3_). RFDN: f = fea_conv(x), b_i = B_i(b_i-1),
 * LR_conv(lrelu(c.0([b_1..b_n]))) + f, upsampler. Every LeakyReLU has slope 0.05.
 *
 * The network takes and gives pixels in 0..255 (the authors' test.py reads images with `.div(1.0)`; the NTIRE 2022
 * test script gives it data_range 255), so the graph scales by 255 on the way in and out. What keys and shapes
 * cannot tell: a checkpoint retrained on 0..1 pixels, or one whose forward differs with the very same layers (NTIRE
 * 2022 team40's pruned RFDN drops the residual adds): both are detected and give poor pictures.
 */
import { GraphBuilder, attr } from '../../onnx/index.js';
import { ESA_LAYERS, ESA_TILE_OVERLAP, cropToScaled, esa, padToEsaMinimum } from './esa.js';
import { checkedConv2d, finishModel, imageInput, leakyRelu, pixelShuffle, scalar } from './graph.js';
import { countParameters, countSequence, hasAll, pixelShuffleChannels, shapeOf } from './state.js';
import type { Architecture } from './types.js';

export interface RfdnParams {
  readonly inChannels: number;
  readonly outChannels: number;
  /** Features (nf, 50 in RFDN_AIM). */
  readonly features: number;
  /** Channels each distillation step keeps (nf / 2 in the reference). */
  readonly distilled: number;
  /** RFDB blocks (4). */
  readonly blocks: number;
  /** ESA's inner width (nf / 4). */
  readonly esaChannels: number;
  readonly scale: number;
  /** Pixel range the network works in: 255. */
  readonly range: number;
}

const SLOPE = 0.05;
const RANGE = 255;
const BLOCK_LAYERS = ['c1_d', 'c1_r', 'c2_d', 'c2_r', 'c3_d', 'c3_r', 'c4', 'c5'];

/** Every key an RFDN of these hyperparameters has, and no other. */
function expectedKeys(p: Pick<RfdnParams, 'blocks'>): string[] {
  const layers = ['fea_conv', 'c.0', 'LR_conv', 'upsampler.0'];
  for (let b = 1; b <= p.blocks; b++) {
    layers.push(...BLOCK_LAYERS.map((l) => `B${b}.${l}`), ...ESA_LAYERS.rfdn.map((l) => `B${b}.esa.${l}`));
  }
  return layers.flatMap((l) => [`${l}.weight`, `${l}.bias`]);
}

export const rfdn: Architecture<RfdnParams> = {
  id: 'rfdn',
  name: 'RFDN',

  detect(weights) {
    if (!hasAll(weights, 'fea_conv.weight', 'B1.c1_d.weight', 'B1.esa.conv_max.weight', 'c.0.weight', 'upsampler.0.weight')) return undefined;
    const first = shapeOf(weights, 'fea_conv.weight');
    const last = shapeOf(weights, 'upsampler.0.weight');
    const distilled = shapeOf(weights, 'B1.c1_d.weight')?.[0];
    const esaChannels = shapeOf(weights, 'B1.esa.conv1.weight')?.[0];
    if (first?.length !== 4 || last?.length !== 4 || distilled === undefined || esaChannels === undefined) return undefined;
    const [features, inChannels] = first as [number, number];
    const layout = pixelShuffleChannels(last[0] as number, inChannels);
    const blocks = countSequence(weights, (i) => `B${i + 1}.c1_d.weight`);
    if (layout === undefined || blocks < 1) return undefined;
    // Exactly the reference's layers: the many RFDN-derived challenge entries that rename or add some are not this.
    const keys = expectedKeys({ blocks });
    if (weights.size !== keys.length || !hasAll(weights, ...keys)) return undefined;
    return { inChannels, outChannels: layout.outChannels, features, distilled, blocks, esaChannels, scale: layout.scale, range: RANGE };
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
      // Every block's output lives until c.0's concatenation, plus a block's working maps and the upsampler's output.
      bytesPerInputPixel: 4 * ((2 * p.blocks + 6) * p.features + 2 * p.outChannels * p.scale * p.scale),
      parameters: countParameters(weights),
      details: { blocks: p.blocks, features: p.features, distilled: p.distilled, esaChannels: p.esaChannels, range: `0-${p.range}` },
    };
  },

  toOnnx(weights, p) {
    const nf = p.features;
    const g = new GraphBuilder({ name: 'rfdn' });
    const conv = (x: string, prefix: string, cin: number, cout: number, k: number): string => checkedConv2d(g, x, weights, prefix, [cout, cin, k, k]);
    const lrelu = (x: string): string => leakyRelu(g, x, SLOPE);

    const { x: input, size } = padToEsaMinimum(g, imageInput(g, p.inChannels));
    const range = scalar(g, 'img_range', p.range);
    const features = conv(g.node('Mul', [input, range]), 'fea_conv', p.inChannels, nf, 3);
    const outputs: string[] = [];
    let x = features;
    for (let b = 1; b <= p.blocks; b++) {
      const parts: string[] = [];
      let r = x;
      for (const step of [1, 2, 3]) {
        parts.push(lrelu(conv(r, `B${b}.c${step}_d`, nf, p.distilled, 1)));
        r = lrelu(g.node('Add', [conv(r, `B${b}.c${step}_r`, nf, nf, 3), r]));
      }
      parts.push(lrelu(conv(r, `B${b}.c4`, nf, p.distilled, 3)));
      const fused = conv(g.node('Concat', parts, { axis: attr.int(1) }), `B${b}.c5`, 4 * p.distilled, nf, 1);
      x = esa(g, fused, weights, `B${b}.esa`, nf, p.esaChannels, 'rfdn');
      outputs.push(x);
    }
    const merged = lrelu(conv(g.node('Concat', outputs, { axis: attr.int(1) }), 'c.0', nf * p.blocks, nf, 1));
    const low = g.node('Add', [conv(merged, 'LR_conv', nf, nf, 3), features]);
    let y = conv(low, 'upsampler.0', nf, p.outChannels * p.scale * p.scale, 3);
    if (p.scale > 1) y = pixelShuffle(g, y, p.scale);
    y = cropToScaled(g, g.node('Div', [y, range]), size, p.scale);
    return finishModel(g, y, rfdn.describe(weights, p), `RFDN x${p.scale} (${nf} features, ${p.blocks} blocks)`);
  },
};

/**
 * SRVGGNetCompact, Real-ESRGAN's "Compact" network (github.com/xinntao/Real-ESRGAN, realesrgan/archs/srvgg_arch.py):
 * realesr-general-x4v3.pth, realesr-animevideov3.pth and many community 1x / 2x / 4x models.
 *
 * `body` is a list alternating convs and activations: body.0 conv (in → nf), body.1 PReLU (nf slopes), then
 * num_conv × [conv (nf → nf), PReLU], then body.<2·num_conv + 2> conv (nf → out·scale²); a pixel shuffle, plus the
 * input enlarged by nearest neighbour. Only PReLU checkpoints are detected: with the reference's other activations
 * (ReLU, LeakyReLU 0.1) the odd indices hold no weights, and the file cannot tell which of the two was used.
 */
import { GraphBuilder } from '../../onnx/index.js';
import type { StateDict } from '../weights/tensor.js';
import { checkedConv2d, finishModel, imageInput, pixelShuffle, upsampleNearest } from './graph.js';
import { countParameters, hasAll, indicesUnder, pixelShuffleChannels, shapeOf, tensor } from './state.js';
import type { Architecture } from './types.js';

export interface CompactParams {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly features: number;
  /** Convs between the first and the last (num_conv). */
  readonly convs: number;
  readonly scale: number;
}

export const compact: Architecture<CompactParams> = {
  id: 'compact',
  name: 'Real-ESRGAN Compact (SRVGGNetCompact)',

  detect(weights) {
    if (!hasAll(weights, 'body.0.weight', 'body.1.weight')) return undefined;
    const first = shapeOf(weights, 'body.0.weight');
    if (first?.length !== 4) return undefined;
    const [features, inChannels] = first as [number, number];
    // PReLU slopes: one per feature.
    const slopes = shapeOf(weights, 'body.1.weight');
    if (slopes?.length !== 1 || slopes[0] !== features) return undefined;
    const lastIndex = Math.max(...indicesUnder(weights, 'body.'));
    const last = shapeOf(weights, `body.${lastIndex}.weight`);
    if (lastIndex < 2 || lastIndex % 2 !== 0 || last?.length !== 4) return undefined;
    // The nearest-upsampled input is added to the output, so out = in.
    const layout = pixelShuffleChannels(last[0] as number, inChannels);
    if (layout === undefined || layout.outChannels !== inChannels) return undefined;
    return { inChannels, outChannels: layout.outChannels, features, convs: (lastIndex - 2) / 2, scale: layout.scale };
  },

  describe(weights: StateDict, p: CompactParams) {
    return {
      scale: p.scale,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      sizeMultiple: 1,
      // Every 3x3 conv works at the input resolution: the reach is exact.
      receptiveField: p.convs + 2,
      tilingSafe: true,
      // Two live feature maps and the last conv's output.
      bytesPerInputPixel: 4 * (2 * p.features + p.outChannels * p.scale * p.scale * 2),
      parameters: countParameters(weights),
      details: { convs: p.convs, features: p.features, activation: 'prelu' },
    };
  },

  toOnnx(weights, p) {
    const g = new GraphBuilder({ name: 'compact' });
    const input = imageInput(g, p.inChannels);
    let x = input;
    for (let i = 0; i <= p.convs; i++) {
      x = checkedConv2d(g, x, weights, `body.${2 * i}`, [p.features, i === 0 ? p.inChannels : p.features, 3, 3]);
      const slopes = tensor(weights, `body.${2 * i + 1}.weight`, [p.features]);
      x = g.node('PRelu', [x, g.initializer(g.uniqueName(`body.${2 * i + 1}.weight`), [p.features, 1, 1], slopes.data)]);
    }
    const lastIndex = 2 * p.convs + 2;
    x = checkedConv2d(g, x, weights, `body.${lastIndex}`, [p.outChannels * p.scale * p.scale, p.features, 3, 3]);
    if (p.scale > 1) x = pixelShuffle(g, x, p.scale);
    const base = p.scale > 1 ? upsampleNearest(g, input, p.scale) : input;
    return finishModel(g, g.node('Add', [x, base]), compact.describe(weights, p), 'Compact');
  },
};

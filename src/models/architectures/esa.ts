/**
 * Enhanced spatial attention (ESA, Liu et al., "Residual Feature Aggregation Network", CVPR 2020) as RFDN and RLFN
 * use it at the end of each block, with what comes with it: the smallest input it takes and the tile overlap it needs.
 *
 * ESA(x), x [1, C, H, W]: c1 = conv1(x) (1x1, C → f); conv2 (3x3, stride 2, no padding); max-pool 7x7 stride 3;
 * RFDN: relu(conv_max) → relu(conv3) → conv3_ (3x3 each); RLFN: conv3 alone; bilinear enlargement to H x W
 * (PyTorch's `F.interpolate(mode='bilinear', align_corners=False)`, ONNX Resize linear half_pixel); + conv_f(c1)
 * (1x1); conv4 (1x1, f → C); x · sigmoid.
 *
 * The stride-2 conv and the pool sample a grid anchored at the top-left corner, and the enlargement maps the pooled
 * grid onto the whole H x W: the result depends on where a pixel sits in the image, not only on its neighbourhood,
 * so a tile's output is close to, never exactly, the whole image's (see {@link ESA_TILE_OVERLAP}).
 */
import { GraphBuilder, attr, int64s } from '../../onnx/index.js';
import type { StateDict } from '../weights/tensor.js';
import { checkedConv2d } from './graph.js';

/** RFDN's ESA has conv_max and conv3_ around conv3; RLFN's keeps conv3 alone. */
export type EsaKind = 'rfdn' | 'rlfn';

/** The ESA layers of each kind, as named in the checkpoints (`B1.esa.conv_max`...). */
export const ESA_LAYERS: Readonly<Record<EsaKind, readonly string[]>> = {
  rfdn: ['conv1', 'conv_f', 'conv_max', 'conv2', 'conv3', 'conv3_', 'conv4'],
  rlfn: ['conv1', 'conv_f', 'conv2', 'conv3', 'conv4'],
};

/**
 * The smallest edge ESA accepts: conv2 (3x3, stride 2) must leave the 7 pixels the pool needs, (15 - 3) / 2 + 1 = 7.
 * PyTorch raises on smaller inputs; the converted models pad them (see {@link padToEsaMinimum}).
 */
export const ESA_MIN_SIZE = 15;

/**
 * Tile overlap for networks with ESA, in input pixels. The attention reaches far (each block's pooled map looks
 * ~40 px away) but its effect fades. Measured on Set14 x4 LR, cutting the image 6 or 12 px in (which keeps ESA's
 * 6-px sampling grid in phase) changes RFDN_AIM's output by at most 7/255 16-24 px from the cut, 2/255 at 24-48 and
 * under 1/255 beyond; the NTIRE 2022 RLFN by 7, 3, then 1.3-2.7/255. No overlap removes the rest: the grid's phase
 * and the enlargement's scale move with every tile. A 1-px shift of the whole image already changes outputs by up to
 * 5-9/255 far from any border, and 128-px tiles differ from the whole image by more than 1/255 at 10-14% of the
 * values whether the overlap is 16 or 64 (Set14 HR as input); PSNR against ground truth moves by under 0.01 dB
 * (Set14 x4, 32- and 64-px tiles). Hence `tilingSafe: false` (the whole image whenever it fits in memory) and, for
 * larger images, an overlap that covers the border effect and no more.
 */
export const ESA_TILE_OVERLAP = 32;

/** ESA on `x` ([1, channels, H, W]) with the weights under `${prefix}.` (`B1.esa`). */
export function esa(g: GraphBuilder, x: string, weights: StateDict, prefix: string, channels: number, width: number, kind: EsaKind): string {
  const conv = (input: string, layer: string, cin: number, cout: number, k: number, options: { stride?: number; padding?: number } = {}): string =>
    checkedConv2d(g, input, weights, `${prefix}.${layer}`, [cout, cin, k, k], options);
  const relu = (input: string): string => g.node('Relu', [input]);

  const c1 = conv(x, 'conv1', channels, width, 1);
  const strided = conv(c1, 'conv2', width, width, 3, { stride: 2, padding: 0 });
  const pooled = g.node('MaxPool', [strided], { kernel_shape: attr.ints([7, 7]), strides: attr.ints([3, 3]) });
  const coarse =
    kind === 'rfdn'
      ? conv(relu(conv(relu(conv(pooled, 'conv_max', width, width, 3)), 'conv3', width, width, 3)), 'conv3_', width, width, 3)
      : conv(pooled, 'conv3', width, width, 3);
  // To c1's shape, [1, f, H, W]: the coarse map has f channels too.
  const enlarged = g.node('Resize', [coarse, '', '', g.node('Shape', [c1])], {
    mode: attr.string('linear'),
    coordinate_transformation_mode: attr.string('half_pixel'),
  });
  const gate = g.node('Sigmoid', [conv(g.node('Add', [enlarged, conv(c1, 'conv_f', width, width, 1)]), 'conv4', width, channels, 1)]);
  return g.node('Mul', [x, gate]);
}

/**
 * Pads `input` ([1, C, H, W]) at the bottom and right, by edge replication, to at least {@link ESA_MIN_SIZE} pixels
 * each way (nothing for inputs that large, which is every input the reference accepts). Returns the padded tensor
 * and `size`, the int64 [H, W] of the input, for {@link cropToScaled}.
 */
export function padToEsaMinimum(g: GraphBuilder, input: string): { x: string; size: string } {
  const ints = (name: string, values: readonly number[]): string => g.initializer(g.uniqueName(name), [values.length], int64s(values));
  const size = g.node('Shape', [input], { start: attr.int(2), end: attr.int(4) });
  const missing = g.node('Max', [g.node('Sub', [ints('esa_min_size', [ESA_MIN_SIZE, ESA_MIN_SIZE]), size]), ints('zero', [0, 0])]);
  const pads = g.node('Concat', [ints('pads_begin', [0, 0, 0, 0, 0, 0]), missing], { axis: attr.int(0) });
  return { x: g.node('Pad', [input, pads], { mode: attr.string('edge') }), size };
}

/** The top-left `size` · `scale` of `y` ([1, C, H', W']): undoes {@link padToEsaMinimum} on the output. */
export function cropToScaled(g: GraphBuilder, y: string, size: string, scale: number): string {
  const ints = (name: string, values: readonly number[]): string => g.initializer(g.uniqueName(name), [values.length], int64s(values));
  const end = g.node('Mul', [size, ints('scale', [scale])]);
  return g.node('Slice', [y, ints('crop_start', [0, 0]), end, ints('crop_axes', [2, 3])]);
}

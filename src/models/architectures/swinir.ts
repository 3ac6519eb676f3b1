/**
 * SwinIR (Liang et al. 2021, arXiv:2108.10257): a conv stem, residual Swin transformer blocks (RSTB: windowed
 * self-attention with relative position bias, alternately shifted by half a window, then a conv), and one of the
 * reference's reconstruction heads: 'pixelshuffle' (classical SR), 'pixelshuffledirect' (lightweight SR),
 * 'nearest+conv' (real-world SR) or none (denoising / JPEG artifact removal, x1). Key names and layer order are
 * those of JingyunLiang/SwinIR's checkpoints (which spandrel loads as well).
 */
import { GraphBuilder, attr, int64s } from '../../onnx/index.js';
import { UpscaleError } from '../../errors.js';
import type { StateDict } from '../weights/tensor.js';
import { conv2d, finishModel, imageInput, leakyRelu, pixelShuffle, upsampleNearest } from './graph.js';
import { countParameters, countSequence, shapeOf, tensor } from './state.js';
import { layerNorm, swinBlock, windowGrid } from './swinir-layers.js';
import type { Architecture, ArchitectureDescription } from './types.js';

export type SwinIRUpsampler = 'pixelshuffle' | 'pixelshuffledirect' | 'nearest+conv' | 'none';

export interface SwinIRParams {
  /** Image channels, in and out (SwinIR's num_out_ch is its in_chans). */
  readonly channels: number;
  readonly embedDim: number;
  /** Swin blocks in each RSTB. */
  readonly depths: readonly number[];
  /** Attention heads in each RSTB. */
  readonly heads: readonly number[];
  readonly windowSize: number;
  /** Cyclic shift of the odd blocks: windowSize/2, or 0 when the model was built for a crop no larger than a window. */
  readonly shiftSize: number;
  /** Hidden features of the MLPs (embedDim · mlp_ratio). */
  readonly mlpHidden: number;
  readonly upsampler: SwinIRUpsampler;
  readonly scale: number;
  /** Features of the reconstruction head (64 in the reference; 0 when the head has none). */
  readonly features: number;
  readonly residualConv: '1conv' | '3conv';
  /** The reference's `img_range`: 255 for its JPEG models (the only ones with window 7), else 1. */
  readonly imgRange: number;
  readonly patchNorm: boolean;
  readonly qkvBias: boolean;
  /** The training crop (`img_size`) when the stored shift mask tells it, for display. */
  readonly trainingSize: number | undefined;
}

/** The reference's DIV2K mean, subtracted from RGB input and added back to the output. */
const RGB_MEAN = [0.4488, 0.4371, 0.404];
/** Slope of conv_before_upsample's nn.LeakyReLU() (PyTorch's default), and of every other LeakyReLU in SwinIR. */
const HEAD_SLOPE = 0.01;
const SLOPE = 0.2;

const block = (layer: number, index: number): string => `layers.${layer}.residual_group.blocks.${index}`;

/** Every key a SwinIR checkpoint may hold; a state dict with anything else is another architecture (HAT, Swin2SR...). */
const KNOWN_KEY =
  /^(conv_first|conv_after_body(\.[024])?|conv_before_upsample\.0|upsample\.\d+|conv_up[123]|conv_hr|conv_last|patch_embed\.norm|norm|layers\.\d+\.conv(\.[024])?|layers\.\d+\.residual_group\.blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2))\.(weight|bias)$|^layers\.\d+\.residual_group\.blocks\.\d+\.(attn_mask|attn\.relative_position_bias_table|attn\.relative_position_index)$|^absolute_pos_embed$/;

/** `n` when `value` is n·n for an integer n ≥ 1, else undefined. */
function exactSqrt(value: number): number | undefined {
  const root = Math.round(Math.sqrt(value));
  return root >= 1 && root * root === value ? root : undefined;
}

function residualKind(weights: StateDict, prefix: string): '1conv' | '3conv' | undefined {
  if (weights.has(`${prefix}.weight`)) return '1conv';
  if (weights.has(`${prefix}.0.weight`) && weights.has(`${prefix}.2.weight`) && weights.has(`${prefix}.4.weight`)) return '3conv';
  return undefined;
}

/** The reconstruction head, its scale and features, from which keys exist and their shapes. */
function detectHead(weights: StateDict, channels: number): Pick<SwinIRParams, 'upsampler' | 'scale' | 'features'> | undefined {
  const before = shapeOf(weights, 'conv_before_upsample.0.weight');
  if (before !== undefined) {
    const features = before[0] ?? 0;
    if (weights.has('conv_up1.weight')) {
      const steps = countSequence(weights, (i) => `conv_up${i + 1}.weight`);
      return { upsampler: 'nearest+conv', scale: 2 ** steps, features };
    }
    // Upsample: (conv to r²·features, pixel shuffle r) for r = 2, 2... or one r = 3.
    let scale = 1;
    for (let i = 0; weights.has(`upsample.${i}.weight`); i += 2) {
      const r = exactSqrt((shapeOf(weights, `upsample.${i}.weight`)?.[0] ?? 0) / features);
      if (r === undefined || r < 2) return undefined;
      scale *= r;
    }
    return scale > 1 ? { upsampler: 'pixelshuffle', scale, features } : undefined;
  }
  const direct = shapeOf(weights, 'upsample.0.weight');
  if (direct !== undefined) {
    const r = exactSqrt((direct[0] ?? 0) / channels);
    return r === undefined ? undefined : { upsampler: 'pixelshuffledirect', scale: r, features: 0 };
  }
  return weights.has('conv_last.weight') ? { upsampler: 'none', scale: 1, features: 0 } : undefined;
}

function detect(weights: StateDict): SwinIRParams | undefined {
  const first = shapeOf(weights, 'conv_first.weight');
  const table = shapeOf(weights, `${block(0, 0)}.attn.relative_position_bias_table`);
  if (first?.length !== 4 || table?.length !== 2 || !weights.has('norm.weight')) return undefined;
  for (const key of weights.keys()) if (!KNOWN_KEY.test(key)) return undefined;

  const [embedDim = 0, channels = 0] = first;
  const side = exactSqrt(table[0] ?? 0);
  if (side === undefined || side % 2 === 0) return undefined; // (2w - 1)² rows
  const windowSize = (side + 1) / 2;

  const layers = countSequence(weights, (i) => `${block(i, 0)}.norm1.weight`);
  const depths: number[] = [];
  const heads: number[] = [];
  for (let i = 0; i < layers; i++) {
    depths.push(countSequence(weights, (j) => `${block(i, j)}.norm1.weight`));
    const h = shapeOf(weights, `${block(i, 0)}.attn.relative_position_bias_table`)?.[1];
    if (h === undefined || h < 1 || embedDim % h !== 0) return undefined;
    heads.push(h);
  }
  const mlpHidden = shapeOf(weights, `${block(0, 0)}.mlp.fc1.weight`)?.[0];
  const residualConv = residualKind(weights, 'conv_after_body');
  const head = detectHead(weights, channels);
  if (mlpHidden === undefined || residualConv === undefined || head === undefined) return undefined;

  // Odd blocks are shifted and carry the mask buffer [nW, N, N]. A checkpoint that saved its buffers
  // (relative_position_index) but no mask was built for a crop no larger than the window: nothing is shifted.
  const mask = shapeOf(weights, `${block(0, 1)}.attn_mask`);
  const buffersSaved = weights.has(`${block(0, 0)}.attn.relative_position_index`);
  const shiftSize = mask !== undefined || !buffersSaved ? Math.floor(windowSize / 2) : 0;
  const maskWindows = exactSqrt(mask?.[0] ?? 0);

  return {
    channels,
    embedDim,
    depths,
    heads,
    windowSize,
    shiftSize,
    mlpHidden,
    ...head,
    residualConv,
    imgRange: windowSize === 7 ? 255 : 1,
    patchNorm: weights.has('patch_embed.norm.weight'),
    qkvBias: weights.has(`${block(0, 0)}.attn.qkv.bias`),
    trainingSize: maskWindows === undefined ? undefined : maskWindows * windowSize,
  };
}

/**
 * Bytes per input pixel of a tile: per token, the attention logits, bias/mask sums and probabilities (heads · N
 * floats each, a few alive at once), the q/k/v/MLP activations, and the head's enlarged feature maps; ×1.5 for
 * onnxruntime's arena. Checked against the peak memory of the measured models.
 */
function bytesPerInputPixel(p: SwinIRParams): number {
  const n = p.windowSize * p.windowSize;
  const attention = 4 * Math.max(...p.heads) * n;
  const tokens = 8 * p.embedDim + 2 * p.mlpHidden;
  const head = p.features * p.scale * p.scale * 2 + p.features * 4;
  return Math.ceil(1.5 * 4 * (attention + tokens + head));
}

function bufferElements(weights: StateDict): number {
  let n = 0;
  for (const [key, t] of weights) if (/\.(attn_mask|relative_position_index)$/.test(key)) n += t.data.length;
  return n;
}

function describe(weights: StateDict, p: SwinIRParams): ArchitectureDescription {
  return {
    scale: p.scale,
    inChannels: p.channels,
    outChannels: p.channels,
    // The graph reflect-pads to a multiple of the window itself (the reference's check_image_size) and crops the
    // result, so any size works and matches the reference.
    sizeMultiple: 1,
    // Shifted windows let every block pass information up to a window further, so the exact receptive field
    // spans the whole tile; in trained models the influence fades within a few windows. Two windows of context
    // per side matches the authors' own tiled inference (main_test_swinir.py: tile_overlap 32 shared by two
    // tiles, window 8) and costs 1.4x the work on the ~170-pixel tiles a 1 GB budget gives SwinIR-M (four
    // windows would cost 1.9x).
    receptiveField: 2 * p.windowSize,
    tilingSafe: true,
    bytesPerInputPixel: bytesPerInputPixel(p),
    // Learned weights only: the index and mask buffers are derived from the window size.
    parameters: countParameters(weights) - bufferElements(weights),
    details: {
      upsampler: p.upsampler,
      embedDim: p.embedDim,
      depths: p.depths.join(','),
      heads: p.heads.join(','),
      windowSize: p.windowSize,
      mlpRatio: p.mlpHidden / p.embedDim,
      residualConv: p.residualConv,
      ...(p.features > 0 ? { features: p.features } : {}),
      ...(p.imgRange !== 1 ? { imgRange: p.imgRange } : {}),
      ...(p.trainingSize !== undefined ? { trainingSize: p.trainingSize } : {}),
    },
  };
}

function ints(g: GraphBuilder, name: string, values: readonly number[]): string {
  return g.initializer(g.uniqueName(name), [values.length], int64s(values));
}

/** The RSTBs, the final norm and conv_after_body + the stem's output, on the stem's output [1, C, H, W]. */
function body(g: GraphBuilder, first: string, weights: StateDict, p: SwinIRParams): string {
  const c = p.embedDim;
  const grid = windowGrid(g, first, c, p.windowSize, p.shiftSize);
  const toTokens = (x: string): string => g.node('Transpose', [x], { perm: attr.ints([0, 2, 3, 1]) });
  const toImage = (x: string): string => g.node('Transpose', [x], { perm: attr.ints([0, 3, 1, 2]) });
  const residual = (x: string, prefix: string): string => {
    if (p.residualConv === '1conv') return conv2d(g, x, weights, prefix);
    const quarter = tensor(weights, `${prefix}.0.weight`, [undefined, c, 3, 3]).shape[0];
    tensor(weights, `${prefix}.2.weight`, [quarter, quarter, 1, 1]);
    tensor(weights, `${prefix}.4.weight`, [c, quarter, 3, 3]);
    let y = leakyRelu(g, conv2d(g, x, weights, `${prefix}.0`), SLOPE);
    y = leakyRelu(g, conv2d(g, y, weights, `${prefix}.2`), SLOPE);
    return conv2d(g, y, weights, `${prefix}.4`);
  };

  let x = toTokens(first);
  if (p.patchNorm) x = layerNorm(g, x, weights, 'patch_embed.norm', c);
  for (const [i, depth] of p.depths.entries()) {
    const heads = p.heads[i] ?? 1;
    let y = x;
    for (let j = 0; j < depth; j++) {
      const prefix = block(i, j);
      const hidden = tensor(weights, `${prefix}.mlp.fc1.weight`, [undefined, c]).shape[0] ?? 0;
      y = swinBlock(g, y, weights, prefix, grid, { channels: c, heads, hidden, qkvBias: p.qkvBias, shifted: j % 2 === 1 && p.shiftSize > 0 });
    }
    if (p.residualConv === '1conv') tensor(weights, `layers.${i}.conv.weight`, [c, c, 3, 3]);
    x = g.node('Add', [toTokens(residual(toImage(y), `layers.${i}.conv`)), x]);
  }
  const features = toImage(layerNorm(g, x, weights, 'norm', c));
  if (p.residualConv === '1conv') tensor(weights, 'conv_after_body.weight', [c, c, 3, 3]);
  return g.node('Add', [residual(features, 'conv_after_body'), first]);
}

/** The reconstruction head on the body's output [1, C, H, W]. */
function head(g: GraphBuilder, x: string, input: string, weights: StateDict, p: SwinIRParams): string {
  const c = p.embedDim;
  const f = p.features;
  switch (p.upsampler) {
    case 'pixelshuffle': {
      tensor(weights, 'conv_before_upsample.0.weight', [f, c, 3, 3]);
      let y = leakyRelu(g, conv2d(g, x, weights, 'conv_before_upsample.0'), HEAD_SLOPE);
      for (let i = 0; weights.has(`upsample.${i}.weight`); i += 2) {
        const r = Math.round(Math.sqrt((shapeOf(weights, `upsample.${i}.weight`)?.[0] ?? 0) / f));
        tensor(weights, `upsample.${i}.weight`, [r * r * f, f, 3, 3]);
        y = pixelShuffle(g, conv2d(g, y, weights, `upsample.${i}`), r);
      }
      tensor(weights, 'conv_last.weight', [p.channels, f, 3, 3]);
      return conv2d(g, y, weights, 'conv_last');
    }
    case 'pixelshuffledirect':
      tensor(weights, 'upsample.0.weight', [p.scale * p.scale * p.channels, c, 3, 3]);
      return pixelShuffle(g, conv2d(g, x, weights, 'upsample.0'), p.scale);
    case 'nearest+conv': {
      tensor(weights, 'conv_before_upsample.0.weight', [f, c, 3, 3]);
      let y = leakyRelu(g, conv2d(g, x, weights, 'conv_before_upsample.0'), HEAD_SLOPE);
      for (let i = 1; 2 ** (i - 1) < p.scale; i++) {
        tensor(weights, `conv_up${i}.weight`, [f, f, 3, 3]);
        y = leakyRelu(g, conv2d(g, upsampleNearest(g, y, 2), weights, `conv_up${i}`), SLOPE);
      }
      tensor(weights, 'conv_hr.weight', [f, f, 3, 3]);
      tensor(weights, 'conv_last.weight', [p.channels, f, 3, 3]);
      return conv2d(g, leakyRelu(g, conv2d(g, y, weights, 'conv_hr'), SLOPE), weights, 'conv_last');
    }
    case 'none':
      tensor(weights, 'conv_last.weight', [p.channels, c, 3, 3]);
      return g.node('Add', [input, conv2d(g, x, weights, 'conv_last')]);
  }
}

function toOnnx(weights: StateDict, p: SwinIRParams): Uint8Array {
  if (weights.has('absolute_pos_embed')) {
    throw new UpscaleError('MODEL_INVALID', 'weight "absolute_pos_embed": SwinIR with an absolute position embedding (ape) only runs at its training size, which is not supported');
  }
  const description = describe(weights, p);
  const g = new GraphBuilder({ name: 'swinir' });
  const input = imageInput(g, p.channels);
  const w = p.windowSize;

  // check_image_size: reflect-pad bottom and right to multiples of the window. Reflection cannot reach further
  // than size - 1 (PyTorch refuses such inputs); edges that short are first extended by replication.
  const size = g.node('Shape', [input], { start: attr.int(2), end: attr.int(4) }); // [H, W]
  const window = ints(g, 'window', [w]);
  const missing = g.node('Mod', [g.node('Sub', [window, g.node('Mod', [size, window])]), window]);
  const replicated = g.node('Max', [g.node('Sub', [missing, g.node('Sub', [size, ints(g, 'one', [1])])]), ints(g, 'zero', [0])]);
  const reflected = g.node('Sub', [missing, replicated]);
  const pad = (x: string, amount: string, mode: string): string =>
    g.node('Pad', [x, g.node('Concat', [ints(g, 'pads_begin', [0, 0, 0, 0, 0, 0]), amount], { axis: attr.int(0) })], { mode: attr.string(mode) });
  let x = pad(pad(input, replicated, 'edge'), reflected, 'reflect');

  const mean = p.channels === 3 ? g.initializer(g.uniqueName('rgb_mean'), [1, 3, 1, 1], new Float32Array(RGB_MEAN)) : undefined;
  const range = p.imgRange === 1 ? undefined : g.initializer(g.uniqueName('img_range'), [], new Float32Array([p.imgRange]));
  if (mean !== undefined) x = g.node('Sub', [x, mean]);
  if (range !== undefined) x = g.node('Mul', [x, range]);

  tensor(weights, 'conv_first.weight', [p.embedDim, p.channels, 3, 3]);
  const first = conv2d(g, x, weights, 'conv_first');
  let y = head(g, body(g, first, weights, p), x, weights, p);

  if (range !== undefined) y = g.node('Div', [y, range]);
  if (mean !== undefined) y = g.node('Add', [y, mean]);
  const end = g.node('Mul', [size, ints(g, 'scale', [p.scale])]);
  y = g.node('Slice', [y, ints(g, 'crop_start', [0, 0]), end, ints(g, 'crop_axes', [2, 3])]);
  return finishModel(g, y, description, `SwinIR x${p.scale} (${p.upsampler}, ${p.embedDim} features, ${p.depths.length}x${p.depths[0] ?? 0} blocks)`);
}

export const swinir: Architecture<SwinIRParams> = {
  id: 'swinir',
  name: 'SwinIR',
  detect,
  describe,
  toOnnx,
};

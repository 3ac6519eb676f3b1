/**
 * The transformer half of SwinIR as ONNX: tokens kept as [1, H, W, C] (channels last), shifted-window attention
 * whose window partition, cyclic shift and shift mask are computed from the run-time size, so that one graph
 * serves every input size. Facts from the paper (arXiv:2108.10257) and the reference implementation
 * (JingyunLiang/SwinIR models/network_swinir.py).
 */
import { type GraphBuilder, attr, int64s } from '../../onnx/index.js';
import { UpscaleError } from '../../errors.js';
import type { StateDict } from '../weights/tensor.js';
import { tensor } from './state.js';

/** nn.LayerNorm's default epsilon, used by every norm in SwinIR. */
const LAYER_NORM_EPSILON = 1e-5;
/** What the reference adds to attention logits between tokens from different regions of a shifted window. */
const MASKED_LOGIT = -100;

/** Run-time sizes shared by every block: the padded feature map is nh·w × nw·w. */
export interface WindowGrid {
  readonly window: number;
  readonly shift: number;
  /** int64 [5]: [nh, w, nw, w, C], splits [1, H, W, C] into window rows and columns. */
  readonly split: string;
  /** int64 [5]: [nh, nw, w, w, C], the windows as a grid before merging. */
  readonly merge: string;
  /** int64 [4]: [1, H, W, C]. */
  readonly full: string;
  /** float [nW, 1, N, N]: 0 or -100, built only when some block is shifted. */
  readonly mask: string | undefined;
}

function ints(g: GraphBuilder, name: string, values: readonly number[]): string {
  return g.initializer(g.uniqueName(name), [values.length], int64s(values));
}

function float(g: GraphBuilder, name: string, value: number): string {
  return g.initializer(g.uniqueName(name), [], new Float32Array([value]));
}

/**
 * Sizes of the padded feature map `x` [1, C, H, W] (H, W multiples of the window) and, when `shift` > 0, the
 * shifted-window mask: rows (and columns) fall in three regions — [0, H-w), [H-w, H-s), [H-s, H) — as in the
 * reference's `calculate_mask`; two tokens of a window may attend to each other only when their regions agree.
 */
export function windowGrid(g: GraphBuilder, x: string, channels: number, window: number, shift: number): WindowGrid {
  const height = g.node('Shape', [x], { start: attr.int(2), end: attr.int(3) });
  const width = g.node('Shape', [x], { start: attr.int(3), end: attr.int(4) });
  const w = ints(g, 'window', [window]);
  const nh = g.node('Div', [height, w]);
  const nw = g.node('Div', [width, w]);
  const c = ints(g, 'channels', [channels]);
  const one = ints(g, 'one', [1]);
  const split = g.node('Concat', [nh, w, nw, w, c], { axis: attr.int(0) });
  const merge = g.node('Concat', [nh, nw, w, w, c], { axis: attr.int(0) });
  const full = g.node('Concat', [one, height, width, c], { axis: attr.int(0) });
  if (shift === 0) return { window, shift, split, merge, full, mask: undefined };

  // Region 0, 1 or 2 of each row and column, as floats.
  const regions = (size: string): string => {
    const scalar = g.node('Squeeze', [size, ints(g, 'axis0', [0])]);
    const index = g.node('Range', [g.initializer(g.uniqueName('zero'), [], int64s([0])), scalar, g.initializer(g.uniqueName('step'), [], int64s([1]))]);
    const past = (offset: number): string =>
      g.node('Cast', [g.node('GreaterOrEqual', [index, g.node('Sub', [size, ints(g, 'offset', [offset])])])], { to: attr.int(1) });
    return g.node('Add', [past(window), past(shift)]);
  };
  const rows = g.node('Unsqueeze', [regions(height), ints(g, 'axis1', [1])]);
  const columns = g.node('Unsqueeze', [regions(width), ints(g, 'axis0', [0])]);
  const ids = g.node('Add', [g.node('Mul', [rows, float(g, 'three', 3)]), columns]); // [H, W]
  const n = window * window;
  const grid = g.node('Reshape', [ids, g.node('Concat', [nh, w, nw, w], { axis: attr.int(0) })]);
  const windows = g.node('Reshape', [g.node('Transpose', [grid], { perm: attr.ints([0, 2, 1, 3]) }), ints(g, 'windows_shape', [-1, n])]);
  const same = g.node('Equal', [
    g.node('Unsqueeze', [windows, ints(g, 'axis1', [1])]),
    g.node('Unsqueeze', [windows, ints(g, 'axis2', [2])]),
  ]); // [nW, N, N]
  const masked = g.node('Where', [same, float(g, 'zero_logit', 0), float(g, 'masked_logit', MASKED_LOGIT)]);
  const mask = g.node('Unsqueeze', [masked, ints(g, 'axis1', [1])]);
  return { window, shift, split, merge, full, mask };
}

/** nn.LayerNorm over the last axis. */
export function layerNorm(g: GraphBuilder, x: string, weights: StateDict, prefix: string, channels: number): string {
  const scale = tensor(weights, `${prefix}.weight`, [channels]);
  const bias = tensor(weights, `${prefix}.bias`, [channels]);
  return g.node(
    'LayerNormalization',
    [x, g.initializer(g.uniqueName(`${prefix}.weight`), [channels], scale.data), g.initializer(g.uniqueName(`${prefix}.bias`), [channels], bias.data)],
    { axis: attr.int(-1), epsilon: attr.float(LAYER_NORM_EPSILON) },
  );
}

/**
 * nn.Linear on the last axis: MatMul by the transposed weight [in, out], then the bias. `rows` picks a range of
 * output features (the q, k or v third of `qkv`), `factor` multiplies weights and bias (q's 1/√d).
 */
export function linear(
  g: GraphBuilder,
  x: string,
  weights: StateDict,
  prefix: string,
  shape: { in: number; out: number },
  options: { rows?: [number, number]; factor?: number; bias?: boolean } = {},
): string {
  const w = tensor(weights, `${prefix}.weight`, [shape.out, shape.in]);
  const [from, to] = options.rows ?? [0, shape.out];
  const factor = options.factor ?? 1;
  const out = to - from;
  const transposed = new Float32Array(shape.in * out);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < shape.in; i++) transposed[i * out + o] = w.data[(from + o) * shape.in + i]! * factor;
  }
  const y = g.node('MatMul', [x, g.initializer(g.uniqueName(`${prefix}.weight`), [shape.in, out], transposed)]);
  if (options.bias === false) return y;
  const b = tensor(weights, `${prefix}.bias`, [shape.out]).data.subarray(from, to).map((v) => v * factor);
  return g.node('Add', [y, g.initializer(g.uniqueName(`${prefix}.bias`), [out], b)]);
}

/** nn.GELU (the exact erf form, which onnxruntime fuses into one Gelu kernel). */
export function gelu(g: GraphBuilder, x: string): string {
  const erf = g.node('Erf', [g.node('Div', [x, float(g, 'sqrt2', Math.SQRT2)])]);
  return g.node('Mul', [g.node('Mul', [x, float(g, 'half', 0.5)]), g.node('Add', [erf, float(g, 'one_f', 1)])]);
}

/**
 * The relative position index of a w×w window: entry [n, m] points into the (2w-1)² bias table for tokens
 * n = (y1, x1), m = (y2, x2): (y1 - y2 + w - 1)·(2w - 1) + (x1 - x2 + w - 1).
 */
export function relativePositionIndex(window: number): Int32Array {
  const n = window * window;
  const index = new Int32Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const dy = Math.floor(a / window) - Math.floor(b / window) + window - 1;
      const dx = (a % window) - (b % window) + window - 1;
      index[a * n + b] = dy * (2 * window - 1) + dx;
    }
  }
  return index;
}

/**
 * The bias added to each head's attention logits, [heads, N, N], gathered from the table at conversion time. The
 * checkpoint's own `relative_position_index` buffer is used when it has one (checked against the table's size).
 */
function positionBias(weights: StateDict, prefix: string, window: number, heads: number): Float32Array {
  const n = window * window;
  const rows = (2 * window - 1) ** 2;
  const table = tensor(weights, `${prefix}.relative_position_bias_table`, [rows, heads]).data;
  const stored = weights.has(`${prefix}.relative_position_index`) ? tensor(weights, `${prefix}.relative_position_index`, [n, n]).data : undefined;
  const index = stored ?? relativePositionIndex(window);
  const bias = new Float32Array(heads * n * n);
  for (let i = 0; i < n * n; i++) {
    const row = index[i]!;
    if (!Number.isInteger(row) || row < 0 || row >= rows) {
      throw new UpscaleError('MODEL_INVALID', `weight "${prefix}.relative_position_index" holds ${row}, expected an index below ${rows}`);
    }
    for (let h = 0; h < heads; h++) bias[h * n * n + i] = table[row * heads + h]!;
  }
  return bias;
}

export interface BlockShape {
  readonly channels: number;
  readonly heads: number;
  readonly hidden: number;
  readonly qkvBias: boolean;
  readonly shifted: boolean;
}

/** torch.roll(x, offset, dim=axis) for |offset| < the axis length, by two slices. */
function roll(g: GraphBuilder, x: string, axis: number, offset: number): string {
  const axes = ints(g, 'axis', [axis]);
  const head = g.node('Slice', [x, ints(g, 'start', [-offset]), ints(g, 'end', [Number.MAX_SAFE_INTEGER]), axes]);
  const tail = g.node('Slice', [x, ints(g, 'start', [0]), ints(g, 'end', [-offset]), axes]);
  return g.node('Concat', [head, tail], { axis: attr.int(axis) });
}

/**
 * One Swin transformer block on x [1, H, W, C]: x + W-MSA(LN(x)) (shifted by w/2 in odd blocks, with the mask),
 * then + MLP(LN(·)).
 */
export function swinBlock(g: GraphBuilder, x: string, weights: StateDict, prefix: string, grid: WindowGrid, shape: BlockShape): string {
  const { channels: c, heads } = shape;
  const w = grid.window;
  const n = w * w;
  const headDim = c / heads;
  const shift = shape.shifted ? grid.shift : 0;

  let y = layerNorm(g, x, weights, `${prefix}.norm1`, c);
  if (shift > 0) y = roll(g, roll(g, y, 1, -shift), 2, -shift);
  const windows = g.node('Reshape', [
    g.node('Transpose', [g.node('Reshape', [y, grid.split])], { perm: attr.ints([0, 2, 1, 3, 4]) }),
    ints(g, 'tokens_shape', [-1, c]),
  ]); // [nW·N, C]: 2-D, so that onnxruntime fuses each linear layer's MatMul and bias into one Gemm

  const heads4 = ints(g, 'heads_shape', [-1, n, heads, headDim]);
  const project = (third: number, perm: number[]): string => {
    const options = { rows: [third * c, (third + 1) * c] as [number, number], bias: shape.qkvBias, ...(third === 0 ? { factor: headDim ** -0.5 } : {}) };
    const t = linear(g, windows, weights, `${prefix}.attn.qkv`, { in: c, out: 3 * c }, options);
    return g.node('Transpose', [g.node('Reshape', [t, heads4])], { perm: attr.ints(perm) });
  };
  const q = project(0, [0, 2, 1, 3]); // [nW, heads, N, d], already scaled
  const kT = project(1, [0, 2, 3, 1]); // [nW, heads, d, N]
  const v = project(2, [0, 2, 1, 3]);
  const bias = g.initializer(g.uniqueName(`${prefix}.attn.position_bias`), [heads, n, n], positionBias(weights, `${prefix}.attn`, w, heads));
  let logits = g.node('Add', [g.node('MatMul', [q, kT]), bias]);
  if (shift > 0) {
    if (grid.mask === undefined) throw new Error('windowGrid was built without a mask for a shifted block');
    logits = g.node('Add', [logits, grid.mask]);
  }
  const attention = g.node('Softmax', [logits], { axis: attr.int(-1) });
  const mixed = g.node('Reshape', [
    g.node('Transpose', [g.node('MatMul', [attention, v])], { perm: attr.ints([0, 2, 1, 3]) }),
    ints(g, 'tokens_shape', [-1, c]),
  ]);
  const projected = linear(g, mixed, weights, `${prefix}.attn.proj`, { in: c, out: c });
  let merged = g.node('Reshape', [
    g.node('Transpose', [g.node('Reshape', [projected, grid.merge])], { perm: attr.ints([0, 2, 1, 3, 4]) }),
    grid.full,
  ]);
  if (shift > 0) merged = roll(g, roll(g, merged, 1, shift), 2, shift);
  const attended = g.node('Add', [x, merged]);

  const normed = g.node('Reshape', [layerNorm(g, attended, weights, `${prefix}.norm2`, c), ints(g, 'tokens_shape', [-1, c])]);
  const hidden = gelu(g, linear(g, normed, weights, `${prefix}.mlp.fc1`, { in: c, out: shape.hidden }));
  const mlp = linear(g, hidden, weights, `${prefix}.mlp.fc2`, { in: shape.hidden, out: c });
  return g.node('Add', [attended, g.node('Reshape', [mlp, grid.full])]);
}

/**
 * Networks whose output is smaller than scale × input, and what the NCNN programs do around them, done here inside
 * the ONNX graph so that the converted model keeps the pipeline's contract (`input` [1, C, H, W] in 0..1 → `output`
 * [1, C, H·scale, W·scale]) for any H and W.
 *
 * waifu2x (upconv_7, cunet) and Real-CUGAN use convolutions without padding: each output pixel is computed from real
 * input pixels only, and the output lacks a border. The border is found on the graph (the same shape reasoning that
 * finds the scale: every layer says where its output's first pixel sits in the input, `Affine.at`), and the graph
 * pads the input by it before the network. The programs pad at the image's edges only (inside, tiles get real
 * context of the same width, their `prepadding`), and our tiler gives the model real context inside the image too,
 * so the padding only ever fills in outside the image, as theirs does:
 *
 * - waifu2x-ncnn-vulkan (src/waifu2x.cpp): `copy_make_border(..., BORDER_REPLICATE)`, prepadding 7 for upconv_7
 *   (an output 2H - 28) and 18 for cunet ×2 (28 for its ×1 denoisers). Edge replication: ONNX Pad mode `edge`.
 * - realcugan-ncnn-vulkan (src/realcugan.cpp, realcugan_preproc.comp): `copy_make_border` with border type 2 (reflect)
 *   and a mirror in the Vulkan shader, prepadding 18 / 14 / 19 for ×2 / ×3 / ×4, as bilibili's upcunet_v3.py
 *   (`F.pad(x, (18, 18 + pw - w0, 18, 18 + ph - h0), 'reflect')`). Reflection without repeating the edge pixel,
 *   done by gathering mirrored rows and columns (ONNX Pad's `reflect` refuses a border as wide as the image).
 *
 * The UNets' strided convolutions need the padded input to be a multiple of 2 (×2, ×4) or 4 (×3): both programs pad
 * the bottom and right further, by the same mode, and cut the output back. The graph does the same with the size
 * computed at run time, so the model takes any size and, on a whole image, gives what the programs give. (Declaring
 * the multiple as `upscale.size_multiple` instead would let our tiler pad by edge replication before the model's
 * reflection: different pixels along the bottom and right edges.) The multiple is still recorded, as
 * `upscale.tile_alignment`: a tile whose origin is not a multiple of it sees the strided convolutions at another
 * phase than the whole image does.
 *
 * Real-CUGAN's programs also do two things outside the network, which the graph includes:
 * - ×4: realcugan-ncnn-vulkan's postproc adds the nearest-neighbour enlarged input (`inptr[j / 4]`), as
 *   upcunet_v3.py's UpCunet4x adds `F.interpolate(x00, scale_factor=4, mode='nearest')`.
 * - "pro" models: upcunet_v3.py's RealWaifuUpScaler feeds `x / (255 / 0.7) + 0.15` and returns
 *   `(y - 0.15) * (255 / 0.7)`, i.e. input x·0.7 + 0.15 and output (y - 0.15) / 0.7 in 0..1 units.
 *   realcugan-ncnn-vulkan feeds pro models plain 0..1 (its open issue #52), but pnnx converted the network, not
 *   RealWaifuUpScaler's transforms, so the weights expect them: we follow the original code. (Without them, Set5 ×2
 *   of up2x-conservative is 32.36 dB instead of 30.87: the transform makes the network's sharpening 1 / 0.7 times
 *   stronger.) The graph does not tell pro from se models (same layers); their files do, by name (`models-pro/`,
 *   `realcugan-pro/`, `pro-*.param`).
 *
 * Both apply only to graphs with realcugan-ncnn-vulkan's blob names that eat a border (pnnx gives other models the
 * same names).
 *
 * Which program a model is made for shows in its blob names, which each program hard-codes: realesrgan-ncnn-vulkan
 * feeds `data` and extracts `output`, waifu2x-ncnn-vulkan `Input1` and `Eltwise4`, realcugan-ncnn-vulkan `in0` and
 * `out0` (the names pnnx gives).
 */
import { attr, int64s } from '../../onnx/index.js';
import type { GraphBuilder } from '../../onnx/index.js';
import type { ImageBlob } from './layers/index.js';

/** The NCNN upscaling program a model is made for, by the blob names it feeds and extracts. */
export type NcnnProgram = 'realesrgan-ncnn-vulkan' | 'waifu2x-ncnn-vulkan' | 'realcugan-ncnn-vulkan' | 'unknown';

/** How the input is extended by the border the network eats: replicating the edge pixels, or mirroring without repeating them. */
export type NcnnBorderMode = 'edge' | 'reflect';

/** Input pixels a network eats on each side. */
export interface NcnnBorder {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

const PROGRAMS: readonly (readonly [NcnnProgram, string, string])[] = [
  ['realesrgan-ncnn-vulkan', 'data', 'output'],
  ['waifu2x-ncnn-vulkan', 'Input1', 'Eltwise4'],
  ['realcugan-ncnn-vulkan', 'in0', 'out0'],
];

export function recognizeProgram(input: string, output: string): NcnnProgram {
  return PROGRAMS.find(([, i, o]) => i === input && o === output)?.[0] ?? 'unknown';
}

/** The border mode the model's program pads image edges with (edge replication when the program is not known). */
export function programBorderMode(program: NcnnProgram): NcnnBorderMode {
  return program === 'realcugan-ncnn-vulkan' ? 'reflect' : 'edge';
}

/** A Real-CUGAN "pro" model, by the folder or file name (the only place that says so). */
export function looksLikeCuganPro(file: string): boolean {
  const [dir = '', name = ''] = file.split(/[\\/]/).slice(-2);
  const pro = /(^|[-_.])pro([-_.]|$)/i;
  return pro.test(name) || pro.test(dir);
}

/**
 * The border the network eats, in input pixels, from the output blob of a graph whose output is
 * `scale · H + off` with `off <= 0` and whose first output pixel sits at `out.h.at` / `out.w.at` in the input.
 * An ordinary ×scale enlargement puts it at 0.5 / scale - 0.5 (half-pixel centres); the top border is the
 * difference, the bottom one the rest. Returns a message when the border is not a whole number of input pixels.
 */
export function eatenBorder(out: ImageBlob, scale: number): NcnnBorder | string {
  const ideal = 0.5 / scale - 0.5;
  const axis = (at: number, off: number, name: 'top' | 'left'): readonly [number, number] | string => {
    const total = -off / scale;
    const before = at - ideal;
    const after = total - before;
    const whole = (v: number): number | undefined => (Math.abs(v - Math.round(v)) < 1e-6 && Math.round(v) >= 0 ? Math.round(v) : undefined);
    const [b, a, t] = [whole(before), whole(after), whole(total)];
    if (t === undefined || b === undefined || a === undefined) {
      return `it eats ${fmt(total)} input pixels across (${name === 'top' ? 'height' : 'width'}), ${fmt(before)} before and ${fmt(after)} after, not whole pixels`;
    }
    return [b, a];
  };
  const v = axis(out.h.at, out.h.off, 'top');
  const h = axis(out.w.at, out.w.off, 'left');
  if (typeof v === 'string') return v;
  if (typeof h === 'string') return h;
  return { top: v[0], bottom: v[1], left: h[0], right: h[1] };
}

function fmt(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** What the ONNX graph does around the network. */
export interface Wrapping {
  readonly border: NcnnBorder;
  readonly mode: NcnnBorderMode;
  /** Pad the bottom and right further so that the padded input is a multiple of this. */
  readonly multiple: number;
  readonly scale: number;
  /** Real-CUGAN pro: input x·0.7 + 0.15, output (y - 0.15) / 0.7. */
  readonly cuganPro: boolean;
  /** Real-CUGAN ×4: add the nearest-neighbour enlarged input to the output. */
  readonly nearestResidual: boolean;
}

/** Values the output side needs from the input side. */
export interface WrappedInput {
  /** What the network reads. */
  readonly x: string;
  /** The input after the pro transform, before padding (for the ×4 residual). */
  readonly source: string;
  /** The input's [height, width] (int64), when the output must be cut back to scale × it. */
  readonly size: string | undefined;
}

const PRO_SCALE = 0.7;
const PRO_OFFSET = 0.15;

function constant(g: GraphBuilder, name: string, values: readonly number[]): string {
  return g.initializer(g.uniqueName(name), [values.length], int64s(values));
}

function scalar(g: GraphBuilder, name: string, value: number): string {
  return g.initializer(g.uniqueName(name), [], new Float32Array([value]));
}

/** The nodes before the network: the pro transform, then the padding by the border (and up to the multiple). */
export function wrapInput(g: GraphBuilder, input: string, w: Wrapping): WrappedInput {
  let x = input;
  if (w.cuganPro) x = g.node('Add', [g.node('Mul', [x, scalar(g, 'pro.scale', PRO_SCALE)]), scalar(g, 'pro.offset', PRO_OFFSET)]);
  const source = x;
  const { top, bottom, left, right } = w.border;
  if (w.mode === 'edge' && w.multiple === 1) {
    if (top + bottom + left + right === 0) return { x, source, size: undefined };
    return { x: g.node('Pad', [x, constant(g, 'border.pads', [0, 0, top, left, 0, 0, bottom, right])], { mode: attr.string('edge') }), source, size: undefined };
  }
  const shape = g.node('Shape', [x]);
  const size = g.node('Slice', [shape, constant(g, 'border.hw_start', [2]), constant(g, 'border.hw_end', [4])]);
  // The bottom and right get `extra` = (m - (H + top + bottom) mod m) mod m more.
  const m = constant(g, 'border.multiple', [w.multiple]);
  const padded = g.node('Add', [size, constant(g, 'border.total', [top + bottom, left + right])]);
  const extra = w.multiple === 1 ? undefined : g.node('Mod', [g.node('Sub', [m, g.node('Mod', [padded, m])]), m]);
  if (w.mode === 'edge') {
    const ends = g.node('Add', [extra!, constant(g, 'border.after', [bottom, right])]);
    const pads = g.node('Concat', [constant(g, 'border.before', [0, 0, top, left, 0, 0]), ends], { axis: attr.int(0) });
    return { x: g.node('Pad', [x, pads], { mode: attr.string('edge') }), source, size };
  }
  // Reflection by gathering rows, then columns: ONNX Pad's reflect refuses a border as wide as the image (and
  // PyTorch's too); mirrored indices, with period 2 (L - 1), extend any size, and a 1-pixel edge is repeated.
  const lengths = extra === undefined ? padded : g.node('Add', [padded, extra]);
  for (const [axis, before] of [[2, top], [3, left]] as const) {
    const at = (values: string): string => g.node('Slice', [values, constant(g, 'border.axis_start', [axis - 2]), constant(g, 'border.axis_end', [axis - 1])]);
    const last = g.node('Sub', [at(size), constant(g, 'border.one', [1])]);
    const count = g.node('Squeeze', [at(lengths), constant(g, 'border.squeeze', [0])]);
    const positions = g.node('Range', [g.initializer(g.uniqueName('border.zero'), [], int64s([0])), count, g.initializer(g.uniqueName('border.step'), [], int64s([1]))]);
    const offsets = g.node('Sub', [positions, constant(g, 'border.before', [before])]);
    const period = g.node('Max', [g.node('Mul', [last, constant(g, 'border.two', [2])]), constant(g, 'border.one', [1])]);
    const folded = g.node('Mod', [offsets, period]);
    const index = g.node('Sub', [last, g.node('Abs', [g.node('Sub', [folded, last])])]);
    x = g.node('Gather', [x, index], { axis: attr.int(axis) });
  }
  return { x, source, size: w.multiple === 1 ? undefined : size };
}

/** The nodes after the network: the cut back to scale × input, the ×4 residual, the inverse pro transform. */
export function wrapOutput(g: GraphBuilder, y: string, input: WrappedInput, w: Wrapping): string {
  let out = y;
  if (input.size !== undefined) {
    const ends = g.node('Mul', [input.size, constant(g, 'crop.scale', [w.scale])]);
    out = g.node('Slice', [out, constant(g, 'crop.starts', [0, 0]), ends, constant(g, 'crop.axes', [2, 3])]);
  }
  if (w.nearestResidual) {
    const scales = g.initializer(g.uniqueName('residual.scales'), [4], new Float32Array([1, 1, w.scale, w.scale]));
    const nearest = g.node('Resize', [input.source, '', scales], {
      mode: attr.string('nearest'),
      coordinate_transformation_mode: attr.string('asymmetric'),
      nearest_mode: attr.string('floor'),
    });
    out = g.node('Add', [out, nearest]);
  }
  if (w.cuganPro) out = g.node('Div', [g.node('Sub', [out, scalar(g, 'pro.offset', PRO_OFFSET)]), scalar(g, 'pro.scale', PRO_SCALE)]);
  return out;
}

/**
 * Layers that change the spatial size or the borders: Interp (ONNX Resize by rational scale factors), PixelShuffle
 * and Reorg (depth to space and back), Padding, and Crop by offsets, numpy-style starts and ends, or to a second
 * blob's size. Sizes must keep following the input size, so fixed output sizes are refused. Each also says where its
 * output's first pixel sits (Affine.at), from which the converter finds the border a network eats.
 */
import { attr, int64s } from '../../../onnx/index.js';
import type { Attributes } from '../../../onnx/index.js';
import { pixelShuffle, pixelUnshuffle } from '../../architectures/graph.js';
import { TO_END, affineText, counts, derived, floatParam, image, intArrayParam, intParam, moved, param, positive, refuse, scalar, scaleAffine, shift, single } from './context.js';
import type { Affine, ImageBlob, LayerContext, LayerConverter } from './context.js';

// ---- resampling -------------------------------------------------------------------------------------------------

/** A positive float as p/q with q ≤ 64 (1.5 → 3/2), or undefined. */
function ratio(value: number): [number, number] | undefined {
  for (let q = 1; q <= 64; q++) {
    const p = Math.round(value * q);
    if (p >= 1 && Math.abs(value * q - p) < 1e-4) return [p, q];
  }
  return undefined;
}

/**
 * Interp by scale factors. Nearest: ncnn reads source pixel floor(x / scale), ONNX's asymmetric + floor. Bilinear
 * and bicubic (a = -0.75): ncnn uses half-pixel centres (align_corner 0) or aligned corners, clamping at the borders
 * as onnxruntime does.
 */
export const interp: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const type = intParam(ctx, 0, 0);
  const hs = floatParam(ctx, 1, 1);
  const ws = floatParam(ctx, 2, 1);
  refuse(ctx, 3, intParam(ctx, 3, 0), 0, 'a fixed output_height (the output would not follow the input size)');
  refuse(ctx, 4, intParam(ctx, 4, 0), 0, 'a fixed output_width (the output would not follow the input size)');
  refuse(ctx, 5, intParam(ctx, 5, 0), 0, 'dynamic_target_size');
  const expr = param(ctx, 9);
  if (expr !== undefined) ctx.fail('a size expression (parameter 9) is not supported');
  const alignCorner = intParam(ctx, 6, 0) !== 0;
  const rh = ratio(hs);
  const rw = ratio(ws);
  if (rh === undefined || rw === undefined) return ctx.fail(`expected positive rational scale factors, got ${hs} × ${ws}`);
  const scales = ctx.initializer('scales', [4], new Float32Array([1, 1, hs, ws]));
  let attributes: Attributes;
  let radius = 0;
  if (type === 1) {
    attributes = { mode: attr.string('nearest'), coordinate_transformation_mode: attr.string('asymmetric'), nearest_mode: attr.string('floor') };
  } else if (type === 2 || type === 3) {
    attributes = {
      mode: attr.string(type === 2 ? 'linear' : 'cubic'),
      coordinate_transformation_mode: attr.string(alignCorner ? 'align_corners' : 'half_pixel'),
      ...(type === 3 ? { cubic_coeff_a: attr.float(-0.75), exclude_outside: attr.int(0) } : {}),
    };
    radius = type === 2 ? 1 : 2;
  } else {
    return ctx.fail(`unsupported resize_type ${type} (parameter 0; 1 nearest, 2 bilinear, 3 bicubic)`);
  }
  const y = ctx.node('Resize', [x.name, '', scales], attributes);
  // Half-pixel centres: output pixel i looks at input (i + 0.5) / factor - 0.5 (nearest ×n repeats each pixel n times
  // around the same centre); aligned corners put the first pixels together.
  const resized = (a: Affine, [p, q]: [number, number]): Affine => moved(scaleAffine(a, p, q), a, alignCorner && type !== 1 ? 0 : q / p / 2 - 0.5);
  return [
    derived(x, y, {
      h: resized(x.h, rh),
      w: resized(x.w, rw),
      reach: x.reach + radius * Math.min(x.h.den / x.h.num, x.w.den / x.w.num),
    }),
  ];
};

/** PixelShuffle: mode 0 reads channel c·r² + i·r + j (PyTorch's order, DepthToSpace CRD), mode 1 (i·r + j)·C + c (DCR). */
export const pixelShuffleLayer: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const r = positive(ctx, 0, intParam(ctx, 0, 1), 'upscale_factor');
  const mode = intParam(ctx, 1, 0);
  if (mode !== 0 && mode !== 1) ctx.fail(`unsupported mode ${mode} (parameter 1; 0 or 1)`);
  if (x.channels % (r * r) !== 0) ctx.fail(`its input has ${x.channels} channels, not a multiple of ${r}² = ${r * r}`);
  const y = mode === 0 ? pixelShuffle(ctx.g, x.name, r) : ctx.node('DepthToSpace', [x.name], { blocksize: attr.int(r), mode: attr.string('DCR') });
  const spread = (a: Affine): Affine => moved(scaleAffine(a, r, 1), a, 0.5 / r - 0.5);
  return [derived(x, y, { channels: x.channels / (r * r), h: spread(x.h), w: spread(x.w) })];
};

/** Reorg (space to depth): mode 0 writes channel c·s² + i·s + j (PyTorch's pixel_unshuffle), mode 1 (i·s + j)·C + c (SpaceToDepth). */
export const reorg: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const s = positive(ctx, 0, intParam(ctx, 0, 1), 'stride');
  const mode = intParam(ctx, 1, 0);
  if (mode !== 0 && mode !== 1) ctx.fail(`unsupported mode ${mode} (parameter 1; 0 or 1)`);
  const y = mode === 0 ? pixelUnshuffle(ctx.g, x.name, x.channels, s) : ctx.node('SpaceToDepth', [x.name], { blocksize: attr.int(s) });
  const gather = (a: Affine): Affine => moved(scaleAffine(a, 1, s), a, (s - 1) / 2);
  return [derived(x, y, { channels: x.channels * s * s, h: gather(x.h), w: gather(x.w) })];
};

// ---- borders ----------------------------------------------------------------------------------------------------

const PAD_MODES = ['constant', 'edge', 'reflect'] as const;

export const padding: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const [top, bottom, left, right] = [0, 1, 2, 3].map((id) => intParam(ctx, id, 0)) as [number, number, number, number];
  const type = intParam(ctx, 4, 0);
  const mode = PAD_MODES[type] ?? ctx.fail(`unsupported padding type ${type} (parameter 4; 0 constant, 1 replicate, 2 reflect)`);
  refuse(ctx, 6, intParam(ctx, 6, 0), 0, 'per-channel pad values');
  refuse(ctx, 7, intParam(ctx, 7, 0), 0, 'channel padding (front)');
  refuse(ctx, 8, intParam(ctx, 8, 0), 0, 'channel padding (behind)');
  if ([top, bottom, left, right].some((v) => v < 0)) ctx.fail(`negative padding ${top}, ${bottom}, ${left}, ${right} is not supported`);
  const pads = ctx.initializer('pads', [8], int64s([0, 0, top, left, 0, 0, bottom, right]));
  const inputsOnnx = [x.name, pads];
  if (mode === 'constant') inputsOnnx.push(scalar(ctx, 'value', floatParam(ctx, 5, 0)));
  const y = ctx.node('Pad', inputsOnnx, { mode: attr.string(mode) });
  return [derived(x, y, { h: moved(shift(x.h, top + bottom), x.h, -top), w: moved(shift(x.w, left + right), x.w, -left) })];
};

/** One axis of a crop: ONNX Slice bounds and the size change, or a reason it cannot follow the input size. */
interface AxisCrop {
  readonly start: number;
  readonly end: number;
  /** Pixels removed. */
  readonly removed: number;
}

/**
 * Crop of one blob, by offsets (`0=` w, `1=` h, `2=` c, `3..5=` out sizes, -233 meaning "the rest", `6..8=` offsets
 * from the end) or numpy style (`9=` starts, `10=` ends, `11=` axes; an end of 0 or -233 means the end). Crops of
 * height and width must keep the output following the input size: fixed output sizes are refused.
 */
export const crop: LayerConverter = (ctx, inputs) => {
  if (ctx.layer.inputs.length === 2) return cropToReference(ctx, inputs);
  const x = single(ctx, inputs);
  for (const id of [19, 20, 21]) if (param(ctx, id) !== undefined) ctx.fail(`crop expressions (parameter ${id}) are not supported`);
  const starts = intArrayParam(ctx, 9);
  const ends = intArrayParam(ctx, 10);
  const axes = intArrayParam(ctx, 11);
  /** By ncnn axis: 0 c, 1 h, 2 w. */
  const crops = new Map<number, AxisCrop>();
  const fixed = (axis: number): never => ctx.fail(`a crop to a fixed ${['channel count', 'height', 'width'][axis]} is not supported (the output would not follow the input size)`);
  if (starts.length > 0 && ends.length > 0) {
    if (ends.length !== starts.length || (axes.length !== 0 && axes.length !== starts.length)) ctx.fail('expected as many starts, ends and axes (parameters 9, 10, 11)');
    for (const [i, rawStart] of starts.entries()) {
      const axis = axes.length === 0 ? i : axes[i]! < 0 ? axes[i]! + 3 : axes[i]!;
      if (axis < 0 || axis > 2) ctx.fail(`crop axis ${axes[i]} is out of range for an image (c, h, w)`);
      const start = rawStart === -233 ? 0 : rawStart;
      const end = ends[i]! === -233 || ends[i]! >= 2 ** 30 ? 0 : ends[i]!;
      if (axis === 0) {
        const s = start >= 0 ? start : x.channels + start;
        const e = end > 0 ? Math.min(x.channels, end) : x.channels + end;
        crops.set(0, { start: s, end: e, removed: x.channels - (e - s) });
        continue;
      }
      if (start < 0 || end > 0) fixed(axis);
      crops.set(axis, { start, end: end < 0 ? end : TO_END, removed: start - end });
    }
  } else {
    const offsets = [intParam(ctx, 2, 0), intParam(ctx, 1, 0), intParam(ctx, 0, 0)];
    const outs = [intParam(ctx, 5, 0), intParam(ctx, 4, 0), intParam(ctx, 3, 0)];
    const ends2 = [intParam(ctx, 8, 0), intParam(ctx, 7, 0), intParam(ctx, 6, 0)];
    if (outs.every((v) => v === 0) && ends2.every((v) => v === 0)) ctx.fail('a crop to the size of a second blob is not supported');
    for (let axis = 0; axis < 3; axis++) {
      const start = offsets[axis]!;
      const fromEnd = ends2[axis]!;
      const out = outs[axis]!;
      if (start < 0 || fromEnd < 0) ctx.fail(`negative crop offsets are not supported`);
      if (axis === 0) {
        const size = out === -233 ? x.channels - start - fromEnd : Math.min(out, x.channels - start - fromEnd);
        if (size < 1) ctx.fail(`the crop leaves ${size} channels`);
        if (size !== x.channels) crops.set(0, { start, end: start + size, removed: x.channels - size });
        continue;
      }
      if (out !== -233) fixed(axis);
      if (start !== 0 || fromEnd !== 0) crops.set(axis, { start, end: fromEnd > 0 ? -fromEnd : TO_END, removed: start + fromEnd });
    }
  }
  return [slice(ctx, x, crops)];
};

/**
 * Crop with a second blob (`2 1 x reference`): x cut to the reference's height and width (and channels) from the
 * offsets `0=` w, `1=` h, `2=` c, as waifu2x's cunet aligns its skip connections (ncnn's Crop::resolve_crop_roi with
 * a reference blob). Both sizes follow the input size, so the cut is a fixed count of pixels.
 */
const cropToReference: LayerConverter = (ctx, inputs) => {
  counts(ctx, 2, 1);
  const x = image(ctx, inputs[0], 'input');
  const reference = image(ctx, inputs[1], 'reference (second input)');
  const crops = new Map<number, AxisCrop>();
  const offsets = [intParam(ctx, 2, 0), intParam(ctx, 1, 0), intParam(ctx, 0, 0)];
  if (offsets.some((v) => v < 0)) ctx.fail(`negative crop offsets ${offsets[2]}, ${offsets[1]}, ${offsets[0]} (w, h, c) are not supported`);
  const [coffset, hoffset, woffset] = offsets as [number, number, number];
  if (coffset !== 0 || reference.channels !== x.channels) {
    if (coffset + reference.channels > x.channels) ctx.fail(`channels ${coffset} to ${coffset + reference.channels} of a ${x.channels}-channel input do not exist`);
    crops.set(0, { start: coffset, end: coffset + reference.channels, removed: x.channels - reference.channels });
  }
  for (const [axis, from, to, offset] of [[1, x.h, reference.h, hoffset], [2, x.w, reference.w, woffset]] as const) {
    const removed = from.off - to.off;
    if (from.num !== to.num || from.den !== to.den || removed < offset) {
      ctx.fail(`its input (${affineText(from, 'H')}) cannot be cut to the reference's ${axis === 1 ? 'height' : 'width'} (${affineText(to, 'H')}) from offset ${offset}`);
    }
    if (removed !== 0) crops.set(axis, { start: offset, end: removed === offset ? TO_END : offset - removed, removed });
  }
  return [slice(ctx, x, crops)];
};

/** An ONNX Slice for crops by ncnn axis (0 c, 1 h, 2 w); the output's first pixel moves by each start. */
function slice(ctx: LayerContext, x: ImageBlob, crops: ReadonlyMap<number, AxisCrop>): ImageBlob {
  if (crops.size === 0) return x;
  const list = [...crops.entries()];
  const y = ctx.node('Slice', [
    x.name,
    ctx.initializer('starts', [list.length], int64s(list.map(([, c]) => c.start))),
    ctx.initializer('ends', [list.length], int64s(list.map(([, c]) => c.end))),
    ctx.initializer('axes', [list.length], int64s(list.map(([axis]) => axis + 1))),
  ]);
  const channels = x.channels - (crops.get(0)?.removed ?? 0);
  if (channels < 1) ctx.fail(`the crop leaves ${channels} channels`);
  const cut = (a: Affine, c: AxisCrop | undefined): Affine => (c === undefined ? a : moved(shift(a, -c.removed), a, c.start));
  return derived(x, y, { channels, h: cut(x.h, crops.get(1)), w: cut(x.w, crops.get(2)) });
}


/**
 * Layers that combine or pass blobs through: BinaryOp (with a scalar, two images, an image and a 1-D blob, or a
 * MemoryData constant), Eltwise, Concat along channels, Split, Noop and Dropout, and MemoryData itself, whose
 * constants stay out of the graph until a BinaryOp uses them.
 */
import { attr } from '../../../onnx/index.js';
import { arrayParam, counts, derived, floatParam, image, imageOrVector, intParam, same, sameSize, scalar } from './context.js';
import type { Blob, ConstantBlob, ImageBlob, LayerContext, LayerConverter, VectorBlob } from './context.js';

const BINARY_OPS: readonly (readonly [string, boolean])[] = [
  ['Add', false], // 0 ADD
  ['Sub', false], // 1 SUB
  ['Mul', false], // 2 MUL
  ['Div', false], // 3 DIV
  ['Max', false], // 4 MAX
  ['Min', false], // 5 MIN
  ['Pow', false], // 6 POW
  ['Sub', true], // 7 RSUB: b - a
  ['Div', true], // 8 RDIV: b / a
  ['Pow', true], // 9 RPOW: b ^ a
];

/**
 * BinaryOp with a scalar (`1=1 2=b`) or two blobs. Images of the same size combine elementwise; a 1-D blob (an SE
 * block's channel weights) against an image is per channel, as ncnn broadcasts a 1-D blob whose length is the other
 * blob's channel count; a MemoryData constant follows ncnn's rule against an image: a 1-D one of the image's channel
 * count is per channel, a 3-D one [c, h, w] broadcasts by numpy's rule.
 */
export const binaryOp: LayerConverter = (ctx, inputs) => {
  const opType = intParam(ctx, 0, 0);
  const op = BINARY_OPS[opType] ?? ctx.fail(`unsupported operation type ${opType} (parameter 0; 0 to 9 are add, sub, mul, div, max, min, pow, rsub, rdiv, rpow)`);
  const [onnxOp, reversed] = op;
  const emit = (a: string, b: string): string => ctx.node(onnxOp, reversed ? [b, a] : [a, b]);
  if (intParam(ctx, 1, 0) !== 0) {
    counts(ctx, 1, 1);
    const x = imageOrVector(ctx, inputs[0]);
    return [same(x, emit(x.name, scalar(ctx, 'b', floatParam(ctx, 2, 0))))];
  }
  counts(ctx, 2, 1);
  const [a, b] = inputs as [Blob, Blob];
  if (a.kind === 'constant' && b.kind === 'constant') return ctx.fail('both inputs are MemoryData constants');
  if (a.kind === 'constant' || b.kind === 'constant') {
    const other = (a.kind === 'constant' ? b : a) as ImageBlob | VectorBlob;
    const constant = (a.kind === 'constant' ? a : b) as ConstantBlob;
    const c = constantInput(ctx, constant, other);
    const y = a.kind === 'constant' ? emit(c, other.name) : emit(other.name, c);
    if (other.kind === 'vector') return [same(other, y)];
    return [derived(other, y, { channels: Math.max(other.channels, constant.shape.length === 3 ? constant.shape[2]! : 1) })];
  }
  return [combine(ctx, a, b, emit(a.name, b.name))];
};

/**
 * The blob two images or 1-D blobs combine into (elementwise, with ncnn's per-channel broadcast of a 1-D blob
 * against an image), after checking their sizes.
 */
function combine(ctx: LayerContext, a: ImageBlob | VectorBlob, b: ImageBlob | VectorBlob, name: string): ImageBlob | VectorBlob {
  if (a.kind === 'image' && b.kind === 'image') {
    sameSize(ctx, [a, b]);
    return derived(a, name, { channels: Math.max(a.channels, b.channels), reach: Math.max(a.reach, b.reach), global: a.global || b.global });
  }
  if (a.kind === 'vector' && b.kind === 'vector') {
    if (a.length !== b.length && a.length !== 1 && b.length !== 1) ctx.fail(`expected 1-D inputs of the same length, got ${a.length} and ${b.length}`);
    return { kind: 'vector', name, length: Math.max(a.length, b.length) };
  }
  const img = (a.kind === 'image' ? a : b) as ImageBlob;
  const vector = (a.kind === 'vector' ? a : b) as VectorBlob;
  if (vector.length !== img.channels && vector.length !== 1) {
    ctx.fail(`a 1-D blob of ${vector.length} values broadcast against an image of ${img.channels} channels is not supported (expected one value per channel)`);
  }
  return derived(img, name, { global: true });
}

function constantInput(ctx: LayerContext, constant: ConstantBlob, other: ImageBlob | VectorBlob): string {
  const [w = 1, h = 1, c = 1] = constant.shape;
  const channels = other.kind === 'image' ? other.channels : other.length;
  if (constant.shape.length === 1) {
    if (w === 1) return ctx.initializer('constant', [], constant.data);
    if (w === channels) return ctx.initializer('constant', [1, w, 1, 1], constant.data);
    return ctx.fail(`a 1-D MemoryData of ${w} values broadcast against ${other.kind === 'image' ? `an image of ${channels} channels` : `a 1-D blob of ${channels} values`} is not supported`);
  }
  if (other.kind === 'image' && constant.shape.length === 3 && (h === 1 || w === 1) && (c === 1 || c === channels)) {
    return ctx.initializer('constant', [1, c, h, w], constant.data);
  }
  return ctx.fail(`a MemoryData of shape [${constant.shape.join(', ')}] (w, h, c) broadcast against ${other.kind === 'image' ? 'an image' : 'a 1-D blob'} is not supported`);
}

/** Eltwise: product (0), sum with optional coefficients (1) or maximum (2) of images, or of 1-D blobs. */
export const eltwise: LayerConverter = (ctx, inputs) => {
  counts(ctx, 'many', 1);
  const xs = inputs.map((b, i) => imageOrVector(ctx, b, `input ${i}`));
  const opType = intParam(ctx, 0, 0);
  const coeffs = arrayParam(ctx, 1);
  const joined = (name: string): ImageBlob | VectorBlob => xs.slice(1).reduce<ImageBlob | VectorBlob>((acc, x) => combine(ctx, acc, x, name), xs[0]!);
  if (opType === 0) return [joined(xs.slice(1).reduce((acc, x) => ctx.node('Mul', [acc, x.name]), xs[0]!.name))];
  if (opType === 2) return [joined(ctx.node('Max', xs.map((x) => x.name)))];
  if (opType !== 1) return ctx.fail(`unsupported operation type ${opType} (parameter 0; 0 product, 1 sum, 2 max)`);
  if (coeffs.length !== 0 && coeffs.length !== xs.length) ctx.fail(`expected ${xs.length} coefficients (parameter 1), got ${coeffs.length}`);
  const terms = xs.map((x, i) => {
    const k = coeffs[i] ?? 1;
    return k === 1 ? x.name : ctx.node('Mul', [x.name, scalar(ctx, `coeff${i}`, k)]);
  });
  return [joined(terms.slice(1).reduce((acc, t) => ctx.node('Add', [acc, t]), terms[0]!))];
};

export const concat: LayerConverter = (ctx, inputs) => {
  counts(ctx, 'many', 1);
  const xs = inputs.map((b, i) => image(ctx, b, `input ${i}`));
  const axis = intParam(ctx, 0, 0);
  if (axis !== 0 && axis !== -3) ctx.fail(`only concatenation along channels (axis 0) is supported, got axis ${axis}`);
  sameSize(ctx, xs);
  const first = xs[0]!;
  return [
    derived(first, ctx.node('Concat', xs.map((x) => x.name), { axis: attr.int(1) }), {
      channels: xs.reduce((sum, x) => sum + x.channels, 0),
      reach: Math.max(...xs.map((x) => x.reach)),
      global: xs.some((x) => x.global),
    }),
  ];
};

/** Split and Noop: outputs are the inputs (Split copies its one input to every output). */
export const split: LayerConverter = (ctx, inputs) => {
  if (inputs.length !== 1 || ctx.layer.outputs.length < 1) ctx.fail(`expected 1 input blob and at least 1 output, got ${inputs.length} and ${ctx.layer.outputs.length}`);
  return ctx.layer.outputs.map(() => inputs[0]!);
};

export const noop: LayerConverter = (ctx, inputs) => {
  if (inputs.length !== ctx.layer.outputs.length) ctx.fail(`expected as many outputs as inputs, got ${inputs.length} inputs and ${ctx.layer.outputs.length} outputs`);
  return [...inputs];
};

export const dropout: LayerConverter = (ctx, inputs) => {
  counts(ctx, 1, 1);
  const x = imageOrVector(ctx, inputs[0]);
  const k = floatParam(ctx, 0, 1);
  return [k === 1 ? x : same(x, ctx.node('Mul', [x.name, scalar(ctx, 'scale', k)]))];
};

// ---- constants --------------------------------------------------------------------------------------------------

/** MemoryData: a constant [w], [w, h] or [w, h, c] (ncnn's order) of raw float32 (or tagged with 21=0). */
export const memoryData: LayerConverter = (ctx) => {
  counts(ctx, 0, 1);
  const w = intParam(ctx, 0, 0);
  const h = intParam(ctx, 1, 0);
  const d = intParam(ctx, 11, 0);
  const c = intParam(ctx, 2, 0);
  if (d !== 0) ctx.fail('4-D MemoryData is not supported');
  const shape = c !== 0 ? [w, h, c] : h !== 0 ? [w, h] : [w];
  if (shape.some((v) => !Number.isSafeInteger(v) || v < 1)) ctx.fail(`expected a positive shape, got [${shape.join(', ')}] (w, h, c)`);
  const count = shape.reduce((a, b) => a * b, 1);
  const data = intParam(ctx, 21, 1) === 0 ? ctx.tagged(count, 'data') : ctx.raw(count, 'data');
  return [{ kind: 'constant', shape, data }];
};

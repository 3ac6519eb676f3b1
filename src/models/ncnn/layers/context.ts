/**
 * What every NCNN layer converter shares: the blob and context types, the readers of a layer's numbered parameters
 * (ints, floats and arrays, with messages naming the parameter), and the blob helpers that check input and output
 * counts, derive an output blob from an input, add scalar and per-channel initializers, and track each blob's size
 * and position as affine functions of the model input's size: the shape reasoning that finds the scale, the size
 * multiple and the border a network without padding eats.
 */
import type { GraphBuilder, Attributes } from '../../../onnx/index.js';
import type { NcnnLayer, NcnnParamValue } from '../param.js';

/**
 * One axis of a blob. Its edge = input edge · num / den + off (for input edges that are multiples of the size
 * multiple); its pixel i sits at model-input coordinate `at + i · den / num` (pixel centres at integers), so `at` says
 * where the blob's first pixel looks in the input: a network that eats a border of b input pixels ends with an
 * output whose `at` is b past where an ordinary ×num/den enlargement would put it.
 */
export interface Affine {
  readonly num: number;
  readonly den: number;
  readonly off: number;
  readonly at: number;
}

/** An image-shaped value of the ONNX graph, [1, channels, h, w]. */
export interface ImageBlob {
  readonly kind: 'image';
  /** ONNX value name. */
  readonly name: string;
  readonly channels: number;
  readonly h: Affine;
  readonly w: Affine;
  /** How far, in input pixels, an element here may depend on from its own position (longest path). */
  readonly reach: number;
  /** True when it depends on the whole image (through a global pooling): tiles change it. */
  readonly global: boolean;
}

/**
 * A 1-D blob of `length` values (ncnn's `dims == 1`): what global pooling and InnerProduct make, one value per
 * channel. In the ONNX graph it is [1, length, 1, 1], so it broadcasts per channel against an image. It depends on
 * the whole image.
 */
export interface VectorBlob {
  readonly kind: 'vector';
  /** ONNX value name. */
  readonly name: string;
  readonly length: number;
}

/** A MemoryData constant, kept out of the graph until an operation uses it. `shape` is ncnn's [w, h, c], as given. */
export interface ConstantBlob {
  readonly kind: 'constant';
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type Blob = ImageBlob | VectorBlob | ConstantBlob;

/** What a layer converter gets besides its inputs. */
export interface LayerContext {
  readonly g: GraphBuilder;
  readonly layer: NcnnLayer;
  /** A "type 0" weight buffer (storage tag, then float32/float16/codebook data) of this layer. */
  tagged(count: number, what: string): Float32Array;
  /** A "type 1" weight buffer (raw float32) of this layer. */
  raw(count: number, what: string): Float32Array;
  /** Adds a node named after the layer; returns its output. */
  node(opType: string, inputs: readonly string[], attributes?: Attributes): string;
  /** Adds an initializer named after the layer; returns its name. */
  initializer(key: string, dims: readonly number[], data: Float32Array | BigInt64Array): string;
  /** Throws MODEL_INVALID naming the file, the line, the layer and its type. */
  fail(message: string): never;
}

/** Emits one layer's nodes; returns one blob per output of the layer. */
export type LayerConverter = (ctx: LayerContext, inputs: readonly Blob[]) => Blob[];

export const UNIT: Affine = { num: 1, den: 1, off: 0, at: 0 };
/** ONNX Slice end meaning "to the end of the axis". */
export const TO_END = Number.MAX_SAFE_INTEGER;
/** ncnn's FLT_MAX defaults for Clip. */
export const FLT_MAX = 3.4028234663852886e38;

// ---- parameters -------------------------------------------------------------------------------------------------

export function param(ctx: LayerContext, id: number): NcnnParamValue | undefined {
  return ctx.layer.params.get(id);
}

/** An int parameter (ncnn stores ints and floats apart; a float here is a broken file). */
export function intParam(ctx: LayerContext, id: number, fallback: number): number {
  const p = param(ctx, id);
  if (p === undefined) return fallback;
  if (p.kind !== 'int') return ctx.fail(`expected parameter ${id} to be an integer, got ${describe(p)}`);
  return p.value;
}

/** A float parameter; an int value is taken as the number it spells. */
export function floatParam(ctx: LayerContext, id: number, fallback: number): number {
  const p = param(ctx, id);
  if (p === undefined) return fallback;
  if (p.kind !== 'int' && p.kind !== 'float') return ctx.fail(`expected parameter ${id} to be a number, got ${describe(p)}`);
  return p.value;
}

export function arrayParam(ctx: LayerContext, id: number): readonly number[] {
  const p = param(ctx, id);
  if (p === undefined) return [];
  if (p.kind === 'array') return p.value;
  if (p.kind === 'int' || p.kind === 'float') return [p.value];
  return ctx.fail(`expected parameter ${id} to be an array, got ${describe(p)}`);
}

export function intArrayParam(ctx: LayerContext, id: number): readonly number[] {
  const values = arrayParam(ctx, id);
  if (!values.every((v) => Number.isSafeInteger(v))) return ctx.fail(`expected parameter ${id} to be an array of integers, got ${values.join(',')}`);
  return values;
}

function describe(p: NcnnParamValue): string {
  return p.kind === 'string' ? `the string "${p.value}"` : p.kind === 'array' ? `an array` : `${p.kind} ${p.value}`;
}

export function positive(ctx: LayerContext, id: number, value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) return ctx.fail(`expected ${name} (parameter ${id}) to be a positive integer, got ${value}`);
  return value;
}

export function refuse(ctx: LayerContext, id: number, value: number, fallback: number, what: string): void {
  if (value !== fallback) ctx.fail(`${what} (parameter ${id}=${value}) is not supported`);
}

// ---- blob helpers -----------------------------------------------------------------------------------------------

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** in · p/q, rounded down as ncnn does (`(int)(w * scale)`); the first pixel stays where it was (see {@link moved}). */
export function scaleAffine(a: Affine, p: number, q: number): Affine {
  const num = a.num * p;
  const den = a.den * q;
  const k = gcd(num, den);
  return { num: num / k, den: den / k, off: Math.floor((a.off * p) / q), at: a.at };
}

/** The edge grown (or shrunk, when negative) by `delta` pixels. */
export function shift(a: Affine, delta: number): Affine {
  return { ...a, off: a.off + delta };
}

/**
 * `b` (a new size) with its first pixel at `pixels` pixels of `a` (fractional: 0.5 is halfway between `a`'s first two
 * pixels) from `a`'s first pixel: -2 after a padding of 2, +1 after a valid 3×3 convolution.
 */
export function moved(b: Affine, a: Affine, pixels: number): Affine {
  return { ...b, at: a.at + (pixels * a.den) / a.num };
}

function sameAffine(a: Affine, b: Affine): boolean {
  return a.num === b.num && a.den === b.den && a.off === b.off;
}

export function affineText(a: Affine, symbol: string): string {
  const factor = a.den === 1 ? (a.num === 1 ? symbol : `${a.num}·${symbol}`) : `${a.num}/${a.den}·${symbol}`;
  return a.off === 0 ? factor : `${factor} ${a.off > 0 ? '+' : '-'} ${Math.abs(a.off)}`;
}

export function image(ctx: LayerContext, blob: Blob | undefined, what = 'input'): ImageBlob {
  if (blob === undefined) return ctx.fail(`expected an ${what}`);
  if (blob.kind === 'constant') return ctx.fail(`its ${what} is a MemoryData constant, which only BinaryOp can use`);
  if (blob.kind === 'vector') {
    return ctx.fail(`its ${what} is a 1-D blob of ${blob.length} values (from a global pooling or InnerProduct), which only BinaryOp, Scale, Eltwise, InnerProduct and activations can use`);
  }
  return blob;
}

/** An image or a 1-D blob (activations and the like work on both). */
export function imageOrVector(ctx: LayerContext, blob: Blob | undefined, what = 'input'): ImageBlob | VectorBlob {
  if (blob === undefined) return ctx.fail(`expected an ${what}`);
  if (blob.kind === 'constant') return ctx.fail(`its ${what} is a MemoryData constant, which only BinaryOp can use`);
  return blob;
}

export function counts(ctx: LayerContext, inputs: number | 'many', outputs: number): void {
  const got = ctx.layer.inputs.length;
  if (inputs === 'many' ? got < 2 : got !== inputs) {
    ctx.fail(`expected ${inputs === 'many' ? 'two or more' : inputs} input blob${inputs === 1 ? '' : 's'}, got ${got}`);
  }
  if (ctx.layer.outputs.length !== outputs) ctx.fail(`expected ${outputs} output blob${outputs === 1 ? '' : 's'}, got ${ctx.layer.outputs.length}`);
}

/** The only input of a one-in one-out layer. */
export function single(ctx: LayerContext, inputs: readonly Blob[]): ImageBlob {
  counts(ctx, 1, 1);
  return image(ctx, inputs[0]);
}

export function sameSize(ctx: LayerContext, blobs: readonly ImageBlob[]): void {
  const [first, ...rest] = blobs;
  for (const b of rest) {
    if (first !== undefined && (!sameAffine(first.h, b.h) || !sameAffine(first.w, b.w))) {
      ctx.fail(
        `expected inputs of the same size, got ${affineText(first.h, 'H')} × ${affineText(first.w, 'W')} and ${affineText(b.h, 'H')} × ${affineText(b.w, 'W')}`,
      );
    }
  }
}

export function derived(x: ImageBlob, name: string, changes: Partial<Omit<ImageBlob, 'kind' | 'name'>> = {}): ImageBlob {
  return { ...x, ...changes, kind: 'image', name };
}

/** `x` (an image or a 1-D blob) with a new ONNX value: the output of an elementwise operation on it. */
export function same<B extends ImageBlob | VectorBlob>(x: B, name: string): B {
  return { ...x, name };
}

export function scalar(ctx: LayerContext, key: string, value: number): string {
  return ctx.initializer(key, [], new Float32Array([value]));
}

/** A per-channel vector as [1, n, 1, 1] (n = channels) or a scalar when n is 1. */
export function perChannel(ctx: LayerContext, key: string, data: Float32Array, channels: number, what: string): string {
  if (data.length === 1) return ctx.initializer(key, [], data);
  if (data.length !== channels) ctx.fail(`expected ${what} to have 1 or ${channels} values (the input's channels), got ${data.length}`);
  return ctx.initializer(key, [1, data.length, 1, 1], data);
}

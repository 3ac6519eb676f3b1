/**
 * Small declarative queries over a state dict, for the architecture detectors (spandrel's `has_all`, shape reads),
 * and checked tensor access for the converters.
 */
import { UpscaleError } from '../../errors.js';
import type { StateDict, WeightTensor } from '../weights/tensor.js';

/** True when every key is present. */
export function hasAll(weights: StateDict, ...keys: string[]): boolean {
  return keys.every((k) => weights.has(k));
}

/** The shape of `key`, or undefined when absent. */
export function shapeOf(weights: StateDict, key: string): readonly number[] | undefined {
  return weights.get(key)?.shape;
}

/**
 * The number of consecutive indices `i` = 0, 1, 2... for which `pattern(i)` is a key: how many blocks a body has
 * (`body.${i}.rdb1.conv1.weight`).
 */
export function countSequence(weights: StateDict, pattern: (i: number) => string): number {
  let n = 0;
  while (weights.has(pattern(n))) n++;
  return n;
}

/** The integer indices `i` for which a key matches `prefix + i + '.'`, sorted (for bodies with gaps). */
export function indicesUnder(weights: StateDict, prefix: string): number[] {
  const found = new Set<number>();
  for (const key of weights.keys()) {
    if (!key.startsWith(prefix)) continue;
    const match = /^(\d+)\./.exec(key.slice(prefix.length));
    if (match) found.add(Number(match[1]));
  }
  return [...found].sort((a, b) => a - b);
}

/** Total number of weights (every tensor's elements). */
export function countParameters(weights: StateDict): number {
  let n = 0;
  for (const t of weights.values()) n += t.data.length;
  return n;
}

/**
 * The tensor `key`, checked against an expected shape (`undefined` entries match anything). Converters use it so
 * that inconsistent weights fail with the tensor's name instead of an onnxruntime error.
 */
export function tensor(weights: StateDict, key: string, shape?: readonly (number | undefined)[]): WeightTensor {
  const t = weights.get(key);
  if (t === undefined) throw new UpscaleError('MODEL_INVALID', `missing weight "${key}"`);
  if (shape !== undefined && (t.shape.length !== shape.length || shape.some((d, i) => d !== undefined && d !== t.shape[i]))) {
    throw new UpscaleError(
      'MODEL_INVALID',
      `weight "${key}" has shape [${t.shape.join(', ')}], expected [${shape.map((d) => d ?? '?').join(', ')}]`,
    );
  }
  return t;
}

/**
 * The scale and output channels of a last convolution producing `channels` = out·scale² channels before a pixel
 * shuffle. Shapes alone cannot tell (48 is 3·4² or 12·2²), so, as spandrel does, the candidates for `out` are tried
 * from the likeliest: the input channels, then 3, 4 and 1. Undefined when none fits.
 */
export function pixelShuffleChannels(channels: number, inChannels: number): { scale: number; outChannels: number } | undefined {
  for (const out of [inChannels, 3, 4, 1]) {
    if (out < 1 || channels % out !== 0) continue;
    const scale = Math.round(Math.sqrt(channels / out));
    if (scale >= 1 && scale * scale * out === channels) return { scale, outChannels: out };
  }
  return undefined;
}

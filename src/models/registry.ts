/**
 * Resolves what the user typed after `-m`: a built-in model (family, alias or variant), a classical method, or a
 * path to an .onnx file.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { UpscaleError } from '../errors.js';
import type { SessionOptions } from '../runtime/onnx.js';
import { builtinChoice, listBuiltinModels } from './builtin/index.js';
import { classicalModel, listClassicalModels } from './classical.js';
import { loadOnnxFile } from './onnx-file.js';
import type { ModelChoice, ModelDescriptor } from './types.js';

/**
 * The model used when none is named: our own `fast`, the best built-in model at every scale measured (Set5 x4
 * 30.71 dB against esrgan-thick's 29.94 and Lanczos-3's 28.81) and the fastest network (0.11 s per output megapixel
 * against 5.9). docs/quality.md and models/fast-x4.md have the figures.
 */
export const DEFAULT_MODEL = 'fast';

/**
 * Built-in networks load lazily, one native scale at a time; an .onnx file is loaded at once, so that a broken
 * file is reported before any image is read.
 */
export async function resolveModel(spec: string = DEFAULT_MODEL, options: SessionOptions = {}): Promise<ModelChoice> {
  const name = spec.toLowerCase();
  const classical = classicalModel(name);
  if (classical !== undefined) {
    return { descriptor: classical.descriptor, scales: [classical.descriptor.scale], load: async () => classical };
  }
  const builtin = builtinChoice(name, options);
  if (builtin !== undefined) return builtin;
  if (extname(spec).toLowerCase() === '.onnx' || existsSync(spec)) {
    if (extname(spec).toLowerCase() !== '.onnx') {
      throw new UpscaleError('MODEL_INVALID', 'unsupported model format (expected an .onnx file)', { file: spec });
    }
    const model = await loadOnnxFile(spec, options);
    return { descriptor: model.descriptor, scales: [model.descriptor.scale], load: async () => model };
  }
  const known = listModels().map((m) => m.id).join(', ');
  throw new UpscaleError('MODEL_NOT_FOUND', `unknown model "${spec}" (expected one of ${known}, or a path to an .onnx file)`);
}

/** Every model that can be named by id: built-in networks first, then the classical methods. */
export function listModels(): ModelDescriptor[] {
  return [...listBuiltinModels(), ...listClassicalModels().map((m) => m.descriptor)];
}

/**
 * The native scale to run for an enlargement `factor`: the smallest that reaches it in one pass, else the largest
 * (which then runs several passes).
 */
export function pickScale(scales: readonly number[], factor: number): number {
  const sorted = [...scales].sort((a, b) => a - b);
  return sorted.find((s) => s >= factor - 1e-9) ?? sorted.at(-1)!;
}

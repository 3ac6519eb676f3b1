/**
 * Resolves what the user typed after `-m` to a loaded model: a classical method's id or alias, or a path to an
 * .onnx file. Built-in networks join here as they are added.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { UpscaleError } from '../errors.js';
import type { SessionOptions } from '../runtime/onnx.js';
import { classicalModel, listClassicalModels } from './classical.js';
import { loadOnnxFile } from './onnx-file.js';
import type { LoadedModel, ModelDescriptor } from './types.js';

/** The model used when none is named. */
export const DEFAULT_MODEL = 'lanczos3';

export async function loadModel(spec: string = DEFAULT_MODEL, options: SessionOptions = {}): Promise<LoadedModel> {
  const classical = classicalModel(spec.toLowerCase());
  if (classical !== undefined) return classical;
  if (extname(spec).toLowerCase() === '.onnx' || existsSync(spec)) {
    if (extname(spec).toLowerCase() !== '.onnx') {
      throw new UpscaleError('MODEL_INVALID', 'unsupported model format (expected an .onnx file)', { file: spec });
    }
    return loadOnnxFile(spec, options);
  }
  const known = listModels().map((m) => m.id).join(', ');
  throw new UpscaleError('MODEL_NOT_FOUND', `unknown model "${spec}" (expected one of ${known}, or a path to an .onnx file)`);
}

/** Every model that can be named by id. */
export function listModels(): ModelDescriptor[] {
  return listClassicalModels().map((m) => m.descriptor);
}

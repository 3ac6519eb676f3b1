/**
 * Resolves what the user typed after `-m`: a built-in model (family, alias or variant), a classical method, a model
 * of the user's library (`upscale models add`), or a path to a model file (ONNX, PyTorch, safetensors, NCNN).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { UpscaleError } from '../errors.js';
import type { SessionOptions } from '../runtime/onnx.js';
import { builtinChoice, listBuiltinModels } from './builtin/index.js';
import { classicalModel, listClassicalModels } from './classical.js';
import { MODEL_FILE_EXTENSIONS, importModelFile, isModelFilePath } from './import.js';
import { libraryDescriptor, libraryEntry, libraryModelPath, listLibrary } from './library.js';
import { loadOnnxBytes, loadOnnxFile } from './onnx-file.js';
import type { ModelChoice, ModelDescriptor } from './types.js';

/**
 * The model used when none is named: `photo-gan` (Real-ESRGAN's general x4 v3) at denoise 0.5, chosen by what a
 * typical photo needs (docs/quality.md, "Choosing the default"). On 8 real photos (web JPEGs, camera shots; no
 * ground truth) its outputs score NIQE 5.29, against 6.21 for our `photo`, 6.30 for `quality` and 7.65 for bicubic
 * (lower is better), and at 1:1 it gives clean edges where the others give soft or noisy ones. It costs about ten
 * times `photo`'s time; `-m photo` is the fast choice for photos, `-m quality` the faithful one for clean images.
 */
export const DEFAULT_MODEL = 'photo-gan';

/**
 * The model `upscale video` uses when none is named: `photo` (denoise 0.5), our compact network for real footage. A
 * video multiplies the cost per frame, and photo-gan's 8 times fast's time would turn a 10-minute 720p clip into a
 * day's work on 2 cores; a GAN's invented texture also flickers from frame to frame. `-m photo-gan` remains a choice,
 * and `-m anime-fast` is the one for anime.
 */
export const DEFAULT_VIDEO_MODEL = 'photo';

/** What is chosen along with the model. */
export interface ModelSettings {
  /** Denoise strength 0..1, for a model that has one (`photo`, `photo-gan`, `anime`); an error for the others. */
  denoise?: number | undefined;
}

/**
 * Built-in networks load lazily, one native scale at a time; an .onnx file is loaded at once, so that a broken
 * file is reported before any image is read.
 */
export async function resolveModel(spec: string = DEFAULT_MODEL, options: SessionOptions = {}, settings: ModelSettings = {}): Promise<ModelChoice> {
  const choice = await resolveModelName(spec, options, settings);
  if (settings.denoise !== undefined && choice.descriptor.denoise === undefined) {
    const withDenoise = listBuiltinModels().filter((m) => m.denoise !== undefined).map((m) => m.id);
    throw new UpscaleError('INVALID_OPTION', `model "${spec}" has no denoise strength (models with one: ${withDenoise.join(', ')})`);
  }
  return choice;
}

async function resolveModelName(spec: string, options: SessionOptions, settings: ModelSettings): Promise<ModelChoice> {
  const name = spec.toLowerCase();
  const classical = classicalModel(name);
  if (classical !== undefined) {
    return { descriptor: classical.descriptor, scales: [classical.descriptor.scale], load: async () => classical };
  }
  const builtin = builtinChoice(name, options, settings.denoise);
  if (builtin !== undefined) return builtin;
  const entry = libraryEntry(name);
  if (entry !== undefined) {
    const bytes = new Uint8Array(await readFile(libraryModelPath(entry.id)));
    const { id, name: entryName, description, ...extra } = libraryDescriptor(entry);
    const model = await loadOnnxBytes(bytes, { ...options, label: id }, { id, name: entryName, description, sha256: entry.sourceSha256, extra });
    return { descriptor: model.descriptor, scales: [model.descriptor.scale], load: async () => model };
  }
  if (isModelFilePath(spec) || existsSync(spec)) {
    if (extname(spec).toLowerCase() === '.onnx') {
      const model = await loadOnnxFile(spec, options);
      return { descriptor: model.descriptor, scales: [model.descriptor.scale], load: async () => model };
    }
    const { onnx, info } = await importModelFile(spec);
    const model = await loadOnnxBytes(
      onnx,
      { ...options, label: spec },
      {
        id: spec,
        name: basename(spec),
        description: `${info.architectureName} x${info.scale}, ${info.parameters.toLocaleString('en-US')} parameters`,
        sha256: info.sourceSha256,
        extra: { parameters: info.parameters, source: info.sourceFiles.join(' + ') },
      },
    );
    return { descriptor: model.descriptor, scales: [model.descriptor.scale], load: async () => model };
  }
  const known = listModels().map((m) => m.id).join(', ');
  throw new UpscaleError(
    'MODEL_NOT_FOUND',
    `unknown model "${spec}" (expected one of ${known}, or a model file: ${MODEL_FILE_EXTENSIONS.join(', ')})`,
  );
}

/** Every model that can be named by id: built-in networks, the classical methods, then the user's library. */
export function listModels(): ModelDescriptor[] {
  return [...builtinModels(), ...listLibrary().map(libraryDescriptor)];
}

/** The models that come with the package (library entries may not take their ids). */
export function builtinModels(): ModelDescriptor[] {
  return [...listBuiltinModels(), ...listClassicalModels().map((m) => m.descriptor)];
}

/** True when `id` names a built-in network (any alias or variant) or a classical method. */
export function isBuiltinName(id: string): boolean {
  if (classicalModel(id) !== undefined) return true;
  try {
    return builtinChoice(id, {}) !== undefined;
  } catch {
    return true; // a family name with a scale it lacks (`fast-x3`): still the family's name
  }
}

/**
 * The native scale to run for an enlargement `factor`: the smallest that reaches it in one pass, else the largest
 * (which then runs several passes).
 */
export function pickScale(scales: readonly number[], factor: number): number {
  const sorted = [...scales].sort((a, b) => a - b);
  return sorted.find((s) => s >= factor - 1e-9) ?? sorted.at(-1)!;
}

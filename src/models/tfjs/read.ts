/**
 * Reads a TensorFlow.js "layers-model" from disk: model.json (the Keras topology) and its binary weight shards,
 * sliced into named float32 tensors. No TensorFlow package is involved; the format is documented in tfjs-core's
 * `io/types.ts` (ModelJSON, WeightsManifestConfig).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { UpscaleError } from '../../errors.js';

/** A JSON object from model.json, read through {@link readLayersModel}'s checks. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** The Keras model config: `{ class_name: 'Functional' | 'Model' | 'Sequential', config: {...} }`. */
export interface KerasModelConfig {
  readonly class_name: string;
  readonly config: unknown;
}

/** One weight tensor, in the layout TensorFlow.js stores it (row-major, Keras dimension order: HWIO kernels). */
export interface WeightTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A parsed layers model: its topology and every weight, by name. */
export interface LayersModel {
  /** Absolute path of model.json, for messages. */
  readonly path: string;
  /** The model config, unwrapped from `modelTopology.model_config` when the converter nested it there. */
  readonly topology: KerasModelConfig;
  /** Weights in manifest order. */
  readonly weights: ReadonlyMap<string, WeightTensor>;
  /** `generatedBy` / `convertedBy` of model.json, when present (e.g. 'keras v2.10.0'). */
  readonly generatedBy: string | undefined;
  readonly convertedBy: string | undefined;
}

/** Refuse weight sets larger than this: beyond any super-resolution net, and past what one Buffer can hold. */
const MAX_WEIGHT_BYTES = 2 ** 31 - 1;
const MAX_MODEL_JSON_BYTES = 64 * 1024 ** 2;

const invalid = (file: string, message: string, cause?: unknown): UpscaleError =>
  new UpscaleError('MODEL_INVALID', message, cause === undefined ? { file } : { file, cause });

/**
 * Reads model.json and every shard of its `weightsManifest` (paths relative to model.json), checking that the shard
 * bytes match the declared weights exactly.
 *
 * @throws UpscaleError `MODEL_NOT_FOUND` when model.json is missing; `MODEL_INVALID` naming the file for bad JSON, a
 *   format other than 'layers-model', a missing or truncated shard, a non-float32 or quantized weight, or a bad shape.
 * @example
 * const model = await readLayersModel('node_modules/@upscalerjs/esrgan-slim/models/x4/model.json');
 * model.weights.get('F_0/kernel')?.shape; // [3, 3, 64, 64]
 */
export async function readLayersModel(modelJsonPath: string): Promise<LayersModel> {
  const path = resolve(modelJsonPath);
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_MODEL_JSON_BYTES) throw invalid(path, `model.json is too large (${bytes.length} bytes, expected at most ${MAX_MODEL_JSON_BYTES})`);
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof UpscaleError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UpscaleError('MODEL_NOT_FOUND', 'model.json not found', { file: path, cause: error });
    throw invalid(path, `cannot read model.json (${code ?? String(error)})`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalid(path, `not valid JSON (${error instanceof Error ? error.message : String(error)})`, error);
  }
  const root = object(json, 'model.json', path);
  if (root['format'] !== undefined && root['format'] !== 'layers-model') {
    throw invalid(path, `expected format "layers-model", got ${JSON.stringify(root['format'])}`);
  }
  const topology = modelConfig(root['modelTopology'], path);
  const weights = await readWeights(root['weightsManifest'], path);
  return {
    path,
    topology,
    weights,
    generatedBy: typeof root['generatedBy'] === 'string' ? root['generatedBy'] : undefined,
    convertedBy: typeof root['convertedBy'] === 'string' ? root['convertedBy'] : undefined,
  };
}

function object(value: unknown, what: string, file: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(file, `expected ${what} to be an object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

function array(value: unknown, what: string, file: string): readonly unknown[] {
  if (!Array.isArray(value)) throw invalid(file, `expected ${what} to be an array, got ${describe(value)}`);
  return value;
}

/** `modelTopology` is the Keras config itself (tfjs `model.save`) or wraps it in `model_config` (tfjs-converter). */
function modelConfig(value: unknown, file: string): KerasModelConfig {
  const topology = object(value, 'modelTopology', file);
  const config = topology['model_config'] === undefined ? topology : object(topology['model_config'], 'modelTopology.model_config', file);
  const className = config['class_name'];
  if (typeof className !== 'string') throw invalid(file, `expected the model config to have a string class_name, got ${describe(className)}`);
  if (config['config'] === undefined) throw invalid(file, `the model config (${className}) has no "config"`);
  return { class_name: className, config: config['config'] };
}

interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
}

async function readWeights(value: unknown, file: string): Promise<Map<string, WeightTensor>> {
  const weights = new Map<string, WeightTensor>();
  if (value === undefined) return weights;
  const dir = dirname(file);
  let total = 0;
  for (const [g, groupValue] of array(value, 'weightsManifest', file).entries()) {
    const group = object(groupValue, `weightsManifest[${g}]`, file);
    const paths = array(group['paths'], `weightsManifest[${g}].paths`, file).map((p, i) => shardPath(p, `weightsManifest[${g}].paths[${i}]`, dir, file));
    const specs = array(group['weights'], `weightsManifest[${g}].weights`, file).map((w, i) => weightSpec(w, `weightsManifest[${g}].weights[${i}]`, file));
    const expected = specs.reduce((sum, s) => sum + s.size * 4, 0);
    total += expected;
    if (total > MAX_WEIGHT_BYTES) throw invalid(file, `weights total more than ${MAX_WEIGHT_BYTES} bytes, the most supported`);

    // A group's weights are laid end to end across the concatenation of its shards.
    const shards: Buffer[] = [];
    for (const shard of paths) shards.push(await readShard(shard, file));
    const bytes = Buffer.concat(shards);
    if (bytes.length !== expected) {
      const names = paths.map((p) => relative(dir, p)).join(', ');
      throw invalid(
        paths.length === 1 ? (paths[0] as string) : file,
        `weight group ${g + 1} (${names}) holds ${bytes.length} bytes, expected ${expected} for its ${specs.length} float32 weights` +
          (bytes.length < expected ? ' (truncated?)' : ''),
      );
    }
    let offset = 0;
    for (const spec of specs) {
      if (weights.has(spec.name)) throw invalid(file, `weight "${spec.name}" is listed twice in weightsManifest`);
      const length = spec.size * 4;
      // Copy into a fresh ArrayBuffer: shard offsets need not be 4-byte aligned. TF.js stores little-endian floats.
      const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + length));
      weights.set(spec.name, { name: spec.name, shape: spec.shape, data });
      offset += length;
    }
  }
  return weights;
}

/** Shard paths are relative to model.json and must stay in its directory (no absolute paths, URLs or `..`). */
function shardPath(value: unknown, what: string, dir: string, file: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(file, `expected ${what} to be a non-empty string, got ${describe(value)}`);
  const full = resolve(dir, value);
  const rel = relative(dir, full);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || isAbsolute(value) || rel.startsWith(`..${sep}`) || rel === '..') {
    throw invalid(file, `expected ${what} to be a path relative to model.json inside its directory, got ${JSON.stringify(value)}`);
  }
  return full;
}

async function readShard(path: string, file: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'weight shard not found' : `cannot read weight shard (${code ?? String(error)})`;
    throw invalid(path, `${why} (listed in ${file})`, error);
  }
}

function weightSpec(value: unknown, what: string, file: string): WeightSpec {
  const spec = object(value, what, file);
  const name = spec['name'];
  if (typeof name !== 'string' || name.length === 0) throw invalid(file, `expected ${what}.name to be a non-empty string, got ${describe(name)}`);
  const label = `weight "${name}"`;
  if (spec['quantization'] !== undefined && spec['quantization'] !== null) {
    const q = spec['quantization'] as { dtype?: unknown };
    throw invalid(file, `${label} is quantized (${describe(q.dtype)}); only float32 weights are supported`);
  }
  if (spec['dtype'] !== 'float32') throw invalid(file, `${label} has dtype ${describe(spec['dtype'])}, expected "float32"`);
  const shape = array(spec['shape'], `${label} shape`, file);
  let size = 1;
  for (const [i, d] of shape.entries()) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalid(file, `${label} has shape [${shape.map(String).join(', ')}]: expected non-negative integer dimensions, got ${describe(d)} at ${i}`);
    }
    size *= d;
    if (size * 4 > MAX_WEIGHT_BYTES) throw invalid(file, `${label} has shape [${shape.join(', ')}]: more than ${MAX_WEIGHT_BYTES} bytes`);
  }
  return { name, shape: shape as number[], size };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${JSON.stringify(value)} (${typeof value})`;
}

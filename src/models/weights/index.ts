/**
 * Weight files → a state dict, whatever the format (told by content, not extension): PyTorch checkpoints (ZIP or
 * legacy), bare pickles (refused unless they hold only tensors and plain containers) and safetensors. Checkpoints
 * from training frameworks are unwrapped (`params_ema`, `state_dict`, ...) and DataParallel's `module.` prefix is
 * stripped, so architecture detection sees the same keys whatever produced the file.
 */
import { stat, readFile } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import { describeValue, PickleDict, printable } from './pickle.js';
import { CheckpointTensor, looksLikePickle, readPytorchLegacy, readPytorchZip, type Checkpoint } from './pytorch.js';
import { looksLikeSafetensors, readSafetensors } from './safetensors.js';
import type { StateDict, WeightTensor } from './tensor.js';
import { looksLikeZip } from './zip.js';

export type { StateDict, StoredDtype, WeightTensor } from './tensor.js';

/**
 * Keys under which training frameworks store the weights, most preferred first: BasicSR and Real-ESRGAN keep the
 * EMA weights (the better ones) in `params_ema` beside `params`; PyTorch's own checkpoint recipe, which many
 * challenge repositories follow, uses `model_state_dict`.
 */
const STATE_DICT_KEYS = ['params_ema', 'params', 'state_dict', 'model_state_dict', 'model', 'net', 'netG'] as const;

/** Files larger than this are refused before reading; the largest SR models are a few hundred MB. */
const MAX_WEIGHTS_BYTES = 2 * 1024 ** 3;

/**
 * Reads the tensors of a weight file held in memory, as float32 with their stored dtype. Non-tensor entries
 * (epoch counters, names, optimizer settings) are ignored. Throws `MODEL_INVALID` naming `file` when the format is
 * not recognised, the data are malformed, the pickle references anything but tensors and plain containers, or no
 * tensors are found.
 *
 * @example
 * const weights = readStateDict(await readFile('RealESRGAN_x4plus.pth'), 'RealESRGAN_x4plus.pth');
 * weights.get('conv_first.weight')?.shape; // [64, 3, 3, 3]
 */
export function readStateDict(bytes: Uint8Array, file: string): StateDict {
  if (looksLikeSafetensors(bytes)) return stripPrefix([...readSafetensors(bytes, file)], file);
  let checkpoint: Checkpoint;
  if (looksLikeZip(bytes)) checkpoint = readPytorchZip(bytes, file);
  else if (looksLikePickle(bytes)) checkpoint = readPytorchLegacy(bytes, file);
  else {
    const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new UpscaleError(
      'MODEL_INVALID',
      `unrecognised weights format (expected a PyTorch checkpoint, which is a ZIP archive or a pickle, or a safetensors file; the file starts with ${head || 'nothing'})`,
      { file },
    );
  }
  const weights = unwrap(checkpoint);
  const tensors = [...weights].filter((entry): entry is [string, CheckpointTensor] => typeof entry[0] === 'string' && entry[1] instanceof CheckpointTensor);
  if (tensors.length === 0) {
    throw new UpscaleError('MODEL_INVALID', `no tensors found: the file holds ${describeContent(checkpoint)}`, { file });
  }
  return stripPrefix(tensors.map(([name, tensor]) => [name, tensor.read()]), file);
}

/**
 * Reads a weight file from disk; see {@link readStateDict}. Throws `MODEL_NOT_FOUND` when it does not exist and
 * `MODEL_INVALID` when it is empty, a directory or over 2 GiB.
 *
 * @example
 * const weights = await readWeightsFile('4x-UltraSharp.pth');
 */
export async function readWeightsFile(path: string): Promise<StateDict> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new UpscaleError('MODEL_INVALID', 'not a file', { file: path });
    size = info.size;
  } catch (error) {
    if (error instanceof UpscaleError) throw error;
    throw new UpscaleError('MODEL_NOT_FOUND', 'weights file not found', { file: path, cause: error });
  }
  if (size === 0) throw new UpscaleError('MODEL_INVALID', 'weights file is empty (0 bytes)', { file: path });
  if (size > MAX_WEIGHTS_BYTES) {
    throw new UpscaleError('MODEL_INVALID', `weights file is too large (${size} bytes; at most ${MAX_WEIGHTS_BYTES} are read)`, { file: path });
  }
  return readStateDict(new Uint8Array(await readFile(path)), path);
}

/** The first of {@link STATE_DICT_KEYS} holding a dict with tensors, else the top-level dict itself. */
function unwrap(checkpoint: Checkpoint): PickleDict {
  if (!(checkpoint instanceof PickleDict)) return new PickleDict();
  for (const key of STATE_DICT_KEYS) {
    const inner = checkpoint.get(key);
    if (inner instanceof PickleDict && [...inner.values()].some((v) => v instanceof CheckpointTensor)) return inner;
  }
  return checkpoint;
}

/** Removes DataParallel's `module.` prefix from the keys that have it. */
function stripPrefix(entries: readonly (readonly [string, WeightTensor])[], file: string): StateDict {
  const out: StateDict = new Map();
  for (const [key, tensor] of entries) {
    const name = key.startsWith('module.') ? key.slice('module.'.length) : key;
    if (out.has(name)) throw new UpscaleError('MODEL_INVALID', `tensor "${printable(name)}" appears twice (with and without the module. prefix)`, { file });
    out.set(name, tensor);
  }
  return out;
}

/** For the "no tensors" error: what the file holds instead, e.g. `a dict with keys epoch, optimizer`. */
function describeContent(checkpoint: Checkpoint): string {
  if (!(checkpoint instanceof PickleDict)) return describeValue(checkpoint);
  const keys = [...checkpoint.keys()].slice(0, 8).map((k) => (typeof k === 'string' ? printable(k, 40) : describeValue(k)));
  const more = checkpoint.size > keys.length ? `, … (${checkpoint.size} in all)` : '';
  const wrapped = STATE_DICT_KEYS.join(', ');
  return checkpoint.size === 0
    ? 'an empty dict'
    : `a dict with keys ${keys.join(', ')}${more} and no tensors under them or under ${wrapped}`;
}

/**
 * A user's own .onnx super-resolution model. Its scale, range and channels come from the `upscale.*` metadata
 * properties when the file declares them, otherwise from the graph's input shape and a probe run.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { UpscaleError } from '../errors.js';
import { readOnnxInfo, type OnnxModelInfo } from '../onnx/index.js';
import { OnnxSession, type SessionOptions, type TensorLayout } from '../runtime/onnx.js';
import { METADATA_KEYS } from './metadata-keys.js';
import type { ModelDescriptor, NetworkModel, TileModel } from './types.js';

export { METADATA_KEYS };


/** Context given to tiles of a model that does not declare its receptive field. */
const DEFAULT_RECEPTIVE_FIELD = 16;
/** Working memory guess for an unknown network: a few 64-channel float activations per pixel. */
const DEFAULT_BYTES_PER_INPUT_PIXEL = 2048;
/** Refuse model files larger than this before reading them. */
const MAX_MODEL_BYTES = 2 * 1024 ** 3;

export async function loadOnnxFile(path: string, options: SessionOptions = {}): Promise<NetworkModel> {
  const bytes = await readModelBytes(path);
  return loadOnnxBytes(bytes, { ...options, label: path }, { id: path });
}

export async function loadOnnxBytes(
  bytes: Uint8Array,
  options: SessionOptions & { label: string },
  identity: { id: string; name?: string; description?: string; sha256?: string; extra?: Partial<ModelDescriptor> },
): Promise<NetworkModel> {
  const file = options.label;
  let info: OnnxModelInfo;
  try {
    info = readOnnxInfo(bytes);
  } catch (error) {
    throw notOnnx(error, file);
  }
  const input = info.inputs[0];
  if (info.inputs.length !== 1 || input === undefined) {
    throw new UpscaleError('MODEL_INVALID', `expected one image input, got ${info.inputs.length}`, { file });
  }
  const dims = input.dims ?? [];
  if (input.dims !== undefined && dims.length !== 4) {
    throw new UpscaleError('MODEL_INVALID', `expected an NCHW image input (4 dimensions), got [${dims.join(', ')}]`, { file });
  }
  const layout = inputLayout(dims);
  const declaredChannels = layout === 'nchw' ? dims[1] : dims[3];
  if (typeof declaredChannels === 'number' && declaredChannels !== 1 && declaredChannels !== 3) {
    throw new UpscaleError('MODEL_INVALID', `expected 1 or 3 input channels (NCHW or NHWC), got [${dims.join(', ')}]`, { file });
  }
  const channels: 1 | 3 = declaredChannels === 1 ? 1 : 3;
  const range = parseRange(info.metadata[METADATA_KEYS.range], file);
  const sizeMultiple = parseInteger(info.metadata[METADATA_KEYS.sizeMultiple], 1, 1, METADATA_KEYS.sizeMultiple, file);
  const bytesPerInputPixel = parseInteger(info.metadata[METADATA_KEYS.bytesPerInputPixel], DEFAULT_BYTES_PER_INPUT_PIXEL, 1, METADATA_KEYS.bytesPerInputPixel, file, 1 << 24);
  const tilingSafe = info.metadata[METADATA_KEYS.tilingSafe] !== 'false';
  const tileAlignment = parseInteger(info.metadata[METADATA_KEYS.tileAlignment], 1, 1, METADATA_KEYS.tileAlignment, file, 64);
  const receptiveField = parseInteger(info.metadata[METADATA_KEYS.receptiveField], DEFAULT_RECEPTIVE_FIELD, 0, METADATA_KEYS.receptiveField, file);

  const session = await OnnxSession.create(bytes, options);
  try {
    const declaredScale = info.metadata[METADATA_KEYS.scale];
    const scale =
      declaredScale === undefined
        ? await probeScale(session, channels, sizeMultiple, layout, file)
        : parseInteger(declaredScale, 1, 1, METADATA_KEYS.scale, file);
    const network: TileModel = {
      scale,
      channels,
      range,
      sizeMultiple,
      receptiveField,
      bytesPerInputPixel,
      tilingSafe,
      tileAlignment,
      run: (tensor) => session.run(tensor, layout),
      dispose: () => session.dispose(),
    };
    return {
      kind: 'network',
      network,
      sha256: identity.sha256 ?? createHash('sha256').update(bytes).digest('hex'),
      descriptor: {
        ...identity.extra,
        id: identity.id,
        name: identity.name ?? info.metadata[METADATA_KEYS.name] ?? identity.id,
        kind: 'network',
        scale,
        description: identity.description ?? `ONNX model, ${info.parameterCount.toLocaleString('en-US')} parameters`,
      },
    };
  } catch (error) {
    await session.dispose();
    throw error;
  }
}

/** A model file's bytes, after checking it exists, is not empty and is not absurdly large. */
export async function readModelBytes(path: string): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new UpscaleError('MODEL_NOT_FOUND', 'model file not found', { file: path, cause: error });
  }
  if (size === 0) throw new UpscaleError('MODEL_INVALID', 'model file is empty (0 bytes)', { file: path });
  if (size > MAX_MODEL_BYTES) throw new UpscaleError('MODEL_INVALID', `model file is too large (${size} bytes)`, { file: path });
  return new Uint8Array(await readFile(path));
}

/** Runs a small non-square input and reads the scale off the output size. */
async function probeScale(session: OnnxSession, channels: 1 | 3, sizeMultiple: number, layout: TensorLayout, file: string): Promise<number> {
  const height = Math.ceil(24 / sizeMultiple) * sizeMultiple;
  const width = Math.ceil(32 / sizeMultiple) * sizeMultiple;
  const out = await session.run({ data: new Float32Array(channels * width * height).fill(0.5), channels, height, width }, layout);
  const scale = out.height / height;
  if (!Number.isInteger(scale) || scale < 1 || out.width !== width * scale || out.channels !== channels) {
    throw new UpscaleError(
      'MODEL_INVALID',
      `not a super-resolution model: a ${channels}x${height}x${width} probe gave ${out.channels}x${out.height}x${out.width} (expected the same channels and an integer scale)`,
      { file },
    );
  }
  return scale;
}

/**
 * Channels-last when the last axis is a fixed 1 or 3 and the second is not (`[1, H, W, 3]`, `[1, 'h', 'w', 3]`);
 * otherwise the usual NCHW.
 */
function inputLayout(dims: readonly (number | string | undefined)[]): TensorLayout {
  if (dims.length !== 4) return 'nchw';
  const second = dims[1];
  const last = dims[3];
  return (last === 1 || last === 3) && second !== 1 && second !== 3 ? 'nhwc' : 'nchw';
}

function parseRange(value: string | undefined, file: string): 1 | 255 {
  if (value === undefined || value === '0-1') return 1;
  if (value === '0-255') return 255;
  throw new UpscaleError('MODEL_INVALID', `expected ${METADATA_KEYS.range} to be "0-1" or "0-255", got "${value}"`, { file });
}

/** An integer metadata value from `min` to `max` (the receptive field may be 0; scale and size multiple may not). */
function parseInteger(value: string | undefined, fallback: number, min: 0 | 1, key: string, file: string, max = 4096): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UpscaleError('MODEL_INVALID', `expected ${key} to be a positive integer, got "${value}"`, { file });
  }
  return n;
}

/** The error for bytes the ONNX reader refuses: its reason (which starts "not an ONNX model:") said once. */
export function notOnnx(error: unknown, file: string): UpscaleError {
  const reason = (error instanceof Error ? error.message : String(error)).replace(/^not an ONNX model:\s*/, '');
  return new UpscaleError('MODEL_INVALID', `not an ONNX model (${reason})`, { file, cause: error });
}

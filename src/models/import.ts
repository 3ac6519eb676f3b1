/**
 * Any model file a user has → ONNX bytes and a description: PyTorch checkpoints and safetensors (architecture
 * detected from the weights and converted), NCNN .param/.bin pairs (graph converted), ONNX as it is. Conversions
 * are cached under a key made of the converter version and the source bytes.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { UpscaleError } from '../errors.js';
import { readOnnxInfo } from '../onnx/index.js';
import { detectArchitecture } from './architectures/index.js';
import { cachedModelWithInfo, hashParts } from './cache.js';
import { METADATA_KEYS } from './metadata-keys.js';
import { notOnnx, readModelBytes } from './onnx-file.js';
import { looksLikeCuganPro, ncnnToOnnx } from './ncnn/index.js';
import { looksLikeSafetensors } from './weights/safetensors.js';
import { readStateDict } from './weights/index.js';

/** Bump when a converter's output changes, so that cached conversions are redone. */
const IMPORTER_VERSION = 'import 4';

export type ModelFormat = 'onnx' | 'pytorch' | 'safetensors' | 'ncnn';

/** Extensions `-m` and `upscale models add` accept as model files. */
export const MODEL_FILE_EXTENSIONS = ['.onnx', '.pth', '.pt', '.ckpt', '.safetensors', '.param', '.bin'] as const;

export interface ImportedModelInfo {
  readonly format: ModelFormat;
  /** `esrgan`, `compact`, `span`, `swinir`, `ncnn` or `onnx`. */
  readonly architecture: string;
  readonly architectureName: string;
  readonly scale: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Input edges must be multiples of this. */
  readonly sizeMultiple: number;
  /** Input pixels of context the tiler keeps around each tile. */
  readonly receptiveField: number;
  readonly parameters: number;
  readonly details: Readonly<Record<string, string | number | boolean>>;
  readonly tilingSafe: boolean;
  /** The files read (an NCNN model is two). */
  readonly sourceFiles: readonly string[];
  /** SHA-256 of the source file (of .param then .bin for NCNN), hex: what provenance records. */
  readonly sourceSha256: string;
}

export interface ImportedModel {
  readonly onnx: Uint8Array;
  readonly info: ImportedModelInfo;
}

/** True when `path` names a file this module can import (by extension; the content decides the format). */
export function isModelFilePath(path: string): boolean {
  return (MODEL_FILE_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}

/**
 * Reads and converts a model file.
 *
 * @example
 * const { onnx, info } = await importModelFile('RealESRGAN_x4plus.pth'); // info.architecture === 'esrgan'
 */
export async function importModelFile(path: string, options: { cache?: boolean } = {}): Promise<ImportedModel> {
  const ext = extname(path).toLowerCase();
  if (!isModelFilePath(path)) {
    throw new UpscaleError('MODEL_INVALID', `unsupported model file type "${ext || '(none)'}" (expected one of ${MODEL_FILE_EXTENSIONS.join(', ')})`, { file: path });
  }
  const ncnnParam = ext === '.param' ? path : ext === '.bin' && existsSync(withExtension(path, '.param')) ? withExtension(path, '.param') : undefined;
  const files = ncnnParam === undefined ? [path] : [ncnnParam, withExtension(ncnnParam, '.bin')];
  if (ncnnParam !== undefined && !existsSync(files[1]!)) {
    throw new UpscaleError('MODEL_NOT_FOUND', `NCNN weights ${basename(files[1]!)} not found beside the .param file`, { file: ncnnParam });
  }
  const sources = await Promise.all(files.map(readModelBytes));
  const sourceSha256 = sha256(sources);
  const convert = async (): Promise<ImportedModel> => convertSources(files, sources, sourceSha256);
  if (options.cache === false || ext === '.onnx') return convert();
  // Real-CUGAN pro's input/output transform is told by the file's name (ncnn/border.ts), so the name is in the key.
  const variant = ncnnParam !== undefined && looksLikeCuganPro(ncnnParam) ? 'cugan-pro' : '';
  const key = hashParts([new TextEncoder().encode(`${IMPORTER_VERSION}\n${variant}`), ...sources]);
  const { bytes, info } = await cachedModelWithInfo(key, async () => {
    const model = await convert();
    return { bytes: model.onnx, info: model.info };
  });
  return { onnx: bytes, info: { ...info, sourceFiles: files } };
}

function convertSources(files: readonly string[], sources: readonly Uint8Array[], sourceSha256: string): ImportedModel {
  const [file, first] = [files[0]!, sources[0]!];
  if (files.length === 2) {
    const result = ncnnToOnnx(new TextDecoder().decode(first), sources[1]!, file);
    return {
      onnx: result.onnx,
      info: {
        format: 'ncnn',
        architecture: 'ncnn',
        architectureName: `NCNN graph (${result.layerTypes.join(', ')})`,
        scale: result.scale,
        inChannels: result.inChannels,
        outChannels: result.outChannels,
        sizeMultiple: result.sizeMultiple,
        receptiveField: result.receptiveField,
        parameters: result.parameters,
        details: { layers: result.layers, ...(result.tileAlignment > 1 ? { tileAlignment: result.tileAlignment } : {}), ...(result.cuganPro ? { cuganPro: true } : {}) },
        tilingSafe: result.tilingSafe,
        sourceFiles: files,
        sourceSha256,
      },
    };
  }
  if (extname(file).toLowerCase() === '.onnx') return describeOnnx(file, first, sourceSha256);
  const weights = readStateDict(first, file);
  const detected = detectArchitecture(weights, file);
  const { architecture, params, description } = detected;
  let onnx: Uint8Array;
  try {
    onnx = architecture.toOnnx(weights, params);
  } catch (error) {
    // Converters name the tensor; say which file and architecture it was.
    if (error instanceof UpscaleError && error.file === undefined) {
      throw new UpscaleError(error.code, `${architecture.name}: ${error.message}`, { file, cause: error });
    }
    throw error;
  }
  return {
    onnx,
    info: {
      format: looksLikeSafetensors(first) ? 'safetensors' : 'pytorch',
      architecture: architecture.id,
      architectureName: architecture.name,
      scale: description.scale,
      inChannels: description.inChannels,
      outChannels: description.outChannels,
      sizeMultiple: description.sizeMultiple,
      receptiveField: description.receptiveField,
      parameters: description.parameters,
      details: description.details,
      tilingSafe: description.tilingSafe,
      sourceFiles: files,
      sourceSha256,
    },
  };
}

function describeOnnx(file: string, bytes: Uint8Array, sourceSha256: string): ImportedModel {
  let info;
  try {
    info = readOnnxInfo(bytes);
  } catch (error) {
    throw notOnnx(error, file);
  }
  const declared = (key: string, fallback: number): number => Number(info.metadata[key] ?? fallback) || fallback;
  const channels = info.inputs[0]?.dims?.[1];
  return {
    onnx: bytes,
    info: {
      format: 'onnx',
      architecture: 'onnx',
      architectureName: 'ONNX graph',
      // 0 means "not declared": the loader probes the scale with a test run.
      scale: declared(METADATA_KEYS.scale, 0),
      inChannels: typeof channels === 'number' ? channels : 3,
      outChannels: typeof channels === 'number' ? channels : 3,
      sizeMultiple: declared(METADATA_KEYS.sizeMultiple, 1),
      receptiveField: declared(METADATA_KEYS.receptiveField, 16),
      parameters: info.parameterCount,
      details: {},
      tilingSafe: info.metadata[METADATA_KEYS.tilingSafe] !== 'false',
      sourceFiles: [file],
      sourceSha256,
    },
  };
}

function sha256(parts: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function withExtension(path: string, ext: string): string {
  return path.slice(0, path.length - extname(path).length) + ext;
}

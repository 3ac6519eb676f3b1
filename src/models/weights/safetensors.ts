/**
 * `.safetensors`: an 8-byte little-endian header length, a JSON header mapping names to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the end of the header), then raw tensors.
 * https://github.com/huggingface/safetensors#format
 */
import { UpscaleError } from '../../errors.js';
import { DTYPE_BYTES, decodeElements, shapeElements, type StateDict, type StoredDtype } from './tensor.js';

/** The format caps the header at 100 MB; real models' headers are a few hundred kilobytes. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPES: Readonly<Record<string, StoredDtype>> = {
  F32: 'F32',
  F16: 'F16',
  BF16: 'BF16',
  F64: 'F64',
  I64: 'I64',
  I32: 'I32',
  I16: 'I16',
  I8: 'I8',
  U8: 'U8',
  BOOL: 'BOOL',
};

/** Cheap check of the first bytes, used to tell a safetensors file from other weight formats. */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const length = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true);
  return length <= BigInt(bytes.length - 8) && bytes[8] === 0x7b; // '{'
}

export function readSafetensors(bytes: Uint8Array, file: string): StateDict {
  const invalid = (message: string): UpscaleError => new UpscaleError('MODEL_INVALID', `not a valid safetensors file: ${message}`, { file });
  if (bytes.length < 8) throw invalid(`${bytes.length} bytes is shorter than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw invalid(`header length ${headerLength} exceeds the file (${bytes.length} bytes)`);
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (error) {
    throw invalid(`header is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw invalid('header is not a JSON object');

  const dataLength = bytes.length - dataStart;
  const tensors: StateDict = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (typeof entry !== 'object' || entry === null) throw invalid(`tensor ${JSON.stringify(name)} has no description`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const stored = typeof dtype === 'string' ? DTYPES[dtype] : undefined;
    if (stored === undefined) throw invalid(`tensor ${JSON.stringify(name)} has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) {
      throw invalid(`tensor ${JSON.stringify(name)} lacks a shape or data_offsets`);
    }
    const elements = shapeElements(shape as number[]);
    if (typeof elements === 'string') throw invalid(`tensor ${JSON.stringify(name)}: ${elements}`);
    const [begin, end] = offsets as [unknown, unknown];
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 || (end as number) < (begin as number) || (end as number) > dataLength) {
      throw invalid(`tensor ${JSON.stringify(name)} has data offsets [${String(begin)}, ${String(end)}] outside the ${dataLength} data bytes (truncated file?)`);
    }
    const expected = elements * DTYPE_BYTES[stored];
    if ((end as number) - (begin as number) !== expected) {
      throw invalid(`tensor ${JSON.stringify(name)} of shape [${(shape as number[]).join(', ')}] ${stored} needs ${expected} bytes, the file gives ${(end as number) - (begin as number)}`);
    }
    tensors.set(name, { shape: shape as number[], dtype: stored, data: decodeElements(bytes, dataStart + (begin as number), elements, stored) });
  }
  return tensors;
}

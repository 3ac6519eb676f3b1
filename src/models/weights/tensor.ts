/**
 * Weights as read from PyTorch, safetensors or NCNN files: named tensors, always converted to float32 values, with
 * the dtype they were stored in kept for `upscale models info` and for the converters' checks.
 */
import { halfToFloat } from '../../float16.js';

/** Storage types the readers accept; every one is converted to float32 values on reading. */
export type StoredDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly dtype: StoredDtype;
}

/** Parameter name → tensor, in file order. */
export type StateDict = Map<string, WeightTensor>;

/**
 * Tensors larger than this are refused before anything is allocated (the largest SR models' biggest tensor is a
 * few million elements; a forged shape must not make us allocate gigabytes).
 */
export const MAX_TENSOR_ELEMENTS = 256 * 1024 * 1024;

/** Element count of a shape, or an error string when the shape is not a list of sane non-negative integers. */
export function shapeElements(shape: readonly number[]): number | string {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return `invalid dimension ${String(d)} in shape [${shape.join(', ')}]`;
    n *= d;
    if (n > MAX_TENSOR_ELEMENTS) return `shape [${shape.join(', ')}] is too large (more than ${MAX_TENSOR_ELEMENTS} elements)`;
  }
  return n;
}

/** Bytes per element of each stored dtype. */
export const DTYPE_BYTES: Readonly<Record<StoredDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};


/**
 * Decodes `count` little-endian elements of `dtype` starting at `offset` of `bytes` into float32. The caller has
 * checked that the range lies inside `bytes`.
 */
export function decodeElements(bytes: Uint8Array, offset: number, count: number, dtype: StoredDtype): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * DTYPE_BYTES[dtype]);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = word.getFloat32(0);
      }
      break;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'I64':
      for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
      break;
    case 'I32':
      for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
      break;
    case 'I16':
      for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
      break;
    case 'I8':
      for (let i = 0; i < count; i++) out[i] = view.getInt8(i);
      break;
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = view.getUint8(i);
      break;
  }
  return out;
}

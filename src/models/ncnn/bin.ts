/**
 * Reads the weights of an NCNN model (`.bin`): the concatenation of every layer's weight buffers, in layer order, with
 * no index, so each layer must read exactly what ncnn's `Layer::load_model` reads (ModelBinFromDataReader::load in
 * Tencent/ncnn src/modelbin.cpp):
 *
 * - "type 0" buffers (convolution kernels) start with a 4-byte little-endian storage tag: 0 → float32,
 *   0x01306B47 → float16 (padded to 4 bytes), 0x000D4B38 → int8 (needs the layer's quantization scales; refused
 *   here), 0x0002C056 → float32 ("with extra scaling", read the same), any other non-zero tag → a 256-entry float32
 *   codebook followed by one uint8 index per weight (padded to 4 bytes).
 * - "type 1" buffers (biases, PReLU slopes, MemoryData...) are raw float32 with no tag.
 *
 * Every read is checked against the bytes left before anything is allocated, so a .param that asks for more weights
 * than the .bin holds is an error naming the layer, not a crash or a huge allocation.
 */
import { UpscaleError } from '../../errors.js';
import { MAX_TENSOR_ELEMENTS, decodeElements } from '../weights/tensor.js';

/** How a weight buffer was stored. */
export type NcnnStorage = 'float32' | 'float16' | 'codebook';

const TAG_FLOAT16 = 0x01306b47;
const TAG_INT8 = 0x000d4b38;
const TAG_FLOAT32_SCALED = 0x0002c056;

export interface NcnnWeights {
  readonly data: Float32Array;
  readonly storage: NcnnStorage;
}

/**
 * Sequential reader over a .bin. `what` in each call describes the buffer for error messages
 * (`layer "conv1" (Convolution, line 5): weight_data`).
 *
 * @example
 * const reader = new NcnnBinReader(bin, 'realesrgan-x4plus.bin');
 * const kernel = reader.tagged(64 * 3 * 3 * 3, 'layer "Conv_0" (Convolution, line 4): weight_data');
 * const bias = reader.raw(64, 'layer "Conv_0" (Convolution, line 4): bias_data');
 */
export class NcnnBinReader {
  readonly file: string;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;
  /** Storage types met so far. */
  readonly storages = new Set<NcnnStorage>();

  constructor(bytes: Uint8Array, file: string) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected the .bin contents as a Uint8Array, got ${typeof bytes}`);
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.file = file;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#bytes.byteLength - this.#offset;
  }

  /** A "type 0" buffer of `count` weights: storage tag, then float32, float16 or codebook data. */
  tagged(count: number, what: string): NcnnWeights {
    this.#checkCount(count, what);
    this.#need(4, what, 'its 4-byte storage tag');
    const tag = this.#view.getUint32(this.#offset, true);
    const tagOffset = this.#offset;
    this.#offset += 4;
    if (tag === 0 || tag === TAG_FLOAT32_SCALED) {
      return this.#store('float32', this.#decode(count, 'F32', 4 * count, what));
    }
    if (tag === TAG_FLOAT16) {
      return this.#store('float16', this.#decode(count, 'F16', align4(2 * count), what));
    }
    if (tag === TAG_INT8) {
      throw this.#error(`${what} is int8-quantized (storage tag 0x000D4B38 at byte ${tagOffset}); only float32, float16 and codebook weights can be converted`);
    }
    // Any other tag: a 256-entry float32 codebook, then one uint8 index per weight.
    this.#need(1024 + align4(count), what, `a 256-entry codebook and ${count} indices (storage tag 0x${tag.toString(16).padStart(8, '0')} at byte ${tagOffset})`);
    const table = decodeElements(this.#bytes, this.#offset, 256, 'F32');
    const indices = this.#bytes.subarray(this.#offset + 1024, this.#offset + 1024 + count);
    this.#offset += 1024 + align4(count);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = table[indices[i]!]!;
    return this.#store('codebook', data);
  }

  /** A "type 1" buffer: `count` raw float32 values, no tag. */
  raw(count: number, what: string): Float32Array {
    this.#checkCount(count, what);
    return this.#decode(count, 'F32', 4 * count, what);
  }

  #decode(count: number, dtype: 'F32' | 'F16', bytes: number, what: string): Float32Array {
    this.#need(bytes, what, `${count} ${dtype === 'F32' ? 'float32' : 'float16'} values (${bytes} bytes)`);
    const data = decodeElements(this.#bytes, this.#offset, count, dtype);
    this.#offset += bytes;
    return data;
  }

  #store(storage: NcnnStorage, data: Float32Array): NcnnWeights {
    this.storages.add(storage);
    return { data, storage };
  }

  #checkCount(count: number, what: string): void {
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_TENSOR_ELEMENTS) {
      throw this.#error(`${what}: expected a weight count from 1 to ${MAX_TENSOR_ELEMENTS}, got ${count}`);
    }
  }

  #need(bytes: number, what: string, description: string): void {
    if (bytes > this.remaining) {
      throw this.#error(
        `${what} needs ${description} at byte ${this.#offset}, but the file ends at byte ${this.#bytes.byteLength} (the .param asks for more weights than the .bin holds; are they from the same model?)`,
      );
    }
  }

  #error(message: string): UpscaleError {
    return new UpscaleError('MODEL_INVALID', message, { file: this.file });
  }
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

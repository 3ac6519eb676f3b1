/**
 * Network interpolation (DNI, Wang et al. 2019) on ONNX bytes: the weights of two trained networks of the same
 * graph blended as (1 - s)·a + s·b (float32 or float16 weights). Real-ESRGAN's general model uses it for its
 * denoise strength; we use it for `photo`'s and `photo-gan`'s. The blend rewrites the weights' `raw_data` in a copy
 * of `b` in place (same byte lengths, so the protobuf framing stays valid): no graph is rebuilt, and the result
 * loads like any other model.
 */
import { floatToHalf, halfToFloat } from '../float16.js';
import { TENSOR_DATA_TYPES } from './builder.js';
import { ProtoReader, WireType } from './protobuf.js';
import { GRAPH, MODEL, TENSOR } from './schema.js';

interface RawInitializer {
  readonly dims: readonly number[];
  readonly dataType: number;
  /** Offset of the raw data in the model's bytes, and its length in bytes. */
  readonly offset: number;
  readonly length: number;
}

/**
 * `a` at strength 0, `b` at strength 1, a blend in between; both must be the same network (same initializer names,
 * types and shapes), as exported from one architecture.
 *
 * @throws TypeError naming the first initializer that differs, or that keeps its data other than as float32 or float16 raw data
 */
export function interpolateOnnxWeights(a: Uint8Array, b: Uint8Array, strength: number): Uint8Array {
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`strength must be between 0 and 1, not ${strength}`);
  const fromA = rawInitializers(a);
  const fromB = rawInitializers(b);
  if (fromA.size !== fromB.size) throw new TypeError(`the networks differ: ${fromA.size} and ${fromB.size} weight tensors`);
  const out = b.slice();
  const outView = new DataView(out.buffer);
  const viewA = new DataView(a.buffer, a.byteOffset, a.byteLength);
  for (const [name, tb] of fromB) {
    const ta = fromA.get(name);
    if (ta === undefined || ta.dataType !== tb.dataType || ta.dims.join('x') !== tb.dims.join('x')) {
      throw new TypeError(`the networks differ at weight "${name}"`);
    }
    if (tb.dataType === TENSOR_DATA_TYPES.float32) {
      for (let i = 0; i < tb.length; i += 4) {
        const wa = viewA.getFloat32(ta.offset + i, true);
        const wb = outView.getFloat32(tb.offset + i, true);
        outView.setFloat32(tb.offset + i, (1 - strength) * wa + strength * wb, true);
      }
    } else if (tb.dataType === TENSOR_DATA_TYPES.float16) {
      // Weights stored as float16 (float16-storage.ts): blended in float, rounded back once.
      for (let i = 0; i < tb.length; i += 2) {
        const wa = halfToFloat(viewA.getUint16(ta.offset + i, true));
        const wb = halfToFloat(outView.getUint16(tb.offset + i, true));
        outView.setUint16(tb.offset + i, floatToHalf((1 - strength) * wa + strength * wb), true);
      }
    }
    // Integer tensors (shapes, indices) are the same in both.
  }
  return out;
}

/** The graph's initializers by name, each located by the byte offset of its raw data in `bytes`. */
function rawInitializers(bytes: Uint8Array): Map<string, RawInitializer> {
  const found = new Map<string, RawInitializer>();
  const model = new ProtoReader(bytes);
  for (let f = model.next(); f; f = model.next()) {
    if (f.field !== MODEL.graph) {
      model.skip(f);
      continue;
    }
    model.expect(f, WireType.LEN, 'graph');
    const graph = model.message();
    for (let g = graph.next(); g; g = graph.next()) {
      if (g.field !== GRAPH.initializer) {
        graph.skip(g);
        continue;
      }
      graph.expect(g, WireType.LEN, 'initializer');
      const tensor = graph.message();
      let name = '';
      let dataType = 0;
      const dims: number[] = [];
      let raw: Uint8Array | undefined;
      for (let t = tensor.next(); t; t = tensor.next()) {
        if (t.field === TENSOR.name) name = tensor.string();
        else if (t.field === TENSOR.dataType) dataType = tensor.int();
        else if (t.field === TENSOR.dims) tensor.repeatedInt(t, 'dims', dims);
        else if (t.field === TENSOR.rawData) raw = tensor.bytesView();
        else tensor.skip(t);
      }
      if (raw === undefined && (dataType === TENSOR_DATA_TYPES.float32 || dataType === TENSOR_DATA_TYPES.float16)) {
        throw new TypeError(`weight "${name}" is not stored as raw data; re-export the model`);
      }
      // bytesView returns views into `bytes`, so the offset comes from the view itself.
      const offset = raw === undefined ? 0 : raw.byteOffset - bytes.byteOffset;
      found.set(name, { dims, dataType, offset, length: raw?.byteLength ?? 0 });
    }
  }
  return found;
}

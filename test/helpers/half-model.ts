/**
 * Makes an all-float16 ONNX model from a float32 one, as onnxconverter-common's `convert_float_to_float16` (with
 * `keep_io_types=False`) writes them for users: every float32 weight, the image input and output, and the declared
 * intermediate types become float16. For tests of models whose image tensors are float16.
 */
import { TENSOR_DATA_TYPES } from '../../src/onnx/builder.js';
import { ProtoReader, ProtoWriter, WireType, type ProtoField } from '../../src/onnx/protobuf.js';
import { GRAPH, MODEL, TENSOR, TYPE, TYPE_TENSOR, VALUE_INFO } from '../../src/onnx/schema.js';
import { toHalfBits } from '../../src/float16.js';

export function toHalfModel(model: Uint8Array): Uint8Array {
  return rewrite(model, (field, reader, out) => {
    if (field.field !== MODEL.graph) return false;
    out.message(MODEL.graph, rewriteGraph(reader.message()));
    return true;
  });
}

function rewriteGraph(graph: ProtoReader): ProtoWriter {
  const out = new ProtoWriter();
  for (let f = graph.next(); f; f = graph.next()) {
    if (f.field === GRAPH.initializer) out.message(GRAPH.initializer, halfTensor(graph.message()));
    else if (f.field === GRAPH.input || f.field === GRAPH.output || f.field === GRAPH.valueInfo) out.message(f.field, halfValueInfo(graph.message()));
    else copy(graph, f, out);
  }
  return out;
}

function halfTensor(tensor: ProtoReader): ProtoWriter {
  let dataType = 0;
  let raw: Uint8Array | undefined;
  const out = new ProtoWriter();
  for (let f = tensor.next(); f; f = tensor.next()) {
    if (f.field === TENSOR.dataType) dataType = tensor.int();
    else if (f.field === TENSOR.rawData) raw = tensor.bytesView();
    else copy(tensor, f, out);
  }
  if (dataType !== TENSOR_DATA_TYPES.float32 || raw === undefined) {
    out.int64(TENSOR.dataType, dataType);
    if (raw !== undefined) out.bytes(TENSOR.rawData, raw);
    return out;
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const halves = toHalfBits(Float32Array.from({ length: raw.length / 4 }, (_, i) => view.getFloat32(i * 4, true)));
  const bytes = new Uint8Array(halves.length * 2);
  const w = new DataView(bytes.buffer);
  halves.forEach((h, i) => w.setUint16(i * 2, h, true));
  return out.int64(TENSOR.dataType, TENSOR_DATA_TYPES.float16).bytes(TENSOR.rawData, bytes);
}

function halfValueInfo(info: ProtoReader): ProtoWriter {
  const out = new ProtoWriter();
  for (let f = info.next(); f; f = info.next()) {
    if (f.field !== VALUE_INFO.type) {
      copy(info, f, out);
      continue;
    }
    const type = new ProtoWriter();
    const reader = info.message();
    for (let t = reader.next(); t; t = reader.next()) {
      if (t.field !== TYPE.tensorType) {
        copy(reader, t, type);
        continue;
      }
      const tensorType = new ProtoWriter();
      const inner = reader.message();
      for (let e = inner.next(); e; e = inner.next()) {
        if (e.field === TYPE_TENSOR.elemType) {
          const elem = inner.int();
          tensorType.int64(TYPE_TENSOR.elemType, elem === TENSOR_DATA_TYPES.float32 ? TENSOR_DATA_TYPES.float16 : elem);
        } else copy(inner, e, tensorType);
      }
      type.message(TYPE.tensorType, tensorType);
    }
    out.message(VALUE_INFO.type, type);
  }
  return out;
}

function rewrite(bytes: Uint8Array, visit: (f: ProtoField, reader: ProtoReader, out: ProtoWriter) => boolean): Uint8Array {
  const reader = new ProtoReader(bytes);
  const out = new ProtoWriter();
  for (let f = reader.next(); f; f = reader.next()) if (!visit(f, reader, out)) copy(reader, f, out);
  return out.finish();
}

function copy(reader: ProtoReader, f: ProtoField, out: ProtoWriter): void {
  if (f.wireType === WireType.VARINT) out.int64(f.field, reader.int());
  else if (f.wireType === WireType.LEN) out.bytes(f.field, reader.bytesView());
  else if (f.wireType === WireType.FIXED32) out.float(f.field, reader.float());
  else throw new TypeError(`unexpected 64-bit field ${f.field}`);
}

/**
 * Float16 weight storage for a float32 ONNX model: each large float32 initializer is stored as float16 and turned
 * back into float32 by a Cast node at the head of the graph. The files shipped in models/ use it to halve their size;
 * onnxruntime folds the casts when the session is created, so the network still computes in float32 and runs at
 * the same speed. Only the weights are rounded (to 11 significant bits), which for our SR networks moves PSNR by
 * less than 0.01 dB (scripts/build-models.ts checks this for every model it writes).
 */
import { toHalfBits } from '../float16.js';
import { TENSOR_DATA_TYPES } from './builder.js';
import { ProtoReader, ProtoWriter, WireType, type ProtoField } from './protobuf.js';
import { ATTRIBUTE, ATTRIBUTE_TYPE, GRAPH, MODEL, NODE, TENSOR } from './schema.js';

/** Tensors smaller than this (scalars, means, shapes) stay float32: they save nothing and may be read as constants. */
const MIN_ELEMENTS = 64;

/** Suffix of the float16 copy of an initializer; the Cast's output keeps the original name, so no node changes. */
const SUFFIX = '__float16';

/**
 * The same model with its float32 weights stored as float16. Idempotent: a model already converted is returned
 * with nothing left to convert.
 *
 * @throws TypeError when the bytes are not an ONNX model with a graph
 */
export function storeWeightsAsFloat16(model: Uint8Array): Uint8Array {
  const out = new ProtoWriter();
  const reader = new ProtoReader(model);
  let sawGraph = false;
  for (let f = reader.next(); f; f = reader.next()) {
    if (f.field === MODEL.graph) {
      reader.expect(f, WireType.LEN, 'graph');
      out.message(MODEL.graph, rewriteGraph(reader.message()));
      sawGraph = true;
    } else {
      copyField(reader, f, out);
    }
  }
  if (!sawGraph) throw new TypeError('not an ONNX model: no graph');
  return out.finish();
}

function rewriteGraph(graph: ProtoReader): ProtoWriter {
  const nodes: Uint8Array[] = [];
  const initializers: Uint8Array[] = [];
  // Fields may come in any order; only the order within a repeated field matters. Everything else is copied first.
  const out = new ProtoWriter();
  for (let g = graph.next(); g; g = graph.next()) {
    if (g.field === GRAPH.node) {
      graph.expect(g, WireType.LEN, 'node');
      nodes.push(graph.bytesView());
    } else if (g.field === GRAPH.initializer) {
      graph.expect(g, WireType.LEN, 'initializer');
      initializers.push(graph.bytesView());
    } else {
      copyField(graph, g, out);
    }
  }

  const tensors: (ProtoWriter | Uint8Array)[] = [];
  // Node order must stay topological: the casts come first, since they read only initializers.
  for (const bytes of initializers) {
    const converted = toFloat16(bytes);
    if (converted === undefined) {
      tensors.push(bytes);
      continue;
    }
    tensors.push(converted.tensor);
    const to = new ProtoWriter().string(ATTRIBUTE.name, 'to').int64(ATTRIBUTE.i, TENSOR_DATA_TYPES.float32).int64(ATTRIBUTE.type, ATTRIBUTE_TYPE.int);
    out.message(
      GRAPH.node,
      new ProtoWriter()
        .string(NODE.input, converted.name + SUFFIX)
        .string(NODE.output, converted.name)
        .string(NODE.name, `cast${SUFFIX}_${converted.name}`)
        .string(NODE.opType, 'Cast')
        .message(NODE.attribute, to),
    );
  }
  for (const node of nodes) out.bytes(GRAPH.node, node);
  for (const tensor of tensors) {
    if (tensor instanceof Uint8Array) out.bytes(GRAPH.initializer, tensor);
    else out.message(GRAPH.initializer, tensor);
  }
  return out;
}

/** A float32 raw-data initializer re-encoded as float16 under the suffixed name; undefined to keep it as it is. */
function toFloat16(bytes: Uint8Array): { name: string; tensor: ProtoWriter } | undefined {
  const tensor = new ProtoReader(bytes);
  let name = '';
  let dataType = 0;
  let raw: Uint8Array | undefined;
  const dims: number[] = [];
  const others = new ProtoWriter();
  for (let t = tensor.next(); t; t = tensor.next()) {
    if (t.field === TENSOR.name) name = tensor.string();
    else if (t.field === TENSOR.dataType) dataType = tensor.int();
    else if (t.field === TENSOR.dims) tensor.repeatedInt(t, 'dims', dims);
    else if (t.field === TENSOR.rawData) raw = tensor.bytesView();
    else copyField(tensor, t, others);
  }
  if (dataType !== TENSOR_DATA_TYPES.float32 || raw === undefined || raw.length / 4 < MIN_ELEMENTS || others.length > 0) return undefined;
  const values = new Float32Array(raw.length / 4);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  const halves = toHalfBits(values);
  const data = new Uint8Array(halves.length * 2);
  const out = new DataView(data.buffer);
  halves.forEach((h, i) => out.setUint16(i * 2, h, true));
  const w = new ProtoWriter();
  if (dims.length > 0) w.packedInt64(TENSOR.dims, dims);
  w.int64(TENSOR.dataType, TENSOR_DATA_TYPES.float16).string(TENSOR.name, name + SUFFIX).bytes(TENSOR.rawData, data);
  return { name, tensor: w };
}

/** Re-emits one field as read, whatever its wire type. */
function copyField(reader: ProtoReader, f: ProtoField, out: ProtoWriter): void {
  switch (f.wireType) {
    case WireType.VARINT:
      out.int64(f.field, reader.int());
      return;
    case WireType.LEN:
      out.bytes(f.field, reader.bytesView());
      return;
    case WireType.FIXED32:
      out.float(f.field, reader.float());
      return;
    case WireType.FIXED64:
      // No field of the messages rewritten here has this type.
      throw new TypeError(`unexpected 64-bit field ${f.field} at byte ${f.offset}`);
  }
}


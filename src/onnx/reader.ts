/**
 * Reads a model's interface (inputs, outputs, opset, metadata, size) straight from ONNX bytes, without
 * onnxruntime: cheap enough to inspect or validate a model before paying for a session.
 * Weights are skipped, not copied; subgraphs (If/Loop bodies) are not descended into.
 */
import { TENSOR_DATA_TYPES } from './builder.js';
import type { TensorElemType } from './builder.js';
import { ProtoReader, WireType } from './protobuf.js';
import type { ProtoField } from './protobuf.js';
import { MODEL, GRAPH, NODE, TENSOR, SPARSE_TENSOR, VALUE_INFO, TYPE, TYPE_TENSOR, SHAPE, DIMENSION, OPSET, ENTRY } from './schema.js';

/** A dimension: fixed size, symbolic name, or `undefined` when the model leaves it unnamed (or negative). */
export type OnnxDim = number | string | undefined;

/** A graph input or output. */
export interface OnnxValueInfo {
  readonly name: string;
  /** `'unknown'` for non-tensor values (sequences, maps) or data types this reader does not know. */
  readonly elemType: TensorElemType | 'unknown';
  /** `undefined` when the model declares no shape at all (rank unknown); `[]` is a scalar. */
  readonly dims: readonly OnnxDim[] | undefined;
}

/** What {@link readOnnxInfo} reports about a model. */
export interface OnnxModelInfo {
  readonly irVersion: number;
  /** Version of the default ONNX operator set; `undefined` when the model imports only other domains. */
  readonly opsetVersion: number | undefined;
  /** Every imported operator set, by domain ('' is the default ONNX domain). */
  readonly opsets: Readonly<Record<string, number>>;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly graphName: string;
  /** Inputs to feed: graph inputs that are not also initializers (older exporters list weights as inputs). */
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  /** ModelProto.metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Number of initializers (dense and sparse). */
  readonly initializers: number;
  /** Total elements over all initializers. */
  readonly parameterCount: number;
  /** True when some initializer keeps its data in an external file, which must sit next to the model. */
  readonly externalData: boolean;
  readonly nodeCount: number;
  /** Distinct op types of the main graph, in order of first use. */
  readonly opTypes: readonly string[];
}

// onnx.proto field numbers of the fields read here.
const DATA_LOCATION_EXTERNAL = 1;

const ELEM_TYPE_NAMES = new Map<number, TensorElemType>(
  Object.entries(TENSOR_DATA_TYPES).map(([name, code]) => [code, name as TensorElemType]),
);

/**
 * Reads the interface of an ONNX model from its bytes.
 *
 * @throws RangeError or TypeError starting with "not an ONNX model:" and naming the byte offset when the bytes are
 *   truncated, not protobuf, or lack the graph / ir_version every model has.
 * @example
 * const info = readOnnxInfo(await readFile('model.onnx'));
 * info.inputs[0]?.dims; // [1, 3, 'height', 'width']
 * info.metadata['upscale.scale']; // '4'
 */
export function readOnnxInfo(bytes: Uint8Array): OnnxModelInfo {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array of ONNX bytes, got ${typeof bytes}`);
  try {
    return readModel(new ProtoReader(bytes), bytes.length);
  } catch (error) {
    if (error instanceof RangeError) throw new RangeError(`not an ONNX model: ${error.message}`, { cause: error });
    if (error instanceof TypeError) throw new TypeError(`not an ONNX model: ${error.message}`, { cause: error });
    throw error;
  }
}

interface GraphInfo {
  name: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializerNames: Set<string>;
  initializers: number;
  parameterCount: number;
  externalData: boolean;
  nodeCount: number;
  opTypes: string[];
}

function readModel(r: ProtoReader, size: number): OnnxModelInfo {
  if (size === 0) throw new RangeError('the data is empty');
  let irVersion: number | undefined;
  let producerName = '';
  let producerVersion = '';
  let graph: GraphInfo | undefined;
  // Maps, turned into objects with fromEntries, so a key like '__proto__' stays an ordinary own property.
  const opsets = new Map<string, number>();
  const metadata = new Map<string, string>();
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case MODEL.irVersion:
        r.expect(f, WireType.VARINT, 'ModelProto.ir_version');
        irVersion = r.int();
        break;
      case MODEL.producerName:
        producerName = stringField(r, f, 'ModelProto.producer_name');
        break;
      case MODEL.producerVersion:
        producerVersion = stringField(r, f, 'ModelProto.producer_version');
        break;
      case MODEL.graph:
        graph = readGraph(messageField(r, f, 'ModelProto.graph'));
        break;
      case MODEL.opsetImport: {
        const [domain, version] = readOpset(messageField(r, f, 'ModelProto.opset_import'));
        opsets.set(domain, version);
        break;
      }
      case MODEL.metadataProps: {
        const [key, value] = readEntry(messageField(r, f, 'ModelProto.metadata_props'));
        metadata.set(key, value);
        break;
      }
      default:
        r.skip(f);
    }
  }
  if (graph === undefined) throw new TypeError('no graph (ModelProto field 7) in the data');
  if (irVersion === undefined) throw new TypeError('no ir_version (ModelProto field 1) in the data');
  const { initializerNames, ...g } = graph;
  return {
    irVersion,
    opsetVersion: opsets.get('') ?? opsets.get('ai.onnx'),
    opsets: Object.fromEntries(opsets),
    producerName,
    producerVersion,
    graphName: g.name,
    inputs: g.inputs.filter((v) => !initializerNames.has(v.name)),
    outputs: g.outputs,
    metadata: Object.fromEntries(metadata),
    initializers: g.initializers,
    parameterCount: g.parameterCount,
    externalData: g.externalData,
    nodeCount: g.nodeCount,
    opTypes: g.opTypes,
  };
}

function readGraph(r: ProtoReader): GraphInfo {
  const g: GraphInfo = {
    name: '',
    inputs: [],
    outputs: [],
    initializerNames: new Set(),
    initializers: 0,
    parameterCount: 0,
    externalData: false,
    nodeCount: 0,
    opTypes: [],
  };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case GRAPH.node: {
        const opType = readOpType(messageField(r, f, 'GraphProto.node'));
        g.nodeCount++;
        if (!g.opTypes.includes(opType)) g.opTypes.push(opType);
        break;
      }
      case GRAPH.name:
        g.name = stringField(r, f, 'GraphProto.name');
        break;
      case GRAPH.initializer: {
        const t = readTensor(messageField(r, f, 'GraphProto.initializer'));
        addInitializer(g, t.name, t.dims, t.external);
        break;
      }
      case GRAPH.sparseInitializer: {
        const t = readSparseTensor(messageField(r, f, 'GraphProto.sparse_initializer'));
        addInitializer(g, t.name, t.dims, t.external);
        break;
      }
      case GRAPH.input:
        g.inputs.push(readValueInfo(messageField(r, f, 'GraphProto.input')));
        break;
      case GRAPH.output:
        g.outputs.push(readValueInfo(messageField(r, f, 'GraphProto.output')));
        break;
      default:
        r.skip(f);
    }
  }
  return g;
}

function addInitializer(g: GraphInfo, name: string, dims: readonly number[], external: boolean): void {
  g.initializers++;
  g.initializerNames.add(name);
  g.parameterCount += dims.reduce((a, b) => a * b, 1);
  g.externalData ||= external;
}

function readOpType(r: ProtoReader): string {
  let opType = '';
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === NODE.opType) opType = stringField(r, f, 'NodeProto.op_type');
    else r.skip(f);
  }
  return opType;
}

interface TensorInfo {
  name: string;
  dims: number[];
  external: boolean;
}

function readTensor(r: ProtoReader): TensorInfo {
  const t: TensorInfo = { name: '', dims: [], external: false };
  for (let f = r.next(); f; f = r.next()) {
    switch (f.field) {
      case TENSOR.dims:
        r.repeatedInt(f, 'TensorProto.dims', t.dims);
        break;
      case TENSOR.name:
        t.name = stringField(r, f, 'TensorProto.name');
        break;
      case TENSOR.externalData:
        r.skip(f);
        t.external = true;
        break;
      case TENSOR.dataLocation:
        r.expect(f, WireType.VARINT, 'TensorProto.data_location');
        if (r.int() === DATA_LOCATION_EXTERNAL) t.external = true;
        break;
      default:
        r.skip(f);
    }
  }
  return t;
}

/** A sparse initializer counts as its dense size; its name lives on its `values` tensor. */
function readSparseTensor(r: ProtoReader): TensorInfo {
  const t: TensorInfo = { name: '', dims: [], external: false };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === SPARSE_TENSOR.values) {
      const values = readTensor(messageField(r, f, 'SparseTensorProto.values'));
      t.name = values.name;
      t.external = values.external;
    } else if (f.field === SPARSE_TENSOR.dims) r.repeatedInt(f, 'SparseTensorProto.dims', t.dims);
    else r.skip(f);
  }
  return t;
}

function readValueInfo(r: ProtoReader): OnnxValueInfo {
  let name = '';
  let type: Pick<OnnxValueInfo, 'elemType' | 'dims'> = { elemType: 'unknown', dims: undefined };
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === VALUE_INFO.name) name = stringField(r, f, 'ValueInfoProto.name');
    else if (f.field === VALUE_INFO.type) type = readType(messageField(r, f, 'ValueInfoProto.type'));
    else r.skip(f);
  }
  return { name, ...type };
}

function readType(r: ProtoReader): Pick<OnnxValueInfo, 'elemType' | 'dims'> {
  let elemType: OnnxValueInfo['elemType'] = 'unknown';
  let dims: OnnxDim[] | undefined;
  for (let f = r.next(); f; f = r.next()) {
    if (f.field !== TYPE.tensorType) {
      r.skip(f);
      continue;
    }
    const t = messageField(r, f, 'TypeProto.tensor_type');
    for (let g = t.next(); g; g = t.next()) {
      if (g.field === TYPE_TENSOR.elemType) {
        t.expect(g, WireType.VARINT, 'TypeProto.Tensor.elem_type');
        elemType = ELEM_TYPE_NAMES.get(t.int()) ?? 'unknown';
      } else if (g.field === TYPE_TENSOR.shape) dims = readShape(messageField(t, g, 'TypeProto.Tensor.shape'));
      else t.skip(g);
    }
  }
  return { elemType, dims };
}

function readShape(r: ProtoReader): OnnxDim[] {
  const dims: OnnxDim[] = [];
  for (let f = r.next(); f; f = r.next()) {
    if (f.field !== SHAPE.dim) {
      r.skip(f);
      continue;
    }
    const d = messageField(r, f, 'TensorShapeProto.dim');
    let dim: OnnxDim;
    for (let g = d.next(); g; g = d.next()) {
      if (g.field === DIMENSION.value) {
        d.expect(g, WireType.VARINT, 'Dimension.dim_value');
        const value = d.int();
        dim = value >= 0 ? value : undefined;
      } else if (g.field === DIMENSION.param) {
        const param = stringField(d, g, 'Dimension.dim_param');
        dim = param === '' ? undefined : param;
      } else d.skip(g);
    }
    dims.push(dim);
  }
  return dims;
}

function readOpset(r: ProtoReader): [string, number] {
  let domain = '';
  let version = 0;
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === OPSET.domain) domain = stringField(r, f, 'OperatorSetIdProto.domain');
    else if (f.field === OPSET.version) {
      r.expect(f, WireType.VARINT, 'OperatorSetIdProto.version');
      version = r.int();
    } else r.skip(f);
  }
  return [domain, version];
}

function readEntry(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === ENTRY.key) key = stringField(r, f, 'StringStringEntryProto.key');
    else if (f.field === ENTRY.value) value = stringField(r, f, 'StringStringEntryProto.value');
    else r.skip(f);
  }
  return [key, value];
}

function stringField(r: ProtoReader, f: ProtoField, what: string): string {
  r.expect(f, WireType.LEN, what);
  return r.string();
}

function messageField(r: ProtoReader, f: ProtoField, what: string): ProtoReader {
  r.expect(f, WireType.LEN, what);
  return r.message();
}

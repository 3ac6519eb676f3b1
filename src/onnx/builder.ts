/**
 * Builds ONNX models (ModelProto bytes) from code: test fixtures today, TensorFlow.js / PyTorch importers later.
 * Field numbers follow https://github.com/onnx/onnx/blob/main/onnx/onnx.proto.
 */
import { ProtoWriter, float32Bytes, int64Bytes } from './protobuf.js';
import { MODEL, GRAPH, NODE, ATTRIBUTE, ATTRIBUTE_TYPE, TENSOR, VALUE_INFO, TYPE, TYPE_TENSOR, SHAPE, DIMENSION, OPSET, ENTRY } from './schema.js';

/** TensorProto.DataType codes, by the names onnxruntime-node uses for tensor types. */
export const TENSOR_DATA_TYPES = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  complex64: 14,
  complex128: 15,
  bfloat16: 16,
  float8e4m3fn: 17,
  float8e4m3fnuz: 18,
  float8e5m2: 19,
  float8e5m2fnuz: 20,
  uint4: 21,
  int4: 22,
  float4e2m1: 23,
} as const;
export type TensorElemType = keyof typeof TENSOR_DATA_TYPES;

/** A dimension: a fixed size, or a symbolic name for a size chosen at run time (`'H'`). */
export type Dim = number | string;

/** Initializer and tensor-attribute data; the array type decides the ONNX data type. */
export type TensorData = Float32Array | BigInt64Array;

/** A constant tensor (Constant's `value`, for instance). */
export interface TensorValue {
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** A typed node attribute; make them with {@link attr} so int versus float is never guessed. */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'strings'; readonly value: readonly string[] }
  | { readonly kind: 'tensor'; readonly value: TensorValue };

export type Attributes = Readonly<Record<string, AttributeValue>>;

function checkInt(value: number, what: string): number {
  if (!Number.isSafeInteger(value)) throw new TypeError(`Expected an integer for ${what}, got ${value} (${typeof value})`);
  return value;
}

function checkFloat(value: number, what: string): number {
  if (typeof value !== 'number') throw new TypeError(`Expected a number for ${what}, got ${typeof value}`);
  return value;
}

/**
 * Attribute constructors.
 *
 * @example
 * g.node('Conv', [x, w, b], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
 * g.node('LeakyRelu', [x], { alpha: attr.float(0.2) });
 * g.node('DepthToSpace', [x], { blocksize: attr.int(2), mode: attr.string('DCR') });
 */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value: checkInt(value, 'attr.int') }),
  float: (value: number): AttributeValue => ({ kind: 'float', value: checkFloat(value, 'attr.float') }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  ints: (value: readonly number[]): AttributeValue => ({
    kind: 'ints',
    value: value.map((v, i) => checkInt(v, `attr.ints[${i}]`)),
  }),
  floats: (value: readonly number[]): AttributeValue => ({
    kind: 'floats',
    value: value.map((v, i) => checkFloat(v, `attr.floats[${i}]`)),
  }),
  strings: (value: readonly string[]): AttributeValue => ({ kind: 'strings', value: [...value] }),
  tensor: (dims: readonly number[], data: TensorData): AttributeValue => ({
    kind: 'tensor',
    value: checkTensor('attr.tensor', dims, data),
  }),
} as const;

/** `[1, 2]` → `BigInt64Array [1n, 2n]`, for shape-like int64 initializers (Reshape, Resize, Pad...). */
export function int64s(values: readonly (number | bigint)[]): BigInt64Array {
  return BigInt64Array.from(values, (v) => BigInt(typeof v === 'number' ? checkInt(v, 'int64s') : v));
}

export interface NodeOptions {
  /** Node name; defaults to a unique name derived from the op type. */
  readonly name?: string;
  /** Operator set domain; '' (the default) is the standard ONNX domain. */
  readonly domain?: string;
}

export interface ModelOptions {
  /** Default-domain opset version. @default 17 */
  readonly opset?: number;
  /** Other operator set domains the nodes use, with their versions (`{ 'com.microsoft': 1 }`). */
  readonly domains?: Readonly<Record<string, number>>;
  /** @default the newest IR version that the opset's ONNX release wrote (8 for opsets up to 18) */
  readonly irVersion?: number;
  /** @default 'upscale' */
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
  /** ModelProto.metadata_props, e.g. `{ 'upscale.scale': '2' }`. */
  readonly metadata?: Readonly<Record<string, string>>;
}

interface ValueInfo {
  readonly name: string;
  readonly elemType: TensorElemType;
  readonly dims: readonly Dim[];
}

interface Node {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Attributes;
  readonly name: string;
  readonly domain: string;
}

interface Initializer extends TensorValue {
  readonly name: string;
}

// onnx.proto field numbers, one table per message.

/** IR version of the ONNX release that introduced each opset range (onnx/helper.py VERSION_TABLE). */
function defaultIrVersion(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

function checkTensor(what: string, dims: readonly number[], data: TensorData): TensorValue {
  let count = 1;
  for (const [i, d] of dims.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`Expected non-negative integer dims for ${what}, got ${d} at dims[${i}]`);
    count *= d;
  }
  if (!(data instanceof Float32Array) && !(data instanceof BigInt64Array)) {
    throw new TypeError(`Expected a Float32Array or BigInt64Array for ${what}`);
  }
  if (count !== data.length) {
    throw new RangeError(`Expected ${count} values for ${what} of dims [${dims.join(', ')}], got ${data.length}`);
  }
  return { dims: [...dims], data };
}

/**
 * Collects inputs, outputs, initializers and nodes (in topological order), then serializes them as one ModelProto.
 * Initializer arrays are kept by reference until {@link GraphBuilder.toModel}: do not modify them in between.
 *
 * @example
 * const g = new GraphBuilder({ name: 'nearest2x' });
 * const x = g.input('input', 'float32', [1, 3, 'H', 'W']);
 * const w = g.initializer('w', [12, 3, 1, 1], weights);
 * const y = g.node('Conv', [x, w], { kernel_shape: attr.ints([1, 1]) });
 * g.node('DepthToSpace', [y], { blocksize: attr.int(2) }, { output: 'output' });
 * g.output('output', 'float32', [1, 3, 'H2', 'W2']);
 * const bytes = g.toModel({ opset: 17, metadata: { 'upscale.scale': '2' } });
 */
export class GraphBuilder {
  readonly name: string;
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly valueInfos: ValueInfo[] = [];
  private readonly initializers: Initializer[] = [];
  private readonly nodes: Node[] = [];
  /** Every value and node name handed out, so generated names never collide. */
  private readonly used = new Set<string>();

  /** @param options.name graph name @default 'main' */
  constructor(options: { readonly name?: string } = {}) {
    this.name = options.name ?? 'main';
  }

  /** A name starting with `prefix` not used yet in this graph (`conv`, `conv_1`, ...). */
  uniqueName(prefix: string): string {
    let name = prefix;
    for (let i = 1; this.used.has(name); i++) name = `${prefix}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Declares a graph input; string dims are symbolic (dynamic). Returns its name. */
  input(name: string, elemType: TensorElemType, dims: readonly Dim[]): string {
    this.inputs.push(this.describe('input', name, elemType, dims, this.inputs));
    this.used.add(name);
    return name;
  }

  /** Declares a graph output, which some node must produce. Returns its name. */
  output(name: string, elemType: TensorElemType, dims: readonly Dim[]): string {
    this.outputs.push(this.describe('output', name, elemType, dims, this.outputs));
    return name;
  }

  /** Optional shape information for an intermediate value (GraphProto.value_info). */
  valueInfo(name: string, elemType: TensorElemType, dims: readonly Dim[]): string {
    this.valueInfos.push(this.describe('value_info', name, elemType, dims, this.valueInfos));
    return name;
  }

  /**
   * Adds a constant tensor (weights, biases, shapes). The array type picks the data type: `Float32Array` is
   * float32, `BigInt64Array` (see {@link int64s}) is int64. Returns its name.
   */
  initializer(name: string, dims: readonly number[], data: TensorData): string {
    checkName('initializer', name);
    if (this.initializers.some((t) => t.name === name)) throw new RangeError(`Duplicate initializer name '${name}'`);
    this.initializers.push({ name, ...checkTensor(`initializer '${name}'`, dims, data) });
    this.used.add(name);
    return name;
  }

  /**
   * Adds a single-output node and returns its output name. Inputs may be '' for an omitted optional input.
   *
   * @param options.output name of the output; defaults to a unique name derived from the node name
   */
  node(opType: string, inputs: readonly string[], attributes: Attributes = {}, options: NodeOptions & { readonly output?: string } = {}): string {
    const [output] = this.nodeWithOutputs(opType, inputs, options.output === undefined ? 1 : [options.output], attributes, options);
    return output as string;
  }

  /** Adds a node with several outputs, given by name or by count (then named after the node). Returns their names. */
  nodeWithOutputs(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[] | number,
    attributes: Attributes = {},
    options: NodeOptions = {},
  ): string[] {
    checkName('op type', opType);
    for (const [key, value] of Object.entries(attributes)) {
      if (typeof value !== 'object' || value === null || !('kind' in value)) {
        throw new TypeError(`Expected attribute '${key}' of ${opType} to be made with attr.*(), got ${typeof value}`);
      }
    }
    const name = options.name === undefined ? this.uniqueName(opType.toLowerCase()) : options.name;
    if (options.name !== undefined) this.used.add(name);
    let names: string[];
    if (typeof outputs === 'number') {
      if (!Number.isSafeInteger(outputs) || outputs < 1) throw new RangeError(`Expected an output count of 1 or more, got ${outputs}`);
      names = Array.from({ length: outputs }, (_, i) => this.uniqueName(outputs === 1 ? `${name}_out` : `${name}_out${i}`));
    } else {
      names = outputs.map((o) => {
        checkName(`output of node '${name}'`, o);
        this.used.add(o);
        return o;
      });
    }
    this.nodes.push({ opType, inputs: [...inputs], outputs: names, attributes: { ...attributes }, name, domain: options.domain ?? '' });
    return names;
  }

  /** Serializes the graph as an ONNX ModelProto, after checking every node input is defined before use. */
  toModel(options: ModelOptions = {}): Uint8Array {
    const opset = options.opset ?? 17;
    checkPositiveInt('opset', opset);
    this.validate(options.domains ?? {});

    const model = new ProtoWriter();
    model.int64(MODEL.irVersion, options.irVersion ?? defaultIrVersion(opset));
    model.string(MODEL.producerName, options.producerName ?? 'upscale');
    if (options.producerVersion !== undefined) model.string(MODEL.producerVersion, options.producerVersion);
    if (options.docString !== undefined) model.string(MODEL.docString, options.docString);
    model.message(MODEL.graph, this.graphProto());
    for (const [domain, version] of [['', opset] as const, ...Object.entries(options.domains ?? {})]) {
      checkPositiveInt(`opset version of domain '${domain}'`, version);
      model.message(MODEL.opsetImport, new ProtoWriter().string(OPSET.domain, domain).int64(OPSET.version, version));
    }
    for (const [key, value] of Object.entries(options.metadata ?? {})) {
      model.message(MODEL.metadataProps, new ProtoWriter().string(ENTRY.key, key).string(ENTRY.value, value));
    }
    return model.finish();
  }

  private describe(what: string, name: string, elemType: TensorElemType, dims: readonly Dim[], list: readonly ValueInfo[]): ValueInfo {
    checkName(what, name);
    if (list.some((v) => v.name === name)) throw new RangeError(`Duplicate ${what} name '${name}'`);
    if (!(elemType in TENSOR_DATA_TYPES)) throw new TypeError(`Unknown element type '${String(elemType)}' for ${what} '${name}'`);
    for (const [i, d] of dims.entries()) {
      const ok = typeof d === 'string' ? d.length > 0 : Number.isSafeInteger(d) && d >= 0;
      if (!ok) throw new RangeError(`Expected a non-negative integer or a non-empty name for dims[${i}] of ${what} '${name}', got ${JSON.stringify(d)}`);
    }
    return { name, elemType, dims: [...dims] };
  }

  /** Catches wiring mistakes here, with names, rather than as an opaque onnxruntime load error. */
  private validate(domains: Readonly<Record<string, number>>): void {
    if (this.outputs.length === 0) throw new RangeError(`Graph '${this.name}' has no outputs`);
    const defined = new Set<string>([...this.inputs.map((v) => v.name), ...this.initializers.map((t) => t.name)]);
    for (const [index, node] of this.nodes.entries()) {
      const label = `node ${index} (${node.opType} '${node.name}')`;
      if (node.domain !== '' && node.domain !== 'ai.onnx' && !(node.domain in domains)) {
        throw new RangeError(`${label} uses domain '${node.domain}', which is not in ModelOptions.domains`);
      }
      for (const input of node.inputs) {
        if (input !== '' && !defined.has(input)) {
          throw new RangeError(`${label}: input '${input}' is not a graph input, an initializer or an earlier node's output`);
        }
      }
      for (const output of node.outputs) {
        if (defined.has(output)) throw new RangeError(`${label}: output '${output}' is already defined`);
        defined.add(output);
      }
    }
    for (const output of this.outputs) {
      if (!defined.has(output.name)) throw new RangeError(`Graph output '${output.name}' is not produced by any node`);
    }
  }

  private graphProto(): ProtoWriter {
    const graph = new ProtoWriter();
    for (const node of this.nodes) graph.message(GRAPH.node, nodeProto(node));
    graph.string(GRAPH.name, this.name);
    for (const t of this.initializers) graph.message(GRAPH.initializer, tensorProto(t.dims, t.data, t.name));
    for (const v of this.inputs) graph.message(GRAPH.input, valueInfoProto(v));
    for (const v of this.outputs) graph.message(GRAPH.output, valueInfoProto(v));
    for (const v of this.valueInfos) graph.message(GRAPH.valueInfo, valueInfoProto(v));
    return graph;
  }
}

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError(`Expected a non-empty string for the ${what} name, got ${JSON.stringify(name)}`);
}

function checkPositiveInt(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Expected a positive integer for ${what}, got ${value}`);
}

function nodeProto(node: Node): ProtoWriter {
  const w = new ProtoWriter();
  for (const input of node.inputs) w.string(NODE.input, input);
  for (const output of node.outputs) w.string(NODE.output, output);
  w.string(NODE.name, node.name);
  w.string(NODE.opType, node.opType);
  for (const [name, value] of Object.entries(node.attributes)) w.message(NODE.attribute, attributeProto(name, value));
  if (node.domain !== '') w.string(NODE.domain, node.domain);
  return w;
}

function attributeProto(name: string, a: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(ATTRIBUTE.name, name);
  switch (a.kind) {
    case 'float':
      w.float(ATTRIBUTE.f, a.value);
      break;
    case 'int':
      w.int64(ATTRIBUTE.i, a.value);
      break;
    case 'string':
      w.string(ATTRIBUTE.s, a.value);
      break;
    case 'tensor':
      w.message(ATTRIBUTE.t, tensorProto(a.value.dims, a.value.data));
      break;
    case 'floats':
      w.packedFloat(ATTRIBUTE.floats, a.value);
      break;
    case 'ints':
      w.packedInt64(ATTRIBUTE.ints, a.value);
      break;
    case 'strings':
      for (const s of a.value) w.string(ATTRIBUTE.strings, s);
      break;
  }
  return w.int64(ATTRIBUTE.type, ATTRIBUTE_TYPE[a.kind]);
}

/** Data goes in raw_data (little-endian), the compact form every runtime reads. */
function tensorProto(dims: readonly number[], data: TensorData, name?: string): ProtoWriter {
  const w = new ProtoWriter();
  if (dims.length > 0) w.packedInt64(TENSOR.dims, dims);
  if (data instanceof Float32Array) {
    w.int64(TENSOR.dataType, TENSOR_DATA_TYPES.float32);
  } else {
    w.int64(TENSOR.dataType, TENSOR_DATA_TYPES.int64);
  }
  if (name !== undefined) w.string(TENSOR.name, name);
  return w.bytes(TENSOR.rawData, data instanceof Float32Array ? float32Bytes(data) : int64Bytes(data));
}

function valueInfoProto(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'string') dim.string(DIMENSION.param, d);
    else dim.int64(DIMENSION.value, d);
    shape.message(SHAPE.dim, dim);
  }
  const tensorType = new ProtoWriter().int64(TYPE_TENSOR.elemType, TENSOR_DATA_TYPES[v.elemType]).message(TYPE_TENSOR.shape, shape);
  const type = new ProtoWriter().message(TYPE.tensorType, tensorType);
  return new ProtoWriter().string(VALUE_INFO.name, v.name).message(VALUE_INFO.type, type);
}

/**
 * Turns a Keras model config (Functional or Sequential) into a flat list of layer calls in topological order, so the
 * converter walks one simple shape whatever the Keras version that wrote it.
 *
 * Keras 2 writes `inbound_nodes` as `[[['layer', nodeIndex, tensorIndex, kwargs], ...], ...]` (one entry per call of
 * the layer); Keras 3 writes `[{ args: [...], kwargs: {...} }]` with tensors as `{ class_name: '__keras_tensor__',
 * config: { keras_history: ['layer', nodeIndex, tensorIndex] } }` anywhere inside `args`.
 */
import { UpscaleError } from '../../errors.js';
import type { JsonObject, KerasModelConfig } from './read.js';

/** A tensor produced by a layer call: Keras's `(layer, node, tensor)` history triple. */
export interface TensorRef {
  readonly layer: string;
  readonly node: number;
  readonly tensor: number;
}

/** One call of a layer (a layer shared by several calls appears once per call, with the same `name`). */
export interface LayerCall {
  readonly className: string;
  readonly name: string;
  readonly config: JsonObject;
  /** Which call of the layer this is (Keras node index). */
  readonly node: number;
  readonly inputs: readonly TensorRef[];
}

/** A single-input, single-output model as a topologically ordered list of calls. */
export interface ModelGraph {
  /** The InputLayer; its output is `{ layer: input.name, node: 0, tensor: 0 }`. */
  readonly input: { readonly name: string; readonly channels: number | undefined };
  /** Every call except the InputLayer's, each after the calls it reads. */
  readonly calls: readonly LayerCall[];
  readonly output: TensorRef;
}

/** Key of a tensor in maps: `layer:node:tensor`. */
export const refKey = (ref: TensorRef): string => `${ref.layer}:${ref.node}:${ref.tensor}`;

/**
 * @param file names the model in error messages
 * @throws UpscaleError `MODEL_INVALID` for configs that are not a single-input, single-output Functional or
 *   Sequential model, or whose graph refers to unknown layers.
 */
export function modelGraph(topology: KerasModelConfig, file: string): ModelGraph {
  const fail = (message: string): never => {
    throw new UpscaleError('MODEL_INVALID', message, { file });
  };
  switch (topology.class_name) {
    case 'Functional':
    case 'Model':
      return functionalGraph(asObject(topology.config, `${topology.class_name} config`, fail), fail);
    case 'Sequential':
      return sequentialGraph(topology.config, fail);
    default:
      return fail(`expected a Functional or Sequential model, got class_name "${topology.class_name}"`);
  }
}

type Fail = (message: string) => never;

interface RawLayer {
  readonly className: string;
  readonly name: string;
  readonly config: JsonObject;
  readonly inbound: readonly (readonly TensorRef[])[];
}

function functionalGraph(config: JsonObject, fail: Fail): ModelGraph {
  const layers = asArray(config['layers'], 'config.layers', fail).map((l, i) => rawLayer(l, i, fail));
  const inputs = endpoints(config['input_layers'], 'input_layers', fail);
  const outputs = endpoints(config['output_layers'], 'output_layers', fail);
  if (inputs.length !== 1) fail(`expected one model input (an image), got ${inputs.length}`);
  if (outputs.length !== 1) fail(`expected one model output (an image), got ${outputs.length}`);
  const inputRef = inputs[0] as TensorRef;
  const inputLayer = layers.find((l) => l.name === inputRef.layer);
  if (inputLayer === undefined || inputLayer.className !== 'InputLayer') fail(`input_layers names "${inputRef.layer}", which is not an InputLayer of the model`);
  const input = inputLayer as RawLayer;
  return { input: { name: input.name, channels: channelsOf(input.config) }, calls: sortCalls(layers, input.name, fail), output: outputs[0] as TensorRef };
}

/** Sequential: each layer feeds the next; the input comes from an InputLayer or the first layer's batch shape. */
function sequentialGraph(config: unknown, fail: Fail): ModelGraph {
  // Keras < 2.2.3 wrote the layer list itself as the config.
  const list = Array.isArray(config) ? config : asObject(config, 'Sequential config', fail)['layers'];
  const layers = asArray(list, 'Sequential config.layers', fail).map((l, i) => rawLayer(l, i, fail));
  const first = layers[0];
  if (first === undefined) return fail('the Sequential model has no layers');
  let input: { name: string; channels: number | undefined };
  let body: RawLayer[];
  if (first.className === 'InputLayer') {
    input = { name: first.name, channels: channelsOf(first.config) };
    body = layers.slice(1);
  } else {
    if (batchShape(first.config) === undefined) fail(`the Sequential model has no InputLayer and its first layer "${first.name}" declares no batch_input_shape`);
    input = { name: `${first.name}_input`, channels: channelsOf(first.config) };
    body = layers;
  }
  const calls: LayerCall[] = [];
  let previous: TensorRef = { layer: input.name, node: 0, tensor: 0 };
  for (const layer of body) {
    if (layer.name === input.name || calls.some((c) => c.name === layer.name)) fail(`layer name "${layer.name}" is used twice`);
    calls.push({ className: layer.className, name: layer.name, config: layer.config, node: 0, inputs: [previous] });
    previous = { layer: layer.name, node: 0, tensor: 0 };
  }
  return { input, calls, output: previous };
}

function rawLayer(value: unknown, index: number, fail: Fail): RawLayer {
  const layer = asObject(value, `layers[${index}]`, fail);
  const className = layer['class_name'];
  if (typeof className !== 'string') return fail(`expected layers[${index}].class_name to be a string, got ${typeof className}`);
  const config = asObject(layer['config'] ?? {}, `layers[${index}].config`, fail);
  const name = layer['name'] ?? config['name'];
  if (typeof name !== 'string' || name === '') return fail(`expected layers[${index}] (${className}) to have a name, got ${typeof name}`);
  const inbound = layer['inbound_nodes'] === undefined ? [] : asArray(layer['inbound_nodes'], `inbound_nodes of layer "${name}"`, fail);
  return { className, name, config, inbound: inbound.map((node) => nodeInputs(node, name, fail)) };
}

/** The input tensors of one call, in either the Keras 2 list format or the Keras 3 `args` format. */
function nodeInputs(node: unknown, layer: string, fail: Fail): TensorRef[] {
  if (Array.isArray(node)) return node.map((entry) => historyRef(entry, `inbound node of layer "${layer}"`, fail));
  if (typeof node === 'object' && node !== null && 'args' in node) {
    const refs: TensorRef[] = [];
    collectKerasTensors((node as { args: unknown }).args, refs, layer, fail);
    return refs;
  }
  return fail(`unrecognised inbound_nodes entry of layer "${layer}": expected a list or { args }, got ${JSON.stringify(node)?.slice(0, 80)}`);
}

function collectKerasTensors(value: unknown, refs: TensorRef[], layer: string, fail: Fail): void {
  if (Array.isArray(value)) {
    for (const item of value) collectKerasTensors(item, refs, layer, fail);
  } else if (typeof value === 'object' && value !== null) {
    const v = value as JsonObject;
    if (v['class_name'] === '__keras_tensor__') {
      const history = (v['config'] as JsonObject | undefined)?.['keras_history'];
      refs.push(historyRef(history, `keras_history in layer "${layer}"`, fail));
    }
  }
}

/** `['name', node, tensor, kwargs?]` → TensorRef. */
function historyRef(value: unknown, what: string, fail: Fail): TensorRef {
  if (!Array.isArray(value) || typeof value[0] !== 'string') return fail(`expected ${what} to be ["layer", node, tensor], got ${JSON.stringify(value)?.slice(0, 80)}`);
  const node = value[1] ?? 0;
  const tensor = value[2] ?? 0;
  if (!Number.isInteger(node) || !Number.isInteger(tensor)) return fail(`expected integer node and tensor indices in ${what}, got ${JSON.stringify(value).slice(0, 80)}`);
  return { layer: value[0], node: node as number, tensor: tensor as number };
}

/** `[['LR', 0, 0]]`, or Keras 3's bare `['LR', 0, 0]` for a single endpoint. */
function endpoints(value: unknown, what: string, fail: Fail): TensorRef[] {
  const list = asArray(value, what, fail);
  if (typeof list[0] === 'string') return [historyRef(list, what, fail)];
  return list.map((entry, i) => historyRef(entry, `${what}[${i}]`, fail));
}

/** Orders calls so each comes after the calls producing its inputs (Keras usually lists them so; not always). */
function sortCalls(layers: readonly RawLayer[], inputName: string, fail: Fail): LayerCall[] {
  const names = new Set<string>();
  for (const layer of layers) {
    if (names.has(layer.name)) fail(`layer name "${layer.name}" is used twice`);
    names.add(layer.name);
  }
  const pending: LayerCall[] = [];
  for (const layer of layers) {
    if (layer.className === 'InputLayer') {
      if (layer.name !== inputName) fail(`the model has a second InputLayer "${layer.name}"; only one image input is supported`);
      continue;
    }
    for (const [node, inputs] of layer.inbound.entries()) {
      for (const ref of inputs) {
        if (!names.has(ref.layer)) fail(`layer "${layer.name}" reads from "${ref.layer}", which is not a layer of the model`);
      }
      pending.push({ className: layer.className, name: layer.name, config: layer.config, node, inputs });
    }
  }
  const produced = new Set<string>([refKey({ layer: inputName, node: 0, tensor: 0 })]);
  const sorted: LayerCall[] = [];
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const call = pending[i] as LayerCall;
      if (call.inputs.every((ref) => produced.has(refKey(ref)))) {
        sorted.push(call);
        produced.add(refKey({ layer: call.name, node: call.node, tensor: 0 }));
        pending.splice(i, 1);
      } else {
        i++;
      }
    }
    if (pending.length === before) {
      const stuck = pending[0] as LayerCall;
      const missing = stuck.inputs.find((ref) => !produced.has(refKey(ref))) as TensorRef;
      fail(`layer "${stuck.name}" waits for output ${missing.tensor} of call ${missing.node} of "${missing.layer}", which nothing produces (a cycle, or a multi-output layer)`);
    }
  }
  return sorted;
}

function batchShape(config: JsonObject): readonly unknown[] | undefined {
  const shape = config['batch_input_shape'] ?? config['batch_shape'];
  return Array.isArray(shape) ? shape : undefined;
}

/** Channels of an NHWC batch shape (`[null, null, null, 3]` → 3), undefined when not declared. */
function channelsOf(config: JsonObject): number | undefined {
  const last = batchShape(config)?.at(-1);
  return typeof last === 'number' ? last : undefined;
}

function asObject(value: unknown, what: string, fail: Fail): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`expected ${what} to be an object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  return value as JsonObject;
}

function asArray(value: unknown, what: string, fail: Fail): readonly unknown[] {
  if (!Array.isArray(value)) return fail(`expected ${what} to be an array, got ${value === null ? 'null' : typeof value}`);
  return value;
}

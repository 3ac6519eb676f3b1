/**
 * Converts a TensorFlow.js layers model to ONNX: walks the Keras graph in topological order, emits NCHW nodes per
 * layer (see layers.ts) with dynamic height and width, and records what the pipeline needs as metadata.
 */
import { UpscaleError } from '../../errors.js';
import { GraphBuilder } from '../../onnx/index.js';
import { METADATA_KEYS } from '../metadata-keys.js';
import { absorbsUpsampling, findWeight, layerConverter } from './layers.js';
import type { LayerContext, Value } from './layers.js';
import type { LayersModel, WeightTensor } from './read.js';
import { modelGraph, refKey } from './topology.js';
import type { LayerCall } from './topology.js';

/** How to describe the converted model. */
export interface ConvertOptions {
  /** Names the model in the ONNX metadata (`upscale.name`) and in error messages, e.g. 'esrgan-thick-x4'. */
  readonly name: string;
  /** Pixel range the network was trained on: 1 for 0..1, 255 for 0..255. */
  readonly range: 1 | 255;
}

/** A converted model and the facts read off its graph. */
export interface ConvertedModel {
  /** ONNX ModelProto bytes: input `input` [1, C, H, W], output `output`, opset 17. */
  readonly onnx: Uint8Array;
  /** Product of the upsampling factors (UpSampling2D sizes, PixelShuffle block sizes, over strides). */
  readonly scale: number;
  /** Elements of every weight the layers use (kernels, biases, PReLU slopes). */
  readonly parameterCount: number;
  /**
   * Theoretical receptive radius in input pixels: the longest path's sum of conv radii ((k - 1)/2 · dilation),
   * those running after an upsampling divided by its factor, rounded up once at the end. Not capped; the
   * `upscale.receptive_field` metadata is (see {@link MAX_TILE_OVERLAP}).
   */
  readonly receptiveField: number;
}

/**
 * Cap on the `upscale.receptive_field` metadata, which the pipeline uses as tile overlap. Beyond it tiles get
 * costly (a 256-pixel tile with 64 pixels of context on each side is already 2.25× the work), and deep nets'
 * effective field is far smaller than their theoretical one: for tiled output to equal whole-image output within
 * 1/255, ESRGAN-thick (theoretical 154) needs 8 pixels, medium (18) 9 and slim (10) 7, measured on photos and noise.
 */
export const MAX_TILE_OVERLAP = 64;

/**
 * Builds an ONNX graph computing the same function as the layers model, in NCHW with dynamic height and width.
 * Conv and its ReLU are emitted as separate nodes, which onnxruntime fuses.
 *
 * @throws UpscaleError `MODEL_INVALID` naming `options.name`: an unsupported layer class (`esrgan-x4: unsupported
 *   layer class "BatchNormalization" (layer "bn_1")`), a layer config or weight that does not fit, more than one
 *   input or output, or an output that is not an image of the input's channels at an integer scale.
 * @example
 * const model = await readLayersModel('node_modules/@upscalerjs/esrgan-thick/models/x4/model.json');
 * const { onnx, scale } = convertLayersModel(model, { name: 'esrgan-thick-x4', range: 1 });
 * await writeFile('esrgan-thick-x4.onnx', onnx); // scale === 4
 */
export function convertLayersModel(model: LayersModel, options: ConvertOptions): ConvertedModel {
  if (typeof options.name !== 'string' || options.name === '') throw new TypeError(`Expected options.name to be a non-empty string, got ${JSON.stringify(options.name)}`);
  if (options.range !== 1 && options.range !== 255) throw new RangeError(`Expected options.range to be 1 or 255, got ${String(options.range)}`);
  const file = options.name;
  const fail = (message: string): never => {
    throw new UpscaleError('MODEL_INVALID', message, { file });
  };
  const graph = modelGraph(model.topology, file);
  const channels = graph.input.channels ?? 3;
  if (channels !== 1 && channels !== 3) fail(`expected an image input of 1 or 3 channels, got ${channels}`);

  const g = new GraphBuilder({ name: options.name });
  const values = new Map<string, Value>();
  values.set(refKey({ layer: graph.input.name, node: 0, tensor: 0 }), {
    name: g.input('input', 'float32', [1, channels, 'H', 'W']),
    channels,
    factor: 1,
    reach: 0,
  });
  const used = new Map<string, WeightTensor>();
  const initializers = new Map<string, string>();
  const readers = new Map<string, LayerCall[]>();
  for (const call of graph.calls) {
    for (const ref of call.inputs) readers.set(refKey(ref), [...(readers.get(refKey(ref)) ?? []), call]);
  }
  /** A nearest UpSampling2D read only by a conv that computes it at low resolution (layers.ts subPixelConv). */
  const absorbed = (call: LayerCall): boolean => {
    if (call.className !== 'UpSampling2D' || (call.config['interpolation'] ?? 'nearest') !== 'nearest') return false;
    const next = readers.get(refKey({ layer: call.name, node: call.node, tensor: 0 })) ?? [];
    return next.length === 1 && next[0]!.className === 'Conv2D' && refKey(graph.output) !== refKey({ layer: call.name, node: call.node, tensor: 0 }) && absorbsUpsampling(next[0]!.config);
  };

  for (const call of graph.calls) {
    const convert = layerConverter(call.className);
    if (convert === undefined) return fail(`unsupported layer class "${call.className}" (layer "${call.name}")`);
    const label = `layer "${call.name}" (${call.className})`;
    const inputs = call.inputs.map((ref) => values.get(refKey(ref)) ?? fail(`${label} reads output ${ref.tensor} of "${ref.layer}", which it does not have`));
    const ctx: LayerContext = {
      g,
      call,
      absorbedByNext: absorbed(call),
      fail: (message) => fail(`${label}: ${message}`),
      weight: (param, shape) => {
        const weight = findWeight(model.weights, call.name, param) ?? fail(`${label}: weight "${call.name}/${param}" is not in the weights manifest`);
        if (shape !== undefined && (weight.shape.length !== shape.length || weight.shape.some((d, i) => d !== shape[i]))) {
          fail(`${label}: expected weight "${weight.name}" of shape [${shape.join(', ')}], got [${weight.shape.join(', ')}]`);
        }
        used.set(weight.name, weight);
        return weight;
      },
      initializer: (key, dims, data) => {
        const id = `${call.name}/${key}`;
        let name = initializers.get(id);
        if (name === undefined) {
          name = g.initializer(g.uniqueName(id), dims, data());
          initializers.set(id, name);
        }
        return name;
      },
    };
    values.set(refKey({ layer: call.name, node: call.node, tensor: 0 }), convert(ctx, inputs));
  }

  const out = values.get(refKey(graph.output)) ?? fail(`output_layers names "${graph.output.layer}", which produces no such output`);
  if (out.channels !== channels) fail(`expected the output to have the input's ${channels} channels, got ${out.channels}`);
  const scale = Math.round(out.factor);
  if (scale < 1 || Math.abs(out.factor - scale) > 1e-9) fail(`expected an integer scale of 1 or more, got ×${out.factor}`);
  const unused = [...model.weights.keys()].filter((name) => !used.has(name));
  if (unused.length > 0) fail(`${unused.length} weights are used by no layer: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`);

  g.node('Identity', [out.name], {}, { output: 'output' });
  g.output('output', 'float32', [1, channels, 'outH', 'outW']);
  // Reaches are sums of k/2, k/4, k/3...: allow for float rounding before rounding up.
  const receptiveField = Math.ceil(out.reach - 1e-9);
  const onnx = g.toModel({
    opset: 17,
    docString: `Converted from the TensorFlow.js layers model ${model.path}`,
    metadata: {
      [METADATA_KEYS.scale]: String(scale),
      [METADATA_KEYS.range]: options.range === 1 ? '0-1' : '0-255',
      [METADATA_KEYS.receptiveField]: String(Math.min(receptiveField, MAX_TILE_OVERLAP)),
      [METADATA_KEYS.name]: options.name,
    },
  });
  const parameterCount = [...used.values()].reduce((sum, w) => sum + w.data.length, 0);
  return { onnx, scale, parameterCount, receptiveField };
}

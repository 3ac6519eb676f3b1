/**
 * TensorFlow.js as the reference for the layers-model converter: backend set-up, UpscalerJS's custom layers, loading
 * a model.json from disk, NCHW prediction, and writing small generated layers models (model.json + one .bin).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type Tf = typeof tf;
export type TfLayersModel = tf.LayersModel;

let backend: Promise<string> | undefined;

/**
 * TF.js with the given backend, chosen once per process: 'wasm' (XNNPACK, ~10× the pure-JS speed) falls back to
 * 'cpu' when it cannot start. Production mode silences the "install tfjs-node" banner.
 * @returns the backend in use
 */
export async function useTfjs(preferred: 'wasm' | 'cpu'): Promise<string> {
  backend ??= (async () => {
    tf.enableProdMode();
    if (preferred === 'wasm') {
      setWasmPaths(`${dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);
      if (await tf.setBackend('wasm').catch(() => false)) return 'wasm';
    }
    await tf.setBackend('cpu');
    return 'cpu';
  })();
  return backend;
}

const getInput = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor => (Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs);
const registered = new Set<string>();

/** Registers UpscalerJS's custom layers the way its esrgan.js `setup` does: MultiplyBeta (×0.2), PixelShuffle{N}x. */
export function registerUpscalerLayers(scales: readonly number[]): void {
  if (!registered.has('MultiplyBeta')) {
    class MultiplyBeta extends tf.layers.Layer {
      static className = 'MultiplyBeta';
      beta = 0.2;
      constructor() {
        super({});
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.mul(getInput(inputs), this.beta);
      }
    }
    tf.serialization.registerClass(MultiplyBeta);
    registered.add('MultiplyBeta');
  }
  for (const scale of scales) {
    const className = `PixelShuffle${scale}x`;
    if (registered.has(className)) continue;
    class PixelShuffle extends tf.layers.Layer {
      static className = className;
      constructor() {
        super({});
      }
      override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
        const shape = inputShape as tf.Shape;
        return [shape[0] ?? null, shape[1] ?? null, shape[2] ?? null, 3];
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.depthToSpace(getInput(inputs) as tf.Tensor4D, scale, 'NHWC');
      }
    }
    tf.serialization.registerClass(PixelShuffle);
    registered.add(className);
  }
}

/** Loads model.json and its shards from disk (TF.js's own loaders want URLs or tfjs-node). */
export async function loadTfjsModel(modelJsonPath: string): Promise<TfLayersModel> {
  const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  const artifacts = await tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      for (const path of group.paths) {
        const bytes = await readFile(join(dirname(modelJsonPath), path));
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      }
    }
    return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
  });
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** NCHW [1, C, H, W] → NHWC. */
export function nchwToNhwc(data: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < height * width; i++) out[i * channels + c] = data[c * height * width + i] as number;
  }
  return out;
}

/** NHWC [1, H, W, C] → NCHW. */
export function nhwcToNchw(data: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < height * width; i++) out[c * height * width + i] = data[i * channels + c] as number;
  }
  return out;
}

/** Runs the TF.js model on one NCHW image and returns its output as NCHW, with the output's dims. */
export async function predictNchw(
  model: TfLayersModel,
  data: Float32Array,
  [channels, height, width]: readonly [number, number, number],
): Promise<{ data: Float32Array; dims: [number, number, number, number] }> {
  const input = tf.tensor4d(nchwToNhwc(data, channels, height, width), [1, height, width, channels]);
  const output = model.predict(input) as tf.Tensor;
  try {
    const [n = 0, h = 0, w = 0, c = 0] = output.shape;
    return { data: nhwcToNchw((await output.data()) as Float32Array, c, h, w), dims: [n, c, h, w] };
  } finally {
    input.dispose();
    output.dispose();
  }
}

// ---- generated layers models ------------------------------------------------------------------------------------

/** A weight to store: name as TF.js writes it (`layer/kernel`), Keras dimension order. */
export interface WeightEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Keras 2 layer JSON as tfjs-converter writes it. */
export interface KerasLayerJson {
  readonly class_name: string;
  readonly config: Record<string, unknown>;
  readonly name: string;
  readonly inbound_nodes: unknown[];
}

/**
 * Builds a Functional layers model in the Keras 2 format of the UpscalerJS packages.
 *
 * @example
 * const m = new LayersModelBuilder(3);
 * const y = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [m.input], { kernel: [[3, 3, 3, 3], k], bias: [[3], b] });
 * await m.write(dir, y);
 */
export class LayersModelBuilder {
  readonly input = 'input_1';
  readonly layers: KerasLayerJson[] = [];
  readonly weights: WeightEntry[] = [];

  constructor(channels: number) {
    this.layers.push({
      class_name: 'InputLayer',
      config: { batch_input_shape: [null, null, null, channels], dtype: 'float32', sparse: false, ragged: false, name: this.input },
      name: this.input,
      inbound_nodes: [],
    });
  }

  /** Adds a layer reading `inputs` (layer names); returns its name. Weights: param → [shape, data]. */
  layer(className: string, config: Record<string, unknown>, inputs: readonly string[], weights: Record<string, readonly [readonly number[], Float32Array]> = {}): string {
    const name = (config['name'] as string | undefined) ?? `${className.toLowerCase()}_${this.layers.length}`;
    const defaults = className === 'Conv2D' ? { strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true } : {};
    this.layers.push({
      class_name: className,
      config: { name, trainable: true, dtype: 'float32', ...defaults, ...config },
      name,
      inbound_nodes: [inputs.map((input) => [input, 0, 0, {}])],
    });
    for (const [param, [shape, data]] of Object.entries(weights)) this.weights.push({ name: `${name}/${param}`, shape, data });
    return name;
  }

  /** The model.json object and the concatenated weight bytes. */
  toJson(output: string, shard = 'group1-shard1of1.bin'): { json: Record<string, unknown>; bin: Uint8Array } {
    const json = {
      format: 'layers-model',
      generatedBy: 'keras v2.10.0',
      convertedBy: 'TensorFlow.js Converter v1.2.6',
      modelTopology: {
        keras_version: '2.10.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Functional',
          config: { name: 'generated', layers: this.layers, input_layers: [[this.input, 0, 0]], output_layers: [[output, 0, 0]] },
        },
      },
      weightsManifest: [{ paths: [shard], weights: this.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
    };
    return { json, bin: concatFloats(this.weights.map((w) => w.data)) };
  }

  /** Writes model.json and its shard into `dir`; returns the model.json path. */
  async write(dir: string, output: string): Promise<string> {
    const { json, bin } = this.toJson(output);
    return writeLayersModel(dir, json, [bin]);
  }
}

/** Writes a model.json and shard files (named as its first manifest group lists them) into `dir`. */
export async function writeLayersModel(dir: string, json: Record<string, unknown>, shards: readonly Uint8Array[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  const manifest = json['weightsManifest'] as { paths: string[] }[] | undefined;
  const paths = manifest?.flatMap((g) => g.paths) ?? [];
  for (const [i, bytes] of shards.entries()) await writeFile(join(dir, paths[i] ?? `extra-${i}.bin`), bytes);
  const path = join(dir, 'model.json');
  await writeFile(path, JSON.stringify(json));
  return path;
}

function concatFloats(arrays: readonly Float32Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.byteLength, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset += a.byteLength;
  }
  return out;
}

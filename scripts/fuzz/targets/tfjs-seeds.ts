/**
 * Tiny TensorFlow.js layers models (model.json + one shard), written by hand so that the fuzzer converts in
 * microseconds what esrgan-slim takes milliseconds for, while covering the layer classes the converter knows.
 */
import { Rng } from '../mutate.js';
import type { FuzzInput } from '../mutate.js';

interface Layer {
  readonly className: string;
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly inputs: readonly string[];
  /** param → shape (weights are generated). */
  readonly weights?: Readonly<Record<string, readonly number[]>>;
}

function layersModel(layers: readonly Layer[], output: string, shard: string, sequential: boolean, seed: number): FuzzInput {
  const rng = new Rng(seed);
  const specs: { name: string; shape: readonly number[]; dtype: 'float32' }[] = [];
  const data: number[] = [];
  for (const layer of layers) {
    for (const [param, shape] of Object.entries(layer.weights ?? {})) {
      specs.push({ name: `${layer.name}/${param}`, shape, dtype: 'float32' });
      const count = shape.reduce((a, b) => a * b, 1);
      for (let i = 0; i < count; i++) data.push((rng.u32() / 4294967296 - 0.5) * 0.2);
    }
  }
  const keras = layers.map((layer) => ({
    class_name: layer.className,
    config: { name: layer.name, trainable: true, dtype: 'float32', ...layer.config },
    name: layer.name,
    inbound_nodes: layer.inputs.length === 0 ? [] : [layer.inputs.map((input) => [input, 0, 0, {}])],
  }));
  const topology = sequential
    ? { class_name: 'Sequential', config: { name: 'tiny', layers: keras.map(({ inbound_nodes: _, ...rest }) => rest) } }
    : {
        class_name: 'Functional',
        config: { name: 'tiny', layers: keras, input_layers: [[layers[0]!.name, 0, 0]], output_layers: [[output, 0, 0]] },
      };
  const json = {
    format: 'layers-model',
    generatedBy: 'keras v2.10.0',
    convertedBy: 'TensorFlow.js Converter v1.2.6',
    modelTopology: { keras_version: '2.10.0', backend: 'tensorflow', model_config: topology },
    weightsManifest: [{ paths: [shard], weights: specs }],
  };
  return [new TextEncoder().encode(JSON.stringify(json)), new Uint8Array(Float32Array.from(data).buffer)];
}

const input = (channels: number): Layer => ({
  className: 'InputLayer',
  name: 'input_1',
  config: { batch_input_shape: [null, null, null, channels], sparse: false, ragged: false },
  inputs: [],
});

const conv = (name: string, from: string, cin: number, filters: number, extra: Record<string, unknown> = {}): Layer => ({
  className: 'Conv2D',
  name,
  config: { filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true, ...extra },
  inputs: [from],
  weights: { kernel: [3, 3, cin, filters], bias: [filters] },
});

/** Three models: x2 (PixelShuffle + nearest skip, Add, LeakyReLU), x3 (Concatenate, MultiplyBeta, PReLU), Sequential x2. */
export function tinyLayersModels(shard: string): FuzzInput[] {
  const x2 = layersModel(
    [
      input(3),
      conv('conv_a', 'input_1', 3, 4),
      { className: 'LeakyReLU', name: 'leaky', config: { alpha: 0.2 }, inputs: ['conv_a'] },
      conv('conv_b', 'leaky', 4, 12),
      { className: 'PixelShuffle2x', name: 'shuffle', config: {}, inputs: ['conv_b'] },
      { className: 'UpSampling2D', name: 'up', config: { size: [2, 2], interpolation: 'nearest', data_format: 'channels_last' }, inputs: ['input_1'] },
      { className: 'Add', name: 'add', config: {}, inputs: ['shuffle', 'up'] },
    ],
    'add',
    shard,
    false,
    1,
  );
  const x3 = layersModel(
    [
      input(3),
      conv('conv_a', 'input_1', 3, 2, { activation: 'relu', dilation_rate: [2, 2] }),
      { className: 'PReLU', name: 'prelu', config: { shared_axes: [1, 2] }, inputs: ['conv_a'], weights: { alpha: [1, 1, 2] } },
      { className: 'Concatenate', name: 'concat', config: { axis: -1 }, inputs: ['input_1', 'prelu'] },
      conv('conv_b', 'concat', 5, 27),
      { className: 'MultiplyBeta', name: 'beta', config: {}, inputs: ['conv_b'] },
      { className: 'PixelShuffle', name: 'shuffle', config: { scale: 3 }, inputs: ['beta'] },
      { className: 'Activation', name: 'act', config: { activation: 'sigmoid' }, inputs: ['shuffle'] },
    ],
    'act',
    shard,
    false,
    2,
  );
  const sequential = layersModel(
    [
      input(3),
      conv('conv_a', 'input_1', 3, 3),
      { className: 'ReLU', name: 'relu', config: { max_value: 6 }, inputs: ['conv_a'] },
      { className: 'UpSampling2D', name: 'up', config: { size: 2, interpolation: 'nearest' }, inputs: ['relu'] },
      conv('conv_b', 'up', 3, 3),
    ],
    'conv_b',
    shard,
    true,
    3,
  );
  return [x2, x3, sequential];
}

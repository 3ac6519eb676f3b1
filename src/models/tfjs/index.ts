/** TensorFlow.js layers models (Keras topology + float32 weight shards) converted to ONNX, without TensorFlow. */
export { readLayersModel } from './read.js';
export type { KerasModelConfig, LayersModel, WeightTensor } from './read.js';
export { convertLayersModel, MAX_TILE_OVERLAP } from './convert.js';
export type { ConvertOptions, ConvertedModel } from './convert.js';
export { LAYER_CONVERTERS, layerConverter } from './layers.js';
export type { LayerContext, LayerConverter, Value } from './layers.js';
export { ACTIVATION_NAMES } from './activations.js';

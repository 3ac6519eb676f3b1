/** ONNX without onnxruntime: protobuf encoding, a graph builder for fixtures and importers, and a model reader. */
export { GraphBuilder, attr, int64s, TENSOR_DATA_TYPES } from './builder.js';
export type { AttributeValue, Attributes, Dim, ModelOptions, NodeOptions, TensorData, TensorElemType, TensorValue } from './builder.js';
export { readOnnxInfo } from './reader.js';
export type { OnnxDim, OnnxModelInfo, OnnxValueInfo } from './reader.js';
export { ProtoReader, ProtoWriter, WireType, float32Bytes, int64Bytes } from './protobuf.js';
export type { ProtoField } from './protobuf.js';

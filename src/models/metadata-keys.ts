/** ONNX `metadata_props` keys through which a model file describes itself to the pipeline (no native code here). */
export const METADATA_KEYS = {
  scale: 'upscale.scale',
  range: 'upscale.range',
  receptiveField: 'upscale.receptive_field',
  sizeMultiple: 'upscale.size_multiple',
  name: 'upscale.name',
  /** Working memory estimate per input pixel of a tile, in bytes: picks the auto tile size. */
  bytesPerInputPixel: 'upscale.bytes_per_input_pixel',
} as const;

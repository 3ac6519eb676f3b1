/** ONNX `metadata_props` keys through which a model file describes itself to the pipeline (no native code here). */
export const METADATA_KEYS = {
  scale: 'upscale.scale',
  range: 'upscale.range',
  receptiveField: 'upscale.receptive_field',
  sizeMultiple: 'upscale.size_multiple',
  name: 'upscale.name',
  /** Working memory estimate per input pixel of a tile, in bytes: picks the auto tile size. */
  bytesPerInputPixel: 'upscale.bytes_per_input_pixel',
  /** `false` for a network that looks at the whole image (global pooling): tiles change its result. */
  tilingSafe: 'upscale.tiling_safe',
  /**
   * Tiles must start on multiples of this (strided convolutions, pooling): a network that pads its input to its own
   * multiple inside the graph sees its strided layers at another phase otherwise. Absent means 1.
   */
  tileAlignment: 'upscale.tile_alignment',
} as const;

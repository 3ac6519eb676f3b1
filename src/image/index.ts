/** Image I/O: decoding files to rasters and encoding rasters with their metadata. The only module importing sharp. */
export { decodeImage, readImageFile } from './decode.js';
export type { DecodeOptions, DecodedImage } from './decode.js';
export { probeImage } from './probe.js';
export type { ImageHeader } from './probe.js';
export { encodeImage, normalizeEncodeOptions } from './encode.js';
export type { EncodeOptions, NormalizedEncodeOptions, TiffCompression } from './encode.js';
export {
  INPUT_FORMATS,
  OUTPUT_FORMATS,
  MAX_DIMENSION,
  FILE_FORMATS,
  describeContent,
  extensionFor,
  fileFormatFromPath,
  isFileFormat,
  formatName,
  isOutputFormat,
  mimeTypeFor,
  outputFormatFromPath,
  sniffFormat,
} from './formats.js';
export type { AnimationFormat, FileFormat, InputFormat, OutputFormat } from './formats.js';
export { countFrames, createAnimationEncoder, decodeAnimation } from './animation.js';
export type { AnimationEncodeOptions, AnimationEncoder, DecodedAnimation } from './animation.js';
export type { ImageMetadata, MetadataInput } from './metadata/blocks.js';
export { colourChannels, createRaster, hasAlpha, maxSample } from './raster.js';
export type { Channels, Depth, Raster, SampleArray } from './raster.js';

// The public API: everything a user of the library can import, and nothing else.
export { createUpscaler } from './upscaler.js';
export type { Upscaler, UpscalerOptions, UpscaleOptions, UpscaleFileOptions, UpscaleFileResult } from './upscaler.js';
export type { UpscaleProgress } from './pipeline/upscale-raster.js';
export type { SizeRequest, Size } from './pipeline/size.js';
export { UpscaleError, isUpscaleError } from './errors.js';
export type { UpscaleErrorCode } from './errors.js';
export type { Raster, Depth, Channels } from './image/raster.js';
export { decodeImage, encodeImage } from './image/index.js';
export type { OutputFormat, ImageMetadata } from './image/index.js';
export { resize, imresizeMatlab } from './resample/index.js';
export type { ResampleKernel } from './resample/index.js';
export { psnrY, ssimY } from './metrics/index.js';
export { listModels, DEFAULT_MODEL } from './models/registry.js';
export type { ModelDescriptor } from './models/types.js';
export { VERSION } from './version.js';
export { evaluate } from './eval/index.js';
export type { EvalOptions, EvalReport } from './eval/index.js';

export { resize } from './resize.js';
export type { ResizeOptions } from './resize.js';
export { imresizeMatlab } from './matlab.js';
export { contributions, cubic, lanczos3, triangle, RESAMPLE_KERNELS } from './kernels.js';
export type { ContributionTable, ResampleKernel } from './kernels.js';

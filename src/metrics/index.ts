export { psnr, psnrY, ssimY, toY } from './quality.js';
export { cropToMultiple } from './protocol.js';
export { niqe, NIQE_BLOCK_SIZE } from './niqe.js';
export type { LumaPlane, NiqeOptions } from './niqe.js';

export { psnr, psnrY, ssimY, toY } from './quality.js';
export { cropToMultiple } from './protocol.js';

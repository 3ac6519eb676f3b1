export { psnr, psnrY, ssimY, toY } from './quality.js';

/**
 * The pretrained ESRGAN models published on npm by the UpscalerJS project (MIT licence): TensorFlow.js layers
 * models, converted to ONNX on first use and cached. Figures are our own measurements: quality with
 * `upscale eval` (docs/quality.md); parameters of the x4 variant; speed in seconds per output megapixel at x4, from
 * `upscale eval` on Set14 x4 on the 2-core reference machine (docs/performance.md has `npm run bench`'s figures).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UpscaleError } from '../../errors.js';
import type { ModelDescriptor } from '../types.js';

export interface UpscalerJsFamily {
  readonly package: string;
  /** The value white maps to in the network's input and output (UpscalerJS `inputRange`). */
  readonly range: 1 | 255;
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** Tile overlap in input pixels: measured, tiled output equals the whole-image output within 1/255 from 6 to 9
   * pixels on photos and noise (the theoretical receptive field is 10, 18 and 154); this adds a margin. */
  readonly overlap: number;
}

const LICENSE = 'MIT (UpscalerJS, Kevin Scott)';

export const UPSCALERJS_FAMILIES: readonly UpscalerJsFamily[] = [
  {
    package: '@upscalerjs/esrgan-slim',
    range: 255,
    overlap: 12,
    descriptor: {
      id: 'esrgan-slim',
      name: 'ESRGAN slim (UpscalerJS)',
      kind: 'network',
      scale: 4,
      scales: [2, 3, 4, 8],
      aliases: ['slim'],
      description: 'RDN, 2 dense blocks of one 4-channel conv, 64 features: the fastest UpscalerJS network, a little sharper than bicubic at x4',
      suits: 'photos, when speed matters most',
      license: LICENSE,
      source: '@upscalerjs/esrgan-slim 1.0.0',
      parameters: 233_451,
      quality: {
        'Set5 x2': { psnr: 33.52, ssim: 0.9288 },
        'Set5 x3': { psnr: 30.84, ssim: 0.8766 },
        'Set5 x4': { psnr: 28.60, ssim: 0.8135 },
        'Set14 x2': { psnr: 30.23, ssim: 0.8664 },
        'Set14 x3': { psnr: 28.05, ssim: 0.7860 },
        'Set14 x4': { psnr: 26.27, ssim: 0.7107 },
      },
      secondsPerMegapixel: 0.35,
    },
  },
  {
    package: '@upscalerjs/esrgan-medium',
    range: 255,
    overlap: 12,
    descriptor: {
      id: 'esrgan-medium',
      name: 'ESRGAN medium (UpscalerJS)',
      kind: 'network',
      scale: 4,
      scales: [2, 3, 4, 8],
      aliases: ['medium'],
      description: 'RDN, 10 dense blocks of one 64-channel conv: a little better than slim',
      suits: 'photos',
      license: LICENSE,
      source: '@upscalerjs/esrgan-medium 1.0.0',
      parameters: 704_611,
      quality: {
        'Set5 x2': { psnr: 33.63, ssim: 0.9289 },
        'Set5 x3': { psnr: 31.10, ssim: 0.8808 },
        'Set5 x4': { psnr: 28.74, ssim: 0.8170 },
        'Set14 x2': { psnr: 30.29, ssim: 0.8669 },
        'Set14 x3': { psnr: 28.23, ssim: 0.7915 },
        'Set14 x4': { psnr: 26.36, ssim: 0.7127 },
      },
      secondsPerMegapixel: 0.69,
    },
  },
  {
    package: '@upscalerjs/esrgan-thick',
    range: 1,
    overlap: 12,
    descriptor: {
      id: 'esrgan-thick',
      name: 'ESRGAN thick (UpscalerJS)',
      kind: 'network',
      scale: 4,
      scales: [2, 3, 4, 8],
      aliases: ['thick'],
      description: 'RRDN, 10 residual-in-residual blocks of 3 dense blocks (5 convs, 32 channels): the best UpscalerJS network, 10x slower than medium',
      suits: 'photos, when quality matters more than time',
      license: LICENSE,
      source: '@upscalerjs/esrgan-thick 1.0.0',
      parameters: 7_260_740,
      quality: {
        'Set5 x2': { psnr: 33.95, ssim: 0.9329 },
        'Set5 x3': { psnr: 31.78, ssim: 0.8957 },
        'Set5 x4': { psnr: 29.94, ssim: 0.8522 },
        'Set14 x2': { psnr: 30.57, ssim: 0.8712 },
        'Set14 x3': { psnr: 28.67, ssim: 0.8024 },
        'Set14 x4': { psnr: 27.16, ssim: 0.7408 },
      },
      secondsPerMegapixel: 5.9,
    },
  },
];

/**
 * Absolute path of `models/x{scale}/model.json` in a family's package. The packages' `exports` hide package.json
 * and the models folder from `require.resolve`, so this looks in the directories Node would search.
 */
export function modelJsonPath(family: UpscalerJsFamily, scale: number): string {
  const dirs = createRequire(import.meta.url).resolve.paths(family.package) ?? [];
  for (const dir of dirs) {
    if (existsSync(join(dir, family.package, 'package.json'))) return join(dir, family.package, 'models', `x${scale}`, 'model.json');
  }
  throw new UpscaleError('MODEL_NOT_FOUND', `package ${family.package} is not installed (run npm ci)`);
}

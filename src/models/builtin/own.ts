/**
 * Our own models: trained by training/ (PyTorch), exported to ONNX and shipped in models/ with a model card each.
 * Figures are measured with `upscale eval` and `npm run bench` on the 2-core reference machine.
 */
import { readFile } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import type { SessionOptions } from '../../runtime/onnx.js';
import { loadVariantBytes } from './variant.js';
import type { ModelDescriptor, NetworkModel } from '../types.js';

export interface OwnFamily {
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** ONNX file per native scale, in models/ at the package root. */
  readonly files: Readonly<Record<number, string>>;
}

export const OWN_FAMILIES: readonly OwnFamily[] = [
  {
    files: { 2: 'fast-x2.onnx', 4: 'fast-x4.onnx' },
    descriptor: {
      id: 'fast',
      name: 'fast (upscale)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      description: 'Our own compact CNN (8 convs, 32 features): better than every other built-in model, and the fastest',
      suits: 'clean photos and graphics; it sharpens, it does not denoise',
      license: 'MIT (this project), trained on ../shared/train',
      source: 'models/fast-x2.onnx, models/fast-x4.onnx (model cards beside them)',
      parameters: 70_256,
      quality: {
        'Set5 x2': { psnr: 37.01, ssim: 0.9565 },
        'Set5 x3': { psnr: 33.08, ssim: 0.9155 },
        'Set5 x4': { psnr: 30.81, ssim: 0.8725 },
        'Set14 x2': { psnr: 32.7, ssim: 0.9094 },
        'Set14 x3': { psnr: 29.54, ssim: 0.8273 },
        'Set14 x4': { psnr: 27.78, ssim: 0.7613 },
      },
      secondsPerMegapixel: 0.11,
    },
  },
];

export async function loadOwn(family: OwnFamily, scale: number, options: SessionOptions): Promise<NetworkModel> {
  const id = `${family.descriptor.id}-x${scale}`;
  const file = family.files[scale];
  if (file === undefined) throw new UpscaleError('MODEL_NOT_FOUND', `${family.descriptor.id} has no x${scale} network`);
  // models/ sits at the package root, one level above both src/ and dist/.
  const url = new URL(`../../../models/${file}`, import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(url));
  } catch (error) {
    throw new UpscaleError('MODEL_NOT_FOUND', `weights of ${id} are missing (${url.pathname}); reinstall the package`, { cause: error });
  }
  return loadVariantBytes(bytes, family.descriptor, scale, options);
}

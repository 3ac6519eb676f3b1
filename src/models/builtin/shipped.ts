/**
 * Our own models: trained by training/ (PyTorch), exported to ONNX and shipped in models/ with a model card each.
 * Figures are measured with `upscale eval` and `npm run bench` on the 2-core reference machine.
 */
import { readFile } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import { interpolateOnnxWeights } from '../../onnx/interpolate.js';
import type { SessionOptions } from '../../runtime/onnx.js';
import { withSelfEnsemble } from '../self-ensemble.js';
import { loadVariantBytes } from './variant.js';
import type { ModelDescriptor, NetworkModel } from '../types.js';

export interface OwnFamily {
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** ONNX file per native scale, in models/ at the package root. */
  readonly files: Readonly<Record<number, string>>;
  /**
   * For a family with a denoise strength: the network at strength 0 per scale, same graph as `files` (strength 1).
   * A strength in between blends the two networks' weights (DNI, onnx/interpolate.ts).
   */
  readonly denoiseBase?: Readonly<Record<number, string>>;
  /** Run as the mean of the network's 8 flipped and rotated predictions (self-ensemble.ts). */
  readonly selfEnsemble?: boolean;
}

export const OWN_FAMILIES: readonly OwnFamily[] = [
  {
    // Strength 1 is the 32-feature fast x4 fine-tuned on realistic degradations; strength 0 is that fast x4 itself
    // (same graph), so any strength between is one blend of the two (models/photo-x4.md).
    files: { 4: 'photo-x4.onnx' },
    denoiseBase: { 4: 'photo-x4-base.onnx' },
    descriptor: {
      id: 'photo',
      name: 'photo (upscale)',
      kind: 'network',
      scale: 4,
      scales: [4],
      description: 'Our own compact CNN for real photos: removes noise, blur and JPEG blocks as it enlarges, by a denoise strength 0..1',
      suits: 'real photos: old digicam and phone shots, web JPEGs, scans',
      license: 'MIT (this project), trained on ../shared/train',
      source: 'models/photo-x4.onnx, models/photo-x4-base.onnx (model card models/photo-x4.md)',
      parameters: 70_256,
      denoise: 0.5,
      // At the default strength, on the bicubic test sets (which it is not made for: fast is).
      quality: {
        'Set5 x4': { psnr: 30.11, ssim: 0.8518 },
        'Set14 x4': { psnr: 27.38, ssim: 0.7381 },
      },
      secondsPerMegapixel: 0.1,
    },
  },
  {
    files: { 2: 'fast-x2.onnx', 4: 'fast-x4.onnx' },
    descriptor: {
      id: 'fast',
      name: 'fast (upscale)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      description: 'Our own compact CNN (8 convs of 48 features at x4, 32 at x2): sharp on clean images, and fast',
      suits: 'clean photos and graphics; it sharpens, it does not denoise',
      license: 'MIT (this project), trained on ../shared/train',
      source: 'models/fast-x2.onnx, models/fast-x4.onnx (model cards beside them)',
      parameters: 146_832,
      quality: {
        'Set5 x2': { psnr: 37.01, ssim: 0.9565 },
        'Set5 x3': { psnr: 33.16, ssim: 0.9168 },
        'Set5 x4': { psnr: 30.95, ssim: 0.8754 },
        'Set14 x2': { psnr: 32.7, ssim: 0.9094 },
        'Set14 x3': { psnr: 29.61, ssim: 0.8286 },
        'Set14 x4': { psnr: 27.87, ssim: 0.7634 },
      },
      secondsPerMegapixel: 0.17,
    },
  },
  {
    // fast's networks, each run on the 8 flips and rotations of every tile and averaged: 8 times the compute.
    files: { 2: 'fast-x2.onnx', 4: 'fast-x4.onnx' },
    selfEnsemble: true,
    descriptor: {
      id: 'quality',
      name: 'quality (upscale)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      description: 'fast run as a self-ensemble (the mean of its 8 flipped and rotated predictions): our best on clean images, 8 times the time',
      suits: 'clean photos and graphics when a little more quality is worth 8 times the time',
      license: 'MIT (this project), trained on ../shared/train',
      source: 'models/fast-x2.onnx, models/fast-x4.onnx, as a self-ensemble (model card models/quality.md)',
      parameters: 146_832,
      quality: {
        'Set5 x2': { psnr: 37.21, ssim: 0.9574 },
        'Set5 x3': { psnr: 33.42, ssim: 0.9192 },
        'Set5 x4': { psnr: 31.16, ssim: 0.8799 },
        'Set14 x2': { psnr: 32.81, ssim: 0.9104 },
        'Set14 x3': { psnr: 29.74, ssim: 0.8308 },
        'Set14 x4': { psnr: 27.98, ssim: 0.7664 },
      },
      secondsPerMegapixel: 1.6,
    },
  },
];

/** Loads one scale of a family; `denoise` (0..1) only for a family with a denoise strength, else its default. */
export async function loadOwn(family: OwnFamily, scale: number, options: SessionOptions, denoise?: number): Promise<NetworkModel> {
  const id = `${family.descriptor.id}-x${scale}`;
  const file = family.files[scale];
  if (file === undefined) throw new UpscaleError('MODEL_NOT_FOUND', `${family.descriptor.id} has no x${scale} network`);
  const strong = await readWeights(file, id);
  const baseFile = family.denoiseBase?.[scale];
  const strength = denoise ?? family.descriptor.denoise;
  const model =
    baseFile === undefined || strength === undefined
      ? await loadVariantBytes(strong, family.descriptor, scale, options)
      : await loadVariantBytes(interpolateOnnxWeights(await readWeights(baseFile, id), strong, strength), { ...family.descriptor, denoise: strength }, scale, options);
  return family.selfEnsemble ? { ...model, network: withSelfEnsemble(model.network) } : model;
}

async function readWeights(file: string, id: string): Promise<Uint8Array> {
  // models/ sits at the package root, one level above both src/ and dist/.
  const url = new URL(`../../../models/${file}`, import.meta.url);
  try {
    return new Uint8Array(await readFile(url));
  } catch (error) {
    throw new UpscaleError('MODEL_NOT_FOUND', `weights of ${id} are missing (${url.pathname}); reinstall the package`, { cause: error });
  }
}

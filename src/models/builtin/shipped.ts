/**
 * The networks shipped as ONNX files in models/, one family per use: our own (`photo`, `fast`, trained by
 * training/) and the best freely licensed published ones, converted by our own importers from their authors'
 * weights (`quality`, `photo-gan`, `anime`, `anime-fast`; scripts/build-models.ts). Each has a model card in
 * models/ and its licence text in models/LICENSES/. Quality is measured with `upscale eval`; speed is seconds per
 * output megapixel at x4 on the 2-core reference machine (Zen 3, where fast takes 0.17): for the third-party
 * networks, fast's figure times their ratio to fast in one `npm run bench -- models` run (docs/performance.md).
 */
import { readFile } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import { interpolateOnnxWeights } from '../../onnx/interpolate.js';
import type { SessionOptions } from '../../runtime/onnx.js';
import { loadVariantBytes } from './variant.js';
import type { ModelDescriptor, NetworkModel } from '../types.js';

/** How a family's denoise strength 0..1 maps onto its networks. */
export type DenoiseWeights =
  /**
   * A continuous strength: the network at strength 0 per scale, same graph as `files` (strength 1); a strength in
   * between blends the two networks' weights (DNI, onnx/interpolate.ts), as Real-ESRGAN's `-dn` does.
   */
  | { readonly kind: 'blend'; readonly base: Readonly<Record<number, string>> }
  /**
   * Separately trained networks per noise level (Real-CUGAN, waifu2x): the strength picks the nearest level.
   * `files` then holds no network of its own and is unused.
   */
  | { readonly kind: 'levels'; readonly levels: readonly DenoiseLevel[] };

export interface DenoiseLevel {
  readonly strength: number;
  /** The authors' name for the level: `no-denoise`, `conservative`, `denoise3x`. */
  readonly name: string;
  readonly files: Readonly<Record<number, string>>;
}

export interface ShippedFamily {
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** ONNX file per native scale, in models/ at the package root. */
  readonly files: Readonly<Record<number, string>>;
  readonly denoise?: DenoiseWeights;
  /**
   * Tile overlap in input pixels, where the converted file's receptive field (the NCNN importer caps it at 16) is
   * not enough for seamless tiles: measured, the largest tiled-vs-whole difference falls to 1/255 at this overlap.
   */
  readonly overlap?: number;
}

const OURS = 'MIT (this project), trained on ../shared/train';
const REAL_ESRGAN = 'BSD-3-Clause (Real-ESRGAN, Xintao Wang et al.; models/LICENSES/Real-ESRGAN.txt)';
const REAL_CUGAN = 'MIT (Real-CUGAN, bilibili; models/LICENSES/Real-CUGAN.txt)';
const SPAN = 'Apache-2.0 (SPAN, Cheng Wan, Hongyuan Yu et al.; models/LICENSES/SPAN.txt)';

const CUGAN_LEVELS: readonly DenoiseLevel[] = [
  { strength: 0, name: 'no-denoise', files: { 2: 'realcugan-se-x2-no-denoise.onnx', 4: 'realcugan-se-x4-no-denoise.onnx' } },
  { strength: 0.5, name: 'conservative', files: { 2: 'realcugan-se-x2-conservative.onnx', 4: 'realcugan-se-x4-conservative.onnx' } },
  { strength: 1, name: 'denoise3x', files: { 2: 'realcugan-se-x2-denoise3x.onnx', 4: 'realcugan-se-x4-denoise3x.onnx' } },
];

export const SHIPPED_FAMILIES: readonly ShippedFamily[] = [
  {
    // Strength 1 is the 32-feature fast x4 fine-tuned on realistic degradations; strength 0 is that fast x4 itself
    // (same graph), so any strength between is one blend of the two (models/photo-x4.md).
    files: { 4: 'photo-x4.onnx' },
    denoise: { kind: 'blend', base: { 4: 'photo-x4-base.onnx' } },
    descriptor: {
      id: 'photo',
      name: 'photo (upscale)',
      kind: 'network',
      scale: 4,
      scales: [4],
      description: 'Our own compact CNN for real photos: removes noise, blur and JPEG blocks as it enlarges, by a denoise strength 0..1',
      suits: 'real photos when speed matters: old digicam and phone shots, web JPEGs, scans',
      license: OURS,
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
      description: 'Our own compact CNN (8 convs of 48 features at x4, 32 at x2): sharp on clean images, and the fastest network',
      suits: 'clean photos and graphics when speed matters most; it sharpens, it does not denoise',
      license: OURS,
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
    files: { 2: 'span-x2.onnx', 4: 'span-x4.onnx' },
    descriptor: {
      id: 'quality',
      name: 'quality (SPAN)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      aliases: ['span'],
      description: 'SPAN, 48 features (Wan et al., CVPRW 2024; NTIRE 2024 efficient SR winner): the most faithful detail on clean images',
      suits: 'clean photos, renders and graphics: the most accurate enlargement (it sharpens, it does not denoise)',
      license: SPAN,
      source: 'models/span-x2.onnx, models/span-x4.onnx (model card models/quality.md)',
      parameters: 426_291,
      quality: {
        'Set5 x2': { psnr: 38.07, ssim: 0.9607 },
        'Set5 x4': { psnr: 32.2, ssim: 0.8952 },
        'Set14 x2': { psnr: 33.69, ssim: 0.9188 },
        'Set14 x4': { psnr: 28.64, ssim: 0.7827 },
      },
      secondsPerMegapixel: 0.5,
    },
  },
  {
    // Real-ESRGAN's realesr-general-x4v3 (strength 1) and its WDN twin (strength 0), blended as its `-dn` does.
    files: { 4: 'realesr-general-x4v3.onnx' },
    denoise: { kind: 'blend', base: { 4: 'realesr-general-wdn-x4v3.onnx' } },
    // 32 convolutions: 40-px tiles differ from the whole image by up to 6/255 with 16 px of context, 1/255 with 24.
    overlap: 24,
    descriptor: {
      id: 'photo-gan',
      name: 'photo-gan (Real-ESRGAN general v3)',
      kind: 'network',
      scale: 4,
      scales: [4],
      aliases: ['realesr-general-x4v3'],
      description: 'Real-ESRGAN general x4 v3 (Compact, GAN-trained on real degradations): clean edges and plausible texture, with a denoise strength 0..1',
      suits: 'real photos: noisy, blurry, compressed; it invents texture, so not for measurements or documents',
      license: REAL_ESRGAN,
      source: 'models/realesr-general-x4v3.onnx, models/realesr-general-wdn-x4v3.onnx (model card models/photo-gan.md)',
      parameters: 1_213_296,
      denoise: 0.5,
      // A GAN model: PSNR is the wrong yardstick (these figures guard the conversion, not the quality).
      quality: {
        'Set5 x4': { psnr: 26.76, ssim: 0.8154 },
        'Set14 x4': { psnr: 25.43, ssim: 0.7129 },
      },
      secondsPerMegapixel: 1.4,
    },
  },
  {
    files: {},
    denoise: { kind: 'levels', levels: CUGAN_LEVELS },
    descriptor: {
      id: 'anime',
      name: 'anime (Real-CUGAN se)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      aliases: ['realcugan'],
      description: 'Real-CUGAN se (bilibili): anime and illustrations, with three denoise levels (0 none, 0.5 conservative, 1 denoise3x)',
      suits: 'anime, manga, illustrations, drawn art and their JPEGs',
      license: REAL_CUGAN,
      source: 'models/realcugan-se-x{2,4}-{no-denoise,conservative,denoise3x}.onnx (model card models/anime.md)',
      parameters: 1_406_812,
      denoise: 0,
      denoiseLevels: CUGAN_LEVELS.map((level) => level.strength),
      // Trained for anime, at the default level (no-denoise): these figures guard the conversion, not the quality.
      quality: {
        'Set5 x2': { psnr: 30.87, ssim: 0.9036 },
        'Set5 x4': { psnr: 27.51, ssim: 0.8259 },
        'Set14 x2': { psnr: 29.0, ssim: 0.8336 },
        'Set14 x4': { psnr: 26.17, ssim: 0.7173 },
      },
      secondsPerMegapixel: 1.6,
    },
  },
  {
    files: { 2: 'realesr-animevideov3-x2.onnx', 4: 'realesr-animevideov3-x4.onnx' },
    descriptor: {
      id: 'anime-fast',
      name: 'anime-fast (Real-ESRGAN animevideo v3)',
      kind: 'network',
      scale: 4,
      scales: [2, 4],
      aliases: ['realesr-animevideov3'],
      description: 'Real-ESRGAN animevideo v3 (Compact, 16 convs): anime at video speed',
      suits: 'anime video and large batches of drawn art',
      license: REAL_ESRGAN,
      source: 'models/realesr-animevideov3-x2.onnx, models/realesr-animevideov3-x4.onnx (model card models/anime-fast.md)',
      parameters: 621_424,
      // Trained for anime: these figures guard the conversion, they do not rank it on photos.
      quality: {
        'Set5 x2': { psnr: 31.68, ssim: 0.9152 },
        'Set5 x4': { psnr: 28.25, ssim: 0.8271 },
        'Set14 x2': { psnr: 29.39, ssim: 0.8598 },
        'Set14 x4': { psnr: 26.12, ssim: 0.7135 },
      },
      secondsPerMegapixel: 0.8,
    },
  },
];

/** The level of a levels family nearest to `strength` (ties go to the gentler one). */
export function nearestLevel(levels: readonly DenoiseLevel[], strength: number): DenoiseLevel {
  let best = levels[0]!;
  for (const level of levels) if (Math.abs(level.strength - strength) < Math.abs(best.strength - strength)) best = level;
  return best;
}

/** The strength a family actually runs at for the strength asked: the nearest level for a levels family. */
export function effectiveStrength(family: ShippedFamily, denoise: number | undefined): number | undefined {
  const asked = denoise ?? family.descriptor.denoise;
  if (asked === undefined || family.denoise?.kind !== 'levels') return asked;
  return nearestLevel(family.denoise.levels, asked).strength;
}

/** Loads one scale of a family; `denoise` (0..1) only for a family with a denoise strength, else its default. */
export async function loadShipped(family: ShippedFamily, scale: number, options: SessionOptions, denoise?: number): Promise<NetworkModel> {
  const model = await loadNetwork(family, scale, options, denoise);
  return family.overlap === undefined ? model : { ...model, network: { ...model.network, receptiveField: family.overlap } };
}

async function loadNetwork(family: ShippedFamily, scale: number, options: SessionOptions, denoise?: number): Promise<NetworkModel> {
  const id = `${family.descriptor.id}-x${scale}`;
  if (!family.descriptor.scales.includes(scale)) throw new UpscaleError('MODEL_NOT_FOUND', `${family.descriptor.id} has no x${scale} network`);
  const strength = effectiveStrength(family, denoise);
  const weights = family.denoise;
  if (weights?.kind === 'levels') {
    const level = nearestLevel(weights.levels, strength ?? 0);
    const descriptor = { ...family.descriptor, denoise: level.strength, description: `${family.descriptor.description}; level ${level.name}` };
    return loadVariantBytes(await readWeights(networkFile(level.files, scale, id), id), descriptor, scale, options);
  }
  const strong = await readWeights(networkFile(family.files, scale, id), id);
  const baseFile = weights?.base[scale];
  if (baseFile === undefined || strength === undefined) return loadVariantBytes(strong, family.descriptor, scale, options);
  const blended = interpolateOnnxWeights(await readWeights(baseFile, id), strong, strength);
  return loadVariantBytes(blended, { ...family.descriptor, denoise: strength }, scale, options);
}

function networkFile(files: Readonly<Record<number, string>>, scale: number, id: string): string {
  const file = files[scale];
  if (file === undefined) throw new UpscaleError('MODEL_NOT_FOUND', `${id} has no network file`);
  return file;
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

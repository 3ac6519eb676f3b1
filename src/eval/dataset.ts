/**
 * Evaluation datasets: the ground-truth (HR) images of a directory, paired with ready-made low-resolution (LR)
 * images when there are some, and each pair prepared by the standard protocol (../shared/eval/README.md):
 * decoded to 8 bits, HR cropped top-left to a multiple of the scale, LR = MATLAB bicubic `imresize` of that crop.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { UpscaleError } from '../errors.js';
import { decodeImage } from '../image/index.js';
import type { Raster } from '../image/raster.js';
import { cropToMultiple } from '../metrics/index.js';
import { imresizeMatlab } from '../resample/index.js';

/** File extensions taken as images in a dataset directory (case-insensitive); other files are ignored. */
export const DATASET_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif', '.heic', '.heif', '.gif'];

/** SSIM's window edge: an image must keep at least this much after the border is shaved. */
const SSIM_WINDOW = 11;

/** One image of a dataset, before decoding. */
export interface DatasetImage {
  /** The HR file's name without its extension (`baby`): how the image is reported. */
  readonly name: string;
  /** Path of the ground-truth (HR) image. */
  readonly hr: string;
  /** Path of its ready-made LR image, when an LR directory was given. */
  readonly lr?: string;
}

/** A pair ready to evaluate: 8-bit rasters, `hr` a multiple of the scale and exactly `scale` times `lr`. */
export interface PreparedPair {
  readonly name: string;
  readonly hr: Raster;
  readonly lr: Raster;
}

export interface ListDatasetOptions {
  /** The integer enlargement factor, used to find LR files named `<name>x<scale>`. */
  scale: number;
  /** Directory of ready-made LR images; without it, none are paired. */
  lr?: string | undefined;
}

/**
 * Lists the images of a dataset directory (not recursive; hidden files and non-image extensions skipped), sorted
 * by name (`grey` before `grey-rgb`), and pairs each with its LR file when `lr` is given. An LR image for `baby.png` is named
 * `baby.<ext>` or `babyx4.<ext>` at x4 (the `LR_bicubic/X4` layout of Set5/Set14, DIV2K), any image extension,
 * letter case ignored.
 *
 * @throws UpscaleError INPUT_NOT_FOUND (no such directory, no images, no LR file for an image) or
 *   INPUT_UNSUPPORTED (not a directory, names that clash), each naming the directory or file.
 * @example
 * const images = listDataset('../shared/eval/Set5/HR', { scale: 4, lr: '../shared/eval/Set5/LR_bicubic/X4' });
 */
export function listDataset(dataset: string, options: ListDatasetOptions): DatasetImage[] {
  const hrFiles = listImageFiles(dataset, 'HR');
  if (hrFiles.length === 0) {
    throw new UpscaleError('INPUT_NOT_FOUND', `no images in the directory (expected ${extensionList()} files)`, { file: dataset });
  }
  const byName = new Map<string, string>();
  for (const file of hrFiles) {
    const name = stem(file);
    const other = byName.get(name.toLowerCase());
    if (other !== undefined) {
      throw new UpscaleError('INPUT_UNSUPPORTED', `two images named "${name}" (${other}, ${file}); image names must be unique`, { file: dataset });
    }
    byName.set(name.toLowerCase(), file);
  }
  const lrDir = options.lr;
  const lrFiles = lrDir === undefined ? [] : listImageFiles(lrDir, 'LR');
  return hrFiles.map((file) => {
    const name = stem(file);
    const image: DatasetImage = { name, hr: join(dataset, file) };
    if (lrDir === undefined) return image;
    return { ...image, lr: join(lrDir, findLowRes(lrFiles, file, lrDir, options.scale)) };
  });
}

/**
 * Decodes a dataset image and makes its pair: HR reduced to 8 bits (16-bit files are rounded, `v / 257`) and
 * cropped top-left to a multiple of `scale`; LR decoded from `image.lr` and checked to be exactly HR / `scale`, or
 * else made with {@link imresizeMatlab}. Grey stays one channel (the metrics read it as R = G = B).
 *
 * @throws UpscaleError for undecodable files (naming them), an LR file of the wrong size, or an image too small
 *   to measure (SSIM needs 11x11 pixels left after shaving `scale` from every border).
 */
export async function preparePair(image: DatasetImage, scale: number): Promise<PreparedPair> {
  const original = await loadImage8(image.hr);
  const hr = cropToMultiple(original, scale);
  const minimum = SSIM_WINDOW + 2 * scale;
  if (hr.width < minimum || hr.height < minimum) {
    const cropped = hr === original ? '' : ` (${hr.width}x${hr.height} once cropped to a multiple of ${scale})`;
    throw new UpscaleError(
      'INPUT_UNSUPPORTED',
      `image is ${original.width}x${original.height}${cropped}, too small to evaluate at x${scale}: at least ${minimum}x${minimum} is needed (the 11x11 SSIM window after shaving ${scale} pixels per border)`,
      { file: image.hr },
    );
  }
  const width = hr.width / scale;
  const height = hr.height / scale;
  if (image.lr === undefined) return { name: image.name, hr, lr: imresizeMatlab(hr, width, height) };
  const lr = await loadImage8(image.lr);
  if (lr.width !== width || lr.height !== height) {
    const crop = hr === original ? `${hr.width}x${hr.height}` : `${original.width}x${original.height} cropped to ${hr.width}x${hr.height}`;
    throw new UpscaleError(
      'INPUT_UNSUPPORTED',
      `LR image is ${lr.width}x${lr.height}, expected ${width}x${height} (HR ${image.hr} is ${crop}, divided by ${scale})`,
      { file: image.lr },
    );
  }
  return { name: image.name, hr, lr };
}

/** Image file names in `dir`, sorted by name then extension, by code point so that the order is the same everywhere. */
function listImageFiles(dir: string, role: 'HR' | 'LR'): string[] {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    throw new UpscaleError('INPUT_NOT_FOUND', `no such directory, expected a directory of ${role} images`, { file: dir });
  }
  if (!isDirectory) throw new UpscaleError('INPUT_UNSUPPORTED', `not a directory, expected a directory of ${role} images`, { file: dir });
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !entry.name.startsWith('.') && !entry.isDirectory() && DATASET_EXTENSIONS.includes(extname(entry.name).toLowerCase()))
    .map((entry) => entry.name)
    .sort((a, b) => compare(stem(a), stem(b)) || compare(a, b));
}

/** The LR file of HR file `hrFile`: `<name>.<ext>` or `<name>x<scale>.<ext>`; exactly one must exist. */
function findLowRes(lrFiles: readonly string[], hrFile: string, lrDir: string, scale: number): string {
  const name = stem(hrFile);
  const wanted = new Set([name.toLowerCase(), `${name}x${scale}`.toLowerCase()]);
  const found = lrFiles.filter((file) => wanted.has(stem(file).toLowerCase()));
  const ext = extname(hrFile);
  if (found.length === 0) {
    throw new UpscaleError(
      'INPUT_NOT_FOUND',
      `no LR image for ${hrFile} (expected ${name}${ext} or ${name}x${scale}${ext}, any image extension)`,
      { file: lrDir },
    );
  }
  if (found.length > 1) {
    throw new UpscaleError('INPUT_UNSUPPORTED', `several LR images for ${hrFile} (${found.join(', ')}); keep one`, { file: lrDir });
  }
  return found[0] as string;
}

async function loadImage8(path: string): Promise<Raster> {
  const { raster } = await decodeImage(path, { maxPixels: Infinity, file: path });
  if (raster.depth === 8) return raster;
  const data = new Uint8Array(raster.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round((raster.data[i] as number) / 257);
  return { width: raster.width, height: raster.height, channels: raster.channels, depth: 8, data };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function stem(file: string): string {
  return file.slice(0, file.length - extname(file).length);
}

function extensionList(): string {
  return DATASET_EXTENSIONS.map((e) => e.slice(1)).join(', ');
}

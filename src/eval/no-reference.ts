/**
 * evaluateNoReference(): models on real low-resolution images that have no ground truth (old photos, web JPEGs):
 * each image is enlarged by `scale` and its output scored with NIQE (no reference; lower is better). This is how
 * the `photo` model is judged, next to crops that people look at (docs/quality.md).
 */
import { throwIfAborted, UpscaleError } from '../errors.js';
import { decodeImage } from '../image/index.js';
import type { Upscaler } from '../upscaler.js';
import { listDataset } from './dataset.js';
import { MAX_EVAL_SCALE, MIN_EVAL_SCALE, modelLabel, scoreNiqe, to8Bit, upscalerFor } from './evaluate.js';

export interface NoReferenceOptions {
  /** Directory of the low-resolution images to enlarge. */
  inputs: string;
  /** Enlargement factor, an integer from 2 to 8. */
  scale: number;
  /** Models, in order: anything `createUpscaler({ model })` accepts. */
  models: readonly string[];
  /** Denoise strength for the models that have one (`photo`, `photo-gan`, `anime`); the others ignore it. @default the model's own */
  denoise?: number | undefined;
  /** Run every network as a self-ensemble (test-time augmentation). @default false */
  tta?: boolean | undefined;
  signal?: AbortSignal | undefined;
  /** Called after each image: the model's id, the image's index of `total`, and its result. */
  onImage?: ((model: string, index: number, total: number, result: NoReferenceImageResult) => void) | undefined;
}

export interface NoReferenceImageResult {
  /** The file's name without extension. */
  readonly name: string;
  /** NIQE of the output, `scale` pixels shaved from each border; `NaN` where undefined (a flat image). */
  readonly niqe: number;
  readonly seconds: number;
}

export interface NoReferenceModelResult {
  /** The model's id, with ` denoise <s>` when it has a denoise strength. */
  readonly model: string;
  readonly images: readonly NoReferenceImageResult[];
  readonly meanNiqe: number;
  readonly secondsPerOutputMegapixel: number;
}

export interface NoReferenceReport {
  readonly scale: number;
  /** The inputs directory, as given. */
  readonly inputs: string;
  readonly models: readonly NoReferenceModelResult[];
}

/**
 * @throws UpscaleError INVALID_OPTION, INPUT_* (naming the directory or file, e.g. an image whose output is too
 *   small for one NIQE block), MODEL_NOT_FOUND / MODEL_INVALID, ABORTED
 * @example
 * const report = await evaluateNoReference({ inputs: 'old-photos/', scale: 4, models: ['bicubic', 'photo'] });
 */
export async function evaluateNoReference(options: NoReferenceOptions): Promise<NoReferenceReport> {
  const { inputs, scale, models, signal } = options;
  if (!(Number.isInteger(scale) && scale >= MIN_EVAL_SCALE && scale <= MAX_EVAL_SCALE)) {
    throw new UpscaleError('INVALID_OPTION', `Expected scale to be an integer from ${MIN_EVAL_SCALE} to ${MAX_EVAL_SCALE}, got ${String(scale)}`);
  }
  const files = listDataset(inputs, { scale });
  const upscalers: Upscaler[] = [];
  try {
    // Every model is resolved before any runs, so that a misspelt name fails at once.
    for (const model of models) upscalers.push(await upscalerFor(model, options));
    const results: NoReferenceModelResult[] = [];
    for (const upscaler of upscalers) {
      const images: NoReferenceImageResult[] = [];
      let seconds = 0;
      let outputPixels = 0;
      for (const [index, file] of files.entries()) {
        throwIfAborted(signal);
        const { raster } = await decodeImage(file.hr, { maxPixels: 200_000_000 });
        const started = performance.now();
        const output = await upscaler.upscale(raster, { scale, signal });
        const elapsed = (performance.now() - started) / 1000;
        const result = { name: file.name, niqe: scoreNiqe(to8Bit(output), scale, file.hr, `output is ${output.width}x${output.height}`), seconds: elapsed };
        images.push(result);
        seconds += elapsed;
        outputPixels += output.width * output.height;
        options.onImage?.(modelLabel(upscaler), index, files.length, result);
      }
      results.push({
        model: modelLabel(upscaler),
        images,
        meanNiqe: images.reduce((sum, r) => sum + r.niqe, 0) / images.length,
        secondsPerOutputMegapixel: seconds / (outputPixels / 1e6),
      });
    }
    return { scale, inputs, models: results };
  } finally {
    await Promise.all(upscalers.map((u) => u.dispose()));
  }
}

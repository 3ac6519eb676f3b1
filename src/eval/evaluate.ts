/**
 * evaluate(): runs models over a super-resolution test set by the standard protocol (../shared/eval/README.md) and
 * reports PSNR-Y / SSIM-Y per image and their means, so the numbers compare with published tables; optionally
 * the no-reference NIQE score of every output too.
 */
import { existsSync } from 'node:fs';
import { debuglog } from 'node:util';
import { throwIfAborted, UpscaleError } from '../errors.js';
import { createRaster, type Raster } from '../image/raster.js';
import { niqe, NIQE_BLOCK_SIZE, psnrY, ssimY } from '../metrics/index.js';
import { createUpscaler, type Upscaler } from '../upscaler.js';
import { listDataset, preparePair, type DatasetImage, type PreparedPair } from './dataset.js';

const debug = debuglog('upscale');

/** Smallest and largest scale evaluated: the test sets come at x2, x3, x4, and x8 exists in the literature. */
export const MIN_EVAL_SCALE = 2;
export const MAX_EVAL_SCALE = 8;

/** Prepared pairs kept between models, in bytes of samples; beyond it, pairs are decoded again for each model. */
const PAIR_CACHE_BYTES = 512 * 1024 * 1024;
/** Edge of the LR patch upscaled once before timing, so that model loading and first-run costs are not timed. */
const WARM_UP_EDGE = 24;

export interface EvalOptions {
  /** Directory of ground-truth (HR) images. */
  dataset: string;
  /**
   * Directory of ready-made LR images, `<name>.<ext>` or `<name>x<scale>.<ext>` for HR `<name>.<ext>`.
   * @default made from each HR image with MATLAB bicubic (`imresizeMatlab`), as the test sets' LR files were
   */
  lr?: string | undefined;
  /** Enlargement factor, an integer from 2 to 8. */
  scale: number;
  /** Models to evaluate, in order: anything `createUpscaler({ model })` accepts (ids, aliases, .onnx paths). */
  models: readonly string[];
  /**
   * Also score every output with NIQE (no reference; lower is better), border of `scale` pixels shaved as for PSNR.
   * Outputs need at least 96x96 pixels after shaving. @default false
   */
  niqe?: boolean | undefined;
  /** Denoise strength for the models that have one (`photo`, `photo-gan`, `anime`); the others ignore it. @default the model's own */
  denoise?: number | undefined;
  /** Run every network as a self-ensemble (test-time augmentation); classical methods as they are. @default false */
  tta?: boolean | undefined;
  /** Checked between images (and between tiles inside a model); cancelling throws an UpscaleError `ABORTED`. */
  signal?: AbortSignal | undefined;
  onProgress?: ((event: EvalProgress) => void) | undefined;
}

/**
 * Progress, one tagged event at a time: `model` when a model starts, before it loads (`model` as given, `index` of
 * `total` models); `image` when an image is measured (`model` the registry's id, `index` of `total` images).
 */
export type EvalProgress =
  | { readonly stage: 'model'; readonly model: string; readonly index: number; readonly total: number }
  | {
      readonly stage: 'image';
      readonly model: string;
      readonly index: number;
      readonly total: number;
      readonly result: EvalImageResult;
    };

export interface EvalImageResult {
  /** The HR file's name without extension. */
  readonly name: string;
  /** PSNR of the Y channel in dB, border of `scale` pixels shaved; `Infinity` (`null` in JSON) when exact. */
  readonly psnr: number;
  /** SSIM of the Y channel, border of `scale` pixels shaved. */
  readonly ssim: number;
  /** Seconds spent upscaling this image (decoding and metrics not included). */
  readonly seconds: number;
  /** NIQE of the output, border of `scale` pixels shaved, when asked (`niqe: true`); `NaN` (`null` in JSON) when undefined, as for a flat image. */
  readonly niqe?: number;
}

export interface EvalModelResult {
  /** The model's id as the registry names it (`bicubic` for `cubic`; the path for an .onnx file), with ` denoise <s>` for a model that has a denoise strength. */
  readonly model: string;
  readonly images: readonly EvalImageResult[];
  /** Mean of the per-image PSNRs, as papers report. */
  readonly meanPsnr: number;
  readonly meanSsim: number;
  /** Mean of the per-image NIQE scores, when asked (`niqe: true`); lower is better. */
  readonly meanNiqe?: number;
  /** Total upscaling time over total output pixels, in seconds per megapixel. */
  readonly secondsPerOutputMegapixel: number;
}

export interface EvalReport {
  readonly scale: number;
  /** The dataset directory, as given. */
  readonly dataset: string;
  readonly models: readonly EvalModelResult[];
}

/**
 * Evaluates models on a dataset by the papers' protocol: HR decoded at 8 bits and cropped top-left to a multiple
 * of `scale`; LR the given file or MATLAB bicubic of the HR; SR = the model's output at exactly the HR size; PSNR
 * and SSIM on BT.601 luma (grey as R = G = B) with `scale` pixels shaved from every border; means over the images.
 * With `niqe: true`, every output is also scored with NIQE (`scale` pixels shaved) and `meanNiqe` reported.
 * Each model is loaded once (`createUpscaler`), warmed up on a small patch, timed on every image, and disposed.
 * The dataset, the LR files' presence and the model names are checked before any model runs (LR sizes when each
 * image is reached). Nothing is written to stdout.
 *
 * @throws UpscaleError INVALID_OPTION (bad options), INPUT_* (dataset, LR or image problems, naming the file),
 *   MODEL_NOT_FOUND / MODEL_INVALID (from the model registry), ABORTED (cancelled).
 * @example
 * const report = await evaluate({ dataset: '../shared/eval/Set5/HR', scale: 4, models: ['bicubic', 'lanczos3'] });
 * for (const m of report.models) console.log(m.model, m.meanPsnr.toFixed(2), m.meanSsim.toFixed(4));
 */
export async function evaluate(options: EvalOptions): Promise<EvalReport> {
  validateOptions(options);
  const { dataset, lr, scale, models, signal, onProgress } = options;
  const images = listDataset(dataset, { scale, lr });
  await checkModels(models);
  const pairs = new PairCache(scale, models.length > 1 ? PAIR_CACHE_BYTES : 0);
  const results: EvalModelResult[] = [];
  for (const [index, model] of models.entries()) {
    throwIfAborted(signal);
    onProgress?.({ stage: 'model', model, index, total: models.length });
    const upscaler = await upscalerFor(model, options);
    try {
      results.push(await evaluateModel(upscaler, images, pairs, options));
    } finally {
      await upscaler.dispose();
    }
  }
  return { scale, dataset, models: results };
}

async function evaluateModel(
  upscaler: Upscaler,
  images: readonly DatasetImage[],
  pairs: PairCache,
  { scale, signal, onProgress, niqe: withNiqe }: EvalOptions,
): Promise<EvalModelResult> {
  const model = modelLabel(upscaler);
  const measured: EvalImageResult[] = [];
  let seconds = 0;
  let outputPixels = 0;
  for (const [index, image] of images.entries()) {
    throwIfAborted(signal);
    const { hr, lr } = await pairs.get(image);
    if (index === 0) await warmUp(upscaler, lr, scale, signal);
    const started = performance.now();
    const output = await upscaler.upscale(lr, { width: hr.width, height: hr.height, signal });
    const elapsed = (performance.now() - started) / 1000;
    const sr = to8Bit(output);
    const measures: EvalImageResult = { name: image.name, psnr: psnrY(sr, hr, scale), ssim: ssimY(sr, hr, scale), seconds: elapsed };
    const result: EvalImageResult = withNiqe === true ? { ...measures, niqe: scoreNiqe(sr, scale, image.hr, `image is ${sr.width}x${sr.height} once cropped to a multiple of ${scale}`) } : measures;
    debug('eval %s x%d %s: %s dB, SSIM %s, %s s', model, scale, image.name, result.psnr.toFixed(2), result.ssim.toFixed(4), elapsed.toFixed(3));
    measured.push(result);
    seconds += elapsed;
    outputPixels += hr.width * hr.height;
    onProgress?.({ stage: 'image', model, index, total: images.length, result });
  }
  const summary: EvalModelResult = {
    model,
    images: measured,
    meanPsnr: mean(measured.map((r) => r.psnr)),
    meanSsim: mean(measured.map((r) => r.ssim)),
    secondsPerOutputMegapixel: seconds / (outputPixels / 1e6),
  };
  return withNiqe === true ? { ...summary, meanNiqe: mean(measured.map((r) => r.niqe ?? NaN)) } : summary;
}

/**
 * NIQE of an 8-bit output with the protocol's border (`scale` pixels) shaved. An output too small for one block is
 * an error naming `file` and saying what is too small (`subject`, e.g. `image is 90x90 once cropped...`).
 */
export function scoreNiqe(sr: Raster, scale: number, file: string, subject: string): number {
  const minimum = NIQE_BLOCK_SIZE + 2 * scale;
  if (sr.width < minimum || sr.height < minimum) {
    throw new UpscaleError(
      'INPUT_UNSUPPORTED',
      `${subject}, too small for NIQE: at least ${minimum}x${minimum} is needed (one ${NIQE_BLOCK_SIZE}x${NIQE_BLOCK_SIZE} block after shaving ${scale} pixels per border)`,
      { file },
    );
  }
  return niqe(sr, { cropBorder: scale });
}

function validateOptions(options: EvalOptions): void {
  const { dataset, lr, scale, models, niqe: withNiqe } = options;
  if (typeof dataset !== 'string' || dataset === '') {
    throw new UpscaleError('INVALID_OPTION', `Expected dataset to be a directory path, got ${describe(dataset)}`);
  }
  if (lr !== undefined && (typeof lr !== 'string' || lr === '')) {
    throw new UpscaleError('INVALID_OPTION', `Expected lr to be a directory path, got ${describe(lr)}`);
  }
  if (!(Number.isInteger(scale) && scale >= MIN_EVAL_SCALE && scale <= MAX_EVAL_SCALE)) {
    throw new UpscaleError('INVALID_OPTION', `Expected scale to be an integer from ${MIN_EVAL_SCALE} to ${MAX_EVAL_SCALE}, got ${describe(scale)}`);
  }
  if (!Array.isArray(models) || models.length === 0 || !models.every((m) => typeof m === 'string' && m !== '')) {
    throw new UpscaleError('INVALID_OPTION', `Expected models to be a non-empty list of model ids or .onnx paths, got ${describe(models)}`);
  }
  if (withNiqe !== undefined && typeof withNiqe !== 'boolean') {
    throw new UpscaleError('INVALID_OPTION', `Expected niqe to be a boolean, got ${describe(withNiqe)}`);
  }
}

/**
 * Fails fast on a misspelt model name, before hours go into the models listed before it. Files are left to their
 * turn (loading a network is the expensive part); names are resolved by the registry, which loads no weights.
 */
async function checkModels(models: readonly string[]): Promise<void> {
  for (const model of new Set(models)) {
    if (existsSync(model)) continue;
    const upscaler = await createUpscaler({ model });
    await upscaler.dispose();
  }
}

/**
 * The model with the denoise strength asked, when it has one, and as a self-ensemble when `tta` is asked and it is a
 * network (built-in families load their weights lazily, so the first upscaler costs nothing).
 */
export async function upscalerFor(model: string, options: { denoise?: number | undefined; tta?: boolean | undefined }): Promise<Upscaler> {
  const plain = await createUpscaler({ model });
  const denoise = plain.model.denoise === undefined ? undefined : options.denoise;
  const tta = options.tta === true && plain.model.kind === 'network';
  if (denoise === undefined && !tta) return plain;
  await plain.dispose();
  return createUpscaler({ model, denoise, tta });
}

/** The model's id as the registry names it, with ` denoise <s>` when it has a denoise strength and ` tta` when run so. */
export function modelLabel(upscaler: Upscaler): string {
  const { id, denoise, tta } = upscaler.model;
  return `${id}${denoise === undefined ? '' : ` denoise ${denoise}`}${tta ? ' tta' : ''}`;
}

/** Runs the model once on a small corner of the first LR image: loads the weights, warms the first-run paths. */
async function warmUp(upscaler: Upscaler, lr: Raster, scale: number, signal: AbortSignal | undefined): Promise<void> {
  const width = Math.min(WARM_UP_EDGE, lr.width);
  const height = Math.min(WARM_UP_EDGE, lr.height);
  const patch = createRaster(width, height, lr.channels, lr.depth);
  const rowIn = lr.width * lr.channels;
  const rowOut = width * lr.channels;
  for (let y = 0; y < height; y++) patch.data.set(lr.data.subarray(y * rowIn, y * rowIn + rowOut), y * rowOut);
  await upscaler.upscale(patch, { width: width * scale, height: height * scale, signal });
}

/** Prepared pairs, kept while they fit in the byte budget so that later models skip decoding and downscaling. */
class PairCache {
  private readonly kept = new Map<string, PreparedPair>();
  private bytes = 0;

  constructor(
    private readonly scale: number,
    private readonly budget: number,
  ) {}

  async get(image: DatasetImage): Promise<PreparedPair> {
    const hit = this.kept.get(image.hr);
    if (hit !== undefined) return hit;
    const pair = await preparePair(image, this.scale);
    const size = pair.hr.data.byteLength + pair.lr.data.byteLength;
    if (this.bytes + size <= this.budget) {
      this.kept.set(image.hr, pair);
      this.bytes += size;
    }
    return pair;
  }
}

/** Models return the depth of their input, 8 here; a 16-bit output is rounded down to 8 bits like an 8-bit file. */
export function to8Bit(raster: Raster): Raster {
  if (raster.depth === 8) return raster;
  const data = new Uint8Array(raster.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round((raster.data[i] as number) / 257);
  return { ...raster, depth: 8, data };
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v) ?? String(v)).join(', ')}]`;
  return `${typeof value === 'string' ? JSON.stringify(value) : String(value)} (${typeof value})`;
}

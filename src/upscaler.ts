/**
 * createUpscaler(): load a model once, then upscale rasters, buffers or files with it, then dispose().
 */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { throwIfAborted, UpscaleError } from './errors.js';
import { writeFileAtomic } from './files.js';
import {
  countFrames,
  decodeImage,
  encodeImage,
  fileFormatFromPath,
  readImageFile,
  type AnimationFormat,
  type FileFormat,
  type ImageMetadata,
} from './image/index.js';
import type { Raster } from './image/raster.js';
import { withSelfEnsemble } from './models/self-ensemble.js';
import type { LoadedModel, ModelChoice, ModelDescriptor } from './models/types.js';
import { DEFAULT_MODEL, pickScale, resolveModel } from './models/registry.js';
import { upscaleAnimatedFile } from './pipeline/animated.js';
import { resolveTargetSize, passesFor, validateSizeRequest, type Size, type SizeRequest } from './pipeline/size.js';
import { upscaleRaster, type UpscaleProgress } from './pipeline/upscale-raster.js';
import { withProvenance } from './provenance.js';
import { TOOL_NAME } from './version.js';

export interface UpscalerOptions {
  /**
   * A built-in network (`photo-gan`, `photo`, `quality`, `fast`, `anime`, `anime-fast`, `esrgan-thick`...; or one
   * scale of one: `quality-x2`), a classical method (`lanczos3`, `bicubic`, `bilinear`, `nearest`), a model of the user's
   * library, or a model file (.onnx, .pth, .safetensors, NCNN .param).
   * @default 'photo-gan' (DEFAULT_MODEL)
   */
  model?: string | undefined;
  /**
   * Denoise strength from 0 (keep the photo's grain and detail) to 1 (remove noise, blur and JPEG blocks), for a
   * model that has one (`photo-gan` and `photo` blend two networks; `anime` picks the nearest of its levels 0, 0.5,
   * 1); an error with any other model. @default the model's own (0.5 for the photo models, 0 for `anime`)
   */
  denoise?: number | undefined;
  /**
   * Test-time augmentation: run the network as a self-ensemble, the mean of its predictions on the 8 flips and
   * rotations of each tile. A little more faithful (about +0.1 dB), 8 times the time; networks only. @default false
   */
  tta?: boolean | undefined;
  /** Threads for inference. @default the number of CPU cores */
  threads?: number | undefined;
  /** Tile edge in input pixels, or 'auto' to choose one from `memoryBudgetBytes`. @default 'auto' */
  tileSize?: number | 'auto' | undefined;
  /** Working memory that the automatic tile size is chosen for. @default 1 GiB less the output image's own size, at least 256 MiB */
  memoryBudgetBytes?: number | undefined;
  /** Largest input accepted, in pixels; larger files are refused before decoding. @default 200_000_000 */
  maxInputPixels?: number | undefined;
  /** Largest output (and intermediate) image, in pixels. @default 400_000_000 */
  maxOutputPixels?: number | undefined;
}

export interface UpscaleOptions extends SizeRequest {
  signal?: AbortSignal | undefined;
  onProgress?: ((event: UpscaleProgress) => void) | undefined;
}

export interface UpscaleFileOptions extends UpscaleOptions {
  /**
   * Output format; by default the output's extension decides (`.gif` and `.apng` included). An animated input
   * (GIF, animated WebP, APNG) keeps every frame in `gif`, `webp`, `apng` or `png` (written as APNG); `jpeg`,
   * `tiff` and `avif` hold one frame and are refused for it. See docs/animated.md.
   */
  format?: FileFormat | undefined;
  /** 1..100 for JPEG, WebP, AVIF. */
  quality?: number | undefined;
  /** Lossless WebP/AVIF. */
  lossless?: boolean | undefined;
  /** PNG zlib level 0..9. */
  compressionLevel?: number | undefined;
  /** Replace an existing output file. @default false */
  overwrite?: boolean | undefined;
  /** Record in XMP that the image was upscaled, by what and how. @default true */
  provenance?: boolean | undefined;
  /** Keep the input's ICC profile, EXIF, XMP and IPTC. @default true */
  keepMetadata?: boolean | undefined;
  /** Keep the input's DPI instead of scaling it with the pixels (which keeps the print size). @default false */
  keepDensity?: boolean | undefined;
}

export interface UpscaleFileResult {
  readonly input: string;
  readonly output: string;
  readonly format: FileFormat;
  /** Frames written: 1 for a still image. */
  readonly frames: number;
  readonly model: string;
  readonly inputSize: Size;
  readonly outputSize: Size;
  readonly milliseconds: number;
}

export interface Upscaler {
  readonly model: ModelDescriptor;
  /** Upscales pixels (a Raster), or an encoded image given as bytes or a path; returns the pixels. */
  upscale(input: Raster | Uint8Array | string, options?: UpscaleOptions): Promise<Raster>;
  /** Reads, upscales and writes a file, keeping metadata; the output appears only when complete. */
  upscaleFile(input: string, output: string, options?: UpscaleFileOptions): Promise<UpscaleFileResult>;
  dispose(): Promise<void>;
}

const DEFAULTS = { maxInputPixels: 200_000_000, maxOutputPixels: 400_000_000 } as const;

/**
 * @example
 * const upscaler = await createUpscaler({ model: './4x-model.onnx' });
 * await upscaler.upscaleFile('photo.jpg', 'photo@4x.jpg', { onProgress: (e) => console.log(e) });
 * await upscaler.dispose();
 */
export async function createUpscaler(options: UpscalerOptions = {}): Promise<Upscaler> {
  validateUpscalerOptions(options);
  const sessionOptions = options.threads === undefined ? {} : { threads: options.threads };
  const resolved = await resolveModel(options.model ?? DEFAULT_MODEL, sessionOptions, { denoise: options.denoise });
  const choice = options.tta ? withTta(resolved, options.model ?? DEFAULT_MODEL) : resolved;
  const maxInputPixels = options.maxInputPixels ?? DEFAULTS.maxInputPixels;
  const maxOutputPixels = options.maxOutputPixels ?? DEFAULTS.maxOutputPixels;
  // Variants of a built-in family load on first use, one session each, kept until dispose().
  const variants = new Map<number, Promise<LoadedModel>>();
  let disposed = false;
  // The model that upscaled the last animation frame, for the animation's provenance record.
  let frameModel: LoadedModel | undefined;

  const variantFor = (scale: number): Promise<LoadedModel> => {
    let loaded = variants.get(scale);
    if (loaded === undefined) {
      loaded = choice.load(scale);
      variants.set(scale, loaded);
      // A failed load is not cached: the next request tries again and reports the error again.
      loaded.catch(() => variants.delete(scale));
    }
    return loaded;
  };

  const run = async (raster: Raster, request: UpscaleOptions, file?: string): Promise<{ pixels: Raster; model: LoadedModel }> => {
    if (disposed) throw new Error('This upscaler was disposed');
    const target = resolveTargetSize(raster, request, choice.descriptor.scale);
    const scale = pickScale(choice.scales, Math.max(target.width / raster.width, target.height / raster.height));
    checkOutputSize(raster, target, choice.descriptor.kind === 'network' ? scale : undefined, maxOutputPixels, file);
    const model = await variantFor(scale);
    const pixels = await upscaleRaster(raster, model, target, {
      tileSize: options.tileSize,
      memoryBudgetBytes: options.memoryBudgetBytes,
      signal: request.signal,
      onProgress: request.onProgress,
    });
    return { pixels, model };
  };

  return {
    model: choice.descriptor,

    async upscale(input, request = {}) {
      validateSizeRequest(request);
      const raster = isRaster(input) ? input : (await decodeImage(toSource(input), { maxPixels: maxInputPixels })).raster;
      return (await run(raster, request)).pixels;
    },

    async upscaleFile(input, output, request = {}) {
      const started = performance.now();
      validateSizeRequest(request);
      const format = request.format ?? fileFormatFromPath(output);
      if (format === undefined) {
        throw new UpscaleError('INVALID_OPTION', 'cannot tell the output format from the extension (expected .png, .jpg, .webp, .tif, .avif, .gif or .apng, or give a format)', { file: output });
      }
      if (resolve(input) === resolve(output)) {
        throw new UpscaleError('INVALID_OPTION', 'output would overwrite the input; choose another output name', { file: input });
      }
      if (!request.overwrite && existsSync(output)) {
        throw new UpscaleError('OUTPUT_EXISTS', 'output file exists (use --overwrite to replace it)', { file: output });
      }
      throwIfAborted(request.signal);
      const bytes = await readImageFile(input);
      const frames = await countFrames(bytes);
      if (frames > 1 || format === 'gif' || format === 'apng') {
        const animated = await upscaleAnimatedFile({
          bytes,
          file: input,
          format: animationFormatFor(format, frames, input),
          maxInputPixels,
          maxOutputPixels,
          targetFor: (frame) => resolveTargetSize(frame, request, choice.descriptor.scale),
          upscaleFrame: async (frame, onProgress) => {
            const result = await run(frame, { ...request, onProgress }, input);
            frameModel = result.model;
            return { pixels: result.pixels, model: result.model.descriptor.id };
          },
          metadataFor: (inputMetadata, _model, inputSize, outputSize) => {
            const xmp = request.keepMetadata === false ? undefined : inputMetadata.xmp;
            const exif = request.keepMetadata === false ? undefined : inputMetadata.exif;
            const record =
              request.provenance === false || frameModel === undefined
                ? xmp
                : provenance(xmp, frameModel, inputSize, outputSize);
            return { ...(record !== undefined && { xmp: record }), ...(exif !== undefined && { exif }) };
          },
          quality: request.quality,
          lossless: request.lossless,
          compressionLevel: request.compressionLevel,
          signal: request.signal,
          onProgress: request.onProgress,
        });
        await writeFileAtomic(output, animated.encoded, { overwrite: request.overwrite ?? false });
        return {
          input,
          output,
          format,
          frames: animated.frames,
          model: animated.model,
          inputSize: animated.inputSize,
          outputSize: animated.outputSize,
          milliseconds: Math.round(performance.now() - started),
        };
      }
      const decoded = await decodeImage(bytes, { maxPixels: maxInputPixels, file: input });
      const { pixels, model } = await run(decoded.raster, request, input);
      throwIfAborted(request.signal);
      const scaleX = pixels.width / decoded.raster.width;
      const kept: ImageMetadata = request.keepMetadata === false ? {} : decoded.metadata;
      const { xmp: inputXmp, density: inputDensity, ...rest } = kept;
      const metadata: ImageMetadata = { ...rest };
      const xmp =
        request.provenance === false
          ? inputXmp
          : provenance(inputXmp, model, decoded.raster, pixels);
      if (xmp !== undefined) metadata.xmp = typeof xmp === 'string' ? Buffer.from(xmp, 'utf8') : xmp;
      const density = inputDensity === undefined ? undefined : request.keepDensity ? inputDensity : inputDensity * scaleX;
      const encoded = await encodeImage(pixels, {
        format,
        metadata,
        ...(density === undefined ? {} : { density }),
        ...(request.quality === undefined ? {} : { quality: request.quality }),
        ...(request.lossless === undefined ? {} : { lossless: request.lossless }),
        ...(request.compressionLevel === undefined ? {} : { compressionLevel: request.compressionLevel }),
      });
      throwIfAborted(request.signal);
      await writeFileAtomic(output, encoded, { overwrite: request.overwrite ?? false });
      return {
        input,
        output,
        format,
        frames: 1,
        model: model.descriptor.id,
        inputSize: { width: decoded.raster.width, height: decoded.raster.height },
        outputSize: { width: pixels.width, height: pixels.height },
        milliseconds: Math.round(performance.now() - started),
      };
    },

    async dispose() {
      if (disposed) return;
      disposed = true;
      const loaded = await Promise.allSettled(variants.values());
      for (const result of loaded) {
        if (result.status === 'fulfilled' && result.value.kind === 'network') await result.value.network.dispose();
      }
    },
  };
}

/** The animated container for an output format; one-frame formats are refused for animations. */
function animationFormatFor(format: FileFormat, frames: number, file: string): AnimationFormat {
  if (format === 'gif' || format === 'webp' || format === 'apng') return format;
  if (format === 'png') return 'apng';
  throw new UpscaleError(
    'INVALID_OPTION',
    `animated image (${frames} frames) cannot be written as ${format.toUpperCase()}, which holds one frame; choose gif, webp or png (APNG)`,
    { file },
  );
}

function checkOutputSize(input: Size, target: Size, networkScale: number | undefined, limit: number, file: string | undefined): void {
  // A network may pass through a size larger than the target (x4 twice, then down to x10).
  let largest = target.width * target.height;
  if (networkScale !== undefined) {
    const side = networkScale ** passesFor(input, target, networkScale);
    largest = Math.max(largest, input.width * side * input.height * side);
  }
  if (largest > limit) {
    const megapixels = (n: number): string => `${Number((n / 1e6).toPrecision(3))} megapixels`;
    throw new UpscaleError(
      'INPUT_TOO_LARGE',
      `output of ${target.width}x${target.height} needs ${megapixels(largest)}, above the limit of ${megapixels(limit)} (raise maxOutputPixels / --max-output-pixels)`,
      file === undefined ? {} : { file },
    );
  }
}

function validateUpscalerOptions(options: UpscalerOptions): void {
  const positiveInt = (name: string, value: unknown): void => {
    if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value >= 1)) {
      throw new UpscaleError('INVALID_OPTION', `Expected ${name} to be a positive integer, got ${String(value)} (${typeof value})`);
    }
  };
  positiveInt('threads', options.threads);
  if (options.tileSize !== 'auto') positiveInt('tileSize', options.tileSize);
  if (typeof options.tileSize === 'number' && options.tileSize < 16) {
    throw new UpscaleError('INVALID_OPTION', `Expected tileSize to be at least 16, got ${options.tileSize}`);
  }
  positiveInt('memoryBudgetBytes', options.memoryBudgetBytes);
  positiveInt('maxInputPixels', options.maxInputPixels);
  positiveInt('maxOutputPixels', options.maxOutputPixels);
  if (options.tta !== undefined && typeof options.tta !== 'boolean') {
    throw new UpscaleError('INVALID_OPTION', `Expected tta to be a boolean, got ${String(options.tta)} (${typeof options.tta})`);
  }
  const { denoise } = options;
  if (denoise !== undefined && !(typeof denoise === 'number' && denoise >= 0 && denoise <= 1)) {
    throw new UpscaleError('INVALID_OPTION', `Expected denoise to be a number from 0 to 1, got ${String(denoise)}`);
  }
}

/** The model run as a self-ensemble (test-time augmentation), every scale of it. */
function withTta(choice: ModelChoice, spec: string): ModelChoice {
  if (choice.descriptor.kind !== 'network') {
    throw new UpscaleError('INVALID_OPTION', `tta needs a network, and "${spec}" is classical interpolation`);
  }
  return {
    descriptor: { ...choice.descriptor, tta: true },
    scales: choice.scales,
    async load(scale) {
      const model = await choice.load(scale);
      if (model.kind !== 'network') return model;
      return { ...model, descriptor: { ...model.descriptor, tta: true }, network: withSelfEnsemble(model.network) };
    },
  };
}

function isRaster(input: Raster | Uint8Array | string): input is Raster {
  return typeof input === 'object' && !(input instanceof Uint8Array);
}

function toSource(input: Uint8Array | string): Buffer | string {
  return typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** The input's XMP with our record of the upscaling merged in. */
function provenance(xmp: Buffer | undefined, model: LoadedModel, from: Size, to: Size): string {
  return withProvenance(xmp?.toString('utf8'), {
    tool: TOOL_NAME,
    model: model.descriptor.id,
    modelSha256: model.kind === 'network' ? model.sha256 : undefined,
    denoise: model.descriptor.denoise,
    tta: model.descriptor.tta,
    ai: model.kind === 'network',
    scaleX: to.width / from.width,
    scaleY: to.height / from.height,
    width: to.width,
    height: to.height,
  });
}

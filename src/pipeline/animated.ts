/**
 * Animations through the raster pipeline: decode every frame, upscale the frames one at a time (each exactly like a
 * still: same model, tiling and target size), and hand each result to the encoder before the next one starts.
 */
import { throwIfAborted, UpscaleError } from '../errors.js';
import {
  createAnimationEncoder,
  decodeAnimation,
  type AnimationFormat,
  type DecodedAnimation,
  type ImageMetadata,
  type MetadataInput,
} from '../image/index.js';
import type { Raster } from '../image/raster.js';
import type { Size } from './size.js';
import type { UpscaleProgress } from './upscale-raster.js';

type ProgressCallback = ((event: UpscaleProgress) => void) | undefined;

export interface FrameLoopOptions {
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ProgressCallback;
}

/**
 * Upscales frames in order, one at a time, giving each result to `sink` before the next frame starts; a frame equal
 * to the one before reuses its result. Emits a 'frame' event before each frame; checks `signal` between frames.
 */
export async function upscaleFrames(
  frames: readonly Raster[],
  upscaleFrame: (frame: Raster, onProgress: ProgressCallback) => Promise<Raster>,
  sink: (pixels: Raster, index: number) => Promise<void>,
  options: FrameLoopOptions = {},
): Promise<void> {
  const started = performance.now();
  let previous: { frame: Raster; pixels: Raster } | undefined;
  for (const [index, frame] of frames.entries()) {
    throwIfAborted(options.signal);
    const elapsedMs = performance.now() - started;
    options.onProgress?.({ stage: 'frame', index, total: frames.length, elapsedMs, etaMs: index === 0 ? undefined : (elapsedMs / index) * (frames.length - index) });
    const pixels = previous !== undefined && sameSamples(previous.frame, frame) ? previous.pixels : await upscaleFrame(frame, options.onProgress);
    await sink(pixels, index);
    previous = { frame, pixels };
  }
  throwIfAborted(options.signal);
}

function sameSamples(a: Raster, b: Raster): boolean {
  if (a.data === b.data) return true;
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels || a.depth !== b.depth) return false;
  const x = a.data;
  const y = b.data;
  for (let index = 0; index < x.length; index++) if (x[index] !== y[index]) return false;
  return true;
}

export interface AnimatedFileRequest {
  /** The input's bytes, and its name for messages. */
  readonly bytes: Buffer;
  readonly file: string;
  readonly format: AnimationFormat;
  readonly maxInputPixels: number;
  /** Applies to all output frames together. */
  readonly maxOutputPixels: number;
  /** The output size of one frame. */
  readonly targetFor: (frame: Size) => Size;
  /** Upscales one frame to `targetFor(frame)`; returns the pixels and the model's id. */
  readonly upscaleFrame: (frame: Raster, onProgress: ProgressCallback) => Promise<{ pixels: Raster; model: string }>;
  /** Metadata for the output (XMP, EXIF), given the input's, once the model and sizes are known. */
  readonly metadataFor: (input: ImageMetadata, model: string, inputSize: Size, outputSize: Size) => MetadataInput | undefined;
  readonly quality?: number | undefined;
  readonly lossless?: boolean | undefined;
  readonly compressionLevel?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ProgressCallback;
}

export interface AnimatedFileResult {
  readonly encoded: Buffer;
  readonly model: string;
  readonly frames: number;
  readonly inputSize: Size;
  readonly outputSize: Size;
}

/**
 * Decodes an animation (or a still, as one frame), upscales every frame and encodes the result as `format`, with
 * the input's per-frame delays and loop count.
 *
 * @throws UpscaleError INPUT_TOO_LARGE when all the frames together exceed the input or output pixel limit.
 */
export async function upscaleAnimatedFile(request: AnimatedFileRequest): Promise<AnimatedFileResult> {
  const { file } = request;
  const animation: DecodedAnimation = await decodeAnimation(request.bytes, { maxPixels: request.maxInputPixels, file });
  const first = animation.frames[0];
  if (first === undefined) throw new UpscaleError('INPUT_CORRUPT', 'animation holds no frames, expected at least one', { file });
  const inputSize = { width: animation.width, height: animation.height };
  const outputSize = request.targetFor(inputSize);
  const count = animation.frames.length;
  const total = outputSize.width * outputSize.height * count;
  if (total > request.maxOutputPixels) {
    const megapixels = (n: number): string => `${Number((n / 1e6).toPrecision(3))} megapixels`;
    throw new UpscaleError(
      'INPUT_TOO_LARGE',
      `output of ${count} frames of ${outputSize.width}x${outputSize.height} needs ${megapixels(total)} in all, above the limit of ${megapixels(request.maxOutputPixels)} (raise maxOutputPixels / --max-output-pixels)`,
      { file },
    );
  }

  let model = '';
  let encoder: ReturnType<typeof createAnimationEncoder> | undefined;
  await upscaleFrames(
    animation.frames,
    async (frame, onProgress) => {
      const result = await request.upscaleFrame(frame, onProgress);
      model = result.model;
      return result.pixels;
    },
    async (pixels) => {
      encoder ??= createAnimationEncoder({
        format: request.format,
        width: pixels.width,
        height: pixels.height,
        frames: count,
        channels: pixels.channels,
        delays: animation.delays,
        loop: animation.loop,
        quality: request.quality,
        lossless: request.lossless,
        compressionLevel: request.compressionLevel,
        metadata: request.metadataFor(animation.metadata, model, inputSize, { width: pixels.width, height: pixels.height }),
        file,
      });
      await encoder.add(pixels);
    },
    { signal: request.signal, onProgress: request.onProgress },
  );
  if (encoder === undefined) throw new Error('no frame was encoded');
  const encoded = await encoder.finish();
  throwIfAborted(request.signal);
  return { encoded, model, frames: count, inputSize, outputSize };
}

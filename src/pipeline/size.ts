/**
 * Turns the size the user asked for (a factor, a width, a height, both, or a box to fit in) into output pixels.
 */
import { UpscaleError } from '../errors.js';

export interface SizeRequest {
  /** Factor applied to both sides, e.g. 2.5. */
  scale?: number | undefined;
  /** Output width; with `height` too, the exact size (the aspect ratio may change). */
  width?: number | undefined;
  height?: number | undefined;
  /** Largest size that fits in this box, keeping the aspect ratio. */
  fit?: { width: number; height: number } | undefined;
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** Validates a request once, at the edge; messages say what was expected and what was got. */
export function validateSizeRequest(request: SizeRequest): void {
  const { scale, width, height, fit } = request;
  if (scale !== undefined && !(Number.isFinite(scale) && scale > 0 && scale <= 64)) {
    throw new UpscaleError('INVALID_OPTION', `Expected scale to be a number above 0 and at most 64, got ${String(scale)}`);
  }
  for (const [name, value] of [['width', width], ['height', height], ['fit width', fit?.width], ['fit height', fit?.height]] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 1_000_000)) {
      throw new UpscaleError('INVALID_OPTION', `Expected ${name} to be a positive integer, got ${String(value)}`);
    }
  }
  const ways = [scale !== undefined, width !== undefined || height !== undefined, fit !== undefined].filter(Boolean).length;
  if (ways > 1) throw new UpscaleError('INVALID_OPTION', 'Expected one of scale, width/height or fit, got several');
}

/** The output size for an input, falling back to `defaultScale` when nothing was asked. */
export function resolveTargetSize(input: Size, request: SizeRequest, defaultScale: number): Size {
  validateSizeRequest(request);
  const { width, height, fit } = request;
  const by = (f: number): Size => ({
    width: Math.max(1, Math.round(input.width * f)),
    height: Math.max(1, Math.round(input.height * f)),
  });
  if (fit !== undefined) return by(Math.min(fit.width / input.width, fit.height / input.height));
  if (width !== undefined && height !== undefined) return { width, height };
  if (width !== undefined) return { width, height: Math.max(1, Math.round((input.height * width) / input.width)) };
  if (height !== undefined) return { width: Math.max(1, Math.round((input.width * height) / input.height)), height };
  return by(request.scale ?? defaultScale);
}

/**
 * How many times a network of `modelScale` must run so that its output covers `target`: at least once (an AI
 * model that was asked for is never replaced by interpolation), more when the target exceeds one pass.
 */
export function passesFor(input: Size, target: Size, modelScale: number): number {
  const factor = Math.max(target.width / input.width, target.height / input.height);
  if (modelScale <= 1 || factor <= modelScale) return 1;
  // The small tolerance keeps 16 = 4 x 4 at two passes despite floating point.
  return Math.ceil(Math.log(factor) / Math.log(modelScale) - 1e-9);
}

/**
 * Full-reference quality metrics, following the protocol of super-resolution papers (BasicSR / SwinIR) so our
 * numbers compare with published tables: PSNR and SSIM on the BT.601 luma (Y) channel, with a border shaved off.
 */
import { maxSample } from '../image/raster.js';
import type { Raster } from '../image/raster.js';

/** SSIM window: 11 taps, Gaussian sigma 1.5 (Wang et al. 2003). */
const SSIM_RADIUS = 5;
const SSIM_SIGMA = 1.5;
const SSIM_C1 = (0.01 * 255) ** 2;
const SSIM_C2 = (0.03 * 255) ** 2;

/**
 * Luma of an 8-bit raster as floats: `Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`, in [16, 235].
 *
 * Grey rasters (1 or 2 channels) count as R = G = B, i.e. `Y = 16 + 219 g / 255`, the BasicSR/SwinIR rule.
 * Alpha is ignored. Y is not rounded.
 *
 * @param raster - 8-bit raster with 1..4 channels.
 * @returns `width * height` luma values, row-major.
 */
export function toY(raster: Raster): Float64Array {
  if (raster.depth !== 8) throw new RangeError(`Expected an 8-bit raster for luma, got depth ${raster.depth}`);
  const { data, channels } = raster;
  const n = raster.width * raster.height;
  const y = new Float64Array(n);
  if (channels >= 3) {
    for (let i = 0, p = 0; i < n; i++, p += channels) {
      y[i] = 16 + (65.481 * (data[p] as number) + 128.553 * (data[p + 1] as number) + 24.966 * (data[p + 2] as number)) / 255;
    }
  } else {
    // The same expression with R = G = B, so a grey image and its RGB expansion score identically.
    for (let i = 0, p = 0; i < n; i++, p += channels) {
      const g = data[p] as number;
      y[i] = 16 + (65.481 * g + 128.553 * g + 24.966 * g) / 255;
    }
  }
  return y;
}

/**
 * Peak signal-to-noise ratio of the Y channel, `10 log10(255^2 / MSE)`, after shaving `shave` pixels off every
 * border (papers shave the scale factor).
 *
 * @param a - 8-bit raster (1..4 channels; grey counts as R = G = B, alpha ignored).
 * @param b - 8-bit raster of the same size as `a`.
 * @param shave - Border width in pixels to ignore, a non-negative integer.
 * @returns PSNR in dB; `Infinity` for identical Y channels.
 * @example
 * const db = psnrY(upscaled, groundTruth, 4);
 */
export function psnrY(a: Raster, b: Raster, shave: number): number {
  const { width, height } = checkPair(a, b, shave, 1);
  const ya = crop(toY(a), a.width, shave, width, height);
  const yb = crop(toY(b), b.width, shave, width, height);
  let sum = 0;
  for (let i = 0; i < ya.length; i++) {
    const d = (ya[i] as number) - (yb[i] as number);
    sum += d * d;
  }
  return toPsnr(sum / ya.length, 255);
}

/**
 * Structural similarity of the Y channel (Wang et al. 2003): 11x11 Gaussian window with sigma 1.5,
 * C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, local statistics over 'valid' windows only (no padding), mean of the
 * SSIM map. `shave` pixels are removed from every border first.
 *
 * @param a - 8-bit raster (1..4 channels; grey counts as R = G = B, alpha ignored).
 * @param b - 8-bit raster of the same size as `a`.
 * @param shave - Border width in pixels to ignore, a non-negative integer.
 * @returns SSIM, 1 for identical Y channels.
 * @example
 * const s = ssimY(upscaled, groundTruth, 4);
 */
export function ssimY(a: Raster, b: Raster, shave: number): number {
  const window = 2 * SSIM_RADIUS + 1;
  const { width, height } = checkPair(a, b, shave, window);
  const ya = crop(toY(a), a.width, shave, width, height);
  const yb = crop(toY(b), b.width, shave, width, height);
  return meanSsim(ya, yb, width, height, gaussian(SSIM_RADIUS, SSIM_SIGMA));
}

/**
 * Mean of the SSIM map of two planes. The five local statistics (means, second moments, cross moment) are filtered
 * together, horizontally into one interleaved scratch plane, then vertically straight into the map's sum, so no
 * per-statistic planes are allocated.
 */
function meanSsim(a: Float64Array, b: Float64Array, width: number, height: number, g: Float64Array): number {
  const len = g.length;
  const ow = width - len + 1;
  const oh = height - len + 1;
  // Horizontal pass: 5 interleaved statistics per (x, y) with x in the valid range.
  const h = new Float64Array(ow * height * 5);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0, o = y * ow * 5; x < ow; x++, o += 5) {
      let sa = 0;
      let sb = 0;
      let saa = 0;
      let sbb = 0;
      let sab = 0;
      for (let k = 0, p = row + x; k < len; k++, p++) {
        const w = g[k] as number;
        const va = a[p] as number;
        const vb = b[p] as number;
        const wa = w * va;
        const wb = w * vb;
        sa += wa;
        sb += wb;
        saa += wa * va;
        sbb += wb * vb;
        sab += wa * vb;
      }
      h[o] = sa;
      h[o + 1] = sb;
      h[o + 2] = saa;
      h[o + 3] = sbb;
      h[o + 4] = sab;
    }
  }
  // Vertical pass over the interleaved plane, reducing each window to its SSIM value.
  const stride = ow * 5;
  let total = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0, base = y * stride; x < ow; x++, base += 5) {
      let ma = 0;
      let mb = 0;
      let eaa = 0;
      let ebb = 0;
      let eab = 0;
      for (let k = 0, p = base; k < len; k++, p += stride) {
        const w = g[k] as number;
        ma += w * (h[p] as number);
        mb += w * (h[p + 1] as number);
        eaa += w * (h[p + 2] as number);
        ebb += w * (h[p + 3] as number);
        eab += w * (h[p + 4] as number);
      }
      const varA = eaa - ma * ma;
      const varB = ebb - mb * mb;
      const cov = eab - ma * mb;
      total += ((2 * ma * mb + SSIM_C1) * (2 * cov + SSIM_C2)) / ((ma * ma + mb * mb + SSIM_C1) * (varA + varB + SSIM_C2));
    }
  }
  return total / (ow * oh);
}

/**
 * PSNR over all channels (alpha included) at the rasters' own depth, `10 log10(max^2 / MSE)`: a plain fidelity
 * check, not the papers' protocol.
 *
 * @param a - Raster of any depth and channel count.
 * @param b - Raster with the same size, channels and depth as `a`.
 * @param shave - Border width in pixels to ignore. @default 0
 * @returns PSNR in dB; `Infinity` for identical rasters.
 */
export function psnr(a: Raster, b: Raster, shave = 0): number {
  const { width, height } = checkPair(a, b, shave, 1);
  if (a.channels !== b.channels || a.depth !== b.depth) {
    throw new RangeError(
      `Expected rasters with equal channels and depth, got ${a.channels}x${a.depth}-bit and ${b.channels}x${b.depth}-bit`,
    );
  }
  const ch = a.channels;
  let sum = 0;
  for (let y = 0; y < height; y++) {
    const row = ((y + shave) * a.width + shave) * ch;
    for (let i = row; i < row + width * ch; i++) {
      const d = (a.data[i] as number) - (b.data[i] as number);
      sum += d * d;
    }
  }
  return toPsnr(sum / (width * height * ch), maxSample(a.depth));
}

function toPsnr(mse: number, peak: number): number {
  return mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse);
}

/** Validates a pair and a shave; returns the size left after shaving, at least `minSize` in both directions. */
function checkPair(a: Raster, b: Raster, shave: number, minSize: number): { width: number; height: number } {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`Expected images of equal size, got ${a.width}x${a.height} and ${b.width}x${b.height}`);
  }
  if (!Number.isInteger(shave) || shave < 0) {
    throw new RangeError(`Expected shave to be a non-negative integer, got ${String(shave)}`);
  }
  const width = a.width - 2 * shave;
  const height = a.height - 2 * shave;
  if (width < minSize || height < minSize) {
    throw new RangeError(
      `Expected at least ${minSize}x${minSize} pixels after shaving ${shave}, got ${a.width}x${a.height} images`,
    );
  }
  return { width, height };
}

/** The `width` x `height` block of a `stride`-wide plane starting at (shave, shave). */
function crop(plane: Float64Array, stride: number, shave: number, width: number, height: number): Float64Array {
  if (shave === 0 && stride === width) return plane;
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const from = (y + shave) * stride + shave;
    out.set(plane.subarray(from, from + width), y * width);
  }
  return out;
}

/** Normalised 1-D Gaussian; the 2-D window is its outer product, hence also normalised. */
function gaussian(radius: number, sigma: number): Float64Array {
  const g = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const v = Math.exp(-(k * k) / (2 * sigma * sigma));
    g[k + radius] = v;
    sum += v;
  }
  for (let k = 0; k < g.length; k++) g[k] = (g[k] as number) / sum;
  return g;
}

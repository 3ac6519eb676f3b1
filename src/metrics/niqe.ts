/**
 * NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, "Making a 'Completely Blind' Image
 * Quality Analyzer", IEEE Signal Processing Letters 2013): a no-reference score, lower is better. It measures how
 * far the natural-scene statistics of an image's 96x96 blocks are from those of pristine photographs.
 *
 * Computed as BasicSR's `calculate_niqe(img, crop_border, input_order='HWC', convert_to='y')` does (itself matching
 * the official MATLAB release to 1e-6), with BasicSR's pristine model (./niqe-pristine.ts):
 *  1. Y channel as BasicSR makes it for NIQE (BT.601 through float32, then rounded to integers, half to even);
 *  2. cropped to whole 96x96 blocks, top-left kept;
 *  3. at two scales (the image, then MATLAB bicubic `imresize(Y, 0.5)` with antialiasing, not rounded): MSCN
 *     coefficients `(Y - mu) / (sigma + 1)`, mu and sigma from the 7x7 Gaussian window with edge replication
 *     (scipy `convolve(mode='nearest')`); per block, an asymmetric generalised Gaussian fit of the coefficients and
 *     of their products with the 4 neighbours (horizontal, vertical, both diagonals, circular shifts in the block):
 *     18 features per scale, 36 per block;
 *  4. a Gaussian fitted to the blocks' features (mean ignoring NaN, covariance over the rows without NaN), and the
 *     score `sqrt((mu_p - mu)^T pinv((cov_p + cov) / 2) (mu_p - mu))`.
 * Arithmetic is float64 except where BasicSR's float32 arrays change the result: the luma (bit-exact, checked over
 * all 2^24 colours) and the MSCN normalisation, whose `E[y^2] - mu^2` cancellation moves the test-vector score by
 * 4e-4 (5.72996 in float64 throughout). With both, the test vector scores 5.7295736 (BasicSR 5.7295763, MATLAB
 * 5.72957338).
 */
import type { Raster } from '../image/raster.js';
import { cubic } from '../resample/kernels.js';
import { pinvSymmetric } from './linalg.js';
import { NIQE_GAUSSIAN_WINDOW, NIQE_PRISTINE_COV, NIQE_PRISTINE_MU } from './niqe-pristine.js';

/** Edge of the square blocks NIQE fits, as the pristine model was fitted (the official recommended value). */
export const NIQE_BLOCK_SIZE = 96;

/** Features per block: 18 at full scale, 18 at half scale. */
const FEATURES = 36;
const WINDOW_RADIUS = 3;
const WINDOW_SIZE = 2 * WINDOW_RADIUS + 1;

/** A luma plane: `width * height` values on the 0..255 scale, row-major. */
export interface LumaPlane {
  readonly width: number;
  readonly height: number;
  readonly data: ArrayLike<number>;
}

export interface NiqeOptions {
  /** Pixels removed from every border before the score (BasicSR's `crop_border`). @default 0 */
  cropBorder?: number | undefined;
}

/**
 * The NIQE score of an image (lower is better; good photographs score about 2 to 6, blurred or noisy ones 7 and
 * more).
 *
 * A raster is reduced to BasicSR's NIQE luma: RGB(A) to `Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255` computed
 * through float32 as BasicSR does, alpha ignored; a grey raster is its grey values themselves (as BasicSR reads a
 * grey file); 16-bit samples are scaled to 0..255 first (`v / 257`). Either way, and for a {@link LumaPlane}, the
 * values are rounded to integers (half to even) before use, as BasicSR rounds them. Then `cropBorder` pixels go
 * from every border and the image is cropped top-left to whole 96x96 blocks.
 *
 * @param image - An 8- or 16-bit raster, or a luma plane with values in 0..255, at least 96x96 after `cropBorder`.
 * @returns The score; `NaN` when it is undefined: fewer than two blocks with finite features (a flat or nearly
 *   flat image, whose MSCN coefficients vanish, or an image with a single 96x96 block); BasicSR fails there instead
 *   (a NaN covariance, which numpy's `pinv` rejects).
 * @throws RangeError for a malformed plane, a bad `cropBorder`, or an image smaller than one block.
 * @example
 * const { raster } = await decodeImage('photo.png', { maxPixels: Infinity });
 * const score = niqe(raster); // lower is better: 5.73 for BasicSR's baboon test vector
 */
export function niqe(image: Raster | LumaPlane, options: NiqeOptions = {}): number {
  const border = options.cropBorder ?? 0;
  if (!Number.isInteger(border) || border < 0) {
    throw new RangeError(`Expected cropBorder to be a non-negative integer, got ${String(border)} (${typeof border})`);
  }
  const luma = 'channels' in image ? niqeLuma(image) : checkPlane(image);
  const blocksX = Math.floor((luma.width - 2 * border) / NIQE_BLOCK_SIZE);
  const blocksY = Math.floor((luma.height - 2 * border) / NIQE_BLOCK_SIZE);
  if (blocksX < 1 || blocksY < 1) {
    const cropped = border === 0 ? '' : ` after cropping ${border} pixels per border`;
    throw new RangeError(
      `Expected an image of at least ${NIQE_BLOCK_SIZE}x${NIQE_BLOCK_SIZE} pixels${cropped} (one NIQE block), got ${luma.width}x${luma.height}`,
    );
  }
  const width = blocksX * NIQE_BLOCK_SIZE;
  const height = blocksY * NIQE_BLOCK_SIZE;
  const y = new Float64Array(width * height);
  for (let row = 0; row < height; row++) {
    const from = (row + border) * luma.width + border;
    for (let x = 0; x < width; x++) y[row * width + x] = roundHalfEven(luma.data[from + x] as number);
  }

  const blocks = blocksX * blocksY;
  const features = new Float64Array(blocks * FEATURES);
  blockFeatures(mscn(y, width, height), width, blocksX, blocksY, NIQE_BLOCK_SIZE, features, 0);
  const half = imresizeHalf(y, width, height);
  blockFeatures(mscn(half, width / 2, height / 2), width / 2, blocksX, blocksY, NIQE_BLOCK_SIZE / 2, features, FEATURES / 2);
  return distanceToPristine(features, blocks);
}

/**
 * The luma BasicSR scores: `to_y_channel` of a float32 image (`bgr2ycbcr(img / 255, y_only=True) * 255`) for colour,
 * the samples themselves for grey. Not rounded yet; alpha ignored.
 */
function niqeLuma(raster: Raster): LumaPlane {
  const { width, height, channels, data } = raster;
  const n = width * height;
  const toByteScale = raster.depth === 16 ? 1 / 257 : 1;
  const out = new Float64Array(n);
  const f = Math.fround;
  if (channels >= 3) {
    for (let i = 0, p = 0; i < n; i++, p += channels) {
      const r = f(((data[p] as number) * toByteScale) / 255);
      const g = f(((data[p + 1] as number) * toByteScale) / 255);
      const b = f(((data[p + 2] as number) * toByteScale) / 255);
      // float64 dot product of the float32 samples (B, G, R order), + 16, / 255 to float32, then * 255 in float32.
      out[i] = f(f((b * 24.966 + g * 128.553 + r * 65.481 + 16) / 255) * 255);
    }
  } else {
    for (let i = 0, p = 0; i < n; i++, p += channels) out[i] = (data[p] as number) * toByteScale;
  }
  return { width, height, data: out };
}

function checkPlane(plane: LumaPlane): LumaPlane {
  const { width, height, data } = plane;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`Expected a luma plane with positive integer width and height, got ${String(width)}x${String(height)}`);
  }
  if (data.length !== width * height) {
    throw new RangeError(`Expected ${width * height} luma values for ${width}x${height}, got ${data.length}`);
  }
  return plane;
}

/** numpy's `round`: to the nearest integer, halves to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Mean-subtracted contrast-normalised coefficients, `(y - mu) / (sigma + 1)`, with `mu = w * y` and
 * `sigma = sqrt(|w * y^2 - mu^2|)`, `*` the 7x7 convolution with edges replicated (scipy `mode='nearest'`).
 */
function mscn(y: Float64Array, width: number, height: number): Float64Array {
  // Padded copies of y and y^2, so that the window loop has no bounds checks.
  const pw = width + 2 * WINDOW_RADIUS;
  const ph = height + 2 * WINDOW_RADIUS;
  const padded = new Float64Array(pw * ph);
  const squares = new Float64Array(pw * ph);
  for (let py = 0; py < ph; py++) {
    const sy = Math.min(height - 1, Math.max(0, py - WINDOW_RADIUS));
    for (let px = 0; px < pw; px++) {
      const sx = Math.min(width - 1, Math.max(0, px - WINDOW_RADIUS));
      const v = y[sy * width + sx] as number;
      padded[py * pw + px] = v;
      squares[py * pw + px] = v * v;
    }
  }
  // Convolution flips the window: output (x, y) takes w[i][j] times input (x + R - j, y + R - i).
  const window = new Float64Array(WINDOW_SIZE * WINDOW_SIZE);
  for (let k = 0; k < window.length; k++) window[k] = NIQE_GAUSSIAN_WINDOW[window.length - 1 - k] as number;
  const out = new Float64Array(width * height);
  const f = Math.fround;
  for (let oy = 0; oy < height; oy++) {
    for (let ox = 0; ox < width; ox++) {
      let mu = 0;
      let second = 0;
      for (let i = 0, k = 0; i < WINDOW_SIZE; i++) {
        for (let j = 0, p = (oy + i) * pw + ox; j < WINDOW_SIZE; j++, k++, p++) {
          const w = window[k] as number;
          mu += w * (padded[p] as number);
          second += w * (squares[p] as number);
        }
      }
      // float32 from here on, as BasicSR's arrays are: this cancellation is where the precision shows.
      const mu32 = f(mu);
      const sigma = f(Math.sqrt(f(Math.abs(f(f(second) - f(mu32 * mu32))))));
      out[oy * width + ox] = f(f((y[oy * width + ox] as number) - mu32) / f(sigma + 1));
    }
  }
  return out;
}

/**
 * The 18 features of every block of an MSCN plane, written at `offset` within each block's row of `out` (blocks in
 * row-major order): the AGGD fit of the coefficients (alpha, mean of the two betas), then for the products with
 * the neighbour to the left, above, above-left and above-right (circular within the block, numpy `roll`): alpha,
 * the distribution's mean, beta left, beta right.
 */
function blockFeatures(
  plane: Float64Array,
  width: number,
  blocksX: number,
  blocksY: number,
  size: number,
  out: Float64Array,
  offset: number,
): void {
  const block = new Float64Array(size * size);
  const products = new Float64Array(size * size);
  const shifts: readonly (readonly [number, number])[] = [
    [0, 1],
    [1, 0],
    [1, 1],
    [1, -1],
  ];
  for (let by = 0; by < blocksY; by++) {
    for (let bx = 0; bx < blocksX; bx++) {
      for (let r = 0; r < size; r++) {
        const from = (by * size + r) * width + bx * size;
        block.set(plane.subarray(from, from + size), r * size);
      }
      let o = (by * blocksX + bx) * FEATURES + offset;
      const base = fitAggd(block);
      out[o++] = base.alpha;
      out[o++] = (base.betaLeft + base.betaRight) / 2;
      for (const [dy, dx] of shifts) {
        // roll by (dy, dx): the shifted block at (r, c) holds block (r - dy, c - dx), wrapping around.
        for (let r = 0; r < size; r++) {
          const sr = (r - dy + size) % size;
          for (let c = 0; c < size; c++) {
            const sc = (c - dx + size) % size;
            products[r * size + c] = (block[r * size + c] as number) * (block[sr * size + sc] as number);
          }
        }
        const fit = fitAggd(products);
        out[o++] = fit.alpha;
        out[o++] = (fit.betaRight - fit.betaLeft) * (gamma(2 / fit.alpha) / gamma(1 / fit.alpha));
        out[o++] = fit.betaLeft;
        out[o++] = fit.betaRight;
      }
    }
  }
}

interface AggdFit {
  readonly alpha: number;
  readonly betaLeft: number;
  readonly betaRight: number;
}

/** The shape grid of the AGGD fit, numpy `arange(0.2, 10.001, 0.001)` value for value, and `r(gamma)` on it. */
let shapeGrid: { readonly gam: Float64Array; readonly ratio: Float64Array } | undefined;

function getShapeGrid(): { readonly gam: Float64Array; readonly ratio: Float64Array } {
  if (shapeGrid === undefined) {
    const count = 9801;
    const gam = new Float64Array(count);
    const ratio = new Float64Array(count);
    // numpy's arange fills start + i * delta with delta = (start + step) - start.
    const delta = 0.2 + 0.001 - 0.2;
    for (let i = 0; i < count; i++) {
      const g = i === 0 ? 0.2 : 0.2 + i * delta;
      const inv = 1 / g;
      gam[i] = g;
      ratio[i] = gamma(inv * 2) ** 2 / (gamma(inv) * gamma(inv * 3));
    }
    shapeGrid = { gam, ratio };
  }
  return shapeGrid;
}

/**
 * Fits an asymmetric generalised Gaussian by moment matching (Lasmar et al. 2009), the shape taken from the grid
 * by nearest `r`: as BasicSR's `estimate_aggd_param`. With no negative (or no positive) value the betas are NaN
 * and alpha is the grid's first value, as numpy's `argmin` over NaNs gives.
 */
function fitAggd(values: Float64Array): AggdFit {
  let leftSq = 0;
  let leftCount = 0;
  let rightSq = 0;
  let rightCount = 0;
  let absSum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const sq = v * v;
    if (v < 0) {
      leftSq += sq;
      leftCount++;
    } else if (v > 0) {
      rightSq += sq;
      rightCount++;
    }
    absSum += Math.abs(v);
  }
  const n = values.length;
  const leftStd = Math.sqrt(leftSq / leftCount);
  const rightStd = Math.sqrt(rightSq / rightCount);
  const gammaHat = leftStd / rightStd;
  const rHat = (absSum / n) ** 2 / ((leftSq + rightSq) / n);
  const rHatNorm = (rHat * (gammaHat ** 3 + 1) * (gammaHat + 1)) / (gammaHat ** 2 + 1) ** 2;
  const { gam, ratio } = getShapeGrid();
  let best = 0;
  if (!Number.isNaN(rHatNorm)) {
    let bestError = Infinity;
    for (let i = 0; i < ratio.length; i++) {
      const error = ((ratio[i] as number) - rHatNorm) ** 2;
      if (error < bestError) {
        bestError = error;
        best = i;
      }
    }
  }
  const alpha = gam[best] as number;
  const scale = Math.sqrt(gamma(1 / alpha) / gamma(3 / alpha));
  return { alpha, betaLeft: leftStd * scale, betaRight: rightStd * scale };
}

/**
 * Mahalanobis-like distance between the blocks' Gaussian and the pristine one (Eq. 10 of the paper): the mean over
 * the blocks ignoring NaN (`nanmean`), the covariance (n - 1) over the blocks without NaN, and the pseudo-inverse
 * of the mean of the two covariances.
 */
function distanceToPristine(features: Float64Array, blocks: number): number {
  const mean = new Float64Array(FEATURES);
  for (let f = 0; f < FEATURES; f++) {
    let sum = 0;
    let count = 0;
    for (let b = 0; b < blocks; b++) {
      const v = features[b * FEATURES + f] as number;
      if (Number.isNaN(v)) continue;
      sum += v;
      count++;
    }
    mean[f] = sum / count;
  }
  const complete: number[] = [];
  for (let b = 0; b < blocks; b++) {
    if (!features.subarray(b * FEATURES, (b + 1) * FEATURES).some(Number.isNaN)) complete.push(b);
  }
  if (complete.length < 2 || mean.some((v) => !Number.isFinite(v))) return NaN;
  // Covariance of the complete rows around their own mean, as numpy's cov of the NaN-free rows.
  const completeMean = new Float64Array(FEATURES);
  for (const b of complete) for (let f = 0; f < FEATURES; f++) completeMean[f] = (completeMean[f] as number) + (features[b * FEATURES + f] as number);
  for (let f = 0; f < FEATURES; f++) completeMean[f] = (completeMean[f] as number) / complete.length;
  const pooled = new Float64Array(FEATURES * FEATURES);
  const centred = new Float64Array(FEATURES);
  for (const b of complete) {
    for (let f = 0; f < FEATURES; f++) centred[f] = (features[b * FEATURES + f] as number) - (completeMean[f] as number);
    for (let i = 0; i < FEATURES; i++) {
      const ci = centred[i] as number;
      for (let j = i; j < FEATURES; j++) pooled[i * FEATURES + j] = (pooled[i * FEATURES + j] as number) + ci * (centred[j] as number);
    }
  }
  for (let i = 0; i < FEATURES; i++) {
    for (let j = i; j < FEATURES; j++) {
      const v = ((NIQE_PRISTINE_COV[i * FEATURES + j] as number) + (pooled[i * FEATURES + j] as number) / (complete.length - 1)) / 2;
      pooled[i * FEATURES + j] = v;
      pooled[j * FEATURES + i] = v;
    }
  }
  if (pooled.some((v) => !Number.isFinite(v))) return NaN;
  const inverse = pinvSymmetric(pooled, FEATURES);
  const d = new Float64Array(FEATURES);
  for (let f = 0; f < FEATURES; f++) d[f] = (NIQE_PRISTINE_MU[f] as number) - (mean[f] as number);
  let quadratic = 0;
  for (let i = 0; i < FEATURES; i++) {
    let row = 0;
    for (let j = 0; j < FEATURES; j++) row += (inverse[i * FEATURES + j] as number) * (d[j] as number);
    quadratic += (d[i] as number) * row;
  }
  return Math.sqrt(quadratic);
}

/**
 * MATLAB `imresize(y, 0.5)`, bicubic with antialiasing, on floats and without rounding, as BasicSR's
 * `imresize(img / 255, scale=0.5) * 255` (height first, then width; out-of-range taps mirrored). Sides are even.
 */
function imresizeHalf(y: Float64Array, width: number, height: number): Float64Array {
  const outW = width / 2;
  const outH = height / 2;
  const rows = halfTable(height);
  const cols = halfTable(width);
  const taps = rows.taps;
  const mid = new Float64Array(width * outH);
  for (let oy = 0; oy < outH; oy++) {
    for (let k = 0; k < taps; k++) {
      const w = rows.weights[oy * taps + k] as number;
      const from = (rows.indices[oy * taps + k] as number) * width;
      const to = oy * width;
      for (let x = 0; x < width; x++) mid[to + x] = (mid[to + x] as number) + w * (y[from + x] as number);
    }
  }
  const out = new Float64Array(outW * outH);
  for (let oy = 0; oy < outH; oy++) {
    const row = oy * width;
    for (let ox = 0; ox < outW; ox++) {
      let sum = 0;
      for (let k = 0; k < taps; k++) sum += (cols.weights[ox * taps + k] as number) * (mid[row + (cols.indices[ox * taps + k] as number)] as number);
      out[oy * outW + ox] = sum;
    }
  }
  return out;
}

/**
 * MATLAB's `contributions(n, n / 2, 0.5, @cubic, 4, true)`: the kernel `0.5 * cubic(0.5 x)` over width 8, taps
 * `floor(u - 4) + 0 .. 9` around `u = 2 i - 0.5` (1-based i), normalised, 0-based mirrored indices, and the tap
 * positions that are zero for every output dropped (here the first and last: 8 taps remain).
 */
function halfTable(inSize: number): { readonly taps: number; readonly indices: Int32Array; readonly weights: Float64Array } {
  const outSize = inSize / 2;
  const scale = 0.5;
  const kernelWidth = 4 / scale;
  const all = Math.ceil(kernelWidth) + 2;
  const raw = new Float64Array(outSize * all);
  const rawIndices = new Int32Array(outSize * all);
  const period = 2 * inSize;
  for (let i = 1; i <= outSize; i++) {
    const u = i / scale + 0.5 * (1 - 1 / scale);
    const left = Math.floor(u - kernelWidth / 2);
    let sum = 0;
    for (let k = 0; k < all; k++) {
      const w = scale * cubic(scale * (u - (left + k)));
      raw[(i - 1) * all + k] = w;
      sum += w;
    }
    for (let k = 0; k < all; k++) {
      raw[(i - 1) * all + k] = (raw[(i - 1) * all + k] as number) / sum;
      const m = (((left + k - 1) % period) + period) % period;
      rawIndices[(i - 1) * all + k] = m < inSize ? m : period - 1 - m;
    }
  }
  const keep: number[] = [];
  for (let k = 0; k < all; k++) {
    for (let i = 0; i < outSize; i++) {
      if (raw[i * all + k] !== 0) {
        keep.push(k);
        break;
      }
    }
  }
  const taps = keep.length;
  const indices = new Int32Array(outSize * taps);
  const weights = new Float64Array(outSize * taps);
  for (let i = 0, o = 0; i < outSize; i++) {
    for (const k of keep) {
      indices[o] = rawIndices[i * all + k] as number;
      weights[o++] = raw[i * all + k] as number;
    }
  }
  return { taps, indices, weights };
}

/** Lanczos approximation (g = 7, 9 terms) of the gamma function, relative error about 1e-15 for x > 0. */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function gamma(x: number): number {
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return Math.sqrt(2 * Math.PI) * t ** (z + 0.5) * Math.exp(-t) * a;
}

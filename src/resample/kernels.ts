/**
 * Resampling kernels and the per-axis contribution tables built from them.
 *
 * A table says, for every output index along one axis, which contiguous run of input indices contributes and with
 * which weights. Every output gets the same number of taps (`taps`), padded with zero weights, so the resampling
 * loops have no branches and no per-pixel allocation.
 */

/** The classical kernels `resize` offers. */
export type ResampleKernel = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos3';

/** Every kernel name, for validating user input. */
export const RESAMPLE_KERNELS: readonly ResampleKernel[] = ['nearest', 'bilinear', 'bicubic', 'lanczos3'];

/** Half-width of each continuous kernel, in input pixels at scale 1. */
const RADIUS: Readonly<Record<Exclude<ResampleKernel, 'nearest'>, number>> = { bilinear: 1, bicubic: 2, lanczos3: 3 };

/**
 * Keys cubic convolution kernel with a = -0.5 (MATLAB's `imresize` and Catmull-Rom): interpolating, C1-continuous,
 * support [-2, 2].
 */
export function cubic(x: number): number {
  const ax = Math.abs(x);
  const ax2 = ax * ax;
  const ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

/** Triangle (tent) kernel: linear interpolation, support [-1, 1]. */
export function triangle(x: number): number {
  const ax = Math.abs(x);
  return ax < 1 ? 1 - ax : 0;
}

/** Lanczos kernel with 3 lobes: sinc(x) * sinc(x / 3), support [-3, 3]. */
export function lanczos3(x: number): number {
  const ax = Math.abs(x);
  if (ax < 1e-8) return 1;
  if (ax >= 3) return 0;
  const px = Math.PI * ax;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** The continuous kernel function for a kernel name (nearest has none: it is handled by index, not by weight). */
function kernelFunction(kernel: Exclude<ResampleKernel, 'nearest'>): (x: number) => number {
  switch (kernel) {
    case 'bilinear':
      return triangle;
    case 'bicubic':
      return cubic;
    case 'lanczos3':
      return lanczos3;
  }
}

/**
 * Which input samples feed each output sample along one axis: output `i` is
 * `sum_k weights[i * taps + k] * input[start[i] + k]`, with `start[i] + taps <= inSize` always.
 */
export interface ContributionTable {
  readonly inSize: number;
  readonly outSize: number;
  /** Taps per output (the same for all outputs; unused ones have weight 0). */
  readonly taps: number;
  /** First input index per output; non-decreasing in the output index. */
  readonly start: Int32Array;
  /** `outSize * taps` weights, each row summing to 1. */
  readonly weights: Float64Array;
}

/**
 * Builds the contribution table for resampling one axis from `inSize` to `outSize` samples.
 *
 * Pixel centres are aligned: output `i` samples input coordinate `(i + 0.5) / scale - 0.5`. When downscaling, the
 * kernel is stretched by `1 / scale` so that it also low-pass filters (antialiasing, like MATLAB `imresize`).
 * Taps that fall outside the image are clamped to the edge pixel (replicate). MATLAB mirrors instead
 * (`-1 -> 0`, `-2 -> 1` in 0-based terms): the two agree on the first tap past the edge, so a bicubic enlargement by
 * `s` differs from MATLAB's only in the `s` output pixels nearest each border, which the standard evaluation shaves
 * off (a shrink differs within the stretched kernel's reach, 2 output pixels for bicubic). Clamping lets us fold the
 * outside weights onto the edge sample and keep every run contiguous.
 *
 * @param inSize - Input samples along the axis, a positive integer.
 * @param outSize - Output samples along the axis, a positive integer.
 * @param kernel - The kernel; `nearest` gives one tap of weight 1 at `floor((i + 0.5) / scale)`, clamped.
 * @returns The table; an axis whose size does not change gets the one-tap identity table for every kernel.
 * @example
 * const t = contributions(100, 400, 'bicubic'); // t.taps === 4
 */
export function contributions(inSize: number, outSize: number, kernel: ResampleKernel): ContributionTable {
  if (!Number.isInteger(inSize) || inSize < 1) {
    throw new RangeError(`Expected inSize to be a positive integer, got ${String(inSize)}`);
  }
  if (!Number.isInteger(outSize) || outSize < 1) {
    throw new RangeError(`Expected outSize to be a positive integer, got ${String(outSize)}`);
  }
  const scale = outSize / inSize;
  // An unchanged axis is an exact copy (Lanczos would otherwise leak ~1e-17 weights from sin(k * pi)), at one tap.
  if (kernel === 'nearest' || inSize === outSize) return nearestTable(inSize, outSize, scale);

  const f = kernelFunction(kernel);
  // Downscaling stretches the kernel: evaluate f(x * scale) over a support widened by 1 / scale.
  const stretch = scale < 1 ? scale : 1;
  const radius = RADIUS[kernel] / stretch;
  // At most ceil(2 * radius) integers lie strictly inside (centre - radius, centre + radius).
  const span = Math.ceil(2 * radius);
  const taps = Math.min(inSize, span);
  const start = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  const row = new Float64Array(taps);

  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) / scale - 0.5;
    const first = Math.floor(centre - radius) + 1;
    // Clamped indices all land in [s, s + taps), so the run stays contiguous and in range.
    const s = Math.min(Math.max(first, 0), inSize - taps);
    row.fill(0);
    let sum = 0;
    for (let j = first; j < first + span; j++) {
      const w = f((centre - j) * stretch);
      if (w === 0) continue;
      const k = (j < 0 ? 0 : j >= inSize ? inSize - 1 : j) - s;
      row[k] = (row[k] ?? 0) + w;
      sum += w;
    }
    start[i] = s;
    const base = i * taps;
    for (let k = 0; k < taps; k++) weights[base + k] = (row[k] ?? 0) / sum;
  }
  return { inSize, outSize, taps, start, weights };
}

/** Nearest neighbour as a one-tap table: output `i` copies input `floor((i + 0.5) / scale)`, clamped. */
function nearestTable(inSize: number, outSize: number, scale: number): ContributionTable {
  const start = new Int32Array(outSize);
  const weights = new Float64Array(outSize).fill(1);
  for (let i = 0; i < outSize; i++) start[i] = Math.min(inSize - 1, Math.floor((i + 0.5) / scale));
  return { inSize, outSize, taps: 1, start, weights };
}

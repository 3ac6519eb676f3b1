/**
 * One-off: converts BasicSR's NIQE pristine model (`../shared/eval/niqe/niqe_pris_params.npz`, Apache-2.0) into
 * src/metrics/niqe-pristine.ts, a module of float64 literals that tsc compiles into dist like any other code.
 * Reads the .npz itself (a zip of .npy files, stored or deflated; little-endian float64 arrays, C or Fortran order).
 * Run: node --import tsx scripts/make-niqe-params.ts [path/to/niqe_pris_params.npz]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

interface NpyArray {
  readonly shape: readonly number[];
  readonly values: Float64Array;
}

const source = process.argv[2] ?? new URL('../../shared/eval/niqe/niqe_pris_params.npz', import.meta.url).pathname;
const target = new URL('../src/metrics/niqe-pristine.ts', import.meta.url).pathname;

/** The members of a zip archive, walking the local file headers (numpy writes sizes there, no data descriptors). */
function unzip(zip: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let p = 0;
  while (p + 30 <= zip.length && zip.readUInt32LE(p) === 0x04034b50) {
    const method = zip.readUInt16LE(p + 8);
    let size = zip.readUInt32LE(p + 18);
    const nameLength = zip.readUInt16LE(p + 26);
    const extraLength = zip.readUInt16LE(p + 28);
    const name = zip.toString('utf8', p + 30, p + 30 + nameLength);
    const extra = zip.subarray(p + 30 + nameLength, p + 30 + nameLength + extraLength);
    if (size === 0xffffffff) size = Number(zip64Size(extra));
    const start = p + 30 + nameLength + extraLength;
    const raw = zip.subarray(start, start + size);
    if (method !== 0 && method !== 8) throw new Error(`${name}: unsupported zip method ${method}`);
    files.set(name, method === 0 ? raw : inflateRawSync(raw));
    p = start + size;
  }
  return files;
}

/** The compressed size from a zip64 extra field (id 1: uncompressed size, then compressed size). */
function zip64Size(extra: Buffer): bigint {
  for (let q = 0; q + 4 <= extra.length; q += 4 + extra.readUInt16LE(q + 2)) {
    if (extra.readUInt16LE(q) === 1) return extra.readBigUInt64LE(q + 12);
  }
  throw new Error('zip64 entry without a zip64 extra field');
}

function parseNpy(name: string, npy: Buffer): NpyArray {
  if (npy.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${name}: not a .npy file`);
  const major = npy[6] as number;
  const headerLength = major === 1 ? npy.readUInt16LE(8) : npy.readUInt32LE(8);
  const dataStart = (major === 1 ? 10 : 12) + headerLength;
  const header = npy.toString('latin1', major === 1 ? 10 : 12, dataStart);
  if (!/'descr':\s*'<f8'/.test(header)) throw new Error(`${name}: expected a little-endian float64 array, got ${header.trim()}`);
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (fortran && shape.length > 2) throw new Error(`${name}: Fortran-order arrays of more than 2 dimensions are not supported`);
  const rowsCount = shape.length === 2 ? (shape[0] as number) : 1;
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    // Fortran order stores column after column: element (r, c) of an R x C matrix is at c * R + r.
    const at = fortran ? (i % rowsCount) * (count / rowsCount) + Math.floor(i / rowsCount) : i;
    values[at] = npy.readDoubleLE(dataStart + 8 * i);
  }
  return { shape, values };
}

function get(files: Map<string, Buffer>, key: string, shape: readonly number[]): NpyArray {
  const npy = files.get(`${key}.npy`);
  if (npy === undefined) throw new Error(`${source}: no ${key}.npy`);
  const array = parseNpy(key, npy);
  if (array.shape.join('x') !== shape.join('x')) throw new Error(`${key}: expected shape ${shape.join('x')}, got ${array.shape.join('x')}`);
  return array;
}

/** Rows of shortest round-trip literals (`String(number)`), so the doubles come back bit for bit. */
function rows(a: NpyArray, columns: number): string {
  const lines: string[] = [];
  for (let r = 0; r < a.values.length / columns; r++) {
    lines.push(`  ${Array.from(a.values.subarray(r * columns, (r + 1) * columns), String).join(', ')},`);
  }
  return lines.join('\n');
}

const files = unzip(readFileSync(source));
const mu = get(files, 'mu_pris_param', [1, 36]);
const cov = get(files, 'cov_pris_param', [36, 36]);
const window = get(files, 'gaussian_window', [7, 7]);

writeFileSync(
  target,
  `/**
 * The NIQE "pristine" model: the multivariate Gaussian (mean and covariance of 36 natural-scene-statistics features)
 * that Mittal et al. (2013) fitted to 96x96 blocks of pristine images, and the 7x7 Gaussian window of the MSCN
 * normalisation.
 *
 * Source: BasicSR \`basicsr/metrics/niqe_pris_params.npz\` (https://github.com/XPixelGroup/BasicSR), Apache License
 * 2.0; the numbers are those of the official MATLAB release. Kept as float64 literals in a module (not a JSON file)
 * so they compile into dist with the code. Generated by scripts/make-niqe-params.ts; do not edit.
 */

/** Mean of the pristine features, 36 values (18 at full scale, then 18 at half scale). */
export const NIQE_PRISTINE_MU: readonly number[] = [
${rows(mu, 6)}
];

/** Covariance of the pristine features, 36x36, row-major. */
export const NIQE_PRISTINE_COV: readonly number[] = [
${rows(cov, 36)}
];

/** The 7x7 Gaussian window of the local mean and deviation, row-major, summing to 1. */
export const NIQE_GAUSSIAN_WINDOW: readonly number[] = [
${rows(window, 7)}
];
`,
);
console.log(`wrote ${target}`);

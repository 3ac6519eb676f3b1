import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { isUpscaleError } from '../src/errors.js';
import { evaluate, formatReport, type EvalReport } from '../src/eval/index.js';
import { createRaster, type Raster } from '../src/image/raster.js';
import { pinvSymmetric, symmetricEigen } from '../src/metrics/linalg.js';
import { niqe, NIQE_BLOCK_SIZE } from '../src/metrics/index.js';
import { imresizeMatlab } from '../src/resample/index.js';
import { loadPng } from './helpers/eval-images.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/upscale.js', import.meta.url));
const BABOON = fileURLToPath(new URL('../../shared/eval/niqe/niqe_testvector_baboon.png', import.meta.url));
const SET5_HR = '../shared/eval/Set5/HR';
/** BasicSR's `calculate_niqe(baboon, crop_border=0, input_order='HWC', convert_to='y')`, and its tolerance here. */
const BABOON_NIQE = 5.7296;
const TOLERANCE = 0.0005;

const noShared = existsSync(BABOON) ? false : `evaluation data missing: expected ${BABOON} (the shared folder beside the repository)`;
const noSet5 = existsSync(join(ROOT, SET5_HR)) ? false : `evaluation data missing: expected ${join(ROOT, SET5_HR)}`;

let baboon: Raster;
let dir: string;

before(async () => {
  if (noShared === false) baboon = await loadPng(BABOON);
  dir = mkdtempSync(join(tmpdir(), 'upscale-niqe-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic Gaussian noise (xorshift + Box-Muller) added to every sample, clamped and rounded to 8 bits. */
function addNoise(r: Raster, sigma: number, seed: number): Raster {
  const out = createRaster(r.width, r.height, r.channels, 8);
  let s = seed;
  const uniform = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 1) / 4294967297;
  };
  for (let i = 0; i < r.data.length; i++) {
    const n = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    out.data[i] = Math.max(0, Math.min(255, Math.round((r.data[i] as number) + sigma * n)));
  }
  return out;
}

function grey(width: number, height: number, value: (x: number, y: number) => number): Raster {
  const r = createRaster(width, height, 1, 8);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) r.data[y * width + x] = value(x, y);
  return r;
}

test('NIQE of the BasicSR test vector (baboon, Y channel, no crop) is 5.7296', { skip: noShared }, () => {
  const started = performance.now();
  const score = niqe(baboon);
  const ms = performance.now() - started;
  // We get 5.7295736 (BasicSR 5.7295763, MATLAB 5.72957338), in about 150-450 ms for the 492x480 image.
  assert.ok(Math.abs(score - BABOON_NIQE) <= TOLERANCE, `NIQE ${score}, expected ${BABOON_NIQE} +- ${TOLERANCE} (${ms.toFixed(0)} ms)`);
});

test('NIQE of a luma plane equals that of the raster it comes from, and luma is rounded first', { skip: noShared }, () => {
  const { width, height, data } = baboon;
  const y = new Float64Array(width * height);
  for (let i = 0; i < y.length; i++) {
    y[i] = 16 + (65.481 * (data[3 * i] as number) + 128.553 * (data[3 * i + 1] as number) + 24.966 * (data[3 * i + 2] as number)) / 255;
  }
  // Rounding the plain float64 luma differs from BasicSR's float32 path in a handful of near-ties only.
  assert.ok(Math.abs(niqe({ width, height, data: y }) - niqe(baboon)) < 1e-3);
  // Sub-integer changes vanish in the rounding.
  const rounded = y.map(Math.round);
  const nudged = rounded.map((v) => v + 0.3);
  assert.equal(niqe({ width, height, data: nudged }), niqe({ width, height, data: rounded }));
});

test('NIQE: degraded images score clearly worse (higher) than the natural one', { skip: noShared }, () => {
  const natural = niqe(baboon);
  const noisy = niqe(addNoise(baboon, 25, 7));
  const blurred = niqe(imresizeMatlab(imresizeMatlab(baboon, 123, 120), 492, 480));
  assert.ok(noisy > natural + 3, `noise: ${noisy} against ${natural}`);
  assert.ok(blurred > natural + 1.5, `blur (MATLAB bicubic x4 down and up): ${blurred} against ${natural}`);
});

test('NIQE is NaN when undefined: a flat image has no MSCN coefficients to fit', () => {
  assert.ok(Number.isNaN(niqe(grey(200, 200, () => 128))));
  // One block only: no covariance of the blocks' features (numpy gives NaN too).
  assert.ok(Number.isNaN(niqe(addNoise(grey(100, 150, () => 128), 10, 3))));
});

test('NIQE of pure noise is far from natural statistics', () => {
  const score = niqe(addNoise(grey(288, 288, () => 128), 40, 11));
  assert.ok(Number.isFinite(score) && score > 15, `noise scored ${score}`);
});

test('NIQE: grey rasters are scored on their values; RGB on BT.601 luma; alpha and 16 bits handled', () => {
  const g = addNoise(grey(192, 192, (x, y) => 100 + 60 * Math.sin(x / 5) * Math.cos(y / 7)), 6, 5);
  const plane = { width: 192, height: 192, data: Float64Array.from(g.data) };
  assert.equal(niqe(g), niqe(plane));
  const withAlpha = createRaster(192, 192, 2, 8);
  const deep = createRaster(192, 192, 1, 16);
  for (let i = 0; i < g.data.length; i++) {
    withAlpha.data[2 * i] = g.data[i] as number;
    withAlpha.data[2 * i + 1] = (i * 37) % 256;
    deep.data[i] = (g.data[i] as number) * 257;
  }
  assert.equal(niqe(withAlpha), niqe(g));
  assert.equal(niqe(deep), niqe(g));
});

test('NIQE: cropBorder removes the border before the blocks, the rest is cropped top-left', () => {
  const big = addNoise(grey(210, 200, (x, y) => 120 + 50 * Math.sin((x + y) / 6)), 8, 9);
  const inner = createRaster(192, 192, 1, 8);
  for (let y = 0; y < 192; y++) inner.data.set(big.data.subarray((y + 4) * 210 + 4, (y + 4) * 210 + 196), y * 192);
  assert.equal(niqe(big, { cropBorder: 4 }), niqe(inner));
});

test('NIQE rejects images smaller than a block, bad planes and bad cropBorder', () => {
  assert.equal(NIQE_BLOCK_SIZE, 96);
  assert.throws(() => niqe(grey(95, 300, () => 0)), {
    name: 'RangeError',
    message: 'Expected an image of at least 96x96 pixels (one NIQE block), got 95x300',
  });
  assert.throws(() => niqe(grey(100, 100, () => 0), { cropBorder: 4 }), {
    message: 'Expected an image of at least 96x96 pixels after cropping 4 pixels per border (one NIQE block), got 100x100',
  });
  assert.throws(() => niqe({ width: 100, height: 100, data: new Float64Array(99) }), {
    message: 'Expected 10000 luma values for 100x100, got 99',
  });
  assert.throws(() => niqe(grey(100, 100, () => 0), { cropBorder: -1 }), {
    message: 'Expected cropBorder to be a non-negative integer, got -1 (number)',
  });
});

test('pinvSymmetric inverts regular matrices and pseudo-inverts singular ones', () => {
  assert.deepEqual(Array.from(pinvSymmetric([2, 0, 0, 4], 2)), [0.5, 0, 0, 0.25]);
  // [[1, 1], [1, 1]] has the pseudo-inverse [[1/4, 1/4], [1/4, 1/4]].
  for (const v of pinvSymmetric([1, 1, 1, 1], 2)) assert.ok(Math.abs(v - 0.25) < 1e-15);
  // A random symmetric positive-definite 8x8: A pinv(A) = I.
  const n = 8;
  const b = Array.from({ length: n * n }, (_, i) => Math.sin(i * 1.7 + 0.3));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] = (a[i * n + j] as number) + (b[i * n + k] as number) * (b[j * n + k] as number);
  for (let i = 0; i < n; i++) a[i * n + i] = (a[i * n + i] as number) + 0.1;
  const inv = pinvSymmetric(a, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (a[i * n + k] as number) * (inv[k * n + j] as number);
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-9, `(A pinv A)[${i}][${j}] = ${s}`);
    }
  }
  const values = Array.from(symmetricEigen([2, 1, 1, 2], 2).values).sort((x, y) => x - y);
  assert.ok(Math.abs((values[0] as number) - 1) < 1e-15 && Math.abs((values[1] as number) - 3) < 1e-15, `eigenvalues ${values.join(', ')}`);
  assert.throws(() => pinvSymmetric([1, NaN, NaN, 1], 2), { name: 'RangeError' });
});

test('evaluate({ niqe }) checks the option and names an image too small for NIQE', async () => {
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toFile(join(dir, 'flat.png'));
  await assert.rejects(evaluate({ dataset: dir, scale: 2, models: ['bicubic'], niqe: 'yes' as unknown as boolean }), (e: unknown) => {
    assert.ok(isUpscaleError(e));
    assert.equal(e.code, 'INVALID_OPTION');
    assert.equal(e.message, 'Expected niqe to be a boolean, got "yes" (string)');
    return true;
  });
  await assert.rejects(evaluate({ dataset: dir, scale: 2, models: ['bicubic'], niqe: true }), (e: unknown) => {
    assert.ok(isUpscaleError(e));
    assert.equal(e.code, 'INPUT_UNSUPPORTED');
    assert.equal(e.file, join(dir, 'flat.png'));
    assert.match(e.message, /too small for NIQE: at least 100x100 is needed/);
    return true;
  });
  // Without the option, the report has no NIQE at all.
  const report = await evaluate({ dataset: dir, scale: 2, models: ['bicubic'] });
  assert.equal(report.models[0]?.meanNiqe, undefined);
  assert.equal(report.models[0]?.images[0]?.niqe, undefined);
  assert.doesNotMatch(formatReport(report, { perImage: true }), /NIQE/);
});

test('upscale eval --niqe adds a NIQE column (Set5 x4, bicubic and fast)', { skip: noSet5 }, () => {
  const r = spawnSync(process.execPath, [BIN, 'eval', '-d', SET5_HR, '-s', '4', '-m', 'bicubic,fast', '--niqe', '--per-image'], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  assert.equal(r.status, 0, r.stderr);
  const tables = r.stdout.split('\n\n');
  const summary = tables[tables.length - 1] ?? '';
  const lines = summary.trim().split('\n');
  assert.match(lines[0] ?? '', /^\| model +\| PSNR \(dB\) \| +SSIM \| +NIQE \| +s\/MP \|$/);
  for (const [model, line] of [
    ['bicubic', lines[2]],
    ['fast', lines[3]],
  ] as const) {
    const cells = (line ?? '').split('|').map((c) => c.trim());
    assert.equal(cells[1], model);
    const score = Number(cells[4]);
    assert.ok(Number.isFinite(score) && score > 2 && score < 20, `${model}: NIQE ${cells[4]}`);
  }
  // Every per-image row has its score too.
  const perImage = (tables[1] ?? '').trim().split('\n');
  assert.match(perImage[0] ?? '', /\| +NIQE \|/);
  assert.equal(perImage.length, 2 + 10);
  for (const row of perImage.slice(2)) assert.ok(Number.isFinite(Number(row.split('|')[5])), row);
});

test('the JSON report carries meanNiqe and every image\'s niqe', { skip: noSet5 }, () => {
  const r = spawnSync(process.execPath, [BIN, 'eval', '-d', SET5_HR, '-s', '4', '-m', 'bicubic', '--niqe', '--json'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as EvalReport;
  const [bicubic] = report.models;
  assert.ok(bicubic !== undefined && typeof bicubic.meanNiqe === 'number');
  const scores = bicubic.images.map((image) => image.niqe ?? NaN);
  assert.equal(scores.length, 5);
  assert.ok(Math.abs(scores.reduce((a, b) => a + b, 0) / 5 - bicubic.meanNiqe) < 1e-12);
});

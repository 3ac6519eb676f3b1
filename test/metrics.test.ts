import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRaster } from '../src/image/raster.js';
import type { Channels, Raster } from '../src/image/raster.js';
import { cropToMultiple, psnr, psnrY, ssimY, toY } from '../src/metrics/index.js';
import { loadPng } from './helpers/eval-images.js';
import { imresizeMatlab } from '../src/resample/index.js';

const EVAL = fileURLToPath(new URL('../../shared/eval/', import.meta.url));

/** The eval README's bicubic table (PSNR-Y dB / SSIM-Y, shave = scale), made with MATLAB bicubic upscaling. */
const REFERENCE = {
  Set5: { 2: [33.67, 0.9303], 3: [30.4, 0.8689], 4: [28.43, 0.8111] },
  Set14: { 2: [30.32, 0.8699], 3: [27.63, 0.7759], 4: [26.09, 0.7048] },
} as const;

function filled(width: number, height: number, values: readonly number[]): Raster {
  const r = createRaster(width, height, values.length as Channels, 8);
  for (let i = 0; i < r.data.length; i++) r.data[i] = values[i % values.length] as number;
  return r;
}

/** Deterministic pseudo-random 8-bit raster (xorshift). */
function noise(width: number, height: number, channels: Channels, seed = 1): Raster {
  const r = createRaster(width, height, channels, 8);
  let s = seed;
  for (let i = 0; i < r.data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    r.data[i] = (s >>> 0) % 256;
  }
  return r;
}

/** `r` with `delta` added to every sample, clamped; `amplitude` > 0 adds noise in [-amplitude, amplitude] instead. */
function perturb(r: Raster, delta: number, amplitude = 0, seed = 9): Raster {
  const n = noise(r.width, r.height, r.channels, seed);
  const out = createRaster(r.width, r.height, r.channels, 8);
  for (let i = 0; i < r.data.length; i++) {
    const d = amplitude > 0 ? Math.round((((n.data[i] as number) - 127.5) / 127.5) * amplitude) : delta;
    out.data[i] = Math.min(255, Math.max(0, (r.data[i] as number) + d));
  }
  return out;
}

/** A smooth test picture, so that SSIM has structure to lose. */
function gradient(width: number, height: number, channels: Channels): Raster {
  const r = createRaster(width, height, channels, 8);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        r.data[(y * width + x) * channels + c] = Math.round(127 + 100 * Math.sin(x / 5 + c) * Math.cos(y / 7));
      }
    }
  }
  return r;
}

/** SSIM straight from the definition: every 11x11 window weighted by the 2-D Gaussian, no separability. */
function naiveSsim(a: Float64Array, b: Float64Array, width: number, height: number): number {
  const g: number[] = [];
  for (let k = -5; k <= 5; k++) g.push(Math.exp(-(k * k) / 4.5));
  const total = g.reduce((s, v) => s + v, 0) ** 2;
  const [c1, c2] = [(0.01 * 255) ** 2, (0.03 * 255) ** 2];
  let sum = 0;
  let count = 0;
  for (let y = 0; y + 11 <= height; y++) {
    for (let x = 0; x + 11 <= width; x++) {
      let [ma, mb, aa, bb, ab] = [0, 0, 0, 0, 0];
      for (let j = 0; j < 11; j++) {
        for (let i = 0; i < 11; i++) {
          const w = (g[j]! * g[i]!) / total;
          const va = a[(y + j) * width + x + i]!;
          const vb = b[(y + j) * width + x + i]!;
          ma += w * va;
          mb += w * vb;
          aa += w * va * va;
          bb += w * vb * vb;
          ab += w * va * vb;
        }
      }
      const [va, vb, cov] = [aa - ma * ma, bb - mb * mb, ab - ma * mb];
      sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      count++;
    }
  }
  return sum / count;
}

test('toY is BT.601 luma in [16, 235], grey counting as R = G = B, alpha ignored', () => {
  assert.deepEqual([...toY(filled(1, 1, [0, 0, 0]))], [16]);
  assert.ok(Math.abs(toY(filled(1, 1, [255, 255, 255]))[0]! - 235) < 1e-12, 'white');
  assert.equal(toY(filled(1, 1, [255, 0, 0]))[0], 16 + 65.481);
  assert.equal(toY(filled(1, 1, [10, 20, 30, 99]))[0], 16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255);
  assert.deepEqual(toY(filled(2, 1, [77])), toY(filled(2, 1, [77, 77, 77])));
  assert.deepEqual(toY(filled(2, 1, [77, 3])), toY(filled(2, 1, [77, 77, 77, 200])));
  assert.ok(Math.abs(toY(filled(1, 1, [100]))[0]! - (16 + (219 * 100) / 255)) < 1e-12, 'grey 100');
  assert.throws(() => toY(createRaster(1, 1, 1, 16)), { name: 'RangeError', message: 'Expected an 8-bit raster for luma, got depth 16' });
});

test('psnrY: identical images give Infinity', () => {
  const a = noise(20, 20, 3);
  assert.equal(psnrY(a, a, 0), Infinity);
  assert.equal(psnrY(a, a, 4), Infinity);
  assert.equal(psnr(a, a), Infinity);
});

test('psnrY of a known constant offset', () => {
  const base = filled(16, 12, [100, 100, 100]);
  // R = G = B up by 2 moves Y by 2 * 219 / 255 everywhere: PSNR = 10 log10(255^2 / (438 / 255)^2).
  const expected = 10 * Math.log10(255 ** 2 / (438 / 255) ** 2);
  const offset = psnrY(base, perturb(base, 2), 0);
  assert.ok(Math.abs(offset - expected) < 1e-9, `${offset} vs ${expected}`);
  assert.equal(offset.toFixed(4), '43.4321');
  // Only red up by 3: Y moves by 3 * 65.481 / 255.
  const red = psnrY(base, filled(16, 12, [103, 100, 100]), 0);
  assert.ok(Math.abs(red - 10 * Math.log10(255 ** 2 / ((3 * 65.481) / 255) ** 2)) < 1e-9, `red: ${red}`);
  assert.equal(red.toFixed(4), '50.3969');
  // Grey and its RGB expansion score alike.
  const grey = psnrY(filled(16, 12, [100]), filled(16, 12, [102]), 0);
  assert.ok(Math.abs(grey - expected) < 1e-9, `grey: ${grey}`);
  // All-channel PSNR: every sample off by 2 -> 10 log10(255^2 / 4) = 42.1102.
  const all = psnr(base, perturb(base, 2));
  assert.ok(Math.abs(all - 10 * Math.log10(255 ** 2 / 4)) < 1e-9, `all channels: ${all}`);
  assert.equal(all.toFixed(4), '42.1102');
});

test('psnrY and ssimY ignore the shaved border', () => {
  const a = noise(30, 24, 3);
  const b = createRaster(30, 24, 3, 8);
  b.data.set(a.data);
  // Damage a 3-pixel frame only.
  for (let y = 0; y < 24; y++) {
    for (let x = 0; x < 30; x++) {
      if (x < 3 || y < 3 || x >= 27 || y >= 21) b.data.fill(0, (y * 30 + x) * 3, (y * 30 + x) * 3 + 3);
    }
  }
  assert.ok(Number.isFinite(psnrY(a, b, 2)), 'shave 2 keeps damage');
  assert.equal(psnrY(a, b, 3), Infinity);
  assert.ok(ssimY(a, b, 2) < 1, 'shave 2 keeps damage');
  assert.equal(ssimY(a, b, 3), 1);
});

test('ssimY: identical images give 1, noise lowers it step by step', () => {
  const a = gradient(64, 48, 3);
  assert.equal(ssimY(a, a, 0), 1);
  const light = ssimY(a, perturb(a, 0, 4), 0);
  const heavy = ssimY(a, perturb(a, 0, 40), 0);
  assert.ok(light < 1 && light > 0.9, `light noise: ${light}`);
  assert.ok(heavy < light && heavy < 0.7, `heavy noise: ${heavy} (light ${light})`);
});

test('ssimY of two flat images is the luminance term alone', () => {
  // No variance anywhere: SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) with the Y means.
  const ya = 16 + (219 * 100) / 255;
  const yb = 16 + (219 * 130) / 255;
  const c1 = (0.01 * 255) ** 2;
  const expected = (2 * ya * yb + c1) / (ya * ya + yb * yb + c1);
  const flat = ssimY(filled(15, 13, [100]), filled(15, 13, [130]), 1);
  assert.ok(Math.abs(flat - expected) < 1e-9, `${flat} vs ${expected}`);
});

test('ssimY equals the windowed definition computed directly', () => {
  const a = noise(23, 19, 3, 3);
  const b = perturb(a, 0, 30);
  const direct = naiveSsim(toY(a), toY(b), 23, 19);
  assert.ok(Math.abs(ssimY(a, b, 0) - direct) < 1e-9, `${ssimY(a, b, 0)} vs ${direct}`);
  assert.ok(direct < 0.99, `noise should lower SSIM: ${direct}`);
});

test('metrics reject mismatched sizes, bad shaves and images too small for the window', () => {
  const a = noise(20, 10, 3);
  const b = noise(10, 20, 3);
  const message = 'Expected images of equal size, got 20x10 and 10x20';
  assert.throws(() => psnrY(a, b, 0), { name: 'RangeError', message });
  assert.throws(() => ssimY(a, b, 0), { name: 'RangeError', message });
  assert.throws(() => psnr(a, b), { name: 'RangeError', message });
  assert.throws(() => psnrY(a, a, -1), { name: 'RangeError', message: 'Expected shave to be a non-negative integer, got -1' });
  assert.throws(() => ssimY(a, a, 0), {
    name: 'RangeError',
    message: 'Expected at least 11x11 pixels after shaving 0, got 20x10 images',
  });
});



test('MATLAB bicubic upscaling of LR_bicubic reproduces the reference PSNR-Y / SSIM-Y table', async () => {
  for (const set of ['Set5', 'Set14'] as const) {
    const hrDir = `${EVAL}${set}/HR`;
    assert.ok(existsSync(hrDir), `evaluation data missing: expected ${hrDir} (the shared folder beside the repository)`);
    const names = readdirSync(hrDir).filter((f) => f.endsWith('.png'));
    assert.equal(names.length, set === 'Set5' ? 5 : 14);
    const hrs = await Promise.all(names.map((f) => loadPng(`${hrDir}/${f}`)));
    for (const scale of [2, 3, 4] as const) {
      let p = 0;
      let s = 0;
      for (const [i, file] of names.entries()) {
        const hr = cropToMultiple(hrs[i]!, scale);
        const lr = await loadPng(`${EVAL}${set}/LR_bicubic/X${scale}/${file.replace('.png', `x${scale}.png`)}`);
        const up = imresizeMatlab(lr, hr.width, hr.height);
        p += psnrY(up, hr, scale);
        s += ssimY(up, hr, scale);
      }
      const [refP, refS] = REFERENCE[set][scale];
      const meanP = p / names.length;
      const meanS = s / names.length;
      assert.ok(Math.abs(meanP - refP) <= 0.01, `${set} x${scale}: PSNR-Y ${meanP.toFixed(4)}, reference ${refP}`);
      assert.ok(Math.abs(meanS - refS) <= 0.0001, `${set} x${scale}: SSIM-Y ${meanS.toFixed(5)}, reference ${refS}`);
    }
  }
});

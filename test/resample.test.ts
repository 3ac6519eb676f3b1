import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRaster, maxSample } from '../src/image/raster.js';
import type { Channels, Raster } from '../src/image/raster.js';
import { contributions, imresizeMatlab, resize, RESAMPLE_KERNELS } from '../src/resample/index.js';
import type { ResampleKernel } from '../src/resample/index.js';
import { cropToMultiple, psnrY, ssimY } from '../src/metrics/index.js';
import { loadPng } from './helpers/eval-images.js';
import { isUpscaleError } from '../src/errors.js';

const EVAL = fileURLToPath(new URL('../../shared/eval/', import.meta.url));
const SETS = ['Set5', 'Set14'] as const;
const SCALES = [2, 3, 4] as const;

/** Bicubic upscaling of LR_bicubic, mean PSNR-Y / SSIM-Y with shave = scale: the eval README's reproduced table. */
const REFERENCE: Record<(typeof SETS)[number], Record<(typeof SCALES)[number], [number, number]>> = {
  Set5: { 2: [33.67, 0.9303], 3: [30.4, 0.8689], 4: [28.43, 0.8111] },
  Set14: { 2: [30.32, 0.8699], 3: [27.63, 0.7759], 4: [26.09, 0.7048] },
};

function evalDir(...parts: string[]): string {
  const dir = EVAL + parts.join('/');
  assert.ok(existsSync(dir), `evaluation data missing: expected ${dir} (the shared folder beside the repository)`);
  return dir;
}



interface Pair {
  name: string;
  hr: Raster;
  lr: Raster;
}

/** HR (cropped) and LR_bicubic pairs of one set and scale; LR files are named `<name>x<scale>.png`. */
async function loadPairs(set: string, scale: number): Promise<Pair[]> {
  const names = readdirSync(evalDir(set, 'HR')).filter((f) => f.endsWith('.png'));
  assert.ok(names.length >= 5, `${set}/HR: expected images, found ${names.length}`);
  return Promise.all(
    names.map(async (file) => {
      const name = file.slice(0, -'.png'.length);
      const hr = cropToMultiple(await loadPng(`${evalDir(set, 'HR')}/${file}`), scale);
      const lr = await loadPng(`${evalDir(set, 'LR_bicubic', `X${scale}`)}/${name}x${scale}.png`);
      return { name, hr, lr };
    }),
  );
}

function countDifferences(a: Raster, b: Raster): number {
  assert.deepEqual([a.width, a.height, a.channels, a.depth], [b.width, b.height, b.channels, b.depth]);
  let n = 0;
  for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) n++;
  return n;
}

/** Deterministic pseudo-random raster (xorshift), so failures reproduce. */
function noise(width: number, height: number, channels: Channels, depth: 8 | 16 = 8, seed = 1): Raster {
  const r = createRaster(width, height, channels, depth);
  let s = seed;
  const mod = depth === 16 ? 65536 : 256;
  for (let i = 0; i < r.data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    r.data[i] = (s >>> 0) % mod;
  }
  return r;
}

function filled(width: number, height: number, values: readonly number[], depth: 8 | 16 = 8): Raster {
  const r = createRaster(width, height, values.length as Channels, depth);
  for (let i = 0; i < r.data.length; i++) r.data[i] = values[i % values.length] as number;
  return r;
}

const pairs = new Map<string, Promise<Pair[]>>();
function pairsOf(set: string, scale: number): Promise<Pair[]> {
  const key = `${set}x${scale}`;
  let p = pairs.get(key);
  if (p === undefined) pairs.set(key, (p = loadPairs(set, scale)));
  return p;
}

test('imresizeMatlab reproduces every LR_bicubic file of Set5 and Set14 byte for byte', async () => {
  let checked = 0;
  for (const set of SETS) {
    for (const scale of SCALES) {
      for (const { name, hr, lr } of await pairsOf(set, scale)) {
        const mine = imresizeMatlab(hr, hr.width / scale, hr.height / scale);
        assert.equal(countDifferences(mine, lr), 0, `${set} ${name} x${scale}: samples differ from LR_bicubic`);
        checked++;
      }
    }
  }
  assert.equal(checked, 3 * (5 + 14));
});

test('resize bicubic enlargement of LR_bicubic meets the reference PSNR-Y / SSIM-Y', async () => {
  for (const set of SETS) {
    for (const scale of SCALES) {
      const list = await pairsOf(set, scale);
      let p = 0;
      let s = 0;
      for (const { hr, lr } of list) {
        const up = resize(lr, hr.width, hr.height, 'bicubic');
        p += psnrY(up, hr, scale);
        s += ssimY(up, hr, scale);
      }
      const [refP, refS] = REFERENCE[set][scale];
      const meanP = p / list.length;
      const meanS = s / list.length;
      // Reference values are rounded to 0.01 dB and 0.0001.
      assert.ok(meanP >= refP - 0.005, `${set} x${scale}: PSNR-Y ${meanP.toFixed(4)} below ${refP}`);
      assert.ok(meanS >= refS - 0.00005, `${set} x${scale}: SSIM-Y ${meanS.toFixed(5)} below ${refS}`);
    }
  }
});

test('resize keeps a constant image constant, for every kernel, size and channel count', () => {
  const sizes: [number, number, number, number][] = [
    [1, 1, 5, 3],
    [2, 3, 7, 9],
    [10, 7, 25, 18],
    [25, 18, 10, 7],
    [40, 40, 9, 13],
  ];
  for (const kernel of RESAMPLE_KERNELS) {
    for (const values of [[77], [10, 250], [0, 128, 255], [1, 2, 3, 4]]) {
      for (const [w, h, ow, oh] of sizes) {
        const out = resize(filled(w, h, values), ow, oh, kernel);
        assert.equal(out.width, ow);
        assert.equal(out.height, oh);
        assert.equal(out.channels, values.length);
        const expected = filled(ow, oh, values);
        assert.equal(countDifferences(out, expected), 0, `${kernel} ${values.length}ch ${w}x${h} -> ${ow}x${oh}`);
      }
    }
  }
});

test('resize to the same size is an exact copy, for every kernel', () => {
  const src = noise(17, 9, 3, 16);
  for (const kernel of RESAMPLE_KERNELS) assert.equal(countDifferences(resize(src, 17, 9, kernel), src), 0, kernel);
});

test('nearest x2 of a 2x2 image gives 2x2 blocks', () => {
  const src = createRaster(2, 2, 1, 8);
  src.data.set([1, 2, 3, 4]);
  const out = resize(src, 4, 4, 'nearest');
  assert.deepEqual([...out.data], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

test('nearest picks floor((i + 0.5) / scale) for non-integer factors', () => {
  const src = createRaster(5, 1, 1, 8);
  src.data.set([0, 10, 20, 30, 40]);
  // scale 0.6: (i + 0.5) / 0.6 = 0.83, 2.5, 4.17 -> 0, 2, 4
  assert.deepEqual([...resize(src, 3, 1, 'nearest').data], [0, 20, 40]);
});

test('enlarging does not shift the image: a bright pixel stays at its scaled centre', () => {
  const [w, h, px, py] = [12, 10, 5, 4];
  const src = filled(w, h, [100]);
  src.data[py * w + px] = 200;
  for (const kernel of ['bilinear', 'bicubic', 'lanczos3'] as const) {
    for (const scale of [2, 3, 4]) {
      const out = resize(src, w * scale, h * scale, kernel);
      let mass = 0;
      let mx = 0;
      let my = 0;
      for (let y = 0; y < out.height; y++) {
        for (let x = 0; x < out.width; x++) {
          const m = (out.data[y * out.width + x] as number) - 100;
          mass += m;
          mx += m * x;
          my += m * y;
        }
      }
      // Input pixel centre px sits at output coordinate (px + 0.5) * scale - 0.5.
      const ex = (px + 0.5) * scale - 0.5;
      const ey = (py + 0.5) * scale - 0.5;
      assert.ok(Math.abs(mx / mass - ex) <= 0.01, `${kernel} x${scale}: centre x ${mx / mass}, expected ${ex}`);
      assert.ok(Math.abs(my / mass - ey) <= 0.01, `${kernel} x${scale}: centre y ${my / mass}, expected ${ey}`);
    }
  }
});

test('bicubic x2 uses the Keys a = -0.5 weights at the right positions', () => {
  const src = createRaster(6, 1, 1, 8);
  src.data.set([0, 0, 100, 200, 200, 200]);
  const out = resize(src, 12, 1, 'bicubic');
  // Output 5 samples input 5.5 / 2 - 0.5 = 2.25: taps 1..4 at distances 1.25, 0.25, 0.75, 1.75.
  const weights = [-0.0703125, 0.8671875, 0.2265625, -0.0234375];
  const value = weights[1]! * 100 + weights[2]! * 200 + weights[3]! * 200; // tap 1 is 0
  assert.equal(out.data[5], Math.floor(value + 0.5));
  assert.equal(out.data[5], 127);
});

test('downscaling antialiases: a fine checkerboard shrinks to flat grey', () => {
  const size = 96;
  const board = createRaster(size, size, 1, 8);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) board.data[y * size + x] = (x + y) % 2 ? 255 : 0;
  for (const factor of [3, 4]) {
    for (const kernel of ['bilinear', 'bicubic', 'lanczos3'] as const) {
      const out = resize(board, size / factor, size / factor, kernel);
      const w = out.width;
      const all = [...out.data];
      // Away from the border, where replicated edge samples unbalance the pattern a little.
      const inner = all.filter((_, i) => i % w >= 2 && i % w < w - 2 && i >= 2 * w && i < (w - 2) * w);
      const span = (v: number[]): string => `${Math.min(...v)}..${Math.max(...v)}`;
      assert.ok(Math.min(...inner) >= 126 && Math.max(...inner) <= 129, `${kernel} /${factor}: inside ${span(inner)}`);
      assert.ok(Math.min(...all) >= 120 && Math.max(...all) <= 135, `${kernel} /${factor}: ${span(all)}`);
    }
  }
  // Nearest does not filter: at /3 it keeps the aliased checkerboard, which is what the others must avoid (at /4
  // plain point sampling of this pattern would land between pixels and look grey anyway).
  const aliased = resize(board, size / 3, size / 3, 'nearest');
  assert.deepEqual([Math.min(...aliased.data), Math.max(...aliased.data)], [0, 255]);
});

test('16-bit in gives 16-bit out, keeping values above 255 and clamping overshoot', () => {
  const src = createRaster(8, 1, 1, 16);
  src.data.set([1000, 1000, 1000, 1000, 65535, 65535, 65535, 65535]);
  for (const kernel of RESAMPLE_KERNELS) {
    const out = resize(src, 32, 4, kernel);
    assert.equal(out.depth, 16);
    assert.ok(out.data instanceof Uint16Array, 'Uint16Array samples');
    assert.equal(out.data[0], 1000);
    assert.equal(out.data[31], 65535);
    // Bicubic and Lanczos ring past both sides of the step: clamped, never wrapped.
    const values = [...out.data];
    assert.ok(Math.max(...values) <= 65535 && Math.min(...values) >= 0, `${kernel}: out of range`);
  }
  const ring = resize(src, 32, 1, 'bicubic');
  assert.ok(Math.min(...ring.data) < 1000, 'bicubic undershoots before a step');
  const constant = resize(filled(3, 3, [40000, 300], 16), 7, 5, 'lanczos3');
  assert.equal(countDifferences(constant, filled(7, 5, [40000, 300], 16)), 0);
});

test('channels are resampled independently: an RGBA resize equals four grey resizes', () => {
  const src = noise(13, 11, 4);
  for (const kernel of RESAMPLE_KERNELS) {
    for (const [ow, oh] of [
      [32, 27],
      [5, 4],
    ] as const) {
      const out = resize(src, ow, oh, kernel);
      for (let c = 0; c < 4; c++) {
        const plane = createRaster(13, 11, 1, 8);
        for (let i = 0; i < 13 * 11; i++) plane.data[i] = src.data[i * 4 + c] as number;
        const single = resize(plane, ow, oh, kernel);
        for (let i = 0; i < ow * oh; i++) {
          assert.equal(out.data[i * 4 + c], single.data[i], `${kernel} channel ${c} sample ${i}`);
        }
      }
    }
  }
  // And three channels (its own fast path) agree with the generic path through a 4-channel image.
  const rgb = noise(9, 9, 3, 8, 7);
  const rgba = createRaster(9, 9, 4, 8);
  for (let i = 0; i < 81; i++) for (let c = 0; c < 3; c++) rgba.data[i * 4 + c] = rgb.data[i * 3 + c] as number;
  const a = resize(rgb, 20, 23, 'lanczos3');
  const b = resize(rgba, 20, 23, 'lanczos3');
  for (let i = 0; i < 20 * 23; i++) for (let c = 0; c < 3; c++) assert.equal(a.data[i * 3 + c], b.data[i * 4 + c]);
});

test('non-integer factors give the requested size', () => {
  const src = noise(10, 6, 3);
  for (const kernel of RESAMPLE_KERNELS) {
    const up = resize(src, 25, 15, kernel);
    assert.deepEqual([up.width, up.height, up.channels, up.depth, up.data.length], [25, 15, 3, 8, 25 * 15 * 3]);
    const down = resize(up, 10, 6, kernel);
    assert.deepEqual([down.width, down.height], [10, 6]);
  }
});

/** Straightforward 2-D resampling from the same tables, one output pixel at a time, for comparison. */
function naiveResize(src: Raster, width: number, height: number, kernel: ResampleKernel): Raster {
  const h = contributions(src.width, width, kernel);
  const v = contributions(src.height, height, kernel);
  const out = createRaster(width, height, src.channels, src.depth);
  const ch = src.channels;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        let sum = 0;
        for (let ky = 0; ky < v.taps; ky++) {
          const row = v.start[y]! + ky;
          let rowSum = 0;
          for (let kx = 0; kx < h.taps; kx++) {
            rowSum += h.weights[x * h.taps + kx]! * src.data[(row * src.width + h.start[x]! + kx) * ch + c]!;
          }
          // resize keeps horizontally resampled rows as float32.
          sum += v.weights[y * v.taps + ky]! * Math.fround(rowSum);
        }
        out.data[(y * width + x) * ch + c] = Math.min(maxSample(src.depth), Math.max(0, Math.floor(sum + 0.5)));
      }
    }
  }
  return out;
}

test('strips join seamlessly: tall images match a one-pixel-at-a-time resample exactly', () => {
  // Several 64-row strips each, enlarging (strips share input rows) and shrinking (strips need many input rows).
  const cases: [Raster, number, number, ResampleKernel][] = [
    [noise(5, 150, 3), 7, 437, 'bicubic'],
    [noise(6, 150, 1, 16), 4, 333, 'lanczos3'],
    [noise(5, 700, 4), 3, 130, 'bicubic'],
    [noise(5, 300, 2), 9, 200, 'bilinear'],
  ];
  for (const [src, w, h, kernel] of cases) {
    assert.equal(countDifferences(resize(src, w, h, kernel), naiveResize(src, w, h, kernel)), 0, `${kernel} ${w}x${h}`);
  }
  // A vertical ramp comes out monotonic, with the strip boundary row 64 exactly on input row 64.5 / 3 - 0.5 = 21.
  const ramp = createRaster(3, 100, 1, 8);
  for (let y = 0; y < 100; y++) ramp.data.fill(y * 2, y * 3, y * 3 + 3);
  const out = resize(ramp, 3, 300, 'bicubic');
  for (let y = 1; y < 300; y++) assert.ok(out.data[y * 3]! >= out.data[(y - 1) * 3]!, `row ${y} decreases`);
  assert.equal(out.data[64 * 3], 42);
});

test('resize stops with ABORTED when the signal fires, before or between strips', () => {
  const src = noise(20, 50, 3);
  const controller = new AbortController();
  controller.abort();
  assert.throws(
    () => resize(src, 40, 400, 'bicubic', { signal: controller.signal }),
    (e: unknown) => isUpscaleError(e) && e.code === 'ABORTED',
  );
  // A signal that fires on its third check (entry, strip 1, strip 2): one strip is done, the other six are not.
  let checks = 0;
  const later = {
    get aborted() {
      return ++checks > 2;
    },
  } as unknown as AbortSignal;
  assert.throws(
    () => resize(src, 40, 400, 'bicubic', { signal: later }),
    (e: unknown) => isUpscaleError(e) && e.code === 'ABORTED',
  );
  assert.equal(checks, 3);
});

test('resize rejects bad sizes and kernels', () => {
  const src = noise(4, 4, 1);
  assert.throws(() => resize(src, 0, 4, 'bicubic'), { name: 'RangeError', message: 'Expected width to be a positive integer, got 0 (number)' });
  assert.throws(() => resize(src, 4, 2.5, 'bicubic'), { name: 'RangeError', message: 'Expected height to be a positive integer, got 2.5 (number)' });
  assert.throws(() => resize(src, 4, 4, 'cubic' as ResampleKernel), {
    name: 'RangeError',
    message: 'Expected kernel to be one of nearest, bilinear, bicubic, lanczos3, got cubic',
  });
});

test('imresizeMatlab mirrors out-of-range taps where resize clamps, and handles 16-bit', () => {
  const src = createRaster(4, 1, 1, 8);
  src.data.set([100, 0, 200, 250]);
  // Output 1 (1-based) of x2 sits at u = 0.75; its taps -1, 0, 1, 2 mirror to 2, 1, 1, 2 (1-based), with weights
  // cubic(1.75), cubic(0.75), cubic(0.25), cubic(1.25).
  const weights = [-0.0234375, 0.2265625, 0.8671875, -0.0703125];
  const mirrored = weights[0]! * 0 + weights[1]! * 100 + weights[2]! * 100 + weights[3]! * 0;
  assert.equal(imresizeMatlab(src, 8, 1).data[0], Math.round(mirrored));
  assert.equal(imresizeMatlab(src, 8, 1).data[0], 109);
  // resize replicates the edge instead: taps 0, 0, 0, 1 (0-based).
  assert.equal(resize(src, 8, 1, 'bicubic').data[0], Math.round((weights[0]! + weights[1]! + weights[2]!) * 100));
  assert.equal(resize(src, 8, 1, 'bicubic').data[0], 107);
  const deep = imresizeMatlab(filled(5, 4, [60000, 7], 16), 11, 3);
  assert.equal(countDifferences(deep, filled(11, 3, [60000, 7], 16)), 0);
  assert.throws(() => imresizeMatlab(src, 0, 1), {
    name: 'RangeError',
    message: 'Expected outWidth to be a positive integer, got 0 (number)',
  });
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { isUpscaleError } from '../src/errors.js';
import { evaluate, formatReport, listDataset, type EvalProgress, type EvalReport } from '../src/eval/index.js';
import { createRaster, type Channels, type Raster } from '../src/image/raster.js';
import { ssimY } from '../src/metrics/index.js';
import { imresizeMatlab, resize } from '../src/resample/index.js';
import { loadPng } from './helpers/eval-images.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/upscale.js', import.meta.url));
const SET5 = fileURLToPath(new URL('../../shared/eval/Set5/', import.meta.url));
/** As typed on the command line from the repository root. */
const SET5_HR = '../shared/eval/Set5/HR';
const SET5_LR_X4 = '../shared/eval/Set5/LR_bicubic/X4';
/** Reference bicubic numbers of the eval README, Set5 x4 (PSNR-Y dB, SSIM-Y). */
const SET5_X4 = { psnr: 28.43, ssim: 0.8111 };
const SET5_NAMES = ['baby', 'bird', 'butterfly', 'head', 'woman'];

let dir: string;

function upscale(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Deterministic structured 8-bit picture: smooth waves plus a little xorshift noise, so PSNR is finite. */
function picture(width: number, height: number, channels: Channels, seed: number): Raster {
  const r = createRaster(width, height, channels, 8);
  let s = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const wave = 128 + 90 * Math.sin((x + 3 * c) / (2 + seed)) * Math.cos(y / 3.5);
        r.data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(wave + ((s >>> 0) % 21) - 10)));
      }
    }
  }
  return r;
}

async function writeImage(path: string, r: Raster, format: 'png' | 'webp' = 'png'): Promise<void> {
  const image = sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels } });
  await (format === 'png' ? image.png() : image.webp({ lossless: true })).toFile(path);
}

function crop(r: Raster, width: number, height: number): Raster {
  const out = createRaster(width, height, r.channels, r.depth);
  for (let y = 0; y < height; y++) out.data.set(r.data.subarray(y * r.width * r.channels, (y * r.width + width) * r.channels), y * width * r.channels);
  return out;
}

/** PSNR-Y straight from the protocol's formulas, independent of src/metrics. */
function directPsnrY(a: Raster, b: Raster, shave: number): number {
  const luma = (r: Raster, i: number): number => {
    const p = i * r.channels;
    const [red, green, blue] = r.channels >= 3 ? [r.data[p]!, r.data[p + 1]!, r.data[p + 2]!] : [r.data[p]!, r.data[p]!, r.data[p]!];
    return 16 + (65.481 * red + 128.553 * green + 24.966 * blue) / 255;
  };
  let sum = 0;
  let count = 0;
  for (let y = shave; y < a.height - shave; y++) {
    for (let x = shave; x < a.width - shave; x++) {
      const d = luma(a, y * a.width + x) - luma(b, y * b.width + x);
      sum += d * d;
      count++;
    }
  }
  return 10 * Math.log10((255 * 255) / (sum / count));
}

/** The tiny dataset, at x2: a grey image, the same pixels as RGB, and a colour image of odd size (cropped). */
const TINY = {
  grey: picture(40, 36, 1, 1),
  colour: picture(45, 39, 3, 2),
};

before(async () => {
  assert.ok(existsSync(SET5), `evaluation data missing: expected ${SET5} (the shared folder beside the repository)`);
  dir = mkdtempSync(join(tmpdir(), 'upscale-eval-'));
  for (const sub of ['tiny', 'tiny-lr', 'bad-lr', 'two-lr', 'empty', 'small']) mkdirSync(join(dir, sub));
  const grey3 = createRaster(40, 36, 3, 8);
  for (let i = 0; i < grey3.data.length; i++) grey3.data[i] = TINY.grey.data[Math.floor(i / 3)]!;
  await writeImage(join(dir, 'tiny', 'grey.png'), TINY.grey);
  await writeImage(join(dir, 'tiny', 'grey-rgb.png'), grey3);
  await writeImage(join(dir, 'tiny', 'colour.png'), TINY.colour);
  writeFileSync(join(dir, 'tiny', 'notes.txt'), 'not an image\n');
  // Ready-made LR files in both naming styles and another extension: the same pixels evaluate the same.
  await writeImage(join(dir, 'tiny-lr', 'grey.webp'), imresizeMatlab(TINY.grey, 20, 18), 'webp');
  await writeImage(join(dir, 'tiny-lr', 'grey-rgbx2.png'), imresizeMatlab(grey3, 20, 18));
  await writeImage(join(dir, 'tiny-lr', 'colourx2.png'), imresizeMatlab(crop(TINY.colour, 44, 38), 22, 19));
  // colour.png is 45x39, cropped to 44x38, so its x2 LR must be 22x19; 23x19 (45 / 2 rounded up) is wrong.
  await writeImage(join(dir, 'bad-lr', 'grey.png'), imresizeMatlab(TINY.grey, 20, 18));
  await writeImage(join(dir, 'bad-lr', 'grey-rgb.png'), imresizeMatlab(grey3, 20, 18));
  await writeImage(join(dir, 'bad-lr', 'colourx2.png'), imresizeMatlab(TINY.colour, 23, 19));
  await writeImage(join(dir, 'two-lr', 'grey.png'), imresizeMatlab(TINY.grey, 20, 18));
  await writeImage(join(dir, 'two-lr', 'greyx2.png'), imresizeMatlab(TINY.grey, 20, 18));
  await writeImage(join(dir, 'two-lr', 'grey-rgb.png'), imresizeMatlab(grey3, 20, 18));
  await writeImage(join(dir, 'two-lr', 'colour.png'), imresizeMatlab(crop(TINY.colour, 44, 38), 22, 19));
  writeFileSync(join(dir, 'empty', 'readme.txt'), 'no images here\n');
  await writeImage(join(dir, 'small', 'tiny.png'), picture(18, 18, 3, 3));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function parseReport(stdout: string): EvalReport {
  return JSON.parse(stdout) as EvalReport;
}

function assertReference(report: EvalReport): void {
  const [bicubic] = report.models;
  assert.ok(bicubic !== undefined);
  assert.ok(Math.abs(bicubic.meanPsnr - SET5_X4.psnr) <= 0.02, `PSNR ${bicubic.meanPsnr}, expected ${SET5_X4.psnr} +- 0.02`);
  assert.ok(Math.abs(bicubic.meanSsim - SET5_X4.ssim) <= 0.002, `SSIM ${bicubic.meanSsim}, expected ${SET5_X4.ssim} +- 0.002`);
}

let set5FromHr: EvalReport | undefined;

/** `upscale eval` of bicubic on Set5 x4 with LR made from HR, run once for the tests that need it. */
function evalSet5FromHr(): EvalReport {
  if (set5FromHr === undefined) {
    const r = upscale('eval', '--dataset', SET5_HR, '--scale', '4', '--model', 'bicubic', '--json');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    set5FromHr = parseReport(r.stdout);
  }
  return set5FromHr;
}

test('upscale eval: bicubic on Set5 x4 reproduces the reference 28.43 dB / 0.8111, LR made from HR', () => {
  const report = evalSet5FromHr();
  assert.deepEqual(Object.keys(report), ['scale', 'dataset', 'models']);
  assert.equal(report.scale, 4);
  assert.equal(report.dataset, SET5_HR);
  assert.equal(report.models.length, 1);
  const [model] = report.models;
  assert.deepEqual(Object.keys(model!), ['model', 'images', 'meanPsnr', 'meanSsim', 'secondsPerOutputMegapixel']);
  assert.equal(model!.model, 'bicubic');
  assert.deepEqual(model!.images.map((i) => i.name), SET5_NAMES);
  for (const image of model!.images) {
    assert.deepEqual(Object.keys(image), ['name', 'psnr', 'ssim', 'seconds']);
    assert.ok(image.psnr > 20 && image.psnr < 40, `${image.name}: PSNR ${image.psnr}`);
    assert.ok(image.ssim > 0.6 && image.ssim < 1, `${image.name}: SSIM ${image.ssim}`);
    assert.ok(image.seconds > 0 && image.seconds < 10, `${image.name}: ${image.seconds} s`);
  }
  const mean = (key: 'psnr' | 'ssim'): number => model!.images.reduce((s, i) => s + i[key], 0) / model!.images.length;
  assert.equal(model!.meanPsnr, mean('psnr'));
  assert.equal(model!.meanSsim, mean('ssim'));
  // Butterfly is the hard image of Set5: a check that names and numbers stay paired.
  assert.equal(model!.images.find((i) => i.name === 'butterfly')!.psnr.toFixed(2), '22.10');
  assert.ok(model!.secondsPerOutputMegapixel > 0);
  assertReference(report);
});

test('upscale eval --lr: the LR_bicubic/X4 files give the same numbers, image for image', () => {
  const fromHr = evalSet5FromHr();
  const r = upscale('eval', '-d', SET5_HR, '-s', '4', '-m', 'bicubic', '--lr', SET5_LR_X4, '--json');
  assert.equal(r.code, 0, r.stderr);
  const fromFiles = parseReport(r.stdout);
  assertReference(fromFiles);
  // imresizeMatlab is bit-exact, so the LR inputs and therefore every metric are identical.
  const metrics = (report: EvalReport): unknown => report.models[0]!.images.map(({ name, psnr, ssim }) => ({ name, psnr, ssim }));
  assert.deepEqual(metrics(fromFiles), metrics(fromHr));
});

test('upscale eval prints a table: one row per model, per image with --per-image', () => {
  const r = upscale('eval', '--dataset', SET5_HR, '--scale', '4', '--model', 'bicubic,lanczos3', '--per-image');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'Set5 x4, 5 images');
  assert.equal(lines[2], '| image     | model    | PSNR (dB) |   SSIM | seconds |');
  assert.match(lines[4]!, /^\| baby {6}\| bicubic {2}\| {5}31\.79 \| 0\.8577 \| +[\d.]+ \|$/);
  assert.equal(lines.filter((l) => / lanczos3 /.test(l)).length, 6);
  const summary = lines.slice(lines.findIndex((l) => /^\| model {4}\| PSNR \(dB\) \| {3}SSIM \| +s\/MP \|$/.test(l)));
  assert.equal(summary.length, 4);
  assert.match(summary[1]!, /^\|-+\|-+:\|-+:\|-+:\|$/);
  assert.match(summary[2]!, /^\| bicubic {2}\| {5}28\.43 \| 0\.811\d \| +[\d.]+ \|$/);
  assert.match(summary[3]!, /^\| lanczos3 \| {5}28\.\d\d \| 0\.\d{4} \| +[\d.]+ \|$/);
});

test('a generated dataset: grey and odd-sized images, PSNR as computed directly from the protocol', async () => {
  const tiny = join(dir, 'tiny');
  const r = upscale('eval', '--dataset', tiny, '--scale', '2', '--model', 'bicubic', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = parseReport(r.stdout);
  const images = report.models[0]!.images;
  assert.deepEqual(images.map((i) => i.name), ['colour', 'grey', 'grey-rgb']);
  for (const image of images) {
    // The protocol by hand: read back, crop top-left to even sides, MATLAB bicubic down, our bicubic up.
    const original = await loadPng(join(tiny, `${image.name}.png`));
    const hr = crop(original, original.width - (original.width % 2), original.height - (original.height % 2));
    const sr = resize(imresizeMatlab(hr, hr.width / 2, hr.height / 2), hr.width, hr.height, 'bicubic');
    assert.ok(Math.abs(image.psnr - directPsnrY(sr, hr, 2)) < 1e-9, `${image.name}: ${image.psnr} vs ${directPsnrY(sr, hr, 2)}`);
    assert.ok(Math.abs(image.ssim - ssimY(sr, hr, 2)) < 1e-12);
  }
  // Grey counts as R = G = B: the one-channel file and its RGB copy score the same.
  const [, grey, greyRgb] = images;
  assert.equal(grey!.psnr, greyRgb!.psnr);
  assert.equal(grey!.ssim, greyRgb!.ssim);

  // The same pixels as ready-made LR files (name.webp, namex2.png) give the same numbers.
  const withLr = parseReport(upscale('eval', '-d', tiny, '-s', '2', '-m', 'bicubic', '--lr', join(dir, 'tiny-lr'), '--json').stdout);
  assert.deepEqual(
    withLr.models[0]!.images.map(({ name, psnr, ssim }) => ({ name, psnr, ssim })),
    images.map(({ name, psnr, ssim }) => ({ name, psnr, ssim })),
  );
});

test('evaluate(): the library call, with progress events and models in order', async () => {
  const events: EvalProgress[] = [];
  const report = await evaluate({ dataset: join(dir, 'tiny'), scale: 2, models: ['cubic', 'nearest'], onProgress: (e) => events.push(e) });
  assert.deepEqual(report.models.map((m) => m.model), ['bicubic', 'nearest']);
  assert.deepEqual(
    events.map((e) => (e.stage === 'model' ? `model ${e.model} ${e.index}/${e.total}` : `image ${e.model} ${e.result.name} ${e.index}/${e.total}`)),
    [
      'model cubic 0/2',
      'image bicubic colour 0/3',
      'image bicubic grey 1/3',
      'image bicubic grey-rgb 2/3',
      'model nearest 1/2',
      'image nearest colour 0/3',
      'image nearest grey 1/3',
      'image nearest grey-rgb 2/3',
    ],
  );
  assert.ok(report.models[0]!.meanPsnr > report.models[1]!.meanPsnr, 'bicubic beats nearest');
  const text = formatReport(report);
  assert.match(text, /^tiny x2, 3 images\n\n\| model {3}\| PSNR \(dB\) \| {3}SSIM \| +s\/MP \|\n/);
});

test('evaluate(): cancelled by its signal; options checked with messages that say what was got', async () => {
  const controller = new AbortController();
  const run = evaluate({
    dataset: join(dir, 'tiny'),
    scale: 2,
    models: ['bicubic'],
    signal: controller.signal,
    onProgress: (e) => {
      if (e.stage === 'image') controller.abort();
    },
  });
  await assert.rejects(run, (e: unknown) => isUpscaleError(e) && e.code === 'ABORTED');
  const invalid = async (options: Parameters<typeof evaluate>[0], message: string): Promise<void> => {
    await assert.rejects(evaluate(options), (e: unknown) => isUpscaleError(e) && e.code === 'INVALID_OPTION' && e.message === message);
  };
  await invalid({ dataset: SET5_HR, scale: 1, models: ['bicubic'] }, 'Expected scale to be an integer from 2 to 8, got 1 (number)');
  await invalid({ dataset: SET5_HR, scale: 2.5, models: ['bicubic'] }, 'Expected scale to be an integer from 2 to 8, got 2.5 (number)');
  await invalid({ dataset: SET5_HR, scale: 4, models: [] }, 'Expected models to be a non-empty list of model ids or .onnx paths, got []');
  await invalid({ dataset: '', scale: 4, models: ['bicubic'] }, 'Expected dataset to be a directory path, got "" (string)');
});

test('listDataset pairs HR with LR by name or name x scale, any extension, in file-name order', () => {
  const images = listDataset(join(dir, 'tiny'), { scale: 2, lr: join(dir, 'tiny-lr') });
  assert.deepEqual(
    images.map((i) => [i.name, relative(dir, i.hr), relative(dir, i.lr!)]),
    [
      ['colour', 'tiny/colour.png', 'tiny-lr/colourx2.png'],
      ['grey', 'tiny/grey.png', 'tiny-lr/grey.webp'],
      ['grey-rgb', 'tiny/grey-rgb.png', 'tiny-lr/grey-rgbx2.png'],
    ],
  );
});

test('evaluate(): dataset errors name the directory or file and say what was expected', async () => {
  const fails = async (options: Parameters<typeof evaluate>[0], code: string, message: string): Promise<void> => {
    await assert.rejects(evaluate(options), (e: unknown) => {
      assert.ok(isUpscaleError(e), String(e));
      assert.equal(e.message, message);
      assert.equal(e.code, code);
      return true;
    });
  };
  const models = ['bicubic'];
  await fails(
    { dataset: join(dir, 'empty'), scale: 4, models },
    'INPUT_NOT_FOUND',
    `${join(dir, 'empty')}: no images in the directory (expected png, jpg, jpeg, webp, tif, tiff, avif, heic, heif, gif files)`,
  );
  await fails({ dataset: join(dir, 'empty', 'readme.txt'), scale: 4, models }, 'INPUT_UNSUPPORTED', `${join(dir, 'empty', 'readme.txt')}: not a directory, expected a directory of HR images`);
  await fails({ dataset: SET5_HR, lr: join(dir, 'missing'), scale: 4, models }, 'INPUT_NOT_FOUND', `${join(dir, 'missing')}: no such directory, expected a directory of LR images`);
  await fails(
    { dataset: SET5_HR, lr: SET5_LR_X4, scale: 2, models },
    'INPUT_NOT_FOUND',
    `${SET5_LR_X4}: no LR image for baby.png (expected baby.png or babyx2.png, any image extension)`,
  );
  await fails(
    { dataset: join(dir, 'tiny'), lr: join(dir, 'two-lr'), scale: 2, models },
    'INPUT_UNSUPPORTED',
    `${join(dir, 'two-lr')}: several LR images for grey.png (grey.png, greyx2.png); keep one`,
  );
  await fails(
    { dataset: join(dir, 'small'), scale: 4, models },
    'INPUT_UNSUPPORTED',
    `${join(dir, 'small', 'tiny.png')}: image is 18x18 (16x16 once cropped to a multiple of 4), too small to evaluate at x4: at least 19x19 is needed (the 11x11 SSIM window after shaving 4 pixels per border)`,
  );
});

test('upscale eval errors: one line on stderr, exit 1 for the data, 2 for usage and models', () => {
  const fails = (args: string[], code: number, stderr: string | RegExp): void => {
    const r = upscale('eval', ...args);
    if (typeof stderr === 'string') assert.equal(r.stderr, stderr);
    else assert.match(r.stderr, stderr);
    assert.equal(r.code, code);
    assert.equal(r.stdout, '');
  };
  const missing = join(dir, 'missing');
  fails(['-d', missing, '-s', '4', '-m', 'bicubic'], 1, `upscale: ${missing}: no such directory, expected a directory of HR images\n`);
  fails(
    ['-d', join(dir, 'tiny'), '-s', '2', '-m', 'bicubic', '--lr', join(dir, 'bad-lr')],
    1,
    `upscale: ${join(dir, 'bad-lr', 'colourx2.png')}: LR image is 23x19, expected 22x19 (HR ${join(dir, 'tiny', 'colour.png')} is 45x39 cropped to 44x38, divided by 2)\n`,
  );
  fails(['-d', SET5_HR, '-s', '9', '-m', 'bicubic'], 2, `error: option '-s, --scale <n>' argument '9' is invalid. Expected an integer from 2 to 8, got "9".\n`);
  fails(['-s', '4', '-m', 'bicubic'], 2, 'upscale: give either --dataset (ground truth) or --inputs (no reference)\n');
  // Model names are checked before any model runs: bicubic, listed first, is not evaluated.
  fails(
    ['-d', SET5_HR, '-s', '4', '-m', 'bicubic,no-such-model'],
    2,
    /^upscale: unknown model "no-such-model" \(expected one of [^\n]*bicubic[^\n]*, or a model file: \.onnx, \.pth, [^\n]*\)\n$/,
  );
  fails(['-d', SET5_HR, '-s', '4', '-m', 'bicubic', '-m', './missing.onnx'], 2, /^upscale: \.\/missing\.onnx: [^\n]+\n$/);
});

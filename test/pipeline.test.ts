import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRaster, type Raster } from '../src/image/raster.js';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import { classicalModel } from '../src/models/classical.js';
import { defaultTileBudget, upscaleRaster, type UpscaleProgress } from '../src/pipeline/upscale-raster.js';
import { passesFor, resolveTargetSize } from '../src/pipeline/size.js';
import { bleedTransparentColour, splitAlpha } from '../src/pipeline/alpha.js';
import { resize } from '../src/resample/index.js';
import { isUpscaleError } from '../src/errors.js';
import { nearestUpscaleModel } from './fixtures/models.js';
import { GraphBuilder, attr } from '../src/onnx/index.js';
import { maxAbsDiff, nearestRaster, testRaster } from './helpers/rasters.js';

const nearestX2 = () => loadOnnxBytes(nearestUpscaleModel(2), { label: 'x2.onnx', threads: 2 }, { id: 'x2', name: 'x2' });

test('target sizes: factor, width, height, both, fit', () => {
  const input = { width: 400, height: 300 };
  assert.deepEqual(resolveTargetSize(input, {}, 4), { width: 1600, height: 1200 });
  assert.deepEqual(resolveTargetSize(input, { scale: 2.5 }, 4), { width: 1000, height: 750 });
  assert.deepEqual(resolveTargetSize(input, { width: 1000 }, 4), { width: 1000, height: 750 });
  assert.deepEqual(resolveTargetSize(input, { height: 900 }, 4), { width: 1200, height: 900 });
  assert.deepEqual(resolveTargetSize(input, { width: 500, height: 500 }, 4), { width: 500, height: 500 });
  assert.deepEqual(resolveTargetSize(input, { fit: { width: 3840, height: 2160 } }, 4), { width: 2880, height: 2160 });
  assert.throws(() => resolveTargetSize(input, { scale: 0 }, 4), /Expected scale to be a number above 0 and at most 64, got 0/);
  assert.throws(() => resolveTargetSize(input, { scale: 2, width: 10 }, 4), /Expected one of scale, width\/height or fit, got several/);
  assert.throws(() => resolveTargetSize(input, { width: 1.5 }, 4), /Expected width to be a positive integer, got 1.5/);
});

test('passes: at least one, more when the target exceeds the model scale', () => {
  const input = { width: 10, height: 10 };
  assert.equal(passesFor(input, { width: 40, height: 40 }, 4), 1);
  assert.equal(passesFor(input, { width: 20, height: 20 }, 4), 1);
  assert.equal(passesFor(input, { width: 5, height: 5 }, 4), 1);
  assert.equal(passesFor(input, { width: 160, height: 160 }, 4), 2);
  assert.equal(passesFor(input, { width: 170, height: 170 }, 4), 3);
  assert.equal(passesFor(input, { width: 30, height: 30 }, 2), 2);
});

test('native scale: the network output, exactly', async () => {
  const model = await nearestX2();
  try {
    const source = testRaster(37, 23);
    const out = await upscaleRaster(source, model, { width: 74, height: 46 });
    assert.equal(maxAbsDiff(out, nearestRaster(source, 2)), 0);
  } finally {
    await model.network.dispose();
  }
});

test('above the model scale the network runs again: x4 from a x2 network is two passes of it', async () => {
  const model = await nearestX2();
  try {
    const source = testRaster(19, 11);
    const events: UpscaleProgress[] = [];
    const out = await upscaleRaster(source, model, { width: 76, height: 44 }, { tileSize: 16, onProgress: (e) => events.push(e) });
    assert.equal(maxAbsDiff(out, nearestRaster(source, 4)), 0);
    const tiles = events.filter((e) => e.stage === 'tile');
    assert.deepEqual([...new Set(tiles.map((e) => e.pass))], [1, 2]);
    assert.ok(tiles.every((e) => e.passes === 2));
    const last = tiles.at(-1)!;
    assert.ok(Math.abs(last.fraction - 1) < 1e-9 && last.etaMs === 0);
    assert.ok(!events.some((e) => e.stage === 'resize'), 'no resize when the passes land on the target');
  } finally {
    await model.network.dispose();
  }
});

test('between scales: the network runs, then a high-quality resize reaches the exact size', async () => {
  const model = await nearestX2();
  try {
    const source = testRaster(20, 10);
    const events: UpscaleProgress[] = [];
    const out = await upscaleRaster(source, model, { width: 30, height: 15 }, { onProgress: (e) => events.push(e) });
    assert.equal(out.width, 30);
    assert.equal(out.height, 15);
    assert.equal(out.depth, 8);
    assert.ok(events.some((e) => e.stage === 'tile'), 'the network ran');
    assert.ok(events.some((e) => e.stage === 'resize'));
    // x1.5 = the network's x2, then lanczos3 down: compare with that composition done by hand.
    const expected = resize(nearestRaster(source, 2), 30, 15, 'lanczos3');
    assert.ok(maxAbsDiff(out, expected) <= 1);
  } finally {
    await model.network.dispose();
  }
});

test('classical methods resize straight to any size', async () => {
  const source = testRaster(20, 10);
  const out = await upscaleRaster(source, classicalModel('lanczos')!, { width: 51, height: 25 });
  assert.equal(out.width, 51);
  assert.equal(out.height, 25);
  assert.equal(maxAbsDiff(out, resize(source, 51, 25, 'lanczos3')), 0);
});

/** A red disc on a fully transparent, black background (RGBA 0,0,0,0): the case that fringes. */
function redDisc(size: number): Raster {
  const raster = createRaster(size, size, 4, 8);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (Math.hypot(x - c, y - c) < size / 3) raster.data.set([220, 30, 40, 255], (y * size + x) * 4);
    }
  }
  return raster;
}

test('alpha: colour under transparent pixels is bled outward before enlarging', () => {
  const { colour, alpha } = splitAlpha(redDisc(16));
  bleedTransparentColour(colour, alpha!);
  for (let i = 0; i < 16 * 16; i++) assert.deepEqual([...colour.data.subarray(i * 3, i * 3 + 3)], [220, 30, 40]);
});

test('alpha: no dark fringe at transparent edges, alpha enlarged smoothly', async () => {
  const model = await nearestX2();
  try {
    for (const m of [model, classicalModel('bicubic')!]) {
      const out = await upscaleRaster(redDisc(24), m, { width: 48, height: 48 });
      assert.equal(out.channels, 4);
      let partial = 0;
      for (let i = 0; i < 48 * 48; i++) {
        const [r, g, b, a] = out.data.subarray(i * 4, i * 4 + 4);
        if (a! > 0) {
          // Every visible pixel, edges included, keeps the disc's colour: no black mixed in.
          assert.ok(Math.abs(r! - 220) <= 2 && Math.abs(g! - 30) <= 2 && Math.abs(b! - 40) <= 2, `pixel ${i} is ${r},${g},${b},${a}`);
        }
        if (a! > 0 && a! < 255) partial++;
      }
      assert.ok(partial > 0, 'the alpha edge is interpolated, not blocky');
    }
  } finally {
    await model.network.dispose();
  }
});

test('grey and 16-bit survive the pipeline', async () => {
  const model = await nearestX2();
  try {
    const grey16 = testRaster(15, 9, 2, 16);
    const out = await upscaleRaster(grey16, model, { width: 30, height: 18 });
    assert.equal(out.channels, 2);
    assert.equal(out.depth, 16);
    // The colour plane is the exact network output; values above 255 prove 16 bits were kept.
    const colour = splitAlpha(out).colour;
    assert.equal(maxAbsDiff(colour, nearestRaster(splitAlpha(grey16).colour, 2)), 0);
    assert.ok(colour.data.some((v) => v > 255 && v % 257 !== 0));
  } finally {
    await model.network.dispose();
  }
});

test('cancel before start rejects with ABORTED', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(upscaleRaster(testRaster(8, 8), classicalModel('bicubic')!, { width: 16, height: 16 }, { signal: controller.signal }), (e) =>
    isUpscaleError(e) && e.code === 'ABORTED',
  );
});

test('a channels-last (NHWC) ONNX model is recognised and runs: transposed in and out, scale probed', async () => {
  // NHWC in and out around the NCHW nearest x2 graph: what a TensorFlow export looks like from outside.
  const g = new GraphBuilder({ name: 'nhwc_x2' });
  const input = g.input('input', 'float32', [1, 'H', 'W', 3]);
  const nchw = g.node('Transpose', [input], { perm: attr.ints([0, 3, 1, 2]) });
  const scales = g.initializer('scales', [4], new Float32Array([1, 1, 2, 2]));
  const up = g.node('Resize', [nchw, '', scales], { mode: attr.string('nearest'), coordinate_transformation_mode: attr.string('asymmetric'), nearest_mode: attr.string('floor') });
  g.node('Transpose', [up], { perm: attr.ints([0, 2, 3, 1]) }, { output: 'output' });
  g.output('output', 'float32', [1, 'OH', 'OW', 3]);
  const model = await loadOnnxBytes(g.toModel(), { label: 'nhwc.onnx', threads: 1 }, { id: 'nhwc' });
  try {
    assert.equal(model.network.scale, 2);
    const source = testRaster(13, 7);
    const out = await upscaleRaster(source, model, { width: 26, height: 14 });
    assert.equal(maxAbsDiff(out, nearestRaster(source, 2)), 0);
  } finally {
    await model.network.dispose();
  }
});

test('the default tile budget leaves room for a huge output image', () => {
  const rgb8 = createRaster(4000, 3000, 3, 8);
  // 192 MP RGB output, one pass: 576 MB of output leaves 448 MB for the tiles.
  assert.equal(defaultTileBudget(rgb8, { width: 16000, height: 12000 }, 1), 1024 ** 3 - 16000 * 12000 * 3);
  // Small outputs keep the whole gigabyte but for the output; huge ones still get the floor.
  assert.equal(defaultTileBudget(rgb8, { width: 100, height: 100 }, 1), 1024 ** 3 - 30000);
  assert.equal(defaultTileBudget(rgb8, { width: 32000, height: 24000 }, 2), 256 * 1024 ** 2);
});

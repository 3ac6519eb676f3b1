import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import { chooseTileSize, planTiles } from '../src/tiling/plan.js';
import { runTiled, type TileDoneEvent } from '../src/tiling/run.js';
import { isUpscaleError } from '../src/errors.js';
import { convNetReceptiveRadius, randomConvNet, pixelShuffleX2Model } from './fixtures/models.js';
import { maxAbsDiff, nearestRaster, testRaster } from './helpers/rasters.js';

const NET = { layers: 4, channels: 8, scale: 2, seed: 7 } as const;

async function loadNet(bytes: Uint8Array) {
  return loadOnnxBytes(bytes, { label: 'fixture.onnx', threads: 2 }, { id: 'fixture', name: 'fixture' });
}

test('planTiles: cores partition the image and padded regions add clamped overlap', () => {
  const tiles = planTiles(100, 70, 48, 8);
  assert.equal(tiles.length, 3 * 2);
  const cover = new Uint8Array(100 * 70);
  for (const { core, padded } of tiles) {
    for (let y = core.y; y < core.y + core.height; y++) for (let x = core.x; x < core.x + core.width; x++) cover[y * 100 + x]! += 1;
    assert.equal(padded.x, Math.max(0, core.x - 8));
    assert.equal(padded.y, Math.max(0, core.y - 8));
    assert.equal(padded.x + padded.width, Math.min(100, core.x + core.width + 8));
    assert.equal(padded.y + padded.height, Math.min(70, core.y + core.height + 8));
  }
  assert.ok(cover.every((c) => c === 1), 'every pixel belongs to exactly one core');
  assert.deepEqual(tiles.map((t) => t.core.width).slice(0, 3), [33, 34, 33]);
  assert.throws(() => planTiles(10, 10, 0, 0), /Expected tileSize to be a positive integer, got 0/);
});

test('chooseTileSize follows the memory budget, capped, and respects the size multiple', () => {
  assert.equal(chooseTileSize({ bytesPerInputPixel: 2048, sizeMultiple: 1 }, 1024 ** 3), 512);
  assert.equal(chooseTileSize({ bytesPerInputPixel: 2048, sizeMultiple: 1 }, 32 * 1024 ** 2), 128);
  assert.equal(chooseTileSize({ bytesPerInputPixel: 2048, sizeMultiple: 24 }, 32 * 1024 ** 2), 120);
});

test('chooseTileSize gives a model that is not tiling-safe the whole image as one tile when it fits the budget', () => {
  const global = { bytesPerInputPixel: 2048, sizeMultiple: 2, tilingSafe: false };
  // 1000x700 x 2 KB = 1.4 GB: over a 1 GiB budget, so tiles as usual; 2 GiB holds it whole (beyond the 512 cap).
  assert.equal(chooseTileSize(global, 1024 ** 3, { width: 1000, height: 700 }), 512);
  assert.equal(chooseTileSize(global, 2 * 1024 ** 3, { width: 1000, height: 700 }), 1000);
  assert.equal(chooseTileSize({ ...global, tilingSafe: true }, 2 * 1024 ** 3, { width: 1000, height: 700 }), 512);
});

test('tiled output equals whole-image output when the receptive field fits in the overlap', async () => {
  const model = await loadNet(randomConvNet(NET));
  try {
    assert.equal(model.network.scale, 2, 'scale found by a probe run');
    const source = testRaster(101, 67);
    const radius = convNetReceptiveRadius(NET);
    const whole = await runTiled(source, model.network, { tileSize: 1024, overlap: 0, outputDepth: 8 });
    // 29 divides neither 101 nor 67: uneven tiles, edges in the middle of the image.
    const tiled = await runTiled(source, model.network, { tileSize: 29, overlap: radius, outputDepth: 8 });
    assert.ok(maxAbsDiff(whole, tiled) <= 1, `tiled differs from whole by ${maxAbsDiff(whole, tiled)}/255`);
    // Control: without enough overlap the seams show, so the comparison above can fail.
    const seamy = await runTiled(source, model.network, { tileSize: 29, overlap: 1, outputDepth: 8 });
    assert.ok(maxAbsDiff(whole, seamy) > 1, 'too little overlap must show seams');
  } finally {
    await model.network.dispose();
  }
});

test('grey images go through an RGB network and come back grey; 16-bit stays 16-bit', async () => {
  const model = await loadNet(pixelShuffleX2Model());
  try {
    const grey = testRaster(21, 13, 1, 16);
    const out = await runTiled(grey, model.network, { tileSize: 8, overlap: 2, outputDepth: 16 });
    assert.equal(out.channels, 1);
    assert.equal(out.depth, 16);
    assert.equal(maxAbsDiff(out, nearestRaster(grey, 2)), 0);
  } finally {
    await model.network.dispose();
  }
});

test('each tile reports its output rectangle; together they cover the output once', async () => {
  const model = await loadNet(pixelShuffleX2Model());
  try {
    const events: TileDoneEvent[] = [];
    const source = testRaster(50, 30);
    await runTiled(source, model.network, { tileSize: 16, overlap: 2, outputDepth: 8, onTile: (e) => events.push(e) });
    assert.equal(events.length, 4 * 2);
    assert.deepEqual(events.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7]);
    const area = events.reduce((sum, e) => sum + e.rect.width * e.rect.height, 0);
    assert.equal(area, 100 * 60);
    assert.ok(events.every((e) => e.total === 8));
  } finally {
    await model.network.dispose();
  }
});

test('an abort stops within one tile', async () => {
  const model = await loadNet(pixelShuffleX2Model());
  try {
    const controller = new AbortController();
    let done = 0;
    await assert.rejects(
      runTiled(testRaster(64, 64), model.network, {
        tileSize: 16,
        overlap: 0,
        outputDepth: 8,
        signal: controller.signal,
        onTile: () => {
          done++;
          if (done === 2) controller.abort();
        },
      }),
      (error) => isUpscaleError(error) && error.code === 'ABORTED',
    );
    assert.equal(done, 2, 'no tile runs after the abort');
  } finally {
    await model.network.dispose();
  }
});

test('planTiles with an alignment starts every padded region on a multiple of it, cores still partitioning the image', () => {
  const tiles = planTiles(101, 70, 30, 5, 4);
  let covered = 0;
  for (const { core, padded } of tiles) {
    assert.equal(padded.x % 4, 0);
    assert.equal(padded.y % 4, 0);
    assert.equal(core.x % 4, 0);
    assert.equal(core.y % 4, 0);
    // At least the overlap asked for on every side that is not the image's edge.
    if (core.x > 0) assert.ok(core.x - padded.x >= 5);
    if (core.x + core.width < 101) assert.ok(padded.x + padded.width - (core.x + core.width) >= 5);
    covered += core.width * core.height;
  }
  assert.equal(covered, 101 * 70);
  assert.deepEqual(planTiles(100, 70, 48, 8, 1), planTiles(100, 70, 48, 8));
  assert.throws(() => planTiles(10, 10, 8, 0, 0), /Expected alignment to be a positive integer, got 0/);
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUpscaler, isUpscaleError, listModels } from '../src/index.js';
import { pickScale, resolveModel } from '../src/models/registry.js';
import { runTiled } from '../src/tiling/run.js';
import { maxAbsDiff, testRaster } from './helpers/rasters.js';

let cache: string;
const previous = process.env.UPSCALE_CACHE_DIR;
before(() => {
  cache = mkdtempSync(join(tmpdir(), 'upscale-cache-'));
  process.env.UPSCALE_CACHE_DIR = cache;
});
after(() => {
  if (previous === undefined) delete process.env.UPSCALE_CACHE_DIR;
  else process.env.UPSCALE_CACHE_DIR = previous;
  rmSync(cache, { recursive: true, force: true });
});

test('built-in families, aliases and variants resolve; a missing scale is a clear error', async () => {
  const ids = listModels().map((m) => m.id);
  assert.deepEqual(ids.slice(0, 9), ['photo', 'fast', 'quality', 'photo-gan', 'anime', 'anime-fast', 'esrgan-slim', 'esrgan-medium', 'esrgan-thick']);
  const thick = await resolveModel('thick');
  assert.equal(thick.descriptor.id, 'esrgan-thick');
  assert.deepEqual(thick.scales, [2, 3, 4, 8]);
  assert.equal(thick.descriptor.quality?.['Set5 x4']?.psnr, 29.94);
  const x2 = await resolveModel('esrgan-slim-x2');
  assert.deepEqual(x2.scales, [2]);
  await assert.rejects(resolveModel('esrgan-slim-x5'), (e) => isUpscaleError(e) && /esrgan-slim comes at x2, x3, x4, x8, not x5/.test(e.message));
});

test('our own model ships in models/ and loads without conversion', async () => {
  const fast = await resolveModel('fast');
  assert.deepEqual(fast.scales, [2, 4]);
  const model = await fast.load(4);
  assert.equal(model.kind, 'network');
  if (model.kind !== 'network') return;
  try {
    assert.equal(model.network.scale, 4);
    assert.equal(model.network.receptiveField, 8);
    assert.equal(model.sha256, '84331cf49aeb4b87c052f596436db2146daf9b916d6dfe3ef01eb69f0feb2def');
    // Tiled equals whole: its receptive field (8 convs) is declared exactly.
    const source = testRaster(61, 37, 3, 8, 9);
    const whole = await runTiled(source, model.network, { tileSize: 1024, overlap: 0, outputDepth: 8 });
    const tiled = await runTiled(source, model.network, { tileSize: 20, overlap: model.network.receptiveField, outputDepth: 8 });
    assert.ok(maxAbsDiff(whole, tiled) <= 1, `tiles differ by ${maxAbsDiff(whole, tiled)}/255`);
  } finally {
    await model.network.dispose();
  }
});

test('the variant is chosen for the factor asked', () => {
  assert.equal(pickScale([2, 3, 4, 8], 2), 2);
  assert.equal(pickScale([2, 3, 4, 8], 2.5), 3);
  assert.equal(pickScale([2, 3, 4, 8], 4), 4);
  assert.equal(pickScale([2, 3, 4, 8], 6), 8);
  assert.equal(pickScale([2, 3, 4, 8], 16), 8);
  assert.equal(pickScale([2, 3, 4, 8], 1.5), 2);
});

test('conversion runs once: the ONNX is cached under the weights hash and reused', async () => {
  const first = await createUpscaler({ model: 'esrgan-slim' });
  const out = await first.upscale(testRaster(24, 16), { scale: 2 });
  assert.deepEqual([out.width, out.height], [48, 32]);
  await first.dispose();
  const files = readdirSync(join(cache, 'models'));
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^[0-9a-f]{64}\.onnx$/);
  const converted = statSync(join(cache, 'models', files[0]!)).mtimeMs;

  const second = await createUpscaler({ model: 'esrgan-slim-x2' });
  const again = await second.upscale(testRaster(24, 16), { scale: 2 });
  await second.dispose();
  assert.equal(maxAbsDiff(out, again), 0);
  assert.deepEqual(readdirSync(join(cache, 'models')), files, 'no second conversion');
  assert.equal(statSync(join(cache, 'models', files[0]!)).mtimeMs, converted);
});

test('a built-in network tiles seamlessly with its overlap', async () => {
  const choice = await resolveModel('esrgan-medium');
  const model = await choice.load(2);
  assert.equal(model.kind, 'network');
  if (model.kind !== 'network') return;
  try {
    const source = testRaster(70, 45, 3, 8, 5);
    const whole = await runTiled(source, model.network, { tileSize: 1024, overlap: 0, outputDepth: 8 });
    const tiled = await runTiled(source, model.network, { tileSize: 24, overlap: model.network.receptiveField, outputDepth: 8 });
    assert.ok(maxAbsDiff(whole, tiled) <= 1, `tiles differ by ${maxAbsDiff(whole, tiled)}/255`);
  } finally {
    await model.network.dispose();
  }
});

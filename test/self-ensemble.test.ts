/**
 * Geometric self-ensemble (`--tta`, on any network): the 8 dihedral transforms undo exactly, an equivariant network is
 * unchanged by the ensemble, a real one gives the mean of its 8 predictions, and tiles still join.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createUpscaler } from '../src/index.js';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import { resolveModel } from '../src/models/registry.js';
import { transform, untransform, withSelfEnsemble } from '../src/models/self-ensemble.js';
import type { ImageTensor } from '../src/runtime/onnx.js';
import { nearestUpscaleModel, randomFloats } from './fixtures/models.js';
import { maxAbsDiff, testRaster } from './helpers/rasters.js';

const tensor = (channels: number, height: number, width: number, seed: number): ImageTensor => ({
  channels,
  height,
  width,
  data: randomFloats(channels * height * width, seed),
});

test('the 8 transforms are distinct and each is undone by untransform', () => {
  const image = tensor(3, 5, 7, 1);
  const seen = new Set<string>();
  for (let t = 0; t < 8; t++) {
    const turned = transform(image, t);
    assert.deepEqual([turned.height, turned.width], t & 4 ? [7, 5] : [5, 7]);
    seen.add(Array.from(turned.data.subarray(0, 12), (v) => v.toFixed(6)).join());
    assert.deepEqual(untransform(turned, t), image);
  }
  assert.equal(seen.size, 8);
  // Transform 4 is the transpose: pixel (y, x) moves to (x, y) in every channel.
  const transposed = transform(image, 4);
  assert.equal(transposed.data[2 * 35 + 3 * 5 + 1], image.data[2 * 35 + 1 * 7 + 3]);
});

test('an equivariant network (nearest enlargement) is unchanged; a real one gives the mean of its 8 predictions', async () => {
  const nearest = await loadOnnxBytes(nearestUpscaleModel(2), { label: 'x2.onnx', threads: 1 }, { id: 'x2' });
  const input = tensor(3, 9, 6, 2);
  const [ensembled8, alone] = [await withSelfEnsemble(nearest.network).run(input), await nearest.network.run(input)];
  assert.deepEqual([ensembled8.height, ensembled8.width], [alone.height, alone.width]);
  // Equal up to float32 rounding of the sum of 8 equal values.
  assert.ok(ensembled8.data.every((v, i) => Math.abs(v - alone.data[i]!) < 1e-6));
  await nearest.network.dispose();

  const fast = await (await resolveModel('fast')).load(4);
  assert.equal(fast.kind, 'network');
  if (fast.kind !== 'network') return;
  const small = tensor(3, 10, 13, 3);
  const predictions = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (t) => untransform(await fast.network.run(transform(small, t)), t)));
  const ensembled = await withSelfEnsemble(fast.network).run(small);
  assert.deepEqual([ensembled.height, ensembled.width], [40, 52]);
  let worst = 0;
  let spread = 0;
  for (let i = 0; i < ensembled.data.length; i++) {
    const mean = predictions.reduce((s, p) => s + p.data[i]!, 0) / 8;
    worst = Math.max(worst, Math.abs(ensembled.data[i]! - mean));
    spread = Math.max(spread, Math.abs(predictions[0]!.data[i]! - predictions[5]!.data[i]!));
  }
  assert.ok(worst < 1e-6, `mean differs by ${worst}`);
  assert.ok(spread > 1e-3, 'the predictions differ, so the ensemble is not the network alone');
  await fast.network.dispose();
});

test('tta: any network runs as a self-ensemble; tiled equals whole within one level, and differs from the plain network', async () => {
  const upscaler = await createUpscaler({ model: 'fast', tta: true });
  assert.equal(upscaler.model.tta, true);
  const source = testRaster(45, 31, 3, 8, 4);
  const whole = await upscaler.upscale(source, { scale: 4 });
  const tiled = await createUpscaler({ model: 'fast', tta: true, tileSize: 20 });
  const pieces = await tiled.upscale(source, { scale: 4 });
  assert.ok(maxAbsDiff(whole, pieces) <= 1, `tiles differ by ${maxAbsDiff(whole, pieces)}`);
  await Promise.all([upscaler.dispose(), tiled.dispose()]);
  const fast = await createUpscaler({ model: 'fast' });
  const plain = await fast.upscale(source, { scale: 4 });
  await fast.dispose();
  assert.ok(maxAbsDiff(plain, whole) >= 1, 'the ensemble differs from the network alone');
  await assert.rejects(createUpscaler({ model: 'bicubic', tta: true }), /tta needs a network, and "bicubic" is classical interpolation/);
});

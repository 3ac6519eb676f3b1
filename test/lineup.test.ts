/**
 * The built-in lineup shipped in models/: every file is there and loads, third-party weights are stored as float16
 * and carry their licence text, the denoise strength of each family does what it says (a weight blend for the photo
 * models, the nearest trained level for anime), and the default model is the one the README says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createUpscaler, DEFAULT_MODEL } from '../src/index.js';
import { SHIPPED_FAMILIES, nearestLevel } from '../src/models/builtin/shipped.js';
import { readOnnxInfo } from '../src/onnx/index.js';
import { maxAbsDiff, testRaster } from './helpers/rasters.js';

const MODELS = new URL('../models/', import.meta.url);
const LICENSES = new URL('../models/LICENSES/', import.meta.url);

function familyFiles(id: string): string[] {
  const family = SHIPPED_FAMILIES.find((f) => f.descriptor.id === id)!;
  const files = [...Object.values(family.files)];
  if (family.denoise?.kind === 'blend') files.push(...Object.values(family.denoise.base));
  if (family.denoise?.kind === 'levels') for (const level of family.denoise.levels) files.push(...Object.values(level.files));
  return files;
}

test('every shipped network file exists; third-party ones are float16-stored and name a licence text that is in models/LICENSES', () => {
  let total = 0;
  for (const family of SHIPPED_FAMILIES) {
    const ours = family.descriptor.license?.startsWith('MIT (this project)') === true;
    if (!ours) {
      const text = /models\/LICENSES\/([\w.-]+)/.exec(family.descriptor.license ?? '')?.[1];
      assert.ok(text !== undefined && existsSync(new URL(text, LICENSES)), `${family.descriptor.id}: licence text ${text}`);
    }
    for (const file of familyFiles(family.descriptor.id)) {
      const bytes = readFileSync(new URL(file, MODELS));
      total += bytes.length;
      const info = readOnnxInfo(bytes);
      if (!ours) assert.ok(info.opTypes.includes('Cast'), `${file}: weights stored as float16 behind Cast nodes`);
      assert.ok(family.descriptor.scales.includes(Number(info.metadata['upscale.scale'])), `${file}: scale ${info.metadata['upscale.scale']}`);
    }
  }
  // The repository stays lean: about 40 MB of weights at most.
  assert.ok(total < 40 * 1024 ** 2, `${(total / 1024 ** 2).toFixed(1)} MB of weights`);
});

test(`the default model is ${DEFAULT_MODEL} at denoise 0.5`, async () => {
  assert.equal(DEFAULT_MODEL, 'photo-gan');
  const upscaler = await createUpscaler();
  assert.equal(upscaler.model.id, 'photo-gan');
  assert.equal(upscaler.model.denoise, 0.5);
  await upscaler.dispose();
});

test('photo-gan: strength 1 is realesr-general-x4v3, 0 its WDN twin, between a blend of the two', async () => {
  const source = testRaster(24, 20, 3, 8, 7);
  const run = async (denoise: number): Promise<ReturnType<typeof testRaster>> => {
    const upscaler = await createUpscaler({ model: 'photo-gan', denoise });
    try {
      return await upscaler.upscale(source);
    } finally {
      await upscaler.dispose();
    }
  };
  const alone = async (file: string): Promise<ReturnType<typeof testRaster>> => {
    const upscaler = await createUpscaler({ model: new URL(file, MODELS).pathname });
    try {
      return await upscaler.upscale(source);
    } finally {
      await upscaler.dispose();
    }
  };
  const [strong, wdn, half] = [await run(1), await run(0), await run(0.5)];
  assert.equal(maxAbsDiff(strong, await alone('realesr-general-x4v3.onnx')), 0);
  assert.equal(maxAbsDiff(wdn, await alone('realesr-general-wdn-x4v3.onnx')), 0);
  assert.ok(maxAbsDiff(half, strong) >= 1 && maxAbsDiff(half, wdn) >= 1, 'the blend is neither network');
});

test('photo-gan: tiles are seamless (within 1/255 of the whole image) with its overlap', async () => {
  const source = testRaster(150, 110, 3, 8, 5);
  const whole = await createUpscaler({ model: 'photo-gan', tileSize: 4096 });
  const tiled = await createUpscaler({ model: 'photo-gan', tileSize: 40 });
  try {
    assert.ok(maxAbsDiff(await whole.upscale(source), await tiled.upscale(source)) <= 1);
  } finally {
    await Promise.all([whole.dispose(), tiled.dispose()]);
  }
});

test('anime: a strength picks the nearest trained level, and the level used is the one recorded', async () => {
  const family = SHIPPED_FAMILIES.find((f) => f.descriptor.id === 'anime')!;
  assert.equal(family.denoise?.kind, 'levels');
  if (family.denoise?.kind !== 'levels') return;
  assert.deepEqual(family.denoise.levels.map((l) => [l.strength, l.name]), [[0, 'no-denoise'], [0.5, 'conservative'], [1, 'denoise3x']]);
  assert.equal(nearestLevel(family.denoise.levels, 0.2).name, 'no-denoise');
  assert.equal(nearestLevel(family.denoise.levels, 0.3).name, 'conservative');
  assert.equal(nearestLevel(family.denoise.levels, 0.8).name, 'denoise3x');
  const upscaler = await createUpscaler({ model: 'anime', denoise: 0.3 });
  try {
    assert.equal(upscaler.model.denoise, 0.5, 'the strength shown and recorded is the level used');
    const out = await upscaler.upscale(testRaster(20, 16, 3, 8, 3), { scale: 2 });
    assert.deepEqual([out.width, out.height], [40, 32]);
  } finally {
    await upscaler.dispose();
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { createUpscaler, isUpscaleError, UpscaleError } from '../src/index.js';
import { decodeImage } from '../src/image/index.js';
import { nearestUpscaleModel } from './fixtures/models.js';
import {
  createFixtureDir,
  exiftoolBinary,
  exiftoolRead,
  gradient16,
  photoPixels,
  PHOTO_TAGS,
  writePhotoJpeg,
  writePng,
  type FixtureDir,
} from './fixtures/images.js';

let fx: FixtureDir;
let model: string;

before(async () => {
  fx = await createFixtureDir();
  model = fx.path('x2.onnx');
  writeFileSync(model, nearestUpscaleModel(2));
  await writePhotoJpeg(fx.path('photo.jpg'));
});
after(() => fx.remove());

test('a photo keeps its ICC profile, EXIF, XMP and IPTC; orientation applied; DPI grows with the pixels; provenance merged', async () => {
  const upscaler = await createUpscaler({ model });
  try {
    const result = await upscaler.upscaleFile(fx.path('photo.jpg'), fx.path('photo@2x.jpg'));
    // 64x48 stored with Orientation 6: upright 48x64, then x2.
    assert.deepEqual(result.outputSize, { width: 96, height: 128 });
    const tags = await exiftoolRead(fx.path('photo@2x.jpg'));
    assert.equal(tags['EXIF:Orientation'], 1);
    assert.equal(tags['EXIF:Copyright'], PHOTO_TAGS.copyright);
    assert.equal(tags['EXIF:XResolution'], 144);
    assert.equal(tags['XMP:Creator'], PHOTO_TAGS.creator, 'the input XMP is kept');
    assert.deepEqual(tags['IPTC:Keywords'], [...PHOTO_TAGS.keywords]);
    assert.equal(tags['IPTC:City'], PHOTO_TAGS.city);
    assert.equal(tags['XMP:DigitalSourceType'], 'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced');
    assert.match(String(tags['XMP:Tool']), /^upscale \d+\.\d+\.\d+$/);
    assert.equal(tags['XMP:Model'], model);
    assert.equal(tags['XMP:Scale'], 2);
    const iccIn = await exiftoolBinary(fx.path('photo.jpg'), 'ICC_Profile');
    assert.ok(iccIn.length > 0);
    assert.ok((await exiftoolBinary(fx.path('photo@2x.jpg'), 'ICC_Profile')).equals(iccIn), 'ICC profile bytes identical');
  } finally {
    await upscaler.dispose();
  }
});

test('keepDensity, keepMetadata: false and provenance: false', async () => {
  const upscaler = await createUpscaler({ model });
  try {
    await upscaler.upscaleFile(fx.path('photo.jpg'), fx.path('dpi.png'), { keepDensity: true });
    const dpi = await exiftoolRead(fx.path('dpi.png'));
    assert.equal(dpi['PNG:PixelsPerUnitX'], Math.round(72 / 0.0254));
    await upscaler.upscaleFile(fx.path('photo.jpg'), fx.path('bare.jpg'), { keepMetadata: false, provenance: false });
    const bare = await exiftoolRead(fx.path('bare.jpg'));
    for (const key of ['EXIF:Copyright', 'XMP:Creator', 'IPTC:City', 'XMP:DigitalSourceType', 'ICC_Profile:ProfileDescription']) {
      assert.equal(bare[key], undefined, key);
    }
  } finally {
    await upscaler.dispose();
  }
});

test('16-bit PNG in gives 16-bit PNG out, samples exact through a network', async () => {
  const image = gradient16(20, 12);
  await writePng(fx.path('deep.png'), image);
  const upscaler = await createUpscaler({ model });
  try {
    await upscaler.upscaleFile(fx.path('deep.png'), fx.path('deep@2x.png'));
    const out = await decodeImage(fx.path('deep@2x.png'), { maxPixels: 1e6 });
    assert.equal(out.raster.depth, 16);
    assert.equal((await sharp(fx.path('deep@2x.png')).metadata()).depth, 'ushort');
    // Nearest x2: output (x, y) is input (x/2, y/2).
    for (const [x, y] of [[0, 0], [7, 3], [39, 23]] as const) {
      for (let c = 0; c < 3; c++) {
        assert.equal(out.raster.data[(y * 40 + x) * 3 + c], image.data[(Math.floor(y / 2) * 20 + Math.floor(x / 2)) * 3 + c]);
      }
    }
  } finally {
    await upscaler.dispose();
  }
});

test('grey stays grey and alpha stays alpha through files', async () => {
  await writePng(fx.path('grey.png'), photoPixels(16, 12, 1));
  await writePng(fx.path('alpha.png'), photoPixels(16, 12, 4));
  const upscaler = await createUpscaler({ model });
  try {
    await upscaler.upscaleFile(fx.path('grey.png'), fx.path('grey@2x.png'));
    await upscaler.upscaleFile(fx.path('alpha.png'), fx.path('alpha@2x.webp'), { lossless: true });
    const grey = await sharp(fx.path('grey@2x.png')).metadata();
    assert.equal(grey.channels, 1);
    const alpha = await decodeImage(fx.path('alpha@2x.webp'), { maxPixels: 1e6 });
    assert.equal(alpha.raster.channels, 4);
    assert.equal(alpha.raster.data[3], 0, 'transparent corner stays transparent');
  } finally {
    await upscaler.dispose();
  }
});

test('upscale() takes bytes, paths and rasters; sizes by factor or box', async () => {
  const upscaler = await createUpscaler({ model: 'bicubic' });
  try {
    const bytes = readFileSync(fx.path('grey.png'));
    assert.equal((await upscaler.upscale(bytes)).width, 64, 'classical default factor is 4');
    const raster = await upscaler.upscale(fx.path('grey.png'), { fit: { width: 40, height: 40 } });
    assert.deepEqual([raster.width, raster.height], [40, 30]);
    assert.equal((await upscaler.upscale(raster, { scale: 0.5 })).width, 20);
  } finally {
    await upscaler.dispose();
  }
});

test('option and output errors are UpscaleErrors with codes; nothing is written', async () => {
  await assert.rejects(createUpscaler({ threads: 0 }), /Expected threads to be a positive integer, got 0 \(number\)/);
  await assert.rejects(createUpscaler({ model: fx.path('none.onnx') }), (e) => isUpscaleError(e) && e.code === 'MODEL_NOT_FOUND');
  const upscaler = await createUpscaler({ model, maxOutputPixels: 10_000 });
  try {
    await assert.rejects(upscaler.upscaleFile(fx.path('photo.jpg'), fx.path('x.bmp')), /x\.bmp: cannot tell the output format/);
    await assert.rejects(upscaler.upscaleFile(fx.path('photo.jpg'), fx.path('huge.png'), { scale: 40 }), (e: unknown) => {
      assert.ok(e instanceof UpscaleError);
      assert.equal(e.code, 'INPUT_TOO_LARGE');
      assert.match(e.message, /photo\.jpg: output of 1920x2560 needs 12.6 megapixels, above the limit of 0.01 megapixels/);
      return true;
    });
    assert.ok(!existsSync(fx.path('huge.png')));
    await upscaler.upscaleFile(fx.path('grey.png'), fx.path('once.png'));
    await assert.rejects(upscaler.upscaleFile(fx.path('grey.png'), fx.path('once.png')), (e) => isUpscaleError(e) && e.code === 'OUTPUT_EXISTS');
  } finally {
    await upscaler.dispose();
  }
  await assert.rejects(upscaler.upscale(fx.path('grey.png')), /This upscaler was disposed/);
});

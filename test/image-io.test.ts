/**
 * Image I/O: format mapping and sniffing, decoding every input format (sizes, channels, depths, pixels), encoding
 * every output format (pixels, channels, depths), and the errors bad input produces.
 * Independent checks: ffmpeg decodes PNG/TIFF pixels, ExifTool strips metadata for comparisons.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { isUpscaleError } from '../src/errors.js';
import type { UpscaleErrorCode } from '../src/errors.js';
import {
  decodeImage,
  describeContent,
  encodeImage,
  extensionFor,
  outputFormatFromPath,
  sniffFormat,
} from '../src/image/index.js';
import type { EncodeOptions, Raster } from '../src/image/index.js';
import {
  bombPng,
  createFixtureDir,
  exiftoolStrip,
  ffmpegPixels,
  fromRaw,
  gradient16,
  HAS_FFMPEG,
  oneBitPng,
  photoPixels,
  truncate,
  writeAnimation,
  writeBytes,
  writePhotoJpeg,
  writePng,
} from './fixtures/images.js';
import type { FixtureDir, RawImage } from './fixtures/images.js';

const MAX_PIXELS = 50_000_000;
let fixtures: FixtureDir;

before(async () => {
  fixtures = await createFixtureDir();
});
after(async () => {
  await fixtures.remove();
});

function raster(image: RawImage): Raster {
  const depth = image.data instanceof Uint16Array ? 16 : 8;
  return { width: image.width, height: image.height, channels: image.channels, depth, data: image.data };
}

function assertSamplesEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, message: string): void {
  assert.equal(actual.length, expected.length, `${message}: sample count`);
  for (let index = 0; index < expected.length; index++) {
    if (actual[index] !== expected[index]) assert.fail(`${message}: sample ${index} is ${actual[index]}, expected ${expected[index]}`);
  }
}

async function decodeFile(name: string, write: (path: string) => Promise<unknown>) {
  const path = fixtures.path(name);
  await write(path);
  return decodeImage(path, { maxPixels: MAX_PIXELS });
}

async function rejectsWith(promise: Promise<unknown>, code: UpscaleErrorCode, message: string | RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isUpscaleError(error), `expected an UpscaleError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

describe('formats', () => {
  test('output format from a path extension, case-insensitively', () => {
    assert.equal(outputFormatFromPath('a/b.png'), 'png');
    assert.equal(outputFormatFromPath('b.JPG'), 'jpeg');
    assert.equal(outputFormatFromPath('b.jpeg'), 'jpeg');
    assert.equal(outputFormatFromPath('b.webp'), 'webp');
    assert.equal(outputFormatFromPath('b.tif'), 'tiff');
    assert.equal(outputFormatFromPath('b.TIFF'), 'tiff');
    assert.equal(outputFormatFromPath('b.avif'), 'avif');
    assert.equal(outputFormatFromPath('b.gif'), undefined);
    assert.equal(outputFormatFromPath('b.png.txt'), undefined);
    assert.equal(outputFormatFromPath('png'), undefined);
    assert.equal(outputFormatFromPath('dir.png/file'), undefined);
  });

  test('extension for each output format', () => {
    assert.deepEqual(
      (['png', 'jpeg', 'webp', 'tiff', 'avif'] as const).map(extensionFor),
      ['.png', '.jpg', '.webp', '.tiff', '.avif'],
    );
  });

  test('sniffing reads signatures, not names', async () => {
    const rgb = photoPixels(8, 8);
    assert.equal(sniffFormat(await fromRaw(rgb).png().toBuffer()), 'png');
    assert.equal(sniffFormat(await fromRaw(rgb).jpeg().toBuffer()), 'jpeg');
    assert.equal(sniffFormat(await fromRaw(rgb).webp().toBuffer()), 'webp');
    assert.equal(sniffFormat(await fromRaw(rgb).tiff().toBuffer()), 'tiff');
    assert.equal(sniffFormat(await fromRaw(rgb).gif().toBuffer()), 'gif');
    assert.equal(sniffFormat(await fromRaw(rgb).avif().toBuffer()), 'avif');
    assert.equal(sniffFormat(Buffer.from('hello, world')), undefined);
    assert.equal(describeContent(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')), 'SVG');
    assert.equal(describeContent(Buffer.from('%PDF-1.7\n')), 'PDF');
    assert.equal(describeContent(Buffer.from('just some words\n')), 'text');
    assert.equal(describeContent(Buffer.from([0, 1, 2, 3, 250, 251])), 'unrecognised data (starting 00 01 02 03 fa fb)');
  });
});

describe('decodeImage', () => {
  test('PNG: RGB, grey, grey+alpha and RGBA keep their channels and exact samples', async () => {
    for (const channels of [1, 2, 3, 4] as const) {
      const image = photoPixels(20, 10, channels);
      const decoded = await decodeFile(`decode-${channels}.png`, (path) => writePng(path, image));
      assert.equal(decoded.format, 'png');
      assert.deepEqual([decoded.raster.width, decoded.raster.height, decoded.raster.channels, decoded.raster.depth], [20, 10, channels, 8]);
      assert.ok(decoded.raster.data instanceof Uint8Array && !Buffer.isBuffer(decoded.raster.data));
      assertSamplesEqual(decoded.raster.data, image.data, `${channels}-channel PNG`);
    }
  });

  test('16-bit PNG (RGB, RGBA, grey, grey+alpha) decodes to exact Uint16 samples', async () => {
    for (const channels of [1, 2, 3, 4] as const) {
      const image = gradient16(17, 9, channels);
      const decoded = await decodeFile(`decode16-${channels}.png`, (path) => writePng(path, image));
      assert.equal(decoded.raster.depth, 16);
      assert.equal(decoded.raster.channels, channels);
      assert.ok(decoded.raster.data instanceof Uint16Array);
      assertSamplesEqual(decoded.raster.data, image.data, `16-bit ${channels}-channel PNG`);
    }
  });

  test('16-bit PNG decodes as ffmpeg decodes it', { skip: !HAS_FFMPEG && 'ffmpeg is not installed' }, async () => {
    for (const [channels, pixelFormat] of [[1, 'gray16le'], [3, 'rgb48le']] as const) {
      const path = fixtures.path(`ffmpeg16-${channels}.png`);
      await writePng(path, gradient16(17, 9, channels));
      const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
      const independent = await ffmpegPixels(path, pixelFormat);
      assertSamplesEqual(decoded.raster.data, new Uint16Array(independent.buffer, independent.byteOffset, independent.length / 2), 'ffmpeg');
    }
  });

  test('16-bit and 8-bit TIFF', async () => {
    const deep = gradient16(15, 7, 3);
    const decoded16 = await decodeFile('deep.tif', (path) => fromRaw(deep).tiff({ compression: 'deflate' }).toFile(path));
    assert.deepEqual([decoded16.format, decoded16.raster.depth, decoded16.raster.channels], ['tiff', 16, 3]);
    assertSamplesEqual(decoded16.raster.data, deep.data, '16-bit TIFF');
    const shallow = photoPixels(15, 7, 4);
    const decoded8 = await decodeFile('rgba.tif', (path) => fromRaw(shallow).tiff({ compression: 'lzw' }).toFile(path));
    assert.deepEqual([decoded8.raster.depth, decoded8.raster.channels], [8, 4]);
    assertSamplesEqual(decoded8.raster.data, shallow.data, '8-bit RGBA TIFF');
  });

  test('palette PNGs become RGB or RGBA; 1-bit grey becomes 8-bit grey', async () => {
    const opaque = await decodeFile('palette.png', (path) => fromRaw(photoPixels(16, 8, 3)).png({ palette: true, colours: 16 }).toFile(path));
    assert.deepEqual([opaque.raster.channels, opaque.raster.depth], [3, 8]);
    const transparent = await decodeFile('palette-alpha.png', (path) => fromRaw(photoPixels(16, 8, 4)).png({ palette: true }).toFile(path));
    assert.equal(transparent.raster.channels, 4);
    assert.equal(transparent.raster.data[3], 0, 'top-left pixel is transparent');

    const bits = await decodeFile('one-bit.png', (path) => writeBytes(path, oneBitPng()));
    assert.deepEqual([bits.raster.width, bits.raster.height, bits.raster.channels, bits.raster.depth], [8, 4, 1, 8]);
    assert.deepEqual(Array.from(bits.raster.data.subarray(0, 8)), [255, 0, 255, 0, 255, 0, 255, 0]);
    assert.deepEqual(Array.from(bits.raster.data.subarray(24, 32)), [255, 255, 255, 255, 255, 255, 255, 255]);
  });

  test('JPEG: size, channels, grey stays grey', async () => {
    const colour = await decodeFile('plain.jpg', (path) => fromRaw(photoPixels(30, 20)).jpeg().toFile(path));
    assert.deepEqual([colour.format, colour.raster.width, colour.raster.height, colour.raster.channels, colour.raster.depth], ['jpeg', 30, 20, 3, 8]);
    const grey = await decodeFile('grey.jpg', (path) => fromRaw(photoPixels(30, 20, 1)).jpeg().toFile(path));
    assert.equal(grey.raster.channels, 1);
  });

  test('EXIF orientation 6 is applied: width and height swap, pixels rotate 90 degrees clockwise', async () => {
    const path = fixtures.path('rotated.jpg');
    await writePhotoJpeg(path);
    const unrotatedPath = fixtures.path('unrotated.jpg');
    await exiftoolStrip(path, unrotatedPath, ['Orientation']);
    const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
    const stored = await decodeImage(unrotatedPath, { maxPixels: MAX_PIXELS });
    assert.equal(decoded.metadata.orientation, 6);
    assert.equal(stored.metadata.orientation, undefined);
    assert.deepEqual([stored.raster.width, stored.raster.height], [64, 48]);
    assert.deepEqual([decoded.raster.width, decoded.raster.height], [48, 64]);
    // Rotating 90 degrees clockwise: displayed (x, y) shows stored (y, H - 1 - x).
    const { width, height, channels } = stored.raster;
    for (let y = 0; y < decoded.raster.height; y++) {
      for (let x = 0; x < decoded.raster.width; x++) {
        for (let c = 0; c < channels; c++) {
          const got = decoded.raster.data[(y * decoded.raster.width + x) * channels + c];
          const want = stored.raster.data[((height - 1 - x) * width + y) * channels + c];
          if (got !== want) assert.fail(`pixel (${x}, ${y}) channel ${c}: ${got}, expected ${want}`);
        }
      }
    }
  });

  test('pixels stay in the embedded profile (Display P3): equal to the same file decoded without its profile', async () => {
    const path = fixtures.path('p3.jpg');
    await writePhotoJpeg(path);
    const strippedPath = fixtures.path('p3-stripped.jpg');
    await exiftoolStrip(path, strippedPath, ['ICC_Profile:all']);
    const tagged = await decodeImage(path, { maxPixels: MAX_PIXELS });
    const untagged = await decodeImage(strippedPath, { maxPixels: MAX_PIXELS });
    assert.equal(untagged.metadata.icc, undefined);
    assert.ok(tagged.metadata.icc !== undefined && tagged.metadata.icc.toString('latin1', 36, 40) === 'acsp');
    assertSamplesEqual(tagged.raster.data, untagged.raster.data, 'P3 pixels');
    // sharp's default would have converted them to sRGB: make sure that is a visible difference on this image.
    const converted = await sharp(path, { autoOrient: true }).raw().toBuffer();
    assert.notDeepEqual(converted, Buffer.from(untagged.raster.data));
  });

  test('CMYK JPEG is converted to sRGB and its profile is not kept', async () => {
    const decoded = await decodeFile('cmyk.jpg', (path) => fromRaw(photoPixels(16, 8)).withIccProfile('cmyk').jpeg().toFile(path));
    assert.equal((await sharp(fixtures.path('cmyk.jpg')).metadata()).space, 'cmyk');
    assert.deepEqual([decoded.raster.channels, decoded.raster.depth], [3, 8]);
    assert.equal(decoded.metadata.icc, undefined);
    // The same conversion sharp applies by default (through the embedded CMYK profile), and close to the original.
    assertSamplesEqual(decoded.raster.data, await sharp(fixtures.path('cmyk.jpg')).raw().toBuffer(), 'CMYK -> sRGB');
    const original = photoPixels(16, 8).data;
    let total = 0;
    for (let index = 0; index < original.length; index++) total += Math.abs((decoded.raster.data[index] ?? 0) - (original[index] ?? 0));
    // Perceptual gamut mapping moves saturated colours noticeably; the point is that they are not CMYK values.
    assert.ok(total / original.length < 25, `mean CMYK round-trip error ${(total / original.length).toFixed(1)}`);
  });

  test('GIF and animated WebP: first frame only; opaque GIF has no alpha', async () => {
    const gif = await decodeFile('anim.gif', (path) => writeAnimation(path, 'gif', 8, 6, 3));
    assert.deepEqual([gif.format, gif.raster.width, gif.raster.height, gif.raster.channels], ['gif', 8, 6, 3]);
    assert.deepEqual(Array.from(gif.raster.data.subarray(0, 3)), [20, 100, 200]);
    const webp = await decodeFile('anim.webp', (path) => writeAnimation(path, 'webp', 8, 6, 3));
    assert.deepEqual([webp.format, webp.raster.width, webp.raster.height, webp.raster.channels], ['webp', 8, 6, 3]);
    assert.deepEqual(Array.from(webp.raster.data.subarray(-3)), [20, 100, 200]);
  });

  test('WebP and AVIF (lossless) decode to the exact pixels', async () => {
    const image = photoPixels(24, 16);
    const webp = await decodeFile('lossless.webp', (path) => fromRaw(image).webp({ lossless: true }).toFile(path));
    assert.deepEqual([webp.format, webp.raster.channels], ['webp', 3]);
    assertSamplesEqual(webp.raster.data, image.data, 'WebP');
    const avif = await decodeFile('lossless.avif', (path) => fromRaw(image).avif({ lossless: true }).toFile(path));
    assert.deepEqual([avif.format, avif.raster.width, avif.raster.height, avif.raster.channels, avif.raster.depth], ['avif', 24, 16, 3, 8]);
    assertSamplesEqual(avif.raster.data, image.data, 'AVIF');
  });

  const baby = fileURLToPath(new URL('../../shared/eval/Set5/HR/baby.png', import.meta.url));
  test('a real photograph (Set5 baby.png) decodes as ffmpeg decodes it and survives a PNG round trip', { skip: (!existsSync(baby) && 'Set5 is not present') || (!HAS_FFMPEG && 'ffmpeg is not installed') }, async () => {
    const decoded = await decodeImage(baby, { maxPixels: MAX_PIXELS });
    assert.deepEqual([decoded.format, decoded.raster.width, decoded.raster.height, decoded.raster.channels, decoded.raster.depth], ['png', 512, 512, 3, 8]);
    assertSamplesEqual(decoded.raster.data, await ffmpegPixels(baby, 'rgb24'), 'ffmpeg');
    const again = await decodeImage(await encodeImage(decoded.raster, { format: 'png', metadata: decoded.metadata }), { maxPixels: MAX_PIXELS });
    assertSamplesEqual(again.raster.data, decoded.raster.data, 'round trip');
  });

  test('a Buffer source decodes like a file and errors name the given file', async () => {
    const bytes = await fromRaw(photoPixels(5, 4)).png().toBuffer();
    const decoded = await decodeImage(bytes, { maxPixels: MAX_PIXELS });
    assert.deepEqual([decoded.raster.width, decoded.raster.height], [5, 4]);
    await rejectsWith(decodeImage(Buffer.from('nope'), { maxPixels: MAX_PIXELS, file: 'upload.png' }), 'INPUT_UNSUPPORTED', /^upload\.png: not a supported image/);
  });
});

describe('decodeImage: bad input', () => {
  const expectedList = 'expected PNG, JPEG, WebP, TIFF, AVIF/HEIF or GIF';

  test('missing file', async () => {
    const path = fixtures.path('missing.png');
    await rejectsWith(decodeImage(path, { maxPixels: MAX_PIXELS }), 'INPUT_NOT_FOUND', `${path}: no such file, expected an image file`);
  });

  test('zero-byte file', async () => {
    const path = fixtures.path('empty.png');
    await writeBytes(path, '');
    await rejectsWith(decodeImage(path, { maxPixels: MAX_PIXELS }), 'INPUT_EMPTY', `${path}: file is empty (0 bytes), expected an image`);
  });

  test('text named .png, SVG and PDF are unsupported, judged by content', async () => {
    const cases = [
      ['notes.png', 'These are not pixels.\n', 'text'],
      ['drawing.png', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', 'SVG'],
      ['document.jpg', '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'PDF'],
    ] as const;
    for (const [name, content, found] of cases) {
      const path = fixtures.path(name);
      await writeBytes(path, content);
      await rejectsWith(decodeImage(path, { maxPixels: MAX_PIXELS }), 'INPUT_UNSUPPORTED', `${path}: not a supported image (${expectedList}), found ${found}`);
    }
  });

  test('truncated JPEG and PNG are corrupt, not grey pixels', async () => {
    const image = photoPixels(96, 96);
    for (const [name, bytes] of [
      ['truncated.jpg', await fromRaw(image).jpeg().toBuffer()],
      ['truncated.png', await fromRaw(image).png().toBuffer()],
    ] as const) {
      const path = fixtures.path(name);
      await writeBytes(path, truncate(bytes, 0.6));
      const kind = name.endsWith('.jpg') ? 'JPEG' : 'PNG';
      await rejectsWith(
        decodeImage(path, { maxPixels: MAX_PIXELS }),
        'INPUT_CORRUPT',
        new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt or truncated ${kind} data, expected a complete image \\(.+\\)$`),
      );
    }
  });

  test('a header cut short is corrupt', async () => {
    const path = fixtures.path('header-only.png');
    await writeBytes(path, truncate(await fromRaw(photoPixels(8, 8)).png().toBuffer(), 0.1));
    await rejectsWith(decodeImage(path, { maxPixels: MAX_PIXELS }), 'INPUT_CORRUPT', /header-only\.png: corrupt or truncated PNG data/);
  });

  test('a decompression bomb is refused from its header, fast and without allocating', async () => {
    const path = fixtures.path('bomb.png');
    await writeBytes(path, bombPng());
    assert.ok((await readFile(path)).length < 10_000, 'the bomb is a small file');
    // Warm up sharp so that the measurement is of the refusal alone.
    await decodeImage(await fromRaw(photoPixels(4, 4)).png().toBuffer(), { maxPixels: MAX_PIXELS });
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    await rejectsWith(
      decodeImage(path, { maxPixels: MAX_PIXELS }),
      'INPUT_TOO_LARGE',
      `${path}: image is 100000x100000 (10000000000 pixels), more than the limit of 50000000 pixels`,
    );
    const elapsed = performance.now() - started;
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(elapsed < 500, `refusal took ${elapsed.toFixed(0)} ms`);
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
  });

  test('the pixel limit applies to ordinary images too', async () => {
    const path = fixtures.path('limit.png');
    await writePng(path, photoPixels(20, 10));
    await rejectsWith(decodeImage(path, { maxPixels: 199 }), 'INPUT_TOO_LARGE', `${path}: image is 20x10 (200 pixels), more than the limit of 199 pixels`);
    const decoded = await decodeImage(path, { maxPixels: 200 });
    assert.equal(decoded.raster.width, 20);
  });

  test('maxPixels is validated', async () => {
    await rejectsWith(decodeImage(Buffer.alloc(1), { maxPixels: 0 }), 'INVALID_OPTION', 'Expected maxPixels to be a positive integer or Infinity, got 0');
  });
});

describe('encodeImage: pixels, channels, depths', () => {
  async function roundTrip(input: Raster, options: EncodeOptions): Promise<{ bytes: Buffer; decoded: Raster }> {
    const bytes = await encodeImage(input, options);
    const { raster: decoded } = await decodeImage(bytes, { maxPixels: MAX_PIXELS });
    return { bytes, decoded };
  }

  test('16-bit PNG and TIFF round trip exactly (RGB, RGBA, grey, grey+alpha)', async () => {
    for (const format of ['png', 'tiff'] as const) {
      for (const channels of [1, 2, 3, 4] as const) {
        const input = raster(gradient16(19, 11, channels));
        const { bytes, decoded } = await roundTrip(input, { format });
        const info = await sharp(bytes).metadata();
        assert.equal(info.depth, 'ushort', `${format} ${channels}: stored as 16 bits`);
        assert.equal(info.channels, channels, `${format} ${channels}: channels`);
        assert.deepEqual([decoded.depth, decoded.channels], [16, channels]);
        assertSamplesEqual(decoded.data, input.data, `${format} ${channels}-channel 16-bit`);
      }
    }
  });

  test('16-bit PNG as ffmpeg reads it', { skip: !HAS_FFMPEG && 'ffmpeg is not installed' }, async () => {
    const input = raster(gradient16(13, 5, 3));
    const path = fixtures.path('encoded16.png');
    await writeBytes(path, await encodeImage(input, { format: 'png', compressionLevel: 9 }));
    const independent = await ffmpegPixels(path, 'rgb48le');
    assertSamplesEqual(new Uint16Array(independent.buffer, independent.byteOffset, independent.length / 2), input.data, 'ffmpeg');
  });

  test('grey stays one channel in PNG, JPEG and TIFF; grey+alpha stays two in PNG', async () => {
    const grey = raster(photoPixels(16, 12, 1));
    for (const format of ['png', 'jpeg', 'tiff'] as const) {
      const { bytes, decoded } = await roundTrip(grey, { format });
      const info = await sharp(bytes).metadata();
      assert.equal(info.channels, 1, `${format} channels`);
      assert.equal(info.space, 'b-w', `${format} space`);
      assert.equal(decoded.channels, 1);
      if (format !== 'jpeg') assertSamplesEqual(decoded.data, grey.data, `${format} grey`);
    }
    const greyAlpha = raster(photoPixels(16, 12, 2));
    const { bytes, decoded } = await roundTrip(greyAlpha, { format: 'png' });
    assert.equal((await sharp(bytes).metadata()).channels, 2);
    assertSamplesEqual(decoded.data, greyAlpha.data, 'grey+alpha PNG');
  });

  test('RGBA round trips exactly in PNG, lossless WebP and TIFF (even colour under transparent pixels)', async () => {
    const rgba = raster(photoPixels(21, 13, 4));
    for (const options of [{ format: 'png' }, { format: 'webp', lossless: true }, { format: 'tiff' }] as const) {
      const { bytes, decoded } = await roundTrip(rgba, options);
      assert.equal((await sharp(bytes).metadata()).hasAlpha, true);
      assertSamplesEqual(decoded.data, rgba.data, `RGBA ${options.format}`);
    }
  });

  test('lossless AVIF keeps RGB and RGBA exactly', async () => {
    for (const channels of [3, 4] as const) {
      const input = raster(photoPixels(18, 10, channels));
      const { decoded } = await roundTrip(input, { format: 'avif', lossless: true });
      assert.equal(decoded.channels, channels);
      assertSamplesEqual(decoded.data, input.data, `AVIF ${channels}`);
    }
  });

  test('lossy formats stay close to the input', async () => {
    const input = raster(photoPixels(64, 48));
    for (const format of ['jpeg', 'webp', 'avif'] as const) {
      const { decoded } = await roundTrip(input, { format, quality: 95 });
      let total = 0;
      for (let index = 0; index < input.data.length; index++) total += Math.abs((decoded.data[index] ?? 0) - (input.data[index] ?? 0));
      const meanError = total / input.data.length;
      assert.ok(meanError < 3, `${format}: mean absolute error ${meanError.toFixed(2)}`);
    }
  });

  test('16-bit to 8-bit rounds to nearest instead of truncating', async () => {
    // 257 k + 129 is just above k + 0.5 in 8-bit units: rounding gives k + 1, truncation (>> 8) gives k.
    const values = [0, 257 * 10 + 129, 257 * 100 + 128, 65535];
    const data = new Uint16Array(values.flatMap((value) => [value, value, value]));
    const { decoded } = await roundTrip({ width: 4, height: 1, channels: 3, depth: 16, data }, { format: 'webp', lossless: true });
    assert.equal(decoded.depth, 8);
    assert.deepEqual(Array.from(decoded.data.filter((_, index) => index % 3 === 0)), [0, 11, 100, 255]);
  });

  test('JPEG flattens alpha onto white', async () => {
    const rgba = raster(photoPixels(32, 24, 4));
    const { bytes, decoded } = await roundTrip(rgba, { format: 'jpeg', quality: 100 });
    assert.equal((await sharp(bytes).metadata()).channels, 3);
    // The top-left corner is fully transparent in the fixture: it must come out (nearly) white.
    assert.ok(Array.from(decoded.data.subarray(0, 3)).every((value) => value >= 250), `corner is ${Array.from(decoded.data.subarray(0, 3)).join(',')}`);
    const { decoded: greyDecoded } = await roundTrip(raster(photoPixels(32, 24, 2)), { format: 'jpeg', quality: 100 });
    assert.equal(greyDecoded.channels, 1);
    assert.ok((greyDecoded.data[0] ?? 0) >= 250);
  });

  test('WebP and AVIF store grey as RGB', async () => {
    const grey = raster(photoPixels(8, 8, 1));
    for (const format of ['webp', 'avif'] as const) {
      const { decoded } = await roundTrip(grey, { format, lossless: true });
      assert.equal(decoded.channels, 3);
      assert.equal(decoded.data[0], grey.data[0]);
      assert.equal(decoded.data[1], grey.data[0]);
    }
  });

  test('TIFF compressions: deflate, lzw and none are lossless; jpeg is 8-bit', async () => {
    const input = raster(gradient16(9, 7, 3));
    for (const tiffCompression of ['deflate', 'lzw', 'none'] as const) {
      const { decoded } = await roundTrip(input, { format: 'tiff', tiffCompression });
      assertSamplesEqual(decoded.data, input.data, `TIFF ${tiffCompression}`);
    }
    const { bytes, decoded } = await roundTrip(input, { format: 'tiff', tiffCompression: 'jpeg', quality: 90 });
    assert.equal(decoded.depth, 8);
    assert.equal((await sharp(bytes).metadata()).depth, 'uchar');
  });

  test('options are validated with messages naming the option and the value', async () => {
    const input = raster(photoPixels(4, 4));
    const cases: [EncodeOptions, string][] = [
      [{ format: 'bmp' as never }, 'Expected format to be one of png, jpeg, webp, tiff, avif, got "bmp" (string)'],
      [{ format: 'jpeg', quality: 0 }, 'Expected quality to be an integer from 1 to 100, got 0 (number)'],
      [{ format: 'webp', quality: 101 }, 'Expected quality to be an integer from 1 to 100, got 101 (number)'],
      [{ format: 'avif', quality: 50.5 }, 'Expected quality to be an integer from 1 to 100, got 50.5 (number)'],
      [{ format: 'png', compressionLevel: 10 }, 'Expected compressionLevel to be an integer from 0 to 9, got 10 (number)'],
      [{ format: 'jpeg', lossless: true }, 'Expected lossless only with png, webp, avif or non-JPEG tiff, got lossless with jpeg'],
      [{ format: 'tiff', tiffCompression: 'zip' as never }, 'Expected tiffCompression to be one of deflate, lzw, jpeg, none, got "zip" (string)'],
      [{ format: 'png', density: -1 }, 'Expected density to be a number of DPI from 0.001 to 1000000, got -1 (number)'],
      [{ format: 'png', metadata: { xmp: 'not xmp' } }, 'Expected metadata.xmp to be an XMP packet (<x:xmpmeta> or <rdf:RDF>), got "not xmp"'],
      [{ format: 'png', metadata: { icc: Buffer.alloc(200) } }, "Expected metadata.icc to be an ICC profile (with the 'acsp' signature), got 200 bytes without it"],
    ];
    for (const [options, message] of cases) await rejectsWith(encodeImage(input, options), 'INVALID_OPTION', message);
  });

  test('malformed rasters are programming errors', async () => {
    await assert.rejects(encodeImage({ width: 2, height: 2, channels: 3, depth: 8, data: new Uint8Array(5) }, { format: 'png' }), {
      name: 'RangeError',
      message: 'Expected raster data to hold 12 samples (2x2x3), got 5',
    });
    await assert.rejects(encodeImage({ width: 1, height: 1, channels: 1, depth: 16, data: new Uint8Array(1) }, { format: 'png' }), {
      name: 'TypeError',
      message: 'Expected raster data to be a Uint16Array for depth 16, got Uint8Array',
    });
  });

  test('images too large for a format fail before encoding, naming the file', async () => {
    const wide = { width: 16384, height: 1, channels: 1 as const, depth: 8 as const, data: new Uint8Array(16384) };
    await rejectsWith(
      encodeImage(wide, { format: 'webp', file: 'out.webp' }),
      'OUTPUT_FAILED',
      'out.webp: a 16384x1 image is too large for WebP (at most 16383x16383); choose PNG or TIFF',
    );
  });
});

/**
 * Metadata round trips: a camera-like JPEG (Display P3 profile, EXIF with orientation 6, XMP, IPTC) is decoded and
 * written to every output format; what comes out is read back both with sharp and with ExifTool.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { decodeImage, encodeImage } from '../src/image/index.js';
import type { DecodedImage, OutputFormat } from '../src/image/index.js';
import { addExifResolution, normalizeExif, patchExif, readExifDensity } from '../src/image/metadata/exif.js';
import { createUpscaler } from '../src/upscaler.js';
import type { Upscaler } from '../src/upscaler.js';
import {
  createFixtureDir,
  exiftoolBinary,
  exiftoolRead,
  exiftoolValidate,
  exiftoolWrite,
  fromRaw,
  photoPixels,
  PHOTO_TAGS,
  rawProfileText,
  withPngText,
  writeBytes,
  writePhotoJpeg,
  writePng,
} from './fixtures/images.js';
import type { FixtureDir } from './fixtures/images.js';

const MAX_PIXELS = 50_000_000;
const DENSITY = 300;
/** Where IPTC can be kept; WebP and AVIF have no place for it. */
const IPTC_FORMATS = new Set<OutputFormat>(['png', 'jpeg', 'tiff']);
/** Formats whose container has a density field sharp reads back (WebP and AVIF only have it in EXIF). */
const NATIVE_DENSITY_FORMATS = new Set<OutputFormat>(['png', 'jpeg', 'tiff']);

let fixtures: FixtureDir;
let photo: DecodedImage;
let xmpWithProvenance: string;

before(async () => {
  fixtures = await createFixtureDir();
  const path = fixtures.path('photo.jpg');
  await writePhotoJpeg(path);
  photo = await decodeImage(path, { maxPixels: MAX_PIXELS });
  // A provenance-like extra description in a custom namespace, plus properties that must follow the pixels.
  const provenance =
    ' <rdf:Description rdf:about="" xmlns:upscale="urn:upscale:test:1.0#" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"' +
    ' upscale:UpscaleModel="test-model-x4" upscale:UpscaleFactor="4" tiff:Orientation="6"/>\n';
  const original = photo.metadata.xmp?.toString('utf8') ?? '';
  assert.ok(original.includes('</rdf:RDF>'));
  xmpWithProvenance = original.replace('</rdf:RDF>', `${provenance}</rdf:RDF>`);
});
after(async () => {
  await fixtures.remove();
});

async function encodeToFile(name: string, format: OutputFormat, extra: Partial<Parameters<typeof encodeImage>[1]> = {}): Promise<{ path: string; bytes: Buffer }> {
  const bytes = await encodeImage(photo.raster, {
    format,
    metadata: { ...photo.metadata, xmp: xmpWithProvenance },
    density: DENSITY,
    ...(format === 'webp' || format === 'avif' ? { lossless: true } : {}),
    ...extra,
  });
  const path = fixtures.path(name);
  await writeBytes(path, bytes);
  return { path, bytes };
}

function assertNoExiftoolComplaints(tags: Record<string, unknown>, label: string): void {
  assert.equal(tags['ExifTool:Warning'], undefined, `${label}: ExifTool warning`);
  assert.equal(tags['ExifTool:Error'], undefined, `${label}: ExifTool error`);
}

describe('decoded metadata of the camera-like JPEG', () => {
  test('ICC, EXIF, XMP, IPTC, density and orientation are all read', () => {
    const { metadata } = photo;
    assert.equal(metadata.orientation, 6);
    assert.equal(metadata.density, 72);
    assert.equal(metadata.icc?.toString('latin1', 36, 40), 'acsp');
    assert.ok(metadata.exif !== undefined && metadata.exif.toString('latin1', 0, 2) === 'MM', 'bare TIFF structure, no Exif\\0\\0 prefix');
    assert.match(metadata.xmp?.toString('utf8') ?? '', /Jane Doe/);
    assert.equal(metadata.iptc?.[0], 0x1c, 'bare IPTC-IIM');
  });
});

describe('metadata round trip per output format', () => {
  for (const format of ['png', 'jpeg', 'webp', 'tiff', 'avif'] as const) {
    test(format, async () => {
      const { path, bytes } = await encodeToFile(`round-trip.${format}`, format);
      const tags = await exiftoolRead(path);
      assertNoExiftoolComplaints(tags, format);
      const info = await sharp(bytes).metadata();

      // ICC: identical bytes, as ExifTool extracts them and as sharp reads them.
      assert.deepEqual(await exiftoolBinary(path, 'ICC_Profile'), photo.metadata.icc, 'ICC via ExifTool');
      assert.deepEqual(info.icc, photo.metadata.icc, 'ICC via sharp');
      assert.equal(tags['ICC_Profile:ColorSpaceData'], 'RGB ');

      // EXIF: descriptive tags kept, orientation and size and resolution patched.
      assert.equal(tags['EXIF:Copyright'], PHOTO_TAGS.copyright);
      assert.equal(tags['EXIF:ImageDescription'], PHOTO_TAGS.description);
      assert.equal(tags['EXIF:Orientation'], 1);
      assert.equal(tags['EXIF:XResolution'], DENSITY);
      assert.equal(tags['EXIF:YResolution'], DENSITY);
      assert.equal(tags['EXIF:ResolutionUnit'], 2);
      // TIFF leaves out the tags EXIF defines for compressed images only (ExifTool's validator flags them).
      assert.equal(tags['EXIF:ExifImageWidth'], format === 'tiff' ? undefined : photo.raster.width);
      assert.equal(tags['EXIF:ExifImageHeight'], format === 'tiff' ? undefined : photo.raster.height);
      assert.equal(info.orientation ?? 1, 1);

      // XMP: kept, the extra provenance element readable, its orientation patched too.
      assert.equal(tags['XMP:Creator'], PHOTO_TAGS.creator);
      assert.equal(tags['XMP:UpscaleModel'], 'test-model-x4');
      assert.equal(tags['XMP:UpscaleFactor'], 4);
      assert.equal(tags['XMP:Orientation'], 1);
      assert.match(info.xmp?.toString('utf8') ?? '', /upscale:UpscaleModel="test-model-x4"/);

      // IPTC where the format has a place for it.
      if (IPTC_FORMATS.has(format)) {
        assert.deepEqual(tags['IPTC:Keywords'], [...PHOTO_TAGS.keywords]);
        assert.equal(tags['IPTC:City'], PHOTO_TAGS.city);
      } else {
        assert.equal(tags['IPTC:Keywords'], undefined);
      }

      // Density: in the container where it has a field, and through decodeImage everywhere.
      if (NATIVE_DENSITY_FORMATS.has(format)) assert.equal(info.density, DENSITY);
      const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
      assert.equal(decoded.metadata.density, DENSITY);
      assert.deepEqual(decoded.metadata.icc, photo.metadata.icc);
      assert.ok(decoded.metadata.exif !== undefined, 'EXIF decodes back');
      assert.equal(decoded.metadata.iptc !== undefined, IPTC_FORMATS.has(format), 'IPTC decodes back where kept');
      assert.equal(decoded.metadata.orientation ?? 1, 1);

      // Pixels: untouched by the metadata surgery (lossless formats), upright and the same size.
      assert.deepEqual([decoded.raster.width, decoded.raster.height, decoded.raster.channels], [48, 64, 3]);
      if (format !== 'jpeg') assert.deepEqual(decoded.raster.data, photo.raster.data);
    });
  }
});

describe('metadata details', () => {
  test("ExifTool's validator finds nothing that the metadata added", async () => {
    for (const format of ['png', 'jpeg', 'webp', 'tiff', 'avif'] as const) {
      const { path } = await encodeToFile(`validate.${format}`, format);
      const plain = fixtures.path(`validate-plain.${format}`);
      await writeBytes(plain, await encodeImage(photo.raster, { format }));
      // sharp's own TIFF draws "Invalid value for IFD0 tag 0x0103 Compression" (deflate is not baseline TIFF).
      assert.deepEqual(await exiftoolValidate(path), await exiftoolValidate(plain), format);
    }
  });

  test('JPEG: exactly one EXIF and one ICC segment even though sharp wrote its own EXIF for the density', async () => {
    const { bytes } = await encodeToFile('single-exif.jpg', 'jpeg');
    const count = (needle: string): number => bytes.toString('latin1').split(needle).length - 1;
    assert.equal(count('Exif\0\0'), 1);
    assert.equal(count('ICC_PROFILE\0'), 1);
    assert.equal(count('Photoshop 3.0\0'), 1);
    assert.equal(count('http://ns.adobe.com/xap/1.0/\0'), 1);
  });

  test('JPEG: an ICC profile larger than one APP2 segment is split and reassembled', async () => {
    const base = photo.metadata.icc;
    assert.ok(base !== undefined);
    // Unreferenced padding after the tag data keeps the profile valid; the header's size field covers it.
    const big = Buffer.concat([base, Buffer.alloc(150_000, 0x5a)]);
    big.writeUInt32BE(big.length, 0);
    const bytes = await encodeImage(photo.raster, { format: 'jpeg', metadata: { icc: big } });
    const path = fixtures.path('big-icc.jpg');
    await writeBytes(path, bytes);
    assert.equal(bytes.toString('latin1').split('ICC_PROFILE\0').length - 1, 3);
    assert.deepEqual((await sharp(bytes).metadata()).icc, big);
    assert.deepEqual(await exiftoolBinary(path, 'ICC_Profile'), big);
  });

  test('JPEG: an XMP packet over 64 KiB only because of its padding is kept, without the padding', async () => {
    const padded = xmpWithProvenance.replace(/<\?xpacket end=/, `${' '.repeat(99)}\n`.repeat(800) + '<?xpacket end=');
    assert.ok(Buffer.byteLength(padded) > 70_000);
    const path = fixtures.path('padded-xmp.jpg');
    await writeBytes(path, await encodeImage(photo.raster, { format: 'jpeg', metadata: { xmp: padded } }));
    const tags = await exiftoolRead(path);
    assertNoExiftoolComplaints(tags, 'padded XMP');
    assert.equal(tags['XMP:UpscaleModel'], 'test-model-x4');
  });

  test('little-endian EXIF is patched as well (PNG and TIFF)', async () => {
    const path = fixtures.path('photo-ii.jpg');
    await writePhotoJpeg(path);
    // ExifTool only changes the byte order of EXIF it creates: rebuild the block.
    await exiftoolWrite(path, ['-EXIF:all=', '-tagsFromFile', '@', '-EXIF:all', '-ExifByteOrder=II']);
    const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
    assert.equal(decoded.metadata.exif?.toString('latin1', 0, 2), 'II');
    for (const format of ['png', 'tiff'] as const) {
      const out = fixtures.path(`photo-ii.${format}`);
      await writeBytes(out, await encodeImage(decoded.raster, { format, metadata: decoded.metadata, density: 150 }));
      const tags = await exiftoolRead(out);
      assertNoExiftoolComplaints(tags, format);
      assert.equal(tags['EXIF:Orientation'], 1);
      assert.equal(tags['EXIF:XResolution'], 150);
      assert.equal(tags['EXIF:Copyright'], PHOTO_TAGS.copyright);
      assert.equal(tags['EXIF:ExifImageWidth'], format === 'tiff' ? undefined : 48);
    }
  });

  test('a thumbnail (IFD1) is dropped with the orientation change, since it would show the image sideways', async () => {
    const path = fixtures.path('with-thumbnail.jpg');
    await writePhotoJpeg(path);
    const thumbnail = fixtures.path('thumbnail.jpg');
    await fromRaw(photoPixels(16, 12)).jpeg().toFile(thumbnail);
    await exiftoolWrite(path, [`-ThumbnailImage<=${thumbnail}`]);
    assert.ok((await exiftoolRead(path))['EXIF:ThumbnailLength'] !== undefined, 'the fixture has a thumbnail');
    const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
    const out = fixtures.path('without-thumbnail.png');
    await writeBytes(out, await encodeImage(decoded.raster, { format: 'png', metadata: decoded.metadata }));
    const tags = await exiftoolRead(out);
    assertNoExiftoolComplaints(tags, 'png');
    assert.equal(tags['EXIF:ThumbnailLength'], undefined);
    assert.equal(tags['EXIF:Orientation'], 1);
    assert.equal(tags['EXIF:Copyright'], PHOTO_TAGS.copyright);
  });

  test('without a density the EXIF resolution is left as it was', async () => {
    const { density: _density, ...withoutDensity } = photo.metadata;
    const path = fixtures.path('keep-resolution.png');
    await writeBytes(path, await encodeImage(photo.raster, { format: 'png', metadata: withoutDensity }));
    const tags = await exiftoolRead(path);
    assert.equal(tags['EXIF:XResolution'], 72);
    assert.equal(tags['EXIF:Orientation'], 1);
  });

  test('density falls back to metadata.density', async () => {
    const bytes = await encodeImage(photo.raster, { format: 'png', metadata: { density: 96 } });
    assert.equal((await sharp(bytes).metadata()).density, 96);
  });

  test('WebP and AVIF without EXIF get a minimal EXIF holding the density', async () => {
    for (const format of ['webp', 'avif'] as const) {
      const path = fixtures.path(`density-only.${format}`);
      await writeBytes(path, await encodeImage(photo.raster, { format, density: 240 }));
      const tags = await exiftoolRead(path);
      assertNoExiftoolComplaints(tags, format);
      assert.equal(tags['EXIF:XResolution'], 240);
      assert.equal(tags['EXIF:ResolutionUnit'], 2);
      assert.equal((await decodeImage(path, { maxPixels: MAX_PIXELS })).metadata.density, 240);
    }
  });

  test('no metadata in, none out', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'tiff', 'avif'] as const) {
      const info = await sharp(await encodeImage(photo.raster, { format })).metadata();
      assert.deepEqual([info.icc, info.exif, info.xmp, info.iptc], [undefined, undefined, undefined, undefined], format);
    }
  });

  test('XMP may be given as a Buffer', async () => {
    const bytes = await encodeImage(photo.raster, { format: 'webp', metadata: { xmp: Buffer.from(xmpWithProvenance, 'utf8') } });
    assert.match((await sharp(bytes).metadata()).xmp?.toString('utf8') ?? '', /test-model-x4/);
  });

  test('an RGB profile is not attached to grey output, and a grey raster keeps everything else', async () => {
    const grey = { width: 8, height: 8, channels: 1 as const, depth: 8 as const, data: new Uint8Array(64).fill(128) };
    for (const format of ['png', 'jpeg', 'tiff'] as const) {
      const bytes = await encodeImage(grey, { format, metadata: { icc: photo.metadata.icc ?? Buffer.alloc(0), xmp: xmpWithProvenance } });
      const info = await sharp(bytes).metadata();
      assert.equal(info.icc, undefined, `${format}: no RGB profile on grey`);
      assert.equal(info.channels, 1);
      assert.match(info.xmp?.toString('utf8') ?? '', /test-model-x4/);
    }
  });

  test('TIFF EXIF decodes back and carries on into another format', async () => {
    const { path } = await encodeToFile('exif-carrier.tiff', 'tiff');
    const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
    const out = fixtures.path('exif-carried.jpg');
    await writeBytes(out, await encodeImage(decoded.raster, { format: 'jpeg', metadata: decoded.metadata }));
    const tags = await exiftoolRead(out);
    assertNoExiftoolComplaints(tags, 'jpeg from tiff');
    assert.equal(tags['EXIF:Copyright'], PHOTO_TAGS.copyright);
    assert.equal(tags['EXIF:ExifVersion'], '0232');
    assert.equal(tags['EXIF:XResolution'], DENSITY);
    assert.equal(tags['IPTC:City'], PHOTO_TAGS.city);
  });

  test('IPTC written by ExifTool into PNG and TIFF is read by decodeImage', async () => {
    for (const [name, write] of [
      ['exiftool-iptc.png', (path: string) => writePng(path, photoPixels(8, 8))],
      ['exiftool-iptc.tif', (path: string) => fromRaw(photoPixels(8, 8)).tiff().toFile(path)],
    ] as const) {
      const path = fixtures.path(name);
      await write(path);
      await exiftoolWrite(path, ['-IPTC:City=Lyon', '-IPTC:Keywords=one']);
      const decoded = await decodeImage(path, { maxPixels: MAX_PIXELS });
      assert.equal(decoded.metadata.iptc?.[0], 0x1c, name);
      const out = fixtures.path(`${name}.jpg`);
      await writeBytes(out, await encodeImage(decoded.raster, { format: 'jpeg', metadata: decoded.metadata }));
      const tags = await exiftoolRead(out);
      assert.equal(tags['IPTC:City'], 'Lyon');
      assert.equal(tags['IPTC:Keywords'], 'one');
    }
  });

  test('PNG EXIF and XMP in ImageMagick "Raw profile type" texts are read', async () => {
    const exif = photo.metadata.exif;
    assert.ok(exif !== undefined);
    let png: Buffer = await fromRaw(photoPixels(8, 8)).png().toBuffer();
    png = withPngText(png, 'Raw profile type exif', rawProfileText('exif', Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), exif])));
    png = withPngText(png, 'Raw profile type xmp', rawProfileText('xmp', Buffer.from(xmpWithProvenance, 'utf8')));
    const decoded = await decodeImage(png, { maxPixels: MAX_PIXELS });
    assert.deepEqual(decoded.metadata.exif, exif);
    assert.equal(decoded.metadata.xmp?.toString('utf8'), xmpWithProvenance);
  });

  test('our PNG IPTC chunk is the one ExifTool writes: ExifTool can edit it in place', async () => {
    const { path } = await encodeToFile('editable.png', 'png');
    await exiftoolWrite(path, ['-IPTC:City=Berlin']);
    const tags = await exiftoolRead(path);
    assertNoExiftoolComplaints(tags, 'edited png');
    assert.equal(tags['IPTC:City'], 'Berlin');
    assert.deepEqual(tags['IPTC:Keywords'], [...PHOTO_TAGS.keywords]);
    assert.equal((await readFile(path)).toString('latin1').split('Raw profile type iptc').length - 1, 1);
  });
});

describe('patchExif', () => {
  /** A hand-made little-endian EXIF: Orientation stored as LONG (wrong type), XResolution as RATIONAL 72/1. */
  function handmadeExif(): Buffer {
    const exif = Buffer.alloc(8 + 2 + 2 * 12 + 4 + 8);
    exif.write('II', 0, 'latin1');
    exif.writeUInt16LE(42, 2);
    exif.writeUInt32LE(8, 4);
    exif.writeUInt16LE(2, 8);
    // Orientation 0x0112, type LONG (4), count 1, value 6.
    exif.writeUInt16LE(0x0112, 10);
    exif.writeUInt16LE(4, 12);
    exif.writeUInt32LE(1, 14);
    exif.writeUInt32LE(6, 18);
    // XResolution 0x011A, RATIONAL (5), count 1, at offset 38.
    exif.writeUInt16LE(0x011a, 22);
    exif.writeUInt16LE(5, 24);
    exif.writeUInt32LE(1, 26);
    exif.writeUInt32LE(38, 30);
    exif.writeUInt32LE(0, 34);
    exif.writeUInt32LE(72, 38);
    exif.writeUInt32LE(1, 42);
    return exif;
  }

  test('tags with an unexpected type are left alone, the others patched, nothing else changes', () => {
    const input = handmadeExif();
    const patched = patchExif(input, { width: 10, height: 20, density: 300 });
    assert.equal(patched.readUInt32LE(18), 6, 'LONG orientation untouched');
    assert.equal(patched.readUInt32LE(38), 300);
    assert.equal(patched.readUInt32LE(42), 1);
    const changed = [...patched].flatMap((byte, index) => (byte === input[index] ? [] : [index]));
    assert.deepEqual(changed, [38, 39]);
    assert.deepEqual(input, handmadeExif(), 'the input is not modified');
  });

  test('non-integer densities are written as thousandths', () => {
    const patched = patchExif(handmadeExif(), { width: 1, height: 1, density: 72.5 });
    assert.deepEqual([patched.readUInt32LE(38), patched.readUInt32LE(42)], [72500, 1000]);
  });

  test('garbage is not EXIF', () => {
    assert.equal(normalizeExif(Buffer.from('Exif\0\0garbage')), undefined);
    assert.equal(normalizeExif(Buffer.from([0x49, 0x49, 0x2a, 0x00, 0xff, 0xff, 0xff, 0x00])), undefined);
    assert.deepEqual(normalizeExif(Buffer.concat([Buffer.from('Exif\0\0'), handmadeExif()])), handmadeExif());
  });
});

describe('density through upscaleFile: every place an input keeps it, every output format (read back by ExifTool)', () => {
  const SCALE = 2;
  const CM_PER_INCH = 2.54;
  let upscaler: Upscaler;
  before(async () => {
    upscaler = await createUpscaler({ model: 'nearest' });
  });
  after(async () => {
    await upscaler.dispose();
  });

  const pixels = (): Sharp => fromRaw(photoPixels(24, 16));
  /** A JFIF 1.01 APP0 (units: 0 none, 1 DPI, 2 dots per cm), built byte by byte. */
  function jfifSegment(units: number, density: number): Buffer {
    const segment = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, units, 0, 0, 0, 0, 0, 0]);
    segment.writeUInt16BE(density, 12);
    segment.writeUInt16BE(density, 14);
    return segment;
  }
  /** An EXIF APP1 whose IFD0 holds only Artist: EXIF without resolution tags (ExifTool always adds them). */
  function exifWithoutResolution(): Buffer {
    const tiff = Buffer.alloc(8 + 2 + 12 + 4 + 4);
    tiff.write('MM\0*', 0, 'latin1');
    tiff.writeUInt32BE(8, 4);
    tiff.writeUInt16BE(1, 8);
    tiff.writeUInt16BE(0x013b, 10); // Artist, ASCII, 4 bytes at offset 26
    tiff.writeUInt16BE(2, 12);
    tiff.writeUInt32BE(4, 14);
    tiff.writeUInt32BE(26, 18);
    tiff.write('me\0\0', 26, 'latin1');
    const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const header = Buffer.from([0xff, 0xe1, 0, 0]);
    header.writeUInt16BE(payload.length + 2, 2);
    return Buffer.concat([header, payload]);
  }
  /** Segments inserted right after SOI of a JPEG that sharp wrote (it writes no JFIF and, here, no EXIF). */
  async function jpegWith(...segments: Buffer[]): Promise<Buffer> {
    const jpeg = await pixels().jpeg().toBuffer();
    assert.notEqual(jpeg[3], 0xe0, 'sharp wrote no APP0');
    return Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
  }
  async function pngWithPhysOnly(path: string): Promise<void> {
    await writeBytes(path, await pixels().withMetadata({ density: 300 }).png().toBuffer());
    await exiftoolWrite(path, ['-EXIF:all=']);
  }

  /** Input files, the DPI they hold, and whether their EXIF holds it too. */
  const inputs: { name: string; dpi: number; exifResolution: boolean; write: (path: string) => Promise<void> }[] = [
    { name: 'png-phys.png', dpi: 300, exifResolution: false, write: pngWithPhysOnly },
    { name: 'png-phys-exif.png', dpi: 300, exifResolution: true, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).png().toBuffer()) },
    { name: 'jpeg-jfif-dpi.jpg', dpi: 300, exifResolution: false, write: async (path) => writeBytes(path, await jpegWith(jfifSegment(1, 300))) },
    // 118 dots per cm are 299.72 DPI; sharp, which decodeImage reads densities through, reports whole DPI.
    { name: 'jpeg-jfif-dpcm.jpg', dpi: Math.round(118 * CM_PER_INCH), exifResolution: false, write: async (path) => writeBytes(path, await jpegWith(jfifSegment(2, 118))) },
    { name: 'jpeg-exif.jpg', dpi: 300, exifResolution: true, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).jpeg().toBuffer()) },
    { name: 'jpeg-jfif-exif-without-resolution.jpg', dpi: 300, exifResolution: false, write: async (path) => writeBytes(path, await jpegWith(jfifSegment(1, 300), exifWithoutResolution())) },
    { name: 'tiff-inch.tif', dpi: 300, exifResolution: false, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).tiff({ resolutionUnit: 'inch' }).toBuffer()) },
    { name: 'tiff-cm.tif', dpi: 300, exifResolution: false, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).tiff({ resolutionUnit: 'cm' }).toBuffer()) },
    { name: 'webp-exif.webp', dpi: 300, exifResolution: true, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).webp({ lossless: true }).toBuffer()) },
    { name: 'avif-exif.avif', dpi: 300, exifResolution: true, write: async (path) => writeBytes(path, await pixels().withMetadata({ density: 300 }).avif({ lossless: true }).toBuffer()) },
  ];

  /** The DPI recorded in each place ExifTool finds in the output, in DPI. */
  function densities(tags: Record<string, unknown>): Record<string, number> {
    const found: Record<string, number> = {};
    const number = (key: string): number | undefined => (typeof tags[key] === 'number' ? (tags[key] as number) : undefined);
    const ppm = number('PNG:PixelsPerUnitX');
    if (ppm !== undefined) {
      assert.equal(tags['PNG:PixelUnits'], 1, 'pHYs in metres');
      assert.equal(tags['PNG:PixelsPerUnitY'], ppm);
      found.pHYs = ppm * 0.0254;
    }
    const jfif = number('JFIF:XResolution');
    if (jfif !== undefined) {
      assert.equal(tags['JFIF:YResolution'], jfif);
      found.JFIF = jfif * (tags['JFIF:ResolutionUnit'] === 2 ? CM_PER_INCH : tags['JFIF:ResolutionUnit'] === 1 ? 1 : Number.NaN);
    }
    const exif = number('EXIF:XResolution');
    if (exif !== undefined) {
      assert.equal(tags['EXIF:YResolution'], exif);
      found.EXIF = exif * (tags['EXIF:ResolutionUnit'] === 3 ? CM_PER_INCH : tags['EXIF:ResolutionUnit'] === 2 ? 1 : Number.NaN);
    }
    return found;
  }

  /** Where each output format must hold the density. */
  const REQUIRED: Record<OutputFormat, string[]> = { png: ['pHYs'], jpeg: ['JFIF'], tiff: ['EXIF'], webp: ['EXIF'], avif: ['EXIF'] };
  const EXTENSION: Record<OutputFormat, string> = { png: 'png', jpeg: 'jpg', tiff: 'tif', webp: 'webp', avif: 'avif' };

  for (const input of inputs) {
    test(`${input.name}: the DPI grows with the pixels in every output format`, async () => {
      const source = fixtures.path(`density-${input.name}`);
      await input.write(source);
      const held = densities(await exiftoolRead(source));
      assert.ok(Object.values(held).some((dpi) => Math.abs(dpi - input.dpi) < 0.5), `the fixture holds ${input.dpi} DPI: ${JSON.stringify(held)}`);
      for (const format of ['png', 'jpeg', 'tiff', 'webp', 'avif'] as const) {
        const out = fixtures.path(`density-${input.name}.out.${EXTENSION[format]}`);
        await upscaler.upscaleFile(source, out, { scale: SCALE, format, overwrite: true });
        const tags = await exiftoolRead(out);
        assertNoExiftoolComplaints(tags, `${input.name} -> ${format}`);
        const found = densities(tags);
        const places = [...REQUIRED[format], ...(input.exifResolution ? ['EXIF'] : [])];
        for (const place of new Set(places)) assert.ok(found[place] !== undefined, `${input.name} -> ${format}: no density in ${place} (${JSON.stringify(found)})`);
        const expected = input.dpi * SCALE;
        for (const [place, dpi] of Object.entries(found)) {
          // JFIF holds whole DPI; pHYs whole pixels per metre.
          const tolerance = place === 'JFIF' ? 0.5 : place === 'pHYs' ? 0.02 : 0.01;
          assert.ok(Math.abs(dpi - expected) <= tolerance, `${input.name} -> ${format}: ${place} holds ${dpi} DPI, expected ${expected}`);
        }
        assert.ok(Math.abs(((await sharp(out).metadata()).density ?? (await decodeImage(out, { maxPixels: MAX_PIXELS })).metadata.density ?? 0) - expected) < 1);
      }
    });
  }

  test('--keep-density keeps the JFIF DPI of a JPEG in a JPEG', async () => {
    const source = fixtures.path('keep-density.jpg');
    await writeBytes(source, await jpegWith(jfifSegment(1, 300)));
    const out = fixtures.path('keep-density.out.jpg');
    await upscaler.upscaleFile(source, out, { scale: SCALE, keepDensity: true });
    const tags = await exiftoolRead(out);
    assert.deepEqual([tags['JFIF:ResolutionUnit'], tags['JFIF:XResolution'], tags['JFIF:YResolution']], [1, 300, 300]);
  });

  test('addExifResolution adds the tags to an EXIF block without them, keeping every other tag and offset', () => {
    const exif = normalizeExif(exifWithoutResolution().subarray(4));
    assert.ok(exif !== undefined);
    assert.equal(readExifDensity(exif), undefined);
    const added = addExifResolution(exif, 72.5);
    assert.equal(readExifDensity(added), 72.5);
    assert.deepEqual(added.subarray(8, exif.length), exif.subarray(8), 'nothing moved');
    assert.equal(added.toString('latin1', 26, 28), 'me');
  });
});

test('a JPEG that states no resolution gives none: not the 72 DPI libvips reports for it', async () => {
  const bytes = await sharp({ create: { width: 16, height: 12, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  assert.equal((await sharp(bytes).metadata()).density, 72, 'libvips invents 72 DPI');
  const decoded = await decodeImage(bytes, { maxPixels: Infinity });
  assert.equal(decoded.metadata.density, undefined);
  // A JFIF density in DPI is the file's own, and kept.
  const stated = await sharp(bytes).withMetadata({ density: 300 }).jpeg().toBuffer();
  assert.equal((await decodeImage(stated, { maxPixels: Infinity })).metadata.density, 300);
});

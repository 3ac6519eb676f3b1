/**
 * Seed images and metadata blocks for the image targets, made in code with sharp and our own encoder: PNG, APNG,
 * JPEG, WebP and TIFF files carrying ICC, EXIF, XMP and IPTC, the bare blocks themselves, and small plain files
 * that the metadata writers insert into (as they do into sharp's output).
 */
import sharp from 'sharp';
import { encodeImage } from '../../../src/image/index.js';
import type { MetadataBlocks } from '../../../src/image/metadata/blocks.js';
import { ApngAssembler } from '../../../src/image/apng.js';
import { photoshopApp13Payload, photoshopIrbForIptc } from '../../../src/image/metadata/iptc.js';
import { TiffType, encodeValues, serializeIfd, type ByteOrder, type OutEntry } from '../../../src/image/metadata/tiff-ifd.js';
import { pngChunk, readPngChunks, PNG_SIGNATURE } from '../../../src/image/png-chunks.js';
import type { Raster } from '../../../src/image/raster.js';

const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(`${text}\0`, 'latin1'));

function entry(tag: number, type: number, count: number, data: Uint8Array): OutEntry {
  return { tag, type, count, data };
}

/**
 * A camera-like EXIF block (bare TIFF structure): IFD0 with description, make, orientation 6, 72 DPI, copyright and
 * pointers to an Exif IFD (pixel size, an interoperability IFD) and a GPS IFD, then IFD1 (a thumbnail's IFD).
 */
export function exifBlock(order: ByteOrder): Buffer {
  const short = (v: number): Uint8Array => encodeValues(TiffType.SHORT, [v], order);
  const long = (v: number): Uint8Array => encodeValues(TiffType.LONG, [v], order);
  const rational = (n: number, d: number): Uint8Array => encodeValues(TiffType.RATIONAL, [n, d], order);
  // Offsets are fixed up after measuring: header (8), then IFD0, Exif IFD, interop IFD, GPS IFD, IFD1.
  const build = (exifAt: number, interopAt: number, gpsAt: number, ifd1At: number): Uint8Array[] => {
    const ifd0 = serializeIfd(
      [
        entry(0x010e, TiffType.ASCII, 24, ascii('A photo-like test image')),
        entry(0x010f, TiffType.ASCII, 6, ascii('Canon')),
        entry(0x0112, TiffType.SHORT, 1, short(6)),
        entry(0x011a, TiffType.RATIONAL, 1, rational(72, 1)),
        entry(0x011b, TiffType.RATIONAL, 1, rational(72, 1)),
        entry(0x0128, TiffType.SHORT, 1, short(2)),
        entry(0x8298, TiffType.ASCII, 27, ascii('(c) 2024 Test Photographer')),
        entry(0x8769, TiffType.LONG, 1, long(exifAt)),
        entry(0x8825, TiffType.LONG, 1, long(gpsAt)),
      ],
      8,
      ifd1At,
      order,
    );
    const exif = serializeIfd(
      [
        entry(0x9000, TiffType.UNDEFINED, 4, new Uint8Array(Buffer.from('0231', 'latin1'))),
        entry(0xa002, TiffType.LONG, 1, long(64)),
        entry(0xa003, TiffType.SHORT, 1, short(48)),
        entry(0xa005, TiffType.LONG, 1, long(interopAt)),
        entry(0x9286, TiffType.UNDEFINED, 16, new Uint8Array(Buffer.from('ASCII\0\0\0comment!', 'latin1'))),
      ],
      exifAt,
      0,
      order,
    );
    const interop = serializeIfd([entry(0x0001, TiffType.ASCII, 4, ascii('R98'))], interopAt, 0, order);
    const gps = serializeIfd(
      [entry(0x0000, TiffType.BYTE, 4, Uint8Array.of(2, 3, 0, 0)), entry(0x0002, TiffType.RATIONAL, 3, encodeValues(TiffType.RATIONAL, [48, 1, 51, 1, 2930, 100], order))],
      gpsAt,
      0,
      order,
    );
    const ifd1 = serializeIfd([entry(0x0103, TiffType.SHORT, 1, short(6)), entry(0x0201, TiffType.LONG, 1, long(0)), entry(0x0202, TiffType.LONG, 1, long(0))], ifd1At, 0, order);
    return [ifd0, exif, interop, gps, ifd1];
  };
  const sizes = build(0, 0, 0, 0).map((piece) => piece.length + (piece.length % 2));
  const offsets = sizes.reduce<number[]>((acc, size) => [...acc, (acc.at(-1) ?? 8) + size], [8]);
  const pieces = build(offsets[1]!, offsets[2]!, offsets[3]!, offsets[4]!);
  const header = Buffer.from(order === 'II' ? [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0] : [0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8]);
  return Buffer.concat([header, ...pieces.flatMap((piece) => [piece, new Uint8Array(piece.length % 2)])]);
}

/** XMP packets: attribute form with padding, element form, and a bare rdf:RDF. */
export function xmpPackets(): Buffer[] {
  const wrap = (body: string, padding: number): string =>
    `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n${body}\n</x:xmpmeta>\n${' '.repeat(padding)}\n<?xpacket end="w"?>`;
  const rdf = (inner: string): string => `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">${inner}</rdf:RDF>`;
  const attributes = rdf(
    '<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" tiff:Orientation="6" exif:PixelXDimension="64" exif:PixelYDimension = \'48\' tiff:ImageWidth="64"/>',
  );
  const elements = rdf(
    '<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"><tiff:Orientation>8</tiff:Orientation><tiff:ImageLength> 48 </tiff:ImageLength><dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li></rdf:Seq></dc:creator></rdf:Description>',
  );
  return [Buffer.from(wrap(attributes, 2000)), Buffer.from(wrap(elements, 0)), Buffer.from(elements)];
}

/** IPTC in its three forms: bare IIM, a Photoshop IRB (with another resource first, and a name), a JPEG APP13 payload. */
export function iptcBlocks(): Buffer[] {
  const dataset = (record: number, tag: number, value: string): Buffer => {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([Buffer.from([0x1c, record, tag, bytes.length >> 8, bytes.length & 0xff]), bytes]);
  };
  const iim = Buffer.concat([dataset(1, 90, '\x1b%G'), dataset(2, 0, '\0\x04'), dataset(2, 25, 'upscale'), dataset(2, 25, 'test'), dataset(2, 90, 'Paris')]);
  const other = Buffer.concat([Buffer.from('8BIM\x03\xed\x04name\0\0\0\x06', 'latin1'), Buffer.alloc(6, 7)]);
  return [iim, Buffer.concat([other, photoshopIrbForIptc(iim)]), photoshopApp13Payload(iim)];
}

export async function iccProfile(): Promise<Buffer> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).withIccProfile('p3').png().toBuffer();
  const { icc } = await sharp(png).metadata();
  if (icc === undefined) throw new Error('sharp did not return the ICC profile it embedded');
  return icc;
}

function raster(width: number, height: number, channels: 1 | 3 | 4, depth: 8 | 16 = 8): Raster {
  const length = width * height * channels;
  const max = depth === 16 ? 65535 : 255;
  const data = depth === 16 ? new Uint16Array(length) : new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = Math.round(((i * 37) % 101) / 100 * max);
  return { width, height, channels, depth, data };
}

/** The metadata the writers insert (a realistic set: ICC, EXIF, XMP, IPTC). */
export async function sampleBlocks(): Promise<MetadataBlocks> {
  return { icc: await iccProfile(), exif: exifBlock('II'), xmp: xmpPackets()[0]!, iptc: iptcBlocks()[0]! };
}

export type ContainerFormat = 'png' | 'jpeg' | 'webp' | 'tiff';

/** Small plain files as sharp writes them: what the metadata writers are given in production. */
export async function plainContainers(): Promise<Record<ContainerFormat, Buffer>> {
  const image = raster(8, 6, 3);
  const encode = (format: ContainerFormat): Promise<Buffer> => encodeImage(image, { format });
  return { png: await encode('png'), jpeg: await encode('jpeg'), webp: await encode('webp'), tiff: await encode('tiff') };
}

/** Files of one format with and without metadata, in several pixel layouts. */
export async function containerSeeds(format: ContainerFormat): Promise<Buffer[]> {
  const blocks = await sampleBlocks();
  const full = { icc: blocks.icc!, exif: exifBlock('MM'), xmp: blocks.xmp!, iptc: blocks.iptc!, density: 300 };
  const out: Buffer[] = [];
  const layouts = format === 'jpeg' ? [raster(16, 12, 3), raster(8, 8, 1)] : format === 'webp' ? [raster(16, 12, 3), raster(8, 8, 4)] : [raster(16, 12, 3), raster(8, 8, 1, 16), raster(6, 4, 4)];
  for (const [i, image] of layouts.entries()) {
    out.push(await encodeImage(image, { format, metadata: i === 0 ? full : { exif: blocks.exif!, density: 72 } }));
    out.push(await encodeImage(image, { format }));
  }
  if (format === 'tiff') {
    out.push(await encodeImage(raster(16, 12, 3), { format, tiffCompression: 'none', metadata: full }));
    out.push(await sharp(Buffer.from(raster(8, 8, 3).data.buffer), { raw: { width: 8, height: 8, channels: 3 } }).tiff({ compression: 'lzw', bigtiff: false }).toBuffer());
  }
  if (format === 'webp') {
    const frames = raster(8, 24, 3);
    out.push(await sharp(Buffer.from(frames.data.buffer), { raw: { width: 8, height: 24, channels: 3, pageHeight: 8 } }).webp({ lossless: true, loop: 2 }).toBuffer());
    out.push(await encodeImage(raster(8, 8, 3), { format, lossless: true, metadata: full }));
  }
  if (format === 'png') out.push(...(await pngExtras(blocks)));
  return out;
}

/** PNGs with ImageMagick-style "Raw profile type" text chunks (tEXt, zTXt, iTXt) and a palette image. */
async function pngExtras(blocks: MetadataBlocks): Promise<Buffer[]> {
  const png = await encodeImage(raster(8, 6, 3), { format: 'png' });
  const profile = (name: string, payload: Uint8Array): string => {
    const hex = Buffer.from(payload).toString('hex').replace(/(.{72})/g, '$1\n');
    return `\n${name} profile\n${String(payload.length).padStart(8)}\n${hex}\n`;
  };
  const withChunks = (...chunks: Buffer[]): Buffer => {
    const { chunks: existing } = readPngChunks(png);
    const ihdr = existing[0]!;
    return Buffer.concat([PNG_SIGNATURE, png.subarray(ihdr.start, ihdr.end), ...chunks, png.subarray(ihdr.end)]);
  };
  const { deflateSync } = await import('node:zlib');
  const text = (keyword: string, body: string): Buffer => pngChunk('tEXt', Buffer.concat([Buffer.from(`${keyword}\0`, 'latin1'), Buffer.from(body, 'latin1')]));
  const ztxt = (keyword: string, body: string): Buffer => pngChunk('zTXt', Buffer.concat([Buffer.from(`${keyword}\0\0`, 'latin1'), deflateSync(Buffer.from(body, 'latin1'))]));
  const itxt = (keyword: string, body: string, compressed: boolean): Buffer =>
    pngChunk('iTXt', Buffer.concat([Buffer.from(`${keyword}\0${compressed ? '\x01' : '\0'}\0en\0\0`, 'latin1'), compressed ? deflateSync(Buffer.from(body)) : Buffer.from(body)]));
  const palette = await sharp(Buffer.from(raster(8, 8, 3).data.buffer), { raw: { width: 8, height: 8, channels: 3 } }).png({ palette: true, colours: 4 }).toBuffer();
  return [
    withChunks(text('Raw profile type exif', profile('exif', Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), blocks.exif!])))),
    withChunks(ztxt('Raw profile type iptc', profile('IPTC', photoshopIrbForIptc(blocks.iptc!))), itxt('Raw profile type xmp', profile('xmp', blocks.xmp!), true)),
    withChunks(itxt('XML:com.adobe.xmp', blocks.xmp!.toString('utf8'), false), ztxt('Raw profile type exif', profile('exif', exifBlock('MM')))),
    palette,
  ];
}

/** APNGs of 2 and 3 frames (RGB and RGBA), assembled as the encoder does, and a plain PNG. */
export async function apngSeeds(): Promise<Buffer[]> {
  const frame = (width: number, height: number, channels: 3 | 4, shade: number): Promise<Buffer> =>
    sharp({ create: { width, height, channels, background: { r: shade, g: 255 - shade, b: 80, alpha: 0.5 } } }).png().toBuffer();
  const assemble = async (frames: Buffer[], delays: number[], plays: number): Promise<Buffer> => {
    const assembler = new ApngAssembler(delays, plays);
    for (const f of frames) assembler.add(f);
    return assembler.finish();
  };
  return [
    await assemble([await frame(8, 6, 3, 10), await frame(8, 6, 3, 200)], [100, 40], 0),
    await assemble([await frame(5, 5, 4, 1), await frame(5, 5, 4, 2), await frame(5, 5, 4, 3)], [0, 65535, 33], 3),
    await frame(4, 4, 3, 7),
  ];
}

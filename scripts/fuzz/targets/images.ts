/**
 * Fuzz targets for the image code we own (libvips decodes the pixels): the PNG chunk and APNG readers, and the
 * metadata readers and writers of src/image/metadata. Metadata blocks come from arbitrary input files and are
 * written into the output, so each block target also inserts what it read into a JPEG, PNG, WebP and TIFF.
 */
import { isUpscaleError } from '../../../src/errors.js';
import { isApng, readApngInfo } from '../../../src/image/apng.js';
import { prepareBlocks, type MetadataBlocks, type MetadataInput } from '../../../src/image/metadata/blocks.js';
import { buildExif, normalizeExif, patchExif, readExifDensity } from '../../../src/image/metadata/exif.js';
import { normalizeIptc } from '../../../src/image/metadata/iptc.js';
import { injectJpegMetadata } from '../../../src/image/metadata/jpeg.js';
import { injectPngMetadata, readPngRawProfile } from '../../../src/image/metadata/png.js';
import { extractTiffExif, injectTiffMetadata } from '../../../src/image/metadata/tiff.js';
import { injectWebpMetadata } from '../../../src/image/metadata/webp.js';
import { compactXmp, isXmpPacket, patchXmp } from '../../../src/image/metadata/xmp.js';
import { PNG_SIGNATURE, readPngChunks } from '../../../src/image/png-chunks.js';
import type { FuzzInput } from '../mutate.js';
import { onlyUpscaleError, plainErrorStartingWith, type FuzzTarget } from '../target.js';
import { apngSeeds, containerSeeds, exifBlock, iptcBlocks, plainContainers, sampleBlocks, xmpPackets, type ContainerFormat } from './image-seeds.js';

const PATCH = { width: 64, height: 48, density: 300 } as const;

/** What the targets need besides their input: sharp's plain files and a realistic metadata set (made once). */
interface Shared {
  readonly plain: Record<ContainerFormat, Buffer>;
  readonly blocks: MetadataBlocks;
}
let shared: Promise<Shared> | undefined;
const prepare = (): Promise<Shared> => (shared ??= (async () => ({ plain: await plainContainers(), blocks: await sampleBlocks() }))());

/** What decode does with an EXIF block it found: normalise it, read the density, patch a copy. Says what it found. */
function readExif(raw: Uint8Array): string {
  const exif = normalizeExif(raw);
  readExifDensity(raw);
  if (exif === undefined) return 'no-exif';
  const density = readExifDensity(exif);
  patchExif(exif, PATCH);
  return density === undefined ? 'exif' : 'exif+dpi';
}

/** What encode does with metadata from an input file: validate and patch it, and write it into every format. */
async function writeEverywhere(metadata: MetadataInput): Promise<string> {
  const { plain } = await prepare();
  let kept = '';
  for (const grey of [false, true]) {
    const blocks = prepareBlocks(metadata, { width: 64, height: 48, grey, density: 300, synthesizeExifDensity: true });
    kept = Object.keys(blocks).sort().join('+');
    injectPngMetadata(plain.png, blocks, { density: 300 });
    injectJpegMetadata(plain.jpeg, blocks, { density: 300 });
    injectWebpMetadata(plain.webp, blocks);
    injectTiffMetadata(plain.tiff, blocks, { density: 300, fallbackDensity: 72 });
  }
  return kept;
}

const asSeeds = (buffers: readonly Uint8Array[]): FuzzInput[] => buffers.map((b) => [new Uint8Array(b)]);

export const png: FuzzTarget = {
  name: 'png',
  about: 'readPngChunks (src/image/png-chunks.ts), isApng and readApngInfo (src/image/apng.ts, the pure-JS part)',
  contract: 'UpscaleError (INPUT_CORRUPT, from readApngInfo) only; readPngChunks and isApng never throw',
  parts: ['binary'],
  seeds: async () => asSeeds([...(await apngSeeds()), ...(await containerSeeds('png'))]),
  run: ([bytes]) => {
    const { chunks, complete } = readPngChunks(bytes!);
    const apng = isApng(bytes!);
    if (apng) readApngInfo(bytes!, { file: 'fuzz.png' });
    return `${Math.min(chunks.length, 12)}:${complete}:${apng}`;
  },
  accepts: onlyUpscaleError,
};

export const pngMetadata: FuzzTarget = {
  name: 'png-metadata',
  about: 'readPngRawProfile (exif, xmp, iptc) and injectPngMetadata (src/image/metadata/png.ts)',
  contract: 'a plain Error "not a PNG: ..." from src/image/metadata (a file without the signature or IHDR first); nothing else',
  parts: ['binary'],
  seeds: async () => asSeeds(await containerSeeds('png')),
  run: async ([bytes]) => {
    const { blocks } = await prepare();
    // decode only asks for the raw profiles of a file it sniffed as PNG, i.e. with the signature.
    const found: string[] = [];
    if (bytes!.length >= 8 && Buffer.from(bytes!.subarray(0, 8)).equals(PNG_SIGNATURE)) {
      const exif = readPngRawProfile(bytes!, 'exif');
      found.push(exif === undefined ? '-' : readExif(exif));
      found.push(readPngRawProfile(bytes!, 'xmp') === undefined ? '-' : 'xmp');
      found.push(readPngRawProfile(bytes!, 'iptc') === undefined ? '-' : 'iptc');
    }
    injectPngMetadata(bytes!, blocks, { density: 300 });
    return found.join('+');
  },
  accepts: (error) => plainErrorStartingWith(error, 'image/metadata/', 'not a PNG'),
};

/** The payloads of the JPEG segments holding EXIF and IPTC, as libvips hands them over. */
function jpegMetadataSegments(jpeg: Uint8Array): { exif: Uint8Array[]; iptc: Uint8Array[] } {
  const found = { exif: [] as Uint8Array[], iptc: [] as Uint8Array[] };
  const bytes = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  for (let offset = 2; offset + 4 <= bytes.length; ) {
    if (bytes[offset] !== 0xff || bytes[offset + 1] === 0xda) break;
    const end = offset + 2 + bytes.readUInt16BE(offset + 2);
    const payload = bytes.subarray(offset + 4, Math.min(end, bytes.length));
    if (bytes[offset + 1] === 0xe1 && payload.toString('latin1', 0, 6) === 'Exif\0\0') found.exif.push(payload);
    if (bytes[offset + 1] === 0xed) found.iptc.push(payload);
    offset = Math.max(end, offset + 2);
  }
  return found;
}

export const jpeg: FuzzTarget = {
  name: 'jpeg',
  about: 'injectJpegMetadata and its segment reader (src/image/metadata/jpeg.ts); the EXIF and IPTC segments found go through normalizeExif/readExifDensity/patchExif and normalizeIptc',
  contract: 'a plain Error "not a JPEG: ..." from src/image/metadata; nothing else',
  parts: ['binary'],
  seeds: async () => asSeeds(await containerSeeds('jpeg')),
  run: async ([bytes]) => {
    const { blocks } = await prepare();
    const { exif, iptc } = jpegMetadataSegments(bytes!);
    const found = [...exif.map(readExif), ...iptc.map((block) => (normalizeIptc(block) === undefined ? 'no-iptc' : 'iptc'))];
    injectJpegMetadata(bytes!, blocks, { density: 300 });
    return found.join('+');
  },
  accepts: (error) => plainErrorStartingWith(error, 'image/metadata/', 'not a JPEG'),
};

/** The first few chunk types of a RIFF file, for telling inputs apart. */
function riffChunkTypes(riff: Uint8Array): string[] {
  const bytes = Buffer.from(riff.buffer, riff.byteOffset, riff.byteLength);
  const types: string[] = [];
  for (let offset = 12; offset + 8 <= bytes.length && types.length < 8; offset += 8 + bytes.readUInt32LE(offset + 4) + (bytes.readUInt32LE(offset + 4) % 2)) {
    const type = bytes.toString('latin1', offset, offset + 4);
    types.push(/^(VP8 |VP8L|VP8X|ALPH|ANIM|ANMF|ICCP|EXIF|XMP )$/.test(type) ? type : '?');
  }
  return types;
}

export const webp: FuzzTarget = {
  name: 'webp',
  about: 'injectWebpMetadata and its RIFF chunk reader (src/image/metadata/webp.ts)',
  contract: 'a plain Error "not a WebP: ..." from src/image/metadata; nothing else',
  parts: ['binary'],
  seeds: async () => asSeeds(await containerSeeds('webp')),
  run: async ([bytes]) => {
    const { blocks } = await prepare();
    injectWebpMetadata(bytes!, blocks);
    injectWebpMetadata(bytes!, { exif: blocks.exif! });
    return riffChunkTypes(bytes!).join('+');
  },
  accepts: (error) => plainErrorStartingWith(error, 'image/metadata/', 'not a WebP'),
};

export const tiff: FuzzTarget = {
  name: 'tiff',
  about: 'extractTiffExif and injectTiffMetadata (src/image/metadata/tiff.ts, tiff-ifd.ts); the extracted EXIF is read back',
  contract: 'a plain Error "not a classic TIFF: ..." or "TIFF with metadata would exceed 4 GiB ..." from src/image/metadata; nothing else',
  parts: ['binary'],
  seeds: async () => asSeeds(await containerSeeds('tiff')),
  run: async ([bytes]) => {
    const { blocks } = await prepare();
    const exif = extractTiffExif(bytes!);
    injectTiffMetadata(bytes!, blocks, { density: 300, fallbackDensity: 72 });
    return exif === undefined ? 'none' : readExif(exif);
  },
  accepts: (error) => plainErrorStartingWith(error, 'image/metadata/', 'not a classic TIFF', 'TIFF with metadata would exceed'),
};

export const exif: FuzzTarget = {
  name: 'exif',
  about: 'normalizeExif, readExifDensity, patchExif (src/image/metadata/exif.ts, tiff-ifd.ts), then prepareBlocks and the four writers with that EXIF (TIFF copies its sub-IFDs)',
  contract: 'nothing: a malformed block is dropped or left unpatched, never thrown',
  parts: ['binary'],
  seeds: async () => {
    const prefixed = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), exifBlock('II')]);
    return asSeeds([exifBlock('II'), exifBlock('MM'), prefixed, buildExif({ density: 300 }), buildExif({ density: 72.5 })]);
  },
  run: async ([bytes]) => {
    return `${readExif(bytes!)}:${await writeEverywhere({ exif: Buffer.from(bytes!) })}`;
  },
  accepts: () => false,
};

export const iptc: FuzzTarget = {
  name: 'iptc',
  about: 'normalizeIptc and its Photoshop IRB reader (src/image/metadata/iptc.ts), then prepareBlocks and the four writers',
  contract: 'nothing: data without IPTC gives undefined, never an exception',
  parts: ['binary'],
  seeds: async () => asSeeds(iptcBlocks()),
  run: async ([bytes]) => {
    const iim = normalizeIptc(bytes!);
    return `${iim === undefined ? 'none' : 'iim'}:${await writeEverywhere({ iptc: Buffer.from(bytes!) })}`;
  },
  accepts: () => false,
};

export const xmp: FuzzTarget = {
  name: 'xmp',
  about: 'isXmpPacket, patchXmp, compactXmp (src/image/metadata/xmp.ts), then prepareBlocks and the four writers',
  contract: 'UpscaleError INVALID_OPTION from prepareBlocks for bytes that are not an XMP packet; nothing else',
  parts: ['text'],
  seeds: async () => asSeeds(xmpPackets()),
  run: async ([bytes]) => {
    const patched = patchXmp(bytes!, PATCH).equals(bytes!) ? 'unpatched' : 'patched';
    const compacted = compactXmp(bytes!).length < bytes!.length ? 'compacted' : '';
    return `${isXmpPacket(bytes!)}:${patched}:${compacted}:${await writeEverywhere({ xmp: Buffer.from(bytes!) })}`;
  },
  accepts: (error) => isUpscaleError(error) && error.code === 'INVALID_OPTION',
};

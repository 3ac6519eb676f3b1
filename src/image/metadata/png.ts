/**
 * PNG metadata chunks: writing iCCP, eXIf, iTXt XMP and IPTC into a PNG that sharp encoded, and reading the
 * "Raw profile type" text chunks that libvips does not interpret.
 *
 * Chunk choices follow what readers expect:
 * - ICC: iCCP (zlib-compressed, named). It replaces any sRGB/gAMA/cHRM chunk, which a reader would otherwise be
 *   free to prefer.
 * - EXIF: eXIf (PNG 1.2 extension, PNG 3rd edition), bare TIFF structure.
 * - XMP: uncompressed iTXt with keyword `XML:com.adobe.xmp`, as the XMP specification part 3 asks.
 * - IPTC: PNG has no standard place; we follow ImageMagick and ExifTool: a zTXt "Raw profile type iptc" whose text is
 *   `\nIPTC profile\n<length>\n<hex>` of a Photoshop IRB holding the IIM (ExifTool writes and reads exactly this).
 * - Density: pHYs in pixels per metre (so DPI survive to about 0.01).
 * All are placed right after IHDR, so before PLTE and IDAT as the specification requires for iCCP and eXIf.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { PNG_SIGNATURE, pngChunk, readPngChunks, type PngChunk } from '../png-chunks.js';
import type { MetadataBlocks } from './blocks.js';
import { normalizeIptc, photoshopIrbForIptc } from './iptc.js';

/** Upper bound for inflating a text chunk: metadata, not a second decompression bomb. */
const MAX_TEXT_BYTES = 64 << 20;
/**
 * "Raw profile type" chunks tried per profile. Writers put one; each zTXt that fails to inflate holds ~10 KB until
 * the event loop turns (Node destroys the failed zlib handle in process.nextTick), so trying them all let a PNG of
 * many small corrupt chunks take memory in gigabytes (a 7 MB file: 1.8 GB).
 */
const MAX_PROFILE_CHUNKS = 4;


/**
 * A copy of `png` with the metadata blocks inserted after IHDR. Existing chunks of the same kind are removed, so
 * the result never holds two profiles or two EXIF blocks.
 */
export function injectPngMetadata(png: Uint8Array, blocks: MetadataBlocks, options: { readonly density?: number } = {}): Buffer {
  const chunks = pngChunksOrThrow(png);
  const [ihdr, ...rest] = chunks;
  if (ihdr?.type !== 'IHDR') throw new Error('not a PNG: IHDR is not the first chunk');
  const inserted: Buffer[] = [];
  if (blocks.icc !== undefined) inserted.push(iccpChunk(blocks.icc));
  if (blocks.exif !== undefined) inserted.push(pngChunk('eXIf', blocks.exif));
  if (blocks.xmp !== undefined) inserted.push(xmpChunk(blocks.xmp));
  if (blocks.iptc !== undefined) inserted.push(rawProfileChunk('iptc', 'IPTC', photoshopIrbForIptc(blocks.iptc)));
  if (options.density !== undefined) inserted.push(physChunk(options.density));

  const replaced = (chunk: PngChunk): boolean => {
    switch (chunk.type) {
      case 'iCCP':
      case 'sRGB':
      case 'gAMA':
      case 'cHRM':
        return blocks.icc !== undefined;
      case 'eXIf':
        return blocks.exif !== undefined;
      case 'pHYs':
        return options.density !== undefined;
      case 'iTXt':
      case 'tEXt':
      case 'zTXt': {
        const keyword = textKeyword(chunk.data);
        return (keyword === 'XML:com.adobe.xmp' && blocks.xmp !== undefined) || (keyword === 'Raw profile type iptc' && blocks.iptc !== undefined);
      }
      default:
        return false;
    }
  };
  const source = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const kept = rest.filter((chunk) => !replaced(chunk)).map((chunk) => source.subarray(chunk.start, chunk.end));
  return Buffer.concat([PNG_SIGNATURE, source.subarray(ihdr.start, ihdr.end), ...inserted, ...kept]);
}

/**
 * The payload of a "Raw profile type <name>" text chunk (ImageMagick's convention), decoded from hex; for `iptc`
 * normalised to bare IIM. `undefined` when absent or malformed.
 */
export function readPngRawProfile(png: Uint8Array, name: 'iptc' | 'exif' | 'xmp'): Buffer | undefined {
  const keyword = `Raw profile type ${name}`;
  let tried = 0;
  for (const chunk of pngChunksOrThrow(png)) {
    if (chunk.type !== 'tEXt' && chunk.type !== 'zTXt' && chunk.type !== 'iTXt') continue;
    if (textKeyword(chunk.data) !== keyword) continue;
    if (++tried > MAX_PROFILE_CHUNKS) break;
    const text = readText(chunk);
    const profile = text === undefined ? undefined : parseRawProfile(text);
    if (profile === undefined) continue;
    return name === 'iptc' ? normalizeIptc(profile) : profile;
  }
  return undefined;
}

function iccpChunk(icc: Uint8Array): Buffer {
  // Profile name (Latin-1, 1..79 bytes), NUL, compression method 0 (zlib).
  const header = Buffer.from('ICC profile\0\0', 'latin1');
  return pngChunk('iCCP', Buffer.concat([header, deflateSync(icc, { level: 9 })]));
}

function physChunk(density: number): Buffer {
  // Pixels per metre in both directions, unit 1 (metre).
  const perMetre = Math.round(density / 0.0254);
  const data = Buffer.alloc(9);
  data.writeUInt32BE(perMetre, 0);
  data.writeUInt32BE(perMetre, 4);
  data[8] = 1;
  return pngChunk('pHYs', data);
}

function xmpChunk(xmp: Uint8Array): Buffer {
  // keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translated keyword NUL, UTF-8 text.
  const header = Buffer.from('XML:com.adobe.xmp\0\0\0\0\0', 'latin1');
  return pngChunk('iTXt', Buffer.concat([header, xmp]));
}

function rawProfileChunk(name: string, title: string, payload: Uint8Array): Buffer {
  // Same layout as ExifTool's WriteProfile(): header line, right-aligned length, hex in lines of 36 bytes.
  const hex = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('hex');
  const lines: string[] = [];
  for (let at = 0; at < hex.length; at += 72) lines.push(hex.slice(at, at + 72));
  const text = `\n${title} profile\n${String(payload.length).padStart(8)}\n${lines.join('\n')}\n`;
  const header = Buffer.from(`Raw profile type ${name}\0\0`, 'latin1');
  return pngChunk('zTXt', Buffer.concat([header, deflateSync(Buffer.from(text, 'latin1'), { level: 9 })]));
}

function textKeyword(data: Buffer): string {
  const end = data.indexOf(0);
  return data.toString('latin1', 0, end < 0 ? Math.min(data.length, 80) : end);
}

function readText(chunk: PngChunk): string | undefined {
  const { data } = chunk;
  const keywordEnd = data.indexOf(0);
  if (keywordEnd < 0) return undefined;
  try {
    if (chunk.type === 'tEXt') return data.toString('latin1', keywordEnd + 1);
    if (chunk.type === 'zTXt') return inflateSync(data.subarray(keywordEnd + 2), { maxOutputLength: MAX_TEXT_BYTES }).toString('latin1');
    // iTXt: flag, method, language NUL, translated keyword NUL, text.
    const compressed = data[keywordEnd + 1] === 1;
    const languageEnd = data.indexOf(0, keywordEnd + 3);
    const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
    if (translatedEnd < 0) return undefined;
    const body = data.subarray(translatedEnd + 1);
    return (compressed ? inflateSync(body, { maxOutputLength: MAX_TEXT_BYTES }) : body).toString('utf8');
  } catch {
    return undefined;
  }
}

function parseRawProfile(text: string): Buffer | undefined {
  const match = /^\n[^\n]*\n\s*(\d+)\n([\s\S]*)$/.exec(text);
  if (match === null) return undefined;
  const hex = (match[2] ?? '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}

function pngChunksOrThrow(png: Uint8Array): PngChunk[] {
  if (png.length < 8 || !Buffer.from(png.buffer, png.byteOffset, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG: bad signature');
  return readPngChunks(png).chunks;
}

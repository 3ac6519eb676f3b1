/**
 * JPEG metadata segments: inserting EXIF, XMP, ICC and IPTC into a JPEG that sharp encoded.
 *
 * Segments, in the order written, right after the leading APP0 segments (libjpeg's JFIF, when the encoder wrote one):
 * - APP1 `Exif\0\0` + EXIF (one segment: at most 65527 bytes of EXIF; larger blocks are dropped, there is no
 *   standard way to split them).
 * - APP1 `http://ns.adobe.com/xap/1.0/\0` + XMP (at most 65502 bytes, after removing the packet's padding if need
 *   be; larger packets are dropped: Extended XMP is not written).
 * - APP2 `ICC_PROFILE\0` + sequence number + count + up to 65519 bytes, as many as needed (ICC spec, annex B).
 * - APP13 `Photoshop 3.0\0` + IRB resource 0x0404 holding the IPTC-IIM.
 * The density goes into the JFIF APP0 (whole DPI; EXIF, when present, holds the exact value). sharp 0.35 writes no
 * JFIF segment, so when a density is given and there is none, a JFIF 1.01 APP0 is added right after SOI, where the
 * JFIF specification puts it.
 */
import { debuglog } from 'node:util';
import type { MetadataBlocks } from './blocks.js';
import { photoshopApp13Payload } from './iptc.js';
import { compactXmp } from './xmp.js';

const debug = debuglog('upscale');

const MAX_SEGMENT_PAYLOAD = 65533;
const EXIF_HEADER = Buffer.from('Exif\0\0', 'latin1');
const XMP_HEADER = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');
const ICC_HEADER = Buffer.from('ICC_PROFILE\0', 'latin1');
const PHOTOSHOP_HEADER = Buffer.from('Photoshop 3.0\0', 'latin1');
/** 65535 - 2 (length field) - 12 (ICC_PROFILE\0) - 2 (sequence, count). */
const ICC_CHUNK_BYTES = 65519;

/** A JFIF 1.01 APP0 segment without a thumbnail; its density is filled in by jfifWithDensity. */
const JFIF_APP0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]);

const SOI = 0xd8;
const SOS = 0xda;
const EOI = 0xd9;
const APP0 = 0xe0;
const APP1 = 0xe1;
const APP2 = 0xe2;
const APP13 = 0xed;

interface JpegSegment {
  readonly marker: number;
  /** Payload after the 2-byte length (a view into the JPEG). */
  readonly payload: Buffer;
  readonly start: number;
  readonly end: number;
}

/** The marker segments before the first SOS (where the entropy-coded data begins), and where that SOS starts. */
function readJpegSegments(jpeg: Uint8Array): { segments: JpegSegment[]; scanStart: number } {
  const bytes = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  if (bytes[0] !== 0xff || bytes[1] !== SOI) throw new Error('not a JPEG: no SOI marker');
  const segments: JpegSegment[] = [];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) throw new Error(`not a JPEG: expected a marker at byte ${offset}`);
    const marker = bytes[offset + 1] ?? 0;
    // 0xFF fill bytes may precede a marker.
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    if (marker === SOS || marker === EOI) return { segments, scanStart: offset };
    const length = bytes.readUInt16BE(offset + 2);
    const end = offset + 2 + length;
    if (length < 2 || end > bytes.length) throw new Error(`not a JPEG: segment at byte ${offset} runs past the end`);
    segments.push({ marker, payload: bytes.subarray(offset + 4, end), start: offset, end });
    offset = end;
  }
  throw new Error('not a JPEG: no image data');
}

/**
 * A copy of `jpeg` with the metadata segments inserted after the leading APP0 (JFIF) segments. Existing segments of
 * the same kind are removed first.
 */
export function injectJpegMetadata(jpeg: Uint8Array, blocks: MetadataBlocks, options: { readonly density?: number } = {}): Buffer {
  const source = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  const { segments, scanStart } = readJpegSegments(source);

  const inserted: Buffer[] = [];
  if (blocks.exif !== undefined) {
    if (EXIF_HEADER.length + blocks.exif.length <= MAX_SEGMENT_PAYLOAD) inserted.push(segment(APP1, EXIF_HEADER, blocks.exif));
    else debug('dropping EXIF from JPEG: %d bytes do not fit one APP1 segment', blocks.exif.length);
  }
  if (blocks.xmp !== undefined) {
    // Padding is only there for in-place editing; dropping it is what lets many large packets fit.
    const xmp = XMP_HEADER.length + blocks.xmp.length <= MAX_SEGMENT_PAYLOAD ? blocks.xmp : compactXmp(blocks.xmp);
    if (XMP_HEADER.length + xmp.length <= MAX_SEGMENT_PAYLOAD) inserted.push(segment(APP1, XMP_HEADER, xmp));
    else debug('dropping XMP from JPEG: %d bytes need Extended XMP, which is not written', xmp.length);
  }
  if (blocks.icc !== undefined) inserted.push(...iccSegments(blocks.icc));
  if (blocks.iptc !== undefined) {
    const payload = photoshopApp13Payload(blocks.iptc);
    if (payload.length <= MAX_SEGMENT_PAYLOAD) inserted.push(segment(APP13, payload));
    else debug('dropping IPTC from JPEG: %d bytes do not fit one APP13 segment', payload.length);
  }

  const replaced = ({ marker, payload }: JpegSegment): boolean =>
    (marker === APP1 && startsWith(payload, EXIF_HEADER) && blocks.exif !== undefined) ||
    (marker === APP1 && startsWith(payload, XMP_HEADER) && blocks.xmp !== undefined) ||
    (marker === APP2 && startsWith(payload, ICC_HEADER) && blocks.icc !== undefined) ||
    (marker === APP13 && startsWith(payload, PHOTOSHOP_HEADER) && blocks.iptc !== undefined);

  const leading = segments.findIndex((entry) => entry.marker !== APP0);
  const split = leading < 0 ? segments.length : leading;
  const piece = (entry: JpegSegment): Buffer => {
    const bytes = source.subarray(entry.start, entry.end);
    return options.density !== undefined && isJfif(entry) ? jfifWithDensity(bytes, options.density) : bytes;
  };
  const addedJfif = options.density !== undefined && !segments.some(isJfif) ? [jfifWithDensity(JFIF_APP0, options.density)] : [];
  return Buffer.concat([
    source.subarray(0, 2),
    ...addedJfif,
    ...segments.slice(0, split).map(piece),
    ...inserted,
    ...segments.slice(split).filter((entry) => !replaced(entry)).map(piece),
    source.subarray(scanStart),
  ]);
}

function isJfif({ marker, payload }: JpegSegment): boolean {
  return marker === APP0 && payload.length >= 12 && payload.toString('latin1', 0, 5) === 'JFIF\0';
}

/** A copy of a JFIF APP0 segment with its density set: units 1 (DPI), whole numbers as JFIF requires. */
function jfifWithDensity(segmentBytes: Buffer, density: number): Buffer {
  const copy = Buffer.from(segmentBytes);
  const value = Math.min(0xffff, Math.max(1, Math.round(density)));
  // After marker (2), length (2), "JFIF\0" (5) and version (2): units, Xdensity, Ydensity.
  copy[11] = 1;
  copy.writeUInt16BE(value, 12);
  copy.writeUInt16BE(value, 14);
  return copy;
}

function iccSegments(icc: Buffer): Buffer[] {
  const count = Math.ceil(icc.length / ICC_CHUNK_BYTES);
  if (count > 255) {
    debug('dropping ICC profile from JPEG: %d bytes need more than 255 APP2 segments', icc.length);
    return [];
  }
  const out: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const chunk = icc.subarray(index * ICC_CHUNK_BYTES, (index + 1) * ICC_CHUNK_BYTES);
    out.push(segment(APP2, ICC_HEADER, Buffer.from([index + 1, count]), chunk));
  }
  return out;
}

function segment(marker: number, ...parts: Uint8Array[]): Buffer {
  const length = 2 + parts.reduce((sum, part) => sum + part.length, 0);
  const header = Buffer.from([0xff, marker, length >> 8, length & 0xff]);
  return Buffer.concat([header, ...parts]);
}

function startsWith(payload: Buffer, prefix: Buffer): boolean {
  return payload.length >= prefix.length && payload.subarray(0, prefix.length).equals(prefix);
}

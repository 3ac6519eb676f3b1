/**
 * WebP metadata chunks: turning the simple (VP8/VP8L) or extended file that sharp encoded into an extended file
 * (VP8X) carrying ICCP, EXIF and XMP, per the WebP container specification:
 * `RIFF size WEBP`, `VP8X` (flags, canvas size), `ICCP`, [ANIM/ALPH], image data, `EXIF`, `XMP `.
 * WebP has no place for IPTC.
 */
import type { MetadataBlocks } from './blocks.js';

const FLAG_ICC = 0x20;
const FLAG_ALPHA = 0x10;
const FLAG_EXIF = 0x08;
const FLAG_XMP = 0x04;
const FLAG_ANIMATION = 0x02;

interface RiffChunk {
  readonly fourcc: string;
  readonly data: Buffer;
}

/** The chunks of a WebP file, in order. */
function readWebpChunks(webp: Uint8Array): RiffChunk[] {
  const bytes = Buffer.from(webp.buffer, webp.byteOffset, webp.byteLength);
  if (bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WEBP') {
    throw new Error('not a WebP: bad RIFF header');
  }
  const end = Math.min(bytes.length, 8 + bytes.readUInt32LE(4));
  const chunks: RiffChunk[] = [];
  let offset = 12;
  while (offset + 8 <= end) {
    const size = bytes.readUInt32LE(offset + 4);
    if (offset + 8 + size > end) throw new Error(`not a WebP: chunk at byte ${offset} runs past the end`);
    chunks.push({ fourcc: bytes.toString('latin1', offset, offset + 4), data: bytes.subarray(offset + 8, offset + 8 + size) });
    // Chunks are padded to an even size.
    offset += 8 + size + (size % 2);
  }
  return chunks;
}

/** A copy of `webp` as an extended file holding the given ICC, EXIF and XMP (existing ones are replaced). */
export function injectWebpMetadata(webp: Uint8Array, blocks: MetadataBlocks): Buffer {
  const chunks = readWebpChunks(webp);
  const { icc, exif, xmp } = blocks;
  if (icc === undefined && exif === undefined && xmp === undefined) return Buffer.from(webp);

  const existing = chunks.find((chunk) => chunk.fourcc === 'VP8X');
  const canvas = existing === undefined ? bitstreamSize(chunks) : vp8xCanvas(existing.data);
  let flags = existing?.data[0] ?? 0;
  if (hasAlpha(chunks)) flags |= FLAG_ALPHA;
  const keep = (chunk: RiffChunk): boolean =>
    chunk.fourcc !== 'VP8X' &&
    !(chunk.fourcc === 'ICCP' && icc !== undefined) &&
    !(chunk.fourcc === 'EXIF' && exif !== undefined) &&
    !(chunk.fourcc === 'XMP ' && xmp !== undefined);
  const body = chunks.filter(keep);
  const front = body.filter((chunk) => chunk.fourcc === 'ICCP');
  const middle = body.filter((chunk) => chunk.fourcc !== 'ICCP' && chunk.fourcc !== 'EXIF' && chunk.fourcc !== 'XMP ');
  const back = body.filter((chunk) => chunk.fourcc === 'EXIF' || chunk.fourcc === 'XMP ');
  if (icc !== undefined) front.unshift({ fourcc: 'ICCP', data: icc });
  if (exif !== undefined) back.unshift({ fourcc: 'EXIF', data: exif });
  if (xmp !== undefined) back.push({ fourcc: 'XMP ', data: xmp });
  const all = [...front, ...middle, ...back];

  if (all.some((chunk) => chunk.fourcc === 'ICCP')) flags |= FLAG_ICC;
  if (all.some((chunk) => chunk.fourcc === 'EXIF')) flags |= FLAG_EXIF;
  if (all.some((chunk) => chunk.fourcc === 'XMP ')) flags |= FLAG_XMP;
  if (all.some((chunk) => chunk.fourcc === 'ANIM')) flags |= FLAG_ANIMATION;

  const vp8x = Buffer.alloc(10);
  vp8x[0] = flags;
  vp8x.writeUIntLE(canvas.width - 1, 4, 3);
  vp8x.writeUIntLE(canvas.height - 1, 7, 3);
  const parts = [riffChunk('VP8X', vp8x), ...all.map((chunk) => riffChunk(chunk.fourcc, chunk.data))];
  const header = Buffer.alloc(12);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(4 + parts.reduce((sum, part) => sum + part.length, 0), 4);
  header.write('WEBP', 8, 'latin1');
  return Buffer.concat([header, ...parts]);
}

function riffChunk(fourcc: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + data.length + (data.length % 2));
  out.write(fourcc, 0, 'latin1');
  out.writeUInt32LE(data.length, 4);
  out.set(data, 8);
  return out;
}

function vp8xCanvas(data: Buffer): { width: number; height: number } {
  if (data.length < 10) throw new Error(`not a WebP: VP8X chunk of ${data.length} bytes, expected 10`);
  return { width: data.readUIntLE(4, 3) + 1, height: data.readUIntLE(7, 3) + 1 };
}

/** Canvas size of a simple file, from the VP8 frame header or the VP8L header. */
function bitstreamSize(chunks: readonly RiffChunk[]): { width: number; height: number } {
  const vp8 = chunks.find((chunk) => chunk.fourcc === 'VP8 ');
  if (vp8 !== undefined && vp8.data.length >= 10) {
    // 3-byte frame tag, start code 9D 01 2A, then 14-bit width and height (top 2 bits are scaling).
    const size = { width: vp8.data.readUInt16LE(6) & 0x3fff, height: vp8.data.readUInt16LE(8) & 0x3fff };
    if (size.width === 0 || size.height === 0) throw new Error(`not a WebP: VP8 frame of ${size.width}x${size.height} pixels`);
    return size;
  }
  const vp8l = chunks.find((chunk) => chunk.fourcc === 'VP8L');
  if (vp8l !== undefined && vp8l.data.length >= 5 && vp8l.data[0] === 0x2f) {
    // Signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha, 3 bits version (LSB first).
    const bits = vp8l.data.readUInt32LE(1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  throw new Error('not a WebP: no VP8 or VP8L image data');
}

function hasAlpha(chunks: readonly RiffChunk[]): boolean {
  if (chunks.some((chunk) => chunk.fourcc === 'ALPH')) return true;
  const vp8l = chunks.find((chunk) => chunk.fourcc === 'VP8L');
  return vp8l !== undefined && vp8l.data.length >= 5 && ((vp8l.data.readUInt32LE(1) >>> 28) & 1) === 1;
}

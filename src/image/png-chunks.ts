/** PNG chunk reading and writing, shared by the metadata writer and the APNG assembler. */

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngChunk {
  readonly type: string;
  /** The chunk's data (a view into the PNG). */
  readonly data: Buffer;
  /** Offsets of the whole chunk (length, type, data, CRC) in the PNG. */
  readonly start: number;
  readonly end: number;
}

/**
 * The chunks of a PNG, in order, up to IEND or the first chunk that runs past the end; `complete` says whether
 * IEND was reached (false for a truncated file, or one without the PNG signature, which has no chunks).
 */
export function readPngChunks(png: Uint8Array): { chunks: PngChunk[]; complete: boolean } {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const chunks: PngChunk[] = [];
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return { chunks, complete: false };
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > bytes.length) break;
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    chunks.push({ type, data: bytes.subarray(offset + 8, offset + 8 + length), start: offset, end });
    offset = end;
    if (type === 'IEND') return { chunks, complete: true };
  }
  return { chunks, complete: false };
}

/** Serialises one chunk with its length and CRC. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 as PNG defines it (ISO 3309); node:zlib's crc32 only exists from Node 20.15. */
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (CRC_TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Reading and writing TIFF image file directories (IFDs), the structure shared by EXIF blocks and TIFF files.
 *
 * Classic TIFF only (32-bit offsets): EXIF is always classic, and sharp writes classic TIFF unless asked for BigTIFF.
 * Every read is bounds-checked; a malformed structure yields `undefined`, never an exception or an out-of-range read.
 */

export type ByteOrder = 'II' | 'MM';

/** Field types, TIFF 6.0 section 2 plus IFD (13) from the EXIF/TIFF-EP extensions. */
export const TiffType = {
  BYTE: 1,
  ASCII: 2,
  SHORT: 3,
  LONG: 4,
  RATIONAL: 5,
  SBYTE: 6,
  UNDEFINED: 7,
  SSHORT: 8,
  SLONG: 9,
  SRATIONAL: 10,
  FLOAT: 11,
  DOUBLE: 12,
  IFD: 13,
} as const;

/** Bytes per value of each type, and the size of the units that byte swapping works on. */
const TYPE_SIZE: Readonly<Record<number, { size: number; unit: number }>> = {
  1: { size: 1, unit: 1 },
  2: { size: 1, unit: 1 },
  3: { size: 2, unit: 2 },
  4: { size: 4, unit: 4 },
  5: { size: 8, unit: 4 },
  6: { size: 1, unit: 1 },
  7: { size: 1, unit: 1 },
  8: { size: 2, unit: 2 },
  9: { size: 4, unit: 4 },
  10: { size: 8, unit: 4 },
  11: { size: 4, unit: 4 },
  12: { size: 8, unit: 8 },
  13: { size: 4, unit: 4 },
};

export interface TiffHeader {
  readonly order: ByteOrder;
  /** Absolute offset of the first IFD. */
  readonly ifd0: number;
}

/** One directory entry, located in the buffer it was read from. */
export interface IfdEntry {
  readonly tag: number;
  readonly type: number;
  readonly count: number;
  /** Absolute offset of the value bytes: inside the entry when they fit in 4 bytes, elsewhere otherwise. */
  readonly valueOffset: number;
  readonly byteLength: number;
}

export interface Ifd {
  readonly offset: number;
  readonly entries: readonly IfdEntry[];
  /** Offset of the next IFD in the chain, 0 at the end. */
  readonly next: number;
  /** Absolute offset of the 4-byte next-IFD pointer, so that it can be patched. */
  readonly nextPointerOffset: number;
}

/** An entry to write: `data` is already in the byte order of the file being written. */
export interface OutEntry {
  readonly tag: number;
  readonly type: number;
  readonly count: number;
  readonly data: Uint8Array;
}

export function readTiffHeader(buffer: Uint8Array): TiffHeader | undefined {
  if (buffer.length < 8) return undefined;
  const mark = String.fromCharCode(buffer[0] ?? 0, buffer[1] ?? 0);
  if (mark !== 'II' && mark !== 'MM') return undefined;
  const order: ByteOrder = mark;
  if (readUint16(buffer, 2, order) !== 42) return undefined;
  const ifd0 = readUint32(buffer, 4, order);
  if (ifd0 < 8 || ifd0 + 2 > buffer.length) return undefined;
  return { order, ifd0 };
}

/** Reads the IFD at `offset`; entries of unknown type or with values outside the buffer are left out. */
export function readIfd(buffer: Uint8Array, offset: number, order: ByteOrder): Ifd | undefined {
  if (offset < 8 || offset + 2 > buffer.length) return undefined;
  const count = readUint16(buffer, offset, order);
  const end = offset + 2 + count * 12;
  if (end + 4 > buffer.length) return undefined;
  const entries: IfdEntry[] = [];
  for (let index = 0; index < count; index++) {
    const at = offset + 2 + index * 12;
    const tag = readUint16(buffer, at, order);
    const type = readUint16(buffer, at + 2, order);
    const valueCount = readUint32(buffer, at + 4, order);
    const typeSize = TYPE_SIZE[type];
    if (typeSize === undefined) continue;
    const byteLength = typeSize.size * valueCount;
    const valueOffset = byteLength <= 4 ? at + 8 : readUint32(buffer, at + 8, order);
    if (valueOffset + byteLength > buffer.length) continue;
    entries.push({ tag, type, count: valueCount, valueOffset, byteLength });
  }
  return { offset, entries, next: readUint32(buffer, end, order), nextPointerOffset: end };
}

export function findEntry(ifd: Ifd, tag: number): IfdEntry | undefined {
  return ifd.entries.find((entry) => entry.tag === tag);
}

/** The entry's value bytes, as a view into `buffer` (source byte order). */
export function entryBytes(buffer: Uint8Array, entry: IfdEntry): Uint8Array {
  return buffer.subarray(entry.valueOffset, entry.valueOffset + entry.byteLength);
}

/** A copy of a value's bytes converted from one byte order to another, unit by unit as its type demands. */
export function convertByteOrder(bytes: Uint8Array, type: number, from: ByteOrder, to: ByteOrder): Uint8Array {
  const copy = Uint8Array.from(bytes);
  const unit = TYPE_SIZE[type]?.unit ?? 1;
  if (from === to || unit === 1) return copy;
  for (let start = 0; start + unit <= copy.length; start += unit) copy.subarray(start, start + unit).reverse();
  return copy;
}

/**
 * Serialises one IFD placed at absolute offset `base` (which must be even): the directory, sorted by tag as TIFF
 * requires, followed by the values that do not fit in an entry, each starting on a word boundary.
 */
export function serializeIfd(entries: readonly OutEntry[], base: number, next: number, order: ByteOrder): Uint8Array {
  const sorted = [...entries].sort((a, b) => a.tag - b.tag);
  const directorySize = 2 + sorted.length * 12 + 4;
  let size = directorySize;
  for (const entry of sorted) if (entry.data.length > 4) size += entry.data.length + (entry.data.length % 2);
  const out = new Uint8Array(size);
  writeUint16(out, 0, sorted.length, order);
  let dataAt = directorySize;
  sorted.forEach((entry, index) => {
    const at = 2 + index * 12;
    writeUint16(out, at, entry.tag, order);
    writeUint16(out, at + 2, entry.type, order);
    writeUint32(out, at + 4, entry.count, order);
    if (entry.data.length <= 4) {
      out.set(entry.data, at + 8);
    } else {
      writeUint32(out, at + 8, base + dataAt, order);
      out.set(entry.data, dataAt);
      dataAt += entry.data.length + (entry.data.length % 2);
    }
  });
  writeUint32(out, directorySize - 4, next, order);
  return out;
}

export function readUint16(buffer: Uint8Array, offset: number, order: ByteOrder): number {
  const a = buffer[offset] ?? 0;
  const b = buffer[offset + 1] ?? 0;
  return order === 'II' ? a | (b << 8) : (a << 8) | b;
}

export function readUint32(buffer: Uint8Array, offset: number, order: ByteOrder): number {
  const a = buffer[offset] ?? 0;
  const b = buffer[offset + 1] ?? 0;
  const c = buffer[offset + 2] ?? 0;
  const d = buffer[offset + 3] ?? 0;
  return (order === 'II' ? (d << 24) | (c << 16) | (b << 8) | a : (a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

export function writeUint16(buffer: Uint8Array, offset: number, value: number, order: ByteOrder): void {
  const high = (value >>> 8) & 0xff;
  const low = value & 0xff;
  buffer[offset] = order === 'II' ? low : high;
  buffer[offset + 1] = order === 'II' ? high : low;
}

export function writeUint32(buffer: Uint8Array, offset: number, value: number, order: ByteOrder): void {
  const bytes = [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  if (order === 'II') bytes.reverse();
  buffer.set(bytes, offset);
}

/** Encodes unsigned values of a type (SHORT, LONG or RATIONAL pairs) in a byte order. */
export function encodeValues(
  type: typeof TiffType.SHORT | typeof TiffType.LONG | typeof TiffType.RATIONAL,
  values: readonly number[],
  order: ByteOrder,
): Uint8Array {
  const width = type === TiffType.SHORT ? 2 : 4;
  const out = new Uint8Array(values.length * width);
  values.forEach((value, index) => {
    if (width === 2) writeUint16(out, index * 2, value, order);
    else writeUint32(out, index * 4, value, order);
  });
  return out;
}

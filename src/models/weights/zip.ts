/**
 * Minimal ZIP reader for PyTorch checkpoints (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT): the
 * central directory, ZIP64 records (checkpoints over 4 GiB use them), STORED entries as views of the input and
 * DEFLATE entries inflated with a size cap (torch.save never compresses, but re-zipped checkpoints do). Every offset
 * and length is checked against the input before use.
 */
import { inflateRawSync } from 'node:zlib';
import { UpscaleError } from '../../errors.js';

/** One file of the archive, located and checked; {@link ZipEntry.data} gives its bytes. */
export interface ZipEntry {
  readonly name: string;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** STORED entries: a view of the archive bytes (no copy). DEFLATE entries: inflated on each call. */
  data(): Uint8Array;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_COMMENT = 0xffff;
const STORED = 0;
const DEFLATE = 8;
/** DEFLATE cannot expand data more than about 1032 times; a larger declared size is a forgery. */
const MAX_DEFLATE_RATIO = 1032;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True when `bytes` starts like a ZIP archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * Lists the entries of a ZIP archive by name. Throws `MODEL_INVALID` naming `file` for truncated or malformed
 * archives, entries that point outside the file, encrypted entries and compression methods other than STORED and
 * DEFLATE.
 *
 * @example
 * const entries = readZip(bytes, 'model.pth');
 * const pickle = entries.get('model/data.pkl')?.data();
 */
export function readZip(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const invalid = (message: string): UpscaleError => new UpscaleError('MODEL_INVALID', `not a valid ZIP archive: ${message}`, { file });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number, what: string): number => {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} ${value} is out of range`);
    return Number(value);
  };

  const eocd = findEndOfCentralDirectory(view);
  if (eocd < 0) throw invalid(`no end of central directory record in ${bytes.length} bytes (truncated file?)`);
  let count = u16(eocd + 10);
  let directorySize = u32(eocd + 12);
  let directoryOffset = u32(eocd + 16);
  let directoryEnd = eocd;
  // ZIP64: the real values live in a record found through a locator just before the classic one.
  const locator = eocd - ZIP64_LOCATOR_SIZE;
  const hasLocator = locator >= 0 && u32(locator) === ZIP64_LOCATOR_SIGNATURE;
  if (!hasLocator && (directorySize === 0xffffffff || directoryOffset === 0xffffffff)) {
    throw invalid('ZIP64 end of central directory locator missing');
  }
  if (hasLocator) {
    const record = u64(locator + 8, 'ZIP64 end of central directory offset');
    if (record > locator - ZIP64_EOCD_SIZE || u32(record) !== ZIP64_EOCD_SIGNATURE) {
      throw invalid(`ZIP64 end of central directory record not found at byte ${record}`);
    }
    count = u64(record + 32, 'entry count');
    directorySize = u64(record + 40, 'central directory size');
    directoryOffset = u64(record + 48, 'central directory offset');
    directoryEnd = record;
  }
  if (directoryOffset + directorySize > directoryEnd) {
    throw invalid(`central directory (${directorySize} bytes at byte ${directoryOffset}) runs past its end record at byte ${directoryEnd} (truncated file?)`);
  }
  if (count * CENTRAL_SIZE > directorySize) throw invalid(`${count} entries cannot fit in a ${directorySize}-byte central directory`);

  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  const directoryLimit = directoryOffset + directorySize;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > directoryLimit || u32(at) !== CENTRAL_SIGNATURE) throw invalid(`central directory entry ${i} not found at byte ${at}`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let compressedSize = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let localOffset = u32(at + 42);
    const next = at + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > directoryLimit) throw invalid(`central directory entry ${i} runs past the directory`);
    const name = decodeName(bytes.subarray(at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength), i, invalid);

    // ZIP64 extended information: 8-byte values, present only for the fields saturated at 0xffffffff, in this order.
    let extra = at + CENTRAL_SIZE + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = u16(extra);
      const length = u16(extra + 2);
      const body = extra + 4;
      if (body + length > extraEnd) throw invalid(`entry ${quote(name)} has a malformed extra field`);
      if (id === 0x0001) {
        let field = body;
        const take = (what: string): number => {
          if (field + 8 > body + length) throw invalid(`entry ${quote(name)} lacks its ZIP64 ${what}`);
          const value = u64(field, `entry ${quote(name)} ${what}`);
          field += 8;
          return value;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (localOffset === 0xffffffff) localOffset = take('header offset');
      }
      extra = body + length;
    }

    if (flags & 0x1) throw invalid(`entry ${quote(name)} is encrypted`);
    if (method !== STORED && method !== DEFLATE) throw invalid(`entry ${quote(name)} uses compression method ${method} (only stored and deflated entries are supported)`);
    if (method === STORED && compressedSize !== size) throw invalid(`stored entry ${quote(name)} has size ${size} but ${compressedSize} stored bytes`);
    if (localOffset + LOCAL_SIZE > directoryOffset || u32(localOffset) !== LOCAL_SIGNATURE) {
      throw invalid(`entry ${quote(name)} points to byte ${localOffset}, where there is no local file header`);
    }
    // The local header repeats the name and has its own extra field (PyTorch pads it to align the data).
    const start = localOffset + LOCAL_SIZE + u16(localOffset + 26) + u16(localOffset + 28);
    if (start + compressedSize > directoryOffset) {
      throw invalid(`entry ${quote(name)} (${compressedSize} bytes at byte ${start}) runs past the end of the data (truncated file?)`);
    }
    if (entries.has(name)) throw invalid(`entry ${quote(name)} appears twice`);
    const stored = bytes.subarray(start, start + compressedSize);
    entries.set(name, { name, size, data: method === STORED ? () => stored : () => inflate(stored, size, name, invalid) });
    at = next;
  }
  return entries;
}

/** The last end-of-central-directory signature within the maximal comment distance of the end, or -1. */
function findEndOfCentralDirectory(view: DataView): number {
  const last = view.byteLength - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let at = last; at >= first; at--) {
    // The comment length must reach exactly to the end, which rules out a signature inside the comment.
    if (view.getUint32(at, true) === EOCD_SIGNATURE && at + EOCD_SIZE + view.getUint16(at + 20, true) === view.byteLength) return at;
  }
  return -1;
}

/** An entry name for a one-line message: quoted, escaped, shortened. */
function quote(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name).replace(/[\u007f-\u009f\u2028\u2029]/g, '?');
}

function decodeName(raw: Uint8Array, index: number, invalid: (message: string) => UpscaleError): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw invalid(`entry ${index} has a name that is not UTF-8`);
  }
}

function inflate(stored: Uint8Array, size: number, name: string, invalid: (message: string) => UpscaleError): Uint8Array {
  if (size > stored.length * MAX_DEFLATE_RATIO + 1024) throw invalid(`deflated entry ${quote(name)} claims ${size} bytes from ${stored.length}`);
  let out: Buffer;
  try {
    // The cap stops a forged stream from inflating past its declared size.
    out = inflateRawSync(stored, { maxOutputLength: Math.max(size, 1) });
  } catch (error) {
    throw invalid(`entry ${quote(name)} does not inflate (${error instanceof Error ? error.message : String(error)})`);
  }
  if (out.length !== size) throw invalid(`entry ${quote(name)} inflates to ${out.length} bytes, expected ${size}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

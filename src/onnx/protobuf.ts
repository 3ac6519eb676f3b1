/**
 * Minimal protobuf wire format (https://protobuf.dev/programming-guides/encoding/): just what ONNX needs.
 * Writing and reading are schema-less; the ONNX field numbers live in builder.ts and reader.ts.
 */

/** Wire types; 3 and 4 (groups) are deprecated and never appear in ONNX, so the reader rejects them. */
export const WireType = { VARINT: 0, FIXED64: 1, LEN: 2, FIXED32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const TWO_32 = 2 ** 32;

/** Payloads at least this long are kept by reference instead of copied (weights can be hundreds of MB). */
const BY_REFERENCE = 256;

/**
 * Appends fields to a message. Nested messages are written into their own writer and appended with
 * {@link ProtoWriter.message}, which shares their chunks, so large payloads are copied once, by {@link ProtoWriter.finish}.
 *
 * @example
 * const w = new ProtoWriter();
 * w.int64(1, 8).string(2, 'upscale');
 * const bytes = w.finish();
 */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private chunksLength = 0;
  private buf = new Uint8Array(256);
  private pos = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.chunksLength + this.pos;
  }

  /** Non-negative or negative integer as a varint (negative numbers take 10 bytes, two's complement, like int64). */
  int64(field: number, value: number | bigint): this {
    this.tag(field, WireType.VARINT);
    this.varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.int64(field, value ? 1 : 0);
  }

  float(field: number, value: number): this {
    this.tag(field, WireType.FIXED32);
    this.reserve(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, value, true);
    this.pos += 4;
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WireType.FIXED64);
    this.reserve(8);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  /** Length-delimited bytes. Large arrays are kept by reference: do not modify them before {@link finish}. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LEN);
    this.varint(value.length);
    this.raw(value);
    return this;
  }

  /** Embeds a finished-or-not nested writer as a length-delimited field; `sub` must not be written to afterwards. */
  message(field: number, sub: ProtoWriter): this {
    this.tag(field, WireType.LEN);
    this.varint(sub.length);
    sub.flush();
    for (const chunk of sub.chunks) this.raw(chunk);
    return this;
  }

  /** Packed repeated int64 (the proto3 default, and what onnx.helper writes for dims and ints). */
  packedInt64(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter();
    for (let i = 0; i < values.length; i++) inner.varint(values[i] as number | bigint);
    return this.message(field, inner);
  }

  /** Packed repeated float. */
  packedFloat(field: number, values: ArrayLike<number>): this {
    return this.bytes(field, float32Bytes(Float32Array.from(values)));
  }

  /** The encoded message, in one contiguous array. */
  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0] as Uint8Array;
    const out = new Uint8Array(this.chunksLength);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private tag(field: number, wireType: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new RangeError(`Expected a protobuf field number from 1 to 536870911, got ${field}`);
    }
    this.varint(field * 8 + wireType);
  }

  private varint(value: number | bigint): void {
    this.reserve(10);
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
      while (value >= 0x80) {
        this.buf[this.pos++] = (value % 0x80) | 0x80;
        value = Math.floor(value / 0x80);
      }
      this.buf[this.pos++] = value;
      return;
    }
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`Expected a safe integer for a varint, got ${value}`);
    }
    if (typeof value === 'bigint' && (value < -(2n ** 63n) || value >= 2n ** 64n)) {
      throw new RangeError(`Expected a 64-bit integer for a varint, got ${value}`);
    }
    // Negative numbers and bigints: encode the 64-bit two's complement.
    let big = BigInt.asUintN(64, BigInt(value));
    while (big >= 0x80n) {
      this.buf[this.pos++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    this.buf[this.pos++] = Number(big);
  }

  private raw(bytes: Uint8Array): void {
    if (bytes.length >= BY_REFERENCE) {
      this.flush();
      this.chunks.push(bytes);
      this.chunksLength += bytes.length;
      return;
    }
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    this.buf = new Uint8Array(Math.max(n, 4096));
  }

  /** Moves the pending scratch bytes to the chunk list; the scratch buffer is never reused after that. */
  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.chunksLength += this.pos;
    this.buf = this.buf.subarray(this.pos);
    this.pos = 0;
  }
}

/** Little-endian bytes of a Float32Array (a view when the host is little-endian, as ONNX raw_data requires). */
export function float32Bytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** Little-endian bytes of a BigInt64Array. */
export function int64Bytes(values: BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

/** One field as read: its number, wire type and, for the reader's error messages, its offset. */
export interface ProtoField {
  readonly field: number;
  readonly wireType: WireType;
  readonly offset: number;
}

/**
 * Reads fields from a message without a schema. Every read is bounds-checked: malformed input throws a
 * `RangeError` (truncated data, lengths past the end, over-long varints) or `TypeError` (bad wire type, bad UTF-8)
 * naming the byte offset; nothing is allocated from a length prefix, so hostile input cannot exhaust memory.
 *
 * @example
 * const r = new ProtoReader(bytes);
 * for (let f = r.next(); f; f = r.next()) {
 *   if (f.field === 1) { r.expect(f, WireType.VARINT, 'version'); version = r.uint(); }
 *   else r.skip(f);
 * }
 */
export class ProtoReader {
  private pos: number;
  private readonly end: number;

  /** @param base offset of `bytes[0]` in the outermost message, so errors report absolute offsets */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly base = 0,
  ) {
    this.pos = 0;
    this.end = bytes.length;
  }

  /** Offset of the next unread byte in the outermost message. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** The next field's tag, or `undefined` at the end of the message. */
  next(): ProtoField | undefined {
    if (this.pos >= this.end) return undefined;
    const offset = this.offset;
    const tag = this.uint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new TypeError(`invalid field number 0 at byte ${offset}`);
    if (wireType !== 0 && wireType !== 1 && wireType !== 2 && wireType !== 5) {
      throw new TypeError(`unsupported wire type ${wireType} for field ${field} at byte ${offset}`);
    }
    return { field, wireType, offset };
  }

  /** A varint as an unsigned number (exact up to 2^53). */
  uint(): number {
    const { lo, hi } = this.varint64();
    return hi * TWO_32 + lo;
  }

  /** A varint as a signed 64-bit number (int64 / int32 fields; exact within ±2^53). */
  int(): number {
    const { lo, hi } = this.varint64();
    if (hi < 0x80000000) return hi * TWO_32 + lo;
    return Number(BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo)));
  }

  /** A length-delimited payload, as a view into the input (no copy). */
  bytesView(): Uint8Array {
    const start = this.offset;
    const length = this.uint();
    if (length > this.end - this.pos) {
      throw new RangeError(
        `length ${length} at byte ${start} runs past the end of the data (${this.end - this.pos} bytes left)`,
      );
    }
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  /** A length-delimited UTF-8 string. */
  string(): string {
    const start = this.offset;
    const view = this.bytesView();
    try {
      return utf8Decoder.decode(view);
    } catch {
      throw new TypeError(`invalid UTF-8 in string at byte ${start}`);
    }
  }

  /** A nested message, as a reader whose offsets stay absolute. */
  message(): ProtoReader {
    const view = this.bytesView();
    return new ProtoReader(view, this.base + this.pos - view.length);
  }

  float(): number {
    this.need(4, 'fixed32');
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset).getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /**
   * A repeated varint field `f`, packed (wire type 2) or not (wire type 0): parsers must accept both.
   * Appends to `into` and returns it.
   */
  repeatedInt(f: ProtoField, what: string, into: number[] = []): number[] {
    if (f.wireType === WireType.VARINT) {
      into.push(this.int());
      return into;
    }
    this.expect(f, WireType.LEN, what);
    const inner = this.message();
    while (!inner.atEnd()) into.push(inner.int());
    return into;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /** Skips the value of a field this reader does not care about. */
  skip(f: ProtoField): void {
    switch (f.wireType) {
      case WireType.VARINT:
        this.varint64();
        return;
      case WireType.FIXED64:
        this.need(8, 'fixed64');
        this.pos += 8;
        return;
      case WireType.LEN:
        this.bytesView();
        return;
      case WireType.FIXED32:
        this.need(4, 'fixed32');
        this.pos += 4;
        return;
    }
  }

  /** Throws a TypeError unless field `f` has the wire type that `what` (a known field) must have. */
  expect(f: ProtoField, expected: WireType, what: string): void {
    if (f.wireType !== expected) {
      throw new TypeError(`${what} at byte ${f.offset} has wire type ${f.wireType}, expected ${expected}`);
    }
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) throw new RangeError(`truncated ${what} at byte ${this.offset}`);
  }

  /** Up to 10 bytes, split into two 32-bit halves so no bigint is needed on the common path. */
  private varint64(): { lo: number; hi: number } {
    const start = this.offset;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError(`truncated varint at byte ${start}`);
      const b = this.bytes[this.pos++] as number;
      const bits = b & 0x7f;
      if (i < 4) lo += bits * 2 ** (7 * i);
      else if (i === 4) {
        lo += (bits & 0x0f) * 2 ** 28;
        hi += bits >>> 4;
      } else hi += bits * 2 ** (7 * i - 32);
      if (b < 0x80) {
        if (i === 9 && b > 1) throw new RangeError(`varint over 64 bits at byte ${start}`);
        return { lo, hi: hi % TWO_32 };
      }
    }
    throw new RangeError(`varint longer than 10 bytes at byte ${start}`);
  }
}

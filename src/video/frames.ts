/**
 * Raw frames over pipes. Decoded frames arrive as packed rgb24 on ffmpeg's stdout; frames for the encoder leave as
 * a minimal Matroska stream, which is the one thing that lets raw pixels carry their exact presentation timestamps
 * (ffmpeg's rawvideo input has none): one cluster per frame, timestamps in microseconds.
 */
import type { Readable } from 'node:stream';
import type { Raster } from '../image/raster.js';

/** Reads fixed-size frames from a stream; `next()` resolves null at the end. */
export class FrameReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly stream: Readable,
    readonly frameBytes: number,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      // Hold at most a few frames: the decoder waits while inference runs.
      if (this.buffered >= frameBytes * 3) stream.pause();
      this.notify();
    });
    stream.once('end', () => {
      this.ended = true;
      this.notify();
    });
    stream.once('error', (error) => {
      this.failure = error;
      this.ended = true;
      this.notify();
    });
  }

  async next(): Promise<Buffer | null> {
    while (this.buffered < this.frameBytes) {
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return null;
      this.stream.resume();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
    const frame = this.take(this.frameBytes);
    if (this.buffered < this.frameBytes * 3) this.stream.resume();
    return frame;
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const frame = Buffer.from(joined.subarray(0, n));
    const rest = joined.subarray(n);
    this.chunks.length = 0;
    if (rest.length > 0) this.chunks.push(rest);
    this.buffered = rest.length;
    return frame;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export function rgbFrameToRaster(frame: Buffer, width: number, height: number): Raster {
  return { width, height, channels: 3, depth: 8, data: new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength) };
}

/** Packed BGR (the order of uncompressed RGB in Video for Windows, which Matroska uses) from an 8-bit RGB raster. */
export function rasterToBgr(raster: Raster): Buffer {
  if (raster.channels !== 3 || raster.depth !== 8) {
    throw new RangeError(`Expected an 8-bit RGB raster, got ${raster.channels} channels at ${raster.depth} bits`);
  }
  const src = raster.data;
  const out = Buffer.allocUnsafe(src.length);
  for (let i = 0; i < src.length; i += 3) {
    out[i] = src[i + 2]!;
    out[i + 1] = src[i + 1]!;
    out[i + 2] = src[i]!;
  }
  return out;
}

// EBML element IDs (Matroska specification).
const ID = {
  EBML: 0x1a45dfa3,
  EBMLVersion: 0x4286,
  EBMLReadVersion: 0x42f7,
  EBMLMaxIDLength: 0x42f2,
  EBMLMaxSizeLength: 0x42f3,
  DocType: 0x4282,
  DocTypeVersion: 0x4287,
  DocTypeReadVersion: 0x4285,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  MuxingApp: 0x4d80,
  WritingApp: 0x5741,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackUID: 0x73c5,
  TrackType: 0x83,
  FlagLacing: 0x9c,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
} as const;

function idBytes(id: number): Buffer {
  const bytes: number[] = [];
  for (let v = id; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}

/** EBML variable-size integer, always 8 bytes (simple, and any size fits). */
function sizeBytes(size: number): Buffer {
  const out = Buffer.alloc(8);
  out[0] = 0x01;
  let v = size;
  for (let i = 7; i >= 1; i--) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

function uintBytes(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  do {
    bytes.unshift(v % 256);
    v = Math.floor(v / 256);
  } while (v > 0);
  return Buffer.from(bytes);
}

function element(id: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([idBytes(id), sizeBytes(body.length), body]);
}

const uint = (id: number, value: number): Buffer => element(id, uintBytes(value));
const text = (id: number, value: string): Buffer => element(id, Buffer.from(value, 'ascii'));

/** Matroska timestamps are in units of TimestampScale nanoseconds: microseconds here. */
const TIMESTAMP_SCALE_NS = 1000;

/** The stream header: EBML header, a Segment of unknown size, Info and one uncompressed BGR24 video track. */
export function matroskaHeader(width: number, height: number): Buffer {
  const bitmapInfo = Buffer.alloc(40);
  bitmapInfo.writeUInt32LE(40, 0);
  bitmapInfo.writeInt32LE(width, 4);
  bitmapInfo.writeInt32LE(-height, 8); // negative: rows top to bottom
  bitmapInfo.writeUInt16LE(1, 12);
  bitmapInfo.writeUInt16LE(24, 14);
  bitmapInfo.writeUInt32LE(0, 16); // BI_RGB
  bitmapInfo.writeUInt32LE(width * height * 3, 20);
  const ebml = element(
    ID.EBML,
    uint(ID.EBMLVersion, 1),
    uint(ID.EBMLReadVersion, 1),
    uint(ID.EBMLMaxIDLength, 4),
    uint(ID.EBMLMaxSizeLength, 8),
    text(ID.DocType, 'matroska'),
    uint(ID.DocTypeVersion, 4),
    uint(ID.DocTypeReadVersion, 2),
  );
  const unknownSize = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const info = element(ID.Info, uint(ID.TimestampScale, TIMESTAMP_SCALE_NS), text(ID.MuxingApp, 'upscale'), text(ID.WritingApp, 'upscale'));
  const tracks = element(
    ID.Tracks,
    element(
      ID.TrackEntry,
      uint(ID.TrackNumber, 1),
      uint(ID.TrackUID, 1),
      uint(ID.TrackType, 1),
      uint(ID.FlagLacing, 0),
      text(ID.CodecID, 'V_MS/VFW/FOURCC'),
      element(ID.CodecPrivate, bitmapInfo),
      element(ID.Video, uint(ID.PixelWidth, width), uint(ID.PixelHeight, height)),
    ),
  );
  return Buffer.concat([ebml, idBytes(ID.Segment), unknownSize, info, tracks]);
}

/** One frame as its own cluster (so any timestamp fits): the cluster carries the time, the block the pixels. */
export function matroskaFrame(ptsUs: number, bgr: Buffer): Buffer[] {
  const blockHeader = Buffer.from([0x81, 0x00, 0x00, 0x80]); // track 1, relative time 0, keyframe
  const timestamp = uint(ID.Timestamp, ptsUs);
  const blockSize = blockHeader.length + bgr.length;
  const block = Buffer.concat([idBytes(ID.SimpleBlock), sizeBytes(blockSize)]);
  const clusterSize = timestamp.length + block.length + blockSize;
  return [Buffer.concat([idBytes(ID.Cluster), sizeBytes(clusterSize), timestamp, block, blockHeader]), bgr];
}

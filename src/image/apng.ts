/**
 * APNG (animated PNG): reading its timing from the chunks, decoding its frames with ffmpeg, and writing it.
 *
 * libvips reads an APNG as its first frame only and cannot write one. Decoding goes through ffmpeg (its `apng`
 * demuxer and decoder apply the frames' regions, blend and dispose operations, so every frame comes out whole), as
 * raw RGBA through a pipe (the file goes in by a private temporary copy: the demuxer seeks); the timing (per-frame delays, plays) is read from the `acTL` and `fcTL` chunks here.
 * Writing needs no ffmpeg: each whole frame is a PNG encoded by sharp (in ./animation.ts), whose image data become
 * the frame's `IDAT` (first frame) or `fdAT` chunks here, each with an `fcTL` holding its exact delay. ffmpeg's own
 * encoder would take a constant frame rate from raw input, losing per-frame delays.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpscaleError } from '../errors.js';
import { locateFfmpeg, passthroughArgs, runTool, type FfmpegTools } from '../video/ffmpeg.js';
import { PNG_SIGNATURE, pngChunk, readPngChunks } from './png-chunks.js';


/**
 * Whether PNG bytes are an APNG: an `acTL` chunk before the first `IDAT`. Looks at the chunk headers only.
 */
export function isApng(png: Uint8Array): boolean {
  const bytes = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return false;
  for (let offset = 8; offset + 8 <= bytes.length; ) {
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    if (type === 'acTL') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
    offset += 12 + bytes.readUInt32BE(offset);
  }
  return false;
}

export interface ApngInfo {
  readonly width: number;
  readonly height: number;
  /** Frames shown (the default image counts only when it is the first frame, as ffmpeg decodes it). */
  readonly frames: number;
  /** Times to play, 0 for forever. */
  readonly plays: number;
  /** Per-frame delay in milliseconds. */
  readonly delays: number[];
}

/**
 * Reads an APNG's size and timing from its chunks.
 * @throws UpscaleError INPUT_CORRUPT when the chunks are truncated or inconsistent.
 */
export function readApngInfo(png: Uint8Array, where: { file?: string }): ApngInfo {
  const { chunks, complete } = readPngChunks(png);
  const corrupt = (detail: string): UpscaleError =>
    new UpscaleError('INPUT_CORRUPT', `corrupt or truncated APNG data, expected a complete image (${detail})`, where);
  if (!complete) throw corrupt('the file ends before the IEND chunk');
  const ihdr = chunks[0];
  const actl = chunks.find((chunk) => chunk.type === 'acTL');
  if (ihdr?.type !== 'IHDR' || ihdr.data.length < 13) throw corrupt('no IHDR chunk');
  if (actl === undefined || actl.data.length < 8) throw corrupt('no valid acTL chunk');
  const delays: number[] = [];
  for (const chunk of chunks) {
    if (chunk.type !== 'fcTL') continue;
    if (chunk.data.length < 26) throw corrupt('short fcTL chunk');
    const numerator = chunk.data.readUInt16BE(20);
    const denominator = chunk.data.readUInt16BE(22) || 100;
    delays.push(Math.round((numerator * 1000) / denominator));
  }
  const declared = actl.data.readUInt32BE(0);
  if (declared !== delays.length) throw corrupt(`acTL declares ${declared} frames, found ${delays.length} fcTL chunks`);
  return { width: ihdr.data.readUInt32BE(0), height: ihdr.data.readUInt32BE(4), frames: delays.length, plays: actl.data.readUInt32BE(4), delays };
}

/**
 * Decodes every frame of an APNG to whole 8-bit RGBA frames, stacked top to bottom, with ffmpeg.
 * @throws UpscaleError DEPENDENCY_MISSING when ffmpeg is not installed, INPUT_CORRUPT when it fails or returns
 *   another number of frames than the file declares.
 */
export async function decodeApngFrames(png: Buffer, info: ApngInfo, where: { file?: string }): Promise<Buffer> {
  // The apng demuxer seeks back after probing, which a pipe cannot do: the bytes go through a private temporary file.
  const dir = await mkdtemp(join(tmpdir(), 'upscale-apng-'));
  let result: { stdout: Buffer; stderr: string; code: number | null };
  try {
    const path = join(dir, 'input.png');
    await writeFile(path, png);
    const tools = await ffmpegFor(where);
    const args = ['-v', 'error', '-nostdin', '-f', 'apng', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'rgba', ...passthroughArgs(tools), 'pipe:1'];
    result = await runTool(tools.ffmpeg, args);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const { stdout, stderr, code } = result;
  const detail = stderr.trim().split('\n').pop()?.trim();
  const frameBytes = info.width * info.height * 4;
  if (code !== 0 || stdout.length !== frameBytes * info.frames) {
    const found = code === 0 ? `ffmpeg decoded ${stdout.length / frameBytes} of ${info.frames} frames` : `ffmpeg: ${detail || `exit status ${code}`}`;
    throw new UpscaleError('INPUT_CORRUPT', `corrupt or truncated APNG data, expected a complete image (${found})`, where);
  }
  return stdout;
}

/** ffmpeg, found as for video (variables, PATH, npm packages); its absence said in terms of the APNG at hand. */
async function ffmpegFor(where: { file?: string }): Promise<FfmpegTools> {
  try {
    return await locateFfmpeg();
  } catch (error) {
    if (error instanceof UpscaleError && error.code === 'DEPENDENCY_MISSING') {
      throw new UpscaleError('DEPENDENCY_MISSING', `animated PNG (APNG) needs ffmpeg to decode (${error.message})`, { ...where, cause: error });
    }
    throw error;
  }
}

/**
 * Assembles an APNG from whole frames, each given as a complete PNG of the same size and pixel format.
 * Every frame covers the canvas, is drawn with blend SOURCE and dispose NONE, and keeps its own delay.
 */
export class ApngAssembler {
  private readonly parts: Buffer[] = [];
  private header: Buffer | undefined;
  private sequence = 0;
  private count = 0;

  constructor(
    private readonly delays: readonly number[],
    private readonly plays: number,
  ) {}

  /** Adds the next frame, as a PNG; only its image data is kept. */
  add(png: Uint8Array): void {
    const { chunks, complete } = readPngChunks(png);
    const ihdr = chunks[0];
    if (!complete || ihdr?.type !== 'IHDR') throw new Error('APNG frame is not a complete PNG');
    if (this.header === undefined) this.header = ihdr.data;
    else if (!this.header.equals(ihdr.data)) throw new Error('APNG frames differ in size or pixel format');
    const index = this.count++;
    const delay = Math.min(65535, Math.max(0, Math.round(this.delays[index] ?? 100)));
    const fctl = Buffer.alloc(26);
    fctl.writeUInt32BE(this.sequence++, 0);
    fctl.writeUInt32BE(ihdr.data.readUInt32BE(0), 4);
    fctl.writeUInt32BE(ihdr.data.readUInt32BE(4), 8);
    // x and y offsets 0; delay in milliseconds; dispose NONE, blend SOURCE.
    fctl.writeUInt16BE(delay, 20);
    fctl.writeUInt16BE(1000, 22);
    this.parts.push(pngChunk('fcTL', fctl));
    for (const data of chunks.filter((c) => c.type === 'IDAT')) {
      if (index === 0) {
        this.parts.push(pngChunk('IDAT', data.data));
      } else {
        const sequence = Buffer.alloc(4);
        sequence.writeUInt32BE(this.sequence++, 0);
        this.parts.push(pngChunk('fdAT', Buffer.concat([sequence, data.data])));
      }
    }
  }

  /** The APNG file. */
  finish(): Buffer {
    if (this.header === undefined) throw new Error('APNG needs at least one frame');
    const actl = Buffer.alloc(8);
    actl.writeUInt32BE(this.count, 0);
    actl.writeUInt32BE(this.plays, 4);
    return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', this.header), pngChunk('acTL', actl), ...this.parts, pngChunk('IEND', Buffer.alloc(0))]);
  }
}

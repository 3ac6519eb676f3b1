/**
 * Animated images: GIF, animated WebP and APNG decoded to whole frames with their timing, and whole frames encoded
 * back to any of the three.
 *
 * libvips composites GIF and WebP frames as it reads them (each frame's disposal and blending applied), and ffmpeg
 * does the same for APNG, so every frame here is the full picture a viewer shows at that moment. Outputs store full
 * frames with their delays and loop count; libvips/cgif may re-optimise GIF frames (transparent unchanged pixels),
 * which shows the same pictures.
 */
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { UpscaleError } from '../errors.js';
import { ApngAssembler, decodeApngFrames, isApng, readApngInfo } from './apng.js';
import { decodeImage } from './decode.js';
import { formatName, sniffFormat, type AnimationFormat, type InputFormat } from './formats.js';
import { prepareBlocks, type ImageMetadata, type MetadataInput } from './metadata/blocks.js';
import { injectPngMetadata } from './metadata/png.js';
import { injectWebpMetadata } from './metadata/webp.js';
import type { Channels, Raster } from './raster.js';

export interface DecodedAnimation {
  /** The container the frames came from; `still` for a single-frame image of any other format. */
  readonly source: AnimationFormat | 'still';
  /** Size of one frame. */
  readonly width: number;
  readonly height: number;
  /** Whole frames, 8-bit (or the still's own depth), all with the same channels. */
  readonly frames: readonly Raster[];
  /** Per-frame delay in milliseconds. */
  readonly delays: readonly number[];
  /** Times to play, 0 for forever. */
  readonly loop: number;
  readonly metadata: ImageMetadata;
}

/** Delay given to frames whose file says nothing (libvips and browsers use 100 ms). */
const DEFAULT_DELAY = 100;

/**
 * How many frames an image holds, from its header only: pages of a GIF or WebP, `acTL` frames of an APNG, else 1.
 * Unreadable data also gives 1, so that the still-image decoder reports the problem.
 */
export async function countFrames(bytes: Buffer): Promise<number> {
  const format = sniffFormat(bytes);
  if (format === 'png') return isApng(bytes) ? Math.max(1, apngDeclaredFrames(bytes)) : 1;
  if (format !== 'gif' && format !== 'webp') return 1;
  try {
    return (await sharp(bytes, { limitInputPixels: false }).metadata()).pages ?? 1;
  } catch {
    return 1;
  }
}

function apngDeclaredFrames(bytes: Buffer): number {
  try {
    return readApngInfo(bytes, {}).frames;
  } catch {
    // A damaged APNG is reported by decodeAnimation; count it as animated so that it goes there.
    return 2;
  }
}

/**
 * Decodes every frame of a GIF, WebP or APNG (a still image of any format gives one frame).
 *
 * @param maxPixels applies to all frames together (width x height x frames), checked before decoding.
 * @throws UpscaleError INPUT_TOO_LARGE, INPUT_CORRUPT, INPUT_UNSUPPORTED (APNG without ffmpeg), naming the file.
 */
export async function decodeAnimation(bytes: Buffer, options: { maxPixels: number; file?: string }): Promise<DecodedAnimation> {
  const where = options.file === undefined ? {} : { file: options.file };
  const format = sniffFormat(bytes);
  if (format === 'png' && isApng(bytes)) return decodeApng(bytes, options.maxPixels, where);
  if (format !== 'gif' && format !== 'webp') {
    const still = await decodeImage(bytes, { maxPixels: options.maxPixels, ...where });
    return { source: 'still', width: still.raster.width, height: still.raster.height, frames: [still.raster], delays: [DEFAULT_DELAY], loop: 0, metadata: still.metadata };
  }
  const corrupt = (detail: string, cause?: unknown): UpscaleError =>
    new UpscaleError('INPUT_CORRUPT', `corrupt or truncated ${formatName(format)} data, expected a complete image (${detail})`, { ...where, cause });
  // libvips stops quietly at the end of a truncated GIF or WebP, with fewer frames: check the container first.
  const damage = format === 'gif' ? gifDamage(bytes) : webpDamage(bytes);
  if (damage !== undefined) throw corrupt(damage);
  const header = await sharp(bytes, { limitInputPixels: false })
    .metadata()
    .catch((error: unknown) => {
      throw corrupt(firstLine(error), error);
    });
  const pages = header.pages ?? 1;
  checkInputPixels(header.width, header.height, pages, options.maxPixels, where);
  const { data, info } = await sharp(bytes, { pages: -1, failOn: 'error', limitInputPixels: false })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => {
      throw corrupt(firstLine(error), error);
    });
  const height = info.pageHeight ?? header.height;
  if (info.height !== height * pages || info.width !== header.width) {
    throw corrupt(`decoded ${info.width}x${info.height}, expected ${pages} frames of ${header.width}x${height}`);
  }
  const delays = Array.from({ length: pages }, (_, index) => header.delay?.[index] ?? DEFAULT_DELAY);
  const metadata: ImageMetadata = {};
  if (header.xmp !== undefined) metadata.xmp = header.xmp;
  if (header.exif !== undefined) metadata.exif = header.exif;
  return { source: format, width: info.width, height, frames: splitFrames(data, info.width, height, pages), delays, loop: header.loop ?? 0, metadata };
}

async function decodeApng(bytes: Buffer, maxPixels: number, where: { file?: string }): Promise<DecodedAnimation> {
  const info = readApngInfo(bytes, where);
  checkInputPixels(info.width, info.height, info.frames, maxPixels, where);
  const data = await decodeApngFrames(bytes, info, where);
  const metadata: ImageMetadata = {};
  const header = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => undefined);
  if (header?.xmp !== undefined) metadata.xmp = header.xmp;
  return { source: 'apng', width: info.width, height: info.height, frames: splitFrames(data, info.width, info.height, info.frames), delays: info.delays, loop: info.plays, metadata };
}

function checkInputPixels(width: number, height: number, frames: number, maxPixels: number, where: { file?: string }): void {
  const pixels = width * height * frames;
  if (pixels > maxPixels) {
    throw new UpscaleError(
      'INPUT_TOO_LARGE',
      `animation is ${frames} frames of ${width}x${height} (${pixels} pixels in all), more than the limit of ${maxPixels} pixels`,
      where,
    );
  }
}

/** RGBA frames stacked top to bottom -> one raster per frame (views), RGB when no frame has any transparency. */
function splitFrames(data: Buffer, width: number, height: number, count: number): Raster[] {
  let opaque = true;
  for (let index = 3; index < data.length && opaque; index += 4) if (data[index] !== 255) opaque = false;
  const frameSamples = width * height * 4;
  const frames: Raster[] = [];
  for (let frame = 0; frame < count; frame++) {
    const rgba = new Uint8Array(data.buffer, data.byteOffset + frame * frameSamples, frameSamples);
    if (!opaque) {
      frames.push({ width, height, channels: 4, depth: 8, data: rgba });
      continue;
    }
    const rgb = new Uint8Array(width * height * 3);
    for (let pixel = 0; pixel < width * height; pixel++) {
      rgb[pixel * 3] = rgba[pixel * 4]!;
      rgb[pixel * 3 + 1] = rgba[pixel * 4 + 1]!;
      rgb[pixel * 3 + 2] = rgba[pixel * 4 + 2]!;
    }
    frames.push({ width, height, channels: 3, depth: 8, data: rgb });
  }
  return frames;
}

/** Why a GIF's block structure is incomplete, or undefined when it reaches its trailer. */
function gifDamage(bytes: Buffer): string | undefined {
  const truncated = 'the file ends before the GIF trailer';
  if (bytes.length < 13) return truncated;
  const colourTable = (packed: number): number => (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  let offset = 13 + colourTable(bytes[10]!);
  const skipSubBlocks = (): boolean => {
    for (;;) {
      if (offset >= bytes.length) return false;
      const size = bytes[offset]!;
      offset += 1 + size;
      if (size === 0) return true;
    }
  };
  while (offset < bytes.length) {
    const introducer = bytes[offset]!;
    if (introducer === 0x3b) return undefined;
    if (introducer === 0x21) {
      offset += 2;
      if (!skipSubBlocks()) return truncated;
    } else if (introducer === 0x2c) {
      if (offset + 10 > bytes.length) return truncated;
      offset += 10 + colourTable(bytes[offset + 9]!) + 1;
      if (!skipSubBlocks()) return truncated;
    } else {
      return `unexpected byte 0x${introducer.toString(16).padStart(2, '0')} at ${offset} between GIF blocks`;
    }
  }
  return truncated;
}

function webpDamage(bytes: Buffer): string | undefined {
  if (bytes.length < 12) return 'the file ends inside the RIFF header';
  const declared = 8 + bytes.readUInt32LE(4);
  return bytes.length < declared ? `the file has ${bytes.length} bytes, its RIFF header declares ${declared}` : undefined;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]?.trim() ?? '';
}

export interface AnimationEncodeOptions {
  readonly format: AnimationFormat;
  /** Size of one frame. */
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly channels: Channels;
  /** Per-frame delay in milliseconds (0..65535). */
  readonly delays: readonly number[];
  /** Times to play, 0 for forever. */
  readonly loop: number;
  /** WebP quality 1..100. @default 90 */
  readonly quality?: number | undefined;
  /** Lossless WebP. @default false */
  readonly lossless?: boolean | undefined;
  /** APNG zlib level 0..9. @default 6 */
  readonly compressionLevel?: number | undefined;
  /** XMP and EXIF for WebP, XMP for APNG; GIF has no place for them. */
  readonly metadata?: MetadataInput | undefined;
  readonly file?: string | undefined;
}

export interface AnimationEncoder {
  /** Adds the next frame (same size and channels as declared; 16-bit frames are rounded to 8 bits). */
  add(frame: Raster): Promise<void>;
  /** The encoded file, once every frame has been added. */
  finish(): Promise<Buffer>;
}

/** Largest frame side each animated output can hold. */
const MAX_FRAME_SIDE: Readonly<Record<AnimationFormat, number>> = { gif: 65535, webp: 16383, apng: 0x7fffffff };

/**
 * An encoder fed one whole frame at a time. GIF and WebP frames are copied into one stacked raster that libvips
 * encodes at the end (frames x width x height x channels bytes, held until then); APNG frames are compressed as
 * they come and only their compressed data is kept.
 *
 * @example
 * const encoder = createAnimationEncoder({ format: 'gif', width, height, frames: 2, channels: 4, delays: [100, 100], loop: 0 });
 * for (const frame of frames) await encoder.add(frame);
 * const gif = await encoder.finish();
 */
export function createAnimationEncoder(options: AnimationEncodeOptions): AnimationEncoder {
  const { format, width, height, frames, channels } = options;
  const where = options.file === undefined ? {} : { file: options.file };
  const limit = MAX_FRAME_SIDE[format];
  if (width > limit || height > limit) {
    throw new UpscaleError('OUTPUT_FAILED', `a ${width}x${height} frame is too large for ${formatLabel(format)} (at most ${limit}x${limit}); choose APNG or a smaller size`, where);
  }
  const delays = Array.from({ length: frames }, (_, index) => Math.min(65535, Math.max(0, Math.round(options.delays[index] ?? DEFAULT_DELAY))));
  const frameSamples = width * height * channels;
  let added = 0;
  const check = (frame: Raster): Raster => {
    if (frame.width !== width || frame.height !== height || frame.channels !== channels || added >= frames) {
      throw new RangeError(`Expected frame ${added + 1} of ${frames} to be ${width}x${height}x${channels}, got ${frame.width}x${frame.height}x${frame.channels}`);
    }
    return frame.depth === 8 ? frame : toEightBit(frame);
  };
  const failed = (error: unknown): UpscaleError =>
    error instanceof UpscaleError
      ? error
      : new UpscaleError('OUTPUT_FAILED', `could not encode ${frames} frames of ${width}x${height} as ${formatLabel(format)} (${firstLine(error)})`, { ...where, cause: error });
  const blocks = (): ReturnType<typeof prepareBlocks> => {
    const { xmp, exif } = options.metadata ?? {};
    const kept: MetadataInput = { ...(xmp !== undefined && { xmp }), ...(format === 'webp' && exif !== undefined && { exif }) };
    return prepareBlocks(kept, { width, height, grey: false });
  };

  if (format === 'apng') {
    const assembler = new ApngAssembler(delays, options.loop);
    return {
      async add(frame) {
        const pixels = check(frame);
        try {
          assembler.add(await rawPipeline(pixels).png({ compressionLevel: options.compressionLevel ?? 6 }).toBuffer());
        } catch (error) {
          throw failed(error);
        }
        added++;
      },
      async finish() {
        if (added !== frames) throw new RangeError(`Expected ${frames} frames, got ${added}`);
        return injectPngMetadata(assembler.finish(), blocks());
      },
    };
  }

  let stack: Uint8Array | undefined = new Uint8Array(frameSamples * frames);
  return {
    async add(frame) {
      if (stack === undefined) throw new Error('encoder already finished');
      stack.set(check(frame).data, added * frameSamples);
      added++;
    },
    async finish() {
      if (stack === undefined) throw new Error('encoder already finished');
      if (added !== frames) throw new RangeError(`Expected ${frames} frames, got ${added}`);
      const raw = { width, height: height * frames, channels, pageHeight: height };
      const pipeline = sharp(stack, { raw, limitInputPixels: false });
      stack = undefined;
      try {
        if (format === 'gif') return await pipeline.gif({ delay: delays, loop: options.loop }).toBuffer();
        const lossless = options.lossless ?? false;
        const webp = await pipeline.webp({ quality: options.quality ?? 90, lossless, exact: lossless, delay: delays, loop: options.loop }).toBuffer();
        return injectWebpMetadata(webp, blocks());
      } catch (error) {
        throw failed(error);
      }
    },
  };
}

function rawPipeline(raster: Raster): Sharp {
  return sharp(raster.data, { raw: { width: raster.width, height: raster.height, channels: raster.channels }, limitInputPixels: false });
}

function toEightBit(raster: Raster): Raster {
  const data = new Uint8Array(raster.data.length);
  for (let index = 0; index < data.length; index++) data[index] = Math.round(raster.data[index]! / 257);
  return { ...raster, depth: 8, data };
}

function formatLabel(format: AnimationFormat): string {
  return format === 'apng' ? 'APNG' : formatName(format satisfies InputFormat);
}

/**
 * Encoding rasters to image files with the source's metadata.
 *
 * sharp encodes the pixels; metadata is then inserted into the encoded bytes by the container writers in
 * ./metadata, because sharp cannot attach raw ICC/EXIF/IPTC buffers to an image built from raw pixels (its
 * withIccProfile converts pixels into the profile, withExif takes strings only). AVIF is the exception: its
 * metadata lives in ISO-BMFF item boxes, so we hand sharp a lossless PNG that already carries ICC, EXIF and XMP and
 * let libheif copy them (keepMetadata), which leaves pixels unchanged (tested).
 *
 * What each output keeps (other combinations are dropped, and logged with NODE_DEBUG=upscale):
 *
 * | metadata | PNG                 | JPEG             | WebP         | TIFF                | AVIF           |
 * |----------|---------------------|------------------|--------------|---------------------|----------------|
 * | ICC      | iCCP                | APP2 (chunked)   | ICCP         | tag 34675           | colr/prof      |
 * | EXIF     | eXIf                | APP1 (<= 64 KiB) | EXIF         | IFD0 + Exif/GPS IFD | Exif item      |
 * | XMP      | iTXt                | APP1 (<= 64 KiB) | XMP          | tag 700             | mime item      |
 * | IPTC     | zTXt raw profile    | APP13 8BIM 0x0404| - (no place) | tag 33723           | - (no place)   |
 * | density  | pHYs                | JFIF (+ EXIF)    | EXIF only    | X/YResolution       | EXIF only      |
 *
 * "EXIF only": when there is no EXIF to patch, a minimal EXIF holding the resolution is written, and an EXIF without
 * resolution tags gets them. JPEG: sharp writes no JFIF segment, so the JPEG writer adds one holding the density.
 * ICC profiles are only written where they match the output (GRAY for grey output, RGB otherwise).
 */
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { UpscaleError } from '../errors.js';
import { MAX_DIMENSION, OUTPUT_FORMATS, formatName, isOutputFormat } from './formats.js';
import type { OutputFormat } from './formats.js';
import { prepareBlocks } from './metadata/blocks.js';
import type { MetadataBlocks, MetadataInput } from './metadata/blocks.js';
import { injectJpegMetadata } from './metadata/jpeg.js';
import { injectPngMetadata } from './metadata/png.js';
import { injectTiffMetadata } from './metadata/tiff.js';
import { injectWebpMetadata } from './metadata/webp.js';
import type { Raster } from './raster.js';

export type TiffCompression = 'deflate' | 'lzw' | 'jpeg' | 'none';
const TIFF_COMPRESSIONS: readonly TiffCompression[] = ['deflate', 'lzw', 'jpeg', 'none'];

export interface EncodeOptions {
  format: OutputFormat;
  /**
   * 1..100, for JPEG, WebP, AVIF and JPEG-compressed TIFF; ignored by lossless encodings.
   * @default 90 (JPEG, WebP, TIFF), 70 (AVIF)
   */
  quality?: number;
  /** WebP and AVIF: encode losslessly. Not allowed for JPEG or JPEG-compressed TIFF. @default false */
  lossless?: boolean;
  /** PNG zlib level 0..9: 0 is fastest, 9 smallest; pixels are identical either way. @default 6 */
  compressionLevel?: number;
  /** TIFF compression; all but 'jpeg' are lossless. @default 'deflate' */
  tiffCompression?: TiffCompression;
  /** Metadata to embed (see the table above for where each item goes). */
  metadata?: MetadataInput;
  /** DPI to record. @default metadata.density */
  density?: number;
  /** Name for error messages. */
  file?: string;
}

const DEFAULT_QUALITY: Readonly<Record<OutputFormat, number>> = { png: 100, jpeg: 90, webp: 90, tiff: 90, avif: 70 };
/** TIFF requires a resolution; when none is known we record the conventional 72 DPI rather than sharp's 25.4. */
const DEFAULT_TIFF_DENSITY = 72;
/** PNG zlib level for the intermediate handed to the AVIF encoder: speed matters, size does not. */
const INTERMEDIATE_PNG_LEVEL = 1;

/**
 * Encodes a raster to an image file in memory, with metadata.
 *
 * 16-bit rasters stay 16-bit in PNG and TIFF (not JPEG-compressed); other outputs get 8 bits, rounded. Grey stays
 * one channel in PNG, JPEG and TIFF; WebP and AVIF store it as RGB. Alpha is kept where the format has it; JPEG
 * output of an image with alpha is flattened onto white. EXIF is patched: Orientation = 1 (pixels are upright),
 * resolution = `density`, PixelX/YDimension = the raster's size.
 *
 * @throws UpscaleError INVALID_OPTION for bad options, OUTPUT_FAILED when the format cannot hold the image.
 * @example
 * const png = await encodeImage(raster, { format: 'png', metadata: decoded.metadata, density: 300 });
 */
export async function encodeImage(raster: Raster, options: EncodeOptions): Promise<Buffer> {
  validateRaster(raster);
  const settings = normalizeEncodeOptions(options);
  const { format } = settings;
  const where = options.file === undefined ? {} : { file: options.file };
  const limit = MAX_DIMENSION[format];
  if (raster.width > limit || raster.height > limit) {
    throw new UpscaleError(
      'OUTPUT_FAILED',
      `a ${raster.width}x${raster.height} image is too large for ${formatName(format)} (at most ${limit}x${limit}); choose PNG or TIFF`,
      where,
    );
  }

  const pixels = preparePixels(raster, format, settings.tiffCompression);
  const grey = pixels.channels <= 2 && (format === 'png' || format === 'jpeg' || format === 'tiff');
  const blocks = prepareBlocks(options.metadata ?? {}, {
    width: pixels.width,
    height: pixels.height,
    grey,
    ...(settings.density === undefined ? {} : { density: settings.density }),
    synthesizeExifDensity: format === 'webp' || format === 'avif',
  });

  // Densities are written by the container writers, not sharp: its withDensity also adds an EXIF block of its own.
  const density = settings.density === undefined ? {} : { density: settings.density };
  try {
    switch (format) {
      case 'png': {
        const png = await pipelineFor(pixels).png({ compressionLevel: settings.compressionLevel }).toBuffer();
        return injectPngMetadata(png, blocks, density);
      }
      case 'jpeg': {
        // Optimised Huffman tables need the whole image's coefficients in memory (1.1 GB at 192 megapixels), so
        // large images use the standard tables: files about 10% larger, peak memory halved.
        const optimiseCoding = pixels.width * pixels.height <= OPTIMISE_CODING_MAX_PIXELS;
        const jpeg = await pipelineFor(pixels).jpeg({ quality: settings.quality, optimiseCoding }).toBuffer();
        return injectJpegMetadata(jpeg, blocks, density);
      }
      case 'webp': {
        const webp = await pipelineFor(pixels, 'srgb')
          // exact: keep RGB under fully transparent pixels, or lossless would not round-trip.
          .webp({ quality: settings.quality, lossless: settings.lossless, exact: settings.lossless })
          .toBuffer();
        return injectWebpMetadata(webp, blocks);
      }
      case 'tiff': {
        const tiff = await pipelineFor(pixels)
          .tiff({
            compression: settings.tiffCompression,
            quality: settings.quality,
            ...(settings.tiffCompression === 'deflate' || settings.tiffCompression === 'lzw' ? { predictor: 'horizontal' } : {}),
          })
          .toBuffer();
        return injectTiffMetadata(tiff, blocks, { ...density, fallbackDensity: DEFAULT_TIFF_DENSITY });
      }
      case 'avif':
        return await encodeAvif(pixels, blocks, settings);
    }
  } catch (error) {
    if (error instanceof UpscaleError) throw error;
    const detail = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new UpscaleError('OUTPUT_FAILED', `could not encode ${raster.width}x${raster.height} ${formatName(format)} (${detail})`, { ...where, cause: error });
  }
}

async function encodeAvif(pixels: Raster, blocks: MetadataBlocks, settings: NormalizedEncodeOptions): Promise<Buffer> {
  const avif = { quality: settings.quality, lossless: settings.lossless };
  // IPTC has no place in AVIF; the PNG carries the rest, with pHYs so that libvips' EXIF update keeps our density.
  const { icc, exif, xmp } = blocks;
  if (icc === undefined && exif === undefined && xmp === undefined) return pipelineFor(pixels, 'srgb').avif(avif).toBuffer();
  const png = await pipelineFor(pixels).png({ compressionLevel: INTERMEDIATE_PNG_LEVEL }).toBuffer();
  const carried: MetadataBlocks = { ...(icc && { icc }), ...(exif && { exif }), ...(xmp && { xmp }) };
  let pipeline = sharp(injectPngMetadata(png, carried, settings.density === undefined ? {} : { density: settings.density }), {
    limitInputPixels: false,
  });
  // Keep only what we carry: libvips would otherwise make up an EXIF block. Keeping the profile also stops sharp
  // from converting the pixels into sRGB.
  if (icc !== undefined) pipeline = pipeline.keepIccProfile();
  if (exif !== undefined) pipeline = pipeline.keepExif();
  if (xmp !== undefined) pipeline = pipeline.keepXmp();
  return pipeline.toColourspace('srgb').avif(avif).toBuffer();
}

/** Encode options after validation and defaults. */
export interface NormalizedEncodeOptions {
  readonly format: OutputFormat;
  readonly quality: number;
  readonly lossless: boolean;
  readonly compressionLevel: number;
  readonly tiffCompression: TiffCompression;
  readonly density: number | undefined;
}

/** Validates options once, with messages that say what was expected and what was given. */
export function normalizeEncodeOptions(options: EncodeOptions): NormalizedEncodeOptions {
  const { format } = options;
  if (!isOutputFormat(format)) {
    throw new UpscaleError('INVALID_OPTION', `Expected format to be one of ${OUTPUT_FORMATS.join(', ')}, got ${describe(format)}`);
  }
  const quality = options.quality ?? DEFAULT_QUALITY[format];
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new UpscaleError('INVALID_OPTION', `Expected quality to be an integer from 1 to 100, got ${describe(options.quality)}`);
  }
  const compressionLevel = options.compressionLevel ?? 6;
  if (!Number.isInteger(compressionLevel) || compressionLevel < 0 || compressionLevel > 9) {
    throw new UpscaleError('INVALID_OPTION', `Expected compressionLevel to be an integer from 0 to 9, got ${describe(options.compressionLevel)}`);
  }
  const lossless = options.lossless ?? false;
  if (typeof lossless !== 'boolean') throw new UpscaleError('INVALID_OPTION', `Expected lossless to be a boolean, got ${describe(lossless)}`);
  const tiffCompression = options.tiffCompression ?? 'deflate';
  if (!TIFF_COMPRESSIONS.includes(tiffCompression)) {
    throw new UpscaleError('INVALID_OPTION', `Expected tiffCompression to be one of ${TIFF_COMPRESSIONS.join(', ')}, got ${describe(tiffCompression)}`);
  }
  if (lossless && (format === 'jpeg' || (format === 'tiff' && tiffCompression === 'jpeg'))) {
    throw new UpscaleError('INVALID_OPTION', `Expected lossless only with png, webp, avif or non-JPEG tiff, got lossless with ${format === 'jpeg' ? 'jpeg' : 'JPEG-compressed tiff'}`);
  }
  const density = options.density ?? options.metadata?.density;
  if (density !== undefined && !(typeof density === 'number' && Number.isFinite(density) && density >= 0.001 && density <= 1_000_000)) {
    throw new UpscaleError('INVALID_OPTION', `Expected density to be a number of DPI from 0.001 to 1000000, got ${describe(density)}`);
  }
  return { format, quality, lossless, compressionLevel, tiffCompression, density };
}

/** The raster as the format can take it: 8 bits where 16 cannot be stored, no alpha for JPEG. */
/** Above this many pixels JPEG output skips Huffman optimisation (see encodeImage). */
const OPTIMISE_CODING_MAX_PIXELS = 50_000_000;

function preparePixels(raster: Raster, format: OutputFormat, tiffCompression: TiffCompression): Raster {
  const eightBitOnly = format === 'jpeg' || format === 'webp' || format === 'avif' || (format === 'tiff' && tiffCompression === 'jpeg');
  let pixels = eightBitOnly && raster.depth === 16 ? toEightBit(raster) : raster;
  if (format === 'jpeg' && (pixels.channels === 2 || pixels.channels === 4)) pixels = flattenOnWhite(pixels);
  return pixels;
}

/** 16 -> 8 bits, rounded to nearest (libvips would truncate: 0x01FF would become 1, not 2). */
function toEightBit(raster: Raster): Raster {
  const source = raster.data;
  const data = new Uint8Array(source.length);
  for (let index = 0; index < source.length; index++) data[index] = Math.round((source[index] ?? 0) / 257);
  return { ...raster, depth: 8, data };
}

/** Composites 8-bit grey+alpha or RGBA onto white and drops alpha, for JPEG (which has no alpha). */
function flattenOnWhite(raster: Raster): Raster {
  const colours = raster.channels - 1;
  const pixelCount = raster.width * raster.height;
  const data = new Uint8Array(pixelCount * colours);
  const source = raster.data;
  for (let pixel = 0; pixel < pixelCount; pixel++) {
    const alpha = (source[pixel * raster.channels + colours] ?? 0) / 255;
    for (let channel = 0; channel < colours; channel++) {
      const value = source[pixel * raster.channels + channel] ?? 0;
      data[pixel * colours + channel] = Math.round(value * alpha + 255 * (1 - alpha));
    }
  }
  return { width: raster.width, height: raster.height, channels: colours === 1 ? 1 : 3, depth: 8, data };
}

/** A sharp pipeline over the raw samples, told the colour space so that grey stays grey and 16 bits stay 16. */
function pipelineFor(raster: Raster, force?: 'srgb'): Sharp {
  const grey = raster.channels <= 2;
  const space = force ?? (raster.depth === 16 ? (grey ? 'grey16' : 'rgb16') : grey ? 'b-w' : 'srgb');
  return sharp(raster.data, {
    raw: { width: raster.width, height: raster.height, channels: raster.channels },
    limitInputPixels: false,
  }).toColourspace(space);
}

function validateRaster(raster: Raster): void {
  const { width, height, channels, depth, data } = raster;
  if (!Number.isSafeInteger(width) || width < 1 || !Number.isSafeInteger(height) || height < 1) {
    throw new RangeError(`Expected raster width and height to be positive integers, got ${describe(width)}x${describe(height)}`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new RangeError(`Expected raster channels to be 1, 2, 3 or 4, got ${describe(channels)}`);
  if (depth !== 8 && depth !== 16) throw new RangeError(`Expected raster depth to be 8 or 16, got ${describe(depth)}`);
  const expectedType = depth === 16 ? Uint16Array : Uint8Array;
  if (!(data instanceof expectedType)) {
    throw new TypeError(`Expected raster data to be a ${expectedType.name} for depth ${depth}, got ${data?.constructor?.name ?? typeof data}`);
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    throw new RangeError(`Expected raster data to hold ${expected} samples (${width}x${height}x${channels}), got ${data.length}`);
  }
}

function describe(value: unknown): string {
  return `${typeof value === 'string' ? JSON.stringify(value) : String(value)} (${typeof value})`;
}

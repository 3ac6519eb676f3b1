/**
 * Decoding image files to rasters, with the metadata needed to write the result back faithfully.
 *
 * Order of checks, cheapest first, so that bad input fails fast and untrusted input never allocates pixels early:
 * read the bytes -> empty? -> sniff the signature -> sharp reads the header only -> pixel limit -> decode.
 *
 * Colour: pixels keep the file's own colour space (sharp would convert to sRGB whenever a profile is embedded; we
 * ask it to keep the profile instead, which skips the conversion) and the profile is returned with them. CMYK, Lab
 * and other spaces that are not grey or RGB are converted to sRGB by sharp, and their profile is then dropped.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Metadata, Sharp } from 'sharp';
import { UpscaleError } from '../errors.js';
import { SUPPORTED_INPUT_DESCRIPTION, describeContent, formatName, sniffFormat } from './formats.js';
import type { InputFormat } from './formats.js';
import type { ImageMetadata } from './metadata/blocks.js';
import { normalizeExif, readExifDensity } from './metadata/exif.js';
import { normalizeIptc } from './metadata/iptc.js';
import { readPngRawProfile } from './metadata/png.js';
import { extractTiffExif } from './metadata/tiff.js';
import type { Channels, Depth, Raster } from './raster.js';

export interface DecodeOptions {
  /** Refuse images with more pixels (width x height) than this, before decoding them. `Infinity` for no limit. */
  maxPixels: number;
  /** Name used in error messages; defaults to the path when `source` is one. */
  file?: string;
}

export interface DecodedImage {
  /** Upright pixels (EXIF orientation applied), in the file's colour space. */
  raster: Raster;
  /** The format the bytes really are, whatever the file is called. */
  format: InputFormat;
  metadata: ImageMetadata;
}

/** Colour spaces whose pixels are kept as they are; anything else is converted to sRGB. */
const KEPT_SPACES = new Set(['srgb', 'rgb', 'b-w', 'rgb16', 'grey16']);
const GREY_SPACES = new Set(['b-w', 'grey16']);
/**
 * 'error' makes truncated and corrupt data fail instead of coming out grey, while still accepting files with
 * harmless warnings (e.g. JPEGs with extraneous bytes before a marker, which many cameras write).
 */
const FAIL_ON = 'error';

/**
 * Decodes an image file or buffer to an upright raster: 8-bit, or 16-bit for 16-bit PNG/TIFF; 1 (grey), 2 (grey +
 * alpha), 3 (RGB) or 4 (RGBA) channels; first frame only for animations.
 *
 * @throws UpscaleError INPUT_NOT_FOUND, INPUT_EMPTY, INPUT_UNSUPPORTED, INPUT_TOO_LARGE or INPUT_CORRUPT, with a
 *   message naming the file.
 * @example
 * const { raster, metadata } = await decodeImage('photo.jpg', { maxPixels: 50_000_000 });
 */
export async function decodeImage(source: string | Buffer, options: DecodeOptions): Promise<DecodedImage> {
  const { maxPixels } = options;
  if (!(maxPixels === Infinity || (Number.isSafeInteger(maxPixels) && maxPixels > 0))) {
    throw new UpscaleError('INVALID_OPTION', `Expected maxPixels to be a positive integer or Infinity, got ${String(maxPixels)}`);
  }
  const file = options.file ?? (typeof source === 'string' ? source : undefined);
  const where = file === undefined ? {} : { file };
  const bytes = typeof source === 'string' ? await readInput(source, where) : source;

  if (bytes.length === 0) throw new UpscaleError('INPUT_EMPTY', 'file is empty (0 bytes), expected an image', where);
  const format = sniffFormat(bytes);
  if (format === undefined) {
    throw new UpscaleError('INPUT_UNSUPPORTED', `not a supported image (expected ${SUPPORTED_INPUT_DESCRIPTION}), found ${describeContent(bytes)}`, where);
  }

  // Header only: no pixel data is decompressed, so a decompression bomb costs nothing here.
  const header = await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false })
    .metadata()
    .catch((error: unknown) => {
      throw decodeError(error, format, where);
    });
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new UpscaleError(
      'INPUT_TOO_LARGE',
      `image is ${header.width}x${header.height} (${pixels} pixels), more than the limit of ${maxPixels} pixels`,
      where,
    );
  }

  const plan = planDecode(header, format);
  let pipeline: Sharp = sharp(bytes, {
    failOn: FAIL_ON,
    limitInputPixels: maxPixels === Infinity ? false : maxPixels,
    autoOrient: true,
    pages: 1,
  });
  if (plan.keepProfile) pipeline = pipeline.keepIccProfile();
  const { data, info } = await pipeline
    .toColourspace(plan.colourspace)
    .raw({ depth: plan.depth === 16 ? 'ushort' : 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((error: unknown) => {
      throw decodeError(error, format, where);
    });

  let raster = toRaster(data, info.width, info.height, info.channels, plan);
  // libvips gives every GIF an alpha channel; drop it when nothing is transparent, so callers do not pay for it.
  if (format === 'gif' && raster.channels === 4 && isOpaque(raster)) raster = dropAlpha(raster);
  return { raster, format, metadata: readMetadata(header, bytes, format, plan.keepProfile) };
}

interface DecodePlan {
  readonly depth: Depth;
  readonly channels: Channels;
  readonly colourspace: string;
  readonly keepProfile: boolean;
  /** 8-bit grey + alpha comes out of sharp as RGBA (its raw output drops alpha from 8-bit grey): keep R and A. */
  readonly collapseGreyAlpha: boolean;
}

function planDecode(header: Metadata, format: InputFormat): DecodePlan {
  const keepProfile = KEPT_SPACES.has(header.space);
  const grey = keepProfile && GREY_SPACES.has(header.space);
  // 16 bits only where files really hold 16-bit samples; 10/12-bit AVIF/HEIF come back shifted, not scaled, so
  // they are reduced to 8 bits like everything else.
  const depth: Depth = header.depth === 'ushort' && (format === 'png' || format === 'tiff') ? 16 : 8;
  const alpha = header.hasAlpha;
  const channels: Channels = grey ? (alpha ? 2 : 1) : alpha ? 4 : 3;
  let colourspace: string;
  if (depth === 16) colourspace = grey ? 'grey16' : 'rgb16';
  else colourspace = grey && !alpha ? 'b-w' : 'srgb';
  return { depth, channels, colourspace, keepProfile, collapseGreyAlpha: depth === 8 && grey && alpha };
}

function toRaster(data: Buffer, width: number, height: number, received: number, plan: DecodePlan): Raster {
  const { depth, channels } = plan;
  const samples = width * height * channels;
  if (plan.collapseGreyAlpha && received === 4) {
    const grey = new Uint8Array(samples);
    for (let source = 0, target = 0; target < samples; source += 4, target += 2) {
      grey[target] = data[source] ?? 0;
      grey[target + 1] = data[source + 3] ?? 0;
    }
    return { width, height, channels, depth, data: grey };
  }
  if (received !== channels || data.length !== (samples * depth) / 8) {
    throw new Error(`decoder returned ${data.length} bytes in ${received} channels, expected ${channels} channels of ${depth} bits`);
  }
  if (depth === 8) return { width, height, channels, depth, data: new Uint8Array(data.buffer, data.byteOffset, samples) };
  // Uint16Array views need an even byte offset; sharp's buffers normally start at 0.
  const aligned = data.byteOffset % 2 === 0 ? data : Buffer.from(data);
  return { width, height, channels, depth, data: new Uint16Array(aligned.buffer, aligned.byteOffset, samples) };
}

function isOpaque(raster: Raster): boolean {
  const { data, channels } = raster;
  for (let index = channels - 1; index < data.length; index += channels) if (data[index] !== 255) return false;
  return true;
}

function dropAlpha(raster: Raster): Raster {
  const pixelCount = raster.width * raster.height;
  const data = new Uint8Array(pixelCount * 3);
  for (let pixel = 0; pixel < pixelCount; pixel++) data.set(raster.data.subarray(pixel * 4, pixel * 4 + 3), pixel * 3);
  return { ...raster, channels: 3, data };
}

function readMetadata(header: Metadata, bytes: Buffer, format: InputFormat, keepProfile: boolean): ImageMetadata {
  const metadata: ImageMetadata = {};
  if (keepProfile && header.icc !== undefined) metadata.icc = header.icc;
  const exif = readExif(header, bytes, format);
  if (exif !== undefined) metadata.exif = exif;
  // ImageMagick writes XMP in PNG as a "Raw profile type xmp" text, which libvips does not read.
  const xmp = header.xmp ?? (format === 'png' ? readPngRawProfile(bytes, 'xmp') : undefined);
  if (xmp !== undefined) metadata.xmp = xmp;
  // JPEG: APP13 payload; TIFF: bare IIM, or a Photoshop IRB in tag 34377; PNG: a "Raw profile type iptc" text.
  const iptcSource = header.iptc ?? header.tifftagPhotoshop;
  let iptc = iptcSource === undefined ? undefined : normalizeIptc(iptcSource);
  if (iptc === undefined && format === 'png') iptc = readPngRawProfile(bytes, 'iptc');
  if (iptc !== undefined) metadata.iptc = iptc;
  // WebP and AVIF have no density field of their own; libvips does not read it back from their EXIF. For a JPEG
  // without a resolution unit (no JFIF density, or JFIF units 0: an aspect ratio only) libvips reports 72 DPI of
  // its own invention, which is not the file's: only EXIF can say then.
  const stated = format === 'jpeg' && header.resolutionUnit === undefined ? undefined : header.density;
  const density = stated ?? (exif === undefined ? undefined : readExifDensity(exif));
  if (density !== undefined) metadata.density = density;
  if (header.orientation !== undefined) metadata.orientation = header.orientation;
  return metadata;
}

function readExif(header: Metadata, bytes: Buffer, format: InputFormat): Buffer | undefined {
  if (header.exif !== undefined) return normalizeExif(header.exif);
  // libvips exposes EXIF for JPEG, PNG (eXIf), WebP and HEIF; in TIFF the tags are part of the file's own IFDs,
  // and older PNG writers (ImageMagick) use a "Raw profile type exif" text.
  if (format === 'tiff') return extractTiffExif(bytes);
  const raw = format === 'png' ? readPngRawProfile(bytes, 'exif') : undefined;
  return raw === undefined ? undefined : normalizeExif(raw);
}

/**
 * Reads an input file's bytes, with the same errors as {@link decodeImage} (INPUT_NOT_FOUND, INPUT_UNSUPPORTED for a
 * directory), so that callers can look at the bytes (e.g. count frames) before choosing how to decode them.
 */
export async function readImageFile(path: string, file: string = path): Promise<Buffer> {
  return readInput(path, { file });
}

async function readInput(path: string, where: { file?: string }): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const options = { ...where, cause: error };
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UpscaleError('INPUT_NOT_FOUND', 'no such file, expected an image file', options);
    if (code === 'EISDIR') throw new UpscaleError('INPUT_UNSUPPORTED', 'is a directory, expected an image file', options);
    throw new UpscaleError('INPUT_NOT_FOUND', `cannot read the file (${code ?? String(error)})`, options);
  }
}

/** Maps a sharp failure to the error a user can act on (also for header probes, ./probe.ts). */
export function decodeError(error: unknown, format: InputFormat, where: { file?: string }): UpscaleError {
  // libvips' first line, without the colon it ends with when it has nothing more to say.
  const detail = ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').trim().replace(/:$/, '');
  const options = { ...where, cause: error };
  if (/exceeds pixel limit/i.test(detail)) {
    return new UpscaleError('INPUT_TOO_LARGE', `image has more pixels than the limit (${detail})`, options);
  }
  if (/not been built in|no decoding plugin|unsupported (codec|compression|feature)/i.test(detail)) {
    return new UpscaleError('INPUT_UNSUPPORTED', `${formatName(format)} variant that cannot be decoded here (${detail})`, options);
  }
  return new UpscaleError('INPUT_CORRUPT', `corrupt or truncated ${formatName(format)} data, expected a complete image${detail === '' ? '' : ` (${detail})`}`, options);
}

/**
 * Image format names, the extension <-> format mapping, and content sniffing.
 *
 * Decoding trusts the bytes, never the file name: a `.png` that is really text, SVG or PDF must be refused before
 * sharp sees it, because sharp (libvips) would happily rasterise SVG/PDF and we support raster formats only.
 */

/** Formats {@link decodeImage} accepts. `heif` is HEIF other than AVIF (e.g. HEIC), decoded only where libheif can. */
export type InputFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif' | 'heif' | 'gif';

/** Formats {@link encodeImage} writes. */
export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'tiff' | 'avif';

/** Formats that hold an animation, written by `upscaleFile` with every frame (see docs/animated.md). */
export type AnimationFormat = 'gif' | 'webp' | 'apng';

/** Every format `upscaleFile` writes: the still formats of {@link encodeImage} and the animated ones. */
export type FileFormat = OutputFormat | AnimationFormat;

export const INPUT_FORMATS: readonly InputFormat[] = ['png', 'jpeg', 'webp', 'tiff', 'avif', 'heif', 'gif'];
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp', 'tiff', 'avif'];

/** The list users see in "not a supported image" messages. */
export const SUPPORTED_INPUT_DESCRIPTION = 'PNG, JPEG, WebP, TIFF, AVIF/HEIF or GIF';

const EXTENSIONS: Readonly<Record<string, OutputFormat>> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.tif': 'tiff',
  '.tiff': 'tiff',
  '.avif': 'avif',
};

const PREFERRED_EXTENSION: Readonly<Record<OutputFormat, string>> = {
  png: '.png',
  jpeg: '.jpg',
  webp: '.webp',
  tiff: '.tiff',
  avif: '.avif',
};

const MIME_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  tiff: 'image/tiff',
  avif: 'image/avif',
};

/**
 * Largest width or height each output format (as written by sharp) can hold. PNG and TIFF are limited by memory
 * and, for TIFF, by the 4 GiB classic-TIFF file size.
 */
export const MAX_DIMENSION: Readonly<Record<OutputFormat, number>> = {
  png: 0x7fffffff,
  jpeg: 65535,
  webp: 16383,
  tiff: 0x7fffffff,
  avif: 16384,
};

const DISPLAY_NAMES: Readonly<Record<InputFormat, string>> = {
  png: 'PNG',
  jpeg: 'JPEG',
  webp: 'WebP',
  tiff: 'TIFF',
  avif: 'AVIF',
  heif: 'HEIF',
  gif: 'GIF',
};

/** The name of a format as people write it, for messages: `WebP`, `JPEG`, ... */
export function formatName(format: InputFormat): string {
  return DISPLAY_NAMES[format];
}

export function isOutputFormat(value: unknown): value is OutputFormat {
  return typeof value === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(value);
}

/**
 * The output format a path's extension asks for, case-insensitively; `undefined` for anything else.
 *
 * @example outputFormatFromPath('out/Photo.JPG') // 'jpeg'
 */
export function outputFormatFromPath(path: string): OutputFormat | undefined {
  const match = /\.[^./\\]+$/.exec(path);
  return match === null ? undefined : EXTENSIONS[match[0].toLowerCase()];
}

export const FILE_FORMATS: readonly FileFormat[] = [...OUTPUT_FORMATS, 'gif', 'apng'];

export function isFileFormat(value: unknown): value is FileFormat {
  return typeof value === 'string' && (FILE_FORMATS as readonly string[]).includes(value);
}

/**
 * The format `upscaleFile` writes for a path's extension: as {@link outputFormatFromPath}, plus `.gif` and `.apng`.
 *
 * @example fileFormatFromPath('out/anim.GIF') // 'gif'
 */
export function fileFormatFromPath(path: string): FileFormat | undefined {
  const match = /\.[^./\\]+$/.exec(path);
  const ext = match?.[0].toLowerCase();
  if (ext === '.gif') return 'gif';
  if (ext === '.apng') return 'apng';
  return outputFormatFromPath(path);
}

/** The usual extension, with its dot, for files of a format: `.png`, `.jpg`, `.webp`, `.tiff`, `.avif`. */
export function extensionFor(format: OutputFormat): string {
  return PREFERRED_EXTENSION[format];
}

/** The media type for an output format, e.g. `image/webp`. */
export function mimeTypeFor(format: OutputFormat): string {
  return MIME_TYPES[format];
}

/** How many leading bytes {@link sniffFormat} and {@link describeContent} look at. */
export const SNIFF_BYTES = 64;

/**
 * The supported raster format the bytes hold, judged from their signature only; `undefined` when they are not one.
 * HEIF/AVIF are told apart by the `ftyp` brands.
 */
export function sniffFormat(bytes: Uint8Array): InputFormat | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  // Classic TIFF (42) and BigTIFF (43), both byte orders.
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  return sniffHeif(bytes);
}

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);

function sniffHeif(bytes: Uint8Array): InputFormat | undefined {
  if (bytes.length < 16 || ascii(bytes, 4, 4) !== 'ftyp') return undefined;
  const boxSize = Math.min(readUint32BE(bytes, 0), bytes.length);
  // Major brand at 8, minor version at 12, then compatible brands.
  const brands = [ascii(bytes, 8, 4)];
  for (let offset = 16; offset + 4 <= boxSize; offset += 4) brands.push(ascii(bytes, offset, 4));
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return 'avif';
  if (brands.some((brand) => HEIF_BRANDS.has(brand))) return 'heif';
  return undefined;
}

/**
 * A short human description of what unsupported bytes look like ("SVG", "PDF", "text", ...), for error messages
 * that say what was found.
 */
export function describeContent(bytes: Uint8Array): string {
  const head = ascii(bytes, 0, Math.min(bytes.length, SNIFF_BYTES));
  if (head.startsWith('%PDF')) return 'PDF';
  if (/^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg|<svg)/i.test(head)) return 'SVG';
  if (startsWith(bytes, [0x42, 0x4d])) return 'BMP';
  if (head.startsWith('8BPS')) return 'PSD';
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return 'ICO';
  if (startsWith(bytes, [0xff, 0x0a]) || ascii(bytes, 4, 4) === 'JXL ') return 'JPEG XL';
  if (ascii(bytes, 4, 4) === 'jP  ' || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return 'JPEG 2000';
  if (ascii(bytes, 4, 4) === 'ftyp') return `ISO media (brand ${JSON.stringify(ascii(bytes, 8, 4))})`;
  if (looksLikeText(bytes)) return 'text';
  const hex = Array.from(bytes.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
  return `unrecognised data (starting ${hex})`;
}

function looksLikeText(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, SNIFF_BYTES);
  if (sample.length === 0) return false;
  // Printable ASCII, whitespace, or bytes of UTF-8 sequences; no control characters.
  return sample.every((byte) => byte >= 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d);
}

function startsWith(bytes: Uint8Array, signature: readonly number[]): boolean {
  return bytes.length >= signature.length && signature.every((value, index) => bytes[index] === value);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

function readUint32BE(bytes: Uint8Array, offset: number): number {
  let value = 0;
  for (let index = 0; index < 4; index++) value = value * 256 + (bytes[offset + index] ?? 0);
  return value;
}

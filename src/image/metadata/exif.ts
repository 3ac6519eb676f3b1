/**
 * EXIF blocks: normalising, patching for the new image, and building a minimal one.
 *
 * Throughout this module an EXIF block is the bare TIFF structure (`II*\0…` or `MM\0*…`), the form PNG eXIf,
 * WebP EXIF and TIFF use; JPEG's APP1 adds the `Exif\0\0` prefix, which {@link normalizeExif} removes.
 * Patching works in place on a copy: values are overwritten only where the existing tag has the expected type and
 * room, so a block that we do not fully understand is never corrupted, only left partly unpatched.
 */
import {
  TiffType,
  encodeValues,
  entryBytes,
  findEntry,
  readIfd,
  readTiffHeader,
  readUint16,
  readUint32,
  serializeIfd,
  writeUint16,
  writeUint32,
} from './tiff-ifd.js';
import type { ByteOrder, Ifd, IfdEntry } from './tiff-ifd.js';

export const ExifTag = {
  ImageDescription: 0x010e,
  Orientation: 0x0112,
  XResolution: 0x011a,
  YResolution: 0x011b,
  ResolutionUnit: 0x0128,
  ExifIfd: 0x8769,
  GpsIfd: 0x8825,
  InteropIfd: 0xa005,
  PixelXDimension: 0xa002,
  PixelYDimension: 0xa003,
} as const;

const EXIF_PREFIX = Buffer.from('Exif\0\0', 'latin1');
const RESOLUTION_UNIT_INCH = 2;

/** The bare TIFF structure of an EXIF block given with or without the `Exif\0\0` prefix; `undefined` if invalid. */
export function normalizeExif(exif: Uint8Array): Buffer | undefined {
  let body = Buffer.from(exif.buffer, exif.byteOffset, exif.byteLength);
  if (body.subarray(0, 6).equals(EXIF_PREFIX)) body = body.subarray(6);
  const header = readTiffHeader(body);
  if (header === undefined || readIfd(body, header.ifd0, header.order) === undefined) return undefined;
  return Buffer.from(body);
}

/** What the written image is, for {@link patchExif}. */
export interface ExifPatch {
  /** Size of the image being written (EXIF PixelXDimension/PixelYDimension). */
  readonly width: number;
  readonly height: number;
  /** DPI to record in XResolution/YResolution (with ResolutionUnit = inches). */
  readonly density?: number;
}

/**
 * A patched copy of a bare EXIF block: Orientation = 1 (pixels are already upright), resolution = `density` when
 * given, PixelX/YDimension = the new size. Tags missing from the block are not added; tags with an unexpected type
 * are left alone. When the orientation changes, the IFD1 thumbnail is unlinked because it still shows the old,
 * unrotated view.
 */
export function patchExif(exif: Uint8Array, patch: ExifPatch): Buffer {
  const out = Buffer.from(exif);
  const header = readTiffHeader(out);
  if (header === undefined) return out;
  const { order } = header;
  const ifd0 = readIfd(out, header.ifd0, order);
  if (ifd0 === undefined) return out;

  const orientation = findEntry(ifd0, ExifTag.Orientation);
  if (orientation !== undefined && orientation.type === TiffType.SHORT && orientation.count >= 1) {
    if (readUint16(out, orientation.valueOffset, order) !== 1) {
      writeUint16(out, orientation.valueOffset, 1, order);
      // The thumbnail would now be sideways; unlinking it is an in-place change that keeps the block valid.
      if (ifd0.next !== 0) writeUint32(out, ifd0.nextPointerOffset, 0, order);
    }
  }

  if (patch.density !== undefined) patchResolution(out, ifd0, patch.density, order);

  const exifIfd = subIfd(out, ifd0, ExifTag.ExifIfd, order);
  if (exifIfd !== undefined) {
    writeDimension(out, findEntry(exifIfd, ExifTag.PixelXDimension), patch.width, order);
    writeDimension(out, findEntry(exifIfd, ExifTag.PixelYDimension), patch.height, order);
  }
  return out;
}

/** A minimal little-endian EXIF block holding only the resolution, for formats whose only density field is EXIF. */
export function buildExif(options: { readonly density: number }): Buffer {
  const order: ByteOrder = 'II';
  const header = Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00]);
  const resolution = encodeValues(TiffType.RATIONAL, toRational(options.density), order);
  const ifd = serializeIfd(
    [
      { tag: ExifTag.XResolution, type: TiffType.RATIONAL, count: 1, data: resolution },
      { tag: ExifTag.YResolution, type: TiffType.RATIONAL, count: 1, data: resolution },
      { tag: ExifTag.ResolutionUnit, type: TiffType.SHORT, count: 1, data: encodeValues(TiffType.SHORT, [RESOLUTION_UNIT_INCH], order) },
    ],
    8,
    0,
    order,
  );
  return Buffer.concat([header, ifd]);
}

/**
 * A copy of a bare EXIF block whose IFD0 records `density` DPI, for formats where EXIF is the only place for it
 * (WebP, AVIF) and the block lacks the tags. IFD0 is rebuilt with its entries plus XResolution, YResolution and
 * ResolutionUnit (inches) and appended to the block; the header then points to it. Nothing else moves, so every
 * other offset (sub-IFDs, the thumbnail, maker notes) stays valid; the old directory is left as unreferenced bytes.
 * A block that cannot be read is returned unchanged.
 */
export function addExifResolution(exif: Uint8Array, density: number): Buffer {
  const source = Buffer.from(exif);
  const header = readTiffHeader(source);
  const ifd0 = header && readIfd(source, header.ifd0, header.order);
  if (header === undefined || ifd0 === undefined) return source;
  const { order } = header;
  const resolutionTags = new Set<number>([ExifTag.XResolution, ExifTag.YResolution, ExifTag.ResolutionUnit]);
  const resolution = encodeValues(TiffType.RATIONAL, toRational(density), order);
  const entries = [
    ...ifd0.entries
      .filter((entry) => !resolutionTags.has(entry.tag))
      .map((entry) => ({ tag: entry.tag, type: entry.type, count: entry.count, data: Uint8Array.from(entryBytes(source, entry)) })),
    { tag: ExifTag.XResolution, type: TiffType.RATIONAL, count: 1, data: resolution },
    { tag: ExifTag.YResolution, type: TiffType.RATIONAL, count: 1, data: resolution },
    { tag: ExifTag.ResolutionUnit, type: TiffType.SHORT, count: 1, data: encodeValues(TiffType.SHORT, [RESOLUTION_UNIT_INCH], order) },
  ];
  // IFDs start on a word boundary.
  const padding = Buffer.alloc(source.length % 2);
  const base = source.length + padding.length;
  const out = Buffer.concat([source, padding, serializeIfd(entries, base, ifd0.next, order)]);
  writeUint32(out, 4, base, order);
  return out;
}

/** The resolution in DPI recorded in a bare EXIF block's IFD0 (XResolution, converted from cm if need be). */
export function readExifDensity(exif: Uint8Array): number | undefined {
  const header = readTiffHeader(exif);
  const ifd0 = header && readIfd(exif, header.ifd0, header.order);
  if (header === undefined || ifd0 === undefined) return undefined;
  const resolution = findEntry(ifd0, ExifTag.XResolution);
  if (resolution === undefined || resolution.type !== TiffType.RATIONAL) return undefined;
  const numerator = readUint32(exif, resolution.valueOffset, header.order);
  const denominator = readUint32(exif, resolution.valueOffset + 4, header.order);
  const unitEntry = findEntry(ifd0, ExifTag.ResolutionUnit);
  const unit = unitEntry?.type === TiffType.SHORT ? readUint16(exif, unitEntry.valueOffset, header.order) : RESOLUTION_UNIT_INCH;
  if (denominator === 0 || numerator === 0) return undefined;
  if (unit === RESOLUTION_UNIT_INCH) return numerator / denominator;
  // 3 = centimetres; 1 = no absolute unit (aspect ratio only).
  return unit === 3 ? (numerator / denominator) * 2.54 : undefined;
}

/** A DPI value as a TIFF RATIONAL [numerator, denominator]: exact for integers, 1/1000 precision otherwise. */
export function toRational(value: number): [number, number] {
  return Number.isInteger(value) ? [value, 1] : [Math.round(value * 1000), 1000];
}

/** Follows a sub-IFD pointer (EXIF, GPS, interoperability) in `ifd`, when it has the type of a pointer. */
export function subIfd(buffer: Uint8Array, ifd: Ifd, tag: number, order: ByteOrder): Ifd | undefined {
  const pointer = findEntry(ifd, tag);
  if (pointer === undefined || pointer.count !== 1 || (pointer.type !== TiffType.LONG && pointer.type !== TiffType.IFD)) {
    return undefined;
  }
  const offset = readUint32(buffer, pointer.valueOffset, order);
  // A pointer back to the parent would loop; EXIF blocks from the wild occasionally contain one.
  return offset === ifd.offset ? undefined : readIfd(buffer, offset, order);
}

function patchResolution(out: Buffer, ifd0: Ifd, density: number, order: ByteOrder): void {
  const unit = findEntry(ifd0, ExifTag.ResolutionUnit);
  // Writing DPI values is only right if the unit is (or can be set to) inches.
  if (unit !== undefined && unit.type !== TiffType.SHORT) return;
  const [numerator, denominator] = toRational(density);
  for (const tag of [ExifTag.XResolution, ExifTag.YResolution]) {
    const entry = findEntry(ifd0, tag);
    if (entry === undefined || entry.type !== TiffType.RATIONAL || entry.count !== 1) continue;
    writeUint32(out, entry.valueOffset, numerator, order);
    writeUint32(out, entry.valueOffset + 4, denominator, order);
  }
  if (unit !== undefined) writeUint16(out, unit.valueOffset, RESOLUTION_UNIT_INCH, order);
}

function writeDimension(out: Buffer, entry: IfdEntry | undefined, value: number, order: ByteOrder): void {
  if (entry === undefined || entry.count !== 1) return;
  if (entry.type === TiffType.LONG) writeUint32(out, entry.valueOffset, value, order);
  else if (entry.type === TiffType.SHORT && value <= 0xffff) writeUint16(out, entry.valueOffset, value, order);
}

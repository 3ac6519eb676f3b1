/**
 * TIFF metadata tags: adding ICC, XMP, IPTC and EXIF to a TIFF that sharp encoded.
 *
 * libvips' tiffsave cannot write EXIF at all, and with keepMetadata it writes JPEG's APP13 payload where bare IPTC
 * belongs, so we edit the file ourselves. The first IFD is rewritten at the end of the file with the extra tags and
 * the header is pointed at it; image data never moves, so every strip/tile offset stays valid (the old directory is
 * left as a few unreferenced bytes).
 *
 * EXIF becomes TIFF tags the way cameras and ExifTool lay them out: the descriptive IFD0 tags (Copyright, Artist,
 * Make, Orientation, resolution, ...) join the image's IFD0, and the Exif, GPS and Interoperability sub-IFDs are
 * copied with their offsets relocated and values converted to the file's byte order. Structural tags always come
 * from the encoded image. Maker notes are copied byte for byte; those that use absolute offsets may not survive.
 *
 * Tags written: 34675 ICC (UNDEFINED), 700 XMP (BYTE), 33723 IPTC-IIM (LONG, as libtiff reads it), 34665/34853 EXIF
 * and GPS pointers (LONG), 282/283/296 resolution when a density is given.
 */
import type { MetadataBlocks } from './blocks.js';
import { ExifTag, subIfd, toRational } from './exif.js';
import {
  TiffType,
  convertByteOrder,
  encodeValues,
  entryBytes,
  readIfd,
  readTiffHeader,
  serializeIfd,
  writeUint16,
  writeUint32,
} from './tiff-ifd.js';
import type { ByteOrder, Ifd, OutEntry } from './tiff-ifd.js';

const TAG_XMP = 700;
const TAG_IPTC = 33723;
const TAG_ICC = 34675;

/** Tags that describe how the pixels are stored: only the encoded image may set them. */
const STRUCTURAL_TAGS = new Set([
  254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281, 284, 317, 320, 322, 323, 324,
  325, 330, 338, 339, 340, 341, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532,
]);
/**
 * Exif IFD tags the EXIF specification records for compressed (JPEG) primary images only; ExifTool's validator
 * flags them in TIFF, so they are not carried into TIFF files.
 */
const COMPRESSED_ONLY_EXIF_TAGS = new Set<number>([0x9101, 0x9102, ExifTag.PixelXDimension, ExifTag.PixelYDimension]);
/** Tags this module writes itself (pointers and metadata blocks). */
const MANAGED_TAGS = new Set<number>([ExifTag.ExifIfd, ExifTag.GpsIfd, ExifTag.InteropIfd, TAG_XMP, TAG_IPTC, TAG_ICC]);

/** Extra tag values for {@link injectTiffMetadata}. */
export interface TiffTagOptions {
  /** DPI to record in XResolution/YResolution (ResolutionUnit = inches); overrides both the encoder's and EXIF's. */
  readonly density?: number;
  /** DPI to record when neither `density` nor the EXIF block gives one (TIFF requires a resolution). */
  readonly fallbackDensity?: number;
}

/** A copy of `tiff` whose first IFD also holds the given metadata. */
export function injectTiffMetadata(tiff: Uint8Array, blocks: MetadataBlocks, options: TiffTagOptions = {}): Buffer {
  const source = Buffer.from(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const header = readTiffHeader(source);
  const ifd0 = header && readIfd(source, header.ifd0, header.order);
  if (header === undefined || ifd0 === undefined) throw new Error('not a classic TIFF: cannot read the first IFD');
  const { order } = header;

  const entries = new Map<number, OutEntry>();
  for (const entry of ifd0.entries) {
    entries.set(entry.tag, { tag: entry.tag, type: entry.type, count: entry.count, data: Uint8Array.from(entryBytes(source, entry)) });
  }
  // Resolution precedence: explicit density, then EXIF's, then the fallback (never the encoder's default).
  const setResolution = (density: number): void => {
    const resolution = encodeValues(TiffType.RATIONAL, toRational(density), order);
    entries.set(ExifTag.XResolution, { tag: ExifTag.XResolution, type: TiffType.RATIONAL, count: 1, data: resolution });
    entries.set(ExifTag.YResolution, { tag: ExifTag.YResolution, type: TiffType.RATIONAL, count: 1, data: resolution });
    entries.set(ExifTag.ResolutionUnit, { tag: ExifTag.ResolutionUnit, type: TiffType.SHORT, count: 1, data: encodeValues(TiffType.SHORT, [2], order) });
  };
  if (options.fallbackDensity !== undefined) setResolution(options.fallbackDensity);
  // The file grows by: [sub-IFDs of the EXIF block] [new IFD0].
  const layout = new Layout(source.length + (source.length % 2));
  if (blocks.exif !== undefined) {
    const exifHeader = readTiffHeader(blocks.exif);
    const exifIfd0 = exifHeader && readIfd(blocks.exif, exifHeader.ifd0, exifHeader.order);
    if (exifHeader !== undefined && exifIfd0 !== undefined) {
      const tree = copyExifTree(blocks.exif, exifIfd0, exifHeader.order, order, layout, {
        keepInIfd0: (tag) => !STRUCTURAL_TAGS.has(tag),
        omitFromExifIfd: COMPRESSED_ONLY_EXIF_TAGS,
      });
      for (const entry of tree) entries.set(entry.tag, entry);
    }
  }
  if (options.density !== undefined) setResolution(options.density);
  if (blocks.icc !== undefined) entries.set(TAG_ICC, { tag: TAG_ICC, type: TiffType.UNDEFINED, count: blocks.icc.length, data: blocks.icc });
  if (blocks.xmp !== undefined) entries.set(TAG_XMP, { tag: TAG_XMP, type: TiffType.BYTE, count: blocks.xmp.length, data: blocks.xmp });
  if (blocks.iptc !== undefined) {
    // libtiff (and so libvips) only accepts RichTIFFIPTC as LONGs: pad the IIM stream to whole LONGs.
    const padded = new Uint8Array(Math.ceil(blocks.iptc.length / 4) * 4);
    padded.set(blocks.iptc);
    entries.set(TAG_IPTC, { tag: TAG_IPTC, type: TiffType.LONG, count: padded.length / 4, data: padded });
  }

  const ifd0At = layout.place((base) => serializeIfd([...entries.values()], base, ifd0.next, order));
  if (layout.end > 0xffffffff) throw new Error('TIFF with metadata would exceed 4 GiB, the limit of classic TIFF');
  const headerCopy = Buffer.from(source.subarray(0, 8));
  writeUint32(headerCopy, 4, ifd0At, order);
  return Buffer.concat([headerCopy, source.subarray(8), new Uint8Array(source.length % 2), ...layout.pieces]);
}

/**
 * The EXIF a TIFF file holds, as a bare EXIF block: its descriptive IFD0 tags and its Exif/GPS sub-IFDs, in the
 * file's byte order. libvips does not expose TIFF EXIF, so decode reads it here. `undefined` when there is none.
 */
export function extractTiffExif(tiff: Uint8Array): Buffer | undefined {
  const header = readTiffHeader(tiff);
  const ifd0 = header && readIfd(tiff, header.ifd0, header.order);
  if (header === undefined || ifd0 === undefined) return undefined;
  const { order } = header;
  const layout = new Layout(8);
  const entries = copyExifTree(tiff, ifd0, order, order, layout, { keepInIfd0: (tag) => EXIF_IFD0_TAGS.has(tag) });
  if (!entries.some((entry) => EXIF_WORTHY_TAGS.has(entry.tag))) return undefined;
  const ifd0At = layout.place((base) => serializeIfd(entries, base, 0, order));
  const out = Buffer.alloc(8);
  out.write(order, 0, 'latin1');
  writeUint16(out, 2, 42, order);
  writeUint32(out, 4, ifd0At, order);
  return Buffer.concat([out, ...layout.pieces]);
}

/**
 * The IFD0 tags EXIF defines (plus Windows' rating and XP tags), the only ones a TIFF passes on as EXIF: a TIFF's
 * IFD0 can also hold Photoshop resources and layer data (tags 34377, 37724) many megabytes long.
 */
const EXIF_IFD0_TAGS = new Set<number>([
  0x010e, 0x010f, 0x0110, 0x0112, 0x011a, 0x011b, 0x0128, 0x0131, 0x0132, 0x013b, 0x013e, 0x013f, 0x8298, 0x4746,
  0x4749, 0x9c9b, 0x9c9c, 0x9c9d, 0x9c9e, 0x9c9f,
]);

/** Tags that make a TIFF's IFD0 worth reporting as EXIF (resolution and orientation alone are not). */
const EXIF_WORTHY_TAGS = new Set<number>([
  ExifTag.ExifIfd, ExifTag.GpsIfd, ExifTag.ImageDescription, 0x010f, 0x0110, 0x0131, 0x0132, 0x013b, 0x8298,
]);

/** Appends pieces at increasing, word-aligned offsets from a starting offset. */
class Layout {
  readonly pieces: Uint8Array[] = [];
  constructor(public end: number) {}

  /** Builds a piece for the next free offset and returns that offset. */
  place(build: (base: number) => Uint8Array): number {
    const base = this.end;
    const bytes = build(base);
    this.pieces.push(bytes);
    if (bytes.length % 2 === 1) this.pieces.push(new Uint8Array(1));
    this.end += bytes.length + (bytes.length % 2);
    return base;
  }
}

interface TreeFilter {
  /** Which IFD0 tags to carry over. */
  readonly keepInIfd0: (tag: number) => boolean;
  /** Exif IFD tags to leave out. */
  readonly omitFromExifIfd?: ReadonlySet<number>;
}

/**
 * The IFD0 entries that carry EXIF from `source` into another TIFF structure: the IFD0 tags the filter keeps, plus
 * pointers to copies of the Exif (with its Interoperability IFD) and GPS sub-IFDs placed in `layout`.
 * Values are converted from byte order `from` to `to`.
 */
function copyExifTree(source: Uint8Array, ifd0: Ifd, from: ByteOrder, to: ByteOrder, layout: Layout, filter: TreeFilter): OutEntry[] {
  const omitFromExifIfd = filter.omitFromExifIfd ?? new Set<number>();
  // Filter before copying: the tags left out can be large.
  const kept = { ...ifd0, entries: ifd0.entries.filter((entry) => filter.keepInIfd0(entry.tag)) };
  const entries = copyEntries(source, kept, from, to);
  const exifSub = subIfd(source, ifd0, ExifTag.ExifIfd, from);
  if (exifSub !== undefined) {
    const interop = subIfd(source, exifSub, ExifTag.InteropIfd, from);
    const exifKept = { ...exifSub, entries: exifSub.entries.filter((entry) => !omitFromExifIfd.has(entry.tag)) };
    const exifEntries = copyEntries(source, exifKept, from, to);
    if (interop !== undefined) {
      const interopAt = layout.place((base) => serializeIfd(copyEntries(source, interop, from, to), base, 0, to));
      exifEntries.push(pointer(ExifTag.InteropIfd, interopAt, to));
    }
    entries.push(pointer(ExifTag.ExifIfd, layout.place((base) => serializeIfd(exifEntries, base, 0, to)), to));
  }
  const gps = subIfd(source, ifd0, ExifTag.GpsIfd, from);
  if (gps !== undefined) {
    entries.push(pointer(ExifTag.GpsIfd, layout.place((base) => serializeIfd(copyEntries(source, gps, from, to), base, 0, to)), to));
  }
  return entries;
}

/** An IFD's entries, sub-IFD pointers and metadata blocks left out, with values converted to the target byte order. */
function copyEntries(buffer: Uint8Array, ifd: Ifd, from: ByteOrder, to: ByteOrder): OutEntry[] {
  return ifd.entries
    .filter((entry) => !MANAGED_TAGS.has(entry.tag))
    .map((entry) => {
      const data = convertByteOrder(entryBytes(buffer, entry), entry.type, from, to);
      return { tag: entry.tag, type: entry.type, count: entry.count, data };
    });
}

function pointer(tag: number, offset: number, order: ByteOrder): OutEntry {
  return { tag, type: TiffType.LONG, count: 1, data: encodeValues(TiffType.LONG, [offset], order) };
}

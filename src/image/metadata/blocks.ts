/**
 * The metadata model shared by decode and encode, and the step that turns what a caller hands to encodeImage into
 * the exact blocks the container writers insert.
 */
import { debuglog } from 'node:util';
import { UpscaleError } from '../../errors.js';
import { addExifResolution, buildExif, normalizeExif, patchExif, readExifDensity } from './exif.js';
import { normalizeIptc } from './iptc.js';
import { isXmpPacket, patchXmp, xmpBytes } from './xmp.js';

const debug = debuglog('upscale');

/**
 * Metadata read from an image, in container-independent form. Absent items are absent keys.
 */
export interface ImageMetadata {
  /** ICC profile the pixel values are in. Only kept for grey and RGB images, whose pixels are not converted. */
  icc?: Buffer;
  /** EXIF as a bare TIFF structure (`II*\0…`/`MM\0*…`, without JPEG's `Exif\0\0` prefix). */
  exif?: Buffer;
  /** XMP packet, UTF-8. */
  xmp?: Buffer;
  /** IPTC-IIM record stream (starts with 0x1C), without Photoshop IRB wrapping. */
  iptc?: Buffer;
  /** Resolution in dots per inch. */
  density?: number;
  /** EXIF orientation of the source (1..8); decoded pixels are already upright. */
  orientation?: number;
}

/**
 * Metadata accepted by encodeImage: as {@link ImageMetadata}, with XMP also accepted as a string, EXIF with or
 * without the `Exif\0\0` prefix and IPTC also as a Photoshop IRB. `orientation` is ignored (output is upright).
 */
export interface MetadataInput {
  icc?: Buffer;
  exif?: Buffer;
  xmp?: string | Buffer;
  iptc?: Buffer;
  density?: number;
  orientation?: number;
}

/** Blocks ready to insert, already patched for the output image. */
export interface MetadataBlocks {
  icc?: Buffer;
  exif?: Buffer;
  xmp?: Buffer;
  iptc?: Buffer;
}

export interface BlockTarget {
  readonly width: number;
  readonly height: number;
  /** Whether the written image is grey (1 or 2 channels) rather than RGB: decides which ICC profiles fit. */
  readonly grey: boolean;
  readonly density?: number;
  /**
   * Formats without a native density field: create an EXIF block holding the density when there is none, and add
   * the resolution tags to one that lacks them.
   */
  readonly synthesizeExifDensity?: boolean;
}

/** ICC profile colour space signature (header bytes 16..19), e.g. `RGB `, `GRAY`, `CMYK`. */
export function iccColourSpace(icc: Uint8Array): string | undefined {
  if (icc.length < 128 || Buffer.from(icc.buffer, icc.byteOffset, 128).toString('latin1', 36, 40) !== 'acsp') return undefined;
  return Buffer.from(icc.buffer, icc.byteOffset, 128).toString('latin1', 16, 20);
}

/**
 * Validates and patches caller metadata for one output image. Invalid ICC/XMP given by the caller is an
 * INVALID_OPTION error; EXIF/IPTC that cannot be parsed (they usually come from arbitrary input files) are dropped.
 */
export function prepareBlocks(metadata: MetadataInput, target: BlockTarget): MetadataBlocks {
  const blocks: MetadataBlocks = {};
  if (metadata.icc !== undefined) {
    const space = iccColourSpace(metadata.icc);
    if (space === undefined) {
      throw new UpscaleError('INVALID_OPTION', `Expected metadata.icc to be an ICC profile (with the 'acsp' signature), got ${metadata.icc.length} bytes without it`);
    }
    // A profile for another colour model would make readers reject or misread the image.
    const expected = target.grey ? 'GRAY' : 'RGB ';
    if (space === expected) blocks.icc = metadata.icc;
    else debug('dropping %s ICC profile: the output is %s', space.trim(), target.grey ? 'grey' : 'RGB');
  }
  const exif = metadata.exif === undefined ? undefined : normalizeExif(metadata.exif);
  if (metadata.exif !== undefined && exif === undefined) debug('dropping EXIF: not a valid TIFF structure');
  if (exif !== undefined) {
    const { width, height, density } = target;
    blocks.exif = patchExif(exif, density === undefined ? { width, height } : { width, height, density });
    // Where EXIF is the only place for the density, a block without resolution tags gets them.
    if (target.synthesizeExifDensity === true && density !== undefined && readExifDensity(blocks.exif) === undefined) {
      blocks.exif = addExifResolution(blocks.exif, density);
    }
  } else if (target.synthesizeExifDensity === true && target.density !== undefined) {
    blocks.exif = buildExif({ density: target.density });
  }
  if (metadata.xmp !== undefined) {
    const xmp = xmpBytes(metadata.xmp);
    if (!isXmpPacket(xmp)) {
      throw new UpscaleError('INVALID_OPTION', `Expected metadata.xmp to be an XMP packet (<x:xmpmeta> or <rdf:RDF>), got ${JSON.stringify(xmp.toString('utf8', 0, 40))}`);
    }
    blocks.xmp = patchXmp(xmp, target);
  }
  if (metadata.iptc !== undefined) {
    const iptc = normalizeIptc(metadata.iptc);
    if (iptc === undefined) debug('dropping IPTC: neither IPTC-IIM nor a Photoshop resource block holding it');
    else blocks.iptc = iptc;
  }
  return blocks;
}

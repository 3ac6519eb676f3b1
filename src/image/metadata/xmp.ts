/**
 * XMP packets: validation and the few properties that describe the pixels and so must follow them.
 *
 * Camera and editor XMP often repeats EXIF's orientation and size (tiff:Orientation, exif:PixelXDimension, ...);
 * keeping the old values would contradict the patched EXIF, so they are rewritten with the same rules as EXIF:
 * only where present, attribute or element form.
 */

/** What the written image is, for {@link patchXmp}. */
export interface XmpPatch {
  readonly width: number;
  readonly height: number;
}

/** True when the bytes look like an XMP packet (an `x:xmpmeta` or bare `rdf:RDF` document). */
export function isXmpPacket(xmp: Uint8Array): boolean {
  const text = Buffer.from(xmp.buffer, xmp.byteOffset, Math.min(xmp.byteLength, 1 << 20)).toString('utf8');
  return /<x:xmpmeta[\s>]/.test(text) || /<rdf:RDF[\s>]/.test(text);
}

/** XMP given as text or bytes, as UTF-8 bytes. */
export function xmpBytes(xmp: string | Uint8Array): Buffer {
  return typeof xmp === 'string' ? Buffer.from(xmp, 'utf8') : Buffer.from(xmp);
}

/** A copy of the packet with tiff:Orientation = 1 and the pixel-size properties set to the new size. */
export function patchXmp(xmp: Uint8Array, patch: XmpPatch): Buffer {
  const original = Buffer.from(xmp.buffer, xmp.byteOffset, xmp.byteLength).toString('utf8');
  let text = setProperty(original, 'tiff:Orientation', 1);
  text = setProperty(text, 'exif:PixelXDimension', patch.width);
  text = setProperty(text, 'exif:PixelYDimension', patch.height);
  text = setProperty(text, 'tiff:ImageWidth', patch.width);
  text = setProperty(text, 'tiff:ImageLength', patch.height);
  return text === original ? Buffer.from(xmp) : Buffer.from(text, 'utf8');
}

/**
 * The packet without the whitespace padding writers leave for in-place editing (often several KiB), for containers
 * with a hard size limit such as JPEG's 64 KiB APP1.
 */
export function compactXmp(xmp: Uint8Array): Buffer {
  const text = Buffer.from(xmp.buffer, xmp.byteOffset, xmp.byteLength).toString('utf8');
  return Buffer.from(text.replace(/(<\/x:xmpmeta>)\s+(<\?xpacket end=)/, '$1\n$2'), 'utf8');
}

function setProperty(text: string, name: string, value: number): string {
  // Names are plain `prefix:Local` words, safe inside a pattern.
  return text
    .replace(new RegExp(`(\\s${name}\\s*=\\s*)(["'])\\s*\\d+\\s*\\2`, 'g'), `$1$2${value}$2`)
    .replace(new RegExp(`(<${name}>)\\s*\\d+\\s*(</${name}>)`, 'g'), `$1${value}$2`);
}

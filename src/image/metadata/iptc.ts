/**
 * IPTC-IIM data and the Photoshop image resource blocks (IRB, "8BIM") that carry it in JPEG APP13 and PNG.
 *
 * {@link ImageMetadata.iptc} is always the bare IIM record stream (it starts with the 0x1C tag marker): the unit
 * that TIFF stores directly and that JPEG and PNG wrap in an IRB resource 0x0404.
 */

const IRB_SIGNATURE = '8BIM';
const IPTC_RESOURCE_ID = 0x0404;
const PHOTOSHOP_PREFIX = Buffer.from('Photoshop 3.0\0', 'latin1');
const IIM_TAG_MARKER = 0x1c;

/**
 * The bare IIM stream from any of the forms IPTC is found in: bare IIM, an IRB, or a JPEG APP13 payload
 * (`Photoshop 3.0\0` + IRB). `undefined` when there is no IPTC in it.
 */
export function normalizeIptc(data: Uint8Array): Buffer | undefined {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes[0] === IIM_TAG_MARKER) return Buffer.from(bytes);
  const irb = bytes.subarray(0, PHOTOSHOP_PREFIX.length).equals(PHOTOSHOP_PREFIX) ? bytes.subarray(PHOTOSHOP_PREFIX.length) : bytes;
  const iim = findResource(irb, IPTC_RESOURCE_ID);
  return iim !== undefined && iim[0] === IIM_TAG_MARKER ? Buffer.from(iim) : undefined;
}

/** An IRB holding one resource, 0x0404 (IPTC-IIM), as JPEG APP13 (after `Photoshop 3.0\0`) and PNG expect. */
export function photoshopIrbForIptc(iim: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.write(IRB_SIGNATURE, 0, 'latin1');
  header.writeUInt16BE(IPTC_RESOURCE_ID, 4);
  // Empty Pascal name: a zero length byte padded to an even size.
  header.writeUInt16BE(0, 6);
  header.writeUInt32BE(iim.length, 8);
  const padding = Buffer.alloc(iim.length % 2);
  return Buffer.concat([header, iim, padding]);
}

/** The JPEG APP13 payload for an IIM stream. */
export function photoshopApp13Payload(iim: Uint8Array): Buffer {
  return Buffer.concat([PHOTOSHOP_PREFIX, photoshopIrbForIptc(iim)]);
}

/** The data of the first resource with `id` in an IRB, or `undefined`. Stops quietly at malformed data. */
function findResource(irb: Uint8Array, id: number): Uint8Array | undefined {
  const view = Buffer.from(irb.buffer, irb.byteOffset, irb.byteLength);
  let offset = 0;
  while (offset + 12 <= view.length && view.toString('latin1', offset, offset + 4) === IRB_SIGNATURE) {
    const resourceId = view.readUInt16BE(offset + 4);
    const nameLength = view[offset + 6] ?? 0;
    // Pascal string: length byte + characters, padded to an even total.
    const nameSize = (1 + nameLength + 1) & ~1;
    const sizeAt = offset + 6 + nameSize;
    if (sizeAt + 4 > view.length) return undefined;
    const size = view.readUInt32BE(sizeAt);
    const dataAt = sizeAt + 4;
    if (dataAt + size > view.length) return undefined;
    if (resourceId === id) return view.subarray(dataAt, dataAt + size);
    offset = dataAt + size + (size % 2);
  }
  return undefined;
}

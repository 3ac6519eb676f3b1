/**
 * Recognising files that upscale wrote, so that rerunning on a directory does not enlarge its own outputs again
 * (`photo@4x.jpg` -> `photo@4x@4x.jpg`). Two signs, either one enough:
 * - the name: `<name>@<label>.<ext>` with a label as {@link sizeLabel} makes them (`4x`, `2.5x`, `w1920`, `h1080`,
 *   `1920x1080`, `fit3840x2160`);
 * - the provenance record in the file's XMP (namespace `urn:upscale:xmp:1.0#`, src/provenance.ts), which a renamed
 *   output still carries.
 */
import { open } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { UPSCALE_XMP_NAMESPACE } from '../provenance.js';

/** The size labels of output names; see sizeLabel in ./inputs.ts. */
const OUTPUT_NAME = /@(?:\d+(?:\.\d+)?x|w\d+|h\d+|\d+x\d+|fit\d+x\d+)$/;
/**
 * How much of the start and of the end of a file is searched for the XMP namespace. Our writers put XMP in the
 * leading metadata (PNG: right after IHDR; JPEG: APP1) or at the end (WebP: the XMP chunk; TIFF: tag data appended
 * after the image), so the pixels in the middle are never read.
 */
const WINDOW_BYTES = 256 * 1024;
const NAMESPACE = Buffer.from(UPSCALE_XMP_NAMESPACE, 'latin1');

export type OwnOutputSign = 'name' | 'provenance';

/** Whether a file name has the form of our outputs' names, e.g. `photo@4x.jpg`, `photo@fit3840x2160.webp`. */
export function hasOutputName(path: string): boolean {
  return OUTPUT_NAME.test(basename(path, extname(path)));
}

/**
 * Whether the file's XMP holds our provenance record: searches the first and last {@link WINDOW_BYTES} of the file
 * for the namespace (XMP is stored uncompressed in every format we write). Unreadable files count as not ours.
 */
export async function hasProvenance(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, WINDOW_BYTES));
    await handle.read(head, 0, head.length, 0);
    if (head.includes(NAMESPACE)) return true;
    if (size <= WINDOW_BYTES) return false;
    // Overlap the windows by the needle's length, so that a namespace cut at the boundary is still found.
    const tailStart = Math.max(WINDOW_BYTES - NAMESPACE.length, size - WINDOW_BYTES);
    const tail = Buffer.alloc(size - tailStart);
    await handle.read(tail, 0, tail.length, tailStart);
    return tail.includes(NAMESPACE);
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/** Why a file counts as one of our outputs, or `undefined` when it does not (the name is checked first: no I/O). */
export async function ownOutputSign(path: string): Promise<OwnOutputSign | undefined> {
  if (hasOutputName(path)) return 'name';
  return (await hasProvenance(path)) ? 'provenance' : undefined;
}

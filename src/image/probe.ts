/**
 * What can be learnt of an image from its header alone: its type (by content), its upright size and its frame
 * count, with the pixel limits applied, and no pixel decompressed. The server probes uploads with it at intake, so
 * that uploads refused by the queue or the limits cost no more than their bytes (a few hundred KB of PNG can hold 49
 * megapixels: 147 MB once decoded); the pixels are decoded once, when the job runs. Damage past the header is found
 * then, as INPUT_CORRUPT.
 */
import sharp, { type Metadata } from 'sharp';
import { UpscaleError } from '../errors.js';
import { countFrames } from './animation.js';
import { decodeError } from './decode.js';
import { describeContent, sniffFormat, SUPPORTED_INPUT_DESCRIPTION, type InputFormat } from './formats.js';

export interface ImageHeader {
  readonly format: InputFormat;
  /** Upright size (EXIF orientation applied) of the first frame. */
  readonly width: number;
  readonly height: number;
  readonly frames: number;
}

/**
 * Reads an upload's header and applies the pixel limit (all frames together for animations).
 *
 * @throws UpscaleError INPUT_EMPTY, INPUT_UNSUPPORTED (not an image we read, or a variant that cannot be decoded
 *   here), INPUT_CORRUPT (a header that cannot be read) or INPUT_TOO_LARGE, the message starting with `name`.
 */
export async function probeImage(bytes: Buffer, name: string, maxPixels: number): Promise<ImageHeader> {
  const where = { file: name };
  if (bytes.length === 0) throw new UpscaleError('INPUT_EMPTY', 'file is empty (0 bytes), expected an image', where);
  const format = sniffFormat(bytes);
  if (format === undefined) {
    throw new UpscaleError('INPUT_UNSUPPORTED', `not a supported image (expected ${SUPPORTED_INPUT_DESCRIPTION}), found ${describeContent(bytes)}`, where);
  }
  let header: Metadata;
  try {
    header = await sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata();
  } catch (error) {
    throw decodeError(error, format, where);
  }
  const { width, height } = header.autoOrient;
  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new UpscaleError('INPUT_TOO_LARGE', `image is ${width}x${height} (${pixels} pixels), more than the limit of ${maxPixels} pixels`, where);
  }
  const frames = await countFrames(bytes);
  if (frames > 1 && pixels * frames > maxPixels) {
    throw new UpscaleError(
      'INPUT_TOO_LARGE',
      `animation of ${frames} frames of ${width}x${height} has ${pixels * frames} pixels, more than the limit of ${maxPixels} pixels`,
      where,
    );
  }
  return { format, width, height, frames };
}

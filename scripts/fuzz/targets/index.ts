/** Every fuzz target, by name, in the order `npm run fuzz -- all` runs them. */
import type { FuzzTarget } from '../target.js';
import { exif, iptc, jpeg, png, pngMetadata, tiff, webp, xmp } from './images.js';
import { architectures, ncnn, ncnnParam, onnx, onnxInterpolate, tfjs, weights } from './models.js';
import { multipart } from './server.js';

export const TARGETS: ReadonlyMap<string, FuzzTarget> = new Map(
  [weights, architectures, ncnnParam, ncnn, onnx, onnxInterpolate, tfjs, png, pngMetadata, jpeg, webp, tiff, exif, iptc, xmp, multipart].map((t) => [t.name, t]),
);

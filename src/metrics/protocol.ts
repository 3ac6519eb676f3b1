/**
 * The standard super-resolution evaluation protocol (../shared/eval/README.md), the parts that are not metrics.
 */
import { createRaster, type Raster } from '../image/raster.js';

/** Protocol step 1: crop to a multiple of the scale, keeping the top-left corner. */
export function cropToMultiple(r: Raster, scale: number): Raster {
  const width = r.width - (r.width % scale);
  const height = r.height - (r.height % scale);
  if (width === r.width && height === r.height) return r;
  const out = createRaster(width, height, r.channels, r.depth);
  const rowIn = r.width * r.channels;
  const rowOut = width * r.channels;
  for (let y = 0; y < height; y++) out.data.set(r.data.subarray(y * rowIn, y * rowIn + rowOut), y * rowOut);
  return out;
}

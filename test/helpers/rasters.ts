/** Small raster helpers for tests: deterministic images and comparisons. */
import { createRaster, type Channels, type Depth, type Raster } from '../../src/image/raster.js';
import { mulberry32 } from '../fixtures/models.js';

/** A smooth random-ish image: gradients plus noise, so both edges and flat areas are exercised. */
export function testRaster(width: number, height: number, channels: Channels = 3, depth: Depth = 8, seed = 1): Raster {
  const raster = createRaster(width, height, channels, depth);
  const next = mulberry32(seed);
  const max = depth === 16 ? 65535 : 255;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const smooth = 0.5 + 0.4 * Math.sin((x * (c + 1)) / 7 + y / 11);
        raster.data[(y * width + x) * channels + c] = Math.round(Math.min(1, Math.max(0, smooth + (next() - 0.5) * 0.3)) * max);
      }
    }
  }
  return raster;
}

export function maxAbsDiff(a: Raster, b: Raster): number {
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) {
    throw new Error(`size mismatch: ${a.width}x${a.height}x${a.channels} vs ${b.width}x${b.height}x${b.channels}`);
  }
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i]! - b.data[i]!));
  return d;
}

/** Nearest-neighbour enlargement by an integer factor, the exact expected output of the nearest fixture models. */
export function nearestRaster(src: Raster, scale: number): Raster {
  const out = createRaster(src.width * scale, src.height * scale, src.channels, src.depth);
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const s = (Math.floor(y / scale) * src.width + Math.floor(x / scale)) * src.channels;
      const d = (y * out.width + x) * src.channels;
      for (let c = 0; c < src.channels; c++) out.data[d + c] = src.data[s + c]!;
    }
  }
  return out;
}

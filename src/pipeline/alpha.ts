/**
 * Alpha handling. Colour under fully transparent pixels is arbitrary (often black); a network or a resampling
 * kernel mixes it into the visible edge pixels, which shows as a dark or light fringe once the alpha is enlarged.
 * So before enlarging, transparent pixels take the colour of their nearest visible neighbours (bleeding outward),
 * and the alpha is enlarged on its own.
 */
import { createRaster, type Raster } from '../image/raster.js';

/** Splits an image with alpha into its colour and its alpha; returns alpha undefined when there is none. */
export function splitAlpha(raster: Raster): { colour: Raster; alpha: Raster | undefined } {
  if (raster.channels === 1 || raster.channels === 3) return { colour: raster, alpha: undefined };
  const colourChannels = raster.channels === 2 ? 1 : 3;
  const colour = createRaster(raster.width, raster.height, colourChannels, raster.depth);
  const alpha = createRaster(raster.width, raster.height, 1, raster.depth);
  const n = raster.width * raster.height;
  const src = raster.data;
  for (let i = 0, s = 0, c = 0; i < n; i++) {
    for (let k = 0; k < colourChannels; k++) colour.data[c++] = src[s++]!;
    alpha.data[i] = src[s++]!;
  }
  return { colour, alpha };
}

export function joinAlpha(colour: Raster, alpha: Raster): Raster {
  if (colour.width !== alpha.width || colour.height !== alpha.height) {
    throw new RangeError(`Expected alpha ${alpha.width}x${alpha.height} to match colour ${colour.width}x${colour.height}`);
  }
  const channels = colour.channels === 1 ? 2 : 4;
  const out = createRaster(colour.width, colour.height, channels, colour.depth);
  const n = colour.width * colour.height;
  const k = colour.channels;
  for (let i = 0, s = 0, d = 0; i < n; i++) {
    for (let j = 0; j < k; j++) out.data[d++] = colour.data[s++]!;
    out.data[d++] = alpha.data[i]!;
  }
  return out;
}

/**
 * Fills the colour of fully transparent pixels, in place, with the mean colour of their already-filled
 * 8-neighbours, ring by ring outward from the visible pixels (a breadth-first flood: linear time).
 */
export function bleedTransparentColour(colour: Raster, alpha: Raster): void {
  const { width, height, channels } = colour;
  const n = width * height;
  const filled = new Uint8Array(n);
  let frontier: number[] = [];
  for (let i = 0; i < n; i++) if (alpha.data[i] !== 0) filled[i] = 1;
  if (filled.every((f) => f === 1) || filled.every((f) => f === 0)) return;
  const inFrontier = new Uint8Array(n);
  /** Calls `visit` with the index of each of the (up to 8) neighbours of pixel `i`. */
  const neighbours = (i: number, visit: (j: number) => void): void => {
    const x = i % width;
    const y = (i - x) / width;
    for (let yy = Math.max(0, y - 1); yy <= Math.min(height - 1, y + 1); yy++) {
      for (let xx = Math.max(0, x - 1); xx <= Math.min(width - 1, x + 1); xx++) {
        if (yy !== y || xx !== x) visit(yy * width + xx);
      }
    }
  };
  const pushNeighbours = (i: number, into: number[]): void =>
    neighbours(i, (j) => {
      if (!filled[j] && !inFrontier[j]) {
        inFrontier[j] = 1;
        into.push(j);
      }
    });
  for (let i = 0; i < n; i++) if (filled[i]) pushNeighbours(i, frontier);
  const sum = new Float64Array(channels);
  while (frontier.length > 0) {
    for (const i of frontier) {
      sum.fill(0);
      let count = 0;
      neighbours(i, (j) => {
        if (!filled[j]) return;
        count++;
        for (let c = 0; c < channels; c++) sum[c]! += colour.data[j * channels + c]!;
      });
      for (let c = 0; c < channels; c++) colour.data[i * channels + c] = Math.round(sum[c]! / count);
    }
    // Mark the whole ring filled only after computing it, so each ring reads only the previous ones.
    for (const i of frontier) filled[i] = 1;
    const next: number[] = [];
    for (const i of frontier) pushNeighbours(i, next);
    frontier = next;
  }
}

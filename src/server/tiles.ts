/**
 * Tile previews: the raster of the pass being filled (a live view given by the pipeline's 'tile' events) and the
 * rectangles finished in it, so that a finished tile can be cut out and sent as a PNG while the job runs and just
 * after. Classical methods have no tiles: their one "tile" is the whole result, read back from the output file.
 */
import { decodeImage, encodeImage, createRaster, type Raster } from '../image/index.js';
import type { Rect } from '../tiling/plan.js';

export interface TilePreview {
  /** Raster of the current pass; undefined when the tiles come from the result file. */
  raster: Raster | undefined;
  /** Finished tiles of the current pass (and frame), by `${pass}/${index}`. */
  readonly rects: Map<string, Rect>;
  /** For a classical method: the output file whose pixels make the one tile. */
  resultFile: string | undefined;
}

export function createTilePreview(): TilePreview {
  return { raster: undefined, rects: new Map(), resultFile: undefined };
}

export function tileKey(pass: number, index: number): string {
  return `${pass}/${index}`;
}

/** Records a finished tile; a new raster (a new pass or frame) forgets the tiles of the previous one. */
export function recordTile(preview: TilePreview, pass: number, index: number, rect: Rect, raster: Raster | undefined): void {
  if (raster !== undefined && raster !== preview.raster) {
    preview.raster = raster;
    preview.rects.clear();
  }
  preview.rects.set(tileKey(pass, index), rect);
}

/** The PNG of a finished tile, or undefined when it is not (or no longer) known. */
export async function tilePng(preview: TilePreview, pass: number, index: number): Promise<Buffer | undefined> {
  const rect = preview.rects.get(tileKey(pass, index));
  if (rect === undefined) return undefined;
  if (preview.resultFile !== undefined) {
    const { raster } = await decodeImage(preview.resultFile, { maxPixels: Infinity });
    return encodeImage(crop(raster, rect), { format: 'png', compressionLevel: 1 });
  }
  if (preview.raster === undefined) return undefined;
  return encodeImage(crop(preview.raster, rect), { format: 'png', compressionLevel: 1 });
}

/** Copies a rectangle (clamped to the raster) out of a raster. */
export function crop(raster: Raster, rect: Rect): Raster {
  const x = Math.max(0, Math.min(rect.x, raster.width));
  const y = Math.max(0, Math.min(rect.y, raster.height));
  const width = Math.max(1, Math.min(rect.width, raster.width - x));
  const height = Math.max(1, Math.min(rect.height, raster.height - y));
  if (x === 0 && y === 0 && width === raster.width && height === raster.height) return raster;
  const out = createRaster(width, height, raster.channels, raster.depth);
  const row = width * raster.channels;
  for (let r = 0; r < height; r++) {
    const from = ((y + r) * raster.width + x) * raster.channels;
    out.data.set(raster.data.subarray(from, from + row), r * row);
  }
  return out;
}

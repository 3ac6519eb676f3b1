/**
 * Pure tile planning. The image is cut into a grid of "core" rectangles that partition it; each core is grown by
 * `overlap` pixels on every side (clamped to the image) to form the region the model sees. Only the core of each
 * output tile is kept, so when the model's receptive field fits in the overlap the stitched result is identical to
 * running the whole image at once: no blending, no seams.
 */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Tile {
  readonly index: number;
  /** The part of the input this tile is responsible for. */
  readonly core: Rect;
  /** The part of the input sent to the model: the core plus context. */
  readonly padded: Rect;
}

/**
 * @param tileSize the largest core edge, in input pixels
 * @param overlap context added around each core, in input pixels
 * @param alignment every padded region starts on a multiple of this (a network with strided layers that pads to its
 *   own multiple sees them at the same phase as in the whole image); cores and overlap are rounded to it
 * @example planTiles(100, 70, 48, 8) // 3 x 2 tiles with cores 33/33/34 by 35/35 pixels
 */
export function planTiles(width: number, height: number, tileSize: number, overlap: number, alignment = 1): Tile[] {
  if (!Number.isInteger(tileSize) || tileSize < 1) throw new RangeError(`Expected tileSize to be a positive integer, got ${tileSize}`);
  if (!Number.isInteger(overlap) || overlap < 0) throw new RangeError(`Expected overlap to be a non-negative integer, got ${overlap}`);
  if (!Number.isInteger(alignment) || alignment < 1) throw new RangeError(`Expected alignment to be a positive integer, got ${alignment}`);
  const context = Math.ceil(overlap / alignment) * alignment;
  const xs = splitEvenly(width, Math.ceil(width / tileSize), alignment);
  const ys = splitEvenly(height, Math.ceil(height / tileSize), alignment);
  const tiles: Tile[] = [];
  for (const [y0, y1] of ys) {
    for (const [x0, x1] of xs) {
      const px0 = Math.max(0, x0 - context);
      const py0 = Math.max(0, y0 - context);
      const px1 = Math.min(width, x1 + context);
      const py1 = Math.min(height, y1 + context);
      tiles.push({
        index: tiles.length,
        core: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
        padded: { x: px0, y: py0, width: px1 - px0, height: py1 - py0 },
      });
    }
  }
  return tiles;
}

/**
 * Splits [0, length) into `parts` contiguous ranges whose sizes differ by at most one `unit`, every boundary a
 * multiple of `unit` (but the end); fewer ranges when there are fewer units than parts.
 */
function splitEvenly(length: number, parts: number, unit = 1): [number, number][] {
  const units = Math.ceil(length / unit);
  const count = Math.min(parts, units);
  const at = (i: number): number => Math.min(length, Math.round((i * units) / count) * unit);
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) ranges.push([at(i), at(i + 1)]);
  return ranges;
}

export interface TileSizeHints {
  /** Estimated bytes of working memory the model needs per input pixel of a tile. */
  readonly bytesPerInputPixel: number;
  /** Tile edges must be multiples of this (window attention, pixel-unshuffle). */
  readonly sizeMultiple: number;
  /** False when tiles change the model's result (global pooling): then one tile for the whole image if it fits. */
  readonly tilingSafe?: boolean | undefined;
}

/** Largest auto tile: beyond this, bigger tiles stop paying off on a CPU while progress and cancel get coarser. */
export const MAX_AUTO_TILE = 512;
const MIN_TILE = 32;

/**
 * Picks a tile edge from a memory budget: the largest square whose working memory fits, capped at MAX_AUTO_TILE,
 * rounded down to the model's size multiple. A model that is not tiling-safe gets the whole `image` as one tile
 * when its working memory fits the budget (else tiles as usual: an approximation, closer the larger they are).
 */
export function chooseTileSize(hints: TileSizeHints, memoryBudgetBytes: number, image?: { width: number; height: number }): number {
  if (hints.tilingSafe === false && image !== undefined && image.width * image.height * hints.bytesPerInputPixel <= memoryBudgetBytes) {
    return Math.max(image.width, image.height);
  }
  const fit = Math.floor(Math.sqrt(memoryBudgetBytes / hints.bytesPerInputPixel));
  const edge = Math.max(MIN_TILE, Math.min(MAX_AUTO_TILE, fit));
  const multiple = Math.max(1, hints.sizeMultiple);
  return Math.max(multiple, Math.floor(edge / multiple) * multiple);
}

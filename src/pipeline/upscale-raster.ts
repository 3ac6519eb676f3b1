/**
 * The upscaling pipeline on pixels: alpha split and colour bleed, one or more network passes over tiles (or a
 * classical resample), a final high-quality resize to the exact target, alpha enlarged on its own and joined back.
 */
import { throwIfAborted } from '../errors.js';
import type { Depth, Raster } from '../image/raster.js';
import type { LoadedModel, TileModel } from '../models/types.js';
import { resize } from '../resample/index.js';
import { chooseTileSize, planTiles, type Rect } from '../tiling/plan.js';
import { runTiled } from '../tiling/run.js';
import { bleedTransparentColour, joinAlpha, splitAlpha } from './alpha.js';
import { passesFor, type Size } from './size.js';

/** Progress of one image, as a tagged union a UI can paint from. */
export type UpscaleProgress =
  | {
      readonly stage: 'tile';
      /** 1-based network pass (x16 with a x4 network is two passes). */
      readonly pass: number;
      readonly passes: number;
      /** 0-based index of the tile just finished, and the number of tiles in this pass. */
      readonly index: number;
      readonly total: number;
      /** Where the finished tile lies in this pass's output, in pixels. */
      readonly rect: Rect;
      readonly passSize: Size;
      /** Share of all inference work done, 0..1. */
      readonly fraction: number;
      readonly elapsedMs: number;
      /** Estimated time left, undefined until the first tile is done. */
      readonly etaMs: number | undefined;
      /**
       * The raster of this pass being filled (`passSize`, colour only, 8- or 16-bit): a live view, complete inside
       * `rect` once this event fires; for previews (crop `rect` out of it), not to be modified or kept.
       */
      readonly output?: Raster | undefined;
    }
  | { readonly stage: 'resize'; readonly from: Size; readonly to: Size }
  | {
      /**
       * Animations only: frame `index` (0-based) of `total` starts; the 'tile' and 'resize' events that follow are
       * that frame's (their `fraction` is the share of the frame done).
       */
      readonly stage: 'frame';
      readonly index: number;
      readonly total: number;
      readonly elapsedMs: number;
      /** Estimated time left for the whole animation, undefined until the first frame is done. */
      readonly etaMs: number | undefined;
    };

export interface RasterPipelineOptions {
  /** Tile edge in input pixels, or 'auto' to choose from the memory budget. @default 'auto' */
  readonly tileSize?: number | 'auto' | undefined;
  /** Working memory the tile size is chosen for. @default 1 GiB */
  readonly memoryBudgetBytes?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((event: UpscaleProgress) => void) | undefined;
}

const DEFAULT_MEMORY_BUDGET = 1024 ** 3;
/** The least the tiles get, however large the output. */
const MIN_TILE_BUDGET = 256 * 1024 ** 2;

/**
 * Working memory for tiles when the caller sets none: the default budget less what the enlarged image itself takes
 * (16-bit between passes), so that a huge output and a heavy network's tiles together stay near the budget.
 */
export function defaultTileBudget(colour: Raster, target: Size, passes: number): number {
  const bytesPerSample = passes > 1 || colour.depth === 16 ? 2 : 1;
  const outputBytes = target.width * target.height * colour.channels * bytesPerSample;
  return Math.max(MIN_TILE_BUDGET, DEFAULT_MEMORY_BUDGET - outputBytes);
}
/** Kernel for the final downscale after network passes, and for alpha next to a network. */
const FINISH_KERNEL = 'lanczos3';
const ALPHA_KERNEL = 'bicubic';

export async function upscaleRaster(
  source: Raster,
  model: LoadedModel,
  target: Size,
  options: RasterPipelineOptions = {},
): Promise<Raster> {
  const { signal } = options;
  throwIfAborted(signal);
  const resizeOptions = signal === undefined ? {} : { signal };
  const { colour, alpha } = splitAlpha(source);
  if (alpha !== undefined) bleedTransparentColour(colour, alpha);

  let enlarged: Raster;
  if (model.kind === 'classical') {
    options.onProgress?.({ stage: 'resize', from: source, to: target });
    enlarged = resize(colour, target.width, target.height, model.kernel, resizeOptions);
  } else {
    enlarged = await runNetwork(colour, model.network, target, options);
  }
  if (alpha === undefined) return enlarged;
  const alphaKernel = model.kind === 'classical' ? model.kernel : ALPHA_KERNEL;
  return joinAlpha(enlarged, resize(alpha, target.width, target.height, alphaKernel, resizeOptions));
}

async function runNetwork(colour: Raster, network: TileModel, target: Size, options: RasterPipelineOptions): Promise<Raster> {
  const passes = passesFor(colour, target, network.scale);
  const tileSize =
    options.tileSize === undefined || options.tileSize === 'auto'
      ? chooseTileSize(network, options.memoryBudgetBytes ?? defaultTileBudget(colour, target, passes), colour)
      : options.tileSize;
  const overlap = network.receptiveField;

  // Work is counted in padded input pixels, so the estimate includes the overlap each pass pays for.
  const passWork: number[] = [];
  for (let p = 0, side = 1; p < passes; p++, side *= network.scale) {
    const tiles = planTiles(colour.width * side, colour.height * side, tileSize, overlap, network.tileAlignment);
    passWork.push(tiles.reduce((sum, t) => sum + t.padded.width * t.padded.height, 0));
  }
  const totalWork = passWork.reduce((a, b) => a + b, 0);
  const started = performance.now();
  let workDone = 0;

  let current = colour;
  for (let pass = 1; pass <= passes; pass++) {
    const last = pass === passes && current.width * network.scale === target.width && current.height * network.scale === target.height;
    // Intermediate results keep 16 bits so that a second pass or the final resize starts from full precision.
    const outputDepth: Depth = last ? colour.depth : 16;
    const tiles = planTiles(current.width, current.height, tileSize, overlap, network.tileAlignment);
    const passSize = { width: current.width * network.scale, height: current.height * network.scale };
    current = await runTiled(current, network, {
      tileSize,
      overlap,
      outputDepth,
      signal: options.signal,
      onTile: (event) => {
        const padded = tiles[event.index]!.padded;
        workDone += padded.width * padded.height;
        const elapsedMs = performance.now() - started;
        const fraction = workDone / totalWork;
        options.onProgress?.({
          stage: 'tile',
          pass,
          passes,
          index: event.index,
          total: event.total,
          rect: event.rect,
          passSize,
          fraction,
          elapsedMs,
          etaMs: fraction > 0 ? (elapsedMs * (1 - fraction)) / fraction : undefined,
          ...(event.output === undefined ? {} : { output: event.output }),
        });
      },
    });
  }
  if (current.width === target.width && current.height === target.height && current.depth === colour.depth) return current;
  options.onProgress?.({ stage: 'resize', from: current, to: target });
  const finished = resize(current, target.width, target.height, FINISH_KERNEL, options.signal === undefined ? {} : { signal: options.signal });
  return finished.depth === colour.depth ? finished : toDepth(finished, colour.depth);
}

/** Converts 16-bit samples to 8-bit with rounding (x / 257). */
function toDepth(raster: Raster, depth: Depth): Raster {
  if (raster.depth === depth) return raster;
  if (depth !== 8) throw new RangeError(`Expected to convert to 8-bit, got ${depth}`);
  const out = new Uint8Array(raster.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(raster.data[i]! / 257);
  return { width: raster.width, height: raster.height, channels: raster.channels, depth: 8, data: out };
}

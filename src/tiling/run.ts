/**
 * Drives a network over the tiles of an image: cut, normalise to float NCHW, infer, keep each tile's core, and
 * write it straight into the integer output raster (no full-size float buffer is ever held).
 */
import { throwIfAborted, UpscaleError } from '../errors.js';
import { createRaster, maxSample, type Depth, type Raster } from '../image/raster.js';
import type { TileModel } from '../models/types.js';
import type { ImageTensor } from '../runtime/onnx.js';
import { planTiles, type Rect, type Tile } from './plan.js';

export interface TileDoneEvent {
  readonly index: number;
  readonly total: number;
  /** The rectangle just written, in output pixels. */
  readonly rect: Rect;
  /** The output raster being filled (a live view, complete inside `rect`); for previews, not to be modified. */
  readonly output?: Raster;
}

export interface RunTiledOptions {
  readonly tileSize: number;
  readonly overlap: number;
  readonly outputDepth: Depth;
  readonly signal?: AbortSignal | undefined;
  readonly onTile?: ((event: TileDoneEvent) => void) | undefined;
}

/**
 * Upscales a grey (1 channel) or RGB (3 channel) raster by the network's scale. Grey images go through an RGB
 * network as R = G = B and come back as luma; RGB images through a 1-channel network go channel by channel.
 */
export async function runTiled(source: Raster, model: TileModel, options: RunTiledOptions): Promise<Raster> {
  if (source.channels !== 1 && source.channels !== 3) {
    throw new RangeError(`Expected a grey or RGB raster, got ${source.channels} channels`);
  }
  const { scale } = model;
  const output = createRaster(source.width * scale, source.height * scale, source.channels, options.outputDepth);
  const tiles = planTiles(source.width, source.height, options.tileSize, options.overlap, model.tileAlignment);
  // A 1-channel network sees an RGB image one channel at a time.
  const groups = model.channels === 1 ? source.channels : 1;
  const jobs = tiles.flatMap((tile) => Array.from({ length: groups }, (_, group) => ({ tile, group })));
  const start = (index: number): Promise<{ input: ImageTensor; result: ImageTensor }> | undefined => {
    const job = jobs[index];
    if (job === undefined) return undefined;
    const input = readTile(source, job.tile.padded, model, job.group);
    return model.run(input).then((result) => ({ input, result }));
  };

  // The next tile's inference runs (in onnxruntime's threads) while this one is written out.
  let pending = start(0);
  try {
    for (let index = 0; pending !== undefined; index++) {
      const { input, result } = await pending;
      throwIfAborted(options.signal);
      pending = start(index + 1);
      if (result.width !== input.width * scale || result.height !== input.height * scale) {
        throw new UpscaleError(
          'MODEL_INVALID',
          `expected a ${input.width * scale}x${input.height * scale} output for a ${input.width}x${input.height} input at x${scale}, got ${result.width}x${result.height}`,
        );
      }
      const { tile, group } = jobs[index]!;
      writeCore(output, result, tile, scale, model, model.channels === 1 ? group : -1);
      if (group === groups - 1) {
        const { core } = tile;
        options.onTile?.({
          index: tile.index,
          total: tiles.length,
          rect: { x: core.x * scale, y: core.y * scale, width: core.width * scale, height: core.height * scale },
          output,
        });
      }
    }
  } finally {
    // Whatever stopped the loop, let an inference still in flight finish quietly.
    void pending?.catch(() => undefined);
  }
  return output;
}

/** Copies a region into a float NCHW tensor, padded by edge replication up to the model's size multiple. */
function readTile(source: Raster, region: Rect, model: TileModel, group: number): ImageTensor {
  const multiple = model.sizeMultiple;
  const width = Math.ceil(region.width / multiple) * multiple;
  const height = Math.ceil(region.height / multiple) * multiple;
  const plane = width * height;
  const data = new Float32Array(plane * model.channels);
  const { channels: stride, data: samples } = source;
  const factor = model.range / maxSample(source.depth);
  for (let y = 0; y < height; y++) {
    const sy = region.y + Math.min(y, region.height - 1);
    for (let x = 0; x < width; x++) {
      const sx = region.x + Math.min(x, region.width - 1);
      const at = (sy * source.width + sx) * stride;
      const o = y * width + x;
      if (model.channels === 1) {
        data[o] = samples[at + group]! * factor;
      } else if (stride === 1) {
        const v = samples[at]! * factor;
        data[o] = v;
        data[o + plane] = v;
        data[o + 2 * plane] = v;
      } else {
        data[o] = samples[at]! * factor;
        data[o + plane] = samples[at + 1]! * factor;
        data[o + 2 * plane] = samples[at + 2]! * factor;
      }
    }
  }
  return { data, channels: model.channels, height, width };
}

/**
 * Writes the core of a tile's output into the raster, clamped and rounded. `only` >= 0 writes a 1-channel result
 * into that channel of the output.
 */
function writeCore(output: Raster, result: ImageTensor, tile: Tile, scale: number, model: TileModel, only: number): void {
  const { core, padded } = tile;
  const max = maxSample(output.depth);
  const factor = max / model.range;
  const plane = result.width * result.height;
  const src = result.data;
  const dst = output.data;
  const stride = output.channels;
  const offsetX = (core.x - padded.x) * scale;
  const offsetY = (core.y - padded.y) * scale;
  const outX = core.x * scale;
  const outY = core.y * scale;
  const w = core.width * scale;
  const h = core.height * scale;
  const grey = only < 0 && stride === 1;
  // Channel by channel: one tight loop per plane (RGB network into RGB, or a 1-channel result into its channel).
  const planes = grey ? 0 : only >= 0 ? 1 : stride;
  for (let c = 0; c < planes; c++) {
    const from = only >= 0 ? 0 : c * plane;
    const channel = only >= 0 ? only : c;
    for (let y = 0; y < h; y++) {
      let i = from + (offsetY + y) * result.width + offsetX;
      let at = ((outY + y) * output.width + outX) * stride + channel;
      for (let x = 0; x < w; x++, i++, at += stride) {
        const v = src[i]! * factor;
        // Clamp, then round half up; `| 0` truncates the non-negative sum fast.
        dst[at] = v <= 0 ? 0 : v >= max ? max : (v + 0.5) | 0;
      }
    }
  }
  if (!grey) return;
  // An RGB network fed R = G = B: keep its luma (BT.601).
  for (let y = 0; y < h; y++) {
    let i = (offsetY + y) * result.width + offsetX;
    let at = (outY + y) * output.width + outX;
    for (let x = 0; x < w; x++, i++, at++) {
      const v = (0.299 * src[i]! + 0.587 * src[i + plane]! + 0.114 * src[i + 2 * plane]!) * factor;
      dst[at] = v <= 0 ? 0 : v >= max ? max : (v + 0.5) | 0;
    }
  }
}

/**
 * An image in memory: interleaved samples, row-major, top-left first.
 *
 * Samples stay integers at the image's own depth (8 or 16 bits) so that a 192-megapixel output fits in memory
 * (576 MB at 8 bits RGB, where float32 would need 2.3 GB); code that needs floats converts one tile or strip at a time.
 */
export type Depth = 8 | 16;
export type Channels = 1 | 2 | 3 | 4;
export type SampleArray = Uint8Array | Uint16Array;

export interface Raster {
  readonly width: number;
  readonly height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  readonly channels: Channels;
  readonly depth: Depth;
  readonly data: SampleArray;
}

/** Largest sample value for a depth: 255 or 65535. */
export function maxSample(depth: Depth): number {
  return depth === 16 ? 65535 : 255;
}

export function hasAlpha(raster: Pick<Raster, 'channels'>): boolean {
  return raster.channels === 2 || raster.channels === 4;
}

export function colourChannels(raster: Pick<Raster, 'channels'>): 1 | 3 {
  return raster.channels <= 2 ? 1 : 3;
}

/** A zero-filled raster. */
export function createRaster(width: number, height: number, channels: Channels, depth: Depth): Raster {
  const length = width * height * channels;
  const data = depth === 16 ? new Uint16Array(length) : new Uint8Array(length);
  return { width, height, channels, depth, data };
}

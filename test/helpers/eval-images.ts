/** Loads the 8-bit PNGs of ../shared/eval as rasters. */
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { Channels, Raster } from '../../src/image/raster.js';

export async function loadPng(path: string): Promise<Raster> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  assert.equal(data.length, info.width * info.height * info.channels, `${path}: expected 8-bit samples`);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { width: info.width, height: info.height, channels: info.channels as Channels, depth: 8, data: bytes };
}

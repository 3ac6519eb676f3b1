/**
 * The on-disk cache of converted models: a model converted once (from TensorFlow.js layers, and later from PyTorch
 * or NCNN files) is stored as ONNX under a key derived from its source weights, so the conversion runs once.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { removeStaleTemporaries, temporaryPathFor } from '../files.js';

const debug = debuglog('upscale');

/**
 * `$UPSCALE_CACHE_DIR`, else `$XDG_CACHE_HOME/upscale`, else `%LOCALAPPDATA%\upscale` on Windows, else
 * `~/.cache/upscale`.
 */
export function cacheDirectory(): string {
  const env = process.env;
  if (env.UPSCALE_CACHE_DIR) return env.UPSCALE_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'upscale');
  if (process.platform === 'win32' && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, 'upscale');
  return join(homedir(), '.cache', 'upscale');
}

/** SHA-256 (hex) over several byte arrays, each prefixed by its length so that boundaries count. */
export function hashParts(parts: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(String(part.length));
    hash.update(':');
    hash.update(part);
  }
  return hash.digest('hex');
}

/**
 * Returns the cached ONNX bytes for `key`, or builds, stores and returns them. A cache that cannot be written
 * (read-only home, full disk) only costs the conversion next time; it never fails the run.
 */
export async function cachedModel(key: string, build: () => Promise<Uint8Array> | Uint8Array): Promise<{ bytes: Uint8Array; path: string; hit: boolean }> {
  const dir = join(cacheDirectory(), 'models');
  const path = join(dir, `${key}.onnx`);
  try {
    const bytes = new Uint8Array(await readFile(path));
    if (bytes.length > 0) return { bytes, path, hit: true };
  } catch {
    // Not cached yet.
  }
  const bytes = await build();
  const temp = temporaryPathFor(path);
  try {
    await mkdir(dir, { recursive: true });
    // A conversion killed half-written leaves its temporary; the next one to write here removes it.
    await removeStaleTemporaries(dir);
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    debug('could not cache %s: %s', path, error instanceof Error ? error.message : String(error));
  }
  return { bytes, path, hit: false };
}

/**
 * Like {@link cachedModel}, with a JSON description stored beside the ONNX bytes (`<key>.json`), so that a cache
 * hit answers without reading the source weights again.
 */
export async function cachedModelWithInfo<T>(
  key: string,
  build: () => Promise<{ bytes: Uint8Array; info: T }>,
): Promise<{ bytes: Uint8Array; info: T; hit: boolean }> {
  const dir = join(cacheDirectory(), 'models');
  const infoPath = join(dir, `${key}.json`);
  let info: T | undefined;
  try {
    info = JSON.parse(await readFile(infoPath, 'utf8')) as T;
  } catch {
    // Not cached yet, or unreadable: rebuilt below.
  }
  let built: T | undefined;
  const { bytes, hit } = await cachedModel(key, async () => {
    const result = await build();
    built = result.info;
    return result.bytes;
  });
  if (hit && info !== undefined) return { bytes, info, hit: true };
  if (built === undefined) {
    // ONNX cached but its description lost: rebuild both rather than trust half an entry.
    const result = await build();
    ({ info: built } = result);
    await writeAtomically(infoPath, JSON.stringify(built));
    return { bytes: result.bytes, info: built, hit: false };
  }
  await writeAtomically(infoPath, JSON.stringify(built));
  return { bytes, info: built, hit: false };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    await writeFile(temp, text);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    debug('could not cache %s: %s', path, error instanceof Error ? error.message : String(error));
  }
}

/**
 * NCNN models (.param text + .bin weights, as shipped with realesrgan-ncnn-vulkan, Upscayl, waifu2x-ncnn-vulkan and
 * realcugan-ncnn-vulkan) converted to ONNX, without ncnn or Python.
 */
import { readFile, stat } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import { ncnnToOnnx } from './convert.js';
import type { NcnnConversion, NcnnConvertOptions } from './convert.js';

export { ncnnToOnnx } from './convert.js';
export type { NcnnConversion, NcnnConvertOptions } from './convert.js';
export type { NcnnBorder, NcnnBorderMode, NcnnProgram } from './border.js';
export { looksLikeCuganPro } from './border.js';
export { parseNcnnParam, NCNN_MAGIC } from './param.js';
export type { NcnnLayer, NcnnParam, NcnnParamValue } from './param.js';
export { NcnnBinReader } from './bin.js';
export type { NcnnStorage, NcnnWeights } from './bin.js';
export { LAYER_CONVERTERS } from './layers/index.js';

/** A .param larger than this is not a network description. */
const MAX_PARAM_BYTES = 64 * 1024 ** 2;
/** Refuse weight files larger than this before reading them (the largest NCNN SR models are ~70 MB). */
const MAX_BIN_BYTES = 2 * 1024 ** 3;

/** A converted NCNN model and where it came from. */
export interface NcnnModelFiles extends NcnnConversion {
  readonly paramPath: string;
  readonly binPath: string;
}

/**
 * Reads `<name>.param` and the `<name>.bin` beside it and converts them to ONNX.
 *
 * @throws UpscaleError `MODEL_NOT_FOUND` when either file is missing (naming it), `MODEL_INVALID` when either is
 *   empty or too large, or the conversion fails (see {@link ncnnToOnnx}).
 * @example
 * const model = await readNcnnModel('models/realesr-animevideov3-x2.param');
 * model.scale; // 2
 * await writeFile('realesr-animevideov3-x2.onnx', model.onnx);
 */
export async function readNcnnModel(paramPath: string, options: Omit<NcnnConvertOptions, 'binFile'> = {}): Promise<NcnnModelFiles> {
  if (typeof paramPath !== 'string' || paramPath === '') throw new TypeError(`Expected paramPath to be a non-empty string, got ${JSON.stringify(paramPath)}`);
  if (!/\.param$/i.test(paramPath)) {
    throw new UpscaleError('MODEL_INVALID', 'expected the path of an NCNN .param file (its weights are read from the .bin beside it)', { file: paramPath });
  }
  const binPath = paramPath.replace(/\.param$/i, (ext) => (ext === '.PARAM' ? '.BIN' : '.bin'));
  const paramBytes = await readLimited(paramPath, MAX_PARAM_BYTES, 'NCNN .param file');
  const bin = await readLimited(binPath, MAX_BIN_BYTES, `NCNN .bin file (the weights for ${paramPath})`);
  const converted = ncnnToOnnx(new TextDecoder().decode(paramBytes), bin, paramPath, { binFile: binPath, ...options });
  return { ...converted, paramPath, binPath };
}

async function readLimited(path: string, limit: number, what: string): Promise<Uint8Array> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new UpscaleError('MODEL_NOT_FOUND', `${what} is not a file`, { file: path });
    size = info.size;
  } catch (error) {
    if (error instanceof UpscaleError) throw error;
    throw new UpscaleError('MODEL_NOT_FOUND', `${what} not found`, { file: path, cause: error });
  }
  if (size === 0) throw new UpscaleError('MODEL_INVALID', `${what} is empty (0 bytes)`, { file: path });
  if (size > limit) throw new UpscaleError('MODEL_INVALID', `${what} is too large (${size} bytes, at most ${limit})`, { file: path });
  return new Uint8Array(await readFile(path));
}

/**
 * Fuzz targets for the model readers: PyTorch / safetensors weights (and the architecture importers behind them),
 * NCNN .param/.bin, ONNX, and TensorFlow.js layers models.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectArchitecture } from '../../../src/models/architectures/index.js';
import { ncnnToOnnx, parseNcnnParam } from '../../../src/models/ncnn/index.js';
import { convertLayersModel, readLayersModel } from '../../../src/models/tfjs/index.js';
import { readStateDict } from '../../../src/models/weights/index.js';
import { readOnnxInfo } from '../../../src/onnx/index.js';
import { interpolateOnnxWeights } from '../../../src/onnx/interpolate.js';
import { brokenModelBytes, nearestUpscaleModel, randomConvNet } from '../../../test/fixtures/models.js';
import type { FuzzInput } from '../mutate.js';
import { onlyUpscaleError, thrownIn, utf8, type FuzzTarget } from '../target.js';
import { tinyLayersModels } from './tfjs-seeds.js';

const ROOT = new URL('../../../', import.meta.url);
const at = (path: string): string => new URL(path, ROOT).pathname;

async function filesIn(dir: string, pattern: RegExp): Promise<string[]> {
  const names = (await readdir(at(dir))).filter((name) => pattern.test(name)).sort();
  return names.map((name) => join(at(dir), name));
}

async function readAll(paths: readonly string[]): Promise<FuzzInput[]> {
  return Promise.all(paths.map(async (path) => [new Uint8Array(await readFile(path))]));
}

/** Error thrown by our ONNX reader: its own RangeError/TypeError "not an ONNX model: ...", raised by our protobuf code. */
function onnxReaderError(error: unknown): boolean {
  if (!(error instanceof RangeError || error instanceof TypeError) || !error.message.startsWith('not an ONNX model:')) return false;
  // readOnnxInfo rewraps what the protobuf reader threw; that must be ours too, not V8's (a DataView out of range).
  return error.cause === undefined || thrownIn(error.cause, 'onnx/');
}

export const weights: FuzzTarget = {
  name: 'weights',
  about: 'readStateDict (src/models/weights): PyTorch ZIP and legacy checkpoints, bare pickles, safetensors',
  contract: 'UpscaleError (MODEL_INVALID) only',
  parts: ['binary'],
  seeds: async () =>
    readAll([...(await filesIn('test/fixtures/weights/', /\.pth$/)), ...(await filesIn('test/fixtures/models/', /\.(pth|safetensors)$/))]),
  run: ([bytes]) => readStateDict(bytes!, 'fuzz.pth'),
  accepts: onlyUpscaleError,
};

export const architectures: FuzzTarget = {
  name: 'architectures',
  about: 'readStateDict + detectArchitecture + toOnnx: what importing a .pth/.safetensors does',
  contract: 'UpscaleError (MODEL_INVALID) only',
  parts: ['binary'],
  seeds: async () => readAll(await filesIn('test/fixtures/models/', /\.(pth|safetensors)$/)),
  run: ([bytes]) => {
    const state = readStateDict(bytes!, 'fuzz.pth');
    const { architecture, params } = detectArchitecture(state, 'fuzz.pth');
    return architecture.toOnnx(state, params);
  },
  accepts: onlyUpscaleError,
};

export const ncnnParam: FuzzTarget = {
  name: 'ncnn-param',
  about: 'parseNcnnParam (src/models/ncnn/param.ts): the .param text',
  contract: 'UpscaleError (MODEL_INVALID) only',
  parts: ['text'],
  seeds: async () => readAll(await filesIn('test/fixtures/ncnn/', /\.param$/)),
  run: ([text]) => parseNcnnParam(utf8(text!), 'fuzz.param'),
  accepts: onlyUpscaleError,
};

export const ncnn: FuzzTarget = {
  name: 'ncnn',
  about: 'ncnnToOnnx (src/models/ncnn): .param + .bin through NcnnBinReader and every layer converter',
  contract: 'UpscaleError (MODEL_INVALID) only',
  parts: ['text', 'binary'],
  seeds: async () => {
    const params = await filesIn('test/fixtures/ncnn/', /\.param$/);
    return Promise.all(params.map(async (param) => [new Uint8Array(await readFile(param)), new Uint8Array(await readFile(param.replace(/\.param$/, '.bin')))]));
  },
  // Every third input goes under a Real-CUGAN "pro" name, which changes the graph's wrapping (ncnn/border.ts).
  run: ([param, bin]) => ncnnToOnnx(utf8(param!), bin!, param!.length % 3 === 0 ? 'models-pro/up2x-fuzz.param' : 'fuzz.param'),
  accepts: onlyUpscaleError,
};

/** Small ONNX models: a shipped network and the generated test fixtures (the broken ones included). */
async function onnxSeeds(): Promise<Uint8Array[]> {
  const broken = Object.values(brokenModelBytes()).filter((b) => b.length > 0);
  return [
    new Uint8Array(await readFile(at('models/fast-x2.onnx'))),
    new Uint8Array(await readFile(at('models/photo-x4.onnx'))),
    nearestUpscaleModel(2),
    nearestUpscaleModel(3, { metadata: { 'upscale.scale': '3', 'upscale.name': 'nearest' } }),
    randomConvNet({ layers: 2, channels: 4, scale: 2, seed: 1, metadata: { 'upscale.range': '0-255' } }),
    ...broken,
  ];
}

export const onnx: FuzzTarget = {
  name: 'onnx',
  about: 'readOnnxInfo (src/onnx/reader.ts) over ProtoReader (src/onnx/protobuf.ts)',
  contract: 'RangeError or TypeError whose message starts "not an ONNX model:", raised by src/onnx code (its documented contract); no UpscaleError',
  parts: ['binary'],
  seeds: async () => (await onnxSeeds()).map((bytes) => [bytes]),
  run: ([bytes]) => readOnnxInfo(bytes!),
  accepts: onnxReaderError,
};

export const onnxInterpolate: FuzzTarget = {
  name: 'onnx-interpolate',
  about: "interpolateOnnxWeights (src/onnx/interpolate.ts): its initializer reader, on two models blended at 0.5",
  contract: 'RangeError or TypeError raised by src/onnx code (the protobuf reader, or "the networks differ"); not one raised by V8 (DataView bounds)',
  parts: ['binary', 'binary'],
  seeds: async () => {
    const read = async (name: string): Promise<Uint8Array> => new Uint8Array(await readFile(at(`models/${name}`)));
    const fast = await read('fast-x2.onnx');
    const conv = randomConvNet({ layers: 1, channels: 4, scale: 2, seed: 3 });
    // photo-x4 is blended with photo-x4-base in production: float16 weights.
    return [[fast, fast], [await read('photo-x4-base.onnx'), await read('photo-x4.onnx')], [conv, conv]];
  },
  run: ([a, b]) => interpolateOnnxWeights(a!, b!, 0.5),
  accepts: (error) => (error instanceof RangeError || error instanceof TypeError) && thrownIn(error, 'onnx/'),
};

/** The files of one layers model: model.json, and the single shard its manifest names. */
const SHARD = 'group1-shard1of1.bin';
/** The shard last written into each scratch directory. */
const written = new Map<string, Uint8Array>();

export const tfjs: FuzzTarget = {
  name: 'tfjs',
  about: 'readLayersModel + convertLayersModel (src/models/tfjs): model.json and its weight shard, from disk',
  contract: 'UpscaleError (MODEL_INVALID, MODEL_NOT_FOUND) only',
  parts: ['json', 'binary'],
  seeds: async () => {
    const slim = at('node_modules/@upscalerjs/esrgan-slim/models/x2/');
    const real: FuzzInput = [new Uint8Array(await readFile(join(slim, 'model.json'))), new Uint8Array(await readFile(join(slim, SHARD)))];
    return [...tinyLayersModels(SHARD), real];
  },
  run: async ([json, shard], { tmp }) => {
    // The shard is rewritten only when it changed: most mutations touch model.json.
    if (written.get(tmp) !== shard) {
      await writeFile(join(tmp, SHARD), shard!);
      written.set(tmp, shard!);
    }
    const path = join(tmp, 'model.json');
    await writeFile(path, json!);
    const model = await readLayersModel(path);
    return convertLayersModel(model, { name: 'fuzz', range: 1 });
  },
  accepts: onlyUpscaleError,
};

/**
 * Converts an NCNN model (.param text + .bin weights) to ONNX: walks the layers in file order (which ncnn requires
 * to be topological), emits NCHW nodes per layer (layers.ts) and records the `upscale.*` metadata.
 *
 * How the NCNN super-resolution programs feed these models, which the ONNX model reproduces: realesrgan-ncnn-vulkan
 * and its Upscayl fork (src/realesrgan.cpp, realesrgan_preproc.comp, realesrgan_postproc.comp) decode the image as
 * RGB (BGR from WIC on Windows is swapped to RGB first), divide by 255, feed the blob named `data`, extract the blob
 * named `output`, multiply by 255, add 0.5 and clamp. No mean is subtracted. So the model is plain RGB in 0..1
 * → RGB in 0..1: the ONNX input is `input` [1, C, height, width] in 0..1 and `upscale.range` is 0-1. The scale is
 * not stored in the files (the program takes it from the model's name, `-s`); it is read here off the graph. The
 * programs pad each tile by 10 pixels of context (`prepadding`); the receptive field here is the theoretical one,
 * capped at {@link MAX_NCNN_OVERLAP}.
 */
import { UpscaleError } from '../../errors.js';
import { GraphBuilder } from '../../onnx/index.js';
import { finishModel, imageInput } from '../architectures/graph.js';
import { NcnnBinReader } from './bin.js';
import type { NcnnStorage } from './bin.js';
import { LAYER_CONVERTERS, UNIT, affineText } from './layers/index.js';
import type { Blob, ImageBlob, LayerContext } from './layers/index.js';
import { parseNcnnParam } from './param.js';
import type { NcnnLayer, NcnnParam } from './param.js';

/**
 * Tile overlap cap. The deep residual networks NCNN users have (realesrgan-x4plus: a theoretical reach of ~350 px)
 * depend on little beyond a few pixels: the NCNN programs themselves pad tiles by 10; 16 keeps a margin without
 * paying 50% more compute for 64.
 */
const MAX_NCNN_OVERLAP = 16;

export interface NcnnConvertOptions {
  /** Names the .bin in error messages. @default `file` with `.param` replaced by `.bin` */
  readonly binFile?: string;
  /** `upscale.name` metadata. @default `file`'s base name without `.param` */
  readonly name?: string;
}

/** A converted model and the facts read off its graph. */
export interface NcnnConversion {
  /** ONNX ModelProto bytes: input `input` [1, C, height, width] in 0..1, output `output`, opset 17, `upscale.*` metadata. */
  readonly onnx: Uint8Array;
  /** Output edge / input edge, from the graph (Interp scales, PixelShuffle factors, strides). */
  readonly scale: number;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Layer lines in the .param, Input included. */
  readonly layers: number;
  /** Weights read from the .bin. */
  readonly parameters: number;
  /** Distinct layer types, in order of first use. */
  readonly layerTypes: readonly string[];
  /** Input edges must be multiples of this (strided convolutions, Reorg). */
  readonly sizeMultiple: number;
  /** Theoretical receptive radius in input pixels, capped at {@link MAX_NCNN_OVERLAP} (also the metadata value). */
  readonly receptiveField: number;
  /** How the convolution weights were stored in the .bin. */
  readonly storage: readonly NcnnStorage[];
  /** Bytes of the .bin no layer read (0 for a well-formed pair; ncnn ignores them too). */
  readonly unusedBytes: number;
}

/**
 * Converts an NCNN model to ONNX.
 *
 * @param paramText the .param file's text
 * @param bin the .bin file's bytes
 * @param file names the .param in error messages
 * @throws UpscaleError `MODEL_INVALID` naming the file, with the line and layer where it applies: a malformed
 *   .param (see {@link parseNcnnParam}), an unsupported layer type or parameter, weights missing from the .bin, or
 *   a graph whose output is not an image at an integer multiple of the input size.
 * @example
 * const { onnx, scale } = ncnnToOnnx(await readFile('realesrgan-x4plus.param', 'utf8'), await readFile('realesrgan-x4plus.bin'), 'realesrgan-x4plus.param');
 * // scale === 4; onnx runs in onnxruntime on RGB in 0..1
 */
export function ncnnToOnnx(paramText: string, bin: Uint8Array, file: string, options: NcnnConvertOptions = {}): NcnnConversion {
  if (typeof file !== 'string' || file === '') throw new TypeError(`Expected file to be a non-empty string, got ${JSON.stringify(file)}`);
  const net = parseNcnnParam(paramText, file);
  const binFile = options.binFile ?? (/\.param$/i.test(file) ? file.replace(/\.param$/i, '.bin') : `${file}.bin`);
  const name = options.name ?? (file.split(/[\\/]/).pop() ?? file).replace(/\.param$/i, '');
  const reader = new NcnnBinReader(bin, binFile);
  const fail = (message: string): never => {
    throw new UpscaleError('MODEL_INVALID', message, { file });
  };

  const inputLayers = net.layers.filter((l) => l.type === 'Input');
  const inputLayer = inputLayers[0];
  if (inputLayer === undefined) return fail('no Input layer');
  if (inputLayers.length > 1) return fail(`expected one Input layer, got ${inputLayers.length} (lines ${inputLayers.map((l) => l.line).join(', ')})`);
  const inputBlob = inputLayer.outputs[0];
  if (inputLayer.inputs.length !== 0 || inputLayer.outputs.length !== 1 || inputBlob === undefined) {
    return fail(`line ${inputLayer.line}: expected the Input layer to have no input blobs and one output, got ${inputLayer.inputs.length} and ${inputLayer.outputs.length}`);
  }
  const inChannels = inputChannels(net);
  if (inChannels !== 1 && inChannels !== 3) return fail(`expected an image input of 1 or 3 channels, got ${inChannels}`);

  const g = new GraphBuilder({ name });
  const blobs = new Map<string, Blob>();
  const input: ImageBlob = { kind: 'image', name: imageInput(g, inChannels), channels: inChannels, h: UNIT, w: UNIT, reach: 0 };
  blobs.set(inputBlob, input);
  let parameters = 0;
  let sizeMultiple = 1;
  const read = new Set<string>();
  const layerTypes: string[] = [];

  for (const layer of net.layers) {
    if (!layerTypes.includes(layer.type)) layerTypes.push(layer.type);
    if (layer === inputLayer) continue;
    const label = `line ${layer.line}: layer "${layer.name}" (${layer.type})`;
    const convert = LAYER_CONVERTERS.get(layer.type);
    if (convert === undefined) {
      return fail(`line ${layer.line}: unsupported layer type "${layer.type}" (layer "${layer.name}"); supported: ${[...LAYER_CONVERTERS.keys(), 'Input'].sort().join(', ')}`);
    }
    const weightLabel = `layer "${layer.name}" (${layer.type}, line ${layer.line} of ${file})`;
    const ctx: LayerContext = {
      g,
      layer,
      tagged: (count, what) => {
        const w = reader.tagged(count, `${weightLabel}: ${what}`);
        parameters += count;
        return w.data;
      },
      raw: (count, what) => {
        const data = reader.raw(count, `${weightLabel}: ${what}`);
        parameters += count;
        return data;
      },
      node: (opType, inputs, attributes = {}) => g.node(opType, inputs, attributes, { name: g.uniqueName(layer.name) }),
      initializer: (key, dims, data) => g.initializer(g.uniqueName(`${layer.name}.${key}`), dims, data),
      fail: (message) => fail(`${label}: ${message}`),
    };
    const inputs = layer.inputs.map((b) => {
      read.add(b);
      // The parser has checked that every blob read was produced by an earlier layer.
      return blobs.get(b) as Blob;
    });
    const outputs = convert(ctx, inputs);
    if (outputs.length !== layer.outputs.length) ctx.fail(`produced ${outputs.length} outputs for ${layer.outputs.length} output blobs`);
    for (const [i, blob] of outputs.entries()) {
      blobs.set(layer.outputs[i]!, blob);
      if (blob.kind === 'image') sizeMultiple = lcm(sizeMultiple, lcm(blob.h.den, blob.w.den));
    }
  }

  const outputName = outputBlob(net, read, fail);
  const out = blobs.get(outputName);
  if (out === undefined || out.kind !== 'image') return fail(`the output blob "${outputName}" is not an image`);
  const { h, w } = out;
  if (h.off !== 0 || w.off !== 0 || h.num % h.den !== 0 || h.num !== w.num || h.den !== w.den) {
    return fail(`the output (blob "${outputName}") is ${affineText(h, 'H')} × ${affineText(w, 'W')} for an H × W input; expected an integer multiple of the input size`);
  }
  const scale = h.num / h.den;
  const receptiveField = Math.min(Math.ceil(out.reach - 1e-9), MAX_NCNN_OVERLAP);
  const onnx = finishModel(
    g,
    out.name,
    {
      scale,
      inChannels,
      outChannels: out.channels,
      sizeMultiple,
      receptiveField,
      tilingSafe: true,
      parameters,
      details: { layers: net.layers.length },
    },
    name,
  );
  return {
    onnx,
    scale,
    inChannels,
    outChannels: out.channels,
    layers: net.layers.length,
    parameters,
    layerTypes,
    sizeMultiple,
    receptiveField,
    storage: [...reader.storages],
    unusedBytes: reader.remaining,
  };
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** The blob named `output` (what the NCNN programs extract), else the one blob no layer reads. */
function outputBlob(net: NcnnParam, read: ReadonlySet<string>, fail: (message: string) => never): string {
  const produced = net.layers.flatMap((l) => l.outputs);
  if (produced.includes('output')) return 'output';
  const dangling = produced.filter((b) => !read.has(b));
  const [only] = dangling;
  if (only === undefined) return fail('no output: every blob is read by some layer and none is named "output"');
  if (dangling.length > 1) {
    return fail(`expected one output blob (named "output", or the only blob no layer reads), got ${dangling.length}: ${dangling.slice(0, 8).map((b) => `"${b}"`).join(', ')}`);
  }
  return only;
}

/**
 * The input's channel count: the Input layer's `2=` when given, else what the first convolution reading the input
 * (directly or through Split/Noop) expects from its weight count, else 3.
 */
function inputChannels(net: NcnnParam): number {
  const input = net.layers.find((l) => l.type === 'Input');
  const declared = input?.params.get(2);
  if (declared?.kind === 'int' && declared.value > 0) return declared.value;
  const aliases = new Set(input?.outputs ?? []);
  for (const layer of net.layers) {
    if (!layer.inputs.some((b) => aliases.has(b))) continue;
    if (layer.type === 'Split' || layer.type === 'Noop') {
      for (const b of layer.outputs) aliases.add(b);
      continue;
    }
    if (/^(De)?[Cc]onvolution(DepthWise)?$/.test(layer.type)) {
      const channels = convInputs(layer);
      if (channels !== undefined) return channels;
    }
  }
  return 3;
}

function convInputs(layer: NcnnLayer): number | undefined {
  const get = (id: number, fallback: number): number => {
    const p = layer.params.get(id);
    return p?.kind === 'int' ? p.value : fallback;
  };
  const out = get(0, 0);
  const kw = get(1, 0);
  const kh = get(11, kw);
  const group = layer.type.endsWith('DepthWise') ? get(7, 1) : 1;
  const perGroup = get(6, 0) / (out * kw * kh);
  return Number.isInteger(perGroup) && perGroup > 0 ? perGroup * group : undefined;
}

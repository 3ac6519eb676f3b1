/**
 * Converts an NCNN model (.param text + .bin weights) to ONNX: walks the layers in file order (which ncnn requires
 * to be topological), emits NCHW nodes per layer (layers/) and records the `upscale.*` metadata.
 *
 * How the NCNN super-resolution programs feed these models, which the ONNX model reproduces: realesrgan-ncnn-vulkan
 * and its Upscayl fork (src/realesrgan.cpp, realesrgan_preproc.comp, realesrgan_postproc.comp) decode the image as
 * RGB (BGR from WIC on Windows is swapped to RGB first), divide by 255, feed the blob named `data`, extract the blob
 * named `output`, multiply by 255, add 0.5 and clamp. No mean is subtracted; waifu2x-ncnn-vulkan and
 * realcugan-ncnn-vulkan do the same with their own blob names. So the model is plain RGB in 0..1 → RGB in 0..1: the
 * ONNX input is `input` [1, C, height, width] in 0..1 and `upscale.range` is 0-1. The scale is not stored in the
 * files (the program takes it from the model's name, `-s`); it is read here off the graph. realesrgan-ncnn-vulkan
 * pads each tile by 10 pixels of context (`prepadding`); the receptive field here is the theoretical one, capped at
 * {@link MAX_NCNN_OVERLAP}, and at least the border a network without padding eats.
 *
 * Networks whose output is smaller than scale × input (waifu2x, Real-CUGAN), and Real-CUGAN's transforms outside
 * the network: border.ts. A network with a global pooling (squeeze-excitation) looks at the whole image, so tiles
 * change its result: `tilingSafe` is false and `upscale.tiling_safe` is `false`.
 */
import { UpscaleError } from '../../errors.js';
import { GraphBuilder } from '../../onnx/index.js';
import { finishModel, imageInput } from '../architectures/graph.js';
import { NcnnBinReader } from './bin.js';
import type { NcnnStorage } from './bin.js';
import { eatenBorder, looksLikeCuganPro, programBorderMode, recognizeProgram, wrapInput, wrapOutput } from './border.js';
import type { NcnnBorder, NcnnBorderMode, NcnnProgram, Wrapping } from './border.js';
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
  /**
   * How the input is extended by the border a network without padding eats (waifu2x, Real-CUGAN).
   * @default what the model's program does: `reflect` for realcugan-ncnn-vulkan's models, else `edge`
   */
  readonly borderMode?: NcnnBorderMode;
  /**
   * A Real-CUGAN "pro" model: the graph feeds x·0.7 + 0.15 and returns (y - 0.15) / 0.7, as bilibili's code does.
   * @default true for a Real-CUGAN graph whose folder or file name says `pro` (`models-pro/`, `realcugan-pro/`)
   */
  readonly cuganPro?: boolean;
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
  /**
   * Input edges must be multiples of this (strided convolutions, Reorg). 1 for a network that eats a border: the
   * graph pads to the multiple itself (see {@link tileAlignment}).
   */
  readonly sizeMultiple: number;
  /**
   * Tiles must start at multiples of this many input pixels to see the network's strided layers at the phase the
   * whole image does (`upscale.tile_alignment` when above 1). The size multiple of the network inside the graph.
   */
  readonly tileAlignment: number;
  /**
   * Input pixels of context each output pixel needs: the theoretical receptive radius capped at
   * {@link MAX_NCNN_OVERLAP}, and at least the widest border the network eats (also the metadata value).
   */
  readonly receptiveField: number;
  /** False when the network looks at the whole image (a global pooling): tiles then change the result. */
  readonly tilingSafe: boolean;
  /** The program the model is made for, by its input and output blob names. */
  readonly program: NcnnProgram;
  /** Input pixels the network eats on each side, which the graph pads back (all 0 for most models). */
  readonly border: NcnnBorder;
  /** How the graph pads that border; undefined when there is none. */
  readonly borderMode: NcnnBorderMode | undefined;
  /** Whether the graph applies Real-CUGAN pro's input and output transforms. */
  readonly cuganPro: boolean;
  /** How the convolution weights were stored in the .bin. */
  readonly storage: readonly NcnnStorage[];
  /** Bytes of the .bin no layer read (0 for a well-formed pair; ncnn ignores them too). */
  readonly unusedBytes: number;
}

const NO_BORDER: NcnnBorder = { top: 0, bottom: 0, left: 0, right: 0 };

/** One pass over the layers into a graph. */
interface Walk {
  readonly g: GraphBuilder;
  readonly out: ImageBlob;
  /** The ONNX value the model's output is (after the wrapping's output side, if any). */
  readonly output: string;
  readonly parameters: number;
  readonly layerTypes: readonly string[];
  readonly multiple: number;
  readonly reader: NcnnBinReader;
}

/**
 * Converts an NCNN model to ONNX.
 *
 * @param paramText the .param file's text
 * @param bin the .bin file's bytes
 * @param file names the .param in error messages (and tells a Real-CUGAN pro model by its folder or name)
 * @throws UpscaleError `MODEL_INVALID` naming the file, with the line and layer where it applies: a malformed
 *   .param (see {@link parseNcnnParam}), an unsupported layer type or parameter, weights missing from the .bin, or
 *   a graph whose output is not an image at an integer multiple of the input size (less a whole border).
 * @example
 * const { onnx, scale } = ncnnToOnnx(await readFile('realesrgan-x4plus.param', 'utf8'), await readFile('realesrgan-x4plus.bin'), 'realesrgan-x4plus.param');
 * // scale === 4; onnx runs in onnxruntime on RGB in 0..1
 */
export function ncnnToOnnx(paramText: string, bin: Uint8Array, file: string, options: NcnnConvertOptions = {}): NcnnConversion {
  if (typeof file !== 'string' || file === '') throw new TypeError(`Expected file to be a non-empty string, got ${JSON.stringify(file)}`);
  const net = parseNcnnParam(paramText, file);
  const binFile = options.binFile ?? (/\.param$/i.test(file) ? file.replace(/\.param$/i, '.bin') : `${file}.bin`);
  const name = options.name ?? (file.split(/[\\/]/).pop() ?? file).replace(/\.param$/i, '');
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
  const outputName = outputBlob(net, fail);
  const program = recognizeProgram(inputBlob, outputName);

  const walk = (wrapping: Wrapping | undefined): Walk => {
    const g = new GraphBuilder({ name });
    const reader = new NcnnBinReader(bin, binFile);
    const input = imageInput(g, inChannels);
    const wrapped = wrapping === undefined ? undefined : wrapInput(g, input, wrapping);
    const blobs = new Map<string, Blob>();
    blobs.set(inputBlob, { kind: 'image', name: wrapped?.x ?? input, channels: inChannels, h: UNIT, w: UNIT, reach: 0, global: false });
    let parameters = 0;
    let multiple = 1;
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
      // The parser has checked that every blob read was produced by an earlier layer.
      const outputs = convert(ctx, layer.inputs.map((b) => blobs.get(b) as Blob));
      if (outputs.length !== layer.outputs.length) ctx.fail(`produced ${outputs.length} outputs for ${layer.outputs.length} output blobs`);
      for (const [i, blob] of outputs.entries()) {
        blobs.set(layer.outputs[i]!, blob);
        if (blob.kind === 'image') multiple = lcm(multiple, lcm(blob.h.den, blob.w.den));
      }
    }
    const out = blobs.get(outputName);
    if (out === undefined || out.kind !== 'image') {
      return fail(`the output (blob "${outputName}") is ${out?.kind === 'vector' ? `a 1-D blob of ${out.length} values` : 'a MemoryData constant'}, not an image`);
    }
    const output = wrapped === undefined || wrapping === undefined ? out.name : wrapOutput(g, out.name, wrapped, wrapping);
    return { g, out, output, parameters, layerTypes, multiple, reader };
  };

  let pass = walk(undefined);
  const { h, w } = pass.out;
  const scale = h.num / h.den;
  if (h.off > 0 || w.off > 0 || h.num % h.den !== 0 || h.num !== w.num || h.den !== w.den) {
    return fail(`the output (blob "${outputName}") is ${affineText(h, 'H')} × ${affineText(w, 'W')} for an H × W input; expected an integer multiple of the input size`);
  }
  let border = NO_BORDER;
  if (h.off !== 0 || w.off !== 0) {
    const found = eatenBorder(pass.out, scale);
    if (typeof found === 'string') {
      return fail(`the output (blob "${outputName}") is ${affineText(h, 'H')} × ${affineText(w, 'W')} for an H × W input, and ${found}; expected an integer multiple of the input size, less a border of whole input pixels`);
    }
    border = found;
  }
  const eats = border !== NO_BORDER;
  // Real-CUGAN's own transforms, for realcugan-ncnn-vulkan's blob names (pnnx's defaults, which other models have
  // too) on a network that eats a border, as Real-CUGAN's do.
  const cugan = program === 'realcugan-ncnn-vulkan' && eats;
  const wrapping: Wrapping = {
    border,
    mode: options.borderMode ?? programBorderMode(program),
    multiple: eats ? pass.multiple : 1,
    scale,
    cuganPro: options.cuganPro ?? (cugan && looksLikeCuganPro(file)),
    nearestResidual: cugan && scale === 4,
  };
  // The nodes before the network depend on what the first walk found: walk again with them.
  if (eats || wrapping.cuganPro || wrapping.nearestResidual) pass = walk(wrapping);

  const widest = Math.max(border.top, border.bottom, border.left, border.right);
  const receptiveField = Math.max(Math.min(Math.ceil(pass.out.reach - 1e-9), MAX_NCNN_OVERLAP), widest);
  const tilingSafe = !pass.out.global;
  const sizeMultiple = eats ? 1 : pass.multiple;
  const onnx = finishModel(
    pass.g,
    pass.output,
    { scale, inChannels, outChannels: pass.out.channels, sizeMultiple, receptiveField, tilingSafe, tileAlignment: pass.multiple, parameters: pass.parameters, details: {} },
    name,
  );
  return {
    onnx,
    scale,
    inChannels,
    outChannels: pass.out.channels,
    layers: net.layers.length,
    parameters: pass.parameters,
    layerTypes: pass.layerTypes,
    sizeMultiple,
    tileAlignment: pass.multiple,
    receptiveField,
    tilingSafe,
    program,
    border,
    borderMode: eats ? wrapping.mode : undefined,
    cuganPro: wrapping.cuganPro,
    storage: [...pass.reader.storages],
    unusedBytes: pass.reader.remaining,
  };
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

/** The blob named `output` (what realesrgan-ncnn-vulkan extracts), else the one blob no layer reads. */
function outputBlob(net: NcnnParam, fail: (message: string) => never): string {
  const produced = net.layers.flatMap((l) => l.outputs);
  if (produced.includes('output')) return 'output';
  const read = new Set(net.layers.flatMap((l) => l.inputs));
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

/**
 * One converter per Keras layer class, from NHWC Keras semantics to NCHW ONNX nodes. Adding a layer class means
 * adding one function and one registry line. Each converter also carries the shape facts the converter needs:
 * channels, resolution factor (for the scale) and reach (for the receptive field).
 */
import { attr } from '../../onnx/index.js';
import type { AttributeValue, GraphBuilder } from '../../onnx/index.js';
import { activationName, emitActivation, scalar } from './activations.js';
import type { WeightTensor } from './read.js';
import type { LayerCall } from './topology.js';

/** A tensor of the ONNX graph being built, with what the converter knows about it. */
export interface Value {
  /** ONNX value name. */
  readonly name: string;
  readonly channels: number;
  /** Resolution relative to the model input: 1 before any upsampling, 4 after a ×4 PixelShuffle. */
  readonly factor: number;
  /**
   * How far, in input pixels, an element here may depend on from its own position: the longest path's sum of conv
   * radii, each divided by the resolution factor where it runs.
   */
  readonly reach: number;
  /**
   * Set when this value is a nearest upsampling that was not emitted because its only reader is a conv that can
   * absorb it (see {@link subPixelConv}); `name` is then the low-resolution input.
   */
  readonly upsampledBy?: number;
}

/** What a layer converter gets besides its inputs. */
export interface LayerContext {
  readonly g: GraphBuilder;
  readonly call: LayerCall;
  /** A weight of this layer by parameter name ('kernel', 'bias', 'alpha'), checked against `shape` when given. */
  weight(param: string, shape?: readonly number[]): WeightTensor;
  /** An initializer scoped to this layer, made once however many times the layer is called. */
  initializer(key: string, dims: readonly number[], data: () => Float32Array): string;
  /** Throws an error naming the model, the layer and its class. */
  fail(message: string): never;
  /** Set for an UpSampling2D whose only reader is a conv that can absorb it. */
  readonly absorbedByNext?: boolean;
}

/** Emits one layer call's nodes and describes its output; throws through `ctx.fail` for configs it cannot convert. */
export type LayerConverter = (ctx: LayerContext, inputs: readonly Value[]) => Value;

// ---- config readers ---------------------------------------------------------------------------------------------

function configValue(ctx: LayerContext, key: string): unknown {
  return ctx.call.config[key];
}

function int(ctx: LayerContext, key: string, fallback?: number): number {
  const value = configValue(ctx, key) ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return ctx.fail(`expected config.${key} to be an integer, got ${JSON.stringify(value)}`);
  return value;
}

function float(ctx: LayerContext, keys: readonly string[], fallback: number): number {
  for (const key of keys) {
    const value = configValue(ctx, key);
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) return ctx.fail(`expected config.${key} to be a number, got ${JSON.stringify(value)}`);
    return value;
  }
  return fallback;
}

/** `3` or `[3, 3]` → `[3, 3]`, positive integers. */
function pair(ctx: LayerContext, key: string, fallback?: number): [number, number] {
  const value = configValue(ctx, key) ?? fallback;
  const list = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(list) || list.length !== 2 || !list.every((v) => Number.isSafeInteger(v) && v >= 1)) {
    return ctx.fail(`expected config.${key} to be a positive integer or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [list[0] as number, list[1] as number];
}

/** Only channels_last is converted (what TF.js and these models use); channels_first would need no transposes. */
function requireChannelsLast(ctx: LayerContext): void {
  const format = configValue(ctx, 'data_format');
  if (format !== undefined && format !== null && format !== 'channels_last' && format !== 'channelsLast') {
    ctx.fail(`expected data_format "channels_last", got ${JSON.stringify(format)}`);
  }
}

function single(ctx: LayerContext, inputs: readonly Value[]): Value {
  if (inputs.length !== 1 || inputs[0] === undefined) return ctx.fail(`expected one input, got ${inputs.length}`);
  return inputs[0];
}

// ---- layers -----------------------------------------------------------------------------------------------------

/** Keras HWIO `[kh, kw, in, out]` → ONNX OIHW `[out, in, kh, kw]`. */
function hwioToOihw(kernel: Float32Array, [kh, kw, cin, cout]: readonly [number, number, number, number]): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = kernel[src + o] as number;
      }
    }
  }
  return out;
}

const conv2d: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  requireChannelsLast(ctx);
  const [kh, kw] = pair(ctx, 'kernel_size');
  const strides = pair(ctx, 'strides', 1);
  // One resolution factor per tensor: the pipeline's scale is the same on both axes.
  if (strides[0] !== strides[1]) ctx.fail(`expected equal strides on both axes, got [${strides}]`);
  const dilations = pair(ctx, 'dilation_rate', 1);
  const groups = int(ctx, 'groups', 1);
  const filters = int(ctx, 'filters');
  if (groups < 1 || x.channels % groups !== 0 || filters % groups !== 0) {
    ctx.fail(`expected groups (${groups}) to divide the ${x.channels} input channels and the ${filters} filters`);
  }
  const dims = [kh, kw, x.channels / groups, filters] as const;
  const kernel = ctx.weight('kernel', dims);
  if (x.upsampledBy !== undefined) return subPixelConv(ctx, x, x.upsampledBy, kernel, dims);
  const w = ctx.initializer('kernel', [filters, x.channels / groups, kh, kw], () => hwioToOihw(kernel.data, dims));
  const conv = [x.name, w];
  if (configValue(ctx, 'use_bias') ?? true) {
    const bias = ctx.weight('bias', [filters]);
    conv.push(ctx.initializer('bias', [filters], () => bias.data));
  }

  const padding = configValue(ctx, 'padding') ?? 'valid';
  const strided = strides[0] > 1;
  const attributes: Record<string, AttributeValue> = {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(strides),
    dilations: attr.ints(dilations),
    group: attr.int(groups),
  };
  // Pad needed on each axis so that a stride-1 'same' conv keeps the size; TF puts the odd pixel at the end.
  const totals = [(kh - 1) * dilations[0], (kw - 1) * dilations[1]] as const;
  let reachPixels = 0;
  if (padding === 'valid') {
    attributes['pads'] = attr.ints([0, 0, 0, 0]);
    reachPixels = Math.max(...totals) / 2;
  } else if (padding === 'same' && !strided) {
    const begin = totals.map((t) => Math.floor(t / 2));
    attributes['pads'] = attr.ints([begin[0] as number, begin[1] as number, totals[0] - (begin[0] as number), totals[1] - (begin[1] as number)]);
    reachPixels = Math.max(...totals.map((t) => Math.ceil(t / 2)));
  } else if (padding === 'same') {
    // Strided 'same' pads depend on the input size (TF: total = max((⌈n/s⌉ - 1)·s + k - n, 0), extra at the end),
    // which ONNX SAME_UPPER computes at run time. onnxruntime refuses it with dilation, as Keras refuses the combination.
    if (dilations[0] > 1 || dilations[1] > 1) ctx.fail(`expected strides or dilation_rate to be 1 (Keras refuses both > 1), got strides [${strides}] and dilation_rate [${dilations}]`);
    attributes['auto_pad'] = attr.string('SAME_UPPER');
    reachPixels = Math.max(...totals.map((t) => Math.ceil(t / 2)));
  } else {
    ctx.fail(`expected padding "same" or "valid", got ${JSON.stringify(padding)}`);
  }
  let y = ctx.g.node('Conv', conv, attributes, { name: ctx.g.uniqueName(ctx.call.name) });
  y = activate(ctx, y, configValue(ctx, 'activation'));
  return { name: y, channels: filters, factor: x.factor / strides[0], reach: x.reach + reachPixels / x.factor };
};

/**
 * Whether a conv can absorb the nearest upsampling before it: stride 1, no dilation, no groups, 'same' padding,
 * odd square kernel. Checked on the config before the upsampling is skipped.
 */
export function absorbsUpsampling(config: Readonly<Record<string, unknown>>): boolean {
  const one = (v: unknown): boolean => v === undefined || v === 1 || (Array.isArray(v) && v.every((e) => e === 1));
  const kernel = config['kernel_size'];
  const k = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  return (
    one(config['strides']) &&
    one(config['dilation_rate']) &&
    one(config['groups']) &&
    config['padding'] === 'same' &&
    Array.isArray(k) &&
    k.length === 2 &&
    k[0] === k[1] &&
    typeof k[0] === 'number' &&
    k[0] % 2 === 1
  );
}

/**
 * Nearest upsampling by s followed by a k x k conv, computed as one conv at the LOW resolution producing s² · out
 * channels, then DepthToSpace: the same function and FLOPs, without materialising the upsampled tensor (for ESRGAN
 * slim and medium, 48 channels at the output resolution) or running a conv with 3 output channels over it. Output
 * sub-pixel (py, px) at HR offset d reads LR pixel ⌊(p + d)/s⌋, so each LR tap sums the HR taps that land on it.
 */
function subPixelConv(
  ctx: LayerContext,
  x: Value,
  s: number,
  kernel: WeightTensor,
  [k, , cin, cout]: readonly [number, number, number, number],
): Value {
  const r = (k - 1) / 2;
  const low = Math.floor(-r / s);
  const high = Math.floor((s - 1 + r) / s);
  const size = high - low + 1;
  const hr = hwioToOihw(kernel.data, [k, k, cin, cout]);
  const w = ctx.initializer('kernel', [s * s * cout, cin, size, size], () => {
    const out = new Float32Array(s * s * cout * cin * size * size);
    for (let py = 0; py < s; py++) {
      for (let px = 0; px < s; px++) {
        for (let o = 0; o < cout; o++) {
          const oc = (py * s + px) * cout + o;
          for (let i = 0; i < cin; i++) {
            for (let dy = -r; dy <= r; dy++) {
              const a = Math.floor((py + dy) / s) - low;
              for (let dx = -r; dx <= r; dx++) {
                const b = Math.floor((px + dx) / s) - low;
                out[((oc * cin + i) * size + a) * size + b]! += hr[((o * cin + i) * k + dy + r) * k + dx + r]!;
              }
            }
          }
        }
      }
    }
    return out;
  });
  const conv = [x.name, w];
  if (configValue(ctx, 'use_bias') ?? true) {
    const bias = ctx.weight('bias', [cout]);
    conv.push(ctx.initializer('bias', [s * s * cout], () => {
      const tiled = new Float32Array(s * s * cout);
      for (let p = 0; p < s * s; p++) tiled.set(bias.data, p * cout);
      return tiled;
    }));
  }
  let y = ctx.g.node('Conv', conv, { kernel_shape: attr.ints([size, size]), pads: attr.ints([-low, -low, high, high]) }, { name: ctx.g.uniqueName(ctx.call.name) });
  // Elementwise activations commute with DepthToSpace; before it, onnxruntime can fuse them into the conv.
  y = activate(ctx, y, configValue(ctx, 'activation'));
  y = ctx.g.node('DepthToSpace', [y], { blocksize: attr.int(s), mode: attr.string('DCR') });
  const factor = x.factor * s;
  return { name: y, channels: cout, factor, reach: x.reach + r / factor };
}

function activate(ctx: LayerContext, x: string, activation: unknown): string {
  const name = activationName(activation);
  const y = name === undefined ? undefined : emitActivation(ctx.g, x, name);
  if (y === undefined) return ctx.fail(`unsupported activation ${JSON.stringify(activation)}`);
  return y;
}

const activationLayer: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  return { ...x, name: activate(ctx, x.name, configValue(ctx, 'activation')) };
};

/** Keras 2 writes `alpha` (default 0.3), Keras 3 `negative_slope` (default 0.2, always written). */
const leakyRelu: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const alpha = float(ctx, ['alpha', 'negative_slope'], 0.3);
  return { ...x, name: ctx.g.node('LeakyRelu', [x.name], { alpha: attr.float(alpha) }) };
};

/** ReLU layer: max(x, 0) or, with negative_slope, leaky; clipped at max_value when given. */
const reluLayer: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  if (float(ctx, ['threshold'], 0) !== 0) ctx.fail(`expected threshold 0, got ${String(configValue(ctx, 'threshold'))}`);
  const slope = float(ctx, ['negative_slope'], 0);
  let y = slope === 0 ? ctx.g.node('Relu', [x.name]) : ctx.g.node('LeakyRelu', [x.name], { alpha: attr.float(slope) });
  const max = configValue(ctx, 'max_value');
  if (max !== undefined && max !== null) {
    if (typeof max !== 'number') ctx.fail(`expected max_value to be a number, got ${JSON.stringify(max)}`);
    y = ctx.g.node('Min', [y, scalar(ctx.g, max as number)]);
  }
  return { ...x, name: y };
};

/**
 * PReLU: Keras's `alpha` has the input shape without the batch, `[H, W, C]`, with 1 on `shared_axes`. A fully
 * convolutional net shares the spatial axes (`[1, 1, C]`), which becomes ONNX's slope `[C, 1, 1]` on NCHW.
 */
const prelu: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const alpha = ctx.weight('alpha');
  const [h, w, c] = alpha.shape;
  if (alpha.shape.length !== 3 || h !== 1 || w !== 1 || (c !== 1 && c !== x.channels)) {
    ctx.fail(`expected alpha of shape [1, 1, ${x.channels}] or [1, 1, 1] (shared_axes [1, 2]: per-pixel slopes need a fixed input size), got [${alpha.shape.join(', ')}]`);
  }
  const slope = ctx.initializer('alpha', [c as number, 1, 1], () => alpha.data);
  return { ...x, name: ctx.g.node('PRelu', [x.name, slope]) };
};

/** Keras channel axis (-1 or 3 in NHWC) → 1 in NCHW; concatenating along space would break the image shape. */
const concatenate: LayerConverter = (ctx, inputs) => {
  const axis = int(ctx, 'axis', -1);
  if (axis !== -1 && axis !== 3) ctx.fail(`expected concatenation along channels (axis -1 or 3), got axis ${axis}`);
  const first = sameResolution(ctx, inputs, 1);
  const channels = inputs.reduce((sum, v) => sum + v.channels, 0);
  return { name: ctx.g.node('Concat', inputs.map((v) => v.name), { axis: attr.int(1) }), channels, factor: first.factor, reach: maxReach(inputs) };
};

/** Elementwise merge layers (Add, Multiply...): same resolution; channels equal, or 1 to broadcast. */
function merge(op: string, variadic: string | null, arity?: number): LayerConverter {
  return (ctx, inputs) => {
    const first = sameResolution(ctx, inputs, 2);
    if (arity !== undefined && inputs.length !== arity) ctx.fail(`expected ${arity} inputs, got ${inputs.length}`);
    const channels = Math.max(...inputs.map((v) => v.channels));
    if (inputs.some((v) => v.channels !== channels && v.channels !== 1)) {
      ctx.fail(`expected inputs with equal channels, got ${inputs.map((v) => v.channels).join(' and ')}`);
    }
    let name: string;
    if (inputs.length === 2 || variadic === null) {
      name = inputs.slice(1).reduce((acc, v) => ctx.g.node(op, [acc, v.name]), first.name);
    } else {
      name = ctx.g.node(variadic, inputs.map((v) => v.name));
    }
    return { name, channels, factor: first.factor, reach: maxReach(inputs) };
  };
}

function sameResolution(ctx: LayerContext, inputs: readonly Value[], min: number): Value {
  const first = inputs[0];
  if (first === undefined || inputs.length < min) return ctx.fail(`expected at least ${min} inputs, got ${inputs.length}`);
  if (inputs.some((v) => v.factor !== first.factor)) {
    ctx.fail(`expected inputs at one resolution, got factors ${inputs.map((v) => `×${v.factor}`).join(' and ')} of the model input`);
  }
  return first;
}

const maxReach = (inputs: readonly Value[]): number => Math.max(...inputs.map((v) => v.reach));

/**
 * Nearest upsampling by an integer factor. Resize with 'asymmetric' coordinates and 'floor' picks source pixel
 * ⌊x / s⌋, which is exact replication, as TF.js (resizeNearestNeighbor without half-pixel centres) and Keras do.
 */
const upSampling2d: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  requireChannelsLast(ctx);
  const [sh, sw] = pair(ctx, 'size', 2);
  const interpolation = configValue(ctx, 'interpolation') ?? 'nearest';
  // TF.js resizes bilinearly without half-pixel centres and Keras with them: no single right answer to convert to.
  if (interpolation !== 'nearest') ctx.fail(`expected interpolation "nearest", got ${JSON.stringify(interpolation)}`);
  if (sh !== sw) ctx.fail(`expected the same factor on both axes, got size [${sh}, ${sw}]`);
  // The conv that reads it computes it (subPixelConv): nothing to emit here.
  if (ctx.absorbedByNext) return { ...x, upsampledBy: sh };
  const scales = ctx.initializer('scales', [4], () => Float32Array.of(1, 1, sh, sw));
  const y = ctx.g.node('Resize', [x.name, '', scales], {
    mode: attr.string('nearest'),
    coordinate_transformation_mode: attr.string('asymmetric'),
    nearest_mode: attr.string('floor'),
  });
  return { ...x, name: y, factor: x.factor * sh };
};

/** UpscalerJS's residual scaling: x · β, β = 0.2 (its class ignores config; we honour config.beta when present). */
const multiplyBeta: LayerConverter = (ctx, inputs) => {
  const x = single(ctx, inputs);
  const beta = float(ctx, ['beta'], 0.2);
  return { ...x, name: ctx.g.node('Mul', [x.name, scalar(ctx.g, beta)]) };
};

/**
 * UpscalerJS's `PixelShuffle{N}x`: `tf.depthToSpace(x, N, 'NHWC')`, where output (h·N + i, w·N + j, c) reads input
 * channel (i·N + j)·C + c. ONNX DepthToSpace in DCR mode reads the same channel on NCHW (CRD would read c·N² + i·N + j).
 */
function pixelShuffle(blocksize: number | undefined): LayerConverter {
  return (ctx, inputs) => {
    const x = single(ctx, inputs);
    const configured = configValue(ctx, 'scale');
    const n = blocksize ?? (typeof configured === 'number' ? configured : ctx.fail(`expected config.scale to be an integer, got ${JSON.stringify(configured)}`));
    if (!Number.isSafeInteger(n) || n < 1) ctx.fail(`expected a positive integer block size, got ${n}`);
    if (blocksize !== undefined && configured !== undefined && configured !== blocksize) {
      ctx.fail(`the class name says ×${blocksize} but config.scale is ${JSON.stringify(configured)}`);
    }
    if (x.channels % (n * n) !== 0) ctx.fail(`expected channels divisible by ${n}² = ${n * n}, got ${x.channels}`);
    const y = ctx.g.node('DepthToSpace', [x.name], { blocksize: attr.int(n), mode: attr.string('DCR') });
    return { ...x, name: y, channels: x.channels / (n * n), factor: x.factor * n };
  };
}

/** Converters by Keras class name. `PixelShuffle{N}x` classes are matched by {@link layerConverter}. */
export const LAYER_CONVERTERS: ReadonlyMap<string, LayerConverter> = new Map<string, LayerConverter>([
  ['Conv2D', conv2d],
  ['Convolution2D', conv2d],
  ['Activation', activationLayer],
  ['LeakyReLU', leakyRelu],
  ['ReLU', reluLayer],
  ['PReLU', prelu],
  ['Concatenate', concatenate],
  ['Add', merge('Add', 'Sum')],
  ['Subtract', merge('Sub', null, 2)],
  ['Multiply', merge('Mul', null)],
  ['Average', merge('Mean', 'Mean')],
  ['Maximum', merge('Max', 'Max')],
  ['Minimum', merge('Min', 'Min')],
  ['UpSampling2D', upSampling2d],
  ['MultiplyBeta', multiplyBeta],
  ['PixelShuffle', pixelShuffle(undefined)],
]);

/** The converter for a Keras class name, including UpscalerJS's `PixelShuffle2x`…`PixelShuffle8x`. */
export function layerConverter(className: string): LayerConverter | undefined {
  const shuffle = /^PixelShuffle([1-9][0-9]?)x$/.exec(className);
  if (shuffle !== null) return pixelShuffle(Number(shuffle[1]));
  return LAYER_CONVERTERS.get(className);
}

/** Keras weight names: `layer/param`, sometimes under an enclosing scope (`model/layer/param`). */
export function findWeight(weights: ReadonlyMap<string, WeightTensor>, layer: string, param: string): WeightTensor | undefined {
  const exact = weights.get(`${layer}/${param}`);
  if (exact !== undefined) return exact;
  const suffix = `/${layer}/${param}`;
  const matches = [...weights.values()].filter((w) => w.name.endsWith(suffix));
  return matches.length === 1 ? matches[0] : undefined;
}


/**
 * The TensorFlow.js layers-model converter, one layer type at a time: small generated models (model.json + .bin
 * written from code), converted and run by onnxruntime, checked against TF.js itself (pure-JS cpu backend) and,
 * where simple, against hand-written reference code. Tolerance 1e-5.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { UpscaleError } from '../src/errors.js';
import { readOnnxInfo } from '../src/onnx/index.js';
import { convertLayersModel, readLayersModel } from '../src/models/tfjs/index.js';
import type { ConvertedModel } from '../src/models/tfjs/index.js';
import { mulberry32, nearestReference } from './fixtures/models.js';
import { LayersModelBuilder, loadTfjsModel, predictNchw, registerUpscalerLayers, useTfjs, writeLayersModel } from './helpers/tfjs.js';

const TOLERANCE = 1e-5;
let root = '';
let dirCount = 0;
const freshDir = (): string => join(root, `m${dirCount++}`);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'upscale-tfjs-convert-'));
  await useTfjs('cpu');
  registerUpscalerLayers([2, 3, 4]);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Deterministic uniform floats in [-scale, scale). */
function uniform(n: number, seed: number, scale = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (next() * 2 - 1) * scale);
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Kernel and bias weights for a Conv2D, He-ish scaled so outputs stay near unit size. */
function convWeights(kh: number, kw: number, cin: number, cout: number, seed: number, bias = true): Record<string, readonly [number[], Float32Array]> {
  const kernel: [number[], Float32Array] = [[kh, kw, cin, cout], uniform(kh * kw * cin * cout, seed, Math.sqrt(3 / (kh * kw * cin)))];
  return bias ? { kernel, bias: [[cout], uniform(cout, seed + 1, 0.1)] } : { kernel };
}

interface Run {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: readonly number[]): Promise<Run> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const { output } = await session.run({ input: new ort.Tensor('float32', input, dims) });
    assert.ok(output, 'the model has an output named "output"');
    return { data: output.data as Float32Array, dims: output.dims };
  } finally {
    await session.release();
  }
}

function assertClose(actual: Run, expected: Run, label: string, tolerance = TOLERANCE): void {
  assert.deepEqual([...actual.dims], [...expected.dims], `${label}: dims`);
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs((actual.data[i] as number) - (expected.data[i] as number));
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(worst <= tolerance, `${label}: max |diff| ${worst} at ${at} (got ${actual.data[at]}, expected ${expected.data[at]}), tolerance ${tolerance}`);
}

interface Checked {
  readonly converted: ConvertedModel;
  readonly onnx: Run;
  readonly tfjs: Run;
  readonly input: Float32Array;
}

/**
 * Writes the model, converts it, runs both onnxruntime and TF.js on the same random image and asserts they agree.
 * @param dims input [C, H, W]
 */
async function checkAgainstTfjs(path: string, label: string, dims: readonly [number, number, number] = [3, 9, 7], inputScale = 1, seed = 99): Promise<Checked> {
  const input = uniform(size(dims), seed, inputScale);
  const converted = convertLayersModel(await readLayersModel(path), { name: label, range: 1 });
  const onnx = await runOnnx(converted.onnx, input, [1, ...dims]);
  const tfjs = await predictNchw(await loadTfjsModel(path), input, dims);
  assertClose(onnx, tfjs, label);
  return { converted, onnx, tfjs, input };
}

async function oneLayer(className: string, config: Record<string, unknown>, weights: Parameters<LayersModelBuilder['layer']>[3] = {}, channels = 3): Promise<string> {
  const m = new LayersModelBuilder(channels);
  const y = m.layer(className, config, [m.input], weights);
  return m.write(freshDir(), y);
}

// ---- hand-written references ------------------------------------------------------------------------------------

interface ConvSpec {
  readonly kernel: readonly [number, number];
  readonly strides?: number;
  readonly dilation?: number;
  readonly padding: 'same' | 'valid';
}

/** Direct NCHW convolution with TF's padding rules ('same': total pad max((⌈n/s⌉-1)·s + k' - n, 0), extra at the end). */
function referenceConv(input: Float32Array, [cin, h, w]: readonly [number, number, number], kernel: Float32Array, bias: Float32Array | undefined, cout: number, spec: ConvSpec): Run {
  const [kh, kw] = spec.kernel;
  const s = spec.strides ?? 1;
  const d = spec.dilation ?? 1;
  const axis = (n: number, k: number): [number, number] => {
    const eff = (k - 1) * d + 1;
    if (spec.padding === 'valid') return [Math.floor((n - eff) / s) + 1, 0];
    const out = Math.ceil(n / s);
    return [out, Math.floor(Math.max((out - 1) * s + eff - n, 0) / 2)];
  };
  const [oh, top] = axis(h, kh);
  const [ow, left] = axis(w, kw);
  const out = new Float32Array(cout * oh * ow);
  for (let o = 0; o < cout; o++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        let sum = bias?.[o] ?? 0;
        for (let i = 0; i < cin; i++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = y * s - top + ky * d;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = x * s - left + kx * d;
              if (ix < 0 || ix >= w) continue;
              sum += (input[(i * h + iy) * w + ix] as number) * (kernel[((ky * kw + kx) * cin + i) * cout + o] as number);
            }
          }
        }
        out[(o * oh + y) * ow + x] = sum;
      }
    }
  }
  return { data: out, dims: [1, cout, oh, ow] };
}

/** Depth-to-space on NCHW: DCR reads channel (i·n + j)·C + c, CRD reads c·n² + i·n + j. */
function referenceDepthToSpace(input: Float32Array, [cin, h, w]: readonly [number, number, number], n: number, mode: 'DCR' | 'CRD'): Run {
  const c = cin / (n * n);
  const out = new Float32Array(input.length);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < h * n; y++) {
      for (let x = 0; x < w * n; x++) {
        const [i, j] = [y % n, x % n];
        const src = mode === 'DCR' ? (i * n + j) * c + k : k * n * n + i * n + j;
        out[(k * h * n + y) * w * n + x] = input[(src * h + Math.floor(y / n)) * w + Math.floor(x / n)] as number;
      }
    }
  }
  return { data: out, dims: [1, c, h * n, w * n] };
}

// ---- Conv2D -----------------------------------------------------------------------------------------------------

const CONV_CASES: readonly (ConvSpec & { label: string; bias?: boolean; dims?: readonly [number, number, number] })[] = [
  { label: 'same 3x3', kernel: [3, 3], padding: 'same' },
  { label: 'valid 3x3', kernel: [3, 3], padding: 'valid' },
  { label: 'same 1x1', kernel: [1, 1], padding: 'same' },
  { label: 'same 5x3', kernel: [5, 3], padding: 'same' },
  { label: 'same 2x2 (even: extra pad at the end)', kernel: [2, 2], padding: 'same' },
  { label: 'same 4x4', kernel: [4, 4], padding: 'same' },
  { label: 'same 3x3 stride 2 (odd size)', kernel: [3, 3], padding: 'same', strides: 2, dims: [3, 9, 7] },
  { label: 'same 3x3 stride 2 (even size)', kernel: [3, 3], padding: 'same', strides: 2, dims: [3, 8, 10] },
  { label: 'same 4x4 stride 2', kernel: [4, 4], padding: 'same', strides: 2, dims: [3, 9, 8] },
  { label: 'same 1x1 stride 3', kernel: [1, 1], padding: 'same', strides: 3, dims: [3, 10, 8] },
  { label: 'valid 3x3 stride 2', kernel: [3, 3], padding: 'valid', strides: 2 },
  { label: 'same 3x3 dilation 2', kernel: [3, 3], padding: 'same', dilation: 2 },
  { label: 'same 2x2 dilation 2', kernel: [2, 2], padding: 'same', dilation: 2 },
  { label: 'valid 3x3 dilation 2', kernel: [3, 3], padding: 'valid', dilation: 2, dims: [3, 9, 8] },
  { label: 'same 3x3 no bias', kernel: [3, 3], padding: 'same', bias: false },
];

for (const [index, c] of CONV_CASES.entries()) {
  test(`Conv2D ${c.label}: matches TF.js and a direct convolution`, async () => {
    const dims = c.dims ?? [3, 9, 7];
    const stride = c.strides ?? 1;
    const weights = convWeights(c.kernel[0], c.kernel[1], 3, 3, 10 + index, c.bias ?? true);
    const m = new LayersModelBuilder(3);
    let y = m.layer('Conv2D', {
      filters: 3,
      kernel_size: c.kernel,
      strides: [stride, stride],
      dilation_rate: [c.dilation ?? 1, c.dilation ?? 1],
      padding: c.padding,
      use_bias: c.bias ?? true,
    }, [m.input], weights);
    // A strided conv lowers the resolution; upsampling back keeps an integer scale, which the converter requires.
    if (stride > 1) y = m.layer('UpSampling2D', { size: [stride, stride], interpolation: 'nearest', data_format: 'channels_last' }, [y]);
    const { onnx, input, converted } = await checkAgainstTfjs(await m.write(freshDir(), y), `conv ${c.label}`, dims);
    const conv = referenceConv(input, dims, weights['kernel']![1], weights['bias']?.[1], 3, c);
    const [, , oh = 0, ow = 0] = conv.dims;
    const expected = stride > 1 ? { data: nearestReference(conv.data, [1, 3, oh, ow], stride), dims: [1, 3, oh * stride, ow * stride] } : conv;
    assertClose(onnx, expected, `conv ${c.label} vs reference`);
    assert.equal(converted.scale, 1);
  });
}

test('Conv2D with a fused activation emits Conv then the activation (for onnxruntime to fuse)', async () => {
  const path = await oneLayer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'relu' }, convWeights(3, 3, 3, 3, 5));
  const { converted, onnx } = await checkAgainstTfjs(path, 'conv relu');
  assert.ok(onnx.data.every((v) => v >= 0));
  assert.ok(onnx.data.some((v) => v > 0));
  assert.deepEqual(readOnnxInfo(converted.onnx).opTypes, ['Conv', 'Relu', 'Identity']);
  const tanh = await oneLayer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'tanh' }, convWeights(3, 3, 3, 3, 6));
  await checkAgainstTfjs(tanh, 'conv tanh');
});

test('Conv2D with groups (not in TF.js 4.11) matches per-group convolutions', async () => {
  const kernel = uniform(3 * 3 * 1 * 3, 15, 0.5);
  const bias = uniform(3, 16, 0.1);
  const path = await oneLayer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', groups: 3 }, { kernel: [[3, 3, 1, 3], kernel], bias: [[3], bias] });
  const dims = [3, 6, 5] as const;
  const input = uniform(size(dims), 17);
  const converted = convertLayersModel(await readLayersModel(path), { name: 'grouped', range: 1 });
  const plane = 6 * 5;
  const expected = new Float32Array(3 * plane);
  for (let g = 0; g < 3; g++) {
    const k = Float32Array.from({ length: 9 }, (_, i) => kernel[i * 3 + g] as number);
    const out = referenceConv(input.subarray(g * plane, (g + 1) * plane), [1, 6, 5], k, bias.subarray(g, g + 1), 1, { kernel: [3, 3], padding: 'same' });
    expected.set(out.data, g * plane);
  }
  assertClose(await runOnnx(converted.onnx, input, [1, ...dims]), { data: expected, dims: [1, ...dims] }, 'grouped');
});

test('Conv2D configs that cannot be converted are refused with the layer named', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ strides: [2, 2], dilation_rate: [2, 2], padding: 'same' }, 'expected strides or dilation_rate to be 1 (Keras refuses both > 1), got strides [2,2] and dilation_rate [2,2]'],
    [{ strides: [1, 2] }, 'expected equal strides on both axes, got [1,2]'],
    [{ data_format: 'channels_first' }, 'expected data_format "channels_last", got "channels_first"'],
    [{ padding: 'causal' }, 'expected padding "same" or "valid", got "causal"'],
    [{ activation: 'crelu' }, 'unsupported activation "crelu"'],
  ];
  for (const [config, message] of cases) {
    const model = await readLayersModel(await oneLayer('Conv2D', { name: 'c', filters: 3, kernel_size: [3, 3], ...config }, convWeights(3, 3, 3, 3, 1)));
    assert.throws(() => convertLayersModel(model, { name: 'conv', range: 1 }), { message: `conv: layer "c" (Conv2D): ${message}` });
  }
});

// ---- activations ------------------------------------------------------------------------------------------------

/** Activations TF.js 4.11 knows, by the snake_case name Keras writes (TF.js camel-cases it on load). */
const TFJS_ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hard_sigmoid', 'tanh', 'softplus', 'softsign', 'swish', 'mish', 'softmax', 'log_softmax'];

for (const name of TFJS_ACTIVATIONS) {
  test(`Activation "${name}" matches TF.js`, async () => {
    const path = await oneLayer('Activation', { activation: name });
    // Inputs in ±8 reach relu6's clip and the saturating ends of sigmoid, tanh and softplus.
    await checkAgainstTfjs(path, `activation ${name}`, [3, 5, 4], 8);
  });
}

/** Activations TF.js 4.11 lacks, checked against their definitions. */
const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is only 1.5e-7 accurate: integrate instead (Simpson, 2000 steps) for a 1e-9 reference.
  const n = 2000;
  const h = x / n;
  let sum = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) sum += (i % 2 === 1 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((2 / Math.sqrt(Math.PI)) * sum * h) / 3;
};
const HAND_ACTIVATIONS: Readonly<Record<string, (x: number) => number>> = {
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: (x) => x / (1 + Math.exp(-x)),
  leaky_relu: (x) => (x >= 0 ? x : 0.2 * x),
  exponential: (x) => Math.exp(x),
  hardSigmoid: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)),
};

for (const [name, f] of Object.entries(HAND_ACTIVATIONS)) {
  test(`Activation "${name}" matches its definition`, async () => {
    const dims = [3, 5, 4] as const;
    const input = uniform(size(dims), 7, 4);
    const converted = convertLayersModel(await readLayersModel(await oneLayer('Activation', { activation: name })), { name, range: 1 });
    const onnx = await runOnnx(converted.onnx, input, [1, ...dims]);
    assertClose(onnx, { data: input.map(f), dims: [1, ...dims] }, name, name === 'exponential' ? 1e-5 * 60 : TOLERANCE);
  });
}

test('unknown activations are refused naming the layer', async () => {
  const model = await readLayersModel(await oneLayer('Activation', { activation: 'crelu', name: 'act_1' }));
  assert.throws(() => convertLayersModel(model, { name: 'acts', range: 1 }), {
    name: 'UpscaleError',
    message: 'acts: layer "act_1" (Activation): unsupported activation "crelu"',
  });
});

test('LeakyReLU (alpha), ReLU (max_value) and ReLU (negative_slope) match TF.js or their definition', async () => {
  await checkAgainstTfjs(await oneLayer('LeakyReLU', { alpha: 0.1 }), 'leaky 0.1', [3, 5, 4], 3);
  await checkAgainstTfjs(await oneLayer('ReLU', { max_value: 1.5 }), 'relu max 1.5', [3, 5, 4], 3);
  const dims = [3, 4, 4] as const;
  const input = uniform(size(dims), 3, 3);
  const keras3 = convertLayersModel(await readLayersModel(await oneLayer('ReLU', { negative_slope: 0.25, max_value: 2, threshold: 0 })), { name: 'relu', range: 1 });
  assertClose(await runOnnx(keras3.onnx, input, [1, ...dims]), { data: input.map((x) => Math.min(2, x >= 0 ? x : 0.25 * x)), dims: [1, ...dims] }, 'relu slope');
  const leaky3 = convertLayersModel(await readLayersModel(await oneLayer('LeakyReLU', { negative_slope: 0.2 })), { name: 'leaky', range: 1 });
  assertClose(await runOnnx(leaky3.onnx, input, [1, ...dims]), { data: input.map((x) => (x >= 0 ? x : 0.2 * x)), dims: [1, ...dims] }, 'keras 3 leaky');
});

test('PReLU with shared spatial axes ([1, 1, C]) and fully shared ([1, 1, 1]) slopes matches TF.js', async () => {
  const perChannel = await oneLayer('PReLU', { shared_axes: [1, 2] }, { alpha: [[1, 1, 3], Float32Array.of(0.1, -0.3, 0.5)] });
  const { onnx, input } = await checkAgainstTfjs(perChannel, 'prelu [1,1,3]', [3, 5, 4], 2);
  const plane = 5 * 4;
  const slopes = [0.1, -0.3, 0.5];
  assertClose(onnx, { data: input.map((x, i) => (x >= 0 ? x : (slopes[Math.floor(i / plane)] as number) * x)), dims: [1, 3, 5, 4] }, 'prelu by hand');
  await checkAgainstTfjs(await oneLayer('PReLU', { shared_axes: [1, 2, 3] }, { alpha: [[1, 1, 1], Float32Array.of(0.25)] }), 'prelu [1,1,1]', [3, 5, 4], 2);
});

test('PReLU with per-pixel slopes is refused: it needs a fixed input size', async () => {
  const model = await readLayersModel(await oneLayer('PReLU', { name: 'p', shared_axes: null }, { alpha: [[5, 4, 3], uniform(60, 1)] }));
  assert.throws(() => convertLayersModel(model, { name: 'prelu', range: 1 }), /prelu: layer "p" \(PReLU\): expected alpha of shape \[1, 1, 3\] or \[1, 1, 1\].*got \[5, 4, 3\]/);
});

// ---- merges -----------------------------------------------------------------------------------------------------

test('Concatenate (axis 3 and -1) of the input and conv branches matches TF.js', async () => {
  for (const axis of [3, -1]) {
    const m = new LayersModelBuilder(3);
    const a = m.layer('Conv2D', { filters: 2, kernel_size: [3, 3], padding: 'same' }, [m.input], convWeights(3, 3, 3, 2, 20));
    const b = m.layer('Conv2D', { filters: 4, kernel_size: [1, 1], padding: 'same' }, [m.input], convWeights(1, 1, 3, 4, 21));
    const cat = m.layer('Concatenate', { axis }, [a, m.input, b]);
    const y = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [cat], convWeights(3, 3, 9, 3, 22));
    await checkAgainstTfjs(await m.write(freshDir(), y), `concat axis ${axis}`);
  }
});

test('Concatenate along a spatial axis is refused', async () => {
  const m = new LayersModelBuilder(3);
  const y = m.layer('Concatenate', { axis: 1, name: 'cat' }, [m.input, m.input]);
  const model = await readLayersModel(await m.write(freshDir(), y));
  assert.throws(() => convertLayersModel(model, { name: 'spatial', range: 1 }), {
    message: 'spatial: layer "cat" (Concatenate): expected concatenation along channels (axis -1 or 3), got axis 1',
  });
});

for (const className of ['Add', 'Multiply', 'Average', 'Maximum', 'Minimum']) {
  test(`${className} matches TF.js`, async () => {
    const m = new LayersModelBuilder(3);
    const a = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [m.input], convWeights(3, 3, 3, 3, 30));
    const b = m.layer('Conv2D', { filters: 3, kernel_size: [1, 1], padding: 'same' }, [m.input], convWeights(1, 1, 3, 3, 31));
    const y = m.layer(className, {}, [a, b, m.input]);
    const { converted } = await checkAgainstTfjs(await m.write(freshDir(), y), className);
    if (className === 'Add') assert.ok(readOnnxInfo(converted.onnx).opTypes.includes('Sum'), 'three-way Add is one Sum');
  });
}

test('Subtract (not in TF.js 4.11) matches its definition', async () => {
  const m = new LayersModelBuilder(3);
  const beta = m.layer('MultiplyBeta', {}, [m.input]);
  const y = m.layer('Subtract', {}, [m.input, beta]);
  const dims = [3, 4, 5] as const;
  const input = uniform(size(dims), 9);
  const converted = convertLayersModel(await readLayersModel(await m.write(freshDir(), y)), { name: 'sub', range: 1 });
  assertClose(await runOnnx(converted.onnx, input, [1, ...dims]), { data: input.map((x) => x - 0.2 * x), dims: [1, ...dims] }, 'x - 0.2x');
});

// ---- resolution changes -----------------------------------------------------------------------------------------

for (const s of [2, 3]) {
  test(`UpSampling2D ×${s} matches TF.js and nearest replication; scale ${s}`, async () => {
    const path = await oneLayer('UpSampling2D', { size: [s, s], interpolation: 'nearest', data_format: 'channels_last' });
    const dims = [3, 7, 5] as const;
    const { onnx, input, converted } = await checkAgainstTfjs(path, `upsample ${s}`, dims);
    assertClose(onnx, { data: nearestReference(input, [1, ...dims], s), dims: [1, 3, 7 * s, 5 * s] }, 'nearest by hand', 0);
    assert.equal(converted.scale, s);
  });
}

test('UpSampling2D bilinear and unequal factors are refused', async () => {
  const bilinear = await readLayersModel(await oneLayer('UpSampling2D', { name: 'up', size: [2, 2], interpolation: 'bilinear' }));
  assert.throws(() => convertLayersModel(bilinear, { name: 'b', range: 1 }), { message: 'b: layer "up" (UpSampling2D): expected interpolation "nearest", got "bilinear"' });
  const unequal = await readLayersModel(await oneLayer('UpSampling2D', { name: 'up', size: [2, 3] }));
  assert.throws(() => convertLayersModel(unequal, { name: 'u', range: 1 }), { message: 'u: layer "up" (UpSampling2D): expected the same factor on both axes, got size [2, 3]' });
});

test('MultiplyBeta matches TF.js with UpscalerJS\'s layer and is ×0.2', async () => {
  const { onnx, input } = await checkAgainstTfjs(await oneLayer('MultiplyBeta', { beta: 0.2 }), 'multiply beta');
  assertClose(onnx, { data: input.map((x) => Math.fround(x * Math.fround(0.2))), dims: [1, 3, 9, 7] }, 'x0.2', 0);
});

for (const n of [2, 3, 4]) {
  test(`PixelShuffle${n}x matches TF.js's depthToSpace: DCR order, not CRD`, async () => {
    const m = new LayersModelBuilder(3);
    const weights = convWeights(1, 1, 3, 3 * n * n, 40 + n);
    const conv = m.layer('Conv2D', { filters: 3 * n * n, kernel_size: [1, 1], padding: 'same' }, [m.input], weights);
    const y = m.layer(`PixelShuffle${n}x`, { scale: n, name: 'pixel_shuffle' }, [conv]);
    const dims = [3, 5, 4] as const;
    const { onnx, input, converted } = await checkAgainstTfjs(await m.write(freshDir(), y), `pixel shuffle ${n}`, dims);
    const features = referenceConv(input, dims, weights['kernel']![1], weights['bias']![1], 3 * n * n, { kernel: [1, 1], padding: 'same' });
    const dcr = referenceDepthToSpace(features.data, [3 * n * n, 5, 4], n, 'DCR');
    const crd = referenceDepthToSpace(features.data, [3 * n * n, 5, 4], n, 'CRD');
    assertClose(onnx, dcr, 'DCR by hand');
    assert.throws(() => assertClose(onnx, crd, 'CRD'), /max \|diff\|/, 'the check tells DCR from CRD');
    assert.equal(converted.scale, n);
  });
}

test('PixelShuffle refuses channels not divisible by the block size squared', async () => {
  const model = await readLayersModel(await oneLayer('PixelShuffle2x', { name: 'ps' }));
  assert.throws(() => convertLayersModel(model, { name: 'ps3', range: 1 }), { message: 'ps3: layer "ps" (PixelShuffle2x): expected channels divisible by 2² = 4, got 3' });
});

test('scale multiplies the upsampling factors; the receptive field counts conv radii in input pixels', async () => {
  const m = new LayersModelBuilder(3);
  let y = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [m.input], convWeights(3, 3, 3, 3, 50)); // 1
  y = m.layer('UpSampling2D', { size: [2, 2] }, [y]);
  y = m.layer('Conv2D', { filters: 12, kernel_size: [3, 3], padding: 'same' }, [y], convWeights(3, 3, 3, 12, 51)); // 1/2
  y = m.layer('PixelShuffle2x', {}, [y]);
  const side = m.layer('Conv2D', { filters: 3, kernel_size: [9, 9], padding: 'same' }, [y], convWeights(9, 9, 3, 3, 52)); // 4/4
  y = m.layer('Conv2D', { filters: 3, kernel_size: [5, 5], padding: 'same', dilation_rate: [2, 2] }, [y], convWeights(5, 5, 3, 3, 53)); // 4/4
  y = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [y], convWeights(3, 3, 3, 3, 54)); // 1/4
  y = m.layer('Add', {}, [y, side]);
  const dims = [3, 6, 5] as const;
  const { converted, onnx } = await checkAgainstTfjs(await m.write(freshDir(), y), 'scale 4', dims);
  assert.equal(converted.scale, 4);
  assert.deepEqual(onnx.dims, [1, 3, 24, 20]);
  // Longest path: 1 + 1/2 + 4/4 + 1/4 = 2.75 → 3.
  assert.equal(converted.receptiveField, 3);
  assert.equal(converted.parameterCount, 3 * 3 * 3 * 3 + 3 + 3 * 3 * 3 * 12 + 12 + 9 * 9 * 3 * 3 + 3 + 5 * 5 * 3 * 3 + 3 + 3 * 3 * 3 * 3 + 3);
  const info = readOnnxInfo(converted.onnx);
  assert.deepEqual(info.metadata, { 'upscale.scale': '4', 'upscale.range': '0-1', 'upscale.receptive_field': '3', 'upscale.name': 'scale 4' });
  assert.equal(info.opsetVersion, 17);
  assert.deepEqual(info.inputs, [{ name: 'input', elemType: 'float32', dims: [1, 3, 'H', 'W'] }]);
  assert.equal(info.outputs[0]?.name, 'output');
  // The upsampling is absorbed by the conv after it: s² copies of its bias and s²·(3x3 LR taps) kernel, no Resize.
  assert.equal(info.parameterCount, converted.parameterCount - (3 * 3 * 3 * 12 + 12) + 4 * (3 * 3 * 3 * 12 + 12));
  assert.ok(!info.opTypes.includes('Resize'));
});

for (const [s, k] of [[2, 3], [3, 5], [4, 3], [4, 5], [8, 3]] as const) {
  test(`nearest x${s} then conv ${k}x${k} runs as one low-resolution conv + DepthToSpace, equal to TF.js`, async () => {
    const m = new LayersModelBuilder(3);
    let y = m.layer('Conv2D', { filters: 6, kernel_size: [3, 3], padding: 'same', activation: 'relu' }, [m.input], convWeights(3, 3, 3, 6, 70 + s));
    y = m.layer('UpSampling2D', { size: [s, s] }, [y]);
    y = m.layer('Conv2D', { filters: 3, kernel_size: [k, k], padding: 'same' }, [y], convWeights(k, k, 6, 3, 80 + k));
    const { converted } = await checkAgainstTfjs(await m.write(freshDir(), y), `fused x${s} k${k}`, [3, 7, 5]);
    const ops = readOnnxInfo(converted.onnx).opTypes;
    assert.ok(!ops.includes('Resize') && ops.includes('DepthToSpace'), ops.join(','));
  });
}

test('an upsampling read by two layers is emitted as a Resize', async () => {
  const m = new LayersModelBuilder(3);
  const up = m.layer('UpSampling2D', { size: [2, 2] }, [m.input]);
  const a = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [up], convWeights(3, 3, 3, 3, 90));
  const y = m.layer('Add', {}, [a, up]);
  const { converted } = await checkAgainstTfjs(await m.write(freshDir(), y), 'shared upsampling', [3, 6, 5]);
  assert.ok(readOnnxInfo(converted.onnx).opTypes.includes('Resize'));
});

test('metadata: range 255 is "0-255"; the receptive field metadata is capped at 64', async () => {
  const m = new LayersModelBuilder(3);
  let y = m.input;
  for (let i = 0; i < 70; i++) y = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same' }, [y], convWeights(3, 3, 3, 3, 100 + i));
  const converted = convertLayersModel(await readLayersModel(await m.write(freshDir(), y)), { name: 'deep', range: 255 });
  assert.equal(converted.receptiveField, 70);
  const { metadata } = readOnnxInfo(converted.onnx);
  assert.equal(metadata['upscale.range'], '0-255');
  assert.equal(metadata['upscale.receptive_field'], '64');
});

// ---- topologies -------------------------------------------------------------------------------------------------

test('a Sequential model (with and without an InputLayer) matches TF.js', async () => {
  const w1 = convWeights(3, 3, 3, 4, 60);
  const w2 = convWeights(3, 3, 4, 3, 61);
  const conv = (name: string, filters: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    class_name: 'Conv2D',
    config: { name, trainable: true, dtype: 'float32', filters, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'linear', use_bias: true, ...extra },
  });
  const bodies: Record<string, unknown>[][] = [
    [conv('c1', 4, { batch_input_shape: [null, null, null, 3] }), { class_name: 'Activation', config: { name: 'act', activation: 'relu' } }, conv('c2', 3)],
    [{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, null, null, 3], dtype: 'float32' } }, conv('c1', 4), { class_name: 'LeakyReLU', config: { name: 'act', alpha: 0.2 } }, conv('c2', 3)],
  ];
  const entries: [string, readonly [number[], Float32Array]][] = [['c1/kernel', w1['kernel']!], ['c1/bias', w1['bias']!], ['c2/kernel', w2['kernel']!], ['c2/bias', w2['bias']!]];
  const bin = new Uint8Array(Buffer.concat(entries.map(([, [, data]]) => Buffer.from(data.buffer))));
  for (const [i, layers] of bodies.entries()) {
    const json = {
      format: 'layers-model',
      modelTopology: { class_name: 'Sequential', config: { name: 'seq', layers }, keras_version: '2.10.0', backend: 'tensorflow' },
      weightsManifest: [{ paths: ['w.bin'], weights: entries.map(([name, [shape]]) => ({ name, shape, dtype: 'float32' })) }],
    };
    await checkAgainstTfjs(await writeLayersModel(freshDir(), json, [bin]), `sequential ${i}`);
  }
});

test('a layer called twice (shared weights, node index 1) matches TF.js', async () => {
  const m = new LayersModelBuilder(3);
  const c = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'tanh' }, [m.input], convWeights(3, 3, 3, 3, 70));
  const conv = m.layers.at(-1)!;
  conv.inbound_nodes.push([[c, 0, 0, {}]]);
  const { json, bin } = m.toJson(c);
  ((json['modelTopology'] as { model_config: { config: { output_layers: unknown } } }).model_config.config.output_layers = [[c, 1, 0]]);
  const { converted } = await checkAgainstTfjs(await writeLayersModel(freshDir(), json, [bin]), 'shared');
  assert.equal(readOnnxInfo(converted.onnx).initializers, 2, 'one kernel and one bias for both calls');
  assert.equal(converted.receptiveField, 2);
});

/** The same two-branch model in the Keras 2 layout (for TF.js) and rewritten in other layouts. */
async function branchyModel(): Promise<{ json: Record<string, unknown>; bin: Uint8Array; layers: Record<string, unknown>[] }> {
  const m = new LayersModelBuilder(3);
  const a = m.layer('Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', name: 'a' }, [m.input], convWeights(3, 3, 3, 3, 80));
  const b = m.layer('Activation', { activation: 'relu', name: 'b' }, [a]);
  const c = m.layer('Concatenate', { axis: -1, name: 'c' }, [b, m.input]);
  const d = m.layer('Conv2D', { filters: 3, kernel_size: [1, 1], padding: 'same', name: 'd' }, [c], convWeights(1, 1, 6, 3, 81));
  const { json, bin } = m.toJson(d);
  return { json, bin, layers: m.layers as unknown as Record<string, unknown>[] };
}

const layersOf = (json: Record<string, unknown>): { layers: Record<string, unknown>[]; config: Record<string, unknown> } => {
  const config = (json['modelTopology'] as { model_config: { config: Record<string, unknown> } }).model_config.config;
  return { layers: config['layers'] as Record<string, unknown>[], config };
};

test('Keras 3 inbound_nodes ({ args } with keras_history) convert like the Keras 2 list format', async () => {
  const { json, bin } = await branchyModel();
  const reference = await checkAgainstTfjs(await writeLayersModel(freshDir(), json, [bin]), 'keras 2 layout');
  const { layers, config } = layersOf(json);
  const tensor = (ref: unknown[]): Record<string, unknown> => ({ class_name: '__keras_tensor__', config: { shape: [null, null, null, 3], dtype: 'float32', keras_history: ref.slice(0, 3) } });
  for (const layer of layers) {
    const nodes = layer['inbound_nodes'] as unknown[][][];
    layer['inbound_nodes'] = nodes.map((node) => ({ args: node.length === 1 ? [tensor(node[0]!)] : [node.map(tensor)], kwargs: {} }));
    if (layer['class_name'] === 'InputLayer') {
      const c = layer['config'] as Record<string, unknown>;
      c['batch_shape'] = c['batch_input_shape'];
      delete c['batch_input_shape'];
    }
  }
  config['input_layers'] = ['input_1', 0, 0];
  config['output_layers'] = ['d', 0, 0];
  const converted = convertLayersModel(await readLayersModel(await writeLayersModel(freshDir(), json, [bin])), { name: 'keras 3', range: 1 });
  assertClose(await runOnnx(converted.onnx, reference.input, [1, 3, 9, 7]), reference.tfjs, 'keras 3 layout');
});

test('layers listed out of order are sorted topologically', async () => {
  const { json, bin } = await branchyModel();
  const reference = await checkAgainstTfjs(await writeLayersModel(freshDir(), json, [bin]), 'in order');
  const { config } = layersOf(json);
  config['layers'] = [...(config['layers'] as unknown[])].reverse();
  const converted = convertLayersModel(await readLayersModel(await writeLayersModel(freshDir(), json, [bin])), { name: 'reversed', range: 1 });
  assertClose(await runOnnx(converted.onnx, reference.input, [1, 3, 9, 7]), reference.tfjs, 'reversed');
});

test('weights may span several shards of a group', async () => {
  const { json, bin } = await branchyModel();
  const group = (json['weightsManifest'] as { paths: string[] }[])[0]!;
  group.paths = ['part1.bin', 'part2.bin'];
  const reference = await checkAgainstTfjs(await writeLayersModel(freshDir(), json, [bin.subarray(0, 101), bin.subarray(101)]), 'two shards');
  assert.equal(reference.converted.parameterCount, bin.length / 4);
});

// ---- errors -----------------------------------------------------------------------------------------------------

/** Expects readLayersModel or convertLayersModel to throw an UpscaleError with this code and message. */
async function rejects(path: string, code: string, message: string | RegExp): Promise<void> {
  await assert.rejects(
    async () => convertLayersModel(await readLayersModel(path), { name: 'broken', range: 1 }),
    (error: unknown) => {
      assert.ok(error instanceof UpscaleError, `expected an UpscaleError, got ${String(error)}`);
      assert.equal(error.code, code);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

test('an unsupported layer class is named with its layer and the model', async () => {
  const m = new LayersModelBuilder(3);
  const y = m.layer('BatchNormalization', { name: 'bn_1', axis: -1 }, [m.input]);
  const model = await readLayersModel(await m.write(freshDir(), y));
  assert.throws(() => convertLayersModel(model, { name: 'esrgan-thick-x4', range: 1 }), {
    name: 'UpscaleError',
    message: 'esrgan-thick-x4: unsupported layer class "BatchNormalization" (layer "bn_1")',
  });
});

test('a missing shard, a truncated shard and a shard with extra bytes name the file', async () => {
  const { json, bin } = await branchyModel();
  const dir = freshDir();
  const path = await writeLayersModel(dir, json, [bin]);
  const shard = join(dir, 'group1-shard1of1.bin');
  await rm(shard);
  await rejects(path, 'MODEL_INVALID', `${shard}: weight shard not found (listed in ${path})`);
  await writeFile(shard, bin.subarray(0, bin.length - 8));
  await rejects(path, 'MODEL_INVALID', `${shard}: weight group 1 (group1-shard1of1.bin) holds ${bin.length - 8} bytes, expected ${bin.length} for its 4 float32 weights (truncated?)`);
  await writeFile(shard, Buffer.concat([bin, new Uint8Array(4)]));
  await rejects(path, 'MODEL_INVALID', `${shard}: weight group 1 (group1-shard1of1.bin) holds ${bin.length + 4} bytes, expected ${bin.length} for its 4 float32 weights`);
});

test('non-float32 and quantized weights, bad shapes, bad JSON and other formats are refused naming model.json', async () => {
  const cases: [string, (json: Record<string, unknown>) => void, string | RegExp][] = [
    ['int32', (j) => void (manifestWeights(j)[0]!['dtype'] = 'int32'), 'weight "a/kernel" has dtype "int32" (string), expected "float32"'],
    ['quantized', (j) => void (manifestWeights(j)[0]!['quantization'] = { dtype: 'uint8', min: 0, scale: 1 }), 'weight "a/kernel" is quantized ("uint8" (string)); only float32 weights are supported'],
    ['negative', (j) => void (manifestWeights(j)[1]!['shape'] = [-3]), 'weight "a/bias" has shape [-3]: expected non-negative integer dimensions, got -3 (number) at 0'],
    ['absurd', (j) => void (manifestWeights(j)[1]!['shape'] = [65536, 65536]), /weight "a\/bias" has shape \[65536, 65536\]: more than 2147483647 bytes/],
    ['graph model', (j) => void (j['format'] = 'graph-model'), 'expected format "layers-model", got "graph-model"'],
    ['no topology', (j) => void delete j['modelTopology'], 'expected modelTopology to be an object, got nothing'],
    ['subclassed', (j) => void ((j['modelTopology'] as { model_config: Record<string, unknown> }).model_config['class_name'] = 'MyNet'), 'expected a Functional or Sequential model, got class_name "MyNet"'],
    ['escape', (j) => void ((j['weightsManifest'] as { paths: string[] }[])[0]!.paths = ['../w.bin']), 'expected weightsManifest[0].paths[0] to be a path relative to model.json inside its directory, got "../w.bin"'],
  ];
  for (const [label, edit, message] of cases) {
    const { json, bin } = await branchyModel();
    edit(json);
    const path = await writeLayersModel(freshDir(), json, [bin]);
    const prefix = label === 'subclassed' ? 'broken' : path;
    await rejects(path, 'MODEL_INVALID', typeof message === 'string' ? `${prefix}: ${message}` : message);
  }
  const dir = freshDir();
  const path = await writeLayersModel(dir, { format: 'layers-model' }, []);
  await writeFile(path, '{"format": "layers-model", ');
  await rejects(path, 'MODEL_INVALID', new RegExp(`^${escapeRegExp(path)}: not valid JSON \\(`));
  await rejects(join(dir, 'nope.json'), 'MODEL_NOT_FOUND', `${join(dir, 'nope.json')}: model.json not found`);
});

test('weights that do not fit the layers are refused: wrong shape, missing, unused', async () => {
  const variants: [string, (json: Record<string, unknown>) => void, string][] = [
    ['shape', (j) => void (manifestWeights(j)[2]!['shape'] = [1, 1, 3, 6]), 'broken: layer "d" (Conv2D): expected weight "d/kernel" of shape [1, 1, 6, 3], got [1, 1, 3, 6]'],
    ['missing', (j) => void (manifestWeights(j)[1]!['name'] = 'x/bias'), 'broken: layer "a" (Conv2D): weight "a/bias" is not in the weights manifest'],
    ['unused', (j) => void (layersOf(j).layers.find((l) => l['name'] === 'd')!['config'] = { ...(layersOf(j).layers.find((l) => l['name'] === 'd')!['config'] as object), use_bias: false }), 'broken: 1 weights are used by no layer: d/bias'],
  ];
  for (const [, edit, message] of variants) {
    const { json, bin } = await branchyModel();
    edit(json);
    await rejects(await writeLayersModel(freshDir(), json, [bin]), 'MODEL_INVALID', message);
  }
});

function manifestWeights(json: Record<string, unknown>): Record<string, unknown>[] {
  return (json['weightsManifest'] as { weights: Record<string, unknown>[] }[])[0]!.weights;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('the reader keeps the manifest order, shapes and values', async () => {
  const { json, bin } = await branchyModel();
  const model = await readLayersModel(await writeLayersModel(freshDir(), json, [bin]));
  assert.deepEqual([...model.weights.keys()], ['a/kernel', 'a/bias', 'd/kernel', 'd/bias']);
  assert.deepEqual(model.weights.get('d/kernel')?.shape, [1, 1, 6, 3]);
  const floats = new Float32Array(bin.buffer, bin.byteOffset, bin.length / 4);
  assert.deepEqual([...(model.weights.get('a/bias')?.data ?? [])], [...floats.subarray(81, 84)]);
  assert.equal(model.generatedBy, 'keras v2.10.0');
  assert.equal(model.topology.class_name, 'Functional');
});

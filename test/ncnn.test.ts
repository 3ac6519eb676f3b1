/**
 * NCNN models (.param + .bin) converted to ONNX and run by onnxruntime, against PyTorch references written by
 * test/fixtures/pytorch/make_ncnn_fixtures.py into test/fixtures/ncnn/ (Real-ESRGAN's two structures, fp32 and
 * fp16-tagged weights, one network using every other supported layer type, one with every Pooling mode checked
 * against a port of ncnn's pooling loops, and two small U-Nets without padding in Real-CUGAN's and waifu2x cunet's
 * layer vocabularies: squeeze-excitation, InnerProduct, crops, and the border they eat, padded back in the graph).
 * Tolerance 1e-4. Then the parser's and the weight reader's errors. The real waifu2x and Real-CUGAN models are in
 * ncnn-models.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UpscaleError } from '../src/errors.js';
import { readOnnxInfo } from '../src/onnx/index.js';
import { ncnnToOnnx, parseNcnnParam, readNcnnModel } from '../src/models/ncnn/index.js';
import { OnnxSession } from '../src/runtime/onnx.js';

const DIR = fileURLToPath(new URL('./fixtures/ncnn', import.meta.url));
const TOLERANCE = 1e-4;

interface Meta {
  readonly name: string;
  readonly scale: number;
  readonly fp16: boolean;
  readonly input_shape: readonly [number, number, number, number];
  readonly output_shape: readonly [number, number, number, number];
  readonly layers: number;
  readonly layer_types: readonly string[];
  readonly size_multiple?: number;
  /** Input pixels the network eats on each side (networks without padding). */
  readonly border?: number;
  readonly tile_alignment?: number;
  /** A second input of another size, and its reference output. */
  readonly input2_shape?: readonly [number, number, number, number];
  readonly output2_shape?: readonly [number, number, number, number];
}

async function readF32(path: string): Promise<Float32Array> {
  const b = await readFile(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function fixture(name: string): Promise<{ meta: Meta; param: string; bin: Uint8Array; input: Float32Array; output: Float32Array }> {
  return {
    meta: JSON.parse(await readFile(join(DIR, `${name}.json`), 'utf8')) as Meta,
    param: await readFile(join(DIR, `${name}.param`), 'utf8'),
    bin: new Uint8Array(await readFile(join(DIR, `${name}.bin`))),
    input: await readF32(join(DIR, `${name}.input.f32`)),
    output: await readF32(join(DIR, `${name}.output.f32`)),
  };
}

async function run(onnx: Uint8Array, input: Float32Array, [, channels, height, width]: readonly number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const session = await OnnxSession.create(onnx, { threads: 1 });
  try {
    const out = await session.run({ data: input, channels: channels!, height: height!, width: width! });
    return { data: out.data, dims: [1, out.channels, out.height, out.width] };
  } finally {
    await session.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'upscale-ncnn-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

// ---- against PyTorch --------------------------------------------------------------------------------------------

for (const name of ['compact-x4', 'compact-x4-fp16', 'compact-x2-fp16', 'rrdb-x4', 'rrdb-x4-fp16', 'ops-x2', 'pool-x2', 'cugan-like-x2', 'cunet-like-x2']) {
  test(`${name}: converted model matches PyTorch within ${TOLERANCE}`, async () => {
    const f = await fixture(name);
    const converted = ncnnToOnnx(f.param, f.bin, `${name}.param`);
    assert.equal(converted.scale, f.meta.scale);
    assert.equal(converted.inChannels, 3);
    assert.equal(converted.outChannels, 3);
    assert.equal(converted.layers, f.meta.layers);
    assert.deepEqual(converted.layerTypes, f.meta.layer_types);
    assert.equal(converted.sizeMultiple, f.meta.size_multiple ?? 1);
    assert.equal(converted.unusedBytes, 0);
    assert.deepEqual(converted.storage, [f.meta.fp16 ? 'float16' : 'float32']);
    assert.ok(converted.receptiveField > 0 && converted.receptiveField <= 64, `receptive field ${converted.receptiveField}`);

    const info = readOnnxInfo(converted.onnx);
    assert.equal(info.metadata['upscale.scale'], String(f.meta.scale));
    assert.equal(info.metadata['upscale.range'], '0-1');
    assert.equal(info.metadata['upscale.name'], name);
    assert.equal(info.metadata['upscale.size_multiple'], String(f.meta.size_multiple ?? 1));

    const out = await run(converted.onnx, f.input, f.meta.input_shape);
    assert.deepEqual(out.dims, f.meta.output_shape);
    const diff = maxAbsDiff(out.data, f.output);
    console.log(`${name}: max abs diff ${diff.toExponential(2)}, ${converted.parameters} parameters, receptive field ${converted.receptiveField}`);
    assert.ok(diff <= TOLERANCE, `max abs diff ${diff}`);

    const border = f.meta.border ?? 0;
    assert.deepEqual(converted.border, { top: border, bottom: border, left: border, right: border });
    assert.equal(converted.tileAlignment, f.meta.tile_alignment ?? f.meta.size_multiple ?? 1);
    const global = f.meta.layer_types.includes('InnerProduct');
    assert.equal(converted.tilingSafe, !global);
    assert.equal(info.metadata['upscale.tiling_safe'], global ? 'false' : undefined);
    if (f.meta.input2_shape !== undefined && f.meta.output2_shape !== undefined) {
      const second = await run(converted.onnx, await readF32(join(DIR, `${name}.input2.f32`)), f.meta.input2_shape);
      assert.deepEqual(second.dims, f.meta.output2_shape);
      const diff2 = maxAbsDiff(second.data, await readF32(join(DIR, `${name}.output2.f32`)));
      assert.ok(diff2 <= TOLERANCE, `${f.meta.input2_shape.join('x')} input: max abs diff ${diff2}`);
    }
  });
}

test('networks without padding: the border found on the graph, the program by its blob names, the pad mode it uses', async () => {
  const cugan = await fixture('cugan-like-x2');
  const cunet = await fixture('cunet-like-x2');
  const a = ncnnToOnnx(cugan.param, cugan.bin, 'cugan-like-x2.param');
  const b = ncnnToOnnx(cunet.param, cunet.bin, 'cunet-like-x2.param');
  assert.deepEqual([a.program, a.borderMode, a.sizeMultiple, a.receptiveField, a.cuganPro], ['realcugan-ncnn-vulkan', 'reflect', 1, 6, false]);
  assert.deepEqual([b.program, b.borderMode, b.sizeMultiple, b.receptiveField, b.cuganPro], ['waifu2x-ncnn-vulkan', 'edge', 1, 6, false]);
  assert.equal(readOnnxInfo(a.onnx).metadata['upscale.tile_alignment'], '2');
  assert.equal(readOnnxInfo(a.onnx).metadata['upscale.size_multiple'], '1');
  // Real-CUGAN pro is told by the folder or file name, and only for Real-CUGAN's graphs.
  assert.equal(ncnnToOnnx(cugan.param, cugan.bin, 'models-pro/up2x-conservative.param').cuganPro, true);
  assert.equal(ncnnToOnnx(cugan.param, cugan.bin, '/x/realcugan-pro/up2x.param').cuganPro, true);
  assert.equal(ncnnToOnnx(cugan.param, cugan.bin, 'models-se/up2x-conservative.param').cuganPro, false);
  assert.equal(ncnnToOnnx(cunet.param, cunet.bin, 'models-pro/scale2.0x_model.param').cuganPro, false);
  // The pad mode can be chosen: edge replication changes the border pixels of the Real-CUGAN-like model's output.
  const edge = ncnnToOnnx(cugan.param, cugan.bin, 'cugan-like-x2.param', { borderMode: 'edge' });
  assert.equal(edge.borderMode, 'edge');
  const out = await run(edge.onnx, cugan.input, cugan.meta.input_shape);
  assert.ok(maxAbsDiff(out.data, cugan.output) > 1e-3);
});

test('a valid 3×3 max pooling eats one pixel a side: the graph replicates the edge back (no weights)', async () => {
  const param = `7767517\n2 2\nInput in 0 1 data 2=1\nPooling pool 1 1 data output 0=0 1=3 2=1 5=1\n`;
  const converted = ncnnToOnnx(param, new Uint8Array(0), 'pool.param');
  assert.deepEqual([converted.scale, converted.border, converted.borderMode], [1, { top: 1, bottom: 1, left: 1, right: 1 }, 'edge']);
  const [h, w] = [4, 5];
  const input = Float32Array.from({ length: h * w }, (_, i) => ((i * 7) % 11) / 11);
  const at = (y: number, x: number): number => input[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  const expected = Float32Array.from({ length: h * w }, (_, i) => {
    const [y, x] = [Math.floor(i / w), i % w];
    return Math.max(...[-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx) => at(y + dy, x + dx))));
  });
  assert.deepEqual([...(await run(converted.onnx, input, [1, 1, h, w])).data], [...expected]);
});

test('fp16 weights are read as the fp16-rounded values (and differ from the fp32 file)', async () => {
  const half = await fixture('compact-x4-fp16');
  const full = await fixture('compact-x4');
  assert.ok(half.bin.byteLength < full.bin.byteLength * 0.6);
  assert.ok(maxAbsDiff(half.output, full.output) > 1e-4, 'the fp16 reference should differ from the fp32 one');
});

test('readNcnnModel reads the .bin beside the .param', async () => {
  const model = await readNcnnModel(join(DIR, 'compact-x2-fp16.param'));
  assert.equal(model.scale, 2);
  assert.equal(model.binPath, join(DIR, 'compact-x2-fp16.bin'));
  assert.equal(readOnnxInfo(model.onnx).metadata['upscale.name'], 'compact-x2-fp16');
});

test('readNcnnModel: a missing .bin is MODEL_NOT_FOUND naming it', async () => {
  const param = join(root, 'lonely.param');
  await copyFile(join(DIR, 'compact-x2-fp16.param'), param);
  await assert.rejects(readNcnnModel(param), (error: unknown) => {
    assert.ok(error instanceof UpscaleError);
    assert.equal(error.code, 'MODEL_NOT_FOUND');
    assert.equal(error.file, join(root, 'lonely.bin'));
    assert.equal(error.message, `${join(root, 'lonely.bin')}: NCNN .bin file (the weights for ${param}) not found`);
    return true;
  });
  await assert.rejects(readNcnnModel(join(root, 'absent.param')), { code: 'MODEL_NOT_FOUND', message: `${join(root, 'absent.param')}: NCNN .param file not found` });
  await assert.rejects(readNcnnModel(join(root, 'model.bin')), { code: 'MODEL_INVALID', message: /expected the path of an NCNN \.param file/ });
});

// ---- .param errors ----------------------------------------------------------------------------------------------

const HEADER = '7767517\n3 3\n';
const GOOD = `${HEADER}Input in 0 1 data\nConvolution conv 1 1 data c 0=3 1=1 5=1 6=9\nReLU relu 1 1 c output\n`;

function parseError(text: string): string {
  try {
    parseNcnnParam(text, 'm.param');
  } catch (error) {
    assert.ok(error instanceof UpscaleError, String(error));
    assert.equal(error.code, 'MODEL_INVALID');
    assert.equal(error.file, 'm.param');
    return error.message;
  }
  return assert.fail('expected an error');
}

test('parseNcnnParam: layers, blobs and typed parameters', () => {
  const net = parseNcnnParam(`${HEADER}Input in 0 1 data 0=4 2=3\nInterp up 1 1 data x 0=1 1=2.000000e+00 2=2.5 -23310=2,1.0,6.0 11=1,2,3 9=hello\nNoop n 1 1 x output\n`, 'm.param');
  assert.equal(net.blobCount, 3);
  assert.equal(net.layers.length, 3);
  const interp = net.layers[1]!;
  assert.deepEqual([interp.type, interp.name, interp.inputs, interp.outputs, interp.line], ['Interp', 'up', ['data'], ['x'], 4]);
  assert.deepEqual(interp.params.get(0), { kind: 'int', value: 1 });
  assert.deepEqual(interp.params.get(1), { kind: 'float', value: 2 });
  assert.deepEqual(interp.params.get(10), { kind: 'array', value: [1, 6], float: true });
  assert.deepEqual(interp.params.get(11), { kind: 'array', value: [1, 2, 3], float: false });
  assert.deepEqual(interp.params.get(9), { kind: 'string', value: 'hello' });
});

test('parseNcnnParam: errors name the line', () => {
  assert.equal(parseError(''), 'm.param: line 1: expected the NCNN magic number 7767517, got an empty file');
  assert.equal(parseError('7767518\n1 1\nInput in 0 1 data\n'), 'm.param: line 1: expected the NCNN magic number 7767517, got "7767518"');
  assert.match(parseError('\u00dd\u0085v\u0000\u0003\u0000\u0000\u0000'), /line 1: expected a text \.param, got binary data/);
  assert.equal(parseError('7767517\n3\n'), 'm.param: line 2: expected two numbers (layer count, blob count), got "3"');
  assert.equal(parseError('7767517\n0 1\n'), 'm.param: line 2: expected a positive layer count, got "0"');
  assert.equal(parseError(GOOD.replace('3 3', '4 3')), 'm.param: line 2: the header declares 4 layers, but the file has 3 layer lines');
  assert.equal(parseError(GOOD.replace('3 3', '2 3')), 'm.param: line 5: the header declares 2 layers, but the file has 3 layer lines');
  assert.equal(parseError(GOOD.replace('3 3', '3 2')), 'm.param: line 2: the header declares 2 blobs, but the layers produce 3');
  assert.equal(parseError(GOOD.replace('ReLU relu 1 1 c output', 'ReLU relu 1 1 d output')), 'm.param: line 5: layer "relu" (ReLU) reads blob "d" before any layer produces it');
  assert.equal(parseError(GOOD.replace('ReLU relu 1 1 c output', 'ReLU relu 1 1 c data')), 'm.param: line 5: layer "relu" (ReLU) produces blob "data", already produced on line 3');
  assert.equal(parseError(GOOD.replace('ReLU relu', 'ReLU conv')), 'm.param: line 5: duplicate layer name "conv"');
  assert.equal(parseError(GOOD.replace('1 1 data c', '1 x data c')), 'm.param: line 4: expected the output blob count of layer "conv" to be a non-negative integer, got "x"');
  assert.equal(parseError(GOOD.replace('1 1 data c', '1 3 data c')), 'm.param: line 4: layer "conv" declares 3 output blobs, but "0=3" is a parameter');
  assert.equal(parseError(GOOD.replace('ReLU relu 1 1 c output', 'ReLU relu 1 9 c output')), 'm.param: line 5: layer "relu" declares 1 input and 9 output blobs, but the line names only 2');
  assert.equal(parseError(GOOD.replace('1 1 data c', '2 1 data c')), 'm.param: line 4: layer "conv" (Convolution) reads blob "c" before any layer produces it');
  assert.equal(parseError(GOOD.replace('1 1 c output', '1 1 0=1 output')), 'm.param: line 5: layer "relu" declares 1 input blobs, but "0=1" is a parameter');
  assert.equal(parseError(GOOD.replace('6=9', '6=9x')), 'm.param: line 4: layer "conv" (Convolution): expected a number for parameter 6, got "9x"');
  assert.equal(parseError(GOOD.replace('6=9', '6=9 6=9')), 'm.param: line 4: layer "conv" (Convolution): parameter 6 is given twice');
  assert.equal(parseError(GOOD.replace('6=9', '40=1')), 'm.param: line 4: layer "conv" (Convolution): parameter id 40 is out of range (0 to 31, or -23300 - id for arrays)');
  assert.equal(parseError(GOOD.replace('6=9', '-23310=3,1.0,2.0')), 'm.param: line 4: layer "conv" (Convolution): array -23310 declares 3 elements but has 2');
  assert.equal(parseError(GOOD.replace('6=9', 'weights')), 'm.param: line 4: layer "conv" (Convolution): expected "id=value", got "weights"');
});

// ---- conversion errors ------------------------------------------------------------------------------------------

/** A 3→3 1×1 convolution's weights and bias: tag, 9 floats, 3 floats. */
function goodBin(): Uint8Array {
  const bytes = new Uint8Array(4 + 9 * 4 + 3 * 4);
  const f = new Float32Array(bytes.buffer, 4);
  f.set([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
  return bytes;
}

function convertError(param: string, bin: Uint8Array): UpscaleError {
  try {
    ncnnToOnnx(param, bin, 'm.param');
  } catch (error) {
    assert.ok(error instanceof UpscaleError, String(error));
    assert.equal(error.code, 'MODEL_INVALID');
    return error;
  }
  return assert.fail('expected an error');
}

test('a tiny hand-written model converts and runs (identity 1×1 conv, ReLU)', async () => {
  const converted = ncnnToOnnx(GOOD, goodBin(), 'm.param');
  assert.equal(converted.scale, 1);
  assert.equal(converted.parameters, 12);
  const input = Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 6);
  const out = await run(converted.onnx, input, [1, 3, 2, 2]);
  assert.deepEqual([...out.data], [...input].map((v) => Math.max(v, 0)));
});

test('unsupported layer types and parameters name the line and the layer', () => {
  const param = GOOD.replace('ReLU relu 1 1 c output', 'LSTM lstm 1 1 c output');
  assert.match(convertError(param, goodBin()).message, /^m\.param: line 5: unsupported layer type "LSTM" \(layer "lstm"\); supported: BatchNorm, BinaryOp, Clip, /);
  assert.equal(
    convertError(GOOD.replace('6=9', '6=9 8=1'), goodBin()).message,
    'm.param: line 4: layer "conv" (Convolution): int8 quantization (parameter 8=1) is not supported',
  );
  assert.equal(
    convertError(GOOD.replace('6=9', '6=10'), goodBin()).message,
    'm.param: line 4: layer "conv" (Convolution): weight_data_size 10 is not num_output 3 × kernel 1×1 × input channels',
  );
  assert.equal(
    convertError(GOOD.replace('ReLU relu 1 1 c output', 'Interp up 1 1 c output 0=1 3=64 4=64'), goodBin()).message,
    'm.param: line 5: layer "up" (Interp): a fixed output_height (the output would not follow the input size) (parameter 3=64) is not supported',
  );
  assert.equal(
    convertError(GOOD.replace('ReLU relu 1 1 c output', 'Interp up 1 1 c output 0=1 1=2.0 2=3.0'), goodBin()).message,
    'm.param: the output (blob "output") is 2·H × 3·W for an H × W input; expected an integer multiple of the input size',
  );
  assert.equal(
    convertError(GOOD.replace('ReLU relu 1 1 c output', 'Padding pad 1 1 c output 0=1'), goodBin()).message,
    'm.param: the output (blob "output") is H + 1 × W for an H × W input; expected an integer multiple of the input size',
  );
  assert.equal(
    convertError(`7767517\n2 2\nInput in 0 1 data\nConvolution conv 1 1 data c 0=3 1=1 5=1 6=9\n`.replace('c 0=3', 'c 0=3 9=7'), goodBin()).message,
    'm.param: line 4: layer "conv" (Convolution): unsupported fused activation type 7 (parameter 9; 1 ReLU, 2 leaky ReLU, 3 clip, 4 sigmoid, 5 mish, 6 hard swish)',
  );
  assert.equal(
    convertError(`7767517\n3 4\nInput in 0 1 data\nSplit s 1 2 data a b\nReLU relu 1 1 a c\n`, goodBin()).message,
    'm.param: expected one output blob (named "output", or the only blob no layer reads), got 2: "b", "c"',
  );
});

test('a .param asking for more weights than the .bin holds: an error naming the layer, no crash', () => {
  const truncated = goodBin().subarray(0, 30);
  const error = convertError(GOOD, truncated);
  assert.equal(error.file, 'm.bin');
  assert.equal(
    error.message,
    'm.bin: layer "conv" (Convolution, line 4 of m.param): weight_data needs 9 float32 values (36 bytes) at byte 4, but the file ends at byte 30 (the .param asks for more weights than the .bin holds; are they from the same model?)',
  );
  // The bias is read after the kernel.
  assert.match(convertError(GOOD, goodBin().subarray(0, 44)).message, /layer "conv" \(Convolution, line 4 of m\.param\): bias_data needs 3 float32 values \(12 bytes\) at byte 40, but the file ends at byte 44/);
  assert.match(convertError(GOOD, new Uint8Array(0)).message, /weight_data needs its 4-byte storage tag at byte 0, but the file ends at byte 0/);
  // A forged weight count is refused before anything is allocated.
  const huge = `${HEADER}Input in 0 1 data\nConvolution conv 1 1 data c 0=300000000 1=1 5=1 6=900000000\nReLU relu 1 1 c output\n`;
  assert.match(convertError(huge, goodBin()).message, /conv.*: weight_data: expected a weight count from 1 to 268435456, got 900000000$/);
  const big = `${HEADER}Input in 0 1 data\nConvolution conv 1 1 data c 0=1000000 1=3 5=1 6=27000000\nReLU relu 1 1 c output\n`;
  assert.match(convertError(big, goodBin()).message, /weight_data needs 27000000 float32 values \(108000000 bytes\) at byte 4, but the file ends at byte 52/);
});

test('int8-tagged weights are refused; codebook weights are decoded', async () => {
  const int8 = goodBin();
  new DataView(int8.buffer).setUint32(0, 0x000d4b38, true);
  assert.match(convertError(GOOD, int8).message, /weight_data is int8-quantized \(storage tag 0x000D4B38 at byte 0\)/);

  // Codebook: any other tag, 256 float32 values, then one uint8 index per weight (padded to 4 bytes).
  const bytes = new Uint8Array(4 + 1024 + 12 + 12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0x00000101, true);
  for (let i = 0; i < 256; i++) view.setFloat32(4 + 4 * i, i / 2, true);
  bytes.set([2, 0, 0, 0, 2, 0, 0, 0, 2], 4 + 1024); // identity × 1.0 (entry 2 is 1.0)
  const converted = ncnnToOnnx(GOOD, bytes, 'm.param');
  assert.deepEqual(converted.storage, ['codebook']);
  const input = Float32Array.from({ length: 12 }, (_, i) => i / 12);
  assert.deepEqual([...(await run(converted.onnx, input, [1, 3, 2, 2])).data], [...input]);
});

test('Pooling, InnerProduct, Scale and Crop refuse what cannot follow the input size, naming the layer', () => {
  const one = (line: string): string => convertError(`7767517\n3 3\nInput in 0 1 data 2=3\n${line}\nReLU relu 1 1 c output\n`, goodBin()).message;
  assert.equal(
    one('InnerProduct fc 1 1 data c 0=3 1=1 2=9'),
    'm.param: line 4: layer "fc" (InnerProduct): an InnerProduct over a whole image (flattened) is not supported (its weights fix the input size); only over a 1-D blob, after a global pooling',
  );
  assert.equal(
    one('Pooling pool 1 1 data c 0=1 7=1 8=4'),
    'm.param: line 4: layer "pool" (Pooling): adaptive pooling to a fixed size (4 × 4, parameters 8 and 18) is not supported (the output would not follow the input size)',
  );
  assert.equal(one('Pooling pool 1 1 data c 0=2 1=2'), 'm.param: line 4: layer "pool" (Pooling): unsupported pooling type 2 (parameter 0; 0 max, 1 average)');
  const sePrefix = `7767517\n5 6\nInput in 0 1 data 2=3\nSplit s 1 2 data a b\nPooling gap 1 1 a g 0=1 4=1\n`;
  assert.equal(
    convertError(`${sePrefix}Scale sc 2 1 b g c 0=-233 1=1\nReLU relu 1 1 c output\n`, goodBin()).message,
    'm.param: line 6: layer "sc" (Scale): a bias with the scale from a second blob (scale_data_size -233) is not supported',
  );
  assert.equal(
    convertError(`${sePrefix}Convolution conv 1 1 g c 0=3 1=1 5=1 6=9\nBinaryOp mul 2 1 b c output 0=2\n`, goodBin()).message,
    'm.param: line 6: layer "conv" (Convolution): its input is a 1-D blob of 3 values (from a global pooling or InnerProduct), which only BinaryOp, Scale, Eltwise, InnerProduct and activations can use',
  );
  assert.equal(
    convertError(`7767517\n2 2\nInput in 0 1 data 2=3\nPooling gap 1 1 data output 0=1 4=1\n`, goodBin()).message,
    'm.param: the output (blob "output") is a 1-D blob of 3 values, not an image',
  );
  // A 2×2 valid pooling eats one pixel across: half a pixel a side cannot be padded back.
  assert.equal(
    convertError(`7767517\n2 2\nInput in 0 1 data 2=3\nPooling p 1 1 data output 0=0 1=2 2=1 5=1\n`, goodBin()).message,
    'm.param: the output (blob "output") is H - 1 × W - 1 for an H × W input, and it eats 1 input pixels across (height), 0.5 before and 0.5 after, not whole pixels; expected an integer multiple of the input size, less a border of whole input pixels',
  );
});

test('a model whose input channels the weights contradict is refused', () => {
  const param = `${HEADER}Input in 0 1 data 2=3\nConvolution conv 1 1 data c 0=3 1=1 5=1 6=3\nReLU relu 1 1 c output\n`;
  assert.equal(convertError(param, goodBin()).message, 'm.param: line 4: layer "conv" (Convolution): its weights expect 1 input channels, but its input blob has 3');
});

test('readNcnnModel: errors from the files name them', async () => {
  const param = join(root, 'broken.param');
  await writeFile(param, GOOD);
  await writeFile(join(root, 'broken.bin'), new Uint8Array(0));
  await assert.rejects(readNcnnModel(param), { code: 'MODEL_INVALID', message: `${join(root, 'broken.bin')}: NCNN .bin file (the weights for ${param}) is empty (0 bytes)` });
  await writeFile(join(root, 'broken.bin'), goodBin().subarray(0, 8));
  await assert.rejects(readNcnnModel(param), { code: 'MODEL_INVALID', message: /broken\.bin: layer "conv" \(Convolution, line 4 of .*broken\.param\): weight_data needs/ });
});

// ---- resampling against ncnn's own algorithm --------------------------------------------------------------------

/**
 * ncnn's Interp coefficients (src/layer/interp.cpp linear_coeffs / cubic_coeffs, ported as read): per output index
 * the first source tap and the tap weights, with ncnn's border rules.
 */
function ncnnCoeffs(inSize: number, outSize: number, alignCorner: boolean, cubic: boolean): { ofs: number[]; alpha: number[][] } {
  const scale = alignCorner ? (inSize - 1) / (outSize - 1) : inSize / outSize;
  const ofs: number[] = [];
  const alpha: number[][] = [];
  const A = -0.75;
  for (let dx = 0; dx < outSize; dx++) {
    let fx = Math.fround(alignCorner ? dx * scale : (dx + 0.5) * scale - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (!cubic) {
      if (sx < 0) [sx, fx] = [0, 0];
      if (sx >= inSize - 1) [sx, fx] = [inSize - 2, 1];
      ofs.push(sx);
      alpha.push([1 - fx, fx]);
      continue;
    }
    const f0 = fx + 1;
    const f2 = 1 - fx;
    const c0 = A * f0 * f0 * f0 - 5 * A * f0 * f0 + 8 * A * f0 - 4 * A;
    const c1 = (A + 2) * fx * fx * fx - (A + 3) * fx * fx + 1;
    const c2 = (A + 2) * f2 * f2 * f2 - (A + 3) * f2 * f2 + 1;
    let a = [c0, c1, c2, 1 - c0 - c1 - c2];
    if (sx <= -1) [sx, a] = [1, [1 - a[3]!, a[3]!, 0, 0]];
    if (sx === 0) [sx, a] = [1, [a[0]! + a[1]!, a[2]!, a[3]!, 0]];
    if (sx === inSize - 2) [sx, a] = [inSize - 3, [0, a[0]!, a[1]!, a[2]! + a[3]!]];
    if (sx >= inSize - 1) [sx, a] = [inSize - 3, [0, 0, a[0]!, 1 - a[0]!]];
    ofs.push(sx - 1);
    alpha.push(a);
  }
  return { ofs, alpha };
}

function ncnnResize(data: Float32Array, c: number, h: number, w: number, outH: number, outW: number, alignCorner: boolean, cubic: boolean): Float32Array {
  const xs = ncnnCoeffs(w, outW, alignCorner, cubic);
  const ys = ncnnCoeffs(h, outH, alignCorner, cubic);
  const out = new Float32Array(c * outH * outW);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        let sum = 0;
        for (const [j, b] of ys.alpha[y]!.entries()) {
          for (const [i, a] of xs.alpha[x]!.entries()) sum += b * a * data[(ch * h + ys.ofs[y]! + j) * w + xs.ofs[x]! + i]!;
        }
        out[(ch * outH + y) * outW + x] = sum;
      }
    }
  }
  return out;
}

for (const [label, resizeType, factor, align] of [
  ['bilinear ×2', 2, 2, false],
  ['bilinear ×2, aligned corners', 2, 2, true],
  ['bicubic ×2', 3, 2, false],
  ['bicubic ×3, aligned corners', 3, 3, true],
] as const) {
  test(`Interp ${label} matches ncnn's resampling`, async () => {
    const param = `7767517\n2 2\nInput in 0 1 data 2=3\nInterp up 1 1 data output 0=${resizeType} 1=${factor}.0 2=${factor}.0 6=${align ? 1 : 0}\n`;
    const converted = ncnnToOnnx(param, new Uint8Array(0), 'interp.param');
    assert.equal(converted.scale, factor);
    const [c, h, w] = [3, 5, 7];
    const input = Float32Array.from({ length: c * h * w }, (_, i) => Math.sin(i * 1.7) * 0.5 + 0.5);
    const out = await run(converted.onnx, input, [1, c, h, w]);
    const diff = maxAbsDiff(out.data, ncnnResize(input, c, h, w, h * factor, w * factor, align, resizeType === 3));
    assert.ok(diff < 1e-5, `max abs diff ${diff}`);
  });
}

test("Interp bicubic ×0.75 after nearest ×4 (realesr-animevideov3-x3's tail) matches ncnn's resampling", async () => {
  const param = `7767517\n3 3\nInput in 0 1 data 2=1\nInterp up 1 1 data x 0=1 1=4.000000e+00 2=4.000000e+00\nInterp down 1 1 x output 0=3 1=7.500000e-01 2=7.500000e-01\n`;
  const converted = ncnnToOnnx(param, new Uint8Array(0), 'x3.param');
  assert.equal(converted.scale, 3);
  const [h, w] = [5, 6];
  const input = Float32Array.from({ length: h * w }, (_, i) => (i * 7919) % 13 / 13);
  const nearest = Float32Array.from({ length: 16 * h * w }, (_, i) => input[Math.floor(Math.floor(i / (4 * w)) / 4) * w + Math.floor((i % (4 * w)) / 4)]!);
  const out = await run(converted.onnx, input, [1, 1, h, w]);
  const diff = maxAbsDiff(out.data, ncnnResize(nearest, 1, 4 * h, 4 * w, 3 * h, 3 * w, false, true));
  assert.ok(diff < 1e-5, `max abs diff ${diff}`);
});

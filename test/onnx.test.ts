import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, ProtoReader, ProtoWriter, attr, int64s, readOnnxInfo } from '../src/onnx/index.js';
import {
  REFERENCE_BENCH_FLOPS_PER_PIXEL,
  brokenModelBytes,
  convNetReceptiveRadius,
  mulberry32,
  nearestReference,
  nearestUpscaleModel,
  pixelShuffleX2Model,
  randomConvNet,
  randomFloats,
  referenceBenchNet,
} from './fixtures/models.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(Buffer.from(bytes), { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
}

async function run(s: ort.InferenceSession, data: Float32Array, dims: readonly number[]): Promise<ort.Tensor> {
  const { output } = await s.run({ input: new ort.Tensor('float32', data, dims) });
  assert.ok(output);
  return output;
}

test('protobuf: encodings match the protobuf documentation', () => {
  assert.equal(hex(new ProtoWriter().int64(1, 150).finish()), '089601');
  assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
  assert.equal(hex(new ProtoWriter().packedInt64(4, [3, 270, 86942]).finish()), '2206038e029ea705');
  assert.equal(hex(new ProtoWriter().int64(1, -1).finish()), '08ffffffffffffffffff01');
  assert.equal(hex(new ProtoWriter().float(2, 1).finish()), '150000803f');
});

test('protobuf: values round-trip, unknown fields of every wire type are skipped', () => {
  const ints = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, -1, -(2 ** 31), Number.MIN_SAFE_INTEGER];
  const w = new ProtoWriter();
  for (const v of ints) w.int64(1, v);
  w.double(9, 1.5).float(10, 0.25).string(11, 'héllo ✓').packedInt64(12, [1, -2, 3]).int64(12, 4);
  w.message(13, new ProtoWriter().string(1, 'nested')).bytes(14, new Uint8Array(1000).fill(7)).int64(15, 2n ** 63n - 1n);
  const r = new ProtoReader(w.finish());
  const got: number[] = [];
  const packed: number[] = [];
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) got.push(r.int());
    else if (f.field === 10) assert.equal(r.float(), 0.25);
    else if (f.field === 11) assert.equal(r.string(), 'héllo ✓');
    else if (f.field === 12) r.repeatedInt(f, 'list', packed);
    else if (f.field === 14) assert.equal(r.bytesView().length, 1000);
    else r.skip(f);
  }
  assert.deepEqual(got, ints);
  assert.deepEqual(packed, [1, -2, 3, 4]);
});

test('protobuf: malformed input throws with the byte offset', () => {
  const read = (bytes: number[]): void => {
    const r = new ProtoReader(Uint8Array.from(bytes));
    for (let f = r.next(); f; f = r.next()) r.skip(f);
  };
  assert.throws(() => read([0x08, 0x96]), { name: 'RangeError', message: 'truncated varint at byte 1' });
  assert.throws(() => read([0x08, ...Array<number>(10).fill(0xff), 0x01]), { name: 'RangeError', message: 'varint longer than 10 bytes at byte 1' });
  assert.throws(() => read([0x12, 0x05, 0x61]), { name: 'RangeError', message: 'length 5 at byte 1 runs past the end of the data (1 bytes left)' });
  assert.throws(() => read([0x08, 0x01, 0x0b]), { name: 'TypeError', message: 'unsupported wire type 3 for field 1 at byte 2' });
  assert.throws(() => read([0x00]), { name: 'TypeError', message: 'invalid field number 0 at byte 0' });
  assert.throws(() => read([0x15, 0x00]), { name: 'RangeError', message: 'truncated fixed32 at byte 1' });
  const r = new ProtoReader(Uint8Array.from([0x0a, 0x02, 0xc3, 0x28]));
  r.next();
  assert.throws(() => r.string(), { name: 'TypeError', message: 'invalid UTF-8 in string at byte 1' });
});

test('builder: rejects wiring and typing mistakes with names', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 'N']);
  g.initializer('w', [2], new Float32Array(2));
  assert.throws(() => g.initializer('w', [1], new Float32Array(1)), { message: "Duplicate initializer name 'w'" });
  assert.throws(() => g.initializer('v', [2, 2], new Float32Array(3)), { message: "Expected 4 values for initializer 'v' of dims [2, 2], got 3" });
  assert.throws(() => attr.int(0.5), { name: 'TypeError', message: 'Expected an integer for attr.int, got 0.5 (number)' });
  assert.throws(() => g.input('y', 'float32', [-1]), { message: `Expected a non-negative integer or a non-empty name for dims[0] of input 'y', got -1` });
  g.node('Add', [x, 'missing'], {}, { output: 'y' });
  g.output('y', 'float32', [1, 'N']);
  assert.throws(() => g.toModel(), { message: "node 0 (Add 'add'): input 'missing' is not a graph input, an initializer or an earlier node's output" });

  const h = new GraphBuilder();
  h.input('x', 'float32', [1]);
  h.node('Relu', ['x'], {}, { domain: 'com.example' });
  h.output('never', 'float32', [1]);
  assert.throws(() => h.toModel(), { message: "node 0 (Relu 'relu') uses domain 'com.example', which is not in ModelOptions.domains" });
  assert.throws(() => h.toModel({ domains: { 'com.example': 1 } }), { message: "Graph output 'never' is not produced by any node" });
});

test('builder → reader round trip: interface, metadata, sizes', () => {
  const g = new GraphBuilder({ name: 'roundtrip' });
  const x = g.input('image', 'float32', ['N', 3, 'H', 'W']);
  g.input('w', 'float32', [2, 3, 1, 1]); // an initializer listed as an input too (IR < 4 style): not one to feed
  g.initializer('w', [2, 3, 1, 1], new Float32Array(6).fill(0.5));
  const shape = g.initializer('shape', [2], int64s([0, -1]));
  const y = g.node('Conv', [x, 'w'], { kernel_shape: attr.ints([1, 1]), strides: attr.ints([1, 1]) });
  const z = g.node('LeakyRelu', [y], { alpha: attr.float(0.2) });
  g.node('Reshape', [z, shape], {}, { output: 'flat' });
  g.output('flat', 'float32', ['N', 'HW2']);
  const bytes = g.toModel({ opset: 19, producerName: 'tests', producerVersion: '1.0', metadata: { 'upscale.scale': '1', ['__proto__']: 'ok' } });

  assert.deepEqual(readOnnxInfo(bytes), {
    irVersion: 9,
    opsetVersion: 19,
    opsets: { '': 19 },
    producerName: 'tests',
    producerVersion: '1.0',
    graphName: 'roundtrip',
    inputs: [{ name: 'image', elemType: 'float32', dims: ['N', 3, 'H', 'W'] }],
    outputs: [{ name: 'flat', elemType: 'float32', dims: ['N', 'HW2'] }],
    metadata: Object.fromEntries([['upscale.scale', '1'], ['__proto__', 'ok']]),
    initializers: 2,
    parameterCount: 8,
    externalData: false,
    nodeCount: 3,
    opTypes: ['Conv', 'LeakyRelu', 'Reshape'],
  });
});

test('reader: proto2-style unpacked dims, external data, unknown fields, no shape', () => {
  const dim = (d: number | string): ProtoWriter => (typeof d === 'number' ? new ProtoWriter().int64(1, d) : new ProtoWriter().string(2, d));
  const shape = new ProtoWriter().message(1, dim(1)).message(1, new ProtoWriter()).message(1, dim('H'));
  const typed = new ProtoWriter().message(1, new ProtoWriter().int64(1, 10).message(2, shape));
  const weight = new ProtoWriter().int64(1, 4).int64(1, 5).int64(2, 1).string(8, 'w').int64(14, 1).float(99, 1);
  const graph = new ProtoWriter()
    .message(1, new ProtoWriter().string(1, 'a').string(4, 'Identity').string(7, ''))
    .message(5, weight)
    .message(11, new ProtoWriter().string(1, 'a').message(2, typed))
    .message(12, new ProtoWriter().string(1, 'b').message(2, new ProtoWriter().message(4, new ProtoWriter())))
    .double(50, 3);
  const model = new ProtoWriter()
    .int64(1, 7)
    .message(8, new ProtoWriter().string(1, 'com.microsoft').int64(2, 1))
    .message(8, new ProtoWriter().int64(2, 13))
    .message(7, graph)
    .message(20, new ProtoWriter().string(1, 'training info, skipped'))
    .finish();
  const info = readOnnxInfo(model);
  assert.deepEqual(info.inputs, [{ name: 'a', elemType: 'float16', dims: [1, undefined, 'H'] }]);
  assert.deepEqual(info.outputs, [{ name: 'b', elemType: 'unknown', dims: undefined }]);
  assert.deepEqual(info.opsets, { 'com.microsoft': 1, '': 13 });
  assert.equal(info.opsetVersion, 13);
  assert.equal(info.parameterCount, 20);
  assert.equal(info.externalData, true);
  assert.equal(info.producerName, '');
});

test('pixelShuffleX2Model is an exact nearest x2 enlargement', async () => {
  const bytes = pixelShuffleX2Model();
  const info = readOnnxInfo(bytes);
  assert.deepEqual(info.inputs, [{ name: 'input', elemType: 'float32', dims: [1, 3, 'H', 'W'] }]);
  assert.deepEqual(info.metadata, { 'upscale.scale': '2', 'upscale.range': '0-1' });
  const s = await session(bytes);
  for (const [h, w] of [[5, 7], [16, 3]] as const) {
    const data = randomFloats(3 * h * w, h);
    const out = await run(s, data, [1, 3, h, w]);
    assert.deepEqual(out.dims, [1, 3, 2 * h, 2 * w]);
    assert.deepEqual(out.data, nearestReference(data, [1, 3, h, w], 2));
  }
  await s.release();
});

test('nearestUpscaleModel(3) is exact; metadata can be left undeclared', async () => {
  const bytes = nearestUpscaleModel(3, { metadata: {} });
  assert.deepEqual(readOnnxInfo(bytes).metadata, {});
  const s = await session(bytes);
  const data = randomFloats(3 * 4 * 6, 3);
  assert.deepEqual((await run(s, data, [1, 3, 4, 6])).data, nearestReference(data, [1, 3, 4, 6], 3));
  await s.release();
});

test('randomConvNet: dynamic sizes and batch, sensible values, deterministic', async () => {
  const options = { layers: 3, channels: 8, scale: 3, seed: 42 };
  const bytes = randomConvNet(options);
  assert.deepEqual(bytes, randomConvNet(options));
  const info = readOnnxInfo(bytes);
  assert.deepEqual(info.metadata, {});
  assert.deepEqual(info.inputs[0]?.dims, ['N', 3, 'H', 'W']);
  assert.equal(info.parameterCount, 3 * 8 * 9 + 8 + 2 * (8 * 8 * 9 + 8) + 8 * 27 * 9 + 27 + 27 * 3);
  const s = await session(bytes);
  for (const [n, h, w] of [[1, 17, 9], [2, 8, 24]] as const) {
    const out = await run(s, randomFloats(n * 3 * h * w, w), [n, 3, h, w]);
    assert.deepEqual(out.dims, [n, 3, 3 * h, 3 * w]);
    const values = out.data as Float32Array;
    assert.ok(values.every(Number.isFinite));
    assert.ok(new Set(values).size > values.length / 2, 'outputs vary');
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(mean > 0.3 && mean < 0.7, `mean ${mean} near 0.5`);
  }
  await s.release();
});

test('randomConvNet: receptive field radius is exact', async () => {
  const options = { layers: 2, channels: 6, scale: 2, seed: 9, skip: false };
  const radius = convNetReceptiveRadius(options);
  assert.equal(radius, 3);
  const s = await session(randomConvNet(options));
  const size = 16;
  const at = 8;
  const data = randomFloats(3 * size * size, 1);
  const before = (await run(s, data, [1, 3, size, size])).data as Float32Array;
  data[at * size + at] = (data[at * size + at] as number) + 1; // channel 0, pixel (8, 8)
  const after = (await run(s, data, [1, 3, size, size])).data as Float32Array;
  let reach = 0;
  for (let i = 0; i < before.length; i++) {
    if (before[i] === after[i]) continue;
    const y = Math.floor((i % (size * size * 4)) / (size * 2));
    const x = i % (size * 2);
    reach = Math.max(reach, Math.abs(Math.floor(y / 2) - at), Math.abs(Math.floor(x / 2) - at));
  }
  assert.equal(reach, radius);
  await s.release();
});

test('referenceBenchNet: x4, 501,120 FLOPs per input pixel', async () => {
  assert.equal(REFERENCE_BENCH_FLOPS_PER_PIXEL, 501_120);
  const bytes = referenceBenchNet();
  const info = readOnnxInfo(bytes);
  assert.equal(info.parameterCount, 251_056);
  assert.equal(info.metadata['upscale.scale'], '4');
  const s = await session(bytes);
  const out = await run(s, randomFloats(3 * 24 * 20, 5), [1, 3, 24, 20]);
  assert.deepEqual(out.dims, [1, 3, 96, 80]);
  assert.ok((out.data as Float32Array).every(Number.isFinite));
  await s.release();
});

test('malformed models: the reader explains, onnxruntime rejects', async () => {
  const broken = brokenModelBytes();
  const expected: Record<keyof typeof broken, { name: string; message: string }> = {
    empty: { name: 'RangeError', message: 'not an ONNX model: the data is empty' },
    truncated: { name: 'RangeError', message: 'not an ONNX model: length 419 at byte 12 runs past the end of the data (226 bytes left)' },
    random: { name: 'TypeError', message: 'not an ONNX model: invalid field number 0 at byte 0' },
    png: { name: 'TypeError', message: 'not an ONNX model: invalid field number 0 at byte 10' },
    noGraph: { name: 'TypeError', message: 'not an ONNX model: no graph (ModelProto field 7) in the data' },
    wrongWireType: { name: 'TypeError', message: 'not an ONNX model: ModelProto.graph at byte 2 has wire type 0, expected 2' },
  };
  for (const [key, bytes] of Object.entries(broken) as [keyof typeof broken, Uint8Array][]) {
    assert.throws(() => readOnnxInfo(bytes), expected[key], key);
    await assert.rejects(session(bytes), Error, key);
  }
});

test('reader fuzz: every prefix and random corruptions either parse or throw "not an ONNX model"', () => {
  const valid = randomConvNet({ layers: 1, channels: 2, scale: 2, seed: 1, metadata: { a: 'b' } });
  const check = (bytes: Uint8Array): void => {
    try {
      readOnnxInfo(bytes);
    } catch (error) {
      assert.ok(error instanceof RangeError || error instanceof TypeError);
      assert.match(error.message, /^not an ONNX model: /);
    }
  };
  for (let n = 0; n < valid.length; n++) check(valid.subarray(0, n));
  const next = mulberry32(3);
  for (let i = 0; i < 2000; i++) {
    const bytes = valid.slice();
    for (let k = 0; k < 1 + (i % 4); k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
    check(bytes);
    check(Uint8Array.from({ length: 1 + (i % 64) }, () => Math.floor(next() * 256)));
  }
  // A length prefix claiming 2^60 bytes must not allocate anything.
  assert.throws(() => readOnnxInfo(Uint8Array.from([0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), /runs past the end/);
});

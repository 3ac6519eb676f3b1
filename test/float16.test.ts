/**
 * Half precision: the conversions, float16 weight storage of an ONNX model (what models/ ships), DNI blends of such
 * models, and user models whose image input and output are float16 (converted at the edges).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { floatToHalf, fromHalfBits, halfToFloat, toHalfBits } from '../src/float16.js';
import { GraphBuilder, attr, readOnnxInfo } from '../src/onnx/index.js';
import { storeWeightsAsFloat16 } from '../src/onnx/float16-storage.js';
import { interpolateOnnxWeights } from '../src/onnx/interpolate.js';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import { OnnxSession } from '../src/runtime/onnx.js';

const FAST_X2 = readFileSync(new URL('../models/fast-x2.onnx', import.meta.url));

test('floatToHalf rounds to nearest even, with subnormals, overflow and NaN; halfToFloat inverts it', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff], // the largest half
    [65520, 0x7c00], // rounds up past it: Infinity
    [1e9, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // the smallest subnormal
    [2 ** -26, 0x0000], // below half of it: zero
    [3 * 2 ** -26, 0x0001],
    [1 + 2 ** -11, 0x3c00], // a tie: to the even mantissa (down)
    [1 + 3 * 2 ** -11, 0x3c02], // a tie: to the even mantissa (up)
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
  ];
  for (const [value, bits] of cases) assert.equal(floatToHalf(value), bits, `${value}`);
  assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
  // Every finite half survives the round trip.
  for (let h = 0; h < 0x10000; h++) {
    const v = halfToFloat(h);
    if (Number.isFinite(v)) assert.equal(floatToHalf(v), h === 0x8000 ? 0x8000 : h, `0x${h.toString(16)}`);
  }
  assert.deepEqual(fromHalfBits(toHalfBits([0.5, -3.25])), Float32Array.of(0.5, -3.25));
});

async function runModel(bytes: Uint8Array, data: Float32Array, h: number, w: number): Promise<Float32Array> {
  const session = await OnnxSession.create(bytes, { threads: 1 });
  try {
    return (await session.run({ data, channels: 3, height: h, width: w })).data;
  } finally {
    await session.dispose();
  }
}

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 0.37) + 1) / 2);
}

test('storeWeightsAsFloat16: half the size, weights as float16 behind Cast nodes, the same network within float16 rounding', async () => {
  const half = storeWeightsAsFloat16(FAST_X2);
  assert.ok(half.length < FAST_X2.length * 0.55, `${half.length} vs ${FAST_X2.length} bytes`);
  const before = readOnnxInfo(FAST_X2);
  const after = readOnnxInfo(half);
  assert.deepEqual(after.metadata, before.metadata);
  assert.deepEqual(after.inputs, before.inputs);
  assert.equal(after.parameterCount, before.parameterCount);
  assert.ok(after.opTypes.includes('Cast'));
  assert.equal(after.initializers, before.initializers);
  assert.ok(after.nodeCount > before.nodeCount && after.nodeCount <= before.nodeCount + before.initializers, 'at most one Cast per weight');
  // Already converted: nothing more to do.
  assert.equal(storeWeightsAsFloat16(half).length, half.length);

  const input = ramp(3 * 9 * 11);
  const a = await runModel(FAST_X2, input, 9, 11);
  const b = await runModel(half, input, 9, 11);
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  assert.ok(max > 0 && max < 2e-3, `max difference ${max}`);
});

test('DNI blends of float16-stored networks: strength 0 and 1 give the two networks, between is the rounded blend', () => {
  const a = storeWeightsAsFloat16(FAST_X2);
  const b = interpolateOnnxWeights(a, a, 0.5);
  assert.deepEqual(b, a); // the blend of a network with itself is itself, bit for bit
  const zero = interpolateOnnxWeights(a, a, 0);
  assert.deepEqual(zero, a);
});

/** A tiny 3-channel model whose image input and output are float16: Cast in, a 1x1 conv in float32, Cast out. */
function float16Model(): Uint8Array {
  const g = new GraphBuilder({ name: 'half-io' });
  const x = g.input('input', 'float16', [1, 3, 'H', 'W']);
  const w = g.initializer('w', [3, 3, 1, 1], Float32Array.of(0.5, 0.25, 0, 0, 1, 0, 0.125, 0, -1));
  const wide = g.node('Cast', [x], { to: attr.int(1) });
  const y = g.node('Conv', [wide, w], { kernel_shape: attr.ints([1, 1]) });
  g.node('Cast', [y], { to: attr.int(10) }, { output: 'output' });
  g.output('output', 'float16', [1, 3, 'H', 'W']);
  return g.toModel({ metadata: { 'upscale.scale': '1', 'upscale.range': '0-1' } });
}

test('a model with float16 image input and output runs: float32 in and out, converted at the edges', async () => {
  const model = await loadOnnxBytes(float16Model(), { label: 'half-io.onnx', threads: 1 }, { id: 'half-io.onnx' });
  try {
    const data = ramp(3 * 4 * 5);
    const out = await model.network.run({ data, channels: 3, height: 4, width: 5 });
    assert.deepEqual([out.channels, out.height, out.width], [3, 4, 5]);
    assert.ok(out.data instanceof Float32Array);
    const plane = 20;
    for (let i = 0; i < plane; i++) {
      const [r, gg, b] = [data[i]!, data[plane + i]!, data[2 * plane + i]!];
      const expected = [0.5 * r + 0.25 * gg, gg, 0.125 * r - b];
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(out.data[c * plane + i]! - expected[c]!) < 2e-3, `pixel ${i} channel ${c}`);
    }
  } finally {
    await model.network.dispose();
  }
});

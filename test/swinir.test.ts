/**
 * SwinIR: detection and hyperparameters read from the fixtures' weights (test/fixtures/pytorch/make_swinir_fixtures.py),
 * and the converted ONNX graph checked against the PyTorch reference's output at two input sizes (both not
 * multiples of the window, or the training size), for every upsampler and weight file.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { UpscaleError } from '../src/errors.js';
import { swinir } from '../src/models/architectures/swinir.js';
import { relativePositionIndex } from '../src/models/architectures/swinir-layers.js';
import { readStateDict, type StateDict, type WeightTensor } from '../src/models/weights/index.js';
import { OnnxSession } from '../src/runtime/onnx.js';
import { type Fixture, type FixtureMeta, loadFixture, maxAbsDiff, runOnFixture } from './helpers/pytorch-fixtures.js';

const TOLERANCE = 1e-4;

interface Hyper {
  readonly embed_dim: number;
  readonly depths: number[];
  readonly heads: number[];
  readonly window: number;
  readonly mlp_ratio: number;
  readonly upsampler: string;
  readonly resi: string;
  readonly in_chans: number;
  readonly scale: number;
}

const FIXTURES = ['swinir-classical-x2', 'swinir-classical-x4', 'swinir-light-x3', 'swinir-real-x4', 'swinir-car-gray'];

function readWeights(path: string): StateDict {
  return readStateDict(new Uint8Array(readFileSync(path)), path);
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The fixture's second reference input and output, as a Fixture of its own. */
function secondInput(fixture: Fixture): Fixture {
  const meta = fixture.meta;
  return {
    meta: { ...meta, input_shape: meta['input2_shape'] as FixtureMeta['input_shape'], output_shape: meta['output2_shape'] as FixtureMeta['output_shape'] },
    input: readF32(fixture.path(`${meta.name}.input2.f32`)),
    output: readF32(fixture.path(`${meta.name}.output2.f32`)),
    path: fixture.path,
  };
}

async function checkAgainstReference(onnx: Uint8Array, fixture: Fixture): Promise<number> {
  const { data, dims } = await runOnFixture(onnx, fixture);
  assert.deepEqual(dims, fixture.meta.output_shape.slice(1));
  return maxAbsDiff(data, fixture.output);
}

for (const name of FIXTURES) {
  const fixture = loadFixture(name);
  const hyper = fixture.meta['hyper'] as Hyper;
  describe(name, () => {
    for (const file of fixture.meta.files) {
      test(`${file}: detected with the expected hyperparameters, and the conversion matches the reference at two sizes`, async (t) => {
        const weights = readWeights(fixture.path(file));
        const params = swinir.detect(weights);
        assert.ok(params !== undefined, 'not detected as SwinIR');
        assert.deepEqual(
          {
            embedDim: params.embedDim,
            depths: params.depths,
            heads: params.heads,
            windowSize: params.windowSize,
            shiftSize: params.shiftSize,
            mlpRatio: params.mlpHidden / params.embedDim,
            upsampler: params.upsampler,
            residualConv: params.residualConv,
            channels: params.channels,
            scale: params.scale,
            imgRange: params.imgRange,
          },
          {
            embedDim: hyper.embed_dim,
            depths: hyper.depths,
            heads: hyper.heads,
            windowSize: hyper.window,
            shiftSize: Math.floor(hyper.window / 2),
            mlpRatio: hyper.mlp_ratio,
            upsampler: hyper.upsampler,
            residualConv: hyper.resi,
            channels: hyper.in_chans,
            scale: hyper.scale,
            imgRange: hyper.window === 7 ? 255 : 1,
          },
        );
        const description = swinir.describe(weights, params);
        assert.equal(description.scale, fixture.meta.scale);
        assert.equal(description.sizeMultiple, 1);
        assert.equal(description.receptiveField, 2 * hyper.window);
        assert.equal(description.tilingSafe, true);
        // The fixture counts PyTorch's floating-point state (attn_mask included); describe counts learned weights.
        let masks = 0;
        for (const [key, t] of weights) if (key.endsWith('.attn_mask')) masks += t.data.length;
        assert.equal(description.parameters, fixture.meta.parameters - masks);

        const onnx = swinir.toOnnx(weights, params);
        const first = await checkAgainstReference(onnx, fixture);
        const second = await checkAgainstReference(onnx, secondInput(fixture));
        t.diagnostic(`max abs diff ${first.toExponential(2)} at ${fixture.meta.input_shape.slice(2).join('x')}, ${second.toExponential(2)} at ${(fixture.meta['input2_shape'] as number[]).slice(2).join('x')}`);
        assert.ok(first <= TOLERANCE, `max abs diff ${first} at the first size`);
        assert.ok(second <= TOLERANCE, `max abs diff ${second} at the second size`);
      });
    }
  });
}

function replaced(weights: StateDict, key: string, shape: number[]): StateDict {
  const copy = new Map(weights);
  const size = shape.reduce((a, b) => a * b, 1);
  copy.set(key, { shape, data: new Float32Array(size), dtype: 'F32' });
  return copy;
}

describe('swinir errors and lookalikes', () => {
  const fixture = loadFixture('swinir-classical-x2');
  const weights = readWeights(fixture.path('swinir-classical-x2.safetensors'));

  test('a weight of the wrong shape is a MODEL_INVALID error naming it', () => {
    for (const [key, shape, expected] of [
      ['layers.1.residual_group.blocks.1.attn.proj.weight', [16, 15], '[16, 16]'],
      ['layers.0.residual_group.blocks.1.attn.relative_position_bias_table', [25, 2], '[49, 2]'],
      ['layers.1.conv.weight', [16, 16, 1, 1], '[16, 16, 3, 3]'],
      ['upsample.0.weight', [64, 16, 3, 1], '[64, 16, 3, 3]'],
    ] as const) {
      const broken = replaced(weights, key, [...shape]);
      const params = swinir.detect(broken);
      assert.ok(params !== undefined);
      assert.throws(
        () => swinir.toOnnx(broken, params),
        (error: unknown) =>
          error instanceof UpscaleError && error.code === 'MODEL_INVALID' && error.message === `weight "${key}" has shape [${shape.join(', ')}], expected ${expected}`,
      );
    }
  });

  test('a missing weight is a MODEL_INVALID error naming it', () => {
    const broken = new Map(weights);
    broken.delete('layers.0.residual_group.blocks.1.mlp.fc2.weight');
    const params = swinir.detect(broken);
    assert.ok(params !== undefined);
    assert.throws(() => swinir.toOnnx(broken, params), { name: 'UpscaleError', message: 'missing weight "layers.0.residual_group.blocks.1.mlp.fc2.weight"' });
  });

  test('a plain conv net, ESRGAN and SwinIR lookalikes (HAT, Swin2SR) are not SwinIR', () => {
    const conv = (o: number, i: number): WeightTensor => ({ shape: [o, i, 3, 3], data: new Float32Array(o * i * 9), dtype: 'F32' });
    const plain: StateDict = new Map([
      ['conv_first.weight', conv(16, 3)],
      ['conv_first.bias', { shape: [16], data: new Float32Array(16), dtype: 'F32' }],
      ['body.0.weight', conv(16, 16)],
      ['conv_last.weight', conv(3, 16)],
    ]);
    assert.equal(swinir.detect(plain), undefined);
    const esrgan: StateDict = new Map([
      ['conv_first.weight', conv(64, 3)],
      ['body.0.rdb1.conv1.weight', conv(32, 64)],
      ['conv_body.weight', conv(64, 64)],
      ['conv_up1.weight', conv(64, 64)],
      ['conv_hr.weight', conv(64, 64)],
      ['conv_last.weight', conv(3, 64)],
    ]);
    assert.equal(swinir.detect(esrgan), undefined);
    const small = { shape: [16], data: new Float32Array(16), dtype: 'F32' } as const;
    assert.equal(swinir.detect(new Map([...weights, ['layers.0.residual_group.blocks.0.conv_block.cab.0.weight', conv(5, 16)]])), undefined);
    assert.equal(swinir.detect(new Map([...weights, ['layers.0.residual_group.blocks.0.attn.logit_scale', small]])), undefined);
    assert.equal(swinir.detect(new Map()), undefined);
  });

  test('inputs too small for reflect padding (which PyTorch refuses) are extended by replication first', async () => {
    const params = swinir.detect(weights);
    assert.ok(params !== undefined);
    const session = await OnnxSession.create(swinir.toOnnx(weights, params), { threads: 1 });
    try {
      for (const [height, width] of [[1, 1], [2, 3], [4, 1]] as const) {
        const out = await session.run({ data: new Float32Array(3 * height * width).fill(0.5), channels: 3, height, width });
        assert.deepEqual([out.channels, out.height, out.width], [3, 2 * height, 2 * width]);
        assert.ok(out.data.every(Number.isFinite));
      }
    } finally {
      await session.dispose();
    }
  });

  test('the relative position index is the reference one', () => {
    // w = 2: tokens (0,0) (0,1) (1,0) (1,1); (dy + 1)·3 + (dx + 1).
    assert.deepEqual([...relativePositionIndex(2)], [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
  });
});

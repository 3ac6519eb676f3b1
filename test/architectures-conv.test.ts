/**
 * The convolutional PyTorch architectures (ESRGAN, Compact, SPAN): each fixture of test/fixtures/models (tiny
 * random-weight models written by test/fixtures/pytorch/make_conv_fixtures.py with the real checkpoints' key names),
 * in every file format it was saved in, is detected with the right hyperparameters, described, converted to ONNX
 * and run by onnxruntime, and must match the PyTorch reference output within 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { isUpscaleError } from '../src/errors.js';
import { ARCHITECTURES as ALL_ARCHITECTURES } from '../src/models/architectures/index.js';
import { compact, type CompactParams } from '../src/models/architectures/compact.js';
import { esrgan, type EsrganParams } from '../src/models/architectures/esrgan.js';
import { span, type SpanParams } from '../src/models/architectures/span.js';
import type { Architecture } from '../src/models/architectures/types.js';
import { readOnnxInfo } from '../src/onnx/index.js';
import { readStateDict, type StateDict } from '../src/models/weights/index.js';
import { FIXTURE_DIR, loadFixture, maxAbsDiff, runOnFixture, type Fixture } from './helpers/pytorch-fixtures.js';

const TOLERANCE = 1e-4;
const CONV_ARCHITECTURES = [esrgan, compact, span] as Architecture<unknown>[];

/** Loads one weight file of a fixture as the importer does (unwrapping `params_ema`, stripping `module.`). */
function loadWeights(fixture: Fixture, file: string): StateDict {
  return readStateDict(readFileSync(fixture.path(file)), file);
}

interface Case<P> {
  readonly fixture: string;
  readonly architecture: Architecture<P>;
  readonly params: P;
  readonly sizeMultiple: number;
  readonly receptiveField: number;
}

const esrganBase = { inChannels: 3, outChannels: 3, features: 8, growth: 4, plus: false } as const;
const compactBase = { inChannels: 3, outChannels: 3, features: 8 } as const;
const spanBase = { inChannels: 3, outChannels: 3, features: 4, blocks: 6, fused: false, catChannels: 4 } as const;

const CASES: readonly Case<unknown>[] = [
  { fixture: 'esrgan-x4', architecture: esrgan, params: { ...esrganBase, layout: 'basicsr', blocks: 2, upsamplings: 2, unshuffle: 1 } satisfies EsrganParams, sizeMultiple: 1, receptiveField: 16 },
  { fixture: 'esrgan-x2', architecture: esrgan, params: { ...esrganBase, layout: 'basicsr', blocks: 1, upsamplings: 2, unshuffle: 2 } satisfies EsrganParams, sizeMultiple: 2, receptiveField: 16 },
  { fixture: 'esrgan-x1', architecture: esrgan, params: { ...esrganBase, layout: 'basicsr', blocks: 1, upsamplings: 2, unshuffle: 4 } satisfies EsrganParams, sizeMultiple: 4, receptiveField: 16 },
  { fixture: 'esrgan-old-x4', architecture: esrgan, params: { ...esrganBase, layout: 'old-arch', blocks: 1, upsamplings: 2, unshuffle: 1 } satisfies EsrganParams, sizeMultiple: 1, receptiveField: 16 },
  { fixture: 'esrgan-plus-x8', architecture: esrgan, params: { ...esrganBase, layout: 'old-arch', blocks: 1, upsamplings: 3, unshuffle: 1, plus: true } satisfies EsrganParams, sizeMultiple: 1, receptiveField: 16 },
  { fixture: 'compact-x4', architecture: compact, params: { ...compactBase, convs: 3, scale: 4 } satisfies CompactParams, sizeMultiple: 1, receptiveField: 5 },
  { fixture: 'compact-x2', architecture: compact, params: { ...compactBase, convs: 2, scale: 2 } satisfies CompactParams, sizeMultiple: 1, receptiveField: 4 },
  { fixture: 'compact-x1', architecture: compact, params: { ...compactBase, convs: 2, scale: 1 } satisfies CompactParams, sizeMultiple: 1, receptiveField: 4 },
  { fixture: 'span-x4', architecture: span, params: { ...spanBase, scale: 4, norm: true } satisfies SpanParams, sizeMultiple: 1, receptiveField: 21 },
  { fixture: 'span-x2', architecture: span, params: { ...spanBase, scale: 2, norm: false } satisfies SpanParams, sizeMultiple: 1, receptiveField: 21 },
  { fixture: 'span-fused-x4', architecture: span, params: { ...spanBase, scale: 4, norm: true, fused: true, catChannels: 3 } satisfies SpanParams, sizeMultiple: 1, receptiveField: 21 },
] as Case<unknown>[];

async function checkAgainstReference(fixture: Fixture, onnx: Uint8Array): Promise<number> {
  const { data, dims } = await runOnFixture(onnx, fixture);
  assert.deepEqual(dims, fixture.meta.output_shape.slice(1));
  return maxAbsDiff(data, fixture.output);
}

for (const c of CASES) {
  const fixture = loadFixture(c.fixture);
  for (const file of fixture.meta.files) {
    test(`${c.architecture.id}: ${file} is detected, described and converted`, async (t) => {
      const weights = loadWeights(fixture, file);
      const params = c.architecture.detect(weights);
      assert.deepEqual(params, c.params);
      for (const other of ALL_ARCHITECTURES) {
        if (other !== c.architecture) assert.equal(other.detect(weights), undefined, `${other.id} must not detect ${file}`);
      }

      const description = c.architecture.describe(weights, params);
      assert.equal(description.scale, fixture.meta.scale);
      assert.equal(description.inChannels, fixture.meta.input_shape[1]);
      assert.equal(description.outChannels, fixture.meta.output_shape[1]);
      assert.equal(description.sizeMultiple, c.sizeMultiple);
      assert.equal(description.receptiveField, c.receptiveField);
      assert.equal(description.tilingSafe, true);
      assert.equal(description.parameters, fixture.meta.parameters);

      const onnx = c.architecture.toOnnx(weights, params);
      const metadata = readOnnxInfo(onnx).metadata;
      assert.equal(metadata['upscale.scale'], String(fixture.meta.scale));
      assert.equal(metadata['upscale.size_multiple'], String(c.sizeMultiple));
      const diff = await checkAgainstReference(fixture, onnx);
      t.diagnostic(`max abs diff ${diff.toExponential(2)}`);
      assert.ok(diff <= TOLERANCE, `max abs diff ${diff} > ${TOLERANCE}`);
    });
  }
}

test('esrgan: the xinntao/ESRGAN and BSRGAN layout (RRDB_trunk, trunk_conv, upconvN, HRconv) gives the same model', async () => {
  const fixture = loadFixture('esrgan-x4');
  const rename = (key: string): string =>
    key
      .replace(/^body\.(\d+)\.rdb(\d)\./, 'RRDB_trunk.$1.RDB$2.')
      .replace(/^conv_body\./, 'trunk_conv.')
      .replace(/^conv_up(\d)\./, 'upconv$1.')
      .replace(/^conv_hr\./, 'HRconv.');
  const weights = new Map([...loadWeights(fixture, 'esrgan-x4.safetensors')].map(([k, v]) => [rename(k), v]));
  assert.ok(weights.has('RRDB_trunk.1.RDB3.conv5.weight') && weights.has('upconv2.bias') && weights.has('HRconv.weight'));
  const params = esrgan.detect(weights);
  assert.deepEqual(params, { ...(CASES[0]?.params as EsrganParams), layout: 'rrdb-trunk' });
  assert.equal(compact.detect(weights), undefined);
  assert.equal(span.detect(weights), undefined);
  assert.ok((await checkAgainstReference(fixture, esrgan.toOnnx(weights, params!))) <= TOLERANCE);
});

test('compact: without PReLU weights (ReLU / LeakyReLU checkpoints, which shapes cannot tell apart) nothing is detected', () => {
  const weights = loadWeights(loadFixture('compact-x2'), 'compact-x2.safetensors');
  for (const key of [...weights.keys()]) if (/^body\.\d*[13579]\.weight$/.test(key)) weights.delete(key);
  assert.ok(weights.has('body.0.weight') && weights.has('body.6.weight'));
  for (const architecture of CONV_ARCHITECTURES) assert.equal(architecture.detect(weights), undefined, architecture.id);
});

test('esrgan: a state dict whose unshuffle and stages give a non-integer scale is not detected', () => {
  // An x1 unshuffle (conv_first takes 48 channels) with a single ×2 stage would be scale 1/2.
  const weights = loadWeights(loadFixture('esrgan-x1'), 'esrgan-x1.safetensors');
  weights.delete('conv_up2.weight');
  weights.delete('conv_up2.bias');
  assert.equal(esrgan.detect(weights), undefined);
});

test('span: the paper-sized x4 model (48 features) folds to the 426K parameters the paper reports', () => {
  const weights: StateDict = new Map();
  const conv = (key: string, cout: number, cin: number, k: number): void => {
    weights.set(`${key}.weight`, { shape: [cout, cin, k, k], data: new Float32Array(cout * cin * k * k), dtype: 'F32' });
    weights.set(`${key}.bias`, { shape: [cout], data: new Float32Array(cout), dtype: 'F32' });
  };
  const conv3xc = (key: string, cout: number, cin: number): void => {
    conv(`${key}.sk`, cout, cin, 1);
    conv(`${key}.conv.0`, 2 * cin, cin, 1);
    conv(`${key}.conv.1`, 2 * cout, 2 * cin, 3);
    conv(`${key}.conv.2`, cout, 2 * cout, 1);
    conv(`${key}.eval_conv`, cout, cin, 3);
  };
  conv3xc('conv_1', 48, 3);
  for (let b = 1; b <= 6; b++) for (const c of ['c1_r', 'c2_r', 'c3_r']) conv3xc(`block_${b}.${c}`, 48, 48);
  conv('conv_cat', 48, 192, 1);
  conv3xc('conv_2', 48, 48);
  conv('upsampler.0', 48, 48, 3);
  const params = span.detect(weights);
  assert.deepEqual(params, { inChannels: 3, outChannels: 3, features: 48, blocks: 6, scale: 4, norm: true, fused: false, catChannels: 48 });
  assert.equal(span.describe(weights, params).details['foldedParameters'], 426_288);
});

test("none of these detectors accepts another architecture's fixtures", () => {
  const others = readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json') && !/^(esrgan|compact|span)-/.test(f))
    .map((f) => loadFixture(f.slice(0, -'.json'.length)))
    .filter((f) => typeof f.meta.arch === 'string' && Array.isArray(f.meta.files) && f.meta.files.length > 0);
  for (const fixture of others) {
    const file = fixture.meta.files[0] as string;
    const weights = loadWeights(fixture, file);
    for (const architecture of CONV_ARCHITECTURES) assert.equal(architecture.detect(weights), undefined, `${architecture.id} detects ${file}`);
  }
});

const WRONG_SHAPES: readonly { fixture: string; architecture: Architecture<unknown>; key: string }[] = [
  { fixture: 'esrgan-x4', architecture: esrgan as Architecture<unknown>, key: 'body.1.rdb2.conv3.weight' },
  { fixture: 'esrgan-old-x4', architecture: esrgan as Architecture<unknown>, key: 'model.6.weight' },
  { fixture: 'compact-x4', architecture: compact as Architecture<unknown>, key: 'body.4.weight' },
  { fixture: 'compact-x4', architecture: compact as Architecture<unknown>, key: 'body.5.weight' },
  { fixture: 'span-x4', architecture: span as Architecture<unknown>, key: 'block_3.c2_r.conv.1.weight' },
  { fixture: 'span-fused-x4', architecture: span as Architecture<unknown>, key: 'block_2.c3_r.eval_conv.weight' },
];

for (const { fixture: name, architecture, key } of WRONG_SHAPES) {
  test(`${architecture.id}: a wrong shape for ${key} is an UpscaleError naming the tensor`, () => {
    const weights = loadWeights(loadFixture(name), `${name}.safetensors`);
    const original = weights.get(key);
    assert.ok(original !== undefined);
    // One output channel fewer.
    const shape = [(original.shape[0] as number) - 1, ...original.shape.slice(1)];
    const size = shape.reduce((a, b) => a * b, 1);
    weights.set(key, { ...original, shape, data: original.data.subarray(0, size) });
    const params = architecture.detect(weights);
    assert.notEqual(params, undefined);
    assert.throws(
      () => architecture.toOnnx(weights, params),
      (error: unknown) => isUpscaleError(error) && error.code === 'MODEL_INVALID' && error.message.includes(`"${key}"`),
    );
  });
}

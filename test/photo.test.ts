/**
 * The `photo` model and its denoise strength: weight interpolation (DNI) of two ONNX networks, the library and CLI
 * options, provenance, and the no-reference evaluation it is judged by.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createUpscaler, isUpscaleError } from '../src/index.js';
import { interpolateOnnxWeights } from '../src/onnx/interpolate.js';
import { ProtoReader } from '../src/onnx/protobuf.js';
import { resolveModel } from '../src/models/registry.js';
import { decodeImage } from '../src/image/index.js';
import { niqe } from '../src/metrics/index.js';
import { randomConvNet } from './fixtures/models.js';

/** NIQE (4-pixel border shaved) of a file enlarged x4 with bicubic, computed here, as eval --inputs should. */
async function bicubicNiqe(file: string): Promise<number> {
  const upscaler = await createUpscaler({ model: 'bicubic' });
  const { raster } = await decodeImage(file, { maxPixels: 1e8 });
  const output = await upscaler.upscale(raster, { scale: 4 });
  await upscaler.dispose();
  return niqe(output, { cropBorder: 4 });
}
import { testRaster } from './helpers/rasters.js';

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const MODELS = new URL('../models/', import.meta.url).pathname;
const SET5_LR = new URL('../../shared/eval/Set5/LR_bicubic/X4/', import.meta.url).pathname;
const STRONG = join(MODELS, 'photo-x4.onnx');
const BASE = join(MODELS, 'photo-x4-base.onnx');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'upscale-photo-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function upscale(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every float32 initializer of an ONNX model, by name (a small reader for the test's own checks). */
function floatWeights(bytes: Uint8Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const model = new ProtoReader(bytes);
  for (let f = model.next(); f; f = model.next()) {
    if (f.field !== 7) {
      model.skip(f);
      continue;
    }
    const graph = model.message();
    for (let g = graph.next(); g; g = graph.next()) {
      if (g.field !== 5) {
        graph.skip(g);
        continue;
      }
      const tensor = graph.message();
      let name = '';
      let raw: Uint8Array | undefined;
      let type = 0;
      for (let t = tensor.next(); t; t = tensor.next()) {
        if (t.field === 8) name = tensor.string();
        else if (t.field === 9) raw = tensor.bytesView().slice();
        else if (t.field === 2) type = tensor.int();
        else tensor.skip(t);
      }
      if (type === 1 && raw !== undefined) out.set(name, new Float32Array(raw.buffer, 0, raw.byteLength / 4));
    }
  }
  return out;
}

test('interpolated weights are (1 - s)·a + s·b, tensor by tensor; 0 and 1 give the two networks', () => {
  const a = new Uint8Array(readFileSync(BASE));
  const b = new Uint8Array(readFileSync(STRONG));
  const wa = floatWeights(a);
  const wb = floatWeights(b);
  assert.ok(wa.size >= 16, `${wa.size} weight tensors`);
  const mid = floatWeights(interpolateOnnxWeights(a, b, 0.3));
  let checked = 0;
  for (const [name, tb] of wb) {
    const ta = wa.get(name)!;
    const tm = mid.get(name)!;
    assert.equal(tm.length, tb.length);
    for (let i = 0; i < tb.length; i += 97) {
      assert.ok(Math.abs(tm[i]! - (0.7 * ta[i]! + 0.3 * tb[i]!)) <= 1e-6 * (1 + Math.abs(tb[i]!)), `${name}[${i}]`);
      checked++;
    }
  }
  assert.ok(checked > 500);
  // Some weights really differ, so the blend is not trivially one of the two.
  const first = [...wb.keys()][0]!;
  assert.ok(maxDiff(wa.get(first)!, wb.get(first)!) > 1e-3);
  assert.deepEqual(interpolateOnnxWeights(a, b, 1), b);
  assert.deepEqual(floatWeights(interpolateOnnxWeights(a, b, 0)), wa);
});

test('interpolating different networks, or by a strength outside 0..1, is refused', () => {
  const b = new Uint8Array(readFileSync(STRONG));
  assert.throws(() => interpolateOnnxWeights(randomConvNet({ layers: 2, channels: 8, scale: 4, seed: 1 }), b, 0.5), /the networks differ/);
  assert.throws(() => interpolateOnnxWeights(b, b, 1.5), /strength must be between 0 and 1/);
  assert.throws(() => interpolateOnnxWeights(b, b, Number.NaN), /strength must be between 0 and 1/);
});

test('photo: the strength picks the network, strength 0 is the base network, the default is the descriptor\'s', async () => {
  const choice = await resolveModel('photo');
  assert.equal(choice.descriptor.denoise, 0.5);
  const lr = testRaster(40, 28, 3, 8, 5);
  const outputs = new Map<number, Awaited<ReturnType<Awaited<ReturnType<typeof createUpscaler>>['upscale']>>>();
  for (const denoise of [0, 0.5, 1]) {
    const upscaler = await createUpscaler({ model: 'photo', denoise });
    assert.equal(upscaler.model.denoise, denoise);
    outputs.set(denoise, await upscaler.upscale(lr));
    await upscaler.dispose();
  }
  const fileOutput = async (path: string): Promise<Uint8Array> => {
    const upscaler = await createUpscaler({ model: path });
    const out = await upscaler.upscale(lr);
    await upscaler.dispose();
    return out.data as Uint8Array;
  };
  assert.deepEqual(outputs.get(0)!.data, await fileOutput(BASE));
  assert.deepEqual(outputs.get(1)!.data, await fileOutput(STRONG));
  assert.ok(maxDiff(outputs.get(0)!.data, outputs.get(1)!.data) > 8, 'the two ends differ');
  const byDefault = await createUpscaler({ model: 'photo' });
  assert.equal(byDefault.model.denoise, 0.5);
  assert.deepEqual((await byDefault.upscale(lr)).data, outputs.get(0.5)!.data);
  await byDefault.dispose();
});

test('denoise with a model that has none, or out of range, is a clear error', async () => {
  await assert.rejects(createUpscaler({ model: 'fast', denoise: 0.5 }), (e) => isUpscaleError(e) && e.code === 'INVALID_OPTION' && /model "fast" has no denoise strength \(models with one: photo, photo-gan, anime\)/.test(e.message));
  await assert.rejects(createUpscaler({ model: 'bicubic', denoise: 0 }), /has no denoise strength/);
  await assert.rejects(createUpscaler({ model: 'photo', denoise: 2 }), /Expected denoise to be a number from 0 to 1, got 2/);
});

test('CLI: --denoise reaches the model and the output\'s XMP; bad values exit 2 with one line', async () => {
  const input = join(dir, 'small.png');
  await sharp(Buffer.from(testRaster(36, 24, 3, 8, 2).data), { raw: { width: 36, height: 24, channels: 3 } }).png().toFile(input);
  const ok = upscale(input, '-m', 'photo', '--denoise', '0.8', '-o', join(dir, 'out.png'));
  assert.equal(ok.code, 0, ok.stderr);
  const tags = spawnSync('exiftool', ['-j', '-XMP-upscale:all', join(dir, 'out.png')], { encoding: 'utf8' });
  const record = (JSON.parse(tags.stdout) as Record<string, unknown>[])[0]!;
  assert.equal(record.Model, 'photo-x4');
  assert.equal(String(record.Denoise), '0.8');
  const meta = await sharp(join(dir, 'out.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [144, 96]);

  const range = upscale(input, '-m', 'photo', '--denoise', '1.5', '-o', join(dir, 'bad.png'));
  assert.equal(range.code, 2);
  assert.match(range.stderr, /Expected a number from 0 to 1, got "1.5"/);
  const other = upscale(input, '-m', 'fast', '--denoise', '0.5', '-o', join(dir, 'bad.png'));
  assert.equal(other.code, 2, other.stderr);
  assert.match(other.stderr, /model "fast" has no denoise strength/);
  assert.equal(other.stderr.trim().split('\n').length, 1);
});

test('eval --inputs: NIQE of real low-resolution images without ground truth, per model and strength', async () => {
  const inputs = join(dir, 'real');
  mkdirSync(inputs);
  for (const name of ['baby', 'butterfly']) copyFileSync(join(SET5_LR, `${name}x4.png`), join(inputs, `${name}.png`));
  const r = upscale('eval', '--inputs', inputs, '-s', '4', '-m', 'bicubic,photo', '--denoise', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { scale: number; models: { model: string; meanNiqe: number; images: { name: string; niqe: number }[] }[] };
  assert.deepEqual(report.models.map((m) => m.model), ['bicubic', 'photo denoise 1']);
  for (const m of report.models) {
    assert.deepEqual(m.images.map((i) => i.name), ['baby', 'butterfly']);
    assert.ok(m.meanNiqe > 2 && m.meanNiqe < 20, `${m.model} NIQE ${m.meanNiqe}`);
  }
  const expected = await bicubicNiqe(join(inputs, 'baby.png'));
  assert.ok(Math.abs(report.models[0]!.images[0]!.niqe - expected) < 1e-9, `${report.models[0]!.images[0]!.niqe} vs ${expected}`);
  assert.notEqual(report.models[0]!.meanNiqe, report.models[1]!.meanNiqe);

  const both = upscale('eval', '--inputs', inputs, '-d', inputs, '-s', '4', '-m', 'bicubic');
  assert.equal(both.code, 2);
  assert.match(both.stderr, /either --dataset \(ground truth\) or --inputs \(no reference\)/);
});

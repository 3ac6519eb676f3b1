/**
 * Community model files end to end through the CLI: `-m <file>` for PyTorch, safetensors and NCNN files, the
 * model library (`upscale models add/list/info/remove`), the conversion cache, and the errors users meet.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const SAMPLE = new URL('../assets/sample.png', import.meta.url).pathname;
const MODELS = new URL('./fixtures/models/', import.meta.url).pathname;
const NCNN = new URL('./fixtures/ncnn/', import.meta.url).pathname;
const WEIGHTS = new URL('./fixtures/weights/', import.meta.url).pathname;
let dir: string;
let env: NodeJS.ProcessEnv;

function upscale(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function pixels(path: string): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'upscale-library-'));
  env = { ...process.env, UPSCALE_MODELS_DIR: join(dir, 'library'), UPSCALE_CACHE_DIR: join(dir, 'cache') };
  // A small input keeps the networks quick.
  await sharp(SAMPLE).resize(48, 32).png().toFile(join(dir, 'small.png'));
  copyFileSync(join(MODELS, 'compact-x4.pth'), join(dir, 'My Compact x4.pth'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('-m runs a PyTorch .pth, its .safetensors twin gives the same pixels, and the conversion is cached', async () => {
  const a = upscale('small.png', '-m', join(MODELS, 'esrgan-x4.pth'), '-o', 'pth.png');
  assert.equal(a.code, 0, a.stderr);
  const b = upscale('small.png', '-m', join(MODELS, 'esrgan-x4.safetensors'), '-o', 'st.png');
  assert.equal(b.code, 0, b.stderr);
  const [pa, pb] = [await pixels(join(dir, 'pth.png')), await pixels(join(dir, 'st.png'))];
  assert.deepEqual([pa.width, pa.height], [192, 128]);
  assert.ok(pa.data.equals(pb.data));
  // One cached conversion per distinct source file (ONNX + its description).
  const cached = readdirSync(join(dir, 'cache', 'models'));
  assert.equal(cached.filter((f) => f.endsWith('.onnx')).length, 2);
  assert.equal(cached.filter((f) => f.endsWith('.json')).length, 2);
});

test('-m runs an NCNN .param with its .bin, and records the source hash in the provenance', async () => {
  const r = upscale('small.png', '-m', join(NCNN, 'compact-x4.param'), '-o', 'ncnn.png');
  assert.equal(r.code, 0, r.stderr);
  const out = await pixels(join(dir, 'ncnn.png'));
  assert.deepEqual([out.width, out.height], [192, 128]);
  const xmp = (await sharp(join(dir, 'ncnn.png')).metadata()).xmp?.toString() ?? '';
  const expected = createHash('sha256').update(readFileSync(join(NCNN, 'compact-x4.param'))).update(readFileSync(join(NCNN, 'compact-x4.bin'))).digest('hex');
  assert.match(xmp, new RegExp(expected));
});

test('models add / list / info / -m <id> / remove', async () => {
  const added = upscale('models', 'add', 'My Compact x4.pth');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^added my-compact-x4: Real-ESRGAN Compact \(SRVGGNetCompact\), x4, [\d,]+ parameters \(pytorch\)$/m);

  const list = upscale('models');
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^my-compact-x4\s+x4\s+\S+\s+Real-ESRGAN Compact \(SRVGGNetCompact\) x4 from My Compact x4\.pth \(your library\)$/m);

  const info = JSON.parse(upscale('models', 'info', 'my-compact-x4', '--json').stdout) as Record<string, unknown>;
  assert.equal(info.architecture, 'compact');
  assert.equal(info.scale, 4);
  assert.equal(info.format, 'pytorch');
  assert.equal(info.sourceSha256, sha256(join(dir, 'My Compact x4.pth')));
  const meta = JSON.parse(readFileSync(join(MODELS, 'compact-x4.json'), 'utf8')) as { parameters: number };
  assert.equal(info.parameters, meta.parameters);

  // The library copy is independent of the source file.
  rmSync(join(dir, 'My Compact x4.pth'));
  const viaId = upscale('small.png', '-m', 'my-compact-x4', '-o', 'lib.png');
  assert.equal(viaId.code, 0, viaId.stderr);
  const viaFile = upscale('small.png', '-m', join(MODELS, 'compact-x4.pth'), '-o', 'file.png');
  assert.equal(viaFile.code, 0, viaFile.stderr);
  assert.ok((await pixels(join(dir, 'lib.png'))).data.equals((await pixels(join(dir, 'file.png'))).data));

  const again = upscale('models', 'add', join(MODELS, 'compact-x4.pth'), '--name', 'my-compact-x4');
  assert.equal(again.code, 2);
  assert.match(again.stderr, /"my-compact-x4" is already in the library/);

  const removed = upscale('models', 'remove', 'my-compact-x4');
  assert.equal(removed.code, 0);
  assert.equal(removed.stdout, 'removed my-compact-x4\n');
  assert.deepEqual(readdirSync(join(dir, 'library')), []);
  const gone = upscale('models', 'remove', 'my-compact-x4');
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /^upscale: no model "my-compact-x4" in the library/);
});

test('models add takes NCNN pairs and safetensors, refuses built-in names and bad names', () => {
  const ncnn = upscale('models', 'add', join(NCNN, 'rrdb-x4.param'), '--name', 'tiny-rrdb', '--json');
  assert.equal(ncnn.code, 0, ncnn.stderr);
  const entry = JSON.parse(ncnn.stdout) as { format: string; scale: number; sourceFiles: string[] };
  assert.equal(entry.format, 'ncnn');
  assert.equal(entry.scale, 4);
  assert.equal(entry.sourceFiles.length, 2);

  const swin = upscale('models', 'add', join(MODELS, 'swinir-classical-x2.safetensors'), '--json');
  assert.equal(swin.code, 0, swin.stderr);
  assert.equal((JSON.parse(swin.stdout) as { architecture: string }).architecture, 'swinir');

  const builtin = upscale('models', 'add', join(MODELS, 'compact-x2.pth'), '--name', 'fast');
  assert.equal(builtin.code, 2);
  assert.match(builtin.stderr, /"fast" is the name of a built-in model/);
  const bad = upscale('models', 'add', join(MODELS, 'compact-x2.pth'), '--name', '../escape');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Expected a model name of letters, digits/);
  assert.deepEqual(readdirSync(join(dir, 'library')).sort(), ['swinir-classical-x2.json', 'swinir-classical-x2.onnx', 'tiny-rrdb.json', 'tiny-rrdb.onnx']);
});

test('a pickle that would run code is refused, nothing runs and nothing is written', () => {
  const r = upscale('small.png', '-m', join(WEIGHTS, 'evil_posix_system.pth'), '-o', 'evil.png');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /evil_posix_system\.pth: refused to load: the pickle references posix\.system/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.equal(existsSync(join(dir, 'evil.png')), false);
  const add = upscale('models', 'add', join(WEIGHTS, 'evil_posix_system.pth'));
  assert.equal(add.code, 2);
  assert.equal(existsSync(join(dir, 'library', 'evil_posix_system.onnx')), false);
});

test('weights of an unknown architecture, a non-model file and a missing .bin: one clear line each', () => {
  const unknown = upscale('small.png', '-m', join(WEIGHTS, 'plain.pth'));
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /plain\.pth: unsupported architecture: .* match none of ESRGAN \(RRDBNet\), Real-ESRGAN Compact \(SRVGGNetCompact\), SPAN, SwinIR/);

  writeFileSync(join(dir, 'notes.pth'), 'these are not weights');
  const text = upscale('small.png', '-m', 'notes.pth');
  assert.equal(text.code, 2);
  assert.match(text.stderr, /^upscale: notes\.pth: /);

  copyFileSync(join(NCNN, 'compact-x4.param'), join(dir, 'lonely.param'));
  const lonely = upscale('small.png', '-m', 'lonely.param');
  assert.equal(lonely.code, 2);
  assert.match(lonely.stderr, /lonely\.param: NCNN weights lonely\.bin not found beside the \.param file/);
});

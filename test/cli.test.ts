import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { nearestUpscaleModel, randomConvNet, brokenModelBytes } from './fixtures/models.js';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const SAMPLE = new URL('../assets/sample.png', import.meta.url).pathname;
let dir: string;

function upscale(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function size(path: string): Promise<[number, number]> {
  const m = await sharp(path).metadata();
  return [m.width, m.height];
}

function exif(path: string): Record<string, unknown> {
  const r = spawnSync('exiftool', ['-j', '-G', '-struct', path], { encoding: 'utf8' });
  return (JSON.parse(r.stdout) as Record<string, unknown>[])[0]!;
}

/** Files left in a directory tree whose names mark them as our temporaries. */
function temporaries(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('upscale-tmp'));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'upscale-cli-'));
  copyFileSync(SAMPLE, join(dir, 'sample.png'));
  writeFileSync(join(dir, 'x2.onnx'), nearestUpscaleModel(2));
  // No declared scale: the CLI must probe it.
  writeFileSync(join(dir, 'probe-x2.onnx'), nearestUpscaleModel(2, { metadata: {} }));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('--help shows usage and examples', () => {
  const r = upscale('--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: upscale \[options\] \[command\] \[inputs\.\.\.\]/);
  assert.match(r.stdout, /upscale photo\.jpg --fit 3840x2160/);
});

test('models lists the built-in networks with their figures, and the classical methods', () => {
  const r = upscale('models');
  assert.equal(r.code, 0);
  for (const id of ['nearest', 'bilinear', 'bicubic', 'lanczos3']) assert.match(r.stdout, new RegExp(`^${id}\\s`, 'm'));
  assert.match(r.stdout, /^esrgan-thick\s+x2 x3 x4 x8\s+7\.3M\s+29\.94 \/ 0\.8522\s+5\.9 s\/MP\s+MIT/m);
  assert.match(r.stdout, /^quality\s+x2 x4\s+426K\s+32\.20 \/ 0\.8952\s+[\d.]+ s\/MP\s+Apache-2\.0\s+clean photos/m);
  assert.match(r.stdout, /^photo-gan\s+x4\s+1\.2M\s+.*0\.\.1 \(0\.5\)\s+BSD-3-Clause/m);
  assert.match(r.stdout, /^anime\s+x2 x4\s+.*0\/0\.5\/1 \(0\)\s+MIT\s+anime/m);
  const json = JSON.parse(upscale('models', '--json').stdout) as { id: string }[];
  assert.ok(json.some((m) => m.id === 'bicubic'));
});

test('default run: the default AI model, <name>@4x.<ext> beside the input, with provenance', async () => {
  const r = upscale('sample.png');
  assert.equal(r.code, 0, r.stderr);
  const out = join(dir, 'sample@4x.png');
  assert.deepEqual(await size(out), [768, 512]);
  assert.match(r.stdout, /sample\.png -> .*sample@4x\.png \(192x128 -> 768x512/);
  const tags = exif(out);
  assert.equal(tags['XMP:Model'], 'photo-gan-x4');
  assert.equal(tags['XMP:Denoise'], 0.5);
  assert.equal(tags['XMP:DigitalSourceType'], 'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced');
  assert.match(String(tags['XMP:ModelSHA256']), /^[0-9a-f]{64}$/);
  rmSync(out);
  const classical = upscale('sample.png', '-m', 'lanczos', '-s', '2');
  assert.equal(classical.code, 0, classical.stderr);
  const tagsClassical = exif(join(dir, 'sample@2x.png'));
  assert.equal(tagsClassical['XMP:Model'], 'lanczos3');
  assert.equal(tagsClassical['XMP:DigitalSourceType'], undefined, 'interpolation is not declared AI-enhanced');
  rmSync(join(dir, 'sample@2x.png'));
  const tta = upscale('sample.png', '-m', 'quality', '-s', '2', '--tta');
  assert.equal(tta.code, 0, tta.stderr);
  const tagsTta = exif(join(dir, 'sample@2x.png'));
  assert.equal(tagsTta['XMP:Model'], 'quality-x2');
  assert.equal(tagsTta['XMP:Tta'], true, 'upscale:TTA recorded');
  rmSync(join(dir, 'sample@2x.png'));
});

test('an ONNX model: scale probed, output exact, provenance with the weights hash', async () => {
  const r = upscale('sample.png', '-m', 'probe-x2.onnx', '-o', 'out.png');
  assert.equal(r.code, 0, r.stderr);
  const out = join(dir, 'out.png');
  assert.deepEqual(await size(out), [384, 256]);
  const expected = await sharp(SAMPLE).resize(384, 256, { kernel: 'nearest' }).raw().toBuffer();
  const actual = await sharp(out).raw().toBuffer();
  assert.ok(expected.equals(actual), 'nearest x2 network output written exactly');
  const tags = exif(out);
  assert.equal(tags['XMP:DigitalSourceType'], 'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced');
  const sha = createHash('sha256').update(readFileSync(join(dir, 'probe-x2.onnx'))).digest('hex');
  assert.equal(tags['XMP:ModelSHA256'], sha);
  assert.equal(String(tags['XMP:Scale']), '2');
  rmSync(out);

  const bare = upscale('sample.png', '-m', 'x2.onnx', '-o', 'bare.png', '--no-provenance');
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(exif(join(dir, 'bare.png'))['XMP:DigitalSourceType'], undefined);
  rmSync(join(dir, 'bare.png'));
});

test('any size: factor, width, fit, format from --format', async () => {
  assert.equal(upscale('sample.png', '-s', '2.5', '-m', 'x2.onnx').code, 0);
  assert.deepEqual(await size(join(dir, 'sample@2.5x.png')), [480, 320]);
  assert.equal(upscale('sample.png', '--width', '500', '-m', 'bicubic').code, 0);
  assert.deepEqual(await size(join(dir, 'sample@w500.png')), [500, 333]);
  assert.equal(upscale('sample.png', '--fit', '1000x400', '--format', 'webp').code, 0);
  const fit = join(dir, 'sample@fit1000x400.webp');
  assert.deepEqual(await size(fit), [600, 400]);
  assert.equal((await sharp(fit).metadata()).format, 'webp');
  for (const f of ['sample@2.5x.png', 'sample@w500.png', 'sample@fit1000x400.webp']) rmSync(join(dir, f));
  assert.equal(upscale('sample.png', '-o', 'c0.png', '--compression', '0').code, 0);
  assert.equal(upscale('sample.png', '-o', 'c9.png', '--compression', '9').code, 0);
  assert.ok(statSync(join(dir, 'c0.png')).size > 2 * statSync(join(dir, 'c9.png')).size, 'level 0 stores, level 9 compresses');
  assert.equal(upscale('sample.png', '-o', 'q.jpg', '-q', '20').code, 0);
  assert.equal(upscale('sample.png', '-o', 'q95.jpg', '-q', '95').code, 0);
  assert.ok(statSync(join(dir, 'q95.jpg')).size > statSync(join(dir, 'q.jpg')).size);
});

test('directories: recursive mirror, existing outputs skipped unless --overwrite, --json report', async () => {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'a', 'b'), { recursive: true });
  copyFileSync(SAMPLE, join(tree, 'one.png'));
  copyFileSync(SAMPLE, join(tree, 'a', 'b', 'two.png'));
  writeFileSync(join(tree, 'notes.txt'), 'not an image');
  const r = upscale('tree', '-r', '-o', 'mirror', '-s', '2', '-m', 'nearest', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { input: string; output: string; status: string; outputWidth: number }[];
  assert.deepEqual(report.map((e) => [e.status, e.outputWidth]), [['ok', 384], ['ok', 384]]);
  assert.ok(existsSync(join(dir, 'mirror', 'one@2x.png')));
  assert.ok(existsSync(join(dir, 'mirror', 'a', 'b', 'two@2x.png')));

  const before = statSync(join(dir, 'mirror', 'one@2x.png')).mtimeMs;
  const again = JSON.parse(upscale('tree', '-r', '-o', 'mirror', '-s', '2', '-m', 'nearest', '--json').stdout) as { status: string }[];
  assert.deepEqual(again.map((e) => e.status), ['skipped', 'skipped']);
  assert.equal(statSync(join(dir, 'mirror', 'one@2x.png')).mtimeMs, before);
  const forced = JSON.parse(upscale('tree', '-r', '-o', 'mirror', '-s', '2', '-m', 'nearest', '--json', '--overwrite').stdout) as { status: string }[];
  assert.deepEqual(forced.map((e) => e.status), ['ok', 'ok']);
});

test('bad inputs: one line each naming the file, the others still done, exit 1, nothing partial', async () => {
  const bad = join(dir, 'bad');
  mkdirSync(bad);
  writeFileSync(join(bad, 'empty.png'), '');
  writeFileSync(join(bad, 'text.png'), 'hello, I am not a picture\n');
  const png = readFileSync(SAMPLE);
  writeFileSync(join(bad, 'truncated.png'), png.subarray(0, Math.floor(png.length / 2)));
  copyFileSync(SAMPLE, join(bad, 'good.png'));
  const r = upscale('bad/empty.png', 'bad/text.png', 'bad/truncated.png', 'bad/missing.png', 'bad/good.png', '-m', 'bicubic', '-s', '2');
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 4, r.stderr);
  assert.match(lines[0]!, /^upscale: bad\/missing\.png: no such file or directory$/);
  assert.match(r.stderr, /^upscale: bad\/empty\.png: .*empty/m);
  assert.match(r.stderr, /^upscale: bad\/text\.png: .*not a supported image/m);
  assert.match(r.stderr, /^upscale: bad\/truncated\.png: .*(truncated|corrupt)/im);
  assert.deepEqual(await size(join(bad, 'good@2x.png')), [384, 256]);
  assert.deepEqual(readdirSync(bad).sort(), ['empty.png', 'good.png', 'good@2x.png', 'text.png', 'truncated.png']);
});

test('pixel limit refuses before decoding', () => {
  const r = upscale('sample.png', '--max-pixels', '1000', '-o', 'limited.png');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sample\.png: .*192x128.*1000|sample\.png: .*(pixels|limit)/);
  assert.ok(!existsSync(join(dir, 'limited.png')));
});

test('bad models and options: one line, exit 2', () => {
  const broken = brokenModelBytes();
  writeFileSync(join(dir, 'truncated.onnx'), broken.truncated);
  writeFileSync(join(dir, 'random.onnx'), broken.random);
  let r = upscale('sample.png', '-m', 'missing.onnx');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, 'upscale: missing.onnx: model file not found\n');
  r = upscale('sample.png', '-m', 'truncated.onnx');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^upscale: truncated\.onnx: not an ONNX model \(.+\)\n$/);
  r = upscale('sample.png', '-m', 'random.onnx');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^upscale: random\.onnx: not an ONNX model/);
  r = upscale('sample.png', '-m', 'superres-9000');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown model "superres-9000" \(expected one of photo, fast, quality, photo-gan, anime, anime-fast, esrgan-slim, esrgan-medium, esrgan-thick, nearest, bilinear, bicubic, lanczos3, or a model file: \.onnx, \.pth, \.pt, \.ckpt, \.safetensors, \.param, \.bin\)/);
  r = upscale('sample.png', '-s', 'abc');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /option '-s, --scale <factor>' argument 'abc' is invalid\. Expected a number above 0, got "abc"\./);
  r = upscale('sample.png', '-s', '2', '--width', '100');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Expected one of scale, width\/height or fit, got several/);
  assert.equal(upscale('sample.png', '--quality', '0').code, 2);
  assert.deepEqual(temporaries(dir), []);
});

test('the input is never overwritten', () => {
  const before = readFileSync(join(dir, 'sample.png'));
  const r = upscale('sample.png', '-o', 'sample.png', '--overwrite');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sample\.png: output would overwrite the input/);
  assert.ok(readFileSync(join(dir, 'sample.png')).equals(before));
});

test('Ctrl-C stops within a tile, exit 130, no output and no temporary file', async () => {
  // A slow network and small tiles, so there is time to interrupt.
  writeFileSync(join(dir, 'slow.onnx'), randomConvNet({ layers: 6, channels: 48, scale: 2, seed: 1, metadata: { 'upscale.scale': '2' } }));
  await sharp({ create: { width: 800, height: 600, channels: 3, background: '#808080' } }).png().toFile(join(dir, 'big.png'));
  const child = spawn(process.execPath, [BIN, 'big.png', '-m', 'slow.onnx', '--tile', '64', '-o', 'big-out.png'], { cwd: dir });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const interruptedAt = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 130, stderr);
  assert.ok(Date.now() - interruptedAt < 5000, 'stopped promptly');
  assert.match(stderr, /cancelled; no partial output was written/);
  assert.ok(!existsSync(join(dir, 'big-out.png')));
  assert.deepEqual(temporaries(dir), []);
});

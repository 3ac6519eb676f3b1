/**
 * What reaches the terminal when things go wrong: our one-line errors, never onnxruntime's own log lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, int64s } from '../src/onnx/index.js';

const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'upscale.js');

/** A valid model that fails at inference on anything but an 8x8 input (a Reshape to a fixed shape). */
function failingModel(): Uint8Array {
  const g = new GraphBuilder({ name: 'fails' });
  const x = g.input('input', 'float32', [1, 3, 'H', 'W']);
  const shape = g.initializer('shape', [4], int64s([1, 3, 8, 8]));
  g.node('Reshape', [x, shape], {}, { output: 'output' });
  g.output('output', 'float32', [1, 3, 8, 8]);
  return g.toModel({ metadata: { 'upscale.scale': '1' } });
}

test('a model that fails on every input: one line without onnxruntime\'s own (coloured) log, exit 2, not N failures', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upscale-messages-'));
  try {
    writeFileSync(join(dir, 'fails.onnx'), failingModel());
    for (const name of ['a.png', 'b.png', 'c.png']) copyFileSync(join(ROOT, 'assets', 'sample.png'), join(dir, name));
    const r = spawnSync(process.execPath, [BIN, 'a.png', 'b.png', 'c.png', '-m', 'fails.onnx', '-s', '1.5'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /\u001b\[|onnxruntime|\.cc:\d+/, `stderr: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^upscale: fails\.onnx: inference failed on a 192x128 input \(Reshape node 'reshape': .*\); the model is unusable, so the other 2 inputs were not tried\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file contents quoted in an error cannot reach the terminal raw: control characters are escaped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upscale-messages-'));
  try {
    // An NCNN layer type carrying an escape sequence that would retitle the terminal, and a NUL.
    const evil = 'Bogus\u001b]0;pwned\u0007\u0000';
    writeFileSync(join(dir, 'evil.param'), `7767517\n2 2\nInput in0 0 1 data\n${evil} l1 1 1 data output\n`);
    writeFileSync(join(dir, 'evil.bin'), new Uint8Array(16));
    copyFileSync(join(ROOT, 'assets', 'sample.png'), join(dir, 'sample.png'));
    const r = spawnSync(process.execPath, [BIN, 'sample.png', '-m', 'evil.param'], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stderr + r.stdout, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control characters');
    assert.match(r.stderr, /Bogus\\x1b\]0;pwned\\x07\\x00/);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('messages say a thing once and never end empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'upscale-messages-'));
  try {
    writeFileSync(join(dir, 'junk.onnx'), Uint8Array.of(0x08, 0x07, 0x12, 0x05));
    // A PNG signature and the start of an IHDR chunk, then garbage: libvips says "corrupt header:" and no more.
    writeFileSync(join(dir, 'corrupt.png'), Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from('xxxxxxxx')]));
    copyFileSync(join(ROOT, 'assets', 'sample.png'), join(dir, 'sample.png'));
    const model = spawnSync(process.execPath, [BIN, 'sample.png', '-m', 'junk.onnx'], { cwd: dir, encoding: 'utf8' });
    assert.equal(model.status, 2);
    assert.equal(model.stderr.match(/not an ONNX model/g)?.length, 1, model.stderr);
    const image = spawnSync(process.execPath, [BIN, 'corrupt.png', '-m', 'bicubic'], { cwd: dir, encoding: 'utf8' });
    assert.equal(image.status, 1);
    assert.match(image.stderr, /corrupt\.png: corrupt or truncated PNG data, expected a complete image/);
    assert.doesNotMatch(image.stderr, /:\)|\(\)/, image.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a request that cannot be carried out gets its one line, without a pointer to --help (that is for usage errors)', () => {
  const missing = spawnSync(process.execPath, [BIN, 'models', 'add', '/nonexistent/model.pth'], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, 'upscale: /nonexistent/model.pth: model file not found\n');
  const unknown = spawnSync(process.execPath, [BIN, 'models', 'info', 'nothing-here'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^upscale: unknown model "nothing-here"[^\n]*\n$/);
  const usage = spawnSync(process.execPath, [BIN, '--no-such-option', 'x.png'], { encoding: 'utf8' });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /run upscale --help for usage/);
});

/**
 * The fuzz harness (scripts/fuzz): that it catches what it must (exceptions outside a parser's contract, hangs,
 * memory exhaustion) on parsers that misbehave on purpose; that a seed reproduces a run; the inputs it found
 * crashing, kept in test/fixtures/fuzz/ (named `<parser>-<what>.bin`); and every real parser for about 3 seconds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzz, replay, type FuzzReport } from '../scripts/fuzz/harness.js';
import { readPngRawProfile } from '../src/image/metadata/png.js';
import { readPngChunks } from '../src/image/png-chunks.js';
import { TARGETS } from '../scripts/fuzz/targets/index.js';

const FAKES = new URL('./fixtures/fuzz/fake-targets.ts', import.meta.url);
const REGRESSIONS = new URL('./fixtures/fuzz/', import.meta.url);

let crashDir = '';
before(async () => {
  crashDir = await mkdtemp(join(tmpdir(), 'upscale-fuzz-test-'));
});
after(async () => {
  await rm(crashDir, { recursive: true, force: true });
});

const fake = (target: string, options: { seconds?: number; maxInputs?: number; hangMs?: number; memoryLimitMb?: number; seed?: number } = {}): Promise<FuzzReport> =>
  fuzz({ target, targetsModule: FAKES, crashDir, seconds: 2, ...options });

describe('the harness reports what crashes', () => {
  test('an exception outside the contract, once per distinct crash, with its input written', async () => {
    const report = await fake('throws', { maxInputs: 500 });
    assert.equal(report.inputs, 500);
    assert.equal(report.crashes.length, 1);
    const [crash] = report.crashes;
    assert.equal(crash?.kind, 'exception');
    assert.match(crash?.signature ?? '', /^TypeError at test\/fixtures\/fuzz\/fake-targets\.ts:\d+$/);
    assert.match(crash?.detail ?? '', /TypeError: boom/);
    assert.equal(crash?.count, 500);
    assert.equal(report.crashingInputs, 500);
    assert.ok(crash?.file !== undefined && existsSync(crash.file), 'the crashing input is written');
    assert.deepEqual(new Uint8Array(readFileSync(crash.file)), crash.input);
  });

  test('errors within the contract are not crashes', async () => {
    const report = await fake('rejects', { maxInputs: 500 });
    assert.equal(report.inputs, 500);
    assert.deepEqual(report.crashes, []);
  });

  test('a busy loop is a hang: the worker is stopped, the input saved, and fuzzing goes on', async () => {
    const report = await fake('busy-loop', { seconds: 3, hangMs: 300 });
    const [crash] = report.crashes;
    assert.equal(crash?.kind, 'hang');
    assert.notEqual(crash?.input.length, 'fuzz me, gently'.length, 'the saved input is the one that hangs');
    // Each hang but perhaps the last (when time was up) is followed by a fresh worker.
    assert.ok(report.restarts >= 1 && crash!.count - report.restarts <= 1, `${report.restarts} restarts, ${crash?.count} hangs`);
    assert.ok(report.inputs > report.restarts, 'inputs that do not hang were run between the hangs');
  });

  test('a promise that never settles is a hang', async () => {
    const report = await fake('never-settles', { seconds: 2, hangMs: 300 });
    assert.deepEqual(report.crashes.map((c) => c.kind), ['hang']);
    assert.notEqual(report.crashes[0]?.input.length, 'fuzz me, gently'.length);
  });

  test('exhausting the heap is a memory crash', async () => {
    const report = await fake('heap-hog', { seconds: 1, memoryLimitMb: 64 });
    assert.equal(report.crashes[0]?.kind, 'memory');
    assert.match(report.crashes[0]?.signature ?? '', /^memory:/);
  });

  test('the same seed gives the same inputs, another seed others', async () => {
    const run = (seed: number): Promise<FuzzReport> => fake('picky', { maxInputs: 20_000, seed });
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    assert.ok(a.crashes.length === 1 && a.crashingInputs > 0, 'inputs starting with 0xff are found');
    assert.equal(b.crashes[0]?.iteration, a.crashes[0]?.iteration);
    assert.deepEqual(b.crashes[0]?.input, a.crashes[0]?.input);
    assert.equal(b.crashingInputs, a.crashingInputs);
    assert.notDeepEqual([c.crashes[0]?.iteration, c.crashingInputs], [a.crashes[0]?.iteration, a.crashingInputs]);
  });
});

/** `webp-short-vp8x.bin` → `webp`; the longest target name that prefixes the file name. */
function targetOf(file: string): string {
  const names = [...TARGETS.keys()].filter((name) => file.startsWith(`${name}-`)).sort((x, y) => y.length - x.length);
  assert.ok(names[0] !== undefined, `test/fixtures/fuzz/${file} is named after no parser`);
  return names[0];
}

describe('inputs the fuzzer found crashing are rejected within the contract', () => {
  for (const file of readdirSync(REGRESSIONS).filter((f) => f.endsWith('.bin')).sort()) {
    test(file, async () => {
      const result = await replay(targetOf(file), new Uint8Array(readFileSync(new URL(file, REGRESSIONS))));
      assert.notEqual(result.outcome, 'crash', result.error instanceof Error ? result.error.stack : String(result.error));
    });
  }
});

test('a PNG of many corrupt "Raw profile type" chunks takes no memory per chunk', () => {
  // Found by the fuzzer: each zTXt that fails to inflate holds ~10 KB until the event loop turns, so a PNG of
  // thousands of them took gigabytes in one decode. The committed file holds one such chunk; here it is repeated.
  const unit = readFileSync(new URL('png-metadata-corrupt-raw-profile.bin', REGRESSIONS));
  const bad = readPngChunks(unit).chunks.find((chunk) => chunk.type === 'zTXt');
  assert.ok(bad !== undefined);
  const many = Buffer.concat([unit.subarray(0, bad.start), ...Array.from({ length: 20_000 }, () => unit.subarray(bad.start, bad.end)), unit.subarray(bad.end)]);
  const before = process.memoryUsage().external;
  assert.equal(readPngRawProfile(many, 'exif'), undefined);
  const grown = process.memoryUsage().external - before;
  assert.ok(grown < 32 * 2 ** 20, `reading the profile took ${Math.round(grown / 2 ** 20)} MiB for a ${Math.round(many.length / 1024)} KiB file`);
});

describe('every parser survives 3 seconds of fuzzing', () => {
  for (const target of TARGETS.keys()) {
    test(target, async () => {
      const report = await fuzz({ target, seconds: 3, seed: 20240601 });
      const found = report.crashes.map((c) => `${c.signature} (${c.count} inputs) -> ${c.file}\n${c.detail}`);
      assert.deepEqual(found, [], `npm run fuzz -- ${target} --replay <file> reproduces each`);
      assert.ok(report.inputs > 0, 'inputs were tried');
    });
  }
});

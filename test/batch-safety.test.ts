/**
 * Batch runs never lose or waste the user's work (issue 13): our own outputs are not enlarged again when a
 * directory is rerun, two inputs never share an output, `-o file.png` is not turned into a directory, temporaries of
 * killed runs are cleaned up, and symbolic links are followed (dangling ones reported). Drives the built CLI.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { hasOutputName, hasProvenance } from '../src/cli/own-outputs.js';
import { sizeLabel } from '../src/cli/inputs.js';
import { isProcessAlive, removeStaleTemporaries, temporaryOwner, temporaryPathFor } from '../src/files.js';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const SAMPLE = new URL('../assets/sample.png', import.meta.url).pathname;
/** A cheap classical model and factor, so that every run takes milliseconds. */
const FAST = ['-m', 'nearest', '-s', '2'];

let root: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function upscale(cwd: string, ...args: string[]): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  input: string;
  output?: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  error?: { code: string; message: string };
}

function report(run: Run): Report[] {
  return JSON.parse(run.stdout) as Report[];
}

/** A fresh directory for one test, under the file's temporary root. */
function workspace(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The pid of a process that has exited (and been reaped), so that nothing runs under it now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  return pid;
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'upscale-batch-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('our own outputs', () => {
  test('rerunning on a directory skips our outputs (by name and by provenance) with a note, unless named', async () => {
    const dir = workspace('rerun');
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    copyFileSync(SAMPLE, join(photos, 'messi5.png'));

    const first = upscale(dir, 'photos', ...FAST);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(existsSync(join(photos, 'messi5@2x.png')));
    // A renamed output is still ours (its XMP says so); a file named like an output without XMP is ours by name.
    copyFileSync(join(photos, 'messi5@2x.png'), join(photos, 'renamed.png'));
    await sharp(SAMPLE).resize(96, 64).png().toFile(join(photos, 'other@w96.png'));

    const again = upscale(dir, 'photos', ...FAST, '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(readdirSync(photos).sort(), ['messi5.png', 'messi5@2x.png', 'other@w96.png', 'renamed.png']);
    assert.deepEqual(
      again.stderr.split('\n').filter(Boolean),
      [
        'upscale: photos/messi5@2x.png: skipped, an upscale output (by its name); name it on the command line to enlarge it again',
        'upscale: photos/other@w96.png: skipped, an upscale output (by its name); name it on the command line to enlarge it again',
        'upscale: photos/renamed.png: skipped, an upscale output (its XMP records upscale); name it on the command line to enlarge it again',
      ],
    );
    assert.deepEqual(
      report(again).map((r) => [r.input, r.status, r.reason]),
      [
        ['photos/messi5@2x.png', 'skipped', 'an upscale output (by its name)'],
        ['photos/other@w96.png', 'skipped', 'an upscale output (by its name)'],
        ['photos/renamed.png', 'skipped', 'an upscale output (its XMP records upscale)'],
        ['photos/messi5.png', 'skipped', 'output exists'],
      ],
    );

    // Another size request: the input is enlarged, the earlier output still is not.
    const other = upscale(dir, 'photos', '-m', 'nearest', '-s', '3', '--quiet');
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stderr, '', '--quiet prints no notes');
    assert.deepEqual(readdirSync(photos).filter((name) => name.includes('@3x')), ['messi5@3x.png']);

    // Named on the command line, an output is enlarged again, and so is a file named both ways.
    const named = upscale(dir, 'photos/messi5@2x.png', 'photos', 'photos/renamed.png', ...FAST);
    assert.equal(named.code, 0, named.stderr);
    assert.ok(existsSync(join(photos, 'messi5@2x@2x.png')));
    assert.ok(existsSync(join(photos, 'renamed@2x.png')));
    assert.ok(!existsSync(join(photos, 'other@w96@2x.png')));
  });

  test('a tree mirrored into a directory inside it is not enlarged again on the next run', () => {
    const dir = workspace('mirror-inside');
    mkdirSync(join(dir, 'scans', 'a'), { recursive: true });
    copyFileSync(SAMPLE, join(dir, 'scans', 'a', 'one.png'));
    for (let run = 0; run < 2; run++) {
      const r = upscale(dir, 'scans', '-r', '-o', 'scans/out', ...FAST, '--quiet');
      assert.equal(r.code, 0, r.stderr);
    }
    const files = readdirSync(join(dir, 'scans'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(files, [join('a', 'one.png'), join('out', 'a', 'one@2x.png')]);
  });

  test('every output name label is recognised, and ordinary names are not', () => {
    const labels = [
      sizeLabel({}, 4),
      sizeLabel({ scale: 2.5 }, 4),
      sizeLabel({ width: 1920 }, 4),
      sizeLabel({ height: 1080 }, 4),
      sizeLabel({ width: 1920, height: 1080 }, 4),
      sizeLabel({ fit: { width: 3840, height: 2160 } }, 4),
    ];
    assert.deepEqual(labels, ['4x', '2.5x', 'w1920', 'h1080', '1920x1080', 'fit3840x2160']);
    for (const label of labels) assert.ok(hasOutputName(`dir/photo@${label}.jpg`), label);
    for (const name of ['photo.jpg', 'me@home.png', 'photo@4x-edit.png', 'photo@x.png', 'photo@4x.png.bak/x.png']) {
      assert.ok(!hasOutputName(name), name);
    }
  });

  test('provenance is found in large outputs of every format that has XMP', async () => {
    const dir = workspace('provenance');
    // Noise, so that every output is larger than the 256 KiB searched at each end and the right end must be read.
    await sharp(randomBytes(320 * 320 * 3), { raw: { width: 320, height: 320, channels: 3 } }).png().toFile(join(dir, 'noise.png'));
    for (const format of ['png', 'jpeg', 'webp', 'tiff', 'avif']) {
      const r = upscale(dir, 'noise.png', ...FAST, '-f', format, '-o', `out.${format}`, ...(format === 'webp' ? ['--lossless'] : []));
      assert.equal(r.code, 0, r.stderr);
      assert.ok(statSync(join(dir, `out.${format}`)).size > 256 * 1024, `${format}: larger than one window`);
      assert.ok(await hasProvenance(join(dir, `out.${format}`)), format);
    }
    assert.equal(await hasProvenance(join(dir, 'noise.png')), false);
    assert.equal(await hasProvenance(join(dir, 'missing.png')), false);
  });
});

describe('outputs of one run never collide', () => {
  test('two inputs mapped to one output: refused before any work, one line naming both, exit 2', () => {
    const dir = workspace('collision');
    for (const sub of ['a', 'b']) {
      mkdirSync(join(dir, sub));
      copyFileSync(SAMPLE, join(dir, sub, 'x.png'));
    }
    for (const extra of [[], ['--overwrite']]) {
      const r = upscale(dir, 'a/x.png', 'b/x.png', '-o', 'out/', ...FAST, ...extra);
      assert.equal(r.code, 2, r.stdout);
      assert.equal(
        r.stderr,
        'upscale: a/x.png and b/x.png would both be written to out/x@2x.png; nothing was done (run them separately with different -o, or rename one)\n',
      );
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(join(dir, 'out')), 'nothing written');
    }
    // The same through two directories, and two formats of one name in one directory.
    const dirs = upscale(dir, 'a', 'b', '-o', 'out', ...FAST);
    assert.equal(dirs.code, 2);
    assert.match(dirs.stderr, /^upscale: a\/x\.png and b\/x\.png would both be written to out\/x@2x\.png; nothing was done/);
  });

  test('two formats of one name with -f: refused; -r mirrors same names to distinct paths; a file named twice runs once', async () => {
    const dir = workspace('collision-more');
    mkdirSync(join(dir, 'tree', 'a'), { recursive: true });
    mkdirSync(join(dir, 'tree', 'b'));
    copyFileSync(SAMPLE, join(dir, 'tree', 'a', 'x.png'));
    copyFileSync(SAMPLE, join(dir, 'tree', 'b', 'x.png'));
    await sharp(SAMPLE).jpeg().toFile(join(dir, 'tree', 'a', 'x.jpg'));

    const formats = upscale(dir, 'tree/a', '-f', 'png', ...FAST);
    assert.equal(formats.code, 2);
    assert.equal(formats.stderr.split('\n').filter(Boolean).length, 1);
    assert.match(formats.stderr, /^upscale: tree\/a\/x\.jpg and tree\/a\/x\.png would both be written to tree\/a\/x@2x\.png;/);

    const mirrored = upscale(dir, 'tree', '-r', '-o', 'mirror', ...FAST, '--json');
    assert.equal(mirrored.code, 0, mirrored.stderr);
    assert.deepEqual(report(mirrored).map((r) => [r.status, r.output]), [
      ['ok', 'mirror/a/x@2x.jpg'],
      ['ok', 'mirror/a/x@2x.png'],
      ['ok', 'mirror/b/x@2x.png'],
    ]);

    const twice = upscale(dir, 'tree/b/x.png', 'tree/b', 'tree/b/x.png', '-o', 'twice', ...FAST, '--json');
    assert.equal(twice.code, 0, twice.stderr);
    assert.deepEqual(report(twice).map((r) => [r.status, r.output]), [['ok', 'twice/x@2x.png']]);
  });

  test('-o with an image extension, or an existing file, for several inputs: refused, exit 2, no directory made', () => {
    const dir = workspace('output-file');
    copyFileSync(SAMPLE, join(dir, 'a.png'));
    copyFileSync(SAMPLE, join(dir, 'b.png'));
    mkdirSync(join(dir, 'photos'));
    copyFileSync(SAMPLE, join(dir, 'photos', 'c.png'));

    let r = upscale(dir, 'a.png', 'b.png', '-o', 'big.png', ...FAST);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'upscale: -o big.png: expected a directory for 2 inputs, got a file name (use -o big/ or give one input)\n');
    assert.ok(!existsSync(join(dir, 'big.png')));

    r = upscale(dir, 'photos', '-o', 'big.JPG', ...FAST);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'upscale: -o big.JPG: expected a directory for the images of photos, got a file name (use -o big/ or give one input)\n');
    assert.ok(!existsSync(join(dir, 'big.JPG')));

    writeFileSync(join(dir, 'exists.png'), 'a file');
    r = upscale(dir, 'a.png', 'b.png', '-o', 'exists.png', ...FAST);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'upscale: -o exists.png: expected a directory for 2 inputs, got an existing file\n');

    // What works keeps working: a file for one input, a directory (trailing slash, or no extension) for several.
    r = upscale(dir, 'a.png', '-o', 'big.png', ...FAST);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync(join(dir, 'big.png')).isFile());
    r = upscale(dir, 'a.png', 'b.png', '-o', 'wide.png/', ...FAST);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'wide.png', 'a@2x.png')));
    r = upscale(dir, 'a.png', 'b.png', '-o', 'many', ...FAST);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'many')).sort(), ['a@2x.png', 'b@2x.png']);
  });
});

describe('temporary files', () => {
  test('temporary names carry the pid and are recognised; only ours are', () => {
    const temp = temporaryPathFor('out/x@2x.png');
    assert.match(basename(temp), /^\.x@2x\.png\.upscale-tmp-\d+-[0-9a-f]{8}$/);
    assert.equal(temporaryOwner(basename(temp)), process.pid);
    const video = temporaryPathFor('out/clip@2x.mp4', { keepExtension: true });
    assert.match(basename(video), /^\.clip@2x\.upscale-tmp-\d+-[0-9a-f]{8}\.mp4$/);
    assert.equal(temporaryOwner(basename(video)), process.pid);
    for (const name of ['x@2x.png', '.x.upscale-tmp-12-zz', '.x.upscale-tmp--1-0123abcd', 'x.upscale-tmp-12-0123abcd']) {
      assert.equal(temporaryOwner(name), undefined, name);
    }
    assert.equal(isProcessAlive(process.pid), true);
  });

  test('a run writing into a directory removes temporaries of dead processes, not those of live ones', async () => {
    const dir = workspace('stale');
    copyFileSync(SAMPLE, join(dir, 'x.png'));
    mkdirSync(join(dir, 'out'));
    const dead = await deadPid();
    const stale = [`.x@2x.png.upscale-tmp-${dead}-0123abcd`, `.clip@2x.upscale-tmp-${dead}-89abcdef.mp4`];
    // This test's own process is alive while the CLI runs.
    const live = [`.y@2x.png.upscale-tmp-${process.pid}-0123abcd`];
    const unrelated = ['.keep', `notes.upscale-tmp-${dead}-0123abcd`];
    for (const name of [...stale, ...live, ...unrelated]) writeFileSync(join(dir, 'out', name), 'partial');

    const r = upscale(dir, 'x.png', '-o', 'out/', ...FAST);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'out')).sort(), [...live, ...unrelated, 'x@2x.png'].sort());
  });

  test('removeStaleTemporaries leaves directories and unreadable places alone', async () => {
    const dir = workspace('stale-unit');
    const dead = await deadPid();
    mkdirSync(join(dir, `.d.upscale-tmp-${dead}-0123abcd`));
    writeFileSync(join(dir, `.f.upscale-tmp-${dead}-0123abcd`), '');
    assert.deepEqual(await removeStaleTemporaries(dir), [join(dir, `.f.upscale-tmp-${dead}-0123abcd`)]);
    assert.deepEqual(readdirSync(dir), [`.d.upscale-tmp-${dead}-0123abcd`]);
    assert.deepEqual(await removeStaleTemporaries(join(dir, 'missing')), []);
  });
});

describe('symbolic links in input directories', () => {
  test('links to images are followed, each real file and directory taken once, dangling links fail with one line', () => {
    const dir = workspace('links');
    mkdirSync(join(dir, 'pics'));
    mkdirSync(join(dir, 'more'));
    mkdirSync(join(dir, 'src', 'sub'), { recursive: true });
    copyFileSync(SAMPLE, join(dir, 'pics', 'real.png'));
    copyFileSync(SAMPLE, join(dir, 'more', 'm.png'));
    copyFileSync(SAMPLE, join(dir, 'src', 'own.png'));
    symlinkSync('../pics/real.png', join(dir, 'src', 'link.png'));
    symlinkSync('own.png', join(dir, 'src', 'same.png')); // the same file as own.png: taken once
    symlinkSync('../missing.png', join(dir, 'src', 'gone.png'));
    symlinkSync('loop.png', join(dir, 'src', 'loop.png'));
    symlinkSync('../../more', join(dir, 'src', 'sub', 'more'));
    symlinkSync('..', join(dir, 'src', 'sub', 'up')); // a loop
    symlinkSync('../../src', join(dir, 'src', 'sub', 'again')); // the root again

    const flat = upscale(dir, 'src', '-o', 'flat', ...FAST, '--json');
    assert.equal(flat.code, 1);
    assert.deepEqual(flat.stderr.split('\n').filter(Boolean), [
      'upscale: src/gone.png: dangling symbolic link (its target ../missing.png does not exist)',
      'upscale: src/loop.png: symbolic link loop, expected a link to an image file',
    ]);
    assert.deepEqual(report(flat).map((r) => [r.input, r.status]), [
      ['src/gone.png', 'failed'],
      ['src/loop.png', 'failed'],
      ['src/link.png', 'ok'],
      ['src/own.png', 'ok'],
    ]);
    assert.deepEqual(readdirSync(join(dir, 'flat')).sort(), ['link@2x.png', 'own@2x.png']);

    const tree = upscale(dir, 'src', '-r', '-o', 'tree', ...FAST, '--quiet');
    assert.equal(tree.code, 1);
    const written = readdirSync(join(dir, 'tree'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(written, ['link@2x.png', 'own@2x.png', join('sub', 'more', 'm@2x.png')]);

    // A dangling link named on the command line gets the same message.
    const named = upscale(dir, 'src/gone.png', ...FAST);
    assert.equal(named.code, 1);
    assert.equal(named.stderr, 'upscale: src/gone.png: dangling symbolic link (its target ../missing.png does not exist)\n');
  });
});

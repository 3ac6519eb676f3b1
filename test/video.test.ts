import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
let dir: string;

/**
 * Test media are made and checked with the system ffmpeg and ffprobe (on the PATH); the CLI under test gets
 * `UPSCALE_FFMPEG` / `UPSCALE_FFPROBE` from the environment when they are set (to run this file against another
 * build, such as the one in the npm package @ffmpeg-installer/ffmpeg), and whatever a test adds.
 */
function upscale(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete merged[key];
  const r = spawnSync(process.execPath, [BIN, 'video', ...args], { encoding: 'utf8', cwd: dir, env: merged });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ffmpeg(...args: string[]): string {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args], { cwd: dir, encoding: 'buffer', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString('utf8');
}

function ffprobe(...args: string[]): string {
  const r = spawnSync('ffprobe', ['-v', 'error', ...args], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

interface Stream {
  index: number;
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  color_space?: string;
  color_primaries?: string;
  color_transfer?: string;
  color_range?: string;
  side_data_list?: { side_data_type: string; rotation?: number }[];
}

function streams(file: string): Stream[] {
  return (JSON.parse(ffprobe('-of', 'json', '-show_streams', file)) as { streams: Stream[] }).streams;
}

function video(file: string): Stream {
  return streams(file).find((s) => s.codec_type === 'video')!;
}

/** Presentation times of the video frames, as ffprobe prints them. */
function frameTimes(file: string): string[] {
  return ffprobe('-select_streams', 'v:0', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', file)
    .split('\n')
    .map((l) => l.replace(/,+$/, '').trim())
    .filter((l) => l !== '');
}

/** MD5 of the packets of the streams chosen by `map`, copied without decoding. */
function packetsMd5(file: string, map: string): string {
  return ffmpeg('-i', file, '-map', map, '-c', 'copy', '-f', 'md5', '-').trim();
}

/** Per-frame MD5 of the decoded video, without the header and timestamps columns' time base. */
function framesMd5(file: string): string[] {
  return ffmpeg('-i', file, '-map', '0:v:0', '-f', 'framemd5', '-').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

function leftovers(): string[] {
  return readdirSync(dir).filter((f) => f.includes('upscale-tmp') || f.endsWith('.upscale-parts'));
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'upscale-video-'));
  writeFileSync(join(dir, 'subs.srt'), '1\n00:00:00,000 --> 00:00:00,800\nhello\n\n2\n00:00:01,000 --> 00:00:01,500\nworld\n');
  writeFileSync(join(dir, 'chapters.txt'), ';FFMETADATA1\ntitle=Test clip\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=Two\n');
  // Constant frame rate, H.264 in MP4: audio, mov_text subtitles, chapters, BT.709 tags.
  ffmpeg(
    '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=10:d=2', '-f', 'lavfi', '-i', 'sine=frequency=440:d=2', '-i', 'subs.srt', '-i', 'chapters.txt',
    '-map', '0:v', '-map', '1:a', '-map', '2:s', '-map_metadata', '3', '-map_chapters', '3',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv',
    '-c:a', 'aac', '-c:s', 'mov_text', 'cfr.mp4',
  );
  // Variable frame rate, odd size, FFV1 in Matroska: 20 fps for 0.5 s, then about 9 fps; SRT subtitles; BT.601.
  ffmpeg(
    '-f', 'lavfi', '-i', 'testsrc2=s=160x90:r=20:d=2,scale=161:91', '-f', 'lavfi', '-i', 'sine=frequency=300:d=2', '-i', 'subs.srt',
    '-map', '0:v', '-map', '1:a', '-map', '2:s',
    '-vf', "setpts='if(lt(N,10),N*0.05,0.5+(N-10)*0.11)/TB'", '-fps_mode', 'passthrough',
    '-c:v', 'ffv1', '-pix_fmt', 'yuv420p', '-colorspace', 'bt470bg', '-color_primaries', 'bt470bg', '-color_trc', 'gamma28', '-color_range', 'tv',
    '-c:a', 'flac', '-c:s', 'srt', 'vfr.mkv',
  );
  // A clip stored 64x48 that displays rotated by 90 degrees.
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=10:d=1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', 'flat.mp4');
  ffmpeg('-i', 'flat.mp4', '-c', 'copy', '-metadata:s:v:0', 'rotate=90', 'rotated.mp4');
  // Long enough to interrupt: 60 frames.
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=96x64:r=20:d=3', '-f', 'lavfi', '-i', 'sine=d=3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', 'long.mp4');
  ffmpeg('-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', 'audio.m4a');
  // MPEG-4 part 2 in AVI, its fourcc (FMP4, in the stream header and the BITMAPINFOHEADER) changed to XXXX, which
  // no decoder claims: ffprobe sees a 64x48 video stream of an unknown codec.
  ffmpeg('-f', 'lavfi', '-i', 'testsrc2=s=64x48:r=10:d=1', '-c:v', 'mpeg4', 'fourcc.avi');
  const avi = readFileSync(join(dir, 'fourcc.avi'));
  const movi = avi.indexOf('movi', 0, 'latin1');
  let tags = 0;
  for (let i = avi.indexOf('FMP4', 0, 'latin1'); i >= 0 && i < movi; i = avi.indexOf('FMP4', i + 4, 'latin1'), tags++) avi.write('XXXX', i, 'latin1');
  assert.equal(tags, 2);
  writeFileSync(join(dir, 'unknown-codec.avi'), avi);
  const whole = readFileSync(join(dir, 'cfr.mp4'));
  writeFileSync(join(dir, 'truncated.mp4'), whole.subarray(0, Math.floor(whole.length / 2)));
  writeFileSync(join(dir, 'garbage.mp4'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('CFR MP4 x2: size, frames, timing, audio, subtitles, chapters and colour tags kept', () => {
  const r = upscale(['cfr.mp4', '-s', '2', '-m', 'bicubic']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /cfr\.mp4 -> cfr@2x\.mp4 \(160x90 -> 320x180, 20 frames, libx264/);
  const out = 'cfr@2x.mp4';
  const v = video(join(dir, out));
  assert.deepEqual([v.width, v.height], [320, 180]);
  assert.deepEqual([v.color_space, v.color_primaries, v.color_transfer, v.color_range], ['bt709', 'bt709', 'bt709', 'tv']);
  assert.deepEqual(frameTimes(out), frameTimes('cfr.mp4'));
  // The input's data stream is its chapter track, which comes back as chapters.
  assert.deepEqual(streams('cfr.mp4').map((s) => s.codec_type), ['video', 'audio', 'subtitle', 'data']);
  assert.deepEqual(streams(out).map((s) => s.codec_type), ['video', 'audio', 'subtitle', 'data']);
  assert.equal(packetsMd5(out, '0:a'), packetsMd5('cfr.mp4', '0:a'));
  assert.equal(ffmpeg('-i', out, '-map', '0:s', '-f', 'srt', '-'), ffmpeg('-i', 'cfr.mp4', '-map', '0:s', '-f', 'srt', '-'));
  const chapters = (f: string): unknown => (JSON.parse(ffprobe('-of', 'json', '-show_chapters', f)) as { chapters: { start_time: string; tags: unknown }[] }).chapters.map((c) => [c.start_time, c.tags]);
  assert.deepEqual(chapters(out), chapters('cfr.mp4'));
  const title = (f: string): unknown => (JSON.parse(ffprobe('-of', 'json', '-show_format', f)) as { format: { tags: { title?: string } } }).format.tags.title;
  assert.equal(title(out), 'Test clip');
  const duration = (f: string): number => Number(ffprobe('-show_entries', 'format=duration', '-of', 'csv=p=0', f));
  assert.ok(Math.abs(duration(out) - duration('cfr.mp4')) <= 0.1, `${duration(out)} vs ${duration('cfr.mp4')}`);
  assert.deepEqual(leftovers(), []);
  // An existing output is skipped, untouched.
  const before = statSync(join(dir, out)).mtimeMs;
  const again = upscale(['cfr.mp4', '-s', '2', '-m', 'bicubic']);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /skipped, cfr@2x\.mp4 exists/);
  assert.equal(statSync(join(dir, out)).mtimeMs, before);
});

test('VFR Matroska with odd size: every timestamp exact, size rounded up to even and said so', () => {
  const r = upscale(['vfr.mkv', '-s', '1.5', '-m', 'bicubic', '--verbose', '--segment-frames', '7', '-o', 'vfr-out.mkv']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /242x137 rounded up to 242x138/);
  const inTimes = frameTimes('vfr.mkv');
  assert.equal(inTimes.length, 40);
  const steps = new Set(inTimes.slice(1).map((t, i) => Math.round((Number(t) - Number(inTimes[i])) * 1000)));
  assert.ok(steps.size >= 2, `variable frame rate: steps ${[...steps].join(', ')} ms`);
  assert.deepEqual(frameTimes('vfr-out.mkv'), inTimes);
  const v = video(join(dir, 'vfr-out.mkv'));
  assert.deepEqual([v.width, v.height, v.codec_name], [242, 138, 'h264']);
  const tags = (s: Stream): unknown[] => [s.color_space, s.color_primaries, s.color_transfer, s.color_range];
  // ffprobe names the gamma 2.8 curve (set with -color_trc gamma28) bt470bg.
  assert.deepEqual(tags(video(join(dir, 'vfr.mkv'))), ['bt470bg', 'bt470bg', 'bt470bg', 'tv']);
  assert.deepEqual(tags(v), tags(video(join(dir, 'vfr.mkv'))));
  assert.equal(packetsMd5('vfr-out.mkv', '0:a'), packetsMd5('vfr.mkv', '0:a'));
  assert.equal(ffmpeg('-i', 'vfr-out.mkv', '-map', '0:s', '-f', 'srt', '-'), ffmpeg('-i', 'vfr.mkv', '-map', '0:s', '-f', 'srt', '-'));
  assert.deepEqual(leftovers(), []);
});

test('a rotated clip is upscaled upright and displays as the input does', () => {
  const r = upscale(['rotated.mp4', '-s', '2', '-m', 'bicubic', '-o', 'rotated-out.mp4']);
  assert.equal(r.code, 0, r.stderr);
  const v = video(join(dir, 'rotated-out.mp4'));
  assert.deepEqual([v.width, v.height], [96, 128], 'stored upright: 48x64 displayed, x2');
  assert.equal(v.side_data_list?.find((d) => d.side_data_type === 'Display Matrix'), undefined);
  // The displayed pictures agree: input as a player shows it vs the output brought back to 48x64.
  const shown = (file: string): Buffer =>
    spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-frames:v', '1', '-vf', 'scale=48:64:flags=area', '-f', 'rawvideo', '-pix_fmt', 'gray', '-'], { cwd: dir }).stdout;
  const a = shown('rotated.mp4');
  const b = shown('rotated-out.mp4');
  assert.equal(a.length, 48 * 64);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
  assert.ok(diff / a.length < 12, `mean difference ${diff / a.length}`);
});

test('the default video model (photo) with --fit and H.265', () => {
  const r = upscale(['flat.mp4', '--fit', '130x100', '--codec', 'h265', '-o', 'fast.mp4']);
  assert.equal(r.code, 0, r.stderr);
  const v = video(join(dir, 'fast.mp4'));
  assert.deepEqual([v.width, v.height, v.codec_name], [130, 98, 'hevc']);
  assert.equal(frameTimes('fast.mp4').length, 10);
});

test('--preview writes a short excerpt to <name>.preview.<ext>', () => {
  const r = upscale(['cfr.mp4', '-m', 'bicubic', '--preview', '0.5', '--preview-start', '1']);
  assert.equal(r.code, 0, r.stderr);
  const out = 'cfr@2x.preview.mp4';
  assert.ok(existsSync(join(dir, out)));
  assert.deepEqual(frameTimes(out), ['0.000000', '0.100000', '0.200000', '0.300000', '0.400000']);
  assert.ok(streams(out).some((s) => s.codec_type === 'audio'));
});

test('a run killed with SIGKILL resumes from its finished segments and gives the same result', async () => {
  const args = ['long.mp4', '-m', 'bicubic', '--segment-frames', '5', '--preset', 'ultrafast'];
  const reference = upscale([...args, '-o', 'reference.mp4']);
  assert.equal(reference.code, 0, reference.stderr);

  const parts = join(dir, 'resumed.mp4.upscale-parts');
  const child = spawn(process.execPath, [BIN, 'video', ...args, '-o', 'resumed.mp4'], { cwd: dir, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  for (let i = 0; i < 2000; i++) {
    if (existsSync(parts) && readdirSync(parts).filter((f) => /^seg-\d+\.nut$/.test(f)).length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill('SIGKILL');
  await exited;
  const kept = readdirSync(parts).filter((f) => /^seg-\d+\.nut$/.test(f)).length;
  assert.ok(kept >= 2 && kept < 12, `segments kept: ${kept}`);
  assert.ok(!existsSync(join(dir, 'resumed.mp4')));

  const resumed = upscale([...args, '-o', 'resumed.mp4']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /60 frames, (\d+) resumed/);
  assert.deepEqual(framesMd5('resumed.mp4'), framesMd5('reference.mp4'));
  assert.equal(packetsMd5('resumed.mp4', '0:a'), packetsMd5('long.mp4', '0:a'));
  assert.ok(!existsSync(parts), 'work directory removed');
});

test('a changed option starts afresh instead of reusing segments', () => {
  const parts = join(dir, 'fresh.mp4.upscale-parts');
  mkdirSync(parts);
  writeFileSync(join(parts, 'manifest.json'), '{"version":1,"stale":true}');
  writeFileSync(join(parts, 'seg-000000.nut'), 'not a segment');
  const r = upscale(['flat.mp4', '-m', 'bicubic', '-o', 'fresh.mp4', '--segment-frames', '5']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /resumed/);
  assert.equal(frameTimes('fresh.mp4').length, 10);
});

test('Ctrl-C: exit 130, no output, no temporary file, finished segments kept', async () => {
  const child = spawn(process.execPath, [BIN, 'video', 'long.mp4', '-m', 'bicubic', '--segment-frames', '5', '--preset', 'ultrafast', '-o', 'cancelled.mp4'], { cwd: dir });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const parts = join(dir, 'cancelled.mp4.upscale-parts');
  for (let i = 0; i < 2000 && !(existsSync(parts) && readdirSync(parts).some((f) => f.endsWith('.nut'))); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /cancelled; no output was written/);
  assert.ok(!existsSync(join(dir, 'cancelled.mp4')));
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('upscale-tmp')), []);
  assert.ok(readdirSync(parts).every((f) => f === 'manifest.json' || /^seg-\d+\.nut$/.test(f)), readdirSync(parts).join(' '));
  rmSync(parts, { recursive: true });
});

test('bad inputs: one line naming the file, exit 1, nothing written', () => {
  const cases: [string, RegExp][] = [
    ['audio.m4a', /^upscale: audio\.m4a: no video stream \(found: audio\)\n$/],
    ['garbage.mp4', /^upscale: garbage\.mp4: not a readable video, or corrupt or truncated \(ffprobe: .+\)\n$/],
    ['truncated.mp4', /^upscale: truncated\.mp4: not a readable video, or corrupt or truncated \(ffprobe: .+\)\n$/],
    ['missing.mp4', /^upscale: missing\.mp4: no such file\n$/],
    ['unknown-codec.avi', /^upscale: unknown-codec\.avi: the video codec \(unknown, fourcc XXXX\) cannot be decoded by this ffmpeg \(.+\)\n$/],
  ];
  for (const [file, message] of cases) {
    const r = upscale([file, '-m', 'bicubic']);
    assert.equal(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.deepEqual(leftovers(), []);
  assert.deepEqual(readdirSync(dir).filter((f) => /^(audio|garbage|truncated|missing|unknown-codec)@/.test(f)), []);
});

test('usage errors exit 2: bad option, codec and container mismatch', () => {
  const r = upscale(['cfr.mp4', '--codec', 'ffv1', '-m', 'bicubic']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /codec ffv1 cannot go into \.mp4 \(use h264, h265, av1, or a \.mkv output\)/);
  assert.equal(upscale(['cfr.mp4', '--codec', 'mpeg2']).code, 2);
  assert.equal(upscale(['cfr.mp4', '--preview-start', '1']).code, 2);
});

/** Every way to get ffmpeg, as the "not found" messages list them. */
const INSTALL_OPTIONS = /apt-get install ffmpeg.*brew install ffmpeg.*ffmpeg\.org.*npm install @ffmpeg-installer\/ffmpeg @ffprobe-installer\/ffprobe.*UPSCALE_FFMPEG and UPSCALE_FFPROBE/;

test('no ffmpeg: a clear message saying how to install it, exit 2', () => {
  const r = upscale(['cfr.mp4', '-m', 'bicubic'], { UPSCALE_FFMPEG: join(dir, 'no-such-ffmpeg') });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^upscale: cfr\.mp4: ffmpeg not found: UPSCALE_FFMPEG=.*no-such-ffmpeg does not exist; /);
  assert.match(r.stderr, INSTALL_OPTIONS);
  assert.equal(r.stderr.split('\n').length, 2, 'one line');
  // Neither variable set, nothing on the PATH and no npm package: every way to get one is named.
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty, { recursive: true });
  const bare = upscale(['cfr.mp4', '-m', 'bicubic'], { PATH: empty, UPSCALE_FFMPEG: undefined, UPSCALE_FFPROBE: undefined });
  assert.equal(bare.code, 2, bare.stderr);
  assert.match(bare.stderr, /^upscale: cfr\.mp4: ffmpeg not found: not on the PATH, and @ffmpeg-installer\/ffmpeg is not installed; /);
  assert.match(bare.stderr, INSTALL_OPTIONS);
  assert.deepEqual(leftovers(), []);
});

/** The ffmpeg (or ffprobe) the CLI under test uses, as an absolute path. */
function toolUnderTest(name: 'ffmpeg' | 'ffprobe'): string {
  const chosen = process.env[name === 'ffmpeg' ? 'UPSCALE_FFMPEG' : 'UPSCALE_FFPROBE'];
  if (chosen !== undefined && chosen !== '') return chosen;
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${name} on the PATH`);
  return r.stdout.trim();
}

test('without the variables or the PATH, ffmpeg comes from the npm packages when they are installed', () => {
  // Packages shaped like @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe (main module: { path, version }),
  // installed where the command runs.
  const project = join(dir, 'npm-project');
  for (const [pkg, name] of [['@ffmpeg-installer/ffmpeg', 'ffmpeg'], ['@ffprobe-installer/ffprobe', 'ffprobe']] as const) {
    const where = join(project, 'node_modules', pkg);
    mkdirSync(where, { recursive: true });
    writeFileSync(join(where, 'package.json'), JSON.stringify({ name: pkg, version: '0.0.0', main: 'index.js' }));
    writeFileSync(join(where, 'index.js'), `module.exports = { path: ${JSON.stringify(toolUnderTest(name))}, version: 'test' };\n`);
  }
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty, { recursive: true });
  const r = spawnSync(process.execPath, [BIN, 'video', join(dir, 'flat.mp4'), '-m', 'bicubic', '-o', join(dir, 'from-npm.mp4')], {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, PATH: empty, UPSCALE_FFMPEG: '', UPSCALE_FFPROBE: '' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(frameTimes('from-npm.mp4').length, 10);
});

/** An ffmpeg wrapper that hides libx265 from the encoder list, or fails writes like a full disk. */
function fakeFfmpeg(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('an encoder missing from this ffmpeg is named, exit 2', () => {
  const wrapper = fakeFfmpeg('ffmpeg-no-x265', `if [ "$2" = "-encoders" ]; then "${toolUnderTest('ffmpeg')}" "$@" | grep -v libx265; else exec "${toolUnderTest('ffmpeg')}" "$@"; fi`);
  const r = upscale(['cfr.mp4', '-m', 'bicubic', '--codec', 'h265'], { UPSCALE_FFMPEG: wrapper });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /has no libx265 encoder for --codec h265; install an ffmpeg built with it/);
});

test('a failing encoder (as on a full disk) leaves no output and no temporary file', () => {
  // Encoders (reading Matroska from stdin) fail as on a full disk; probing and decoding work.
  const wrapper = fakeFfmpeg('ffmpeg-enospc', `for a in "$@"; do if [ "$a" = "pipe:0" ]; then cat >/dev/null; echo "Error writing trailer: No space left on device" >&2; exit 1; fi; done; exec "${toolUnderTest('ffmpeg')}" "$@"`);
  const r = upscale(['cfr.mp4', '-m', 'bicubic', '-o', 'full.mp4'], { UPSCALE_FFMPEG: wrapper });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^upscale: full\.mp4: encoding failed \(ffmpeg: Error writing trailer: No space left on device\)\n$/);
  assert.ok(!existsSync(join(dir, 'full.mp4')));
  assert.deepEqual(leftovers(), []);
});

test('a temporary output left by a killed run (its process gone) is removed by the next run in that directory', () => {
  mkdirSync(join(dir, 'stale'), { recursive: true });
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stale = join(dir, 'stale', `.old@2x.upscale-tmp-${dead}-0123abcd.mp4`);
  writeFileSync(stale, 'half a video');
  const r = upscale(['flat.mp4', '-m', 'bicubic', '-o', join('stale', 'fresh.mp4')]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!existsSync(stale), 'stale temporary removed');
  assert.deepEqual(readdirSync(join(dir, 'stale')), ['fresh.mp4']);
});

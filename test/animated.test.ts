/**
 * Animated images: GIF, animated WebP and APNG in, every frame upscaled, the same (or the asked) format out with the
 * frame count, per-frame delays and loop count kept. Fixtures are made here: each frame has its own colours, so a
 * frame that came out of the wrong input frame shows. Independent checks: sharp's metadata for GIF/WebP, ffprobe
 * and ffmpeg for APNG, ExifTool for XMP.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { createUpscaler, isUpscaleError } from '../src/index.js';
import type { UpscaleProgress } from '../src/pipeline/upscale-raster.js';
import { nearestUpscaleModel } from './fixtures/models.js';
import { createFixtureDir, exiftoolRead, HAS_FFMPEG, type FixtureDir } from './fixtures/images.js';

const W = 8;
const H = 6;
/**
 * Frame i: left half COLOURS[i], right half white (or transparent). No two consecutive frames are equal: GIF and
 * WebP encoders merge those into one frame (see the last tests).
 */
const COLOURS: readonly (readonly [number, number, number])[] = [
  [255, 0, 0],
  [0, 0, 255],
  [0, 160, 0],
  [255, 0, 255],
  [255, 255, 0],
];
const DELAYS = [100, 250, 400, 80, 1000];
const LOOP = 3;
const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;
const NO_FFMPEG = !HAS_FFMPEG && 'ffmpeg is not installed';

let fx: FixtureDir;
let model: string;

/** Stacked RGBA frames; with `transparent`, the right half is fully transparent instead of white. */
function frames(transparent = false): Uint8Array {
  const data = new Uint8Array(W * H * 4 * COLOURS.length);
  COLOURS.forEach((colour, frame) => {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const left = x < W / 2;
        const pixel = left ? [...colour, 255] : transparent ? [0, 0, 0, 0] : [255, 255, 255, 255];
        data.set(pixel, ((frame * H + y) * W + x) * 4);
      }
    }
  });
  return data;
}

function stacked(data: Uint8Array): Sharp {
  return sharp(data, { raw: { width: W, height: H * COLOURS.length, channels: 4, pageHeight: H } });
}

/** All frames of an animated file, decoded by sharp: RGBA, stacked. */
async function sharpFrames(path: string): Promise<{ data: Buffer; width: number; pageHeight: number; pages: number }> {
  const { data, info } = await sharp(path, { pages: -1 }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, pageHeight: info.pageHeight ?? info.height, pages: info.pages ?? 1 };
}

/**
 * Checks that output frame i is input frame i enlarged `scale` times, sampled away from the edge between the halves
 * (alpha is enlarged with bicubic, so it is soft there).
 */
function assertFrames(data: Uint8Array, width: number, pageHeight: number, scale: number, options: { transparent?: boolean; tolerance?: number } = {}): void {
  const tolerance = options.tolerance ?? 0;
  COLOURS.forEach((colour, frame) => {
    for (const [x, y] of [[0, 0], [1, H - 1], [0, H / 2]] as const) {
      for (const [px, py] of [[x * scale, y * scale], [x * scale + scale - 1, y * scale + scale - 1]] as const) {
        const at = ((frame * pageHeight + py) * width + px) * 4;
        const got = Array.from(data.subarray(at, at + 4));
        const close = [...colour, 255].every((value, channel) => Math.abs(value - (got[channel] ?? -1)) <= tolerance);
        assert.ok(close, `frame ${frame} at ${px},${py}: got ${got.join(',')}, expected ${colour.join(',')},255`);
      }
    }
    // Right half: white, or transparent.
    const at = ((frame * pageHeight + pageHeight - 1) * width + width - 1) * 4;
    if (options.transparent) assert.equal(data[at + 3], 0, `frame ${frame}: right half transparent`);
    else assert.ok(Array.from(data.subarray(at, at + 4)).every((value) => value >= 255 - tolerance), `frame ${frame}: right half white`);
  });
}

function ffmpeg(args: string[], input?: Uint8Array): Buffer {
  return execFileSync('ffmpeg', ['-v', 'error', '-nostdin', ...args], { ...(input && { input }), maxBuffer: 64 << 20 });
}

/** Frame count, plays and per-frame delays of an APNG, by ffprobe. */
function probeApng(path: string): { frames: number; durations: number[] } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames:frame=duration_time,pkt_duration_time', '-of', 'json', path], {
    encoding: 'utf8',
  });
  const json = JSON.parse(out) as { streams: { nb_read_frames: string }[]; frames: { duration_time?: string; pkt_duration_time?: string }[] };
  return { frames: Number(json.streams[0]?.nb_read_frames), durations: json.frames.map((f) => Math.round(Number(f.duration_time ?? f.pkt_duration_time) * 1000)) };
}

/** Tile events after each frame event. */
function tilesPerFrame(events: readonly UpscaleProgress[]): number[] {
  return events.reduce<number[]>((counts, e) => {
    if (e.stage === 'frame') counts.push(0);
    else if (e.stage === 'tile') counts[counts.length - 1]! += 1;
    return counts;
  }, []);
}

function temporaries(): string[] {
  return readdirSync(fx.dir).filter((name) => name.includes('upscale-tmp'));
}

before(async () => {
  fx = await createFixtureDir();
  model = fx.path('x2.onnx');
  writeFileSync(model, nearestUpscaleModel(2));
  await stacked(frames()).gif({ delay: DELAYS, loop: LOOP }).toFile(fx.path('anim.gif'));
  await stacked(frames(true)).gif({ delay: DELAYS, loop: LOOP }).toFile(fx.path('clear.gif'));
  await stacked(frames(true)).webp({ delay: DELAYS, loop: LOOP, lossless: true }).toFile(fx.path('anim.webp'));
});
after(() => fx.remove());

test('GIF in, GIF out: every frame upscaled through the network, frame i from frame i; delays and loop kept', async () => {
  const upscaler = await createUpscaler({ model });
  try {
    const events: UpscaleProgress[] = [];
    const result = await upscaler.upscaleFile(fx.path('anim.gif'), fx.path('anim@2x.gif'), { onProgress: (e) => events.push(e) });
    assert.deepEqual([result.format, result.frames, result.inputSize, result.outputSize], ['gif', 5, { width: W, height: H }, { width: 2 * W, height: 2 * H }]);
    const meta = await sharp(fx.path('anim@2x.gif')).metadata();
    assert.deepEqual([meta.format, meta.pages, meta.width, meta.height, meta.delay, meta.loop], ['gif', 5, 2 * W, 2 * H, DELAYS, LOOP]);
    const out = await sharpFrames(fx.path('anim@2x.gif'));
    assertFrames(out.data, out.width, out.pageHeight, 2);
    // One 'frame' event per frame, in order, each followed by that frame's tiles.
    const frameEvents = events.filter((e) => e.stage === 'frame');
    assert.deepEqual(frameEvents.map((e) => [e.index, e.total]), [[0, 5], [1, 5], [2, 5], [3, 5], [4, 5]]);
    assert.equal(events[0]?.stage, 'frame');
    assert.ok(tilesPerFrame(events).every((count) => count > 0));
  } finally {
    await upscaler.dispose();
  }
});

test('transparent GIF keeps its transparency; any output size (x3 with a classical kernel)', async () => {
  const upscaler = await createUpscaler({ model: 'nearest' });
  try {
    await upscaler.upscaleFile(fx.path('clear.gif'), fx.path('clear@3x.gif'), { scale: 3 });
    const meta = await sharp(fx.path('clear@3x.gif')).metadata();
    assert.deepEqual([meta.pages, meta.width, meta.height, meta.hasAlpha, meta.delay], [5, 3 * W, 3 * H, true, DELAYS]);
    const out = await sharpFrames(fx.path('clear@3x.gif'));
    assertFrames(out.data, out.width, out.pageHeight, 3, { transparent: true });
  } finally {
    await upscaler.dispose();
  }
});

test('animated WebP in, WebP out, with alpha, delays, loop and the provenance XMP; GIF -> WebP conversion', async () => {
  const upscaler = await createUpscaler({ model });
  try {
    await upscaler.upscaleFile(fx.path('anim.webp'), fx.path('anim@2x.webp'), { lossless: true });
    const meta = await sharp(fx.path('anim@2x.webp')).metadata();
    assert.deepEqual([meta.format, meta.pages, meta.width, meta.height, meta.delay, meta.loop, meta.hasAlpha], ['webp', 5, 2 * W, 2 * H, DELAYS, LOOP, true]);
    const out = await sharpFrames(fx.path('anim@2x.webp'));
    assertFrames(out.data, out.width, out.pageHeight, 2, { transparent: true });
    const tags = await exiftoolRead(fx.path('anim@2x.webp'));
    assert.equal(tags['XMP:DigitalSourceType'], 'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced');
    assert.equal(tags['XMP:Scale'], 2);

    const converted = await upscaler.upscaleFile(fx.path('anim.gif'), fx.path('converted.out'), { format: 'webp', quality: 95 });
    assert.equal(converted.format, 'webp');
    const convertedMeta = await sharp(fx.path('converted.out')).metadata();
    assert.deepEqual([convertedMeta.format, convertedMeta.pages, convertedMeta.delay, convertedMeta.loop], ['webp', 5, DELAYS, LOOP]);
    const lossy = await sharpFrames(fx.path('converted.out'));
    assertFrames(lossy.data, lossy.width, lossy.pageHeight, 2, { tolerance: 24 });
  } finally {
    await upscaler.dispose();
  }
});

test('APNG in (made by ffmpeg), APNG out: frames, delays, plays and pixels checked by ffprobe and ffmpeg', { skip: NO_FFMPEG }, async () => {
  // ffmpeg's APNG muxer: constant rate (5 fps -> 200 ms), 2 plays.
  ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${W}x${H}`, '-framerate', '5', '-i', 'pipe:0', '-plays', '2', '-f', 'apng', fx.path('anim.png')], frames(true));
  assert.equal(probeApng(fx.path('anim.png')).frames, 5);
  const upscaler = await createUpscaler({ model });
  try {
    const result = await upscaler.upscaleFile(fx.path('anim.png'), fx.path('anim@2x.png'));
    assert.deepEqual([result.format, result.frames, result.outputSize], ['png', 5, { width: 2 * W, height: 2 * H }]);
    const probe = probeApng(fx.path('anim@2x.png'));
    assert.equal(probe.frames, 5);
    assert.deepEqual(probe.durations, [200, 200, 200, 200, 200]);
    const out = ffmpeg(['-f', 'apng', '-i', fx.path('anim@2x.png'), '-f', 'rawvideo', '-pix_fmt', 'rgba', '-fps_mode', 'passthrough', 'pipe:1']);
    assertFrames(out, 2 * W, 2 * H, 2, { transparent: true });
    const tags = await exiftoolRead(fx.path('anim@2x.png'));
    assert.equal(tags['PNG:AnimationFrames'], 5);
    assert.equal(tags['PNG:AnimationPlays'], 2);
    assert.equal(tags['XMP:Scale'], 2);

    // GIF -> APNG (a .png output of an animation is an APNG): per-frame delays survive, which ffmpeg's encoder would lose.
    await upscaler.upscaleFile(fx.path('anim.gif'), fx.path('from-gif.apng'));
    const fromGif = probeApng(fx.path('from-gif.apng'));
    assert.deepEqual([fromGif.frames, fromGif.durations], [5, DELAYS]);
    assert.equal((await exiftoolRead(fx.path('from-gif.apng')))['PNG:AnimationPlays'], LOOP);
    const gifPixels = ffmpeg(['-f', 'apng', '-i', fx.path('from-gif.apng'), '-f', 'rawvideo', '-pix_fmt', 'rgba', '-fps_mode', 'passthrough', 'pipe:1']);
    assertFrames(gifPixels, 2 * W, 2 * H, 2);

    // And back: APNG -> GIF.
    await upscaler.upscaleFile(fx.path('anim.png'), fx.path('from-apng.gif'), { scale: 2 });
    const meta = await sharp(fx.path('from-apng.gif')).metadata();
    assert.deepEqual([meta.pages, meta.delay, meta.loop], [5, [200, 200, 200, 200, 200], 2]);
  } finally {
    await upscaler.dispose();
  }
});

test('an animation to a one-frame format is refused; a still GIF to .gif gives a one-frame GIF', async () => {
  const upscaler = await createUpscaler({ model });
  try {
    await assert.rejects(upscaler.upscaleFile(fx.path('anim.gif'), fx.path('anim.jpg')), (error: unknown) => {
      assert.ok(isUpscaleError(error));
      assert.equal(error.code, 'INVALID_OPTION');
      assert.equal(error.message, `${fx.path('anim.gif')}: animated image (5 frames) cannot be written as JPEG, which holds one frame; choose gif, webp or png (APNG)`);
      return true;
    });
    assert.equal(existsSync(fx.path('anim.jpg')), false);
    await sharp({ create: { width: W, height: H, channels: 3, background: '#3366cc' } }).gif().toFile(fx.path('still.gif'));
    const result = await upscaler.upscaleFile(fx.path('still.gif'), fx.path('still@2x.gif'));
    assert.equal(result.frames, 1);
    const meta = await sharp(fx.path('still@2x.gif')).metadata();
    assert.deepEqual([meta.format, meta.pages ?? 1, meta.width, meta.height], ['gif', 1, 2 * W, 2 * H]);
  } finally {
    await upscaler.dispose();
  }
});

test('truncated GIF, WebP and APNG fail with INPUT_CORRUPT and leave no output; absurd totals are refused', async () => {
  const upscaler = await createUpscaler({ model, maxOutputPixels: 2 * W * 2 * H * 4 });
  try {
    const cases: [string, string][] = [
      ['anim.gif', 'GIF'],
      ['anim.webp', 'WebP'],
      ...(HAS_FFMPEG ? ([['anim.png', 'APNG']] as [string, string][]) : []),
    ];
    for (const [name, label] of cases) {
      const bytes = readFileSync(fx.path(name));
      const cut = fx.path(`cut-${name}`);
      writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const output = fx.path(`cut-${name}.out.gif`);
      await assert.rejects(upscaler.upscaleFile(cut, output), (error: unknown) => {
        assert.ok(isUpscaleError(error), String(error));
        assert.equal(error.code, 'INPUT_CORRUPT', error.message);
        assert.match(error.message, new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: corrupt or truncated ${label} data, expected a complete image \\(.+\\)$`));
        return true;
      });
      assert.equal(existsSync(output), false);
    }
    // 5 frames of 16x12 are 960 pixels, above the 768 allowed.
    await assert.rejects(upscaler.upscaleFile(fx.path('anim.gif'), fx.path('big.gif')), (error: unknown) => {
      assert.ok(isUpscaleError(error));
      assert.equal(error.code, 'INPUT_TOO_LARGE');
      assert.match(error.message, /: output of 5 frames of 16x12 needs 0\.00096 megapixels in all, above the limit of 0\.000768 megapixels/);
      return true;
    });
    assert.deepEqual(temporaries(), []);
  } finally {
    await upscaler.dispose();
  }
});

test('an APNG without ffmpeg on the PATH: a clear error saying how to install it', { skip: NO_FFMPEG }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    import { createUpscaler } from './src/index.ts';
    const u = await createUpscaler({ model: 'nearest' });
    try { await u.upscaleFile(${JSON.stringify(fx.path('anim.png'))}, ${JSON.stringify(fx.path('no-ffmpeg.png'))}); }
    catch (e) { console.log(e.code + ' ' + e.message); }
    finally { await u.dispose(); }
  `], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
  assert.equal(r.stdout.trim().split('\n').length, 1, r.stderr);
  assert.ok(
    r.stdout.startsWith(`DEPENDENCY_MISSING ${fx.path('anim.png')}: animated PNG (APNG) needs ffmpeg to decode (ffmpeg not found: not on the PATH`),
    r.stdout,
  );
  assert.match(r.stdout, /apt-get install ffmpeg; macOS: brew install ffmpeg; .*npm install @ffmpeg-installer\/ffmpeg @ffprobe-installer\/ffprobe/);
  assert.equal(existsSync(fx.path('no-ffmpeg.png')), false);
});

test('CLI: upscale anim.gif -s 2 writes anim@2x.gif with every frame', { skip: !existsSync(new URL('../dist/cli/main.js', import.meta.url)) && 'dist is not built (npx tsc -p tsconfig.json)' }, async () => {
  const r = spawnSync(process.execPath, [BIN, 'anim.gif', '-s', '2', '-m', 'x2.onnx', '--overwrite'], { cwd: fx.dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /anim\.gif -> anim@2x\.gif \(8x6 -> 16x12/);
  const meta = await sharp(fx.path('anim@2x.gif')).metadata();
  assert.deepEqual([meta.pages, meta.width, meta.height, meta.delay, meta.loop], [5, 2 * W, 2 * H, DELAYS, LOOP]);
  const refused = spawnSync(process.execPath, [BIN, 'anim.gif', '-s', '2', '-m', 'x2.onnx', '-f', 'jpeg'], { cwd: fx.dir, encoding: 'utf8' });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /anim\.gif: animated image \(5 frames\) cannot be written as JPEG/);
});

test('a frame equal to the one before is upscaled once; APNG keeps both frames, GIF merges them (delays added)', { skip: NO_FFMPEG }, async () => {
  const all = frames();
  const frameBytes = W * H * 4;
  // Frames 0, 1, 1, 2 at 10 fps.
  const repeated = Buffer.concat([0, 1, 1, 2].map((index) => all.subarray(index * frameBytes, (index + 1) * frameBytes)));
  ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${W}x${H}`, '-framerate', '10', '-i', 'pipe:0', '-f', 'apng', fx.path('pause.png')], repeated);
  const upscaler = await createUpscaler({ model });
  try {
    const events: UpscaleProgress[] = [];
    await upscaler.upscaleFile(fx.path('pause.png'), fx.path('pause@2x.apng'), { onProgress: (e) => events.push(e) });
    const tiles = tilesPerFrame(events);
    assert.equal(tiles.length, 4);
    assert.equal(tiles[2], 0, 'frame 2 reuses frame 1');
    assert.ok(tiles[0]! > 0 && tiles[1]! > 0 && tiles[3]! > 0);
    assert.deepEqual(probeApng(fx.path('pause@2x.apng')), { frames: 4, durations: [100, 100, 100, 100] });
    await upscaler.upscaleFile(fx.path('pause.png'), fx.path('pause@2x.gif'));
    const meta = await sharp(fx.path('pause@2x.gif')).metadata();
    assert.deepEqual([meta.pages, meta.delay], [3, [100, 200, 100]]);
  } finally {
    await upscaler.dispose();
  }
});

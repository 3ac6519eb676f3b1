/**
 * npm run bench: inference throughput, tiling overhead and memory of the core pipeline, with figures measured
 * against baselines in the same run (this machine is shared and noisy: compare the ratios).
 *
 * 1. Reference net (8 convs of 64 channels, x4 pixel shuffle): output megapixels/s and GFLOP/s, whole image in
 *    one run versus the automatic tiling.
 * 2. A 4000x3000 photo enlarged x4 (192-megapixel output) with a cheap network, in a child process so that its
 *    peak RSS is its own; lanczos3 on the same photo as the baseline.
 * 3. The built-in UpscalerJS models against UpscalerJS itself (TensorFlow.js, WASM backend) on the same weights.
 * 4. Community architectures converted from PyTorch weights (RRDBNet, Compact): s/MP and peak memory.
 * 5. Video: frames per second for a 640x360 clip enlarged x2, and where the time goes.
 * 6. Every built-in network on a 640x480 photo enlarged x4, as ratios to fast, with bicubic as the floor.
 * 7. The web app's server: GET /api/jobs latency (p50, p99) while jobs run, against the server idle.
 *
 * `npm run bench -- import` runs one section (reference, photo, upscalerjs, import, video, models, server).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../src/image/index.js';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import { createUpscaler } from '../src/upscaler.js';
import { chooseTileSize } from '../src/tiling/plan.js';
import { runTiled } from '../src/tiling/run.js';
import { REFERENCE_BENCH_FLOPS_PER_PIXEL, REFERENCE_BENCH_NET, randomConvNet } from '../test/fixtures/models.js';
import { testRaster } from '../test/helpers/rasters.js';
import { benchImportedArchitectures } from './bench-import.js';
import { benchServer } from './bench-server.js';
import { benchUpscalerJs } from './bench-upscalerjs.js';
import { benchVideo } from './bench-video.js';

const work = mkdtempSync(join(tmpdir(), 'upscale-bench-'));
const cores = availableParallelism();
const line = (text = ''): void => void process.stdout.write(`${text}\n`);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function referenceNet(): Promise<void> {
  const bytes = randomConvNet({
    ...REFERENCE_BENCH_NET,
    metadata: { 'upscale.scale': '4', 'upscale.range': '0-1', 'upscale.receptive_field': String(REFERENCE_BENCH_NET.layers + 1) },
  });
  const model = await loadOnnxBytes(bytes, { label: 'reference-net' }, { id: 'reference', name: 'reference' });
  const net = model.network;
  const source = testRaster(1024, 768);
  const autoTile = chooseTileSize(net, 1024 ** 3);
  const whole = { tileSize: 4096, overlap: 0, outputDepth: 8 as const };
  const tiled = { tileSize: autoTile, overlap: net.receptiveField, outputDepth: 8 as const };
  await runTiled(testRaster(256, 256), net, whole); // warm-up: first-run allocations
  const wholeTimes: number[] = [];
  const tiledTimes: number[] = [];
  // Interleave the two so that machine noise hits both alike.
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    await runTiled(source, net, whole);
    wholeTimes.push(performance.now() - t);
    t = performance.now();
    await runTiled(source, net, tiled);
    tiledTimes.push(performance.now() - t);
  }
  await net.dispose();
  const inputPixels = source.width * source.height;
  const outMp = (inputPixels * 16) / 1e6;
  const wholeS = median(wholeTimes) / 1000;
  const tiledS = median(tiledTimes) / 1000;
  const gflops = (s: number): number => (inputPixels * REFERENCE_BENCH_FLOPS_PER_PIXEL) / s / 1e9;
  line(`## Reference net: 8 x conv3x3 (64 features) + x4 pixel shuffle, ${(REFERENCE_BENCH_FLOPS_PER_PIXEL / 1e3).toFixed(0)} kFLOP per input pixel`);
  line(`input 1024x768 -> output 4096x3072 (${outMp.toFixed(1)} MP), median of 3`);
  line(`| run | seconds | output MP/s | GFLOP/s |`);
  line(`|---|---|---|---|`);
  line(`| whole image, one inference | ${wholeS.toFixed(2)} | ${(outMp / wholeS).toFixed(2)} | ${gflops(wholeS).toFixed(0)} |`);
  line(`| auto tiles (${autoTile} px, overlap ${net.receptiveField}) | ${tiledS.toFixed(2)} | ${(outMp / tiledS).toFixed(2)} | ${gflops(tiledS).toFixed(0)} |`);
  line(`tiling overhead: ${(((tiledS - wholeS) / wholeS) * 100).toFixed(1)}% (target < 15%)`);
  line(`peak RSS of this process so far: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
  line();
}

/** Runs one enlargement in a child process and returns its wall time and peak RSS. */
function childRun(input: string, output: string, model: string): { seconds: number; rssMB: number; size: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bench-child.ts'), input, output, model], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`bench child failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number; rssMB: number; size: string };
}

async function bigPhoto(): Promise<void> {
  const dir = new URL('../../shared/train/SunHays80/', import.meta.url);
  const first = readdirSync(dir).sort()[0];
  if (first === undefined) throw new Error('no photo in ../shared/train/SunHays80');
  const photo = join(work, 'photo-4000x3000.jpg');
  await sharp(new URL(first, dir).pathname).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 92 }).toFile(photo);
  const cheap = join(work, 'cheap-x4.onnx');
  // A cheap network: two 3x3 convs of 16 features and a x4 pixel shuffle.
  writeFileSync(cheap, randomConvNet({ layers: 1, channels: 16, scale: 4, seed: 3, metadata: { 'upscale.scale': '4', 'upscale.receptive_field': '2' } }));
  line('## 4000x3000 photo -> 16000x12000 JPEG (192 MP output), each run in its own process');
  line('| model | seconds | peak RSS (MB) |');
  line('|---|---|---|');
  for (const [label, model] of [['cheap network (2 convs, 16 features, x4)', cheap], ['lanczos3 (baseline)', 'lanczos3']] as const) {
    const r = childRun(photo, join(work, `out-${label.length}.jpg`), model);
    line(`| ${label} | ${r.seconds.toFixed(1)} | ${r.rssMB.toFixed(0)} |`);
    rmSync(join(work, `out-${label.length}.jpg`), { force: true });
  }
  line('target: network run under 2048 MB peak RSS');
}

/**
 * Every built-in network (and bicubic) on one real 640x480 photo enlarged x4 (4.9 MP out), and `quality` with
 * test-time augmentation: s/MP, median of 3 runs interleaved so that machine noise hits all alike, as ratios to fast.
 */
async function builtinModels(): Promise<void> {
  const dir = new URL('../../shared/train/SunHays80/', import.meta.url);
  const first = readdirSync(dir).sort()[0];
  if (first === undefined) throw new Error('no photo in ../shared/train/SunHays80');
  const bytes = await sharp(new URL(first, dir).pathname).resize(640, 480, { fit: 'fill' }).png().toBuffer();
  const { raster } = await decodeImage(bytes, { maxPixels: Infinity });
  const runs = [
    { label: 'bicubic', model: 'bicubic' },
    { label: 'fast', model: 'fast' },
    { label: 'photo', model: 'photo' },
    { label: 'quality (SPAN)', model: 'quality' },
    { label: 'quality --tta', model: 'quality', tta: true },
    { label: 'photo-gan', model: 'photo-gan' },
    { label: 'anime (Real-CUGAN se)', model: 'anime' },
    { label: 'anime-fast', model: 'anime-fast' },
  ];
  const upscalers = await Promise.all(runs.map(({ model, tta }) => createUpscaler({ model, tta })));
  const times = runs.map((): number[] => []);
  for (const upscaler of upscalers) await upscaler.upscale(raster, { scale: 4 }); // warm-up: loads the weights
  for (let round = 0; round < 3; round++) {
    for (const [i, upscaler] of upscalers.entries()) {
      const t = performance.now();
      await upscaler.upscale(raster, { scale: 4 });
      times[i]!.push((performance.now() - t) / 1000);
    }
  }
  await Promise.all(upscalers.map((u) => u.dispose()));
  const outMp = (640 * 480 * 16) / 1e6;
  const fastS = median(times[1]!);
  line('## Built-in models: a 640x480 photo -> 2560x1920 (4.9 MP), median of 3');
  line('| model | seconds | s per output MP | time / fast |');
  line('|---|---|---|---|');
  for (const [i, run] of runs.entries()) {
    const s = median(times[i]!);
    line(`| ${run.label} | ${s.toFixed(2)} | ${(s / outMp).toFixed(3)} | ${(s / fastS).toFixed(2)} |`);
  }
}

// `npm run bench -- import photo` runs only the sections named.
const SECTIONS: Record<string, () => Promise<void>> = {
  reference: referenceNet,
  photo: bigPhoto,
  upscalerjs: benchUpscalerJs,
  import: () => benchImportedArchitectures(work),
  video: () => benchVideo(work),
  models: builtinModels,
  server: () => benchServer(work),
};
const chosen = process.argv.slice(2);
for (const name of chosen) if (!(name in SECTIONS)) throw new Error(`unknown bench section "${name}" (expected ${Object.keys(SECTIONS).join(', ')})`);

line(`# upscale bench: ${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}`);
line();
try {
  for (const [name, section] of Object.entries(SECTIONS)) {
    if (chosen.length > 0 && !chosen.includes(name)) continue;
    await section();
    line();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

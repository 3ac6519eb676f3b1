/**
 * Bench section for imported community architectures (issue 5): seconds per output megapixel at x4 for an
 * RRDBNet of RealESRGAN_x4plus's size (23 blocks, 64 features) and a Compact net of realesr-animevideov3's size
 * (16 convs, 64 features, PReLU), both with random weights converted by our own converters, and the peak memory
 * of RRDBNet runs on growing images (each in its own process, so the figure is its own).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { compact } from '../src/models/architectures/compact.js';
import { esrgan } from '../src/models/architectures/esrgan.js';
import type { Architecture } from '../src/models/architectures/types.js';
import { loadOnnxBytes } from '../src/models/onnx-file.js';
import type { StateDict } from '../src/models/weights/tensor.js';
import { chooseTileSize } from '../src/tiling/plan.js';
import { runTiled } from '../src/tiling/run.js';
import { mulberry32 } from '../test/fixtures/models.js';
import { testRaster } from '../test/helpers/rasters.js';

const line = (text = ''): void => void process.stdout.write(`${text}\n`);

/** FLOPs (2 x multiply-adds) of a k x k conv per pixel it outputs. */
const conv = (inputs: number, outputs: number, k = 3): number => 2 * inputs * outputs * k * k;
/**
 * RealESRGAN_x4plus per output pixel: 23 blocks x 3 dense blocks of 5 convs at 1/16 of the output pixels, conv_first
 * and conv_body there too, conv_up1 at 1/4, conv_up2, conv_hr and conv_last at full resolution. TFLOP per MP.
 */
const RRDBNET_TFLOP_PER_MP =
  ((conv(3, 64) + 23 * 3 * (conv(64, 32) + conv(96, 32) + conv(128, 32) + conv(160, 32) + conv(192, 64)) + conv(64, 64)) / 16 +
    conv(64, 64) / 4 +
    2 * conv(64, 64) +
    conv(64, 3)) /
  1e6;
/** realesr-animevideov3 size: 17 convs of 64 features and the last to 48 channels, all at 1/16 of the output. */
const COMPACT_TFLOP_PER_MP = (conv(3, 64) + 16 * conv(64, 64) + conv(64, 48)) / 16 / 1e6;

/** Conv weights with a fan-in-scaled uniform distribution, so activations neither vanish nor explode. */
function convWeights(sd: StateDict, key: string, out: number, inp: number, random: () => number, k = 3): void {
  const bound = Math.sqrt(3 / (inp * k * k));
  sd.set(`${key}.weight`, { shape: [out, inp, k, k], dtype: 'F32', data: Float32Array.from({ length: out * inp * k * k }, () => (random() * 2 - 1) * bound) });
  sd.set(`${key}.bias`, { shape: [out], dtype: 'F32', data: Float32Array.from({ length: out }, () => (random() * 2 - 1) * 0.01) });
}

/** RealESRGAN_x4plus's layout (BasicSR keys): 23 RRDB blocks, 64 features, growth 32. */
export function rrdbnetWeights(blocks = 23, feat = 64, grow = 32): StateDict {
  const random = mulberry32(5);
  const sd: StateDict = new Map();
  convWeights(sd, 'conv_first', feat, 3, random);
  for (let b = 0; b < blocks; b++) {
    for (let r = 1; r <= 3; r++) {
      for (let c = 1; c <= 5; c++) convWeights(sd, `body.${b}.rdb${r}.conv${c}`, c === 5 ? feat : grow, feat + (c - 1) * grow, random);
    }
  }
  for (const key of ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr']) convWeights(sd, key, feat, feat, random);
  convWeights(sd, 'conv_last', 3, feat, random);
  return sd;
}

/** realesr-animevideov3's layout (SRVGGNetCompact keys): 16 convs of 64 features with PReLU, x4. */
export function compactWeights(convs = 16, feat = 64, scale = 4): StateDict {
  const random = mulberry32(6);
  const sd: StateDict = new Map();
  const prelu = (i: number): void => void sd.set(`body.${i}.weight`, { shape: [feat], dtype: 'F32', data: new Float32Array(feat).fill(0.1) });
  convWeights(sd, 'body.0', feat, 3, random);
  prelu(1);
  for (let i = 0; i < convs; i++) {
    convWeights(sd, `body.${2 + 2 * i}`, feat, feat, random);
    prelu(3 + 2 * i);
  }
  convWeights(sd, `body.${2 + 2 * convs}`, 3 * scale * scale, feat, random);
  return sd;
}

function convert(architecture: Architecture<unknown>, weights: StateDict): { onnx: Uint8Array; parameters: number } {
  const params = architecture.detect(weights);
  if (params === undefined) throw new Error(`${architecture.name} did not detect its own layout`);
  return { onnx: architecture.toOnnx(weights, params), parameters: architecture.describe(weights, params).parameters };
}

async function secondsPerMegapixel(onnx: Uint8Array, edge: number): Promise<{ sPerMp: number; tile: number }> {
  const model = await loadOnnxBytes(onnx, { label: 'bench' }, { id: 'bench' });
  const net = model.network;
  const tile = chooseTileSize(net, 1024 ** 3);
  const options = { tileSize: tile, overlap: net.receptiveField, outputDepth: 8 as const };
  await runTiled(testRaster(48, 48), net, options); // warm-up
  const times: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    await runTiled(testRaster(edge, edge), net, options);
    times.push((performance.now() - t) / 1000);
  }
  await net.dispose();
  const outMp = (edge * net.scale) ** 2 / 1e6;
  return { sPerMp: Math.min(...times) / outMp, tile };
}

export async function benchImportedArchitectures(work: string): Promise<void> {
  line('## Community architectures converted from PyTorch weights (random weights), x4');
  line('| model | parameters | TFLOP / output MP | input | tile | s / output MP | GFLOP/s | target |');
  line('|---|---|---|---|---|---|---|---|');
  const rrdb = convert(esrgan as Architecture<unknown>, rrdbnetWeights());
  const rrdbResult = await secondsPerMegapixel(rrdb.onnx, 128);
  const gflops = (tflopPerMp: number, sPerMp: number): string => ((tflopPerMp * 1e3) / sPerMp).toFixed(0);
  line(
    `| RRDBNet 23 blocks, 64 features (RealESRGAN_x4plus size) | ${(rrdb.parameters / 1e6).toFixed(1)}M | ${RRDBNET_TFLOP_PER_MP.toFixed(2)} | 128x128 | ${rrdbResult.tile} | ${rrdbResult.sPerMp.toFixed(2)} | ${gflops(RRDBNET_TFLOP_PER_MP, rrdbResult.sPerMp)} | 9 |`,
  );
  const small = convert(compact as Architecture<unknown>, compactWeights());
  const smallResult = await secondsPerMegapixel(small.onnx, 256);
  line(
    `| Compact 16 convs, 64 features, PReLU (realesr-animevideov3 size) | ${(small.parameters / 1e3).toFixed(0)}K | ${COMPACT_TFLOP_PER_MP.toFixed(3)} | 256x256 | ${smallResult.tile} | ${smallResult.sPerMp.toFixed(3)} | ${gflops(COMPACT_TFLOP_PER_MP, smallResult.sPerMp)} | 0.4 |`,
  );
  line('reference figures on this machine (issue 5): ncnn CPU 20.7 and 0.73 s; Upscayl (software Vulkan) 179 and 6.9 s');
  line();

  const onnxPath = join(work, 'rrdbnet-x4.onnx');
  writeFileSync(onnxPath, rrdb.onnx);
  line('RRDBNet peak memory (whole process, PNG in and out, auto tiles), each run in its own process:');
  line('| input | output | seconds | peak RSS (MB) |');
  line('|---|---|---|---|');
  for (const [w, h] of [[96, 64], [384, 256], [768, 512]] as const) {
    const input = join(work, `rrdb-in-${w}.png`);
    await sharp(new URL('../assets/sample.png', import.meta.url).pathname).resize(w, h, { fit: 'fill' }).png().toFile(input);
    const result = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'bench-child.ts'), input, join(work, `rrdb-out-${w}.png`), onnxPath], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`bench child failed: ${result.stderr}`);
    const r = JSON.parse(result.stdout.trim().split('\n').pop()!) as { seconds: number; rssMB: number; size: string };
    line(`| ${w}x${h} | ${r.size} | ${r.seconds.toFixed(1)} | ${r.rssMB.toFixed(0)} |`);
  }
  line('target: under 2048 MB whatever the image size');
}

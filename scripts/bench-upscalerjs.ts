/**
 * UpscalerJS against our engine, on the same weights and the same input, in one run:
 *
 *   node --import tsx scripts/bench-upscalerjs.ts [--size 128] [--models esrgan-slim,esrgan-medium,esrgan-thick]
 *                                                 [--upscalerjs-threads <n>]
 *
 * - UpscalerJS 1.0 (`upscaler/node`) on pure-JS TensorFlow.js 4.11 with the WASM backend (threaded SIMD build,
 *   one thread per core), in a child process (scripts/upscalerjs-child.ts), with its defaults: the whole image in
 *   one prediction, no patches. Our engine: `createUpscaler({ model: '<family>-x4' })`, in this process, with its
 *   defaults (all cores; the automatic tile size, which holds the whole input at these sizes).
 * - Input: the centre `size` x `size` crop of assets/sample.png (RGB, 8-bit), enlarged x4.
 * - One warm-up each, then 5 timed runs (3 for thick) interleaved (UpscalerJS, ours, UpscalerJS, ...): medians.
 *   Timed: pixels in to pixels out (UpscalerJS: tensor creation, execute(), reading the output tensor back).
 * - Outputs compared after both are rounded to 8 bits the same way (clamp to 0..255, round half up): the
 *   largest absolute difference of a sample and the share of pixels with any channel different.
 * - Throughput in GFLOP/s from the convolutions of each model.json (2·kh·kw·cin·cout per pixel at the
 *   resolution each conv runs at), against the reference net of `npm run bench` measured in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { createUpscaler, type Raster, type Upscaler } from '../src/index.js';
import { REFERENCE_BENCH_FLOPS_PER_PIXEL, REFERENCE_BENCH_NET, randomConvNet } from '../test/fixtures/models.js';
import { testRaster } from '../test/helpers/rasters.js';
import type { ChildReply, ChildRequest, WasmInfo } from './upscalerjs-child.js';
import { modelJsonPath, UPSCALERJS_FAMILIES, type UpscalerJsFamily } from '../src/models/builtin/upscalerjs.js';

export interface BenchUpscalerJsOptions {
  /** Edge of the square input crop, in pixels (output is 4x that). @default 128 */
  size?: number;
  /** Model families (`esrgan-slim`, `esrgan-medium`, `esrgan-thick`, or `slim`, ...). @default all three */
  models?: string[];
  /** Where the report goes, one line at a time. @default stdout */
  log?: (line: string) => void;
  /** TF.js WASM threads for UpscalerJS (1: the backend's own choice in Node). @default the number of cores */
  upscalerJsThreads?: number;
}

const SCALE = 4;
/** Timed runs per model: more for the cheap ones (this machine is shared and noisy), 3 for thick. */
const runsFor = (gflopPerMp: number): number => (gflopPerMp < 200 ? 5 : 3);
const RUNS = 3;
const DEFAULT_MODELS = ['esrgan-slim', 'esrgan-medium', 'esrgan-thick'];
const here = dirname(fileURLToPath(import.meta.url));

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The centre size x size crop of assets/sample.png as 8-bit RGB (scaled to cover first if it is smaller). */
async function sampleCrop(size: number): Promise<Raster> {
  const path = join(here, '..', 'assets', 'sample.png');
  const { width = 0, height = 0 } = await sharp(path).metadata();
  let image = sharp(path).removeAlpha().toColourspace('srgb');
  if (width >= size && height >= size) {
    image = image.extract({ left: Math.floor((width - size) / 2), top: Math.floor((height - size) / 2), width: size, height: size });
  } else {
    image = image.resize(size, size, { fit: 'cover', kernel: 'lanczos3' });
  }
  const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected RGB, got ${info.channels} channels`);
  return { width: info.width, height: info.height, channels: 3, depth: 8, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

interface LayerJson {
  class_name: string;
  name?: string;
  config: { name: string; size?: number[]; scale?: number; strides?: number[] };
  inbound_nodes: Array<Array<[string, number, number, unknown]>>;
}
interface ModelJson {
  modelTopology: { model_config: { config: { layers: LayerJson[] } } };
  weightsManifest: Array<{ weights: Array<{ name: string; shape: number[] }> }>;
}

/**
 * Multiply-adds x 2 of every Conv2D, per output pixel: each conv counts 2·kh·kw·cin·cout per pixel of the
 * resolution it runs at (input, or output after an UpSampling2D / pixel shuffle); borders are ignored.
 */
export function convFlopsPerOutputPixel(modelJsonPath: string, scale: number): number {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as ModelJson;
  const kernels = new Map<string, number[]>();
  for (const group of json.weightsManifest) for (const w of group.weights) if (w.name.endsWith('/kernel')) kernels.set(w.name.slice(0, -'/kernel'.length), w.shape);
  const area = new Map<string, number>(); // pixels per input pixel at each layer's output
  let flopsPerInputPixel = 0;
  for (const layer of json.modelTopology.model_config.config.layers) {
    const name = layer.name ?? layer.config.name;
    const inbound = layer.inbound_nodes[0] ?? [];
    const inArea = inbound.length === 0 ? 1 : Math.max(...inbound.map(([from]) => area.get(from) ?? 1));
    let outArea = inArea;
    if (layer.class_name === 'UpSampling2D') outArea = inArea * (layer.config.size?.[0] ?? 2) * (layer.config.size?.[1] ?? 2);
    else if (layer.class_name.startsWith('PixelShuffle')) outArea = inArea * (layer.config.scale ?? scale) ** 2;
    else if (layer.class_name === 'Conv2D') {
      const kernel = kernels.get(name);
      if (kernel === undefined || kernel.length !== 4) throw new Error(`no kernel for conv ${name}`);
      const [kh, kw, cin, cout] = kernel as [number, number, number, number];
      outArea = inArea / ((layer.config.strides?.[0] ?? 1) * (layer.config.strides?.[1] ?? 1));
      flopsPerInputPixel += 2 * kh * kw * cin * cout * outArea;
    }
    area.set(name, outArea);
  }
  return flopsPerInputPixel / (scale * scale);
}

/** The UpscalerJS child process: one request at a time, answered in order. */
class UpscalerJsChild {
  private readonly pending: Array<{ resolve: (reply: ChildReply) => void; reject: (error: Error) => void }> = [];
  private stderr = '';
  private exited: Error | undefined;
  private readonly exit: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.on('data', (chunk: Buffer) => void (this.stderr = (this.stderr + chunk.toString()).slice(-4000)));
    child.stdout?.on('data', () => {}); // TF.js may print notices; they are not part of the report
    child.on('message', (reply: ChildReply) => {
      const waiter = this.pending.shift();
      if (waiter === undefined) return;
      if (reply.type === 'error') waiter.reject(new Error(`UpscalerJS child: ${reply.message}`));
      else waiter.resolve(reply);
    });
    this.exit = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exited = new Error(`UpscalerJS child exited (${signal ?? code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`);
        for (const waiter of this.pending.splice(0)) waiter.reject(this.exited);
        resolve();
      }),
    );
  }

  static async start(threads: number): Promise<{ child: UpscalerJsChild; wasm: WasmInfo }> {
    const process_ = spawn(process.execPath, ['--import', 'tsx', join(here, 'upscalerjs-child.ts'), String(threads)], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const child = new UpscalerJsChild(process_);
    const ready = await child.next();
    if (ready.type !== 'ready') throw new Error(`UpscalerJS child: unexpected ${ready.type}`);
    return { child, wasm: ready.wasm };
  }

  private next(): Promise<ChildReply> {
    if (this.exited !== undefined) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  request<T extends ChildReply['type']>(request: ChildRequest, expect: T): Promise<Extract<ChildReply, { type: T }>> {
    const reply = this.next();
    this.child.send(request);
    return reply.then((r) => {
      if (r.type !== expect) throw new Error(`UpscalerJS child: expected ${expect}, got ${r.type}`);
      return r as Extract<ChildReply, { type: T }>;
    });
  }

  async close(): Promise<number> {
    const bye = await this.request({ cmd: 'exit' }, 'bye');
    await this.exit; // it removes its temporary folder on the way out
    return bye.maxRssMB;
  }

  kill(): void {
    if (this.exited === undefined) this.child.kill();
  }
}

interface Comparison {
  maxDiff: number;
  differingPixels: number;
  pixels: number;
}

/** UpscalerJS's float output (HWC, 0..255) and our 8-bit raster, both rounded to 8 bits the same way. */
function compare(theirs: Float32Array, ours: Raster): Comparison {
  if (ours.channels !== 3 || ours.depth !== 8 || ours.data.length !== theirs.length) {
    throw new Error(`outputs differ in shape: ours ${ours.width}x${ours.height}x${ours.channels} (${ours.depth}-bit), UpscalerJS ${theirs.length} samples`);
  }
  let maxDiff = 0;
  let differingPixels = 0;
  for (let p = 0; p < theirs.length; p += 3) {
    let differs = false;
    for (let c = 0; c < 3; c++) {
      const v = theirs[p + c]!;
      const rounded = v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
      const d = Math.abs(rounded - ours.data[p + c]!);
      if (d > 0) differs = true;
      if (d > maxDiff) maxDiff = d;
    }
    if (differs) differingPixels++;
  }
  return { maxDiff, differingPixels, pixels: theirs.length / 3 };
}

/**
 * The largest difference before rounding, in 0..255 units: UpscalerJS's floats against our output for the same
 * input given at 16 bits (ours then keeps 16 bits: a step of 1/257, so up to 0.002 of this is our quantisation).
 */
function maxFloatDiff(theirs: Float32Array, ours16: Raster): number {
  if (ours16.depth !== 16 || ours16.data.length !== theirs.length) throw new Error('16-bit output has another shape');
  let max = 0;
  for (let i = 0; i < theirs.length; i++) {
    const d = Math.abs(theirs[i]! - ours16.data[i]! / 257);
    if (d > max) max = d;
  }
  return max;
}

/** The same pixels at 16 bits (v * 257: the same values in 0..1). */
function to16(raster: Raster): Raster {
  return { ...raster, depth: 16, data: Uint16Array.from(raster.data, (v) => v * 257) };
}

/** Our engine on `npm run bench`'s reference net (1024x768 in, x4): timed alongside a model, for its target. */
class ReferenceNet {
  private readonly source = testRaster(1024, 768);
  private readonly times: number[] = [];
  private constructor(private readonly upscaler: Upscaler) {}

  static async load(work: string): Promise<ReferenceNet> {
    const path = join(work, 'reference-net.onnx');
    const metadata = { 'upscale.scale': '4', 'upscale.range': '0-1', 'upscale.receptive_field': String(REFERENCE_BENCH_NET.layers + 1) };
    writeFileSync(path, randomConvNet({ ...REFERENCE_BENCH_NET, metadata }));
    const net = new ReferenceNet(await createUpscaler({ model: path }));
    await net.upscaler.upscale(testRaster(256, 256), { scale: SCALE }); // warm-up
    return net;
  }

  async run(): Promise<void> {
    const t = performance.now();
    await this.upscaler.upscale(this.source, { scale: SCALE });
    this.times.push(performance.now() - t);
  }

  gflops(): number | undefined {
    if (this.times.length === 0) return undefined;
    return (this.source.width * this.source.height * REFERENCE_BENCH_FLOPS_PER_PIXEL) / (median(this.times) / 1000) / 1e9;
  }

  dispose(): Promise<void> {
    return this.upscaler.dispose();
  }
}

/** Models whose target is a share of the reference net's throughput (the others: a speed-up over UpscalerJS). */
const THROUGHPUT_TARGET = new Set(['esrgan-thick']);

interface Row {
  family: string;
  theirsMsPerMp: number;
  oursMsPerMp?: number;
  comparison?: Comparison;
  floatDiff?: number;
  flopsPerOutputPixel: number;
  tiles?: number;
  rssMB: number;
  oursError?: string;
}

/** A model package's folder (its exports map hides package.json): the part of its CommonJS entry before dist/. */
function builtinFamily(id: string): UpscalerJsFamily {
  const family = UPSCALERJS_FAMILIES.find((f) => f.descriptor.id === id);
  if (family === undefined) throw new Error(`not a built-in UpscalerJS model: ${id}`);
  return family;
}

function familyId(name: string): string {
  return name.startsWith('esrgan-') ? name : `esrgan-${name}`;
}

export async function benchUpscalerJs(options: BenchUpscalerJsOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const size = options.size ?? 128;
  const families = (options.models ?? DEFAULT_MODELS).map(familyId);
  const cores = availableParallelism();
  const input = await sampleCrop(size);
  const outMp = (input.width * SCALE * input.height * SCALE) / 1e6;
  const upscalerJsThreads = options.upscalerJsThreads ?? cores;
  const work = mkdtempSync(join(tmpdir(), 'upscale-bench-ujs-'));
  const started = performance.now();
  const rows: Row[] = [];
  let wasm: WasmInfo | undefined;
  let reference: ReferenceNet | undefined;

  log(`# UpscalerJS vs upscale: same weights, same input, x${SCALE}`);
  log(`${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), node ${process.version}; input: centre ${input.width}x${input.height} crop of assets/sample.png -> ${input.width * SCALE}x${input.height * SCALE} (${outMp.toFixed(3)} MP); one warm-up, then the median of 5 interleaved runs (3 for models over 200 GFLOP/MP)`);
  log('');
  try {
    for (const family of families) {
      const pkg = `@upscalerjs/${family}`;
      const modelJson = modelJsonPath(builtinFamily(family), SCALE);
      const flopsPerOutputPixel = convFlopsPerOutputPixel(modelJson, SCALE);
      const runs = runsFor((flopsPerOutputPixel * 1e6) / 1e9);
      const launched = await UpscalerJsChild.start(upscalerJsThreads);
      const child = launched.child;
      wasm ??= launched.wasm;
      let ours: Upscaler | undefined;
      try {
        await child.request({ cmd: 'load', pkg, scale: SCALE }, 'loaded');
        let oursError: string | undefined;
        try {
          ours = await createUpscaler({ model: `${family}-x${SCALE}` });
        } catch (error) {
          oursError = error instanceof Error ? error.message : String(error);
        }
        const runTheirs = async (keepOutput: boolean) =>
          child.request({ cmd: 'run', width: input.width, height: input.height, data: input.data as Uint8Array, keepOutput }, 'result');
        let tiles = 0;
        const runOurs = async (): Promise<{ ms: number; output: Raster }> => {
          const t = performance.now();
          const output = await ours!.upscale(input, {
            scale: SCALE,
            onProgress: (event) => void (event.stage === 'tile' ? (tiles = event.total) : undefined),
          });
          return { ms: performance.now() - t, output };
        };
        // The reference net runs in the same loop as a model with a throughput target, so that both see the
        // same machine load (this machine is shared).
        const withReference = ours !== undefined && THROUGHPUT_TARGET.has(family);
        if (withReference) reference ??= await ReferenceNet.load(work);
        await runTheirs(false);
        if (ours !== undefined) await runOurs();
        const theirsMs: number[] = [];
        const oursMs: number[] = [];
        let theirOutput: Float32Array | undefined;
        let ourOutput: Raster | undefined;
        for (let i = 0; i < runs; i++) {
          const last = i === runs - 1;
          const t = await runTheirs(last);
          theirsMs.push(t.ms);
          if (last) theirOutput = t.output;
          if (ours !== undefined) {
            const o = await runOurs();
            oursMs.push(o.ms);
            if (last) ourOutput = o.output;
          }
          if (withReference) await reference!.run();
        }
        const ours16 = ours === undefined ? undefined : await ours.upscale(to16(input), { scale: SCALE });
        await child.request({ cmd: 'dispose' }, 'disposed');
        const rssMB = await child.close();
        const row: Row = { family, theirsMsPerMp: median(theirsMs) / outMp, flopsPerOutputPixel, rssMB };
        if (ours !== undefined && theirOutput !== undefined && ourOutput !== undefined) {
          row.oursMsPerMp = median(oursMs) / outMp;
          row.comparison = compare(theirOutput, ourOutput);
          row.floatDiff = maxFloatDiff(theirOutput, ours16!);
          row.tiles = tiles;
        }
        if (oursError !== undefined) row.oursError = oursError;
        rows.push(row);
      } finally {
        child.kill();
        await ours?.dispose();
      }
    }
    if (reference === undefined && rows.some((r) => r.oursMsPerMp !== undefined)) {
      // No model with a throughput target ran: time the reference net on its own, for the record.
      reference = await ReferenceNet.load(work);
      for (let i = 0; i < RUNS; i++) await reference.run();
    }
    const referenceGflops = reference?.gflops();

    const fmt = (v: number | undefined, digits = 0): string => (v === undefined ? 'n/a' : v.toFixed(digits));
    log('| model | UpscalerJS ms/MP | upscale ms/MP | speed-up | max \\|diff\\| (8-bit) | pixels differing | max \\|diff\\| before rounding | GFLOP/MP | UpscalerJS GFLOP/s | upscale GFLOP/s |');
    log('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const gflopPerMp = (r.flopsPerOutputPixel * 1e6) / 1e9;
      const c = r.comparison;
      const differing = c === undefined ? 'n/a' : `${((c.differingPixels / c.pixels) * 100).toFixed(c.differingPixels === 0 ? 0 : 3)}% (${c.differingPixels} of ${c.pixels})`;
      log(
        `| ${r.family} x${SCALE} | ${fmt(r.theirsMsPerMp)} | ${fmt(r.oursMsPerMp)} | ` +
          `${r.oursMsPerMp === undefined ? 'n/a' : `${(r.theirsMsPerMp / r.oursMsPerMp).toFixed(1)}x`} | ` +
          `${c === undefined ? 'n/a' : c.maxDiff} | ${differing} | ${fmt(r.floatDiff, 3)} | ${gflopPerMp.toFixed(1)} | ` +
          `${fmt(gflopPerMp / (r.theirsMsPerMp / 1000), 1)} | ${r.oursMsPerMp === undefined ? 'n/a' : (gflopPerMp / (r.oursMsPerMp / 1000)).toFixed(1)} |`,
      );
    }
    log('');
    log('Targets: slim and medium at least 8x faster than UpscalerJS, with identical 8-bit output (max |diff| 0);');
    log(
      referenceGflops === undefined
        ? "thick at least 80% of the reference net's throughput (not measured: our engine did not run)."
        : `thick at least 80% of the reference net's throughput: ${referenceGflops.toFixed(0)} GFLOP/s measured in this run ` +
            `(npm run bench's net, 1024x768 x4, automatic tiles${reference !== undefined && rows.some((r) => THROUGHPUT_TARGET.has(r.family) && r.oursMsPerMp !== undefined) ? ', interleaved with the thick runs' : ''}), so >= ${(0.8 * referenceGflops).toFixed(0)} GFLOP/s.`,
    );
    for (const r of rows) {
      const verdicts: string[] = [];
      if (r.oursMsPerMp !== undefined && r.comparison !== undefined) {
        const speedUp = r.theirsMsPerMp / r.oursMsPerMp;
        const gflops = (r.flopsPerOutputPixel * 1e6) / 1e9 / (r.oursMsPerMp / 1000);
        if (THROUGHPUT_TARGET.has(r.family) && referenceGflops !== undefined) {
          verdicts.push(`${((gflops / referenceGflops) * 100).toFixed(0)}% of the reference throughput (${gflops >= 0.8 * referenceGflops ? 'met' : 'NOT met'})`);
        }
        verdicts.push(`${speedUp.toFixed(1)}x faster than UpscalerJS${THROUGHPUT_TARGET.has(r.family) ? '' : ` (${speedUp >= 8 ? 'met' : 'NOT met'})`}`);
        verdicts.push(r.comparison.maxDiff === 0 ? 'identical' : `NOT identical (max |diff| ${r.comparison.maxDiff})`);
        verdicts.push(`our tiles: ${r.tiles ?? '?'}`);
      } else {
        verdicts.push(`our engine not measured: ${r.oursError ?? 'unknown error'}`);
      }
      log(`- ${r.family}: ${verdicts.join('; ')}; UpscalerJS peak RSS ${r.rssMB.toFixed(0)} MB`);
    }
    log('');
    if (wasm !== undefined) {
      log(
        `UpscalerJS: upscaler 1.0.0 (upscaler/node) on @tensorflow/tfjs ${wasm.tfjs}, backend ${wasm.backend}, binary ${wasm.binary} ` +
          `(SIMD ${wasm.simd ? 'on' : 'off'}, threads ${wasm.multithread ? 'on' : 'off'}), ${wasm.threads} XNNPACK thread${wasm.threads === 1 ? '' : 's'} on ${wasm.cores} cores` +
          `${wasm.note === undefined ? '' : ` (${wasm.note})`}; defaults: whole image in one prediction, no patches.`,
      );
    }
    log(`upscale: onnxruntime on the CPU, all ${cores} cores, automatic tile size. Total time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  } finally {
    await reference?.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

function parseArgs(argv: readonly string[]): BenchUpscalerJsOptions {
  const options: BenchUpscalerJsOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === '--size' && value !== undefined) {
      options.size = Number(value);
      i++;
    } else if (arg === '--upscalerjs-threads' && value !== undefined) {
      options.upscalerJsThreads = Number(value);
      i++;
    } else if (arg === '--models' && value !== undefined) {
      options.models = value.split(',').filter(Boolean);
      i++;
    } else {
      throw new Error(`unknown argument ${arg} (expected --size <px>, --models <a,b,c>, --upscalerjs-threads <n>)`);
    }
  }
  if (options.size !== undefined && !(Number.isInteger(options.size) && options.size > 0)) throw new Error('--size must be a positive integer');
  if (options.upscalerJsThreads !== undefined && !(Number.isInteger(options.upscalerJsThreads) && options.upscalerJsThreads > 0)) {
    throw new Error('--upscalerjs-threads must be a positive integer');
  }
  return options;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchUpscalerJs(parseArgs(process.argv.slice(2)));
}

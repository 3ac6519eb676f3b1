// Runs an .onnx model in onnxruntime-node (our inference path) on a raw float32 input file.
// node training/ort_run.mjs MODEL IN.f32 OUT.f32 N C H W            -> writes the output as raw float32
// node training/ort_run.mjs --bench MODEL SIZE [THREADS] [RUNS]     -> prints seconds per output megapixel
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../package.json', import.meta.url));
const ort = require('onnxruntime-node');

const bench = process.argv[2] === '--bench';
const args = process.argv.slice(bench ? 3 : 2);
const threads = bench ? Number(args[2] ?? 2) : 2;
const session = await ort.InferenceSession.create(args[0], {
  graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
});
if (bench) {
  const size = Number(args[1] ?? 128);
  const runs = Number(args[3] ?? 10);
  const data = Float32Array.from({ length: 3 * size * size }, () => Math.random());
  const input = new ort.Tensor('float32', data, [1, 3, size, size]);
  let out;
  for (let i = 0; i < 3; i++) out = await session.run({ input });
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await session.run({ input });
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  const mp = out.output.dims[2] * out.output.dims[3] / 1e6;
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ model: args[0], size, threads, median_s: median, s_per_output_mp: median / mp }));
} else {
  const [, inPath, outPath, ...dims] = args;
  const buf = readFileSync(inPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const out = await session.run({ input: new ort.Tensor('float32', data, dims.map(Number)) });
  const y = out.output.data;
  writeFileSync(outPath, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

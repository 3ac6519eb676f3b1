/**
 * Measures models on Set5 and Set14 at x2, x3 and x4 with `evaluate()` (the papers' protocol) and prints markdown
 * tables for docs/quality.md: PSNR-Y / SSIM-Y per set and scale, our rows beside the published ones, then speed.
 *
 * Run: node --import tsx scripts/quality-table.ts [models] [--sets Set5,Set14] [--scales 2,3,4] [--from-hr] [--json]
 *   models     comma-separated ids or .onnx paths (default: bicubic, lanczos3 and the built-in networks)
 *   --from-hr  make LR with imresizeMatlab instead of reading the LR_bicubic files (bit-identical, so same numbers)
 *   --json     print `{ model: { "Set5 x4": { psnr, ssim, secondsPerOutputMegapixel } } }` instead (for descriptors)
 * Progress goes to stderr; the tables to stdout.
 */
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluate, markdownTable, type EvalReport } from '../src/eval/index.js';
import { listModels } from '../src/models/registry.js';

const EVAL_DIR = fileURLToPath(new URL('../../shared/eval/', import.meta.url));
const BUILTIN_NETWORKS = ['esrgan-slim', 'esrgan-medium', 'esrgan-thick'];

/** Published PSNR-Y / SSIM-Y (../shared/eval/README.md, from the papers' tables), keyed like `Set5 x4`. */
const PUBLISHED: Readonly<Record<string, Readonly<Record<string, readonly [number, number]>>>> = {
  'bicubic, reproduced (eval README)': {
    'Set5 x2': [33.67, 0.9303], 'Set5 x3': [30.4, 0.8689], 'Set5 x4': [28.43, 0.8111],
    'Set14 x2': [30.32, 0.8699], 'Set14 x3': [27.63, 0.7759], 'Set14 x4': [26.09, 0.7048],
  },
  'Bicubic (papers)': { 'Set5 x2': [33.66, 0.9299], 'Set14 x2': [30.24, 0.8688], 'Set5 x4': [28.42, 0.8104], 'Set14 x4': [26.0, 0.7027] },
  FSRCNN: { 'Set5 x2': [37.0, 0.9558], 'Set14 x2': [32.63, 0.9088], 'Set5 x4': [30.72, 0.866], 'Set14 x4': [27.61, 0.755] },
  VDSR: { 'Set5 x2': [37.53, 0.9587], 'Set14 x2': [33.03, 0.9124], 'Set5 x4': [31.35, 0.8838], 'Set14 x4': [28.01, 0.7674] },
  EDSR: { 'Set5 x2': [38.11, 0.9601], 'Set14 x2': [33.92, 0.9195], 'Set5 x4': [32.46, 0.8968], 'Set14 x4': [28.8, 0.7876] },
  RCAN: { 'Set5 x2': [38.27, 0.9614], 'Set14 x2': [34.12, 0.9216], 'Set5 x4': [32.63, 0.9002], 'Set14 x4': [28.87, 0.7889] },
  'RRDB (ESRGAN, PSNR-trained)': { 'Set5 x4': [32.73, 0.9011], 'Set14 x4': [28.99, 0.7917] },
  SwinIR: { 'Set5 x2': [38.42, 0.9623], 'Set14 x2': [34.46, 0.925], 'Set5 x4': [32.92, 0.9044], 'Set14 x4': [29.09, 0.795] },
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sets: { type: 'string', default: 'Set5,Set14' },
    scales: { type: 'string', default: '2,3,4' },
    'from-hr': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const known = new Set(listModels().map((m) => m.id));
const models = positionals.length > 0 ? positionals.join(',').split(',').filter((m) => m !== '') : ['bicubic', 'lanczos3', ...BUILTIN_NETWORKS.filter((id) => known.has(id))];
const sets = values.sets.split(',');
const scales = values.scales.split(',').map(Number);

/** `Set5 x4` -> report, every model in it. */
const reports = new Map<string, EvalReport>();
for (const set of sets) {
  for (const scale of scales) {
    const key = `${set} x${scale}`;
    const started = performance.now();
    const report = await evaluate({
      dataset: `${EVAL_DIR}${set}/HR`,
      lr: values['from-hr'] ? undefined : `${EVAL_DIR}${set}/LR_bicubic/X${scale}`,
      scale,
      models,
      onProgress: (event) => {
        if (event.stage === 'model') process.stderr.write(`${key}: ${event.model}\n`);
      },
    });
    process.stderr.write(`${key}: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    reports.set(key, report);
  }
}

const columns = sets.flatMap((set) => scales.map((scale) => `${set} x${scale}`));
/** The per-model entry of a report, by the model's id as `evaluate` reports it (position: ids may be aliases). */
const result = (key: string, index: number): EvalReport['models'][number] | undefined => reports.get(key)?.models[index];
const ids = models.map((model, i) => result(columns[0] ?? '', i)?.model ?? model);

if (values.json) {
  const out: Record<string, Record<string, { psnr: number; ssim: number; secondsPerOutputMegapixel: number }>> = {};
  ids.forEach((id, i) => {
    out[id] = Object.fromEntries(
      columns.map((key) => {
        const r = result(key, i)!;
        return [key, { psnr: round(r.meanPsnr, 2), ssim: round(r.meanSsim, 4), secondsPerOutputMegapixel: round(r.secondsPerOutputMegapixel, 4) }];
      }),
    );
  });
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} else {
  const cell = (psnr: number, ssim: number): string => `${psnr.toFixed(2)} / ${ssim.toFixed(4).replace(/^0/, '')}`;
  const measured = ids.map((id, i) => [`**${id}** (ours)`, ...columns.map((key) => cell(result(key, i)!.meanPsnr, result(key, i)!.meanSsim))]);
  const published = Object.entries(PUBLISHED).map(([method, numbers]) => [
    method,
    ...columns.map((key) => {
      const n = numbers[key];
      return n === undefined ? '' : cell(n[0], n[1]);
    }),
  ]);
  const speed = ids.map((id, i) => [id, ...columns.map((key) => result(key, i)!.secondsPerOutputMegapixel.toPrecision(3))]);
  const lrSource = values['from-hr'] ? 'made from HR with `imresizeMatlab`' : 'the `LR_bicubic` files';
  const cpu = cpus();
  process.stdout.write(
    [
      `PSNR-Y (dB) / SSIM-Y, border shaved by the scale, mean over the set; LR: ${lrSource}. Published rows from \`../shared/eval/README.md\`.`,
      '',
      markdownTable(['method', ...columns], [...measured, ...published]),
      '',
      `Seconds per output megapixel (upscaling only), ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}:`,
      '',
      markdownTable(['method', ...columns], speed),
      '',
    ].join('\n'),
  );
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

/** `upscale models`: what can be named with -m, with measured quality and speed. */
import type { Command } from 'commander';
import { listModels } from '../models/registry.js';
import type { ModelDescriptor } from '../models/types.js';

export function registerModelsCommand(program: Command): void {
  program
    .command('models')
    .description('list the available models with their measured quality and speed')
    .option('--json', 'print as JSON', false)
    .action((options: { json: boolean }) => {
      const models = listModels();
      process.stdout.write(options.json ? `${JSON.stringify(models, null, 2)}\n` : formatModels(models));
    });
}

export function formatModels(models: readonly ModelDescriptor[]): string {
  const rows = models.map((m) => [
    m.id,
    m.kind === 'network' ? 'AI' : 'classical',
    m.scales === undefined ? 'any' : m.scales.map((s) => `x${s}`).join(' '),
    m.parameters === undefined ? '' : compact(m.parameters),
    quality(m, 'Set5 x4'),
    m.secondsPerMegapixel === undefined ? '' : `${m.secondsPerMegapixel.toPrecision(2)} s/MP`,
    [m.description, m.aliases?.length ? `(alias: ${m.aliases.join(', ')})` : ''].filter(Boolean).join(' '),
  ]);
  const header = ['id', 'kind', 'scales', 'params', 'Set5 x4 PSNR/SSIM', 'speed x4', 'description'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    'Built-in networks pick the variant for the factor asked (-m esrgan-thick -s 2 runs the x2 network); name one with',
    '-m esrgan-thick-x2. Speed: seconds per output megapixel on a 2-core CPU (docs/performance.md); quality:',
    'upscale eval on Set5 (docs/quality.md). Or give a path to your own .onnx model: upscale photo.jpg -m ./model.onnx',
    '',
  ].join('\n');
}

function quality(model: ModelDescriptor, key: string): string {
  const q = model.quality?.[key];
  return q === undefined ? '' : `${q.psnr.toFixed(2)} / ${q.ssim.toFixed(4)}`;
}

function compact(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}K` : String(n);
}

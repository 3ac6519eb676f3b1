/**
 * `upscale models [list|add|info|remove]`: what can be named with -m, with measured quality and speed, and the
 * user's library of imported models (PyTorch, safetensors, NCNN, ONNX files converted once and kept).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { isUpscaleError, UpscaleError, type UpscaleErrorCode } from '../errors.js';
import { importModelFile } from '../models/import.js';
import { addToLibrary, libraryDirectory, libraryEntry, removeFromLibrary, type LibraryEntry } from '../models/library.js';
import { builtinModels, DEFAULT_MODEL, isBuiltinName, listModels } from '../models/registry.js';
import type { ModelDescriptor } from '../models/types.js';

/** Failures of the request (exit 2) rather than of the machine (exit 1). */
const USAGE_CODES: ReadonlySet<UpscaleErrorCode> = new Set(['INVALID_OPTION', 'MODEL_NOT_FOUND', 'MODEL_INVALID']);

const EXAMPLES = `
Examples:
  upscale models                                  list every model (built in and yours)
  upscale models add ~/models/4x-UltraSharp.pth   convert and keep a model, as "4x-ultrasharp"
  upscale models add realesr-animevideov3-x4.param --name anime-video
  upscale photo.jpg -m 4x-ultrasharp              use it
  upscale models info 4x-ultrasharp               architecture, scale, parameters, source hash
  upscale models remove 4x-ultrasharp

Formats: PyTorch .pth/.pt/.ckpt, .safetensors (ESRGAN/RRDBNet, Compact, SPAN, SwinIR), NCNN .param + .bin,
ONNX. A model file also works directly: upscale photo.jpg -m ./RealESRGAN_x4plus.pth`;

export function registerModelsCommand(program: Command): void {
  const models = program.command('models').description('list, add, describe and remove models').addHelpText('after', EXAMPLES);

  models
    .command('list', { isDefault: true })
    .description('list the available models with their measured quality and speed')
    .option('--json', 'print as JSON', false)
    .action((options: { json: boolean }) => {
      const all = listModels();
      process.stdout.write(options.json ? `${JSON.stringify(all, null, 2)}\n` : formatModels(all));
    });

  const add = models
    .command('add')
    .description('convert a model file and add it to your library')
    .argument('<file>', 'a .pth, .pt, .ckpt, .safetensors, .param (NCNN, with its .bin beside it) or .onnx file')
    .option('--name <id>', 'the id to use it by (default: the file name)')
    .option('--json', 'print the entry as JSON', false)
    .exitOverride();
  add.action(async (file: string, options: { name?: string; json: boolean }) =>
    guarded(add, async () => {
      const entry = await addToLibrary(file, { ...(options.name === undefined ? {} : { name: options.name }), isTaken: isBuiltinName });
      process.stdout.write(options.json ? `${JSON.stringify(entry, null, 2)}\n` : `added ${entry.id}: ${summary(entry)}\nuse it with: upscale <image> -m ${entry.id}\n`);
    }),
  );

  const info = models
    .command('info')
    .description('describe a model: architecture, scale, parameters, source file hash')
    .argument('<id>', 'a library id, a built-in model id, or a model file')
    .option('--json', 'print as JSON', false)
    .exitOverride();
  info.action(async (id: string, options: { json: boolean }) =>
    guarded(info, async () => {
      const described = await describe(id);
      process.stdout.write(options.json ? `${JSON.stringify(described, null, 2)}\n` : formatInfo(described));
    }),
  );

  const remove = models
    .command('remove')
    .description('remove a model from your library')
    .argument('<id>', 'the library id')
    .exitOverride();
  remove.action(async (id: string) =>
    guarded(remove, async () => {
      const entry = await removeFromLibrary(id.toLowerCase());
      process.stdout.write(`removed ${entry.id}\n`);
    }),
  );
}

/** Runs a subcommand's work; request errors exit 2 through commander, others propagate (exit 1). */
async function guarded(command: Command, action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (isUpscaleError(error) && USAGE_CODES.has(error.code)) {
      // The request could not be carried out; the usage itself was right, so no pointer to --help.
      command.showHelpAfterError(false);
      command.error(`upscale: ${error.message}`, { exitCode: 2, code: 'commander.invalidArgument' });
    }
    throw error;
  }
}

async function describe(id: string): Promise<Record<string, unknown>> {
  const entry = libraryEntry(id.toLowerCase());
  if (entry !== undefined) return { ...entry, library: libraryDirectory() };
  const builtin = builtinModels().find((m) => m.id === id.toLowerCase() || m.aliases?.includes(id.toLowerCase()));
  if (builtin !== undefined) return { ...builtin };
  if (!existsSync(id)) {
    throw new UpscaleError('MODEL_NOT_FOUND', `unknown model "${id}": not in your library, not built in, and no such file (see upscale models)`);
  }
  const { info } = await importModelFile(id);
  return { ...info };
}

function summary(entry: Pick<LibraryEntry, 'architectureName' | 'scale' | 'parameters' | 'format'>): string {
  return `${entry.architectureName}, x${entry.scale}, ${entry.parameters.toLocaleString('en-US')} parameters (${entry.format})`;
}

function formatInfo(described: Record<string, unknown>): string {
  const entries = Object.entries(described).filter(([, v]) => v !== undefined);
  const width = Math.max(...entries.map(([k]) => k.length)) + 2;
  const lines = entries.map(([k, v]) => `${`${k}:`.padEnd(width)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return `${lines.join('\n')}\n`;
}

export function formatModels(models: readonly ModelDescriptor[]): string {
  const rows = models.map((m) => [
    m.id,
    m.scales === undefined ? 'any' : m.scales.map((s) => `x${s}`).join(' '),
    m.parameters === undefined ? '' : compact(m.parameters),
    quality(m, 'Set5 x4'),
    m.secondsPerMegapixel === undefined ? '' : `${m.secondsPerMegapixel.toPrecision(2)} s/MP`,
    denoise(m),
    m.license === undefined ? '' : (m.license.split(' (')[0] ?? ''),
    [m.suits ?? m.description, m.aliases?.length ? `(alias: ${m.aliases.join(', ')})` : ''].filter(Boolean).join(' '),
  ]);
  const header = ['id', 'scales', 'params', 'Set5 x4 PSNR/SSIM', 'speed x4', 'denoise', 'licence', 'for'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [
    line(header),
    ...rows.map(line),
    '',
    `Default: ${DEFAULT_MODEL}. For real photos: photo (fast) or photo-gan (cleaner edges, invented texture); clean`,
    'images and graphics: quality (most faithful) or fast; anime and illustrations: anime, or anime-fast for video.',
    '--denoise sets the strength where the column shows one (a range is a blend, a list the levels), --tta averages',
    'any network over 8 flips and rotations. Built-in networks pick the variant for the factor asked (-m quality -s 2',
    'runs the x2 network); name one with -m quality-x2. Speed: seconds per output megapixel on a 2-core CPU',
    '(npm run bench -- models, docs/performance.md); quality: upscale eval on Set5 (docs/quality.md; PSNR is the wrong',
    'yardstick for GAN and anime models). Licences of the shipped weights: models/LICENSES/. Add your own models',
    '(PyTorch, safetensors, NCNN, ONNX) with upscale models add <file>, or give a file: upscale photo.jpg -m ./4x.pth',
    '',
  ].join('\n');
}

function denoise(model: ModelDescriptor): string {
  if (model.denoise === undefined) return '';
  return model.denoiseLevels === undefined ? `0..1 (${model.denoise})` : `${model.denoiseLevels.join('/')} (${model.denoise})`;
}

function quality(model: ModelDescriptor, key: string): string {
  const q = model.quality?.[key];
  return q === undefined ? '' : `${q.psnr.toFixed(2)} / ${q.ssim.toFixed(4)}`;
}

function compact(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}K` : String(n);
}

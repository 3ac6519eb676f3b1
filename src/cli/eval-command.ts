/**
 * `upscale eval`: measures models on a super-resolution test set (PSNR-Y / SSIM-Y by the papers' protocol) and
 * prints a table or the JSON report. Thin over `evaluate()`; progress goes to stderr on a terminal only.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { isUpscaleError, type UpscaleErrorCode } from '../errors.js';
import { evaluate, evaluateNoReference, MAX_EVAL_SCALE, MIN_EVAL_SCALE, type EvalProgress } from '../eval/index.js';
import { formatNiqe, formatNoReferenceReport, formatPsnr, formatReport } from '../eval/report.js';
import { unitInterval } from './parsers.js';

interface EvalCliOptions {
  dataset?: string;
  inputs?: string;
  denoise?: number;
  tta: boolean;
  scale: number;
  model: string[];
  lr?: string;
  json: boolean;
  perImage: boolean;
  niqe: boolean;
}

/** Failures of the request itself (exit 2), as opposed to failures of the data (exit 1). */
const USAGE_CODES: ReadonlySet<UpscaleErrorCode> = new Set(['INVALID_OPTION', 'MODEL_NOT_FOUND', 'MODEL_INVALID']);

const EXAMPLES = `
Examples:
  upscale eval --dataset ../shared/eval/Set5/HR --scale 4 --model bicubic,lanczos3
  upscale eval -d Set14/HR -s 2 -m ./2x-model.onnx --lr Set14/LR_bicubic/X2 --per-image
  upscale eval -d Set5/HR -s 4 -m bicubic --json > set5-x4.json
  upscale eval -d Set5/HR -s 4 -m bicubic,fast --niqe
  upscale eval --inputs old-photos/ -s 4 -m bicubic,fast,photo --denoise 0.5

Protocol (as in published tables): HR cropped to a multiple of the scale; LR = MATLAB bicubic imresize of it
(or the --lr files); PSNR and SSIM on the BT.601 Y channel, grey as R = G = B, border of <scale> pixels shaved;
means over the images. s/MP: seconds of upscaling per output megapixel. --niqe adds the no-reference NIQE score
of the outputs (BasicSR's, Y channel, same border shaved; lower is better).
--inputs instead of --dataset: real low-resolution images with no ground truth, each enlarged by the scale and
scored by NIQE alone.

Exit status: 0 on success, 1 when an image cannot be read or paired, 2 for invalid usage or an unusable model.`;

/**
 * Adds the `eval` subcommand to the `upscale` program.
 *
 * Errors are one line on stderr. Usage errors (bad options, unknown model) go through commander with exit code 2
 * (thrown as a CommanderError when the program uses `exitOverride`); data errors are thrown, for the program's
 * top level to print, with exit code 1.
 *
 * @example
 * const program = new Command('upscale');
 * registerEvalCommand(program);
 * await program.parseAsync(process.argv);
 */
export function registerEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description('measure PSNR / SSIM (Y channel) of models on a super-resolution test set')
    .option('-d, --dataset <dir>', 'directory of ground-truth (HR) images')
    .option('--inputs <dir>', 'instead of --dataset: real low-resolution images without ground truth (NIQE only)')
    .requiredOption('-s, --scale <n>', `integer scale, ${MIN_EVAL_SCALE} to ${MAX_EVAL_SCALE}`, parseScale)
    .requiredOption('-m, --model <ids>', 'models to compare: ids or .onnx paths, comma-separated (or repeat the option)', collectModels)
    .option('--lr <dir>', 'ready-made LR images, <name>.png or <name>x<scale>.png (default: made from HR with MATLAB bicubic)')
    .option('--json', 'print the report as JSON on stdout', false)
    .option('--per-image', 'also list every image', false)
    .option('--niqe', 'also score the outputs with NIQE (no reference, lower is better)', false)
    .option('--denoise <0-1>', 'denoise strength for the models that have one (photo, photo-gan, anime)', unitInterval)
    .option('--tta', 'run every network as a self-ensemble (8 flips and rotations averaged)', false)
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError(false)
    .exitOverride()
    .action(async (options: EvalCliOptions) => {
      if ((options.dataset === undefined) === (options.inputs === undefined)) {
        command.error('upscale: give either --dataset (ground truth) or --inputs (no reference)', { exitCode: 2, code: 'commander.invalidArgument' });
      }
      const progress = createProgressLine(process.stderr.isTTY === true && !options.json);
      // Usage errors (bad options, unknown or unusable model) exit 2 through commander; data errors are thrown.
      const measure = async <T>(run: () => Promise<T>): Promise<T> => {
        try {
          return await run();
        } catch (error) {
          if (isUpscaleError(error) && USAGE_CODES.has(error.code)) {
            command.error(`upscale: ${error.message}`, { exitCode: 2, code: 'commander.invalidArgument' });
          }
          throw error;
        } finally {
          progress.clear();
        }
      };
      const { inputs, dataset } = options;
      const text =
        inputs !== undefined
          ? await measure(() =>
              evaluateNoReference({
                inputs,
                scale: options.scale,
                models: options.model,
                denoise: options.denoise,
                tta: options.tta,
                onImage: (model, index, total, result) => progress.line(`${model}: ${index + 1}/${total} ${result.name} NIQE ${formatNiqe(result.niqe)}`),
              }),
            ).then((report) => (options.json ? JSON.stringify(report, null, 2) + '\n' : formatNoReferenceReport(report, { perImage: options.perImage })))
          : await measure(() =>
              evaluate({
                dataset: dataset!,
                lr: options.lr,
                scale: options.scale,
                models: options.model,
                niqe: options.niqe,
                denoise: options.denoise,
                tta: options.tta,
                onProgress: (event) => progress.update(event),
              }),
            ).then((report) => (options.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report, { perImage: options.perImage })));
      process.stdout.write(text);
    });
}

function parseScale(value: string): number {
  const n = Number(value);
  if (!(value.trim() !== '' && Number.isInteger(n) && n >= MIN_EVAL_SCALE && n <= MAX_EVAL_SCALE)) {
    throw new InvalidArgumentError(`Expected an integer from ${MIN_EVAL_SCALE} to ${MAX_EVAL_SCALE}, got "${value}".`);
  }
  return n;
}

function collectModels(value: string, previous: string[] | undefined): string[] {
  const models = value.split(',').map((m) => m.trim());
  if (models.some((m) => m === '')) throw new InvalidArgumentError(`Expected model ids or paths separated by commas, got "${value}".`);
  return [...(previous ?? []), ...models];
}

/** One self-erasing status line on stderr (`bicubic 3/5 butterfly 27.31 dB`), or nothing off a terminal. */
function createProgressLine(enabled: boolean): { update(event: EvalProgress): void; line(text: string): void; clear(): void } {
  let shown = false;
  const write = (text: string): void => {
    process.stderr.write(`\r\x1b[K${text}`);
    shown = text !== '';
  };
  return {
    update(event) {
      if (!enabled) return;
      if (event.stage === 'model') write(`${event.model}: loading (model ${event.index + 1}/${event.total})`);
      else write(`${event.model}: ${event.index + 1}/${event.total} ${event.result.name} ${formatPsnr(event.result.psnr)} dB`);
    },
    line(text) {
      if (enabled) write(text);
    },
    clear() {
      if (enabled && shown) write('');
    },
  };
}

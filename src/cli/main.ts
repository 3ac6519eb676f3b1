/**
 * The `upscale` command: thin over the library. Results go to stdout (a line per file, or JSON with --json),
 * errors to stderr as one line each, progress to stderr on a terminal only.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isUpscaleError, terminalSafe } from '../errors.js';
import { removeStaleTemporaries } from '../files.js';
import { FILE_FORMATS, isFileFormat, type FileFormat } from '../image/index.js';
import type { SizeRequest } from '../pipeline/size.js';
import { createUpscaler, type UpscaleFileOptions } from '../upscaler.js';
import { VERSION } from '../version.js';
import { outputOptionProblem, planJobs, type Collision } from './inputs.js';
import { registerEvalCommand } from './eval-command.js';
import { registerModelsCommand } from './models-command.js';
import { registerVideoCommand } from './video-command.js';
import { registerServeCommand } from './serve-command.js';
import { createProgressView } from './progress.js';
import { box, positiveInt, positiveNumber, tileSize, unitInterval } from './parsers.js';

interface CliOptions {
  output?: string;
  scale?: number;
  model?: string;
  width?: number;
  height?: number;
  fit?: { width: number; height: number };
  format?: FileFormat;
  quality?: number;
  lossless?: boolean;
  tile?: number | 'auto';
  threads?: number;
  denoise?: number;
  tta: boolean;
  recursive: boolean;
  overwrite: boolean;
  provenance: boolean;
  metadata: boolean;
  keepDensity: boolean;
  maxPixels?: number;
  maxOutputPixels?: number;
  compression?: number;
  json: boolean;
  quiet: boolean;
}

type Status = 'ok' | 'skipped' | 'failed';
interface FileReport {
  input: string;
  output?: string;
  status: Status;
  /** Why a skipped input was skipped. */
  reason?: string;
  width?: number;
  height?: number;
  outputWidth?: number;
  outputHeight?: number;
  milliseconds?: number;
  error?: { code: string; message: string };
}

const EXAMPLES = `
Examples:
  upscale photo.jpg                       photo@4x.jpg beside it (default model, x4)
  upscale photo.jpg -s 2.5 -o big.png     any factor, any output format
  upscale photo.jpg --fit 3840x2160       largest size that fits in 4K
  upscale old.jpg --denoise 0.8           a noisy or JPEG-blocky photo: denoise as it enlarges
  upscale shot.jpg -m photo-gan           a GAN for real photos: clean edges, invented texture
  upscale art.png -m anime --denoise 0.5  anime and illustrations (Real-CUGAN), conservative denoise
  upscale chart.png -m quality -s 2       the most faithful detail on clean images (SPAN)
  upscale scans/ -r -o out/ -m bicubic    a whole tree, mirrored into out/
  upscale anim.gif -s 2                   animated GIF, WebP and APNG stay animated
  upscale video clip.mp4 -s 2             a video, with its audio and subtitles (see upscale video --help)
  upscale art.png -m ./4x-model.pth       your own model: .pth, .safetensors, NCNN .param, .onnx
  upscale models add 4x-UltraSharp.pth    keep it in your library (then -m 4x-ultrasharp)
  upscale models                          list the available models

Exit status: 0 when every input succeeded (or was skipped), 1 when any failed, 2 for invalid usage, 130 when cancelled.`;

export async function main(argv: readonly string[] = process.argv): Promise<number> {
  let exitCode = 0;
  const program = new Command('upscale')
    .description('Enlarge images with AI super-resolution or classical interpolation, on the CPU.')
    .version(VERSION)
    .argument('[inputs...]', 'image files or directories')
    .option('-o, --output <path>', 'output file (one input) or directory')
    .option('-s, --scale <factor>', 'enlargement factor, e.g. 2, 4 or 2.5 (default: the model\'s scale)', positiveNumber)
    .option('-m, --model <model>', 'model id (see `upscale models`) or a model file (.onnx, .pth, .safetensors, NCNN .param)')
    .option('--denoise <0-1>', 'denoise strength of photo, photo-gan and anime: 0 keeps grain and detail, 1 removes noise, blur and JPEG blocks (default: the model\'s)', unitInterval)
    .option('--tta', 'test-time augmentation: average the network over 8 flips and rotations (a little more faithful, 8x the time)', false)
    .option('--width <px>', 'output width (keeps the aspect ratio unless --height is given too)', positiveInt)
    .option('--height <px>', 'output height', positiveInt)
    .option('--fit <WxH>', 'largest size that fits in a box, e.g. 3840x2160', box)
    .addOption(new Option('-f, --format <format>', 'output format (default: from the output extension, or the input\'s)').choices(['png', 'jpeg', 'jpg', 'webp', 'tiff', 'avif', 'gif', 'apng']).argParser(formatName))
    .option('-q, --quality <1-100>', 'quality for JPEG, WebP and AVIF', quality)
    .option('--lossless', 'lossless WebP/AVIF')
    .option('--tile <px>', 'tile size in input pixels, or "auto"', tileSize)
    .option('--threads <n>', 'inference threads (default: all cores)', positiveInt)
    .option('-r, --recursive', 'descend into sub-directories, mirroring them in the output directory', false)
    .option('--overwrite', 'replace existing outputs (by default they are skipped)', false)
    .option('--no-provenance', 'do not record the upscaling in the output\'s XMP')
    .option('--no-metadata', 'drop the input\'s ICC profile, EXIF, XMP and IPTC')
    .option('--keep-density', 'keep the input\'s DPI (by default it grows with the pixels, keeping the print size)', false)
    .option('--max-pixels <n>', 'largest input accepted, in pixels (default: 200000000)', positiveInt)
    .option('--max-output-pixels <n>', 'largest output (and intermediate) image, in pixels (default: 400000000)', positiveInt)
    .option('--compression <0-9>', 'PNG compression level (default: 6)', compressionLevel)
    .option('--json', 'print results as JSON on stdout', false)
    .option('--quiet', 'print nothing but errors', false)
    .addHelpText('after', EXAMPLES)
    .enablePositionalOptions()
    .showHelpAfterError('(run upscale --help for usage)')
    .action(async (inputs: string[], options: CliOptions) => {
      if (inputs.length === 0) program.help({ error: true });
      exitCode = await runUpscale(inputs, options);
    });

  registerModelsCommand(program);
  registerEvalCommand(program);
  registerVideoCommand(program, (code) => {
    exitCode = code;
  });
  registerServeCommand(program, (code) => (exitCode = code));

  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (code === 'commander.help') return 2;
    if (code?.startsWith('commander.')) return 2;
    throw error;
  }
  return exitCode;
}

async function runUpscale(inputs: string[], options: CliOptions): Promise<number> {
  const size: SizeRequest = { scale: options.scale, width: options.width, height: options.height, fit: options.fit };
  const print = (line: string): void => {
    // File names come from the file system: escaped like error messages, so none can drive the terminal.
    if (!options.quiet && !options.json) process.stdout.write(`${terminalSafe(line)}\n`);
  };
  const fail = (message: string): void => {
    process.stderr.write(`upscale: ${terminalSafe(message)}\n`);
  };

  const outputProblem = outputOptionProblem(inputs, options.output);
  if (outputProblem !== undefined) {
    fail(outputProblem);
    return 2;
  }

  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let upscaler;
  try {
    upscaler = await createUpscaler({
      model: options.model,
      denoise: options.denoise,
      tta: options.tta,
      tileSize: options.tile,
      threads: options.threads,
      maxInputPixels: options.maxPixels,
      maxOutputPixels: options.maxOutputPixels,
    });
  } catch (error) {
    fail(isUpscaleError(error) ? error.message : String(error));
    return 2;
  }

  const reports: FileReport[] = [];
  try {
    const { jobs, errors, skipped, collisions } = await planJobs(inputs, {
      output: options.output,
      recursive: options.recursive,
      format: options.format,
      size,
      defaultScale: upscaler.model.scale,
    });
    if (collisions[0] !== undefined) {
      fail(collisionMessage(collisions[0], collisions.length - 1));
      return 2;
    }
    for (const e of errors) {
      fail(e.message);
      reports.push({ input: e.input, status: 'failed', error: { code: 'INPUT_NOT_FOUND', message: e.message } });
    }
    for (const s of skipped) {
      if (!options.quiet) process.stderr.write(`upscale: ${s.input}: skipped, ${s.reason}; name it on the command line to enlarge it again\n`);
      reports.push({ input: s.input, status: 'skipped', reason: s.reason });
    }
    // Temporaries left in the output directories by runs that were killed (their process is gone).
    for (const outDir of new Set(jobs.map((job) => dirname(job.output)))) await removeStaleTemporaries(outDir);
    const progress = createProgressView(process.stderr.isTTY === true && !options.quiet && !options.json);
    // A model that fails on its first input before any success is unusable: one line and exit 2, not N failures.
    let modelWorked = false;
    for (const [i, job] of jobs.entries()) {
      if (controller.signal.aborted) break;
      const fileOptions: UpscaleFileOptions = {
        ...size,
        format: options.format,
        quality: options.quality,
        lossless: options.lossless,
        compressionLevel: options.compression,
        overwrite: options.overwrite,
        provenance: options.provenance,
        keepMetadata: options.metadata,
        keepDensity: options.keepDensity,
        signal: controller.signal,
        onProgress: (event) => progress.update(event),
      };
      progress.start(jobs.length > 1 ? `[${i + 1}/${jobs.length}] ${job.input}` : job.input);
      try {
        mkdirSync(dirname(job.output), { recursive: true });
        const result = await upscaler.upscaleFile(job.input, job.output, fileOptions);
        progress.stop();
        modelWorked = true;
        print(`${job.input} -> ${job.output} (${result.inputSize.width}x${result.inputSize.height} -> ${result.outputSize.width}x${result.outputSize.height}, ${(result.milliseconds / 1000).toFixed(1)} s)`);
        reports.push({
          input: job.input,
          output: job.output,
          status: 'ok',
          width: result.inputSize.width,
          height: result.inputSize.height,
          outputWidth: result.outputSize.width,
          outputHeight: result.outputSize.height,
          milliseconds: result.milliseconds,
        });
      } catch (error) {
        progress.stop();
        if (isUpscaleError(error) && error.code === 'OUTPUT_EXISTS' && !options.overwrite) {
          print(`${job.input}: skipped, ${job.output} exists (use --overwrite to replace it)`);
          reports.push({ input: job.input, output: job.output, status: 'skipped', reason: 'output exists' });
          continue;
        }
        if (isUpscaleError(error) && error.code === 'ABORTED') break;
        if (isUpscaleError(error) && !modelWorked && (error.code === 'INFERENCE_FAILED' || error.code === 'MODEL_INVALID')) {
          const rest = jobs.length - i - 1;
          fail(`${error.message}; the model is unusable${rest > 0 ? `, so the other ${rest} input${rest === 1 ? ' was' : 's were'} not tried` : ''}`);
          return 2;
        }
        const message = isUpscaleError(error) ? error.message : `${job.input}: ${error instanceof Error ? error.message : String(error)}`;
        fail(message);
        reports.push({ input: job.input, output: job.output, status: 'failed', error: { code: isUpscaleError(error) ? error.code : 'INTERNAL', message } });
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await upscaler.dispose();
  }
  if (options.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  if (controller.signal.aborted) {
    fail('cancelled; no partial output was written');
    return 130;
  }
  return reports.some((r) => r.status === 'failed') ? 1 : 0;
}

/** One line naming the inputs that would be written to one output. */
function collisionMessage(collision: Collision, others: number): string {
  const names = collision.inputs.length === 2 ? collision.inputs.join(' and ') : `${collision.inputs.slice(0, -1).join(', ')} and ${collision.inputs.at(-1)!}`;
  const more = others === 0 ? '' : ` (and ${others} other output${others === 1 ? '' : 's'})`;
  const both = collision.inputs.length === 2 ? 'both' : 'all';
  return `${names} would ${both} be written to ${collision.output}${more}; nothing was done (run them separately with different -o, or rename one)`;
}

function quality(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError(`Expected an integer from 1 to 100, got "${value}".`);
  return n;
}

function compressionLevel(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new InvalidArgumentError(`Expected an integer from 0 to 9, got "${value}".`);
  return n;
}

function formatName(value: string): FileFormat {
  const name = value.toLowerCase();
  if (name === 'jpg') return 'jpeg';
  if (isFileFormat(name)) return name;
  throw new InvalidArgumentError(`Expected one of ${FILE_FORMATS.join(', ')}, got "${value}".`);
}


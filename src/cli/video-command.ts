/**
 * `upscale video`: enlarges a video through ffmpeg, every frame by the same pipeline as images. Thin over
 * upscaleVideo(); a progress bar (frames, frames per second, ETA) on a terminal, one result line otherwise.
 */
import { basename, dirname, extname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { isUpscaleError, type UpscaleErrorCode } from '../errors.js';
import type { SizeRequest } from '../pipeline/size.js';
import { DEFAULT_VIDEO_MODEL } from '../models/registry.js';
import { createUpscaler, type Upscaler } from '../upscaler.js';
import { DEFAULT_VIDEO_SCALE, isVideoContainer, locateFfmpeg, upscaleVideo, VIDEO_CODECS, workDirFor, type VideoCodec, type VideoProgress } from '../video/index.js';
import { formatDuration } from './progress.js';
import { sizeLabel } from './inputs.js';
import { box, nonNegativeInt, nonNegativeNumber, positiveInt, positiveNumber, tileSize, unitInterval } from './parsers.js';

interface VideoCliOptions {
  output?: string;
  scale?: number;
  width?: number;
  height?: number;
  fit?: { width: number; height: number };
  model?: string;
  denoise?: number;
  tta: boolean;
  codec?: VideoCodec;
  crf?: number;
  preset?: string;
  pixFmt?: string;
  tile?: number | 'auto';
  threads?: number;
  preview?: number;
  previewStart?: number;
  segmentFrames?: number;
  overwrite: boolean;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

/** Failures of the request or the set-up (exit 2), as opposed to failures of the input (exit 1). */
const USAGE_CODES: ReadonlySet<UpscaleErrorCode> = new Set(['INVALID_OPTION', 'MODEL_NOT_FOUND', 'MODEL_INVALID']);

const EXAMPLES = `
Examples:
  upscale video clip.mp4 -s 2                 clip@2x.mp4 beside it (model photo, x2)
  upscale video episode.mkv -m anime-fast     anime (Real-ESRGAN animevideo v3)
  upscale video old.avi -o big.mkv -m bicubic  any container ffmpeg reads; .mp4, .mov, .mkv or .webm out
  upscale video clip.mp4 --fit 1920x1080 --codec h265 --crf 20
  upscale video clip.mp4 --preview 5          5 seconds from the start, to clip@2x.preview.mp4

Audio, subtitles, chapters, attachments and metadata are copied unchanged; timestamps are kept exactly (variable
frame rate too). An interrupted run resumes where it stopped when the same command is run again.
Needs ffmpeg 4.1 or later and ffprobe: UPSCALE_FFMPEG / UPSCALE_FFPROBE, else the PATH (apt-get install ffmpeg,
brew install ffmpeg), else the npm packages (npm install @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe).

Exit status: 0 on success (or when the output exists), 1 when the input cannot be used or the output not written,
2 for invalid usage, a missing ffmpeg or encoder, or an unusable model, 130 when cancelled.`;

/**
 * Adds the `video` subcommand to the `upscale` program.
 *
 * @example
 * const program = new Command('upscale');
 * registerVideoCommand(program);
 * await program.parseAsync(['node', 'upscale', 'video', 'clip.mp4', '-s', '2']);
 */
export function registerVideoCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('video')
    .description('enlarge a video through ffmpeg, keeping its audio, subtitles, chapters and timing')
    .argument('<input>', 'video file')
    .option('-o, --output <path>', 'output file (default: <name>@<scale>x.<ext> beside the input)')
    .option('-s, --scale <factor>', `enlargement factor (default: ${DEFAULT_VIDEO_SCALE})`, positiveNumber)
    .option('--width <px>', 'output width (keeps the aspect ratio unless --height is given too)', positiveInt)
    .option('--height <px>', 'output height', positiveInt)
    .option('--fit <WxH>', 'largest size that fits in a box, e.g. 1920x1080', box)
    .option('-m, --model <model>', `model id (see \`upscale models\`) or a model file (default: ${DEFAULT_VIDEO_MODEL})`)
    .option('--denoise <0-1>', 'denoise strength of photo, photo-gan and anime (default: the model\'s)', unitInterval)
    .option('--tta', 'test-time augmentation: average the network over 8 flips and rotations (8x the time)', false)
    .addOption(new Option('--codec <codec>', 'video codec of the output').choices(VIDEO_CODECS).default('h264'))
    .option('--crf <n>', 'quality: lower is better and larger (default: 18 h264, 22 h265, 35 av1)', nonNegativeInt)
    .option('--preset <name>', 'encoder preset (default: medium; a number for av1)')
    .option('--pix-fmt <fmt>', 'output pixel format (default: yuv420p; yuv444p for ffv1)')
    .option('--tile <px>', 'tile size in input pixels, or "auto"', tileSize)
    .option('--threads <n>', 'inference threads (default: all cores)', positiveInt)
    .option('--preview <seconds>', 'upscale only this many seconds, to <output name>.preview.<ext>', positiveNumber)
    .option('--preview-start <seconds>', 'where the preview starts (default: 0)', nonNegativeNumber)
    .addOption(new Option('--segment-frames <n>', 'frames per resumable segment').argParser(positiveInt).hideHelp())
    .option('--overwrite', 'replace an existing output', false)
    .option('--json', 'print the result as JSON on stdout', false)
    .option('--quiet', 'print nothing but errors', false)
    .option('--verbose', 'print progress lines even when stderr is not a terminal', false)
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .action(async (input: string, options: VideoCliOptions) => {
      setExitCode(await runVideo(input, options));
    });
}

async function runVideo(input: string, options: VideoCliOptions): Promise<number> {
  const fail = (message: string): void => {
    process.stderr.write(`upscale: ${message}\n`);
  };
  const messageOf = (error: unknown): string => {
    if (isUpscaleError(error)) return error.file === undefined ? `${input}: ${error.message}` : error.message;
    return `${input}: ${error instanceof Error ? error.message : String(error)}`;
  };
  const size: SizeRequest = { scale: options.scale, width: options.width, height: options.height, fit: options.fit };
  const sized = options.scale !== undefined || options.width !== undefined || options.height !== undefined || options.fit !== undefined;
  let output = options.output ?? defaultOutput(input, sizeLabel(size, DEFAULT_VIDEO_SCALE));
  if (options.previewStart !== undefined && options.preview === undefined) {
    fail('--preview-start needs --preview <seconds>');
    return 2;
  }
  if (options.preview !== undefined) output = previewName(output);

  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  // Should the event loop ever empty while a child's pipe is awaited, fail loudly instead of exiting with 0.
  const onBeforeExit = (): void => {
    fail(`${input}: internal error: stopped before the output was written`);
    process.exitCode = 1;
  };
  process.once('beforeExit', onBeforeExit);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let upscaler: Upscaler | undefined;
  const view = createVideoProgress(!options.quiet && !options.json && process.stderr.isTTY === true, options.verbose && !options.quiet);
  try {
    const tools = await locateFfmpeg();
    upscaler = await createUpscaler({ model: options.model ?? DEFAULT_VIDEO_MODEL, denoise: options.denoise, tta: options.tta, tileSize: options.tile, threads: options.threads });
    const result = await upscaleVideo(upscaler, input, output, {
      ...(sized ? size : { scale: DEFAULT_VIDEO_SCALE }),
      codec: options.codec,
      crf: options.crf,
      preset: options.preset,
      pixFmt: options.pixFmt,
      overwrite: options.overwrite,
      range: options.preview === undefined ? undefined : { start: options.previewStart ?? 0, duration: options.preview },
      segmentFrames: options.segmentFrames,
      signal: controller.signal,
      tools,
      onProgress: (event) => view.update(event, input),
    });
    view.stop();
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ status: 'ok', ...result }, null, 2)}\n`);
    } else if (!options.quiet) {
      const { inputSize: a, outputSize: b } = result;
      const resumed = result.resumedFrames > 0 ? `, ${result.resumedFrames} resumed` : '';
      process.stdout.write(`${input} -> ${output} (${a.width}x${a.height} -> ${b.width}x${b.height}, ${result.frames} frames${resumed}, ${result.encoder}, ${(result.milliseconds / 1000).toFixed(1)} s)\n`);
    }
    return 0;
  } catch (error) {
    view.stop();
    if (isUpscaleError(error) && error.code === 'ABORTED') {
      fail(`cancelled; no output was written (finished segments are kept in ${workDirFor(output)}: run the same command again to resume)`);
      return 130;
    }
    if (isUpscaleError(error) && error.code === 'OUTPUT_EXISTS' && !options.overwrite) {
      if (!options.quiet) process.stdout.write(`${input}: skipped, ${output} exists (use --overwrite to replace it)\n`);
      return 0;
    }
    fail(messageOf(error));
    if (options.json) process.stdout.write(`${JSON.stringify({ status: 'failed', input, output, error: { code: isUpscaleError(error) ? error.code : 'INTERNAL', message: messageOf(error) } }, null, 2)}\n`);
    const setup = isUpscaleError(error) && (USAGE_CODES.has(error.code) || error.code === 'DEPENDENCY_MISSING');
    return setup ? 2 : 1;
  } finally {
    process.off('beforeExit', onBeforeExit);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await upscaler?.dispose();
  }
}

/** `<name>@<label>.<ext>` beside the input; inputs in containers we cannot write (.avi, .mpg...) get .mkv. */
function defaultOutput(input: string, label: string): string {
  const ext = extname(input);
  const outExt = isVideoContainer(input) ? ext : '.mkv';
  return join(dirname(input), `${basename(input, ext)}@${label}${outExt}`);
}

function previewName(output: string): string {
  const ext = extname(output);
  return join(dirname(output), `${basename(output, ext)}.preview${ext}`);
}

/** A bar with frames, frames per second and ETA on a terminal; plain lines with --verbose elsewhere. */
function createVideoProgress(tty: boolean, verbose: boolean): { update(event: VideoProgress, input: string): void; stop(): void } {
  let bar: cliProgress.SingleBar | undefined;
  let lastLine = 0;
  return {
    update(event, input) {
      if (event.stage === 'start') {
        if (event.roundedFrom !== undefined && (tty || verbose)) {
          process.stderr.write(`upscale: ${input}: ${event.roundedFrom.width}x${event.roundedFrom.height} rounded up to ${event.outputSize.width}x${event.outputSize.height} (the pixel format needs even sizes)\n`);
        }
        if (verbose && !tty) {
          process.stderr.write(`${input}: ${event.info.width}x${event.info.height} -> ${event.outputSize.width}x${event.outputSize.height}, ${event.totalFrames} frames${event.resumedFrames > 0 ? `, resuming after ${event.resumedFrames}` : ''}\n`);
        }
        if (tty) {
          bar = new cliProgress.SingleBar(
            { stream: process.stderr, format: '{label} |{bar}| {value}/{total} frames | {fps} fps | ETA {eta_text}', hideCursor: true, clearOnComplete: true, barsize: 24 },
            cliProgress.Presets.shades_classic,
          );
          bar.start(event.totalFrames, event.resumedFrames, { label: input, fps: '--', eta_text: '--' });
        }
      } else if (event.stage === 'frame') {
        bar?.update(event.done, { fps: event.fps.toFixed(1), eta_text: formatDuration(event.etaMs) });
        if (verbose && !tty && (performance.now() - lastLine > 2000 || event.done === event.total)) {
          lastLine = performance.now();
          process.stderr.write(`${input}: ${event.done}/${event.total} frames, ${event.fps.toFixed(1)} fps, ETA ${formatDuration(event.etaMs)}\n`);
        }
      } else if (event.stage === 'mux') {
        if (verbose && !tty) process.stderr.write(`${input}: writing the output\n`);
      }
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}


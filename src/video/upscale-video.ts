/**
 * upscaleVideo(): decode with ffmpeg into raw RGB frames on a pipe, enlarge every frame with an Upscaler, encode
 * segments of N frames (each its own ffmpeg, fed a Matroska stream that carries every frame's original timestamp),
 * then concatenate the segments and copy the input's other streams, chapters and metadata into the output.
 */
import { access, link, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { throwIfAborted, UpscaleError } from '../errors.js';
import { removeStaleTemporaries, temporaryPathFor } from '../files.js';
import { resolveTargetSize, validateSizeRequest, type Size, type SizeRequest } from '../pipeline/size.js';
import type { Upscaler } from '../upscaler.js';
import { chooseEncoder, chromaSubsampling, encoderArgs, muxerFor, type EncoderSettings, type VideoCodec } from './codecs.js';
import { lastLine, locateFfmpeg, passthroughArgs, runTool, startTool, type FfmpegTools, type ToolProcess } from './ffmpeg.js';
import { FrameReader, matroskaFrame, matroskaHeader, rasterToBgr, rgbFrameToRaster } from './frames.js';
import { probeFrameTimes, probeVideo, type VideoInfo } from './probe.js';
import { hashSettings, openWorkDir, workDirFor, type WorkDir } from './segments.js';

/** Cumulative milliseconds the pipeline spent waiting on each stage. */
export interface StageTiming {
  /** Waiting for decoded frames from ffmpeg. */
  decodeMs: number;
  /** Upscaling frames (inference or resampling). */
  inferenceMs: number;
  /** Handing frames to the encoder and finishing segments. */
  encodeMs: number;
}

export type VideoProgress =
  | {
      readonly stage: 'start';
      readonly info: VideoInfo;
      readonly outputSize: Size;
      /** The size asked for, when it was rounded up to suit the pixel format's chroma subsampling. */
      readonly roundedFrom: Size | undefined;
      readonly totalFrames: number;
      /** Frames already encoded by an interrupted run and reused. */
      readonly resumedFrames: number;
    }
  | {
      readonly stage: 'frame';
      /** Frames finished, including resumed ones, and the total. */
      readonly done: number;
      readonly total: number;
      /** Frames per second upscaled by this run. */
      readonly fps: number;
      readonly elapsedMs: number;
      readonly etaMs: number | undefined;
      readonly timing: Readonly<StageTiming>;
    }
  | { readonly stage: 'segment'; readonly index: number; readonly total: number }
  | { readonly stage: 'mux' };

export interface UpscaleVideoOptions extends SizeRequest {
  /** Codec of the output video stream. @default 'h264' */
  codec?: VideoCodec | undefined;
  /** Constant rate factor (lower is better and larger). @default 18 (h264), 22 (h265), 35 (av1) */
  crf?: number | undefined;
  /** Encoder preset. @default 'medium' (x264, x265), 8 (SVT-AV1) */
  preset?: string | undefined;
  /** Output pixel format. @default 'yuv420p' ('yuv444p' for ffv1) */
  pixFmt?: string | undefined;
  /** Replace an existing output. @default false */
  overwrite?: boolean | undefined;
  /** Only this excerpt of the input, in seconds. */
  range?: { start: number; duration: number } | undefined;
  /** Frames per resumable segment. @default 250 */
  segmentFrames?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: VideoProgress) => void) | undefined;
  /** ffmpeg to use; found with locateFfmpeg() by default. */
  tools?: FfmpegTools | undefined;
}

export interface UpscaleVideoResult {
  readonly input: string;
  readonly output: string;
  readonly inputSize: Size;
  readonly outputSize: Size;
  readonly roundedFrom: Size | undefined;
  readonly frames: number;
  readonly resumedFrames: number;
  readonly codec: VideoCodec;
  readonly encoder: string;
  readonly milliseconds: number;
  readonly timing: Readonly<StageTiming>;
}

/** When nothing is asked, video is enlarged x2 (x4 of SD footage is rarely what anyone wants to wait for). */
export const DEFAULT_VIDEO_SCALE = 2;
const DEFAULT_SEGMENT_FRAMES = 250;
const SWS_FLAGS = 'bicubic+accurate_rnd+full_chroma_int';

/**
 * @example
 * const upscaler = await createUpscaler({ model: 'fast' });
 * await upscaleVideo(upscaler, 'clip.mp4', 'clip@2x.mp4', { scale: 2, onProgress: (e) => console.log(e) });
 * await upscaler.dispose();
 */
export async function upscaleVideo(upscaler: Upscaler, input: string, output: string, options: UpscaleVideoOptions = {}): Promise<UpscaleVideoResult> {
  const started = performance.now();
  const { signal } = options;
  validateSizeRequest(options);
  const segmentFrames = options.segmentFrames ?? DEFAULT_SEGMENT_FRAMES;
  if (!(Number.isInteger(segmentFrames) && segmentFrames >= 1)) {
    throw new UpscaleError('INVALID_OPTION', `Expected segmentFrames to be a positive integer, got ${String(segmentFrames)}`);
  }
  if (options.range !== undefined && !(options.range.start >= 0 && options.range.duration > 0)) {
    throw new UpscaleError('INVALID_OPTION', `Expected a preview start of at least 0 and a duration above 0, got ${options.range.start} and ${options.range.duration}`);
  }
  const tools = options.tools ?? (await locateFfmpeg());
  const codec = options.codec ?? 'h264';
  const settings = chooseEncoder(tools, codec, options);
  const muxer = muxerFor(output, codec);
  if (resolve(input) === resolve(output)) {
    throw new UpscaleError('INVALID_OPTION', 'output would overwrite the input; choose another output name', { file: input });
  }
  if (!options.overwrite && (await exists(output))) {
    throw new UpscaleError('OUTPUT_EXISTS', 'output file exists (use --overwrite to replace it)', { file: output });
  }
  throwIfAborted(signal);

  const info = await probeVideo(tools, input, signal);
  const times = await probeFrameTimes(tools, info, signal);
  throwIfAborted(signal);
  const [first, last] = frameRange(times.ptsUs, options.range);
  if (last <= first) {
    throw new UpscaleError('INVALID_OPTION', `the preview starts after the last frame (the video lasts ${(times.endUs / 1e6).toFixed(2)} s)`, { file: input });
  }
  const total = last - first;

  const asked = resolveTargetSize(info, hasSize(options) ? options : { scale: DEFAULT_VIDEO_SCALE }, DEFAULT_VIDEO_SCALE);
  const [sx, sy] = chromaSubsampling(settings.pixFmt);
  const target = { width: Math.ceil(asked.width / sx) * sx, height: Math.ceil(asked.height / sy) * sy };
  const roundedFrom = target.width !== asked.width || target.height !== asked.height ? asked : undefined;

  const segmentCount = Math.ceil(total / segmentFrames);
  const work = await openWorkDir(workDirFor(output), {
    version: 1,
    input: { path: resolve(input), bytes: info.bytes, mtimeMs: info.mtimeMs },
    settingsHash: hashSettings({ model: upscaler.model.id, denoise: upscaler.model.denoise, tta: upscaler.model.tta, target, settings, first, last, ffmpeg: tools.version }),
    frames: total,
    segmentFrames,
  });
  const segmentSize = (k: number): number => Math.min(segmentFrames, total - k * segmentFrames);
  let resumedFrames = 0;
  for (const k of work.done) if (k < segmentCount) resumedFrames += segmentSize(k);
  options.onProgress?.({ stage: 'start', info, outputSize: target, roundedFrom, totalFrames: total, resumedFrames });

  const timing: StageTiming = { decodeMs: 0, inferenceMs: 0, encodeMs: 0 };
  const ptsUs = times.ptsUs;
  const originUs = ptsUs[first]!;
  const endOfRange = last < ptsUs.length ? ptsUs[last]! : times.endUs;
  // The container is told by the extension, so the temporary name keeps it; one left by a killed run goes now.
  await removeStaleTemporaries(dirname(output));
  const tempOutput = temporaryPathFor(output, { keepExtension: true });

  let decoder: ToolProcess | undefined;
  let encoder: { process: ToolProcess; index: number } | undefined;
  const onAbort = (): void => {
    decoder?.kill();
    encoder?.process.kill();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (resumedFrames < total) {
      decoder = startDecoder(tools, info);
      const reader = new FrameReader(decoder.child.stdout!, info.width * info.height * 3);
      const loopStarted = performance.now();
      let upscaled = 0;
      for (let i = 0; i < last; i++) {
        let t = performance.now();
        const frame = await reader.next();
        timing.decodeMs += performance.now() - t;
        throwIfAborted(signal);
        if (frame === null) {
          const exit = await decoder.exited;
          throwIfAborted(signal);
          const why = exit.code === 0 ? 'the stream ended early' : `ffmpeg: ${lastLine(decoder.stderr())}`;
          throw new UpscaleError('INPUT_CORRUPT', `decoding stopped at frame ${i + 1} of ${ptsUs.length} (${why})`, { file: input });
        }
        if (i < first) continue;
        const k = Math.floor((i - first) / segmentFrames);
        if (work.done.has(k)) continue;
        if (encoder === undefined) {
          encoder = { process: startEncoder(tools, settings, info, work.partialPath(k)), index: k };
          encoder.process.child.stdin!.write(matroskaHeader(target.width, target.height));
        }
        t = performance.now();
        const pixels = await upscaler.upscale(rgbFrameToRaster(frame, info.width, info.height), { width: target.width, height: target.height, signal });
        timing.inferenceMs += performance.now() - t;
        t = performance.now();
        await writeFrame(encoder.process, matroskaFrame(ptsUs[i]! - originUs, rasterToBgr(pixels)), output);
        timing.encodeMs += performance.now() - t;
        upscaled++;
        const done = resumedFrames + upscaled;
        if ((i - first + 1) % segmentFrames === 0 || i === last - 1) {
          t = performance.now();
          await finishSegment(encoder.process, output);
          // ffmpeg can exit cleanly after a failed write (a full disk): a segment counts only when it is whole.
          const frames = await countVideoPackets(tools, work.partialPath(k));
          if (frames !== segmentSize(k)) {
            throw new UpscaleError('OUTPUT_FAILED', `encoding failed: a segment holds ${frames} of its ${segmentSize(k)} frames (is the disk full?)`, { file: output });
          }
          await work.commit(k);
          timing.encodeMs += performance.now() - t;
          encoder = undefined;
          options.onProgress?.({ stage: 'segment', index: k, total: segmentCount });
        }
        const elapsedMs = performance.now() - loopStarted;
        const fps = (upscaled * 1000) / Math.max(elapsedMs, 1);
        options.onProgress?.({ stage: 'frame', done, total, fps, elapsedMs, etaMs: fps > 0 ? ((total - done) / fps) * 1000 : undefined, timing: { ...timing } });
      }
      // A preview stops reading early; the whole video must decode to its end without error.
      if (last < ptsUs.length) decoder.kill();
      const exit = await decoder.exited;
      throwIfAborted(signal);
      if (last === ptsUs.length && exit.code !== 0) {
        throw new UpscaleError('INPUT_CORRUPT', `decoding failed (ffmpeg: ${lastLine(decoder.stderr())})`, { file: input });
      }
    }

    options.onProgress?.({ stage: 'mux' });
    const list = ['ffconcat version 1.0'];
    for (let k = 0; k < segmentCount; k++) {
      const startUs = ptsUs[first + k * segmentFrames]!;
      const endUs = k === segmentCount - 1 ? endOfRange : ptsUs[first + (k + 1) * segmentFrames]!;
      list.push(`file '${basename(work.segmentPath(k))}'`, `duration ${((endUs - startUs) / 1e6).toFixed(6)}`);
    }
    await writeFile(join(work.path, 'segments.ffconcat'), `${list.join('\n')}\n`);
    const t = performance.now();
    await mux(tools, { info, work, muxer, output, settings, tempOutput, originUs, range: options.range === undefined ? undefined : { startUs: originUs, durationUs: endOfRange - originUs }, signal });
    throwIfAborted(signal);
    const written = await countVideoPackets(tools, tempOutput);
    if (written !== total) {
      throw new UpscaleError('OUTPUT_FAILED', `the output has ${written} video frames where the input has ${total}`, { file: output });
    }
    await moveIntoPlace(tempOutput, output, options.overwrite ?? false);
    timing.encodeMs += performance.now() - t;
    await work.remove();
  } catch (error) {
    decoder?.kill();
    encoder?.process.kill();
    if (encoder !== undefined) await encoder.process.exited;
    await rm(tempOutput, { force: true });
    if (encoder !== undefined) await rm(work.partialPath(encoder.index), { force: true });
    if (work.done.size === 0) await work.remove();
    // Children killed on cancellation fail in their own ways; the cause is the cancellation.
    if (signal?.aborted) throw new UpscaleError('ABORTED', 'cancelled', { cause: error });
    const errno = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof UpscaleError) && typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) {
      const reason = errno === 'ENOSPC' ? 'no space left on the disk' : errno;
      throw new UpscaleError('OUTPUT_FAILED', `cannot write the output or its work files (${reason})`, { file: output, cause: error });
    }
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return {
    input,
    output,
    inputSize: { width: info.width, height: info.height },
    outputSize: target,
    roundedFrom,
    frames: total,
    resumedFrames,
    codec,
    encoder: settings.encoder,
    milliseconds: Math.round(performance.now() - started),
    timing,
  };
}

function hasSize(request: SizeRequest): boolean {
  return request.scale !== undefined || request.width !== undefined || request.height !== undefined || request.fit !== undefined;
}

/** The frame indices [first, last) of an excerpt, or of the whole video. */
function frameRange(ptsUs: readonly number[], range: { start: number; duration: number } | undefined): [number, number] {
  if (range === undefined) return [0, ptsUs.length];
  const origin = ptsUs[0]!;
  const from = origin + range.start * 1e6;
  const to = from + range.duration * 1e6;
  let first = ptsUs.findIndex((t) => t >= from - 1);
  if (first < 0) first = ptsUs.length;
  let last = ptsUs.findIndex((t) => t >= to - 1);
  if (last < 0) last = ptsUs.length;
  return [first, Math.max(first, last)];
}

/** Names of swscale's colour matrices for ffmpeg's colorspace tags. */
function swsMatrix(matrix: string): string | undefined {
  if (matrix === 'bt709') return 'bt709';
  if (matrix === 'bt470bg' || matrix === 'smpte170m') return 'bt601';
  if (matrix === 'fcc' || matrix === 'smpte240m') return matrix;
  if (matrix === 'bt2020nc' || matrix === 'bt2020c') return 'bt2020';
  return undefined;
}

/**
 * The YCbCr matrix of the input: its tag, or what players assume for untagged video (BT.601 below 720 lines,
 * BT.709 from there), so that an untagged SD clip enlarged to HD keeps its colours.
 */
function inputMatrix(info: VideoInfo): string {
  if (info.colour.matrix !== undefined && swsMatrix(info.colour.matrix) !== undefined) return info.colour.matrix;
  return Math.min(info.codedWidth, info.codedHeight) >= 720 ? 'bt709' : 'smpte170m';
}

function startDecoder(tools: FfmpegTools, info: VideoInfo): ToolProcess {
  const range = info.colour.range === 'pc' ? 'full' : 'limited';
  const scale = `scale=in_color_matrix=${swsMatrix(inputMatrix(info))}:in_range=${range}:flags=${SWS_FLAGS},format=rgb24`;
  // Autorotation stays on: frames arrive upright and the output needs no display matrix.
  const args = ['-nostdin', '-v', 'error', '-i', info.file, '-map', `0:${info.streamIndex}`, ...passthroughArgs(tools), '-vf', scale, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  return startTool(tools.ffmpeg, args, ['ignore', 'pipe', 'pipe']);
}

function startEncoder(tools: FfmpegTools, settings: EncoderSettings, info: VideoInfo, path: string): ToolProcess {
  const isRgb = /^(gbr|rgb|bgr)/.test(settings.pixFmt);
  const matrix = inputMatrix(info);
  const range = info.colour.range ?? 'tv';
  const filters = [
    isRgb ? `scale=flags=${SWS_FLAGS}` : `scale=out_color_matrix=${swsMatrix(matrix)}:out_range=${range === 'pc' ? 'full' : 'limited'}:flags=${SWS_FLAGS}`,
    `format=${settings.pixFmt}`,
    `setsar=${info.sampleAspect[0]}/${info.sampleAspect[1]}`,
  ];
  const colour: string[] = [];
  if (!isRgb) colour.push('-colorspace', matrix, '-color_range', range);
  if (info.colour.primaries !== undefined) colour.push('-color_primaries', info.colour.primaries);
  // ffprobe prints some transfer curves by other names than ffmpeg's option accepts.
  const transfer = info.colour.transfer === 'bt470m' ? 'gamma22' : info.colour.transfer === 'bt470bg' ? 'gamma28' : info.colour.transfer;
  if (transfer !== undefined) colour.push('-color_trc', transfer);
  const args = [
    '-nostdin', '-v', 'error', '-y',
    '-f', 'matroska', '-i', 'pipe:0',
    '-map', '0:v:0',
    // Every frame kept, each with its own timestamp, in the input's microsecond time base.
    ...passthroughArgs(tools), '-enc_time_base:v', '-1',
    '-vf', filters.join(','),
    ...encoderArgs(settings),
    ...colour,
    '-f', 'nut', path,
  ];
  return startTool(tools.ffmpeg, args, ['pipe', 'ignore', 'pipe']);
}

async function writeFrame(encoder: ToolProcess, parts: Buffer[], output: string): Promise<void> {
  const stdin = encoder.child.stdin as Writable;
  let ok = true;
  for (const part of parts) ok = stdin.write(part);
  if (ok) return;
  await new Promise<void>((resolvePromise, reject) => {
    const onDrain = (): void => {
      cleanup();
      resolvePromise();
    };
    const onExit = (): void => {
      cleanup();
      reject(encoderFailure(encoder, output));
    };
    const cleanup = (): void => {
      stdin.off('drain', onDrain);
      encoder.child.off('close', onExit);
    };
    stdin.once('drain', onDrain);
    encoder.child.once('close', onExit);
  });
}

async function finishSegment(encoder: ToolProcess, output: string): Promise<void> {
  encoder.child.stdin!.end();
  const exit = await encoder.exited;
  if (exit.code !== 0) throw encoderFailure(encoder, output);
}

function encoderFailure(encoder: ToolProcess, output: string): UpscaleError {
  return new UpscaleError('OUTPUT_FAILED', `encoding failed (ffmpeg: ${lastLine(encoder.stderr())})`, { file: output });
}

interface MuxJob {
  info: VideoInfo;
  output: string;
  work: WorkDir;
  muxer: string;
  settings: EncoderSettings;
  tempOutput: string;
  originUs: number;
  range: { startUs: number; durationUs: number } | undefined;
  signal: AbortSignal | undefined;
}

/** Concatenates the segments and copies every other stream, the chapters and the metadata from the input. */
async function mux(tools: FfmpegTools, job: MuxJob): Promise<void> {
  const { info, range } = job;
  const isMp4 = job.muxer === 'mp4' || job.muxer === 'mov';
  const offset = range === undefined && job.originUs !== 0 ? ['-itsoffset', (job.originUs / 1e6).toFixed(6)] : [];
  const cut = range === undefined ? [] : ['-ss', (range.startUs / 1e6).toFixed(6), '-t', (range.durationUs / 1e6).toFixed(6)];
  const args = [
    '-nostdin', '-v', 'error', '-y',
    ...offset, '-f', 'concat', '-safe', '0', '-i', join(job.work.path, 'segments.ffconcat'),
    ...cut, '-i', info.file,
    // Data streams are left out: MP4 chapter tracks appear as one (the chapters are written anew) and others
    // (timecode, telemetry) do not survive a copy into another container reliably.
    '-map', '0:v:0', '-map', '1', '-map', '-1:v', '-map', '-1:d',
    '-c', 'copy',
    '-map_metadata', '1', '-map_chapters', range === undefined ? '1' : '-1',
    ...(isMp4 ? ['-video_track_timescale', String(mp4Timescale(info))] : []),
    ...(isMp4 && job.settings.codec === 'h265' ? ['-tag:v', 'hvc1'] : []),
    '-f', job.muxer, job.tempOutput,
  ];
  const result = await runTool(tools.ffmpeg, args, { signal: job.signal });
  if (result.code !== 0) {
    throw new UpscaleError('OUTPUT_FAILED', `cannot write the output (ffmpeg: ${lastLine(result.stderr)})`, { file: job.output });
  }
}

/** The input's own time base when it is 1/n, so that timestamps come out exactly as they went in. */
function mp4Timescale(info: VideoInfo): number {
  const [num, den] = info.timeBase;
  return num === 1 && den >= 1000 && den <= 10_000_000 ? den : 90000;
}

async function countVideoPackets(tools: FfmpegTools, file: string): Promise<number> {
  if (!(await exists(file))) return 0;
  const r = await runTool(tools.ffprobe, ['-v', 'error', '-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file]);
  const n = Number(r.stdout.toString('utf8').trim().split(/\s+/)[0]);
  return r.code === 0 && Number.isInteger(n) ? n : 0;
}

async function moveIntoPlace(temp: string, path: string, overwrite: boolean): Promise<void> {
  try {
    if (overwrite) {
      await rename(temp, path);
      return;
    }
    // link() fails when the name exists, so a file that appeared meanwhile is never replaced.
    await link(temp, path);
    await rm(temp, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UpscaleError('OUTPUT_EXISTS', 'output file exists (use --overwrite to replace it)', { file: path, cause: error });
    throw new UpscaleError('OUTPUT_FAILED', `cannot write output (${code ?? String(error)})`, { file: path, cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * ffprobe → VideoInfo: the first video stream (size, orientation, pixel format, colour tags, time base), the other
 * streams, and the exact presentation timestamp of every frame.
 */
import { stat } from 'node:fs/promises';
import { UpscaleError } from '../errors.js';
import { lastLine, runTool, type FfmpegTools } from './ffmpeg.js';

export interface ColourTags {
  /** ffmpeg names, e.g. `bt709`, `bt470bg`, `smpte170m`; undefined when the file does not say. */
  readonly primaries: string | undefined;
  readonly transfer: string | undefined;
  readonly matrix: string | undefined;
  /** `tv` (limited) or `pc` (full). */
  readonly range: string | undefined;
}

export interface StreamSummary {
  readonly index: number;
  readonly type: string;
  readonly codec: string;
}

export interface VideoInfo {
  readonly file: string;
  readonly bytes: number;
  readonly mtimeMs: number;
  readonly container: string;
  /** Index of the video stream that is upscaled (the first that is not cover art). */
  readonly streamIndex: number;
  readonly codec: string;
  /** Stored size of the frames. */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /** Clockwise rotation the player applies (0, 90, 180, 270); decoding applies it to the frames. */
  readonly rotation: 0 | 90 | 180 | 270;
  /** Size of the frames as decoded, after the rotation. */
  readonly width: number;
  readonly height: number;
  /** Sample (pixel) aspect ratio as [num, den]; [1, 1] for square pixels. */
  readonly sampleAspect: readonly [number, number];
  readonly pixFmt: string;
  readonly colour: ColourTags;
  /** Stream time base as [num, den]. */
  readonly timeBase: readonly [number, number];
  /** Average frame rate (frames per second), for estimates only. */
  readonly fps: number;
  /** Container duration in seconds, when known. */
  readonly duration: number | undefined;
  readonly streams: readonly StreamSummary[];
}

export interface FrameTimes {
  /** Presentation time of every frame in microseconds, in decoding output order (ascending). */
  readonly ptsUs: readonly number[];
  /** When the last frame ends (its pts + its duration), in microseconds. */
  readonly endUs: number;
}

interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  codec_tag_string?: string;
  width?: number;
  height?: number;
  coded_width?: number;
  pix_fmt?: string;
  sample_aspect_ratio?: string;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
  time_base?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { side_data_type?: string; rotation?: number }[];
}

export async function probeVideo(tools: FfmpegTools, file: string, signal?: AbortSignal): Promise<VideoInfo> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw new UpscaleError('INPUT_NOT_FOUND', 'no such file', { file, cause: error });
  }
  if (!info.isFile()) throw new UpscaleError('INPUT_UNSUPPORTED', 'not a file', { file });
  if (info.size === 0) throw new UpscaleError('INPUT_EMPTY', 'the file is empty', { file });
  const result = await runTool(tools.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file], { signal });
  if (result.code !== 0) {
    throw new UpscaleError('INPUT_CORRUPT', `not a readable video, or corrupt or truncated (ffprobe: ${lastLine(result.stderr)})`, { file });
  }
  const json = JSON.parse(result.stdout.toString('utf8')) as { streams?: ProbeStream[]; format?: { format_name?: string; duration?: string } };
  const streams = json.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (video === undefined) {
    const found = streams.map((s) => s.codec_type ?? 'unknown').join(', ') || 'no streams';
    throw new UpscaleError('INPUT_UNSUPPORTED', `no video stream (found: ${found})`, { file });
  }
  if (
    video.codec_name === undefined ||
    video.width === undefined ||
    video.height === undefined ||
    video.width === 0 ||
    video.pix_fmt === undefined ||
    // ffprobe and ffmpeg can be different builds (the npm packages are): ffmpeg must have a decoder too.
    (tools.decoders.size > 0 && !tools.decoders.has(video.codec_name))
  ) {
    const tag = video.codec_tag_string !== undefined && /^[\x21-\x7e]{4}$/.test(video.codec_tag_string) ? `, fourcc ${video.codec_tag_string}` : '';
    throw new UpscaleError('INPUT_UNSUPPORTED', `the video codec (${video.codec_name ?? 'unknown'}${tag}) cannot be decoded by this ffmpeg (${tools.ffmpeg}, ${tools.version})`, { file });
  }
  const rotation = rotationOf(video);
  const swap = rotation === 90 || rotation === 270;
  const [tbNum, tbDen] = ratio(video.time_base) ?? [1, 90000];
  const fpsRatio = ratio(video.avg_frame_rate) ?? ratio(video.r_frame_rate);
  const durationText = json.format?.duration;
  const sar = ratio(video.sample_aspect_ratio);
  return {
    file,
    bytes: info.size,
    mtimeMs: info.mtimeMs,
    container: json.format?.format_name ?? 'unknown',
    streamIndex: video.index,
    codec: video.codec_name,
    codedWidth: video.width,
    codedHeight: video.height,
    rotation,
    width: swap ? video.height : video.width,
    height: swap ? video.width : video.height,
    sampleAspect: sar === undefined ? [1, 1] : swap ? [sar[1], sar[0]] : sar,
    pixFmt: video.pix_fmt,
    colour: {
      primaries: known(video.color_primaries),
      transfer: known(video.color_transfer),
      matrix: known(video.color_space),
      range: known(video.color_range),
    },
    timeBase: [tbNum, tbDen],
    fps: fpsRatio === undefined ? 25 : fpsRatio[0] / fpsRatio[1],
    duration: durationText === undefined ? undefined : Number(durationText),
    streams: streams.map((s) => ({ index: s.index, type: s.codec_type ?? 'unknown', codec: s.codec_name ?? 'unknown' })),
  };
}

/**
 * Decodes the video stream once with ffprobe and returns every frame's presentation time: raw frames through a
 * pipe carry no timestamps, so these are given back to the frames when they are encoded.
 */
export async function probeFrameTimes(tools: FfmpegTools, video: VideoInfo, signal?: AbortSignal): Promise<FrameTimes> {
  const result = await runTool(
    tools.ffprobe,
    ['-v', 'error', '-select_streams', String(video.streamIndex), '-show_entries', 'frame=best_effort_timestamp,duration,pkt_duration', '-of', 'compact=p=0', video.file],
    { signal },
  );
  if (result.code !== 0) {
    throw new UpscaleError('INPUT_CORRUPT', `cannot decode the video (ffprobe: ${lastLine(result.stderr)})`, { file: video.file });
  }
  const [num, den] = video.timeBase;
  const toUs = (ticks: bigint): number => Number((ticks * BigInt(num) * 2_000_000n + BigInt(den)) / (2n * BigInt(den)));
  const fallbackUs = Math.round(1e6 / (video.fps > 0 ? video.fps : 25));
  const ptsUs: number[] = [];
  let lastDurationUs = fallbackUs;
  for (const line of result.stdout.toString('utf8').split('\n')) {
    if (!line.startsWith('best_effort_timestamp=')) continue;
    const fields = new Map(line.split('|').map((kv) => kv.split('=') as [string, string | undefined]));
    const pts = fields.get('best_effort_timestamp');
    // `duration` since ffprobe 6 (`pkt_duration`, which ffprobe 7 dropped, before).
    const duration = [fields.get('duration'), fields.get('pkt_duration')].find((d) => d !== undefined && /^\d+$/.test(d) && d !== '0');
    const previous = ptsUs.at(-1);
    let us = pts !== undefined && /^-?\d+$/.test(pts) ? toUs(BigInt(pts)) : previous === undefined ? 0 : previous + lastDurationUs;
    // Encoders need strictly increasing timestamps; a repeated one (broken files) moves on by a microsecond.
    if (previous !== undefined && us <= previous) us = previous + 1;
    ptsUs.push(us);
    lastDurationUs = duration !== undefined ? toUs(BigInt(duration)) : fallbackUs;
  }
  if (ptsUs.length === 0) throw new UpscaleError('INPUT_CORRUPT', 'the video stream has no decodable frames', { file: video.file });
  return { ptsUs, endUs: ptsUs.at(-1)! + lastDurationUs };
}

function rotationOf(stream: ProbeStream): 0 | 90 | 180 | 270 {
  const matrix = stream.side_data_list?.find((d) => d.side_data_type === 'Display Matrix');
  // ffprobe reports the display matrix as a counter-clockwise angle; the old `rotate` tag is clockwise.
  const degrees = matrix?.rotation !== undefined ? -matrix.rotation : Number(stream.tags?.['rotate'] ?? 0);
  const normal = (((Math.round(degrees / 90) * 90) % 360) + 360) % 360;
  return normal as 0 | 90 | 180 | 270;
}

function ratio(text: string | undefined): [number, number] | undefined {
  const match = /^(\d+)[/:](\d+)$/.exec(text ?? '');
  if (match === null) return undefined;
  const [num, den] = [Number(match[1]), Number(match[2])];
  return num > 0 && den > 0 ? [num, den] : undefined;
}

function known(value: string | undefined): string | undefined {
  return value === undefined || value === 'unknown' || value === 'unspecified' || value === 'reserved' ? undefined : value;
}

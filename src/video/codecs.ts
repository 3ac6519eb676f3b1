/**
 * Video codecs the output can use, the ffmpeg encoder behind each, their defaults, and containers.
 */
import { extname } from 'node:path';
import { UpscaleError } from '../errors.js';
import type { FfmpegTools } from './ffmpeg.js';

export type VideoCodec = 'h264' | 'h265' | 'av1' | 'ffv1';
export const VIDEO_CODECS: readonly VideoCodec[] = ['h264', 'h265', 'av1', 'ffv1'];

export interface EncoderSettings {
  readonly codec: VideoCodec;
  /** The ffmpeg encoder, e.g. `libx264`. */
  readonly encoder: string;
  readonly pixFmt: string;
  readonly crf: number | undefined;
  readonly preset: string | undefined;
}

interface CodecInfo {
  /** Encoders in order of preference. */
  readonly encoders: readonly string[];
  readonly defaultPixFmt: string;
  readonly defaultCrf: number | undefined;
  readonly defaultPreset: string | undefined;
}

const CODECS: Record<VideoCodec, CodecInfo> = {
  h264: { encoders: ['libx264'], defaultPixFmt: 'yuv420p', defaultCrf: 18, defaultPreset: 'medium' },
  h265: { encoders: ['libx265'], defaultPixFmt: 'yuv420p', defaultCrf: 22, defaultPreset: 'medium' },
  av1: { encoders: ['libsvtav1', 'libaom-av1'], defaultPixFmt: 'yuv420p', defaultCrf: 35, defaultPreset: undefined },
  ffv1: { encoders: ['ffv1'], defaultPixFmt: 'yuv444p', defaultCrf: undefined, defaultPreset: undefined },
};

/** Output containers by extension, with the ffmpeg muxer name. */
const CONTAINERS: Record<string, { muxer: string; codecs: readonly VideoCodec[] }> = {
  '.mp4': { muxer: 'mp4', codecs: ['h264', 'h265', 'av1'] },
  '.m4v': { muxer: 'mp4', codecs: ['h264', 'h265', 'av1'] },
  // ffmpeg's mov muxer has no AV1 tag (its mp4 muxer has): AV1 goes into .mp4, .mkv or .webm.
  '.mov': { muxer: 'mov', codecs: ['h264', 'h265'] },
  '.mkv': { muxer: 'matroska', codecs: ['h264', 'h265', 'av1', 'ffv1'] },
  '.webm': { muxer: 'webm', codecs: ['av1'] },
};

export function isVideoContainer(path: string): boolean {
  return CONTAINERS[extname(path).toLowerCase()] !== undefined;
}

/** The muxer for an output path, checked against the codec. */
export function muxerFor(path: string, codec: VideoCodec): string {
  const ext = extname(path).toLowerCase();
  const container = CONTAINERS[ext];
  if (container === undefined) {
    throw new UpscaleError('INVALID_OPTION', `Expected the output to end in ${Object.keys(CONTAINERS).join(', ')}, got "${ext || '(no extension)'}"`, { file: path });
  }
  if (!container.codecs.includes(codec)) {
    throw new UpscaleError('INVALID_OPTION', `codec ${codec} cannot go into ${ext} (use ${container.codecs.join(', ')}, or a .mkv output)`, { file: path });
  }
  return container.muxer;
}

export function chooseEncoder(
  tools: FfmpegTools,
  codec: VideoCodec,
  options: { pixFmt?: string | undefined; crf?: number | undefined; preset?: string | undefined },
): EncoderSettings {
  const info = CODECS[codec];
  const encoder = info.encoders.find((e) => tools.encoders.has(e));
  if (encoder === undefined) {
    throw new UpscaleError(
      'INVALID_OPTION',
      `this ffmpeg (${tools.ffmpeg}, ${tools.version}) has no ${info.encoders.join(' or ')} encoder for --codec ${codec}; install an ffmpeg built with it (Debian/Ubuntu: apt-get install ffmpeg) or choose another codec (${VIDEO_CODECS.filter((c) => c !== codec).join(', ')})`,
    );
  }
  if (codec === 'ffv1' && (options.crf !== undefined || options.preset !== undefined)) {
    throw new UpscaleError('INVALID_OPTION', 'ffv1 is lossless: --crf and --preset do not apply to it');
  }
  if (options.crf !== undefined && !(Number.isInteger(options.crf) && options.crf >= 0 && options.crf <= 63)) {
    throw new UpscaleError('INVALID_OPTION', `Expected crf to be an integer from 0 to 63, got ${String(options.crf)}`);
  }
  if (options.preset !== undefined && !/^[a-z0-9]+$/i.test(options.preset)) {
    throw new UpscaleError('INVALID_OPTION', `Expected preset to be a name such as medium or slow (or a number for av1), got "${options.preset}"`);
  }
  if (options.pixFmt !== undefined && !/^[a-z0-9_]+$/.test(options.pixFmt)) {
    throw new UpscaleError('INVALID_OPTION', `Expected a pixel format such as yuv420p, got "${options.pixFmt}"`);
  }
  return {
    codec,
    encoder,
    pixFmt: options.pixFmt ?? info.defaultPixFmt,
    crf: options.crf ?? info.defaultCrf,
    preset: options.preset ?? info.defaultPreset,
  };
}

/** ffmpeg arguments that select and configure the encoder. */
export function encoderArgs(settings: EncoderSettings): string[] {
  const args = ['-c:v', settings.encoder, '-pix_fmt', settings.pixFmt];
  const { crf, preset } = settings;
  switch (settings.encoder) {
    case 'libx264':
      args.push('-crf', String(crf), '-preset', preset ?? 'medium');
      break;
    case 'libx265':
      args.push('-crf', String(crf), '-preset', preset ?? 'medium', '-x265-params', 'log-level=error');
      break;
    case 'libsvtav1':
      args.push('-crf', String(crf), '-preset', preset ?? '8');
      break;
    case 'libaom-av1':
      // ffmpeg before 4.2 marks libaom-av1 experimental and refuses it without -strict experimental.
      args.push('-crf', String(crf), '-b:v', '0', '-cpu-used', preset ?? '6', '-row-mt', '1', '-strict', 'experimental');
      break;
    case 'ffv1':
      args.push('-level', '3', '-slicecrc', '1');
      break;
  }
  return args;
}

/**
 * Chroma subsampling of a pixel format as [horizontal, vertical] divisors (yuv420p: [2, 2], yuv422p: [2, 1]);
 * sizes must be multiples of them.
 */
export function chromaSubsampling(pixFmt: string): [number, number] {
  if (/420|nv12|nv21|p010|p016/.test(pixFmt)) return [2, 2];
  if (/422|yuyv|uyvy|nv16/.test(pixFmt)) return [2, 1];
  if (/411/.test(pixFmt)) return [4, 1];
  if (/410/.test(pixFmt)) return [4, 4];
  return [1, 1];
}

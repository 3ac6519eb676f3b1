/**
 * The server's edge: its options with their defaults, the API's errors (an HTTP status and a stable code), the
 * validation of a job's form fields, and the cleaning of names that come from uploads (they are shown and used in
 * download names, never in paths).
 */
import { isUpscaleError, type UpscaleErrorCode } from '../errors.js';
import { isFileFormat, type FileFormat } from '../image/index.js';
import { DEFAULT_MODEL, isBuiltinName, listModels } from '../models/registry.js';

export interface ServerOptions {
  /** TCP port; 0 picks a free one. @default 7860 */
  readonly port?: number | undefined;
  /** Address to listen on; anything but loopback exposes the app (and your files) to the network. @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** Largest upload, in bytes. @default 50 MiB */
  readonly maxUploadBytes?: number | undefined;
  /** Largest input image, in pixels (all frames together for animations). @default 50_000_000 */
  readonly maxPixels?: number | undefined;
  /** Largest output (and intermediate) image, in pixels. @default 400_000_000 */
  readonly maxOutputPixels?: number | undefined;
  /** Jobs waiting (not counting the one running) before new ones are refused with 429. @default 20 */
  readonly maxQueued?: number | undefined;
  /** Tile edge in input pixels for the networks, or 'auto'. @default 'auto' */
  readonly tileSize?: number | 'auto' | undefined;
  /** Inference threads. @default all cores */
  readonly threads?: number | undefined;
  /** Folder of the built front end served at `/`. @default dist/web of the package */
  readonly webRoot?: string | undefined;
  /** Folder in which the server's temporary working directory is made. @default os.tmpdir() */
  readonly tempParent?: string | undefined;
}

export interface NormalizedServerOptions {
  readonly port: number;
  readonly host: string;
  readonly maxUploadBytes: number;
  readonly maxPixels: number;
  readonly maxOutputPixels: number;
  readonly maxQueued: number;
  readonly tileSize: number | 'auto';
  readonly threads: number | undefined;
  readonly webRoot: string;
  readonly tempParent: string | undefined;
}

export const SERVER_DEFAULTS = {
  port: 7860,
  host: '127.0.0.1',
  maxUploadBytes: 50 * 1024 * 1024,
  maxPixels: 50_000_000,
  maxOutputPixels: 400_000_000,
  maxQueued: 20,
} as const;

/** Validates the options once and fills in the defaults; throws a RangeError naming the bad option. */
export function normalizeServerOptions(options: ServerOptions, defaultWebRoot: string): NormalizedServerOptions {
  const int = (name: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!(Number.isSafeInteger(value) && value >= min)) {
      throw new RangeError(`Expected ${name} to be an integer of at least ${min}, got ${String(value)} (${typeof value})`);
    }
    return value;
  };
  const port = int('port', options.port, SERVER_DEFAULTS.port, 0);
  if (port > 65535) throw new RangeError(`Expected port to be at most 65535, got ${port}`);
  const tileSize = options.tileSize ?? 'auto';
  if (tileSize !== 'auto') int('tileSize', tileSize, 16, 16);
  return {
    port,
    host: options.host ?? SERVER_DEFAULTS.host,
    maxUploadBytes: int('maxUploadBytes', options.maxUploadBytes, SERVER_DEFAULTS.maxUploadBytes, 1),
    maxPixels: int('maxPixels', options.maxPixels, SERVER_DEFAULTS.maxPixels, 1),
    maxOutputPixels: int('maxOutputPixels', options.maxOutputPixels, SERVER_DEFAULTS.maxOutputPixels, 1),
    maxQueued: int('maxQueued', options.maxQueued, SERVER_DEFAULTS.maxQueued, 0),
    tileSize,
    threads: options.threads === undefined ? undefined : int('threads', options.threads, 1, 1),
    webRoot: options.webRoot ?? defaultWebRoot,
    tempParent: options.tempParent,
  };
}

/** True for addresses that only this machine reaches. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

export type ApiErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'NOT_READY'
  | 'ALREADY_FINISHED'
  | 'UPLOAD_TOO_LARGE'
  | 'QUEUE_FULL'
  | 'INTERNAL'
  | UpscaleErrorCode;

/** An error the API answers with: `{ error: { code, message } }` and `status`. */
export class ApiError extends Error {
  override readonly name = 'ApiError' as const;
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The HTTP status for a library error about an upload or its options: 415 for a type we do not read, 422 for an
 * image of a type we read that cannot be used (a header that cannot be read, too many pixels), 400 for options.
 */
export function apiErrorFrom(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isUpscaleError(error)) {
    const status =
      error.code === 'INPUT_UNSUPPORTED'
        ? 415
        : error.code === 'INPUT_TOO_LARGE' || error.code === 'INPUT_CORRUPT'
          ? 422
          : error.code === 'INVALID_OPTION' || error.code === 'MODEL_NOT_FOUND' || error.code === 'INPUT_EMPTY'
            ? 400
            : 500;
    return new ApiError(status, error.code, error.message);
  }
  return new ApiError(500, 'INTERNAL', error instanceof Error ? error.message : String(error));
}

/** What a job was asked for, validated. */
export interface JobRequest {
  readonly model: string;
  readonly scale?: number;
  readonly width?: number;
  readonly height?: number;
  readonly fit?: { readonly width: number; readonly height: number };
  /** Undefined: the input's format when writable, else PNG (decided once the input is known). */
  readonly format?: FileFormat;
  /**
   * Denoise strength 0..1, for a model that has one (`photo`); undefined: the model's default. Whether the model
   * has one is checked when the job is created (the library refuses it for the others).
   */
  readonly denoise?: number;
}

const FIELDS = new Set(['model', 'scale', 'width', 'height', 'fit', 'format', 'denoise']);

/**
 * Validates the text fields of a job's form. Models are only the listed ids (built in, their aliases and
 * variants, the user's library): never a path, so a request cannot make the server read a file.
 *
 * @throws ApiError 400 naming the field, what was expected and what was got.
 */
export function parseJobFields(fields: ReadonlyMap<string, string>): JobRequest {
  for (const name of fields.keys()) {
    if (!FIELDS.has(name)) throw bad(`unknown field "${clip(name)}" (expected file, ${[...FIELDS].join(', ')})`);
  }
  const model = (fields.get('model') ?? DEFAULT_MODEL).trim().toLowerCase();
  if (!isModelId(model)) {
    throw new ApiError(400, 'MODEL_NOT_FOUND', `unknown model "${clip(model)}" (expected one of ${listModels().map((m) => m.id).join(', ')})`);
  }
  const request: { -readonly [K in keyof JobRequest]: JobRequest[K] } = { model };
  const scale = fields.get('scale');
  if (scale !== undefined && scale !== '') {
    const n = Number(scale);
    if (!(/^\s*\d*\.?\d+\s*$/.test(scale) && n > 0 && n <= 64)) throw bad(`Expected scale to be a number above 0 and at most 64, got "${clip(scale)}"`);
    request.scale = n;
  }
  for (const side of ['width', 'height'] as const) {
    const value = fields.get(side);
    if (value === undefined || value === '') continue;
    request[side] = dimension(side, value);
  }
  const fit = fields.get('fit');
  if (fit !== undefined && fit !== '') {
    const match = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(fit);
    if (match === null) throw bad(`Expected fit to be WIDTHxHEIGHT, e.g. 3840x2160, got "${clip(fit)}"`);
    request.fit = { width: dimension('fit width', match[1]!), height: dimension('fit height', match[2]!) };
  }
  const ways = [request.scale !== undefined, request.width !== undefined || request.height !== undefined, request.fit !== undefined];
  if (ways.filter(Boolean).length > 1) throw bad('Expected one of scale, width/height or fit, got several');
  const format = fields.get('format');
  if (format !== undefined && format !== '') {
    const name = format.trim().toLowerCase() === 'jpg' ? 'jpeg' : format.trim().toLowerCase();
    if (!isFileFormat(name)) throw bad(`Expected format to be one of png, jpeg, webp, avif, tiff, gif, apng, got "${clip(format)}"`);
    request.format = name;
  }
  const denoise = fields.get('denoise');
  if (denoise !== undefined && denoise !== '') {
    const n = Number(denoise);
    if (!(/^\s*\d*\.?\d+\s*$/.test(denoise) && n >= 0 && n <= 1)) throw bad(`Expected denoise to be a number from 0 to 1, got "${clip(denoise)}"`);
    request.denoise = n;
  }
  return request;
}

function isModelId(id: string): boolean {
  if (id === '' || /[/\\]|\.\.|\.(onnx|pth|pt|ckpt|safetensors|param|bin)$/.test(id)) return false;
  return isBuiltinName(id) || listModels().some((m) => m.id === id);
}

function dimension(name: string, value: string): number {
  const n = Number(value);
  if (!(/^\s*\d+\s*$/.test(value) && n >= 1 && n <= 1_000_000)) throw bad(`Expected ${name} to be a positive integer, got "${clip(value)}"`);
  return n;
}

function bad(message: string): ApiError {
  return new ApiError(400, 'INVALID_OPTION', message);
}

/** A value quoted in a message, cut short. */
function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}

/**
 * The name to show for an uploaded file: its last path component, without control characters, at most 100
 * characters; `image` when nothing is left. Only ever shown, or used in a download name: never a path.
 *
 * @example displayName('../../etc/passwd.png') // 'passwd.png'
 */
export function displayName(name: string | undefined): string {
  const last = (name ?? '').split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = last.replace(/[\u0000-\u001f\u007f"]/g, '').trim().replace(/^\.+/, '');
  return clean === '' ? 'image' : clean.slice(-100);
}

/** A Content-Disposition header for a download, ASCII fallback plus the UTF-8 name (RFC 6266). */
export function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\;]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

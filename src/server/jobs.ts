/**
 * The job store: uploads checked and kept in a temporary working directory, a queue that runs one job at a time
 * through the library (`upscaleFile`, as the CLI does), cancellation through AbortController, progress turned into
 * events for subscribers, and clean-up of each job's files on delete and of everything on close.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { isUpscaleError } from '../errors.js';
import {
  countFrames,
  decodeImage,
  describeContent,
  isFileFormat,
  sniffFormat,
  type FileFormat,
  type InputFormat,
} from '../image/index.js';
import { SUPPORTED_INPUT_DESCRIPTION } from '../image/formats.js';
import { resolveTargetSize, type SizeRequest } from '../pipeline/size.js';
import type { UpscaleProgress } from '../pipeline/upscale-raster.js';
import { createUpscaler, type Upscaler } from '../upscaler.js';
import { sizeLabel } from '../cli/inputs.js';
import { TERMINAL_EVENTS, type JobEventType } from './events.js';
import { ApiError, displayName, type JobRequest, type NormalizedServerOptions } from './limits.js';
import { createTilePreview, recordTile, tilePng, type TilePreview } from './tiles.js';

const debug = debuglog('upscale:server');

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

/** A job as the API shows it. */
export interface Job {
  readonly id: string;
  readonly status: JobStatus;
  /** ISO 8601 times. */
  readonly createdAt: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Place in the queue while queued: 0 = next. */
  readonly position?: number;
  readonly input: { readonly name: string; readonly bytes: number; readonly width: number; readonly height: number; readonly format: InputFormat; readonly frames: number };
  /** `denoise`: the strength used by a model that has one (the one asked for, else the model's default). */
  readonly options: { readonly model: string; readonly denoise?: number; readonly scale?: number; readonly width?: number; readonly height?: number; readonly fit?: string; readonly format: FileFormat };
  readonly output?: { readonly name: string; readonly width: number; readonly height: number; readonly format: FileFormat; readonly bytes: number; readonly frames: number; readonly model: string; readonly milliseconds: number };
  readonly progress: JobProgress;
  readonly error?: { readonly code: string; readonly message: string };
}

export interface JobProgress {
  /** Share of the job's inference done, 0..1. */
  readonly fraction: number;
  /** Estimated time left, null before the first tile. */
  readonly etaMs: number | null;
  /** Tiles finished in the current pass, and the pass's tile count. */
  readonly tilesDone: number;
  readonly tilesTotal: number;
  readonly pass: number;
  readonly passes: number;
  /** Animations: the frame being upscaled (0-based) and the frame count. */
  readonly frame?: number;
  readonly frames?: number;
}

/** The `tile` event's data. */
export interface TileEvent {
  readonly pass: number;
  readonly passes: number;
  readonly index: number;
  readonly total: number;
  readonly rect: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
  readonly passSize: { readonly width: number; readonly height: number };
  readonly fraction: number;
  readonly etaMs: number | null;
  readonly url: string;
  /** Animations: the frame the tile belongs to. */
  readonly frame?: number;
}

export type JobListener = (type: JobEventType, data: unknown) => void;

interface JobRecord {
  job: Mutable<Job>;
  readonly dir: string;
  readonly inputPath: string;
  readonly outputPath: string;
  readonly mimeType: string;
  readonly request: JobRequest;
  readonly label: string;
  readonly controller: AbortController;
  readonly listeners: Set<JobListener>;
  preview: TilePreview | undefined;
  /** Settles when the job's run ends (running jobs only). */
  settled: Promise<void> | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface NewJob {
  /** The name the client gave the file: shown and used in the download name only. */
  readonly filename: string | undefined;
  readonly bytes: Buffer;
  readonly request: JobRequest;
}

const INPUT_MIME: Readonly<Record<InputFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
  gif: 'image/gif',
};

export const OUTPUT_MIME: Readonly<Record<FileFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  tiff: 'image/tiff',
  avif: 'image/avif',
  gif: 'image/gif',
  apng: 'image/apng',
};

const EXTENSION: Readonly<Record<FileFormat, string>> = {
  png: 'png',
  jpeg: 'jpg',
  webp: 'webp',
  tiff: 'tiff',
  avif: 'avif',
  gif: 'gif',
  apng: 'png',
};

const ONE_FRAME_FORMATS: ReadonlySet<FileFormat> = new Set(['jpeg', 'tiff', 'avif']);

/**
 * Upscalers made for a denoise strength asked for, kept at most (the least recently used go first). A strength is
 * any number from 0 to 1, so keeping one upscaler per strength for the server's lifetime would have no bound.
 */
const MAX_STRENGTH_UPSCALERS = 4;

interface CachedUpscaler {
  readonly upscaler: Promise<Upscaler>;
  /** Made for a denoise strength asked for (counted against MAX_STRENGTH_UPSCALERS). */
  readonly strength: boolean;
}

export class JobStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly queue: JobRecord[] = [];
  private running: JobRecord | undefined;
  /** By model and denoise strength (upscalerKey), least recently used first. */
  private readonly upscalers = new Map<string, CachedUpscaler>();
  /** The finished job whose tiles are still served, until the next job starts. */
  private lastPreview: JobRecord | undefined;
  private closed = false;

  constructor(
    private readonly options: NormalizedServerOptions,
    /** The server's temporary working directory; one sub-directory per job. */
    readonly workDir: string,
  ) {}

  /**
   * Checks an upload and queues it: content sniffed (415), pixel limits (422), queue length (429), options that
   * cannot apply to this image (400). Nothing reaches the disk before the checks pass, and then only under names
   * of our own.
   */
  async create(upload: NewJob): Promise<Job> {
    if (this.closed) throw new ApiError(503, 'INTERNAL', 'the server is shutting down');
    this.checkQueue();
    const name = displayName(upload.filename);
    const { bytes, request } = upload;
    if (bytes.length === 0) throw new ApiError(400, 'INPUT_EMPTY', `${name}: file is empty (0 bytes), expected an image`);
    const format = sniffFormat(bytes);
    if (format === undefined) {
      throw new ApiError(415, 'INPUT_UNSUPPORTED', `${name}: not a supported image (expected ${SUPPORTED_INPUT_DESCRIPTION}), found ${describeContent(bytes)}`);
    }
    const { maxPixels, maxOutputPixels } = this.options;
    // Decoding checks the header against the limit before any pixel is decompressed, and refuses corrupt data now
    // rather than after a wait in the queue.
    const decoded = await decodeImage(bytes, { maxPixels, file: name });
    const { width, height } = decoded.raster;
    const frames = await countFrames(bytes);
    if (frames > 1 && width * height * frames > maxPixels) {
      throw new ApiError(422, 'INPUT_TOO_LARGE', `${name}: animation of ${frames} frames of ${width}x${height} has ${width * height * frames} pixels, more than the limit of ${maxPixels} pixels`);
    }
    const outputFormat: FileFormat = request.format ?? (isFileFormat(format) ? format : 'png');
    if (frames > 1 && ONE_FRAME_FORMATS.has(outputFormat)) {
      throw new ApiError(400, 'INVALID_OPTION', `${name}: animated image (${frames} frames) cannot be written as ${outputFormat.toUpperCase()}, which holds one frame; choose gif, webp, png or apng`);
    }
    // Also refuses a denoise strength for a model without one (400 INVALID_OPTION), before anything is queued.
    const upscaler = await this.upscalerFor(request);
    const size = sizeRequest(request);
    const target = resolveTargetSize({ width, height }, size, upscaler.model.scale);
    if (target.width * target.height > maxOutputPixels) {
      throw new ApiError(422, 'INPUT_TOO_LARGE', `${name}: output of ${target.width}x${target.height} (${target.width * target.height} pixels) is more than the limit of ${maxOutputPixels} pixels`);
    }
    // Checked again: other uploads may have been queued while this one was decoded.
    this.checkQueue();

    const id = randomUUID();
    const dir = join(this.workDir, id);
    await mkdir(dir);
    const inputPath = join(dir, `input.${format}`);
    await writeFile(inputPath, bytes);
    const record: JobRecord = {
      job: {
        id,
        status: 'queued',
        createdAt: new Date().toISOString(),
        input: { name, bytes: bytes.length, width, height, format, frames },
        options: {
          model: request.model,
          ...(upscaler.model.denoise === undefined ? {} : { denoise: upscaler.model.denoise }),
          ...(request.scale === undefined ? {} : { scale: request.scale }),
          ...(request.width === undefined ? {} : { width: request.width }),
          ...(request.height === undefined ? {} : { height: request.height }),
          ...(request.fit === undefined ? {} : { fit: `${request.fit.width}x${request.fit.height}` }),
          format: outputFormat,
        },
        progress: { fraction: 0, etaMs: null, tilesDone: 0, tilesTotal: 0, pass: 0, passes: 0 },
      },
      dir,
      inputPath,
      outputPath: join(dir, `output.${outputFormat === 'apng' ? 'apng' : EXTENSION[outputFormat]}`),
      mimeType: INPUT_MIME[format],
      request,
      label: sizeLabel(size, upscaler.model.scale),
      controller: new AbortController(),
      listeners: new Set(),
      preview: undefined,
      settled: undefined,
    };
    this.jobs.set(id, record);
    this.queue.push(record);
    this.pump();
    return this.view(record);
  }

  /** Newest first. */
  list(): Job[] {
    return [...this.jobs.values()].reverse().map((record) => this.view(record));
  }

  get(id: string): Job {
    return this.view(this.record(id));
  }

  /** Queued and running jobs become `cancelled` at once; a running inference stops within one tile. */
  cancel(id: string): Job {
    const record = this.record(id);
    const { status } = record.job;
    if (status !== 'queued' && status !== 'running') {
      throw new ApiError(409, 'ALREADY_FINISHED', `job ${id} is ${status}; only queued or running jobs can be cancelled`);
    }
    this.stop(record);
    return this.view(record);
  }

  /** Cancels the job if needed and removes it and its files. */
  async delete(id: string): Promise<void> {
    const record = this.record(id);
    if (record.job.status === 'queued' || record.job.status === 'running') this.stop(record);
    this.jobs.delete(id);
    record.preview = undefined;
    if (this.lastPreview === record) this.lastPreview = undefined;
    await rm(record.dir, { recursive: true, force: true });
    // A run still winding down may write its output after this; remove it again once it has stopped.
    if (record.settled !== undefined) void record.settled.then(() => rm(record.dir, { recursive: true, force: true })).catch(() => undefined);
  }

  /** The uploaded file, for GET /input. */
  input(id: string): { path: string; mimeType: string; bytes: number } {
    const record = this.record(id);
    return { path: record.inputPath, mimeType: record.mimeType, bytes: record.job.input.bytes };
  }

  /** The result file, for GET /result; 409 until the job is done. */
  result(id: string): { path: string; mimeType: string; filename: string; bytes: number } {
    const record = this.record(id);
    const { job } = record;
    if (job.status !== 'done' || job.output === undefined) {
      const why = job.status === 'queued' || job.status === 'running' ? 'not finished yet' : `${job.status}, so it has no result`;
      throw new ApiError(409, 'NOT_READY', `job ${id} is ${why}`);
    }
    return { path: record.outputPath, mimeType: OUTPUT_MIME[job.output.format], filename: job.output.name, bytes: job.output.bytes };
  }

  /** The PNG of a finished tile while the job runs or just after; undefined otherwise. */
  async tile(id: string, pass: number, index: number): Promise<Buffer | undefined> {
    const record = this.record(id);
    return record.preview === undefined ? undefined : tilePng(record.preview, pass, index);
  }

  /**
   * Listens to a job's events until its terminal one; returns the job as it is now and a function that stops
   * listening. The listener is not called for a job that has already ended.
   */
  subscribe(id: string, listener: JobListener): { job: Job; unsubscribe: () => void } {
    const record = this.record(id);
    record.listeners.add(listener);
    return { job: this.view(record), unsubscribe: () => record.listeners.delete(listener) };
  }

  /** Cancels everything, waits for the running job to stop and frees the models; files are the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const record of [...this.queue, ...(this.running === undefined ? [] : [this.running])]) this.stop(record);
    await this.running?.settled;
    const upscalers = await Promise.allSettled([...this.upscalers.values()].map((cached) => cached.upscaler));
    this.upscalers.clear();
    for (const result of upscalers) if (result.status === 'fulfilled') await result.value.dispose().catch(() => undefined);
  }

  private record(id: string): JobRecord {
    const record = this.jobs.get(id);
    if (record === undefined) throw new ApiError(404, 'NOT_FOUND', `no job "${id.length > 60 ? `${id.slice(0, 60)}...` : id}"`);
    return record;
  }

  private checkQueue(): void {
    if (this.queue.length >= this.options.maxQueued) {
      throw new ApiError(429, 'QUEUE_FULL', `${this.queue.length} jobs are waiting, the limit is ${this.options.maxQueued}; try again when some have finished`);
    }
  }

  private view(record: JobRecord): Job {
    const position = this.queue.indexOf(record);
    return { ...record.job, ...(position >= 0 ? { position } : {}) };
  }

  private emit(record: JobRecord, type: JobEventType, data: unknown): void {
    for (const listener of [...record.listeners]) {
      try {
        listener(type, data);
      } catch (error) {
        debug('listener failed: %O', error);
      }
    }
    if (TERMINAL_EVENTS.has(type)) record.listeners.clear();
  }

  private finish(record: JobRecord, status: 'done' | 'failed' | 'cancelled'): void {
    record.job.status = status;
    record.job.finishedAt = new Date().toISOString();
    this.emit(record, status, this.view(record));
  }

  private stop(record: JobRecord): void {
    const queued = this.queue.indexOf(record);
    if (queued >= 0) this.queue.splice(queued, 1);
    record.controller.abort();
    this.finish(record, 'cancelled');
  }

  /** One upscaler per model and denoise strength, made on first use and kept (see MAX_STRENGTH_UPSCALERS). */
  private upscalerFor(request: Pick<JobRequest, 'model' | 'denoise'>): Promise<Upscaler> {
    const key = upscalerKey(request);
    const cached = this.upscalers.get(key);
    if (cached !== undefined) {
      this.upscalers.delete(key); // most recently used last
      this.upscalers.set(key, cached);
      return cached.upscaler;
    }
    const { model, denoise } = request;
    const { tileSize, threads, maxPixels, maxOutputPixels } = this.options;
    const upscaler = createUpscaler({ model, denoise, tileSize, threads, maxInputPixels: maxPixels, maxOutputPixels });
    this.upscalers.set(key, { upscaler, strength: denoise !== undefined });
    upscaler.then(
      () => this.evictStrengths(),
      () => {
        if (this.upscalers.get(key)?.upscaler === upscaler) this.upscalers.delete(key);
      },
    );
    return upscaler;
  }

  /** Frees the least recently used upscalers made for a strength beyond the limit, never the running job's. */
  private evictStrengths(): void {
    const running = this.running === undefined ? undefined : upscalerKey(this.running.request);
    const keys = [...this.upscalers].filter(([key, cached]) => cached.strength && key !== running).map(([key]) => key);
    for (const key of keys.slice(0, Math.max(0, keys.length - MAX_STRENGTH_UPSCALERS))) {
      const cached = this.upscalers.get(key)!;
      this.upscalers.delete(key);
      void cached.upscaler.then((upscaler) => upscaler.dispose()).catch(() => undefined);
    }
  }

  /** Starts the next queued job when none is running: one inference at a time. */
  private pump(): void {
    if (this.running !== undefined || this.closed) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.running = next;
    next.settled = this.run(next)
      .catch((error: unknown) => debug('job %s: %O', next.job.id, error))
      .finally(() => {
        this.running = undefined;
        this.pump();
      });
  }

  private async run(record: JobRecord): Promise<void> {
    const { job, request, controller } = record;
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    // Tiles of the previous job are served until this one starts.
    if (this.lastPreview !== undefined) this.lastPreview.preview = undefined;
    const preview = createTilePreview();
    record.preview = preview;
    this.lastPreview = record;
    this.emit(record, 'started', this.view(record));

    const started = performance.now();
    let frame = 0;
    let frames = 1;
    let tiles = 0;
    const onProgress = (event: UpscaleProgress): void => {
      if (controller.signal.aborted) return;
      if (event.stage === 'frame') {
        frame = event.index;
        frames = event.total;
        job.progress = { ...job.progress, fraction: frame / frames, etaMs: event.etaMs === undefined ? null : Math.round(event.etaMs), frame, frames };
        this.emit(record, 'frame', { index: frame, total: frames, etaMs: job.progress.etaMs });
        return;
      }
      if (event.stage !== 'tile') return;
      tiles++;
      recordTile(preview, event.pass, event.index, event.rect, event.output);
      const fraction = frames > 1 ? (frame + event.fraction) / frames : event.fraction;
      const elapsed = performance.now() - started;
      const eta = frames > 1 ? (fraction > 0 ? (elapsed * (1 - fraction)) / fraction : undefined) : event.etaMs;
      const etaMs = eta === undefined ? null : Math.round(eta);
      job.progress = {
        fraction,
        etaMs,
        tilesDone: event.index + 1,
        tilesTotal: event.total,
        pass: event.pass,
        passes: event.passes,
        ...(frames > 1 ? { frame, frames } : {}),
      };
      const data: TileEvent = {
        pass: event.pass,
        passes: event.passes,
        index: event.index,
        total: event.total,
        rect: { ...event.rect },
        passSize: { width: event.passSize.width, height: event.passSize.height },
        fraction,
        etaMs,
        url: `/api/jobs/${job.id}/tiles/${event.pass}/${event.index}`,
        ...(frames > 1 ? { frame } : {}),
      };
      this.emit(record, 'tile', data);
    };

    try {
      const upscaler = await this.upscalerFor(request);
      const result = await upscaler.upscaleFile(record.inputPath, record.outputPath, {
        ...sizeRequest(request),
        format: job.options.format,
        overwrite: true,
        signal: controller.signal,
        onProgress,
      });
      if (controller.signal.aborted) return;
      const { size } = await stat(record.outputPath);
      const base = job.input.name.replace(/\.[^.]*$/, '') || 'image';
      job.output = {
        name: `${base}@${record.label}.${EXTENSION[job.options.format]}`,
        width: result.outputSize.width,
        height: result.outputSize.height,
        format: job.options.format,
        bytes: size,
        frames: result.frames,
        model: result.model,
        milliseconds: result.milliseconds,
      };
      if (tiles === 0) {
        // A classical method has no tiles: the whole image is its one tile, read back from the result.
        preview.resultFile = record.outputPath;
        const rect = { x: 0, y: 0, width: result.outputSize.width, height: result.outputSize.height };
        recordTile(preview, 1, 0, rect, undefined);
        job.progress = { fraction: 1, etaMs: 0, tilesDone: 1, tilesTotal: 1, pass: 1, passes: 1 };
        this.emit(record, 'tile', {
          pass: 1,
          passes: 1,
          index: 0,
          total: 1,
          rect,
          passSize: { width: rect.width, height: rect.height },
          fraction: 1,
          etaMs: 0,
          url: `/api/jobs/${job.id}/tiles/1/0`,
        } satisfies TileEvent);
      }
      job.progress = { ...job.progress, fraction: 1, etaMs: 0 };
      this.finish(record, 'done');
    } catch (error) {
      if (controller.signal.aborted) return; // already reported as cancelled
      record.preview = undefined;
      job.error = publicError(error, record);
      debug('job %s failed: %O', job.id, error);
      this.finish(record, 'failed');
    }
  }
}

/** A failure as the client sees it: the library's code and message, with our paths replaced by the upload's name. */
function publicError(error: unknown, record: JobRecord): { code: string; message: string } {
  const name = record.job.input.name;
  let message = error instanceof Error ? error.message : String(error);
  for (const path of [record.inputPath, record.outputPath, record.dir]) message = message.split(path).join(name);
  return { code: isUpscaleError(error) ? error.code : 'INTERNAL', message };
}

function upscalerKey(request: Pick<JobRequest, 'model' | 'denoise'>): string {
  return `${request.model}\n${request.denoise ?? ''}`;
}

function sizeRequest(request: JobRequest): SizeRequest {
  return {
    ...(request.scale === undefined ? {} : { scale: request.scale }),
    ...(request.width === undefined ? {} : { width: request.width }),
    ...(request.height === undefined ? {} : { height: request.height }),
    ...(request.fit === undefined ? {} : { fit: { width: request.fit.width, height: request.fit.height } }),
  };
}

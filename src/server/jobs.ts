/**
 * The job store: uploads checked from their header and kept in a temporary working directory, a queue that runs one
 * job at a time in the job worker (runner.ts, worker.ts: the library's `upscaleFile`, as the CLI does, off the event
 * loop that answers requests), cancellation, progress turned into events for subscribers, and clean-up of each
 * job's files on delete and of everything on close.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { isFileFormat, probeImage, type FileFormat, type InputFormat } from '../image/index.js';
import { isBuiltinName, resolveModel } from '../models/registry.js';
import type { ModelDescriptor } from '../models/types.js';
import { resolveTargetSize, type SizeRequest } from '../pipeline/size.js';
import { sizeLabel } from '../cli/inputs.js';
import { TERMINAL_EVENTS, type JobEventType } from './events.js';
import { ApiError, displayName, type JobRequest, type NormalizedServerOptions } from './limits.js';
import type { WorkerError, WorkerProgress } from './protocol.js';
import { JobRunner } from './runner.js';

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
  readonly listeners: Set<JobListener>;
  /** The worker keeps this job's tiles (from its start until the next job starts, it fails or is deleted). */
  hasTiles: boolean;
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

export class JobStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly queue: JobRecord[] = [];
  /** Uploads being checked: they hold a place in the queue, so that concurrent uploads cannot overfill it. */
  private intake = 0;
  private running: JobRecord | undefined;
  /** The finished job whose tiles are still served, until the next job starts. */
  private lastPreview: JobRecord | undefined;
  private readonly runner: JobRunner;
  private closed = false;

  constructor(
    private readonly options: NormalizedServerOptions,
    /** The server's temporary working directory; one sub-directory per job. */
    readonly workDir: string,
  ) {
    const { tileSize, threads, maxPixels, maxOutputPixels } = options;
    this.runner = new JobRunner({ tileSize, threads, maxPixels, maxOutputPixels });
  }

  /**
   * Checks an upload and queues it: queue length (429) first, then from the header only, content sniffed (415), a
   * header that cannot be read (422), pixel limits (422), options that cannot apply to this image (400). No pixel is
   * decoded here: that happens once, when the job runs. Nothing reaches the disk before the checks pass, and then
   * only under names of our own.
   */
  async create(upload: NewJob): Promise<Job> {
    if (this.closed) throw new ApiError(503, 'INTERNAL', 'the server is shutting down');
    this.checkQueue();
    this.intake++;
    try {
      return await this.admit(upload);
    } finally {
      this.intake--;
    }
  }

  private async admit(upload: NewJob): Promise<Job> {
    const name = displayName(upload.filename);
    const { bytes, request } = upload;
    const { maxPixels, maxOutputPixels } = this.options;
    const { format, width, height, frames } = await probeImage(bytes, name, maxPixels);
    this.runner.warm(); // an image is coming: the worker loads its modules while the checks go on
    const outputFormat: FileFormat = request.format ?? (isFileFormat(format) ? format : 'png');
    if (frames > 1 && ONE_FRAME_FORMATS.has(outputFormat)) {
      throw new ApiError(400, 'INVALID_OPTION', `${name}: animated image (${frames} frames) cannot be written as ${outputFormat.toUpperCase()}, which holds one frame; choose gif, webp, png or apng`);
    }
    // Also refuses a denoise strength for a model without one (400 INVALID_OPTION), before anything is queued.
    const model = await this.describe(request);
    const size = sizeRequest(request);
    const target = resolveTargetSize({ width, height }, size, model.scale);
    if (target.width * target.height > maxOutputPixels) {
      throw new ApiError(422, 'INPUT_TOO_LARGE', `${name}: output of ${target.width}x${target.height} (${target.width * target.height} pixels) is more than the limit of ${maxOutputPixels} pixels`);
    }
    if (this.closed) throw new ApiError(503, 'INTERNAL', 'the server is shutting down');

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
          ...(model.denoise === undefined ? {} : { denoise: model.denoise }),
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
      label: sizeLabel(size, model.scale),
      listeners: new Set(),
      hasTiles: false,
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
    if (record.hasTiles) this.runner.forget(id);
    record.hasTiles = false;
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
    return record.hasTiles ? this.runner.tile(id, pass, index) : undefined;
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
    await this.runner.close();
  }

  private record(id: string): JobRecord {
    const record = this.jobs.get(id);
    if (record === undefined) throw new ApiError(404, 'NOT_FOUND', `no job "${id.length > 60 ? `${id.slice(0, 60)}...` : id}"`);
    return record;
  }

  /** Refuses an upload when the jobs waiting and the uploads being checked fill the queue. */
  private checkQueue(): void {
    if (this.queue.length + this.intake >= this.options.maxQueued) {
      const waiting = this.intake === 0 ? `${this.queue.length} jobs are waiting` : `${this.queue.length} jobs are waiting and ${this.intake} being uploaded`;
      throw new ApiError(429, 'QUEUE_FULL', `${waiting}, the limit is ${this.options.maxQueued}; try again when some have finished`);
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
    else if (record === this.running) this.runner.cancel(record.job.id);
    this.finish(record, 'cancelled');
  }

  /**
   * The descriptor of the model asked for (its scale, its denoise strength). Built-in models and classical methods
   * are described here without loading anything; a model of the user's library is loaded to be described, so that
   * is left to the worker (which keeps it for the job).
   */
  private async describe(request: Pick<JobRequest, 'model' | 'denoise'>): Promise<ModelDescriptor> {
    if (isBuiltinName(request.model)) return (await resolveModel(request.model, {}, { denoise: request.denoise })).descriptor;
    return this.runner.describe({ model: request.model, denoise: request.denoise });
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
    const { job, request } = record;
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    // Tiles of the previous job are served until this one starts (the worker then replaces them).
    if (this.lastPreview !== undefined) this.lastPreview.hasTiles = false;
    record.hasTiles = true;
    this.lastPreview = record;
    this.emit(record, 'started', this.view(record));

    const started = performance.now();
    let frame = 0;
    let frames = 1;
    const onProgress = (event: WorkerProgress): void => {
      if (record.job.status !== 'running') return; // cancelled: the worker stops within one tile
      if (event.stage === 'frame') {
        frame = event.index;
        frames = event.total;
        job.progress = { ...job.progress, fraction: frame / frames, etaMs: event.etaMs === undefined ? null : Math.round(event.etaMs), frame, frames };
        this.emit(record, 'frame', { index: frame, total: frames, etaMs: job.progress.etaMs });
        return;
      }
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
        rect: event.rect,
        passSize: event.passSize,
        fraction,
        etaMs,
        url: `/api/jobs/${job.id}/tiles/${event.pass}/${event.index}`,
        ...(frames > 1 ? { frame } : {}),
      };
      this.emit(record, 'tile', data);
    };

    const outcome = await this.runner.run(
      {
        jobId: job.id,
        model: { model: request.model, denoise: request.denoise },
        input: record.inputPath,
        output: record.outputPath,
        size: sizeRequest(request),
        format: job.options.format,
      },
      onProgress,
    );
    if (record.job.status !== 'running') return; // already reported as cancelled
    if (outcome.status === 'cancelled') {
      this.finish(record, 'cancelled');
      return;
    }
    if (outcome.status === 'failed') {
      record.hasTiles = false;
      job.error = publicError(outcome.error, record);
      debug('job %s failed: %s', job.id, outcome.error.stack ?? outcome.error.message);
      this.finish(record, 'failed');
      return;
    }
    const { result } = outcome;
    const base = job.input.name.replace(/\.[^.]*$/, '') || 'image';
    job.output = {
      name: `${base}@${record.label}.${EXTENSION[job.options.format]}`,
      width: result.width,
      height: result.height,
      format: job.options.format,
      bytes: result.bytes,
      frames: result.frames,
      model: result.model,
      milliseconds: result.milliseconds,
    };
    if (result.tiles === 0) {
      // A classical method has no tiles: the whole image is its one tile, read back from the result.
      const rect = { x: 0, y: 0, width: result.width, height: result.height };
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
  }
}

/** A failure as the client sees it: the library's code and message, with our paths replaced by the upload's name. */
function publicError(error: WorkerError, record: JobRecord): { code: string; message: string } {
  const name = record.job.input.name;
  let message = error.message;
  for (const path of [record.inputPath, record.outputPath, record.dir]) message = message.split(path).join(name);
  return { code: error.code ?? 'INTERNAL', message };
}

function sizeRequest(request: JobRequest): SizeRequest {
  return {
    ...(request.scale === undefined ? {} : { scale: request.scale }),
    ...(request.width === undefined ? {} : { width: request.width }),
    ...(request.height === undefined ? {} : { height: request.height }),
    ...(request.fit === undefined ? {} : { fit: { width: request.fit.width, height: request.fit.height } }),
  };
}

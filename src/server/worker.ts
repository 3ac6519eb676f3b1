/**
 * The job worker: a worker thread that owns the server's upscalers (one per model and denoise strength, loaded on
 * first use) and runs its jobs through the library (`upscaleFile`, as the CLI does), so that model loading,
 * decoding, tiling and resampling never hold up the main thread's event loop. It posts each job's progress, keeps
 * the tiles of the last job for the previews and cuts them out on request; a `cancel` message aborts the job's
 * AbortController, which stops it within one tile. Started by JobRunner (runner.ts); messages in protocol.ts.
 */
import { stat } from 'node:fs/promises';
import { debuglog } from 'node:util';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isUpscaleError } from '../errors.js';
import type { UpscaleProgress } from '../pipeline/upscale-raster.js';
import { createUpscaler, type Upscaler } from '../upscaler.js';
import type { FromWorker, ModelRequest, RunOutcome, RunRequest, ToWorker, WorkerError, WorkerSettings } from './protocol.js';
import { createTilePreview, recordTile, tilePng, type TilePreview } from './tiles.js';

const debug = debuglog('upscale:server');

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

function upscalerKey(request: ModelRequest): string {
  return `${request.model}\n${request.denoise ?? ''}`;
}

/** The worker's state; one per worker thread. */
class JobWorker {
  /** By upscalerKey, least recently used first. */
  private readonly upscalers = new Map<string, CachedUpscaler>();
  private readonly controllers = new Map<string, AbortController>();
  /** Runs not yet ended, so that close() can wait for them. */
  private readonly runs = new Set<Promise<unknown>>();
  /** The running job's key, never evicted. */
  private runningKey: string | undefined;
  /** Tiles of the running job, or of the last one until the next starts. */
  private preview: { jobId: string; preview: TilePreview } | undefined;

  constructor(
    private readonly settings: WorkerSettings,
    private readonly post: (message: FromWorker, transfer?: ArrayBuffer[]) => void,
    /** Stops listening, so that the thread ends once its last native work (an inference in flight) is done. */
    private readonly stopListening: () => void,
  ) {}

  handle(message: ToWorker): void {
    switch (message.type) {
      case 'describe':
        this.upscalerFor(message.model).then(
          (upscaler) => this.post({ type: 'reply', requestId: message.requestId, value: upscaler.model }),
          (error: unknown) => this.post({ type: 'reply', requestId: message.requestId, value: undefined, error: workerError(error) }),
        );
        return;
      case 'tile': {
        const kept = this.preview?.jobId === message.jobId ? this.preview.preview : undefined;
        (kept === undefined ? Promise.resolve(undefined) : tilePng(kept, message.pass, message.index)).then(
          (png) => {
            const value = png === undefined ? undefined : new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
            const reply: FromWorker = { type: 'reply', requestId: message.requestId, value };
            const owned = value !== undefined && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
            try {
              this.post(reply, owned ? [value.buffer as ArrayBuffer] : []);
            } catch {
              this.post(reply); // a buffer that cannot be transferred is copied
            }
          },
          (error: unknown) => this.post({ type: 'reply', requestId: message.requestId, value: undefined, error: workerError(error) }),
        );
        return;
      }
      case 'run': {
        const run = this.run(message.run).then((outcome) => this.post({ type: 'end', jobId: message.run.jobId, outcome }));
        this.runs.add(run);
        void run.finally(() => this.runs.delete(run));
        return;
      }
      case 'cancel':
        this.controllers.get(message.jobId)?.abort();
        return;
      case 'forget':
        if (this.preview?.jobId === message.jobId) this.preview = undefined;
        return;
      case 'close':
        void this.close().then(() => this.stopListening());
        return;
    }
  }

  private async run(request: RunRequest): Promise<RunOutcome> {
    const { jobId } = request;
    const controller = new AbortController();
    this.controllers.set(jobId, controller);
    const preview = createTilePreview();
    this.preview = { jobId, preview };
    const key = upscalerKey(request.model);
    this.runningKey = key;
    let tiles = 0;
    const onProgress = (event: UpscaleProgress): void => {
      if (controller.signal.aborted) return;
      if (event.stage === 'frame') {
        this.post({ type: 'progress', jobId, progress: { stage: 'frame', index: event.index, total: event.total, etaMs: event.etaMs } });
        return;
      }
      if (event.stage !== 'tile') return;
      tiles++;
      recordTile(preview, event.pass, event.index, event.rect, event.output);
      this.post({
        type: 'progress',
        jobId,
        progress: {
          stage: 'tile',
          pass: event.pass,
          passes: event.passes,
          index: event.index,
          total: event.total,
          rect: { x: event.rect.x, y: event.rect.y, width: event.rect.width, height: event.rect.height },
          passSize: { width: event.passSize.width, height: event.passSize.height },
          fraction: event.fraction,
          etaMs: event.etaMs,
        },
      });
    };
    try {
      const upscaler = await this.upscalerFor(request.model);
      const result = await upscaler.upscaleFile(request.input, request.output, {
        ...request.size,
        format: request.format,
        overwrite: true,
        signal: controller.signal,
        onProgress,
      });
      if (controller.signal.aborted) return { status: 'cancelled' };
      const { size } = await stat(request.output);
      if (tiles === 0) {
        // A classical method has no tiles: the whole image is its one tile, read back from the result.
        preview.resultFile = request.output;
        recordTile(preview, 1, 0, { x: 0, y: 0, width: result.outputSize.width, height: result.outputSize.height }, undefined);
      }
      return {
        status: 'done',
        result: {
          width: result.outputSize.width,
          height: result.outputSize.height,
          frames: result.frames,
          model: result.model,
          milliseconds: result.milliseconds,
          bytes: size,
          tiles,
        },
      };
    } catch (error) {
      if (controller.signal.aborted) return { status: 'cancelled' };
      if (this.preview?.preview === preview) this.preview = undefined;
      return { status: 'failed', error: workerError(error) };
    } finally {
      this.controllers.delete(jobId);
      if (this.runningKey === key) this.runningKey = undefined;
    }
  }

  /** One upscaler per model and denoise strength, made on first use and kept (see MAX_STRENGTH_UPSCALERS). */
  private upscalerFor(request: ModelRequest): Promise<Upscaler> {
    const key = upscalerKey(request);
    const cached = this.upscalers.get(key);
    if (cached !== undefined) {
      this.upscalers.delete(key); // most recently used last
      this.upscalers.set(key, cached);
      return cached.upscaler;
    }
    const { model, denoise } = request;
    const { tileSize, threads, maxPixels, maxOutputPixels } = this.settings;
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
    const keys = [...this.upscalers].filter(([key, cached]) => cached.strength && key !== this.runningKey).map(([key]) => key);
    for (const key of keys.slice(0, Math.max(0, keys.length - MAX_STRENGTH_UPSCALERS))) {
      const cached = this.upscalers.get(key)!;
      this.upscalers.delete(key);
      void cached.upscaler.then((upscaler) => upscaler.dispose()).catch(() => undefined);
    }
  }

  /**
   * Stops the jobs and waits for their runs to end. The models are not disposed here: a cancelled run may leave one
   * tile's inference in flight (the tiler lets it finish quietly), and releasing its session, or terminating the
   * thread, under it would crash the process. The thread ends by itself once that inference is done, and its
   * sessions are freed with it.
   */
  private async close(): Promise<void> {
    for (const controller of this.controllers.values()) controller.abort();
    this.preview = undefined;
    await Promise.allSettled([...this.runs]);
  }
}

function workerError(error: unknown): WorkerError {
  if (!isUpscaleError(error)) debug('job worker: %O', error);
  return {
    code: isUpscaleError(error) ? error.code : undefined,
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  };
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort;
  const worker = new JobWorker(
    workerData as WorkerSettings,
    (message, transfer) => port.postMessage(message, transfer ?? []),
    () => port.close(),
  );
  port.on('message', (message: ToWorker) => worker.handle(message));
}

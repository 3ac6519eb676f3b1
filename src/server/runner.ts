/**
 * The main thread's side of the job worker (worker.ts): starts it on first use, sends it jobs, cancellations and
 * requests (a model's descriptor, a tile's PNG), and routes its answers and progress back. When the worker dies
 * (a native crash, out of memory), whatever was waiting on it fails with INTERNAL and the next use starts a new one.
 */
import { debuglog } from 'node:util';
import { Worker } from 'node:worker_threads';
import { UpscaleError, type UpscaleErrorCode } from '../errors.js';
import type { ModelDescriptor } from '../models/types.js';
import { ApiError } from './limits.js';
import type { FromWorker, ModelRequest, RunOutcome, RunRequest, ToWorker, WorkerError, WorkerProgress, WorkerSettings } from './protocol.js';

const debug = debuglog('upscale:server');

/** worker.js next to this file once built; worker.ts when the sources run through tsx (tests, scripts). */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url);

function spawnWorker(settings: WorkerSettings): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL, { workerData: settings });
  // Node 20 does not run `--import tsx` in workers: the worker registers tsx itself, then loads its entry.
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: settings });
}

/** How long close() waits for the worker to end by itself before terminating it. */
const CLOSE_TIMEOUT_MS = 30_000;

interface PendingRequest {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface ActiveRun {
  readonly onProgress: (progress: WorkerProgress) => void;
  resolve(outcome: RunOutcome): void;
}

interface Started {
  readonly worker: Worker;
  readonly requests: Map<number, PendingRequest>;
  readonly runs: Map<string, ActiveRun>;
}

export class JobRunner {
  private current: Started | undefined;
  private nextRequestId = 1;
  private closed = false;

  constructor(private readonly settings: WorkerSettings) {}

  /** Starts the worker now, if it is not running, so that it is ready when the first job comes. */
  warm(): void {
    try {
      this.start();
    } catch (error) {
      debug('cannot start the job worker: %O', error); // reported again by the job that needs it
    }
  }

  /** The descriptor of a model as the worker resolves it (loading it when that is how it is resolved). */
  describe(model: ModelRequest): Promise<ModelDescriptor> {
    return this.request<ModelDescriptor>((requestId) => ({ type: 'describe', requestId, model }));
  }

  /** The PNG of a tile the worker keeps for `jobId`, or undefined. */
  async tile(jobId: string, pass: number, index: number): Promise<Buffer | undefined> {
    if (this.current === undefined) return undefined; // no worker: no tiles
    const png = await this.request<Uint8Array | undefined>((requestId) => ({ type: 'tile', requestId, jobId, pass, index }));
    return png === undefined ? undefined : Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  }

  /** Runs a job in the worker; settles when it has stopped (a failure is an outcome, never a rejection). */
  run(request: RunRequest, onProgress: (progress: WorkerProgress) => void): Promise<RunOutcome> {
    let started: Started;
    try {
      started = this.start();
    } catch (error) {
      debug('cannot start the job worker: %O', error);
      const message = `cannot start the job worker (${error instanceof Error ? error.message : String(error)})`;
      return Promise.resolve({ status: 'failed', error: { code: undefined, message, stack: undefined } });
    }
    return new Promise<RunOutcome>((resolve) => {
      started.runs.set(request.jobId, { onProgress, resolve });
      started.worker.postMessage({ type: 'run', run: request } satisfies ToWorker);
    });
  }

  cancel(jobId: string): void {
    this.current?.worker.postMessage({ type: 'cancel', jobId } satisfies ToWorker);
  }

  forget(jobId: string): void {
    this.current?.worker.postMessage({ type: 'forget', jobId } satisfies ToWorker);
  }

  /**
   * Stops the worker: it cancels what runs and ends by itself once its last inference in flight is done (freeing the
   * models). Terminating it under an inference would crash the process, so that is only the last resort, after
   * CLOSE_TIMEOUT_MS.
   */
  async close(): Promise<void> {
    this.closed = true;
    const started = this.current;
    if (started === undefined) return;
    this.current = undefined;
    const { worker } = started;
    const exited = new Promise<boolean>((resolve) => {
      worker.once('exit', () => resolve(true));
      setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS).unref();
    });
    worker.postMessage({ type: 'close' } satisfies ToWorker);
    if (!(await exited)) {
      debug('the job worker did not end within %d ms; terminating it', CLOSE_TIMEOUT_MS);
      await worker.terminate();
    }
  }

  private request<T>(message: (requestId: number) => ToWorker): Promise<T> {
    const started = this.start();
    const requestId = this.nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      started.requests.set(requestId, { resolve: resolve as (value: unknown) => void, reject });
      started.worker.postMessage(message(requestId));
    });
  }

  private start(): Started {
    if (this.current !== undefined) return this.current;
    if (this.closed) throw new ApiError(503, 'INTERNAL', 'the server is shutting down');
    const worker = spawnWorker(this.settings);
    const started: Started = { worker, requests: new Map(), runs: new Map() };
    this.current = started;
    worker.on('message', (message: FromWorker) => this.receive(started, message));
    const fail = (why: string): void => {
      if (this.current === started) this.current = undefined;
      const error: WorkerError = { code: undefined, message: `the job worker stopped (${why})`, stack: undefined };
      for (const request of started.requests.values()) request.reject(new ApiError(500, 'INTERNAL', error.message));
      for (const run of started.runs.values()) run.resolve({ status: 'failed', error });
      started.requests.clear();
      started.runs.clear();
    };
    worker.on('error', (error) => {
      debug('job worker failed: %O', error);
      fail(error.message);
    });
    worker.on('exit', (code) => fail(`exit code ${code}`));
    return started;
  }

  private receive(started: Started, message: FromWorker): void {
    switch (message.type) {
      case 'reply': {
        const request = started.requests.get(message.requestId);
        started.requests.delete(message.requestId);
        if (message.error === undefined) request?.resolve(message.value);
        else request?.reject(toError(message.error));
        return;
      }
      case 'progress':
        started.runs.get(message.jobId)?.onProgress(message.progress);
        return;
      case 'end': {
        const run = started.runs.get(message.jobId);
        started.runs.delete(message.jobId);
        run?.resolve(message.outcome);
        return;
      }
    }
  }
}

/** An error from the worker, as the library's UpscaleError when it was one (so that it maps to its status). */
export function toError(error: WorkerError): Error {
  if (error.code === undefined) {
    if (error.stack !== undefined) debug('job worker: %s', error.stack);
    return new Error(error.message);
  }
  return new UpscaleError(error.code as UpscaleErrorCode, error.message);
}

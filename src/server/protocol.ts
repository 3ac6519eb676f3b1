/**
 * The messages between the server's main thread (which answers HTTP) and its job worker (which owns the models and
 * runs the jobs: src/server/worker.ts). Everything crosses by structured clone; tile PNGs are transferred.
 */
import type { FileFormat } from '../image/index.js';
import type { ModelDescriptor } from '../models/types.js';
import type { SizeRequest } from '../pipeline/size.js';
import type { Rect } from '../tiling/plan.js';

/** How the worker makes its upscalers: the server's options that reach the library. */
export interface WorkerSettings {
  readonly tileSize: number | 'auto';
  readonly threads: number | undefined;
  readonly maxPixels: number;
  readonly maxOutputPixels: number;
}

export interface ModelRequest {
  readonly model: string;
  readonly denoise: number | undefined;
}

export interface RunRequest {
  readonly jobId: string;
  readonly model: ModelRequest;
  readonly input: string;
  readonly output: string;
  readonly size: SizeRequest;
  readonly format: FileFormat;
}

/** Main thread to worker. Requests carrying `requestId` are answered by a `reply` with the same id. */
export type ToWorker =
  | { readonly type: 'describe'; readonly requestId: number; readonly model: ModelRequest }
  | { readonly type: 'tile'; readonly requestId: number; readonly jobId: string; readonly pass: number; readonly index: number }
  | { readonly type: 'run'; readonly run: RunRequest }
  | { readonly type: 'cancel'; readonly jobId: string }
  /** The job was deleted: drop its tiles. */
  | { readonly type: 'forget'; readonly jobId: string }
  /** Cancels what runs and stops listening: the thread ends by itself once its last inference in flight is done. */
  | { readonly type: 'close' };

/** A job's progress, as the library reports it, less the live raster (which stays in the worker for the tiles). */
export type WorkerProgress =
  | {
      readonly stage: 'tile';
      readonly pass: number;
      readonly passes: number;
      readonly index: number;
      readonly total: number;
      readonly rect: Rect;
      readonly passSize: { readonly width: number; readonly height: number };
      readonly fraction: number;
      readonly etaMs: number | undefined;
    }
  | { readonly stage: 'frame'; readonly index: number; readonly total: number; readonly etaMs: number | undefined };

/** An error as it crosses the thread boundary: the library's code when it has one. */
export interface WorkerError {
  readonly code: string | undefined;
  readonly message: string;
  /** For the debug log only. */
  readonly stack: string | undefined;
}

export interface RunResult {
  readonly width: number;
  readonly height: number;
  readonly frames: number;
  readonly model: string;
  readonly milliseconds: number;
  /** Size of the output file. */
  readonly bytes: number;
  /** Tiles reported; 0 for a classical method, whose one tile is the whole result. */
  readonly tiles: number;
}

export type RunOutcome =
  | { readonly status: 'done'; readonly result: RunResult }
  | { readonly status: 'failed'; readonly error: WorkerError }
  | { readonly status: 'cancelled' };

/** Worker to main thread. */
export type FromWorker =
  | { readonly type: 'reply'; readonly requestId: number; readonly value: ModelDescriptor | Uint8Array | undefined; readonly error?: WorkerError }
  | { readonly type: 'progress'; readonly jobId: string; readonly progress: WorkerProgress }
  | { readonly type: 'end'; readonly jobId: string; readonly outcome: RunOutcome };

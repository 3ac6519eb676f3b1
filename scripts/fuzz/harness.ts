/**
 * The fuzz harness: runs one target's loop in a worker thread (worker.ts) for a time or a number of inputs, and
 * watches it. A crash is an exception outside the target's contract, an input that runs longer than `hangMs`
 * (the worker is terminated), or one that exhausts memory (the worker's heap is capped by resourceLimits; the
 * process's RSS is sampled every 50 ms and its peak checked after every input). After a hang or a death the loop
 * goes on in a fresh worker from the next input. Each distinct crash is written once to `crashDir`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { unpackInput } from './mutate.js';
import { errorSignature, SHARED_HEADER, Slot, type WorkerData, type WorkerMessage } from './protocol.js';
import type { FuzzTarget } from './target.js';

export const DEFAULT_TARGETS_MODULE = new URL('./targets/index.ts', import.meta.url);
const WORKER = new URL('./worker.ts', import.meta.url);
/** Largest input the harness can save after a hang (the mutator keeps inputs below it). */
const SHARED_INPUT_BYTES = 16 * 1024 * 1024;
/** A worker that has not loaded its seeds in this time is broken, not slow. */
const STARTUP_MS = 120_000;

export interface FuzzOptions {
  /** Target name (see `npm run fuzz -- --list`). */
  readonly target: string;
  /** Wall-clock time of the run, worker start-ups (seed preparation) and hangs included. @default 10 */
  readonly seconds?: number;
  /** Seed of the mutations: the same seed gives the same inputs. @default 1 */
  readonly seed?: number;
  /** Stop after this many inputs (0: no limit). @default 0 */
  readonly maxInputs?: number;
  /** An input running longer than this is a hang. @default 10_000 */
  readonly hangMs?: number;
  /** Heap limit of the worker, and the RSS growth that counts as exhausting memory. @default 1024 */
  readonly memoryLimitMb?: number;
  /** Where each distinct crash's input is written; `null` writes nothing. @default scratch/fuzz-crashes */
  readonly crashDir?: string | null;
  /** Module exporting `TARGETS` (a Map of {@link FuzzTarget}s). @default ./targets/index.ts */
  readonly targetsModule?: URL;
  /** Called once per distinct crash, when it is first seen. */
  readonly onCrash?: (crash: FuzzCrash) => void;
}

export type CrashKind = 'exception' | 'hang' | 'memory' | 'exit';

export interface FuzzCrash {
  readonly target: string;
  readonly kind: CrashKind;
  /** Groups crashes: `TypeError at src/models/weights/zip.ts:88`, `hang`, `memory:heap`... */
  readonly signature: string;
  /** Stack or description. */
  readonly detail: string;
  /** Index of the first input that crashed this way, for this seed. */
  readonly iteration: number;
  readonly input: Uint8Array;
  /** Where the input was written. */
  readonly file: string | undefined;
  /** Inputs that crashed this way. */
  readonly count: number;
}

export interface FuzzReport {
  readonly target: string;
  readonly seed: number;
  readonly inputs: number;
  readonly seconds: number;
  readonly inputsPerSecond: number;
  /** Distinct crashes. */
  readonly crashes: readonly FuzzCrash[];
  /** Inputs that crashed, all kinds together. */
  readonly crashingInputs: number;
  /** Workers started again after a hang or a death. */
  readonly restarts: number;
  /** Inputs the parser accepted without any error (the rest were rejected within the contract, or crashed). */
  readonly parsed: number;
  /** Distinct outcomes seen by the last worker: success, and each error message with numbers and names blanked. */
  readonly outcomes: number;
  /** Seed inputs, and inputs kept for further mutation at the end (those that reached a new outcome). */
  readonly seeds: number;
  readonly corpus: number;
}

interface WorkerRun {
  readonly done: number;
  readonly parsed: number;
  readonly outcomes: number;
  /** Set when the worker was stopped (or died) on an input: fuzzing continues after it. */
  readonly stoppedAt: number | undefined;
  readonly counts: Readonly<Record<string, number>>;
  readonly seeds: number;
  readonly corpus: number;
}

type Found = Omit<FuzzCrash, 'file' | 'count' | 'target'>;

/**
 * Fuzzes one target and reports what happened; never throws for what the target does (only when the harness
 * itself cannot run, e.g. an unknown target).
 *
 * @example
 * const report = await fuzz({ target: 'ncnn-param', seconds: 60, seed: 7 });
 * report.crashes.length; // 0
 */
export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seconds = options.seconds ?? 10;
  const seed = options.seed ?? 1;
  const maxInputs = options.maxInputs ?? 0;
  for (const [name, value, min] of [['seconds', seconds, 0], ['seed', seed, 0], ['maxInputs', maxInputs, 0]] as const) {
    if (!(Number.isFinite(value) && value >= min)) throw new RangeError(`Expected ${name} to be a number of at least ${min}, got ${value}`);
  }
  const crashDir = options.crashDir === undefined ? new URL('../../scratch/fuzz-crashes/', import.meta.url).pathname : options.crashDir;
  const crashes = new Map<string, FuzzCrash>();
  const record = (found: Found): void => {
    if (crashes.has(found.signature)) return;
    let file: string | undefined;
    if (crashDir !== null) {
      mkdirSync(crashDir, { recursive: true });
      file = join(crashDir, `${options.target}-${createHash('sha256').update(found.input).digest('hex').slice(0, 12)}.bin`);
      writeFileSync(file, found.input);
      writeFileSync(file.replace(/\.bin$/, '.txt'), `${options.target} ${found.kind} (input ${found.iteration}, seed ${seed})\n${found.signature}\n\n${found.detail}\n`);
    }
    const crash: FuzzCrash = { ...found, target: options.target, file, count: 0 };
    crashes.set(found.signature, crash);
    options.onCrash?.(crash);
  };
  const counts = new Map<string, number>();

  const tmp = await mkdtemp(join(tmpdir(), `upscale-fuzz-${options.target.replace(/[^\w-]/g, '_')}-`));
  const began = Date.now();
  const deadline = began + seconds * 1000;
  let inputs = 0;
  let restarts = 0;
  let start = 0;
  let seeds = 0;
  let corpus = 0;
  let parsed = 0;
  let outcomes = 0;
  try {
    for (;;) {
      const run = await runWorker(
        {
          targetsModule: (options.targetsModule ?? DEFAULT_TARGETS_MODULE).href,
          target: options.target,
          seed,
          start,
          deadline,
          maxInputs: maxInputs === 0 ? 0 : maxInputs - inputs,
          memoryLimitMb: options.memoryLimitMb ?? 1024,
          tmp,
          shared: new SharedArrayBuffer(SHARED_HEADER + SHARED_INPUT_BYTES),
        },
        options.hangMs ?? 10_000,
        record,
      );
      inputs += run.done;
      parsed += run.parsed;
      outcomes = Math.max(outcomes, run.outcomes);
      seeds = run.seeds;
      corpus = run.corpus;
      for (const [signature, n] of Object.entries(run.counts)) counts.set(signature, (counts.get(signature) ?? 0) + n);
      const inputsLeft = maxInputs === 0 || inputs < maxInputs;
      if (run.stoppedAt === undefined || Date.now() >= deadline || !inputsLeft) break;
      start = run.stoppedAt + 1;
      restarts++;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const unique = [...crashes.values()].map((c) => ({ ...c, count: Math.max(1, counts.get(c.signature) ?? 0) }));
  const secondsRun = (Date.now() - began) / 1000;
  return {
    target: options.target,
    seed,
    inputs,
    seconds: secondsRun,
    inputsPerSecond: secondsRun > 0 ? inputs / secondsRun : 0,
    crashes: unique,
    crashingInputs: unique.reduce((n, c) => n + c.count, 0),
    restarts,
    parsed,
    outcomes,
    seeds,
    corpus,
  };
}

/** The worker is TypeScript: a bootstrap registers tsx's loader in the worker thread, then imports it. */
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(WORKER.href)}); })`;

/** One worker's life: from its start to the end of its budget, or to the input it hung or died on. */
function runWorker(data: WorkerData, hangMs: number, record: (found: Found) => void): Promise<WorkerRun> {
  return new Promise((resolve, reject) => {
    const header = new Int32Array(data.shared, 0, SHARED_HEADER / 4);
    const worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData: data,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: data.memoryLimitMb },
    });
    const started = performance.now();
    let readyAt: number | undefined;
    let lastDone = 0;
    let lastProgress = started;
    let rssLimit = Infinity;
    let finished: Omit<WorkerRun, 'stoppedAt'> | undefined;
    let latest: Readonly<Record<string, number>> = {};
    let seeds = 0;
    let corpus = 0;
    let parsed = 0;
    let outcomes = 0;
    let stoppedAt: number | undefined;
    let startupError: unknown;

    /** Records the input in flight as a crash and stops the worker; the loop resumes after that input. */
    const stop = (kind: CrashKind, signature: string, detail: string): void => {
      if (stoppedAt !== undefined || finished !== undefined) return;
      const iteration = Atomics.load(header, Slot.iteration);
      const length = Atomics.load(header, Slot.length);
      stoppedAt = iteration;
      record({ kind, signature, detail, iteration, input: new Uint8Array(data.shared, SHARED_HEADER, length).slice() });
      latest = { ...latest, [signature]: (latest[signature] ?? 0) + 1 };
      void worker.terminate();
    };

    const timer = setInterval(() => {
      const now = performance.now();
      if (readyAt === undefined) {
        if (now - started > STARTUP_MS) {
          startupError = new Error(`the fuzz worker for ${data.target} did not start within ${STARTUP_MS / 1000} s`);
          void worker.terminate();
        }
        return;
      }
      const done = Atomics.load(header, Slot.done);
      if (done !== lastDone) {
        lastDone = done;
        lastProgress = now;
      } else if (now - lastProgress > hangMs) {
        stop('hang', 'hang', `no result after ${((now - lastProgress) / 1000).toFixed(1)} s (limit ${hangMs / 1000} s)`);
      }
      const rss = process.memoryUsage.rss();
      if (rss > rssLimit) stop('memory', 'memory:rss', `RSS at ${Math.round(rss / 2 ** 20)} MiB, over ${data.memoryLimitMb} MiB above where it started`);
    }, 50);

    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') {
        readyAt = performance.now();
        lastProgress = readyAt;
        seeds = message.seeds;
        rssLimit = process.memoryUsage.rss() + data.memoryLimitMb * 1024 * 1024;
      } else if (message.type === 'crash') {
        record({ kind: message.kind, signature: message.signature, detail: message.error, iteration: message.iteration, input: message.input });
      } else {
        latest = message.duplicates;
        ({ corpus, parsed, outcomes } = message);
        if (message.type === 'done') finished = { done: message.done, counts: latest, seeds, corpus, parsed, outcomes };
      }
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (readyAt === undefined) {
        startupError = error;
      } else if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        stop('memory', 'memory:heap', `the worker ran out of its ${data.memoryLimitMb} MiB heap (${error.message})`);
      } else {
        // Thrown outside the parser's call: a timer or promise the parser left behind.
        stop('exception', `uncaught ${errorSignature(error)}`, error.stack ?? String(error));
      }
    });
    worker.on('exit', (code) => {
      clearInterval(timer);
      if (startupError !== undefined) {
        reject(startupError instanceof Error ? startupError : new Error(String(startupError)));
        return;
      }
      if (finished === undefined && stoppedAt === undefined) stop('exit', 'exit', `the worker exited (code ${code}) during an input`);
      if (finished !== undefined) resolve({ ...finished, stoppedAt: undefined });
      else resolve({ done: Atomics.load(header, Slot.done) + 1, stoppedAt, counts: latest, seeds, corpus, parsed, outcomes });
    });
  });
}

export interface ReplayResult {
  /** `rejected`: an error within the contract; `crash`: any other. */
  readonly outcome: 'ok' | 'rejected' | 'crash';
  readonly error?: unknown;
}

/**
 * Runs a target once on an input file's bytes (a crash file, or a regression fixture), in this thread, with no
 * time or memory limit.
 */
export async function replay(targetName: string, bytes: Uint8Array, targetsModule: URL = DEFAULT_TARGETS_MODULE): Promise<ReplayResult> {
  const { TARGETS } = (await import(targetsModule.href)) as { TARGETS: ReadonlyMap<string, FuzzTarget> };
  const target = TARGETS.get(targetName);
  if (target === undefined) throw new RangeError(`Expected a fuzz target (${[...TARGETS.keys()].join(', ')}), got "${targetName}"`);
  const input = unpackInput(bytes, target.parts.length);
  const tmp = await mkdtemp(join(tmpdir(), 'upscale-fuzz-replay-'));
  try {
    const context = { tmp };
    await target.seeds(context);
    await target.run(input, context);
    return { outcome: 'ok' };
  } catch (error) {
    return { outcome: target.accepts(error) ? 'rejected' : 'crash', error };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

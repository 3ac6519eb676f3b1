/**
 * The fuzz loop, in a worker thread so that the harness can stop it when a parser hangs or exhausts memory. Before
 * each run it publishes the input in shared memory, so the harness can save the input a hang or an out-of-memory
 * death happened on; crashes that are exceptions are posted with their input, the first of each kind only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hashSeed, mutateInput, packInput, Rng, type FuzzInput } from './mutate.js';
import type { FuzzTarget } from './target.js';
import { errorSignature, describeError, type WorkerData, type WorkerMessage, SHARED_HEADER, Slot } from './protocol.js';

const data = workerData as WorkerData;
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);

const { TARGETS } = (await import(data.targetsModule)) as { TARGETS: ReadonlyMap<string, FuzzTarget> };
const target = TARGETS.get(data.target);
if (target === undefined) throw new Error(`unknown fuzz target "${data.target}" (expected one of ${[...TARGETS.keys()].join(', ')})`);
const context = { tmp: data.tmp };
const seeds = await target.seeds(context);
if (seeds.length === 0 || seeds.some((s) => s.length !== target.parts.length)) {
  throw new Error(`target ${target.name}: expected seeds of ${target.parts.length} parts, got ${seeds.map((s) => s.length).join(', ') || 'none'}`);
}

const header = new Int32Array(data.shared, 0, SHARED_HEADER / 4);
const inputBytes = new Uint8Array(data.shared, SHARED_HEADER);
/** Parts may grow to 4 times the largest seed (at least 64 KiB), within what the shared buffer can show. */
const maxLengths = target.parts.map((_, i) =>
  Math.min(Math.floor((inputBytes.length - 64) / target.parts.length), Math.max(65536, 4 * Math.max(...seeds.map((s) => s[i]!.length)))),
);

/** Inputs that reached an outcome not seen before (a new error message, or success): mutated further. */
const corpus: FuzzInput[] = [...seeds];
const outcomes = new Set<string>();
const MAX_CORPUS = 1000;
const MAX_CORPUS_BYTES = 64 * 1024 * 1024;
let corpusBytes = 0;
const crashes = new Map<string, number>();

function outcomeKey(error: unknown): string {
  const e = error as { name?: unknown; code?: unknown; status?: unknown; message?: unknown };
  // Numbers and quoted values (names, the bytes found) blanked: one key per kind of error, not per input.
  const message = String(e.message ?? error).replace(/0x[0-9a-f]+|\d+/gi, '#').replace(/["'`(].*["'`)]/s, '…').slice(0, 160);
  return `${String(e.name)}:${String(e.code ?? e.status ?? '')}:${message}`;
}

function publish(iteration: number, input: FuzzInput): void {
  const packed = packInput(input);
  const length = Math.min(packed.length, inputBytes.length);
  inputBytes.set(packed.subarray(0, length), 0);
  Atomics.store(header, Slot.length, length);
  Atomics.store(header, Slot.iteration, iteration);
}

/** Growth of the process's RSS above its level now that counts as exhausting memory. */
const memoryLimit = process.memoryUsage.rss() + data.memoryLimitMb * 1024 * 1024;
let peakRss = process.resourceUsage().maxRSS * 1024;
const rng = new Rng(hashSeed(data.seed, data.start));
// A parser whose promise never settles would otherwise let the thread run out of work and exit: keep it alive so
// that the harness sees a hang.
const keepAlive = setInterval(() => {}, 1 << 30);
post({ type: 'ready', seeds: seeds.length });

let done = 0;
let parsed = 0;
let lastStats = performance.now();
let lastYield = lastStats;
for (let iteration = data.start; done < data.maxInputs || data.maxInputs === 0; iteration++) {
  if (Date.now() >= data.deadline) break;
  let now = performance.now();
  // Let the event loop turn now and then, as it does between files in production: Node finishes some cleanup in
  // process.nextTick (a zlib handle that failed is destroyed there), which a loop of synchronous calls would defer
  // to the end of the run, growing memory that a real caller never holds.
  if (now - lastYield > 20) {
    await new Promise(setImmediate);
    now = lastYield = performance.now();
  }
  if (now - lastStats > 1000) {
    post({ type: 'stats', done, parsed, outcomes: outcomes.size, corpus: corpus.length, duplicates: Object.fromEntries(crashes) });
    lastStats = now;
  }
  const base = rng.chance(0.3) ? rng.pick(seeds) : rng.pick(corpus);
  const input = mutateInput(rng, base, target.parts, corpus, maxLengths);
  publish(iteration, input);
  let key = 'ok';
  try {
    let result = target.run(input, context);
    if (result instanceof Promise) result = await result;
    // A target may describe what it got (e.g. which blocks were found), so that inputs reaching new cases are kept.
    if (typeof result === 'string') key = `ok:${result}`;
    parsed++;
  } catch (error) {
    if (target.accepts(error)) key = outcomeKey(error);
    else {
      const signature = errorSignature(error);
      key = `crash:${signature}`;
      const seen = crashes.get(signature) ?? 0;
      crashes.set(signature, seen + 1);
      if (seen === 0) post({ type: 'crash', kind: 'exception', iteration, signature, error: describeError(error), input: packInput(input) });
    }
  }
  // Peak RSS (getrusage) only grows: a new peak past the limit was reached during this input.
  const peak = process.resourceUsage().maxRSS * 1024;
  if (peak > peakRss && peak > memoryLimit) {
    const signature = 'memory:rss';
    crashes.set(signature, (crashes.get(signature) ?? 0) + 1);
    post({ type: 'crash', kind: 'memory', iteration, signature, error: `peak RSS reached ${Math.round(peak / 2 ** 20)} MiB, over ${data.memoryLimitMb} MiB above where it started`, input: packInput(input) });
  }
  peakRss = Math.max(peak, peakRss);
  if (!outcomes.has(key)) {
    outcomes.add(key);
    const size = input.reduce((n, p) => n + p.length, 0);
    if (corpus.length < MAX_CORPUS && corpusBytes + size <= MAX_CORPUS_BYTES) {
      corpus.push(input);
      corpusBytes += size;
    } else if (corpus.length > seeds.length) {
      // Full: the newcomer replaces an earlier find (never a seed), so the corpus keeps moving.
      const at = seeds.length + rng.below(corpus.length - seeds.length);
      const old = corpus[at]!.reduce((n, p) => n + p.length, 0);
      if (corpusBytes - old + size <= MAX_CORPUS_BYTES) {
        corpus[at] = input;
        corpusBytes += size - old;
      }
    }
  }
  done++;
  Atomics.store(header, Slot.done, done);
}
post({ type: 'done', done, parsed, outcomes: outcomes.size, corpus: corpus.length, duplicates: Object.fromEntries(crashes) });
clearInterval(keepAlive);

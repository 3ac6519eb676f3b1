/** What the harness and its worker thread exchange: start parameters, messages, and the shared-memory layout. */
export interface WorkerData {
  /** URL of the module exporting `TARGETS`. */
  readonly targetsModule: string;
  readonly target: string;
  readonly seed: number;
  /** Index of the first input (a restarted worker continues after the input that killed its predecessor). */
  readonly start: number;
  /** When to stop (Date.now() time): the run's wall-clock end, worker start-ups and hangs included. */
  readonly deadline: number;
  /** Stop after this many inputs; 0 for no limit. */
  readonly maxInputs: number;
  readonly memoryLimitMb: number;
  readonly tmp: string;
  /** Header ({@link Slot}) then the input being run, packed. */
  readonly shared: SharedArrayBuffer;
}

/** Int32 slots at the start of the shared buffer. */
export const Slot = { iteration: 0, length: 1, done: 2 } as const;
export const SHARED_HEADER = 16;

export type WorkerMessage =
  | { readonly type: 'ready'; readonly seeds: number }
  | {
      readonly type: 'stats' | 'done';
      readonly done: number;
      /** Inputs the parser accepted (no error at all). */
      readonly parsed: number;
      /** Distinct outcomes: success, and each error message with its numbers and quoted names blanked. */
      readonly outcomes: number;
      readonly corpus: number;
      readonly duplicates: Readonly<Record<string, number>>;
    }
  | {
      readonly type: 'crash';
      readonly kind: 'exception' | 'memory';
      readonly iteration: number;
      readonly signature: string;
      /** The stack, or a description. */
      readonly error: string;
      readonly input: Uint8Array;
    };

/**
 * One line for an error: its class, code and the first place in our code it passed through
 * (`RangeError ERR_OUT_OF_RANGE at src/image/metadata/webp.ts:97`), so that one bug gives one signature.
 */
export function errorSignature(error: unknown): string {
  const name = error instanceof Error ? error.constructor.name : typeof error;
  const code = (error as { code?: unknown } | null)?.code;
  const frames = (error instanceof Error ? (error.stack ?? '') : '').split('\n').filter((l) => /^\s+at /.test(l));
  const ours = frames.map((l) => /\/((?:src|scripts|test)\/[^():]+:\d+)(?::\d+)?\)?$/.exec(l)?.[1]).find((f) => f !== undefined);
  const where = ours ?? frames[0]?.trim().slice(3) ?? 'unknown';
  return `${name}${typeof code === 'string' ? ` ${code}` : ''} at ${where}`;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : `non-Error thrown: ${String(error)}`;
}

/**
 * What a fuzz target is: a parser we own, its seed inputs, and its error contract (what it may throw on malformed
 * input; anything else is a crash).
 */
import { isUpscaleError } from '../../src/errors.js';
import type { FuzzInput, PartKind } from './mutate.js';

/** Per-worker facilities a target may use. */
export interface TargetContext {
  /** A private scratch directory, removed when the run ends (for parsers that read files). */
  readonly tmp: string;
}

export interface FuzzTarget {
  readonly name: string;
  /** The functions exercised, for `--list` and the docs. */
  readonly about: string;
  /** What the parser may throw on malformed input, in words; anything else is a crash. */
  readonly contract: string;
  /** One entry per file the parser reads; each part is mutated as its kind allows. */
  readonly parts: readonly PartKind[];
  /** Real files to start from (read or generated once per worker). */
  seeds(context: TargetContext): Promise<FuzzInput[]>;
  /**
   * Runs the parser on one input; may return a promise. A string result names what the input reached (`exif+iptc`),
   * which guides the mutations like a new error message does.
   */
  run(input: FuzzInput, context: TargetContext): unknown;
  /** Whether `error` is within the contract. */
  accepts(error: unknown): boolean;
}

/** The first stack frame of an error (`at f (file:line:col)`), without the leading `at `. */
export function topFrame(error: unknown): string {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  const line = stack.split('\n').find((l) => /^\s+at /.test(l));
  return line === undefined ? '' : line.trim().slice(3);
}

/** True when `error` was thrown by our code under `src/<dir>` rather than by V8 or Node (a DataView, a Buffer read). */
export function thrownIn(error: unknown, dir: string): boolean {
  return topFrame(error).includes(`/src/${dir}`);
}

export const onlyUpscaleError = (error: unknown): boolean => isUpscaleError(error);

/** A plain `Error` (not a subclass) whose message starts with one of `prefixes`, thrown under `src/<dir>`. */
export function plainErrorStartingWith(error: unknown, dir: string, ...prefixes: readonly string[]): boolean {
  return error instanceof Error && error.constructor === Error && prefixes.some((p) => error.message.startsWith(p)) && thrownIn(error, dir);
}

export const utf8 = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

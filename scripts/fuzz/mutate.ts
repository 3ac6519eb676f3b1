/**
 * Input mutation for the fuzz harness: a seeded PRNG, byte-level mutators (bit flips, interesting bytes and
 * integers, arithmetic on integer fields, chunk insert/delete/duplicate, truncation, splicing), and structure-aware
 * ones for text (number tokens, tokens, lines) and JSON (values, keys, array elements). Everything is a pure
 * function of the PRNG state, so a run is reproduced by its seed.
 */

/** How a part of an input is best mutated; byte mutators apply to every kind. */
export type PartKind = 'binary' | 'text' | 'json';

/** An input: one part per file the parser reads (e.g. NCNN's .param and .bin). */
export type FuzzInput = readonly Uint8Array[];

/** Deterministic 32-bit PRNG (mulberry32). */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n); 0 when n <= 0. */
  below(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Expected a non-empty list to pick from, got an empty one');
    return items[this.below(items.length)] as T;
  }

  /** Small numbers much more often than large ones: 1, 2, ... up to `max`. */
  smallCount(max: number): number {
    let n = 1;
    while (n < max && this.chance(0.5)) n++;
    return n;
  }
}

/** A 32-bit hash of a string and numbers (FNV-1a), to derive seeds. */
export function hashSeed(...parts: readonly (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    for (const ch of String(part)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    h = Math.imul(h ^ 0xff, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x20, 0x40, 0x0a, 0x0d] as const;
const INTERESTING_INTS = [
  0, 1, 2, 3, 4, 7, 8, 16, 32, 64, 100, 127, 128, 255, 256, 512, 1000, 1024, 4096, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
] as const;
const INTERESTING_NUMBERS = [
  '0', '-0', '1', '-1', '2', '3', '4', '8', '255', '256', '65535', '65536', '-2147483648', '2147483647', '2147483648',
  '4294967295', '4294967296', '9007199254740993', '1000001', '99999999999', '1e308', '1e309', '-1e309', '1e-45', '0.5',
  '-0.0', 'NaN', 'nan', 'inf', '-inf', 'Infinity', '0x10', '1.', '.5', '1e', '00', '+1',
] as const;
const INTERESTING_STRINGS = [
  '', '"', '\\', '\u0000', '{', '}', '[', ']', ',', '=', ':', ' ', '\n', '\r\n', '\t', '%s', '../', '/', '..',
  '\u00ff\u00fe', '\u00ed\u00a0\u0080', 'A'.repeat(300), '0'.repeat(40), '__proto__', 'constructor', 'toString',
] as const;

type ByteMutator = (rng: Rng, data: Uint8Array, ctx: MutationContext) => Uint8Array;

export interface MutationContext {
  /** The same part of other corpus entries, for splicing. */
  readonly others: readonly Uint8Array[];
}

function concat(...pieces: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A random range [start, start + length) of `size` bytes, short more often than long. */
function range(rng: Rng, size: number): [number, number] {
  if (size === 0) return [0, 0];
  const start = rng.below(size);
  const room = size - start;
  const length = rng.chance(0.8) ? Math.min(room, 1 + rng.below(Math.min(room, 64))) : 1 + rng.below(room);
  return [start, length];
}

function writeInt(data: Uint8Array, at: number, width: 1 | 2 | 4, value: number, littleEndian: boolean): void {
  for (let i = 0; i < width; i++) {
    const byte = (value >>> (8 * i)) & 0xff;
    const index = littleEndian ? at + i : at + width - 1 - i;
    if (index < data.length) data[index] = byte;
  }
}

function readInt(data: Uint8Array, at: number, width: 1 | 2 | 4, littleEndian: boolean): number {
  let value = 0;
  for (let i = 0; i < width; i++) {
    const index = littleEndian ? at + i : at + width - 1 - i;
    value += (data[index] ?? 0) * 2 ** (8 * i);
  }
  return value;
}

const BYTE_MUTATORS: readonly ByteMutator[] = [
  // Bit flips.
  (rng, data) => {
    const out = data.slice();
    if (out.length === 0) return out;
    for (let n = rng.smallCount(8); n > 0; n--) {
      const at = rng.below(out.length);
      out[at] = (out[at] ?? 0) ^ (1 << rng.below(8));
    }
    return out;
  },
  // Interesting byte values.
  (rng, data) => {
    const out = data.slice();
    if (out.length === 0) return Uint8Array.of(rng.pick(INTERESTING_BYTES));
    for (let n = rng.smallCount(4); n > 0; n--) out[rng.below(out.length)] = rng.pick(INTERESTING_BYTES);
    return out;
  },
  // Random bytes.
  (rng, data) => {
    const out = data.slice();
    for (let n = rng.smallCount(4); n > 0 && out.length > 0; n--) out[rng.below(out.length)] = rng.below(256);
    return out;
  },
  // Integer-field smashing: an interesting 8/16/32-bit value, either byte order, or the data's own length.
  (rng, data) => {
    const out = data.slice();
    if (out.length === 0) return out;
    const width = rng.pick([1, 2, 4] as const);
    const special = [out.length, out.length - 1, out.length + 1, rng.below(out.length)];
    const value = rng.chance(0.8) ? rng.pick(INTERESTING_INTS) : rng.pick(special);
    writeInt(out, rng.below(out.length), width, rng.chance(0.1) ? -value : value, rng.chance(0.5));
    return out;
  },
  // Arithmetic on an integer field (lengths, counts, offsets): +/- a little, doubled, or a power-of-two step.
  (rng, data) => {
    const out = data.slice();
    if (out.length === 0) return out;
    const width = rng.pick([1, 2, 4] as const);
    const at = rng.below(out.length);
    const littleEndian = rng.chance(0.5);
    const old = readInt(out, at, width, littleEndian);
    const ops = [old + 1 + rng.below(35), old - 1 - rng.below(35), old * 2, old + 2 ** (8 * width - 1), old ^ 0xff];
    writeInt(out, at, width, rng.pick(ops), littleEndian);
    return out;
  },
  // Delete a chunk.
  (rng, data) => {
    const [start, length] = range(rng, data.length);
    return concat(data.subarray(0, start), data.subarray(start + length));
  },
  // Insert random or interesting bytes.
  (rng, data) => {
    const at = rng.below(data.length + 1);
    const length = rng.chance(0.9) ? 1 + rng.below(16) : 1 + rng.below(4096);
    const fill = rng.chance(0.5) ? -1 : rng.pick(INTERESTING_BYTES);
    const inserted = Uint8Array.from({ length }, () => (fill < 0 ? rng.below(256) : fill));
    return concat(data.subarray(0, at), inserted, data.subarray(at));
  },
  // Duplicate a chunk (right after itself, or elsewhere).
  (rng, data) => {
    const [start, length] = range(rng, data.length);
    const chunk = data.slice(start, start + length);
    const at = rng.chance(0.5) ? start + length : rng.below(data.length + 1);
    return concat(data.subarray(0, at), chunk, data.subarray(at));
  },
  // Truncate (keeping most of it, more often than not).
  (rng, data) => data.slice(0, rng.chance(0.7) ? data.length - 1 - rng.below(Math.min(data.length, 256)) : rng.below(data.length + 1)),
  // Splice: the head of this input and the tail of another.
  (rng, data, ctx) => {
    if (ctx.others.length === 0) return data.slice();
    const other = rng.pick(ctx.others);
    return concat(data.subarray(0, rng.below(data.length + 1)), other.subarray(rng.below(other.length + 1)));
  },
  // Overwrite a range with bytes from elsewhere in this input or another one.
  (rng, data, ctx) => {
    const out = data.slice();
    if (out.length === 0) return out;
    const source = ctx.others.length > 0 && rng.chance(0.5) ? rng.pick(ctx.others) : data;
    const [start, length] = range(rng, source.length);
    const at = rng.below(out.length);
    out.set(source.subarray(start, start + Math.min(length, out.length - at)), at);
    return out;
  },
];

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
const fromLatin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/** Text mutators work on the bytes read as Latin-1, so any byte survives the round trip. */
type TextMutator = (rng: Rng, text: string) => string;

const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

const TEXT_MUTATORS: readonly TextMutator[] = [
  // Replace a number token: interesting values, +/-1, a thousand times larger.
  (rng, text) => {
    const matches = [...text.matchAll(NUMBER)];
    if (matches.length === 0) return text;
    const m = rng.pick(matches);
    const old = Number(m[0]);
    const value = rng.chance(0.7) ? rng.pick(INTERESTING_NUMBERS) : rng.pick([String(old + 1), String(old - 1), String(old * 1000), String(-old)]);
    return text.slice(0, m.index) + value + text.slice((m.index ?? 0) + m[0].length);
  },
  // Delete, duplicate or swap tokens (separators kept).
  (rng, text) => {
    const tokens = text.split(/(\s+|[,=:[\]{}"])/);
    if (tokens.length < 2) return text;
    const i = rng.below(tokens.length);
    const j = rng.below(tokens.length);
    const op = rng.below(3);
    if (op === 0) tokens.splice(i, 1);
    else if (op === 1) tokens.splice(i, 0, tokens[j] ?? '');
    else [tokens[i], tokens[j]] = [tokens[j] ?? '', tokens[i] ?? ''];
    return tokens.join('');
  },
  // Delete, duplicate or swap lines.
  (rng, text) => {
    const lines = text.split('\n');
    const i = rng.below(lines.length);
    const j = rng.below(lines.length);
    const op = rng.below(3);
    if (op === 0 && lines.length > 1) lines.splice(i, 1);
    else if (op === 1) lines.splice(j, 0, lines[i] ?? '');
    else [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
    return lines.join('\n');
  },
  // Insert an interesting string.
  (rng, text) => {
    const at = rng.below(text.length + 1);
    return text.slice(0, at) + rng.pick(INTERESTING_STRINGS) + text.slice(at);
  },
];

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const INTERESTING_JSON: readonly JsonValue[] = [
  null, true, false, 0, -1, 1, 2, 0.5, -0.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e6, 65536, '', 'x',
  'float32', 'int32', 'float16', 'uint8', 'layers-model', 'graph-model', 'Conv2D', 'same', 'valid', 'relu', '..',
  '../model.json', 'model.json', '/etc/passwd', 'http://example.com/x.bin', [], [null], [0], [-1, -1], [1, 2, 3, 4, 5],
  {}, { a: 1 }, 'A'.repeat(1000),
];

/** Every container (object or array) in the document, with its keys. */
function containers(root: JsonValue, limit = 4096): (JsonValue[] | { [key: string]: JsonValue })[] {
  const found: (JsonValue[] | { [key: string]: JsonValue })[] = [];
  const stack: JsonValue[] = [root];
  while (stack.length > 0 && found.length < limit) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    found.push(value);
    for (const child of Array.isArray(value) ? value : Object.values(value)) stack.push(child);
  }
  return found;
}

function mutateJson(rng: Rng, text: string): string | undefined {
  let root: JsonValue;
  try {
    root = JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
  const all = containers(root);
  if (all.length === 0) return JSON.stringify(rng.pick(INTERESTING_JSON));
  const target = rng.pick(all);
  const keys: (string | number)[] = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
  const set = (key: string | number, value: JsonValue): void => {
    (target as Record<string | number, JsonValue>)[key] = value;
  };
  const get = (key: string | number): JsonValue => (target as Record<string | number, JsonValue>)[key] ?? null;
  const op = rng.below(6);
  if (keys.length === 0 || op === 0) {
    // Add an entry.
    const value = rng.pick(INTERESTING_JSON);
    if (Array.isArray(target)) target.splice(rng.below(target.length + 1), 0, value);
    else target[rng.pick(['name', 'shape', 'dtype', 'paths', 'config', 'class_name', 'inbound_nodes', 'x'])] = value;
  } else {
    const key = rng.pick(keys);
    if (op === 1) {
      set(key, rng.pick(INTERESTING_JSON));
    } else if (op === 2) {
      if (Array.isArray(target)) target.splice(key as number, 1);
      else delete target[key as string];
    } else if (op === 3) {
      // Duplicate an array element, or copy a value from elsewhere in the document.
      if (Array.isArray(target)) target.splice(key as number, 0, structuredClone(get(key)));
      else set(key, structuredClone(rng.pick(all) as JsonValue));
    } else if (op === 4) {
      const old = get(key);
      if (typeof old === 'number') set(key, rng.pick([old + 1, old - 1, old * 2, -old, old + 0.5, old * 1e6]));
      else if (typeof old === 'string') set(key, old.slice(0, rng.below(old.length + 1)) + rng.pick(['', '_1', '/x', '..', '\u0000']));
      else set(key, rng.pick(INTERESTING_JSON));
    } else if (!Array.isArray(target)) {
      // Rename a key.
      const value = get(key);
      delete target[key as string];
      target[`${String(key)}${rng.pick(['_', 'x', ''])}`] = value;
    } else {
      const other = rng.pick(keys);
      const a = get(key);
      set(key, get(other));
      set(other, a);
    }
  }
  return JSON.stringify(root, null, rng.chance(0.1) ? 1 : undefined);
}

function mutatePart(rng: Rng, data: Uint8Array, kind: PartKind, ctx: MutationContext): Uint8Array {
  if (kind === 'json' && rng.chance(0.6)) {
    const mutated = mutateJson(rng, latin1(data));
    if (mutated !== undefined) return fromLatin1(mutated);
  }
  if (kind !== 'binary' && rng.chance(0.6)) return fromLatin1(rng.pick(TEXT_MUTATORS)(rng, latin1(data)));
  return rng.pick(BYTE_MUTATORS)(rng, data, ctx);
}

/**
 * A mutant of `base`: a few stacked mutations (one most often, up to eight) on one part, sometimes on several.
 * `corpus` supplies the material for splicing.
 */
export function mutateInput(rng: Rng, base: FuzzInput, kinds: readonly PartKind[], corpus: readonly FuzzInput[], maxLengths: readonly number[]): Uint8Array[] {
  const parts = [...base];
  const touched = rng.chance(0.8) ? [rng.below(parts.length)] : parts.map((_, i) => i).filter(() => rng.chance(0.5));
  if (touched.length === 0) touched.push(0);
  for (const index of touched) {
    const kind = kinds[index] ?? 'binary';
    const maxLength = maxLengths[index] ?? 1 << 20;
    const others = corpus.length > 1 ? [rng.pick(corpus)[index], rng.pick(corpus)[index]].filter((p): p is Uint8Array => p !== undefined) : [];
    let data = parts[index] ?? new Uint8Array(0);
    for (let n = rng.smallCount(8); n > 0; n--) data = mutatePart(rng, data, kind, { others });
    parts[index] = data.length > maxLength ? data.slice(0, maxLength) : data;
  }
  return parts;
}

/** The one-file form of a multi-part input (how crash files are written): `UPFZ`, part count, then length + bytes each. */
export function packInput(input: FuzzInput): Uint8Array {
  if (input.length === 1) return input[0] ?? new Uint8Array(0);
  const header = new Uint8Array(8 + 4 * input.length);
  const view = new DataView(header.buffer);
  header.set([0x55, 0x50, 0x46, 0x5a]);
  view.setUint32(4, input.length, true);
  input.forEach((part, i) => view.setUint32(8 + 4 * i, part.length, true));
  return concat(header, ...input);
}

/** Reverses {@link packInput} for a target taking `parts` parts. */
export function unpackInput(bytes: Uint8Array, parts: number): Uint8Array[] {
  if (parts === 1) return [bytes];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.length >= 8 && latin1(bytes.subarray(0, 4)) === 'UPFZ';
  const count = magic ? view.getUint32(4, true) : 0;
  if (!magic || count !== parts || bytes.length < 8 + 4 * count) {
    throw new RangeError(`Expected a packed input of ${parts} parts (starting with UPFZ), got ${bytes.length} bytes without that header`);
  }
  const out: Uint8Array[] = [];
  let at = 8 + 4 * count;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(8 + 4 * i, true);
    out.push(bytes.slice(at, at + length));
    at += length;
  }
  return out;
}

/**
 * A restricted Python unpickler (protocols 2 to 5, plus the protocol 0/1 opcodes that carry no Python literals):
 * it builds plain values (None, bools, numbers, strings, bytes, lists, tuples, dicts, sets) and resolves every
 * global through a caller-given allowlist whose entries are our own implementations, so a pickle can never make us
 * run anything else. Opcode reference: CPython's Lib/pickletools.py.
 *
 * Every length is checked against the bytes left before anything is read or allocated, and the stack, memo and
 * MARK nesting are capped, so a hostile or truncated pickle gives an `UpscaleError` and never a crash or a huge
 * allocation.
 */
import { UpscaleError } from '../../errors.js';

/** What a pickle can hold here. Tuples are frozen arrays, lists are mutable ones; host objects extend {@link PickleObject}. */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly PickleValue[]
  | PickleDict
  | Set<PickleValue>
  | PickleObject;

/** A Python dict (or OrderedDict), in insertion order. Keys compare like JS Map keys. */
export class PickleDict extends Map<PickleValue, PickleValue> {}

/** Base of the objects the allowlisted globals create (tensors, storages, the globals themselves). */
export abstract class PickleObject {
  /** For error messages: what the object is, e.g. `torch.FloatStorage`. */
  abstract readonly description: string;
}

/**
 * A global the allowlist resolved. `call` is our implementation of it (REDUCE, NEWOBJ, INST and OBJ use it); a
 * global without one (a storage type, a dtype) can only be passed around.
 */
export class PickleGlobal extends PickleObject {
  constructor(
    readonly description: string,
    readonly call?: (args: readonly PickleValue[]) => PickleValue,
  ) {
    super();
  }
}

export interface UnpickleOptions {
  /** Byte offset where the pickle starts (a legacy torch.save file is several pickles in a row). @default 0 */
  readonly offset?: number;
  /** Named after the file in error messages, e.g. `archive/data.pkl`. */
  readonly what?: string;
  /** Resolves GLOBAL, STACK_GLOBAL and INST; `undefined` refuses the global. It may throw a more specific error. */
  readonly findGlobal: (module: string, name: string) => PickleGlobal | undefined;
  /** Resolves persistent ids (BINPERSID, PERSID); without it they are refused. */
  readonly persistentLoad?: (pid: PickleValue) => PickleValue;
}

/** Stack plus memo entries: torch pickles memoize about ten per tensor; a million means a forged file. */
const MAX_ITEMS = 1 << 20;
/** MARK nesting: torch pickles nest a handful of levels. */
const MAX_MARK_DEPTH = 256;
/** Text opcodes (GLOBAL's module and name, INT, FLOAT) end at a newline within this many bytes. */
const MAX_LINE = 4096;
/** Python ints in checkpoints are small; a longer LONG4 is a forgery. */
const MAX_LONG_BYTES = 1024;

const OP = {
  MARK: 0x28, // (
  EMPTY_TUPLE: 0x29, // )
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  FLOAT: 0x46, // F
  BINFLOAT: 0x47, // G
  INT: 0x49, // I
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  LONG: 0x4c, // L
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  PERSID: 0x50, // P
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  STRING: 0x53, // S
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  UNICODE: 0x56, // V
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  GET: 0x67, // g
  BINGET: 0x68, // h
  INST: 0x69, // i
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  OBJ: 0x6f, // o
  PUT: 0x70, // p
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** True for a tuple or a list. */
export function isSequence(value: PickleValue | undefined): value is readonly PickleValue[] {
  return Array.isArray(value);
}

/** A short description of a value's type for error messages (`a dict`, `a str`, `torch.FloatStorage`). */
export function describeValue(value: PickleValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'a bool';
  if (typeof value === 'number' || typeof value === 'bigint') return Number.isInteger(value) || typeof value === 'bigint' ? 'an int' : 'a float';
  if (typeof value === 'string') return 'a str';
  if (value instanceof Uint8Array) return 'bytes';
  if (isSequence(value)) return Object.isFrozen(value) ? 'a tuple' : 'a list';
  if (value instanceof PickleDict) return 'a dict';
  if (value instanceof Set) return 'a set';
  return value.description;
}

/** Makes a name from a file printable on one line in a message. */
export function printable(text: string, max = 120): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/**
 * Unpickles one pickle from `bytes` and returns its value and the offset just after its STOP opcode.
 * Throws `MODEL_INVALID` naming `file` for malformed data and for any global the allowlist refuses.
 *
 * @example
 * const { value } = unpickle(bytes, 'model.pth', { findGlobal: (module, name) => undefined });
 */
export function unpickle(bytes: Uint8Array, file: string, options: UnpickleOptions): { value: PickleValue; end: number } {
  const where = options.what === undefined ? '' : ` (${options.what})`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length;
  let pos = options.offset ?? 0;
  let opStart = pos;

  const invalid = (message: string): UpscaleError =>
    new UpscaleError('MODEL_INVALID', `invalid pickle${where}: ${message} at byte ${opStart}`, { file });

  let stack: PickleValue[] = [];
  const marks: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  let markedItems = 0; // items held in `marks`, counted against MAX_ITEMS with the stack and memo

  const need = (n: number, what: string): void => {
    if (n > end - pos) throw invalid(`truncated ${what} (${n} bytes needed, ${end - pos} left)`);
  };
  const u8 = (): number => {
    need(1, 'data');
    return bytes[pos++] as number;
  };
  const u16 = (): number => {
    need(2, 'data');
    pos += 2;
    return view.getUint16(pos - 2, true);
  };
  const u32 = (): number => {
    need(4, 'data');
    pos += 4;
    return view.getUint32(pos - 4, true);
  };
  const u64 = (what: string): number => {
    need(8, what);
    const value = view.getBigUint64(pos, true);
    pos += 8;
    // Checked here so that the caller's `need` compares two exact numbers.
    if (value > BigInt(end - pos)) throw invalid(`${what} of ${value} bytes runs past the end of the data (${end - pos} bytes left)`);
    return Number(value);
  };
  const take = (n: number, what: string): Uint8Array => {
    need(n, what);
    pos += n;
    return bytes.subarray(pos - n, pos);
  };
  const text = (n: number, what: string): string => {
    const raw = take(n, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw invalid(`${what} is not valid UTF-8`);
    }
  };
  const line = (what: string): string => {
    const limit = Math.min(end, pos + MAX_LINE);
    let stop = pos;
    while (stop < limit && bytes[stop] !== 0x0a) stop++;
    if (stop >= limit) throw invalid(`${what} has no end of line`);
    const raw = bytes.subarray(pos, stop);
    pos = stop + 1;
    return latin1.decode(raw);
  };

  const push = (value: PickleValue): void => {
    if (stack.length + markedItems + memo.size >= MAX_ITEMS) throw invalid(`more than ${MAX_ITEMS} stack and memo items`);
    stack.push(value);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) throw invalid('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw invalid('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    const previous = marks.pop();
    if (previous === undefined) throw invalid('MARK missing');
    markedItems -= previous.length;
    stack = previous;
    return items;
  };
  const memoize = (index: number): void => {
    if (!memo.has(index) && stack.length + markedItems + memo.size >= MAX_ITEMS) throw invalid(`more than ${MAX_ITEMS} stack and memo items`);
    memo.set(index, top());
  };
  const recall = (index: number): void => {
    const value = memo.get(index);
    if (value === undefined) throw invalid(`memo entry ${index} was never stored`);
    push(value);
  };
  const resolve = (module: string, name: string): PickleGlobal => {
    const found = options.findGlobal(module, name);
    if (found !== undefined) return found;
    throw new UpscaleError(
      'MODEL_INVALID',
      `refused to load: the pickle references ${printable(`${module}.${name}`)}, which is not a tensor or a plain container (only weights can be loaded; this file may be unsafe)`,
      { file },
    );
  };
  const call = (callable: PickleValue, args: PickleValue, opcode: string): PickleValue => {
    if (!(callable instanceof PickleGlobal) || callable.call === undefined) throw invalid(`${opcode} of ${describeValue(callable)}, which cannot be called`);
    if (!isSequence(args)) throw invalid(`${opcode} with ${describeValue(args)} as arguments`);
    return callable.call(args);
  };
  const list = (value: PickleValue, opcode: string): PickleValue[] => {
    if (!isSequence(value) || Object.isFrozen(value)) throw invalid(`${opcode} to ${describeValue(value)}`);
    return value as PickleValue[];
  };
  const dict = (value: PickleValue, opcode: string): PickleDict => {
    if (!(value instanceof PickleDict)) throw invalid(`${opcode} to ${describeValue(value)}`);
    return value;
  };
  const setItems = (target: PickleDict, items: readonly PickleValue[], opcode: string): void => {
    if (items.length % 2 !== 0) throw invalid(`${opcode} with an odd number of items`);
    for (let i = 0; i < items.length; i += 2) target.set(items[i] as PickleValue, items[i + 1] as PickleValue);
  };
  const integer = (value: bigint): number | bigint => (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value);
  const long = (raw: Uint8Array): number | bigint => {
    // Little-endian two's complement.
    let value = 0n;
    for (let i = raw.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(raw[i] as number);
    if (raw.length > 0 && (raw[raw.length - 1] as number) & 0x80) value -= 1n << BigInt(raw.length * 8);
    return integer(value);
  };
  const decimal = (textValue: string, what: string): number | bigint => {
    if (!/^[+-]?\d+$/.test(textValue)) throw invalid(`${what} "${printable(textValue, 40)}" is not an integer`);
    return integer(BigInt(textValue));
  };

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case OP.PROTO: {
        const version = u8();
        if (version > 5) throw invalid(`pickle protocol ${version} is newer than the 5 this reader knows`);
        break;
      }
      case OP.FRAME:
        // Frames only help streaming readers; the whole pickle is in memory, so check the length and go on.
        u64('frame');
        break;
      case OP.STOP: {
        const value = pop();
        return { value, end: pos };
      }
      case OP.MARK:
        if (marks.length >= MAX_MARK_DEPTH) throw invalid(`nesting deeper than ${MAX_MARK_DEPTH} levels`);
        marks.push(stack);
        markedItems += stack.length;
        stack = [];
        break;
      case OP.POP:
        if (stack.length > 0) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        push(top());
        break;

      case OP.NONE:
        push(null);
        break;
      case OP.NEWTRUE:
        push(true);
        break;
      case OP.NEWFALSE:
        push(false);
        break;
      case OP.BININT:
        need(4, 'BININT');
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      case OP.BININT1:
        push(u8());
        break;
      case OP.BININT2:
        push(u16());
        break;
      case OP.LONG1:
        push(long(take(u8(), 'LONG1')));
        break;
      case OP.LONG4: {
        const n = u32();
        if (n > MAX_LONG_BYTES) throw invalid(`LONG4 of ${n} bytes (at most ${MAX_LONG_BYTES} expected)`);
        push(long(take(n, 'LONG4')));
        break;
      }
      case OP.INT: {
        // Protocol 0: a decimal line; "01" and "00" are True and False.
        const value = line('INT');
        push(value === '01' ? true : value === '00' ? false : decimal(value, 'INT'));
        break;
      }
      case OP.LONG:
        push(decimal(line('LONG').replace(/L$/, ''), 'LONG'));
        break;
      case OP.BINFLOAT:
        need(8, 'BINFLOAT');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case OP.FLOAT: {
        // Protocol 0: Python's repr of a float.
        const value = line('FLOAT');
        const special = /^([+-]?)(inf|nan)$/i.exec(value);
        const number = special === null ? Number(value) : special[2]?.toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity;
        if (value.trim() === '' || (special === null && Number.isNaN(number))) throw invalid(`FLOAT "${printable(value, 40)}" is not a number`);
        push(number);
        break;
      }

      case OP.BINUNICODE:
        push(text(u32(), 'BINUNICODE'));
        break;
      case OP.SHORT_BINUNICODE:
        push(text(u8(), 'SHORT_BINUNICODE'));
        break;
      case OP.BINUNICODE8:
        push(text(u64('BINUNICODE8'), 'BINUNICODE8'));
        break;
      case OP.BINSTRING:
      case OP.SHORT_BINSTRING: {
        // Python 2 str: torch.load decodes it as UTF-8; fall back to Latin-1 like encoding='latin1' would.
        const raw = take(op === OP.BINSTRING ? u32() : u8(), 'BINSTRING');
        let value: string;
        try {
          value = utf8.decode(raw);
        } catch {
          value = latin1.decode(raw);
        }
        push(value);
        break;
      }
      case OP.BINBYTES:
        push(take(u32(), 'BINBYTES'));
        break;
      case OP.SHORT_BINBYTES:
        push(take(u8(), 'SHORT_BINBYTES'));
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        push(take(u64('BINBYTES8'), 'BINBYTES8'));
        break;

      case OP.EMPTY_TUPLE:
        push(Object.freeze([]));
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        if (stack.length < n) throw invalid('stack underflow');
        push(Object.freeze(stack.splice(stack.length - n, n)));
        break;
      }
      case OP.TUPLE:
        push(Object.freeze(popMark()));
        break;
      case OP.EMPTY_LIST:
        push([]);
        break;
      case OP.LIST:
        push(popMark());
        break;
      case OP.APPEND: {
        const value = pop();
        list(top(), 'APPEND').push(value);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const target = list(top(), 'APPENDS');
        for (const item of items) target.push(item);
        break;
      }
      case OP.EMPTY_DICT:
        push(new PickleDict());
        break;
      case OP.DICT: {
        const target = new PickleDict();
        setItems(target, popMark(), 'DICT');
        push(target);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        dict(top(), 'SETITEM').set(key, value);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(dict(top(), 'SETITEMS'), items, 'SETITEMS');
        break;
      }
      case OP.EMPTY_SET:
        push(new Set());
        break;
      case OP.ADDITEMS: {
        const items = popMark();
        const target = top();
        if (!(target instanceof Set)) throw invalid(`ADDITEMS to ${describeValue(target)}`);
        for (const item of items) target.add(item);
        break;
      }
      case OP.FROZENSET:
        push(new Set(popMark()));
        break;

      case OP.PUT:
        memoize(Number(decimal(line('PUT'), 'PUT')));
        break;
      case OP.BINPUT:
        memoize(u8());
        break;
      case OP.LONG_BINPUT:
        memoize(u32());
        break;
      case OP.MEMOIZE:
        memoize(memo.size);
        break;
      case OP.GET:
        recall(Number(decimal(line('GET'), 'GET')));
        break;
      case OP.BINGET:
        recall(u8());
        break;
      case OP.LONG_BINGET:
        recall(u32());
        break;

      case OP.GLOBAL: {
        const module = line('GLOBAL module');
        push(resolve(module, line('GLOBAL name')));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw invalid(`STACK_GLOBAL of ${describeValue(module)} and ${describeValue(name)} (expected two str)`);
        }
        push(resolve(module, name));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        push(call(pop(), args, 'REDUCE'));
        break;
      }
      case OP.NEWOBJ: {
        // cls.__new__(cls, *args): for the allowlisted classes that is the same as calling them.
        const args = pop();
        push(call(pop(), args, 'NEWOBJ'));
        break;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof PickleDict) || kwargs.size > 0) throw invalid('NEWOBJ_EX with keyword arguments');
        push(call(pop(), args, 'NEWOBJ_EX'));
        break;
      }
      case OP.INST: {
        const module = line('INST module');
        const callable = resolve(module, line('INST name'));
        push(call(callable, Object.freeze(popMark()), 'INST'));
        break;
      }
      case OP.OBJ: {
        const [callable, ...args] = popMark();
        push(call(callable ?? null, Object.freeze(args), 'OBJ'));
        break;
      }
      case OP.BUILD:
        // __setstate__: our objects have no attributes to set (e.g. an OrderedDict's `_metadata` is dropped).
        pop();
        top();
        break;
      case OP.BINPERSID:
      case OP.PERSID: {
        const pid = op === OP.BINPERSID ? pop() : line('PERSID');
        if (options.persistentLoad === undefined) throw invalid('persistent id outside a PyTorch checkpoint');
        push(options.persistentLoad(pid));
        break;
      }
      case OP.READONLY_BUFFER:
        top();
        break;

      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        throw new UpscaleError('MODEL_INVALID', `refused to load: the pickle uses the copyreg extension registry (opcode 0x${op.toString(16)} at byte ${opStart}), which can name any global (only weights can be loaded; this file may be unsafe)`, { file });
      case OP.STRING:
      case OP.UNICODE:
        throw invalid(`protocol 0 string opcode 0x${op.toString(16)} is not supported (save with pickle protocol 2 or later)`);
      case OP.NEXT_BUFFER:
        throw invalid('out-of-band buffers (NEXT_BUFFER) are not supported');
      default:
        throw invalid(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

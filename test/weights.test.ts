import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUpscaleError, type UpscaleError } from '../src/errors.js';
import { readStateDict, readWeightsFile } from '../src/models/weights/index.js';
import { PickleDict, PickleGlobal, unpickle, type PickleValue } from '../src/models/weights/pickle.js';
import { readZip } from '../src/models/weights/zip.js';

/** Made by test/fixtures/pytorch/make_weights_fixtures.py with torch.save. */
const DIR = fileURLToPath(new URL('./fixtures/weights', import.meta.url));

interface Expected {
  readonly marker: string;
  readonly readable: readonly string[];
  readonly tensors: Readonly<Record<string, { shape: number[]; dtype: string; values: number[] }>>;
}
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Expected;
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(DIR, name)));

/** Asserts a one-line MODEL_INVALID error that names `file` and matches `pattern`; returns the message. */
function assertInvalid(run: () => unknown, file: string, pattern: RegExp): string {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(isUpscaleError(caught), `expected an UpscaleError for ${file}, got ${String(caught)}`);
  const { code, message } = caught as UpscaleError;
  assert.equal(code, 'MODEL_INVALID', message);
  assert.ok(message.startsWith(`${file}: `), message);
  assert.ok(!message.includes('\n'), message);
  assert.match(message, pattern);
  return message;
}

// --- Hand-made pickles -------------------------------------------------------------------------------------

const enc = new TextEncoder();
type Part = number | readonly number[] | Uint8Array;
function bytes(...parts: Part[]): Uint8Array {
  const flat: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') flat.push(p);
    else for (const b of p) flat.push(b);
  }
  return Uint8Array.from(flat);
}
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const le64 = (n: number): number[] => [...le32(n), ...le32(Math.floor(n / 2 ** 32))];
const str = (s: string): Uint8Array => bytes(0x58, le32(enc.encode(s).length), enc.encode(s)); // BINUNICODE
const int = (n: number): number[] => [0x4a, ...le32(n)]; // BININT
const global = (module: string, name: string): Uint8Array => bytes(0x63, enc.encode(`${module}\n${name}\n`));
const MARK = 0x28;
const TUPLE = 0x74;
const REDUCE = 0x52;
/** A protocol 2 pickle of the given opcodes, with STOP. */
const pickle = (...parts: Part[]): Uint8Array => bytes(0x80, 0x02, ...parts, 0x2e);
const tuple = (values: readonly number[]): Part[] => [MARK, ...values.map(int), TUPLE];

/** `_rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel, None), offset, shape, stride, False, {})`. */
function tensorOps(key: string, numel: number, shape: readonly number[], stride: readonly number[], offset = 0): Part[] {
  return [
    global('torch._utils', '_rebuild_tensor_v2'),
    MARK,
    ...[MARK, str('storage'), global('torch', 'FloatStorage'), str(key), str('cpu'), int(numel), 0x4e, TUPLE, 0x51], // BINPERSID
    int(offset),
    ...tuple(shape),
    ...tuple(stride),
    0x89, // NEWFALSE
    0x7d, // EMPTY_DICT
    TUPLE,
    REDUCE,
  ];
}

/** A legacy torch.save file: magic, protocol version, sys_info, `object`, the storage keys, the storages. */
function legacyFile(object: Uint8Array, storages: readonly (readonly [string, Float32Array | Uint8Array])[] = []): Uint8Array {
  const magic = pickle(0x8a, 0x0a, [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]); // LONG1
  const version = pickle(0x4d, 0xe9, 0x03); // BININT2 1001
  const sysInfo = pickle(0x7d, MARK, str('little_endian'), 0x88, 0x75); // {'little_endian': True}
  const keys = pickle(0x5d, MARK, ...storages.map(([key]) => str(key)), 0x65); // EMPTY_LIST, APPENDS
  const data = storages.map(([, values]) => bytes(le64(values.length), new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
  return bytes(magic, version, sysInfo, object, keys, ...data);
}

// --- Reading -----------------------------------------------------------------------------------------------

test('weights: every layout torch.save writes gives the saved tensors, unwrapped and without module. prefixes', () => {
  const names = Object.keys(expected.tensors);
  assert.ok(names.includes('shared.t') && names.includes('expanded') && names.includes('bf16.weight'));
  for (const file of expected.readable) {
    const weights = readStateDict(fixture(file), file);
    assert.deepEqual([...weights.keys()], names, file);
    for (const [name, want] of Object.entries(expected.tensors)) {
      const got = weights.get(name);
      assert.ok(got, `${file}: ${name}`);
      assert.deepEqual(got.shape, want.shape, `${file}: ${name} shape`);
      assert.equal(got.dtype, want.dtype, `${file}: ${name} dtype`);
      assert.ok(got.data instanceof Float32Array);
      assert.deepEqual([...got.data], want.values.map(Math.fround), `${file}: ${name} values`);
    }
  }
});

test('weights: views keep their own strides, and views of one storage see the same values', () => {
  const weights = readStateDict(fixture('plain.pth'), 'plain.pth');
  const values = (name: string): number[] => [...(weights.get(name)?.data ?? [])];
  // shared.a, shared.b and shared.t are views of one 20-element storage.
  const base = [...values('shared.a'), ...values('shared.b')];
  assert.equal(base.length, 20);
  assert.deepEqual(values('shared.t'), Array.from({ length: 20 }, (_, i) => base[(i % 4) * 5 + Math.floor(i / 4)]));
  // expanded: a [3, 1] column repeated along a stride-0 dimension.
  const expanded = values('expanded');
  for (let row = 0; row < 3; row++) assert.deepEqual(expanded.slice(row * 4, row * 4 + 4), Array(4).fill(expanded[row * 4]));
  assert.deepEqual(weights.get('scalar'), { shape: [], dtype: 'F32', data: Float32Array.of(2.5) });
  assert.deepEqual(weights.get('empty')?.shape, [0, 3]);
});

test('weights: torch 2 spellings: _rebuild_tensor_v3 over an untyped storage, parameters with state', () => {
  // torch 2 saves dtypes without a typed storage class (uint16, float8, ...) as v3 over torch.storage.UntypedStorage.
  const half = Uint8Array.from([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0xff]); // float16 1, -2, 0.5, NaN
  const untyped = (dtype: string, shape: number[], stride: number[], offset = 0): Part[] => [
    global('torch._utils', '_rebuild_tensor_v3'),
    MARK,
    ...[MARK, str('storage'), global('torch.storage', 'UntypedStorage'), str('u'), str('cpu'), int(8), 0x4e, TUPLE, 0x51],
    int(offset), ...tuple(shape), ...tuple(stride), 0x89, 0x7d, global('torch', dtype),
    TUPLE,
    REDUCE,
  ];
  const withState = [global('torch._utils', '_rebuild_parameter_with_state'), MARK, ...untyped('float16', [2], [1], 1), 0x88, 0x7d, 0x7d, TUPLE, REDUCE];
  const object = pickle(0x7d, MARK, str('h'), ...untyped('float16', [2, 2], [1, 2]), str('p'), ...withState, 0x75);
  const weights = readStateDict(legacyFile(object, [['u', half]]), 'v3.pth');
  assert.deepEqual(weights.get('h'), { shape: [2, 2], dtype: 'F16', data: Float32Array.of(1, 0.5, -2, NaN) });
  assert.deepEqual(weights.get('p'), { shape: [2], dtype: 'F16', data: Float32Array.of(-2, 0.5) });
  // Past the end of the 8-byte storage in float16 elements, and dtypes that have no float32 conversion here.
  assertInvalid(() => readStateDict(legacyFile(pickle(...untyped('float16', [4], [1], 1)), [['u', half]]), 'v3.pth'), 'v3.pth', /offset 1 reads past the end of storage "u" \(8 bytes\)/);
  assertInvalid(() => readStateDict(legacyFile(pickle(...untyped('float8_e4m3fn', [8], [1]))), 'f8.pth'), 'f8.pth', /tensors of type torch\.float8_e4m3fn are not supported/);
});

test('weights: the ZIP reader handles ZIP64 records and deflated entries like the stored original', () => {
  const plain = readZip(fixture('plain.pth'), 'plain.pth');
  for (const file of ['zip64.pth', 'deflated.pth']) {
    const other = readZip(fixture(file), file);
    assert.deepEqual([...other.keys()].sort(), [...plain.keys()].sort());
    for (const [name, entry] of plain) assert.deepEqual(other.get(name)?.data(), entry.data(), `${file}: ${name}`);
  }
  // Stored entries are views of the input, not copies.
  const input = fixture('plain.pth');
  const pkl = readZip(input, 'plain.pth').get('plain/data.pkl')?.data();
  assert.equal(pkl?.buffer, input.buffer);
});

test('weights: safetensors files lose their module. prefixes too', () => {
  const header = enc.encode(JSON.stringify({ 'module.conv.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, __metadata__: { format: 'pt' } }));
  const file = bytes(le64(header.length), header, new Uint8Array(Float32Array.of(1.5, -2).buffer));
  assert.deepEqual(readStateDict(file, 'x.safetensors'), new Map([['conv.weight', { shape: [2], dtype: 'F32', data: Float32Array.of(1.5, -2) }]]));
});

test('weights: readWeightsFile reads from disk and names missing, empty and oversized files', async () => {
  const weights = await readWeightsFile(join(DIR, 'params_ema.pth'));
  assert.equal(weights.size, Object.keys(expected.tensors).length);
  const dir = mkdtempSync(join(tmpdir(), 'upscale-weights-'));
  try {
    const missing = join(dir, 'missing.pth');
    await assert.rejects(readWeightsFile(missing), (e: unknown) => isUpscaleError(e) && e.code === 'MODEL_NOT_FOUND' && e.message === `${missing}: weights file not found`);
    const empty = join(dir, 'empty.pth');
    writeFileSync(empty, '');
    await assert.rejects(readWeightsFile(empty), (e: unknown) => isUpscaleError(e) && e.code === 'MODEL_INVALID' && e.message === `${empty}: weights file is empty (0 bytes)`);
    await assert.rejects(readWeightsFile(dir), (e: unknown) => isUpscaleError(e) && e.code === 'MODEL_INVALID' && e.message === `${dir}: not a file`);
    // A sparse file: refused by its size before anything is read.
    const huge = join(dir, 'huge.pth');
    writeFileSync(huge, '');
    truncateSync(huge, 2 * 1024 ** 3 + 1);
    await assert.rejects(readWeightsFile(huge), (e: unknown) => isUpscaleError(e) && e.code === 'MODEL_INVALID' && e.message === `${huge}: weights file is too large (2147483649 bytes; at most 2147483648 are read)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('weights: files without tensors, and formats that are not weights, are refused with what was found', () => {
  assertInvalid(() => readStateDict(legacyFile(pickle(0x7d, MARK, str('epoch'), int(5), str('name'), str('x'), 0x75)), 'meta.pth'), 'meta.pth', /no tensors found: the file holds a dict with keys epoch, name and no tensors/);
  assertInvalid(() => readStateDict(legacyFile(pickle(0x5d)), 'list.pth'), 'list.pth', /no tensors found: the file holds a list$/);
  assertInvalid(() => readStateDict(bytes(0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0), 'x.pth'), 'x.pth', /unrecognised weights format \(expected a PyTorch checkpoint.*safetensors.*starts with 1f 8b 08/);
  assertInvalid(() => readStateDict(new Uint8Array(0), 'x.pth'), 'x.pth', /starts with nothing/);
});

// --- The unpickler -----------------------------------------------------------------------------------------

test('pickle: values of protocols 1 to 5, as written by Python, read back', () => {
  // pickle.dumps(v, protocol=p) for s = [7]; v = [1, -1, 255, 65535, -2**31, 2**31, 2**70, -2**70, 1.5, -0.0, 'é✓',
  // b'ab', (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), {1: None, 'k': [True, False]}, {3}, frozenset([4]), 'xxx', s, s]
  const dumps: Record<number, string> = {
    1: '5d7100284b014affffffff4bff4dffff4a000000804c323134373438333634384c0a4c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a473ff80000000000004780000000000000005805000000c3a9e29c937101635f636f646563730a656e636f64650a71022858020000006162710358060000006c6174696e31710474710552710629284b01747107284b014b02747108284b014b024b03747109284b014b024b034b0474710a7d710b284b014e58010000006b710c5d710d284930310a4930300a6575635f5f6275696c74696e5f5f0a7365740a710e285d710f4b0361747110527111635f5f6275696c74696e5f5f0a66726f7a656e7365740a7112285d71134b0461747114527115580300000078787871165d71174b07616817652e',
    2: '80025d7100284b014affffffff4bff4dffff4a000000808a0500000080008a090000000000000000408a090000000000000000c0473ff80000000000004780000000000000005805000000c3a9e29c937101635f636f646563730a656e636f64650a710258020000006162710358060000006c6174696e317104867105527106294b018571074b014b028671084b014b024b03877109284b014b024b034b0474710a7d710b284b014e58010000006b710c5d710d2888896575635f5f6275696c74696e5f5f0a7365740a710e5d710f4b0361857110527111635f5f6275696c74696e5f5f0a66726f7a656e7365740a71125d71134b0461857114527115580300000078787871165d71174b07616817652e',
    3: '80035d7100284b014affffffff4bff4dffff4a000000808a0500000080008a090000000000000000408a090000000000000000c0473ff80000000000004780000000000000005805000000c3a9e29c937101430261627102294b018571034b014b028671044b014b024b03877105284b014b024b034b047471067d7107284b014e58010000006b71085d71092888896575636275696c74696e730a7365740a710a5d710b4b036185710c52710d636275696c74696e730a66726f7a656e7365740a710e5d710f4b0461857110527111580300000078787871125d71134b07616813652e',
    4: '80049599000000000000005d94284b014affffffff4bff4dffff4a000000808a0500000080008a090000000000000000408a090000000000000000c0473ff80000000000004780000000000000008c05c3a9e29c93944302616294294b0185944b014b0286944b014b024b038794284b014b024b034b0474947d94284b014e8c016b945d9428888965758f94284b0390284b0491948c03787878945d944b0761680d652e',
    5: '80059599000000000000005d94284b014affffffff4bff4dffff4a000000808a0500000080008a090000000000000000408a090000000000000000c0473ff80000000000004780000000000000008c05c3a9e29c93944302616294294b0185944b014b0286944b014b024b038794284b014b024b034b0474947d94284b014e8c016b945d9428888965758f94284b0390284b0491948c03787878945d944b0761680d652e',
  };
  // Protocols 1 to 3 spell bytes and sets as calls; the test's allowlist implements them.
  const toSet = (args: readonly PickleValue[]): Set<PickleValue> => new Set(args[0] as PickleValue[]);
  const globals: Record<string, PickleGlobal> = {
    '_codecs.encode': new PickleGlobal('_codecs.encode', (args) => Uint8Array.from(String(args[0]), (c) => c.charCodeAt(0))),
    '__builtin__.set': new PickleGlobal('set', toSet),
    '__builtin__.frozenset': new PickleGlobal('frozenset', toSet),
    'builtins.set': new PickleGlobal('set', toSet),
    'builtins.frozenset': new PickleGlobal('frozenset', toSet),
  };
  const dict = new PickleDict([[1, null], ['k', [true, false]]]);
  const want = [1, -1, 255, 65535, -(2 ** 31), 2 ** 31, 2n ** 70n, -(2n ** 70n), 1.5, -0, 'é✓', enc.encode('ab'), [], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4], dict, new Set([3]), new Set([4]), 'xxx', [7], [7]];
  for (const [protocol, hex] of Object.entries(dumps)) {
    const data = Uint8Array.from(Buffer.from(hex, 'hex'));
    const { value, end } = unpickle(data, `protocol ${protocol}`, { findGlobal: (m, n) => globals[`${m}.${n}`] });
    assert.equal(end, data.length);
    assert.deepEqual(value, want, `protocol ${protocol}`);
    const list = value as PickleValue[];
    assert.equal(list[21], list[22], 'memoized objects are shared');
    assert.ok(Object.isFrozen(list[13]) && !Object.isFrozen(list[21]), 'tuples are frozen, lists are not');
  }
  // Protocol 0 writes strings with Python escapes, which this reader does not take.
  assertInvalid(() => unpickle(bytes(0x28, 0x56, enc.encode('x\n'), 0x2e), 'p0.pkl', { findGlobal: () => undefined }), 'p0.pkl', /protocol 0 string opcode 0x56 is not supported/);
});

// --- Safety ------------------------------------------------------------------------------------------------

test('safety: checkpoints that call anything but a tensor rebuild are refused by name, and nothing runs', () => {
  rmSync(expected.marker, { force: true });
  const cases: Record<string, string> = {
    'evil_posix_system.pth': 'posix.system',
    'evil_builtins_eval.pth': 'builtins.eval',
    'evil_subprocess_popen.pth': 'subprocess.Popen',
    'evil.legacy.pth': 'posix.system',
  };
  for (const [file, name] of Object.entries(cases)) {
    const message = assertInvalid(() => readStateDict(fixture(file), file), file, /refused to load/);
    assert.equal(message, `${file}: refused to load: the pickle references ${name}, which is not a tensor or a plain container (only weights can be loaded; this file may be unsafe)`);
  }
  assertInvalid(() => readStateDict(fixture('whole_model.pth'), 'whole_model.pth'), 'whole_model.pth', /references torch\.nn\.modules\.container\.Sequential, .*whole pickled model; save its state_dict\(\) instead/);
  assert.equal(existsSync(expected.marker), false);
});

test('safety: bare hostile pickles are refused by name, whatever opcode names the global', () => {
  rmSync(expected.marker, { force: true });
  const command = str(`touch ${expected.marker}`);
  const cases: Record<string, Uint8Array> = {
    'os.system': pickle(global('os', 'system'), command, 0x85, REDUCE), // GLOBAL, TUPLE1, REDUCE
    'posix.system': bytes(0x80, 0x04, 0x8c, 5, enc.encode('posix'), 0x8c, 6, enc.encode('system'), 0x93, command, 0x85, REDUCE, 0x2e), // STACK_GLOBAL
    'builtins.eval': bytes(0x80, 0x04, str('builtins'), str('eval'), 0x93, str('1'), 0x85, REDUCE, 0x2e),
    'subprocess.Popen': pickle(MARK, command, 0x69, enc.encode('subprocess\nPopen\n')), // INST
    '__builtin__.getattr': pickle(global('__builtin__', 'getattr'), 0x29, REDUCE),
    'torch.storage._load_from_bytes': pickle(global('torch.storage', '_load_from_bytes'), 0x29, REDUCE),
    'numpy.core.multiarray._reconstruct': pickle(global('numpy.core.multiarray', '_reconstruct'), 0x29, REDUCE),
  };
  for (const [name, data] of Object.entries(cases)) {
    const message = assertInvalid(() => readStateDict(data, 'bare.pkl'), 'bare.pkl', /refused to load/);
    assert.ok(message.includes(`references ${name}, which is not a tensor`), message);
    // The same pickle inside a legacy checkpoint.
    assertInvalid(() => readStateDict(legacyFile(data), 'legacy.pth'), 'legacy.pth', new RegExp(`references ${name.replace(/\./g, '\\.')},`));
  }
  assertInvalid(() => readStateDict(pickle(0x82, 1, 0x29, REDUCE), 'ext.pkl'), 'ext.pkl', /refused to load: the pickle uses the copyreg extension registry/);
  // Allowed globals still cannot be called unless they are functions of ours.
  assertInvalid(() => readStateDict(pickle(global('torch', 'FloatStorage'), 0x29, REDUCE), 'call.pkl'), 'call.pkl', /REDUCE of torch\.FloatStorage, which cannot be called/);
  // A global name with a newline in it cannot break the message onto two lines.
  assertInvalid(() => readStateDict(bytes(0x80, 0x04, str('os\nx'), str('system'), 0x93, 0x2e), 'nl.pkl'), 'nl.pkl', /references os\?x\.system/);
  assert.equal(existsSync(expected.marker), false);
});

test('safety: tensors must fit their storage, and absurd shapes are refused before allocating', () => {
  assertInvalid(() => readStateDict(fixture('beyond_storage.pth'), 'beyond_storage.pth'), 'beyond_storage.pth', /a tensor of shape \[10\], strides \[1\] and offset 0 reads past the end of storage "0" \(16 bytes\)/);
  assertInvalid(() => readStateDict(fixture('bad_offset.pth'), 'bad_offset.pth'), 'bad_offset.pth', /offset 3 reads past the end of storage "0"/);
  assertInvalid(() => readStateDict(fixture('negative_stride.pth'), 'negative_stride.pth'), 'negative_stride.pth', /strides \[-1\] and offset 3 is malformed/);
  assertInvalid(() => readStateDict(fixture('short_entry.pth'), 'short_entry.pth'), 'short_entry.pth', /storage "0" declares 108 torch\.FloatStorage elements \(432 bytes\), its archive entry has 428 bytes/);

  const before = process.memoryUsage().arrayBuffers;
  const start = performance.now();
  assertInvalid(() => readStateDict(fixture('absurd_shape.pth'), 'absurd_shape.pth'), 'absurd_shape.pth', /shape \[1000000, 1000000, 1000000\] is too large/);
  assert.ok(performance.now() - start < 1000, 'refused quickly');
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 ** 2, 'nothing large was allocated');

  // Legacy: a declared size larger than the data that follows, and a record count that disagrees.
  const object = pickle(0x7d, str('w'), ...tensorOps('k', 4, [4], [1]), 0x73); // {'w': tensor}, SETITEM
  const good = legacyFile(object, [['k', Float32Array.of(1, 2, 3, 4)]]);
  assert.deepEqual(readStateDict(good, 'good.pth').get('w')?.data, Float32Array.of(1, 2, 3, 4));
  assertInvalid(() => readStateDict(legacyFile(object, [['k', Float32Array.of(1, 2)]]), 'count.pth'), 'count.pth', /storage "k" has 2 elements, its tensors declared 4/);
  assertInvalid(() => readStateDict(legacyFile(object), 'nodata.pth'), 'nodata.pth', /storage "k" has no data/);
});

test('safety: overlapping views cannot decode to far more values than the file holds', () => {
  // Eight 5M-element stride-0 views of one float: each is legal, together they would be 160 MB.
  const entries = Array.from({ length: 8 }, (_, i) => [str(`w${i}`), ...tensorOps('k', 1, [5_000_000], [0])]).flat();
  const file = legacyFile(pickle(0x7d, MARK, ...entries, 0x75), [['k', Float32Array.of(1)]]);
  assertInvalid(() => readStateDict(file, 'bomb.pth'), 'bomb.pth', /decode to far more values than the file holds/);
});

test('safety: truncated and corrupted files give MODEL_INVALID, never another error', () => {
  for (const file of ['plain.pth', 'plain.legacy.pth', 'deflated.pth', 'zip64.pth']) {
    const data = fixture(file);
    const step = file.endsWith('legacy.pth') ? 2 : 5;
    for (let cut = 1; cut < data.length; cut += step) {
      assertInvalid(() => readStateDict(data.subarray(0, cut), file), file, /./);
    }
  }
  // Random byte flips: either the file still reads (a flipped value) or it is refused cleanly.
  let seed = 1;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const file of ['plain.pth', 'plain.legacy.pth', 'protocol4.pth']) {
    const original = fixture(file);
    for (let i = 0; i < 250; i++) {
      const data = original.slice();
      for (let j = 0; j < 3; j++) data[Math.floor(random() * data.length)] = Math.floor(random() * 256);
      try {
        readStateDict(data, file);
      } catch (error) {
        assert.ok(isUpscaleError(error) && error.code === 'MODEL_INVALID' && !error.message.includes('\n'), String(error));
      }
    }
  }
});

test('safety: wrong magic numbers and ZIP entries pointing outside the file are refused', () => {
  const legacy = fixture('plain.legacy.pth').slice();
  legacy[5] = (legacy[5] as number) ^ 0xff; // inside the LONG1 magic
  assertInvalid(() => readStateDict(legacy, 'magic.pth'), 'magic.pth', /not a valid PyTorch checkpoint: wrong magic number: expected torch\.save's 0x1950a86a20f9469cfc6c, got 0x/);

  const zip = fixture('plain.pth');
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const eocd = zip.length - 22;
  assert.equal(view.getUint32(eocd, true), 0x06054b50);
  const directory = view.getUint32(eocd + 16, true);
  const patched = (at: number, value: number): Uint8Array => {
    const copy = zip.slice();
    new DataView(copy.buffer).setUint32(at, value, true);
    return copy;
  };
  assertInvalid(() => readStateDict(patched(directory + 42, 0x7ffffff0), 'offset.pth'), 'offset.pth', /not a valid ZIP archive: entry "plain\/data\.pkl" points to byte 2147483632, where there is no local file header/);
  assertInvalid(() => readStateDict(patched(directory + 20, 0x7ffffff0), 'size.pth'), 'size.pth', /stored entry "plain\/data\.pkl" has size \d+ but 2147483632 stored bytes/);
  const bothSizes = patched(directory + 20, 0x7ffffff0);
  new DataView(bothSizes.buffer).setUint32(directory + 24, 0x7ffffff0, true);
  assertInvalid(() => readStateDict(bothSizes, 'size.pth'), 'size.pth', /entry "plain\/data\.pkl" \(2147483632 bytes at byte \d+\) runs past the end of the data/);
  // torch.save always writes ZIP64 end records; Python's zipfile (deflated.pth) only the classic one.
  const locator = eocd - 20;
  assert.equal(view.getUint32(locator, true), 0x07064b50);
  const record = Number(view.getBigUint64(locator + 8, true));
  assertInvalid(() => readStateDict(patched(record + 48, 0x10000), 'cd.pth'), 'cd.pth', new RegExp(`central directory \\(\\d+ bytes at byte 65536\\) runs past its end record at byte ${record} \\(truncated file\\?\\)`));
  assertInvalid(() => readStateDict(patched(locator + 8, 3), 'locator.pth'), 'locator.pth', /ZIP64 end of central directory record not found at byte 3/);
  const deflated = fixture('deflated.pth');
  const classic = deflated.length - 22;
  new DataView(deflated.buffer, deflated.byteOffset).setUint32(classic + 16, 0xffffffff, true);
  assertInvalid(() => readStateDict(deflated, 'classic.pth'), 'classic.pth', /ZIP64 end of central directory locator missing/);
  new DataView(deflated.buffer, deflated.byteOffset).setUint32(classic + 16, classic - 10, true);
  assertInvalid(() => readStateDict(deflated, 'classic.pth'), 'classic.pth', /central directory \(\d+ bytes at byte \d+\) runs past its end record/);
  // A ZIP without data.pkl is not a checkpoint.
  const entries = readZip(zip, 'plain.pth');
  assert.ok(entries.has('plain/version'));
  const renamed = zip.slice();
  for (let at = 0; at < renamed.length - 8; at++) {
    if (Buffer.from(renamed.subarray(at, at + 8)).toString('latin1') === 'data.pkl') renamed[at + 5] = 0x71; // data.qkl
  }
  assertInvalid(() => readStateDict(renamed, 'nopkl.pth'), 'nopkl.pth', /the ZIP archive has no <archive>\/data\.pkl \(not a torch\.save file\)/);
});

test('safety: deep nesting and huge stacks are refused, deep containers do not crash', () => {
  assertInvalid(() => readStateDict(bytes(0x80, 0x02, new Uint8Array(100_000).fill(MARK)), 'marks.pkl'), 'marks.pkl', /nesting deeper than 256 levels/);
  assertInvalid(() => readStateDict(bytes(0x80, 0x02, new Uint8Array(1_100_000).fill(0x5d)), 'lists.pkl'), 'lists.pkl', /more than 1048576 stack and memo items/);
  assertInvalid(() => readStateDict(bytes(0x80, 0x02, new Uint8Array(10).fill(0x5d)), 'short.pkl'), 'short.pkl', /truncated data \(1 bytes needed, 0 left\) at byte 12/);
  // A list nested 100,000 deep (EMPTY_LIST ×n, APPEND ×n-1) parses; it is just not a checkpoint.
  const n = 100_000;
  const deep = bytes(0x80, 0x02, new Uint8Array(n).fill(0x5d), new Uint8Array(n - 1).fill(0x61), 0x2e);
  assertInvalid(() => readStateDict(deep, 'deep.pkl'), 'deep.pkl', /wrong magic number: .* got a list/);
  // A list that contains itself: unwrapping must not loop.
  assertInvalid(() => readStateDict(legacyFile(pickle(0x5d, 0x71, 0, 0x68, 0, 0x61)), 'cycle.pth'), 'cycle.pth', /no tensors found: the file holds a list/);
  // Lengths are checked before anything is read or allocated.
  assertInvalid(() => readStateDict(bytes(0x80, 0x04, 0x8d, le64(2 ** 40), 0x2e), 'len.pkl'), 'len.pkl', /BINUNICODE8 of 1099511627776 bytes runs past the end of the data/);
  assertInvalid(() => readStateDict(bytes(0x80, 0x02, 0x58, le32(0xfffffff0), 0x2e), 'len.pkl'), 'len.pkl', /truncated BINUNICODE \(4294967280 bytes needed, 1 left\)/);
});

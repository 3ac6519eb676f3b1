/**
 * PyTorch checkpoints (`torch.save` → .pth/.pt/.ckpt) read without Python:
 *
 * - the ZIP format (torch ≥ 1.6): `<archive>/data.pkl` holds the object; each storage is the entry
 *   `<archive>/data/<key>`, named by the persistent id `('storage', storage_type, key, location, numel)`;
 * - the legacy format: pickles in a row (magic number, protocol version, sys_info, the object, the storage keys),
 *   then each storage as an 8-byte element count and its raw bytes; persistent ids are
 *   `('storage', storage_type, key, location, numel, view_metadata)`.
 *
 * Tensors come from `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` and friends: the
 * allowlist below is every global these readers accept, each one our own code. Tensors are checked against their
 * storage when the pickle names them and decoded only when read, so the optimizer state of a training checkpoint
 * costs nothing.
 */
import { UpscaleError } from '../../errors.js';
import { describeValue, isSequence, PickleDict, PickleGlobal, PickleObject, printable, unpickle, type PickleValue } from './pickle.js';
import { DTYPE_BYTES, decodeElements, shapeElements, type StoredDtype, type WeightTensor } from './tensor.js';
import { readZip, type ZipEntry } from './zip.js';

/** `torch.save`'s legacy magic number, the value of the first pickle of a legacy file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** Storage classes by name (`torch.FloatStorage`, and `torch.cuda.FloatStorage` in legacy files of GPU tensors). */
const STORAGE_DTYPES: Readonly<Record<string, StoredDtype>> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** `torch.<dtype>` globals, which `_rebuild_tensor_v3` takes with an untyped (byte) storage. */
const TORCH_DTYPES: Readonly<Record<string, StoredDtype>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** Tensor types torch knows but these readers do not convert; named so that the error says so. */
const UNSUPPORTED_TYPES = /^(Complex\w*Storage|Q\w*Storage|complex\d+|float8_\w+|uint(16|32|64)|q(u?)int\d+(x\d+)?|bits\w+)$/;

/**
 * A tensor of a checkpoint: shape, dtype and place in its storage, checked when the pickle named it; the values
 * are decoded by {@link CheckpointTensor.read} (once).
 */
export class CheckpointTensor extends PickleObject {
  readonly description = 'a tensor';
  private decoded: WeightTensor | undefined;

  constructor(
    private readonly storage: TorchStorage,
    private readonly offset: number,
    readonly shape: readonly number[],
    private readonly stride: readonly number[],
    readonly dtype: StoredDtype,
    readonly elements: number,
    private readonly budget: Budget,
  ) {
    super();
  }

  /** The values as float32; throws `MODEL_INVALID` if the storage bytes are missing. */
  read(): WeightTensor {
    if (this.decoded !== undefined) return this.decoded;
    const bytes = this.storage.bytes();
    const width = DTYPE_BYTES[this.dtype];
    let data: Float32Array;
    if (this.elements === 0) {
      data = new Float32Array(0);
    } else if (isContiguous(this.shape, this.stride)) {
      this.budget.spend(this.elements);
      data = decodeElements(bytes, this.offset * width, this.elements, this.dtype);
    } else {
      // A view (transposed, sliced, expanded): decode the span it covers, then gather.
      const span = lastIndex(this.shape, this.stride) + 1;
      this.budget.spend(this.elements + span);
      const source = decodeElements(bytes, this.offset * width, span, this.dtype);
      data = gather(source, this.shape, this.stride, this.elements);
    }
    this.decoded = { shape: this.shape, data, dtype: this.dtype };
    return this.decoded;
  }
}

/** A storage named by a persistent id; its bytes are found in the archive entry or after the legacy pickles. */
class TorchStorage extends PickleObject {
  readonly description: string;
  private data: Uint8Array | undefined;

  constructor(
    readonly key: string,
    readonly dtype: StoredDtype,
    /** Declared size in elements of `dtype` (in bytes for untyped storages). */
    readonly numel: number,
    private readonly load: () => Uint8Array | undefined,
    private readonly invalid: (message: string) => UpscaleError,
  ) {
    super();
    this.description = `storage "${printable(key)}"`;
  }

  get byteLength(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }

  bytes(): Uint8Array {
    this.data ??= this.load();
    if (this.data === undefined) throw this.invalid(`${this.description} has no data`);
    return this.data;
  }
}

/** A storage type or dtype global: a marker the persistent ids and `_rebuild_tensor_v3` pass around. */
class TypeMarker extends PickleGlobal {
  constructor(
    description: string,
    readonly kind: 'storage' | 'dtype',
    readonly dtype: StoredDtype,
  ) {
    super(description);
  }
}

/**
 * Caps the float32 elements decoded from one file. Shapes are checked against their storage, but views may overlap
 * (a stride-0 `expand` of one value is legal), so without a cap a small file could ask for gigabytes.
 */
class Budget {
  private left: number;

  constructor(
    fileBytes: number,
    private readonly invalid: (message: string) => UpscaleError,
  ) {
    this.left = Math.max(1 << 24, 4 * fileBytes);
  }

  spend(elements: number): void {
    this.left -= elements;
    if (this.left < 0) throw this.invalid('its tensors decode to far more values than the file holds (overlapping views?)');
  }
}

/** The object a checkpoint holds, with tensors as {@link CheckpointTensor}. */
export type Checkpoint = PickleValue;

/**
 * Reads a ZIP-format checkpoint (torch.save since 1.6). Throws `MODEL_INVALID` naming `file` for malformed
 * archives and pickles, storages that do not match their entries, and any global outside the allowlist.
 */
export function readPytorchZip(bytes: Uint8Array, file: string): Checkpoint {
  const invalid = invalidCheckpoint(file);
  const entries = readZip(bytes, file);
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  const pickleName = pickles[0];
  if (pickleName === undefined) throw invalid('the ZIP archive has no <archive>/data.pkl (not a torch.save file)');
  if (pickles.length > 1) throw invalid(`the ZIP archive has ${pickles.length} data.pkl entries (${printable(pickles.slice(0, 3).join(', '))})`);
  const prefix = pickleName.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined && new TextDecoder().decode(byteorder.data()).trim() !== 'little') {
    throw invalid('the checkpoint was saved big-endian, which is not supported');
  }

  const budget = new Budget(bytes.length, invalid);
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue): TorchStorage => {
    const { type, key, numel } = storageId(pid, 5, invalid);
    const found = storages.get(key);
    if (found !== undefined) {
      if (found.dtype !== type.dtype || found.numel !== numel) throw invalid(`storage "${printable(key)}" is declared twice with different types or sizes`);
      return found;
    }
    const entry: ZipEntry | undefined = entries.get(`${prefix}data/${key}`);
    if (entry === undefined) throw invalid(`storage "${printable(key)}" has no entry ${printable(`${prefix}data/${key}`)} in the archive`);
    const storage = new TorchStorage(key, type.dtype, numel, () => entry.data(), invalid);
    if (entry.size !== storage.byteLength) {
      throw invalid(`${storage.description} declares ${numel} ${type.description} elements (${storage.byteLength} bytes), its archive entry has ${entry.size} bytes`);
    }
    storages.set(key, storage);
    return storage;
  };
  const pickle = entries.get(pickleName) as ZipEntry;
  return unpickle(pickle.data(), file, { what: pickleName, findGlobal: allowlist(file, budget), persistentLoad }).value;
}

/** True when `bytes` starts with a pickle's PROTO opcode, as legacy checkpoints (and bare pickles) do. */
export function looksLikePickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && (bytes[1] as number) >= 2 && (bytes[1] as number) <= 5;
}

/**
 * Reads a legacy checkpoint (`torch.save(..., _use_new_zipfile_serialization=False)`, and every file saved before
 * torch 1.6). Any pickle is read with the same allowlist, so a bare hostile pickle is refused by name too.
 */
export function readPytorchLegacy(bytes: Uint8Array, file: string): Checkpoint {
  const invalid = invalidCheckpoint(file);
  const budget = new Budget(bytes.length, invalid);
  const findGlobal = allowlist(file, budget);
  let offset = 0;
  const next = (what: string, persistentLoad?: (pid: PickleValue) => PickleValue): PickleValue => {
    const result = unpickle(bytes, file, { offset, what, findGlobal, ...(persistentLoad === undefined ? {} : { persistentLoad }) });
    offset = result.end;
    return result.value;
  };

  const magic = next('magic number');
  if (magic !== LEGACY_MAGIC && magic !== Number(LEGACY_MAGIC)) {
    throw invalid(`wrong magic number: expected torch.save's 0x${LEGACY_MAGIC.toString(16)}, got ${typeof magic === 'bigint' || typeof magic === 'number' ? `0x${magic.toString(16)}` : describeValue(magic)}`);
  }
  const version = next('protocol version');
  if (version !== LEGACY_PROTOCOL_VERSION) throw invalid(`unsupported legacy protocol version ${typeof version === 'number' ? version : describeValue(version)} (expected ${LEGACY_PROTOCOL_VERSION})`);
  const sysInfo = next('sys_info');
  if (sysInfo instanceof PickleDict && sysInfo.get('little_endian') === false) throw invalid('the checkpoint was saved big-endian, which is not supported');

  // Storages are declared by the object pickle and filled from the records that follow the key list.
  const roots = new Map<string, { storage: TorchStorage; data?: Uint8Array }>();
  const persistentLoad = (pid: PickleValue): TorchStorage => {
    const { type, key, numel, viewMetadata } = storageId(pid, 6, invalid);
    let root = roots.get(key);
    if (root === undefined) {
      const record: { storage: TorchStorage; data?: Uint8Array } = { storage: new TorchStorage(key, type.dtype, numel, () => record.data, invalid) };
      roots.set(key, record);
      root = record;
    } else if (root.storage.dtype !== type.dtype || root.storage.numel !== numel) {
      throw invalid(`storage "${printable(key)}" is declared twice with different types or sizes`);
    }
    if (viewMetadata === null || viewMetadata === undefined) return root.storage;
    // Storage views (torch < 0.4): (view_key, offset, size) in elements of the root storage.
    const [viewKey, viewOffset, viewSize] = isSequence(viewMetadata) ? viewMetadata : [];
    if (typeof viewKey !== 'string' || !isCount(viewOffset) || !isCount(viewSize) || viewOffset + viewSize > numel) {
      throw invalid(`storage "${printable(key)}" has an invalid view ${describeValue(viewMetadata)}`);
    }
    const base = root.storage;
    const width = DTYPE_BYTES[type.dtype];
    return new TorchStorage(viewKey, type.dtype, viewSize, () => base.bytes().subarray(viewOffset * width, (viewOffset + viewSize) * width), invalid);
  };
  const value = next('object', persistentLoad);
  const keys = next('storage keys');
  if (!isSequence(keys)) throw invalid(`the storage key list is ${describeValue(keys)}`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const root = typeof key === 'string' ? roots.get(key) : undefined;
    if (root === undefined) throw invalid(`the storage key list names ${typeof key === 'string' ? `"${printable(key)}"` : describeValue(key)}, which no tensor uses`);
    if (offset + 8 > bytes.length) throw invalid(`${root.storage.description} is missing (truncated file?)`);
    const count = view.getBigInt64(offset, true);
    if (count !== BigInt(root.storage.numel)) throw invalid(`${root.storage.description} has ${count} elements, its tensors declared ${root.storage.numel}`);
    const length = root.storage.byteLength;
    if (offset + 8 + length > bytes.length) throw invalid(`${root.storage.description} needs ${length} bytes, ${bytes.length - offset - 8} are left (truncated file?)`);
    root.data = bytes.subarray(offset + 8, offset + 8 + length);
    offset += 8 + length;
  }
  return value;
}

function invalidCheckpoint(file: string): (message: string) => UpscaleError {
  return (message) => new UpscaleError('MODEL_INVALID', `not a valid PyTorch checkpoint: ${message}`, { file });
}

/** True for a non-negative safe integer. */
function isCount(value: PickleValue | undefined): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks a storage persistent id; `length` is 5 (ZIP) or 6 (legacy, with view metadata). */
function storageId(
  pid: PickleValue,
  length: number,
  invalid: (message: string) => UpscaleError,
): { type: TypeMarker; key: string; numel: number; viewMetadata: PickleValue | undefined } {
  if (!isSequence(pid) || pid.length !== length || pid[0] !== 'storage') {
    throw invalid(`unexpected persistent id ${describeValue(pid)}${isSequence(pid) && typeof pid[0] === 'string' ? ` ("${printable(pid[0], 40)}")` : ''} (expected a storage)`);
  }
  const [, type, key, , numel, viewMetadata] = pid;
  if (!(type instanceof TypeMarker) || type.kind !== 'storage') throw invalid(`storage persistent id with ${describeValue(type ?? null)} as its type`);
  if (typeof key !== 'string') throw invalid(`storage persistent id with ${describeValue(key ?? null)} as its key`);
  if (!isCount(numel)) throw invalid(`storage "${printable(key)}" has an invalid size ${describeValue(numel ?? null)}`);
  return { type, key, numel, viewMetadata };
}

/**
 * The globals a checkpoint may name, as our own implementations: tensor rebuilds, storage types, dtypes and
 * OrderedDict. Anything else is refused by the unpickler; a whole pickled nn.Module and TorchScript get their
 * own message.
 */
function allowlist(file: string, budget: Budget): (module: string, name: string) => PickleGlobal | undefined {
  const invalid = invalidCheckpoint(file);
  const rebuild = (description: string, withDtype: boolean, minArgs: number): PickleGlobal =>
    new PickleGlobal(description, (args) => {
      if (args.length < minArgs) throw invalid(`${description} with ${args.length} arguments (expected ${minArgs} or more)`);
      const dtype = withDtype ? args[6] : undefined;
      if (withDtype && !(dtype instanceof TypeMarker && dtype.kind === 'dtype')) throw invalid(`${description} with ${describeValue(dtype)} as its dtype`);
      return tensor(args[0], args[1], args[2], args[3], dtype instanceof TypeMarker ? dtype.dtype : undefined, budget, invalid);
    });
  const parameter = (description: string, minArgs: number): PickleGlobal =>
    new PickleGlobal(description, (args) => {
      // Parameters are tensors with requires_grad; the state of _rebuild_parameter_with_state is dropped.
      if (args.length < minArgs || !(args[0] instanceof CheckpointTensor)) throw invalid(`${description} without a tensor`);
      return args[0];
    });
  const globals = new Map<string, PickleGlobal>([
    ['collections.OrderedDict', new PickleGlobal('collections.OrderedDict', (args) => orderedDict(args, invalid))],
    ['torch._utils._rebuild_tensor', rebuild('torch._utils._rebuild_tensor', false, 4)],
    ['torch._utils._rebuild_tensor_v2', rebuild('torch._utils._rebuild_tensor_v2', false, 4)],
    ['torch._utils._rebuild_tensor_v3', rebuild('torch._utils._rebuild_tensor_v3', true, 7)],
    ['torch._utils._rebuild_parameter', parameter('torch._utils._rebuild_parameter', 1)],
    ['torch._utils._rebuild_parameter_with_state', parameter('torch._utils._rebuild_parameter_with_state', 1)],
    // Untyped storages count bytes; torch 2 writes them for the dtypes `_rebuild_tensor_v3` handles.
    ['torch.UntypedStorage', new TypeMarker('torch.UntypedStorage', 'storage', 'U8')],
    ['torch.storage.UntypedStorage', new TypeMarker('torch.storage.UntypedStorage', 'storage', 'U8')],
  ]);
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) {
    globals.set(`torch.${name}`, new TypeMarker(`torch.${name}`, 'storage', dtype));
    globals.set(`torch.cuda.${name}`, new TypeMarker(`torch.cuda.${name}`, 'storage', dtype));
  }
  for (const [name, dtype] of Object.entries(TORCH_DTYPES)) globals.set(`torch.${name}`, new TypeMarker(`torch.${name}`, 'dtype', dtype));

  return (module, name) => {
    const qualified = `${module}.${name}`;
    const found = globals.get(qualified);
    if (found !== undefined) return found;
    if ((module === 'torch' || module === 'torch.cuda') && UNSUPPORTED_TYPES.test(name)) {
      throw invalid(`tensors of type ${qualified} are not supported (only float, integer and bool tensors)`);
    }
    if (module.startsWith('torch.nn.')) {
      throw new UpscaleError(
        'MODEL_INVALID',
        `refused to load: the pickle references ${printable(qualified)}, which is not a tensor or a plain container (the file holds a whole pickled model; save its state_dict() instead)`,
        { file },
      );
    }
    if (module.startsWith('__torch__')) throw invalid(`it is a TorchScript archive (${printable(qualified)}); export the model's state_dict() with torch.save instead`);
    return undefined;
  };
}

/** `collections.OrderedDict()` or `OrderedDict(pairs)`: a plain dict. */
function orderedDict(args: readonly PickleValue[], invalid: (message: string) => UpscaleError): PickleDict {
  const dict = new PickleDict();
  const [pairs] = args;
  if (pairs === undefined || pairs === null) return dict;
  if (!isSequence(pairs)) throw invalid(`collections.OrderedDict of ${describeValue(pairs)}`);
  for (const pair of pairs) {
    if (!isSequence(pair) || pair.length !== 2) throw invalid('collections.OrderedDict of something other than pairs');
    dict.set(pair[0] as PickleValue, pair[1] as PickleValue);
  }
  return dict;
}

/** `_rebuild_tensor*`: checks shape, strides and offset against the storage before anything is allocated. */
function tensor(
  storage: PickleValue | undefined,
  offset: PickleValue | undefined,
  size: PickleValue | undefined,
  stride: PickleValue | undefined,
  dtype: StoredDtype | undefined,
  budget: Budget,
  invalid: (message: string) => UpscaleError,
): CheckpointTensor {
  if (!(storage instanceof TorchStorage)) throw invalid(`a tensor rebuilt from ${describeValue(storage)} instead of a storage`);
  if (!isSequence(size) || !isSequence(stride)) throw invalid(`a tensor of ${storage.description} without a size and stride`);
  const shape = size.map((d) => (typeof d === 'number' ? d : NaN));
  const strides = stride.map((d) => (typeof d === 'number' ? d : NaN));
  const elements = shapeElements(shape);
  if (typeof elements === 'string') throw invalid(`a tensor over ${storage.description}: ${elements}`);
  const described = `a tensor of shape [${shape.join(', ')}], strides [${strides.join(', ')}] and offset ${String(offset)}`;
  if (!isCount(offset) || strides.length !== shape.length || !strides.every((s) => isCount(s))) throw invalid(`${described} is malformed`);
  const tensorDtype = dtype ?? storage.dtype;
  const width = DTYPE_BYTES[tensorDtype];
  if (elements > 0) {
    // The last element read must lie inside the storage; numbers stay exact because each term is below 2^53.
    const last = offset + lastIndex(shape, strides);
    if (!Number.isSafeInteger(last) || (last + 1) * width > storage.byteLength) {
      throw invalid(`${described} reads past the end of ${storage.description} (${storage.byteLength} bytes)`);
    }
  }
  return new CheckpointTensor(storage, offset, shape, strides, tensorDtype, elements, budget);
}

/** Index of the last element a view reads, relative to its offset. */
function lastIndex(shape: readonly number[], stride: readonly number[]): number {
  let last = 0;
  for (let i = 0; i < shape.length; i++) last += ((shape[i] as number) - 1) * (stride[i] as number);
  return last;
}

/** Row-major strides (dimensions of size 1 may have any stride). */
function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i] as number;
    if (d !== 1 && stride[i] !== expected) return false;
    expected *= d;
  }
  return true;
}

/** Copies a strided view out of `source` (which starts at the view's offset) into row-major order. */
function gather(source: Float32Array, shape: readonly number[], stride: readonly number[], elements: number): Float32Array {
  const out = new Float32Array(elements);
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = 0;
  for (let i = 0; i < elements; i++) {
    out[i] = source[at] as number;
    // Odometer: bump the last dimension, carrying into the ones before it.
    for (let d = rank - 1; d >= 0; d--) {
      const next = (index[d] as number) + 1;
      if (next < (shape[d] as number)) {
        index[d] = next;
        at += stride[d] as number;
        break;
      }
      index[d] = 0;
      at -= (next - 1) * (stride[d] as number);
    }
  }
  return out;
}

/**
 * The text form of an NCNN network description (`.param`), as ncnn's `Net::load_param` reads it
 * (docs/developer-guide/param-and-model-file-structure.md in Tencent/ncnn):
 *
 *     7767517
 *     [layer count] [blob count]
 *     [type] [name] [input count] [output count] [input blobs...] [output blobs...] [id=value ...]
 *
 * Values are ints (`0=64`), floats (`1=2.000000e-01`: a `.` or an `e` makes a float), strings (`4=hello`), arrays in
 * the old form (`-23310=2,0.0,6.0`: key -23300 - id, then the length) or the new one (`10=0.0,6.0`). Ids run from
 * 0 to 31; id 30 holds output shape hints and id 31 a feature mask, neither of which changes the computation.
 *
 * This parser is stricter than ncnn's: every line is checked, each error names the line, a blob must be produced
 * before it is read and produced only once, and layer names must be unique.
 */
import { UpscaleError } from '../../errors.js';

/** First line of every text .param file (the binary .param.bin starts with the same number as an int32). */
export const NCNN_MAGIC = 7767517;
/** ncnn's NCNN_MAX_PARAM_COUNT: ids 0..31. */
const MAX_PARAM_ID = 31;
/** Old-style array keys are -23300 - id. */
const ARRAY_KEY_BASE = -23300;
/** More than this many layers or blobs is certainly not a model (the largest SR models have a few thousand). */
const MAX_COUNT = 1_000_000;

export type NcnnParamValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'array'; readonly value: readonly number[]; readonly float: boolean }
  | { readonly kind: 'string'; readonly value: string };

export interface NcnnLayer {
  /** Layer type: `Convolution`, `Interp`, ... */
  readonly type: string;
  /** Layer name, unique in the file. */
  readonly name: string;
  /** Blob names read and written, in order. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Parameters by id (an old-style array key -23310 is stored under id 10). */
  readonly params: ReadonlyMap<number, NcnnParamValue>;
  /** 1-based line number in the .param text, for error messages. */
  readonly line: number;
}

export interface NcnnParam {
  readonly layers: readonly NcnnLayer[];
  /** Blob count declared on line 2 (at least the number of distinct blobs). */
  readonly blobCount: number;
}

/**
 * Parses the text of a .param file.
 *
 * @param file names the file in error messages
 * @throws UpscaleError `MODEL_INVALID` naming the file and the line: a wrong magic number (including a binary
 *   .param.bin), counts that do not match the layer lines, a malformed layer line or parameter, a duplicate layer
 *   name, a blob read before any layer produced it or produced twice.
 * @example
 * const net = parseNcnnParam(await readFile('realesrgan-x4plus.param', 'utf8'), 'realesrgan-x4plus.param');
 * net.layers[0]; // { type: 'Input', name: 'input.1', inputs: [], outputs: ['data'], params: Map {}, line: 3 }
 */
export function parseNcnnParam(text: string, file: string): NcnnParam {
  const fail = (line: number, message: string): never => {
    throw new UpscaleError('MODEL_INVALID', `line ${line}: ${message}`, { file });
  };
  if (typeof text !== 'string') throw new TypeError(`Expected the .param text to be a string, got ${typeof text}`);
  const lines = text.split(/\r?\n/);
  /** Non-blank lines with their 1-based numbers. */
  const content: { readonly n: number; readonly tokens: string[] }[] = [];
  for (const [i, line] of lines.entries()) {
    const tokens = line.trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length > 0) content.push({ n: i + 1, tokens });
  }

  const magicLine = content[0];
  if (magicLine === undefined) return fail(1, `expected the NCNN magic number ${NCNN_MAGIC}, got an empty file`);
  const magic = magicLine.tokens[0] ?? '';
  if (magicLine.tokens.length !== 1 || magic !== String(NCNN_MAGIC)) {
    return fail(
      magicLine.n,
      text.slice(0, 64).includes('\u0000')
        ? 'expected a text .param, got binary data (a .param.bin from ncnn2mem, or the .bin given in place of the .param)'
        : `expected the NCNN magic number ${NCNN_MAGIC}, got "${truncate(magicLine.tokens.join(' '))}"`,
    );
  }

  const countLine = content[1];
  if (countLine === undefined) return fail(magicLine.n + 1, 'expected the layer count and blob count, got the end of the file');
  const [layerCountText, blobCountText] = countLine.tokens;
  if (countLine.tokens.length !== 2 || layerCountText === undefined || blobCountText === undefined) {
    return fail(countLine.n, `expected two numbers (layer count, blob count), got "${truncate(countLine.tokens.join(' '))}"`);
  }
  const layerCount = parseCount(layerCountText);
  const blobCount = parseCount(blobCountText);
  if (layerCount === undefined || layerCount < 1) return fail(countLine.n, `expected a positive layer count, got "${layerCountText}"`);
  if (blobCount === undefined || blobCount < 1) return fail(countLine.n, `expected a positive blob count, got "${blobCountText}"`);

  const layerLines = content.slice(2);
  if (layerLines.length !== layerCount) {
    const at = layerLines.length > layerCount ? (layerLines[layerCount]?.n ?? countLine.n) : countLine.n;
    return fail(at, `the header declares ${layerCount} layers, but the file has ${layerLines.length} layer lines`);
  }

  const layers: NcnnLayer[] = [];
  const layerNames = new Set<string>();
  /** Blob name → line of the layer that produced it. */
  const produced = new Map<string, number>();
  for (const { n, tokens } of layerLines) {
    const [type, name, inCountText, outCountText] = tokens;
    if (type === undefined || name === undefined || inCountText === undefined || outCountText === undefined) {
      return fail(n, `expected "type name inputs outputs ...", got "${truncate(tokens.join(' '))}"`);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(type)) return fail(n, `expected a layer type, got "${truncate(type)}"`);
    const inCount = parseCount(inCountText);
    const outCount = parseCount(outCountText);
    if (inCount === undefined) return fail(n, `expected the input blob count of layer "${name}" to be a non-negative integer, got "${truncate(inCountText)}"`);
    if (outCount === undefined) return fail(n, `expected the output blob count of layer "${name}" to be a non-negative integer, got "${truncate(outCountText)}"`);
    if (tokens.length < 4 + inCount + outCount) {
      return fail(n, `layer "${name}" declares ${inCount} input and ${outCount} output blobs, but the line names only ${tokens.length - 4}`);
    }
    if (layerNames.has(name)) return fail(n, `duplicate layer name "${name}"`);
    layerNames.add(name);
    const inputs = tokens.slice(4, 4 + inCount);
    const outputs = tokens.slice(4 + inCount, 4 + inCount + outCount);
    for (const blob of inputs) {
      if (isParam(blob)) return fail(n, `layer "${name}" declares ${inCount} input blobs, but "${truncate(blob)}" is a parameter`);
      if (!produced.has(blob)) return fail(n, `layer "${name}" (${type}) reads blob "${blob}" before any layer produces it`);
    }
    for (const blob of outputs) {
      if (isParam(blob)) return fail(n, `layer "${name}" declares ${outCount} output blobs, but "${truncate(blob)}" is a parameter`);
      const earlier = produced.get(blob);
      if (earlier !== undefined) return fail(n, `layer "${name}" (${type}) produces blob "${blob}", already produced on line ${earlier}`);
      produced.set(blob, n);
    }
    const params = parseParams(tokens.slice(4 + inCount + outCount), (message) => fail(n, `layer "${name}" (${type}): ${message}`));
    layers.push({ type, name, inputs, outputs, params, line: n });
  }
  if (produced.size > blobCount) {
    return fail(countLine.n, `the header declares ${blobCount} blobs, but the layers produce ${produced.size}`);
  }
  return { layers, blobCount };
}

function parseCount(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_COUNT ? n : undefined;
}

function isParam(token: string): boolean {
  return /^-?\d+=/.test(token);
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

const INT = /^[-+]?\d+$/;
const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|nan)$/i;

/** ncnn's rule: a value with a `.` or an `e` is a float, one starting with a letter or `"` is a string. */
function parseScalar(text: string): { kind: 'int' | 'float'; value: number } | undefined {
  if (INT.test(text)) {
    const value = Number(text);
    return Number.isSafeInteger(value) && Math.abs(value) <= 2 ** 31 ? { kind: 'int', value } : undefined;
  }
  if (FLOAT.test(text)) {
    const value = Number(text.replace(/^([-+]?)inf$/i, '$1Infinity'));
    return Number.isNaN(value) && !/nan/i.test(text) ? undefined : { kind: 'float', value };
  }
  return undefined;
}

function parseParams(tokens: readonly string[], fail: (message: string) => never): Map<number, NcnnParamValue> {
  const params = new Map<number, NcnnParamValue>();
  for (const token of tokens) {
    const eq = token.indexOf('=');
    const keyText = token.slice(0, eq);
    const valueText = token.slice(eq + 1);
    if (eq < 1 || !INT.test(keyText)) return fail(`expected "id=value", got "${truncate(token)}"`);
    const key = Number(keyText);
    const oldArray = key <= ARRAY_KEY_BASE;
    const id = oldArray ? ARRAY_KEY_BASE - key : key;
    if (id < 0 || id > MAX_PARAM_ID) return fail(`parameter id ${key} is out of range (0 to ${MAX_PARAM_ID}, or ${ARRAY_KEY_BASE} - id for arrays)`);
    if (params.has(id)) return fail(`parameter ${id} is given twice`);
    if (valueText === '') return fail(`parameter ${key} has no value`);
    if (!oldArray && /^[A-Za-z"]/.test(valueText)) {
      params.set(id, { kind: 'string', value: valueText.replace(/^"|"$/g, '') });
      continue;
    }
    const parts = valueText.split(',');
    if (!oldArray && parts.length === 1) {
      const v = parseScalar(valueText);
      if (v === undefined) return fail(`expected a number for parameter ${key}, got "${truncate(valueText)}"`);
      params.set(id, v);
      continue;
    }
    let items = parts;
    if (oldArray) {
      const length = parseScalar(parts[0] ?? '');
      if (length?.kind !== 'int' || length.value < 0) return fail(`expected array ${key} to start with its length, got "${truncate(valueText)}"`);
      items = parts.slice(1);
      if (items.length !== length.value) return fail(`array ${key} declares ${length.value} elements but has ${items.length}`);
    }
    const values: number[] = [];
    let float = false;
    for (const item of items) {
      const v = parseScalar(item);
      if (v === undefined) return fail(`expected a number in parameter ${key}, got "${truncate(item)}"`);
      float ||= v.kind === 'float';
      values.push(v.value);
    }
    params.set(id, { kind: 'array', value: values, float });
  }
  return params;
}

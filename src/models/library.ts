/**
 * The user's model library (`upscale models add/list/info/remove`): imported models stored as converted ONNX with
 * a JSON description each, named by a short id usable with `-m`.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { UpscaleError } from '../errors.js';
import { removeStaleTemporaries, temporaryPathFor } from '../files.js';
import { importModelFile, type ImportedModelInfo } from './import.js';
import { loadOnnxBytes } from './onnx-file.js';
import type { ModelDescriptor } from './types.js';

export interface LibraryEntry extends Omit<ImportedModelInfo, 'sourceFiles'> {
  readonly id: string;
  /** The source files' absolute paths when added; only for information (the library keeps its own copy). */
  readonly sourceFiles: readonly string[];
  /** When it was added, ISO 8601. */
  readonly added: string;
}

/**
 * `$UPSCALE_MODELS_DIR`, else `$XDG_DATA_HOME/upscale/models`, else `%APPDATA%\upscale\models` on Windows, else
 * `~/.local/share/upscale/models`.
 */
export function libraryDirectory(): string {
  const env = process.env;
  if (env.UPSCALE_MODELS_DIR) return env.UPSCALE_MODELS_DIR;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'upscale', 'models');
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'upscale', 'models');
  return join(homedir(), '.local', 'share', 'upscale', 'models');
}

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A file name made into an id: lower case, runs of other characters as '-' (`4x-UltraSharp.pth` → `4x-ultrasharp`). */
export function idFromName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64)
    .replace(/[-.]+$/, '');
}

/**
 * Converts `file` and stores it under `name` (default: the file's name without extension).
 *
 * @param isTaken says whether an id is already used by a built-in or classical model
 */
export async function addToLibrary(file: string, options: { name?: string; isTaken?: (id: string) => boolean } = {}): Promise<LibraryEntry> {
  const id = options.name === undefined ? idFromName(basename(file, extname(file))) : options.name.toLowerCase();
  if (!ID_PATTERN.test(id)) {
    throw new UpscaleError('INVALID_OPTION', `Expected a model name of letters, digits, '.', '_' or '-' (at most 64), got "${options.name ?? id}"`);
  }
  if (options.isTaken?.(id)) throw new UpscaleError('INVALID_OPTION', `"${id}" is the name of a built-in model; choose another with --name`);
  if (libraryEntry(id) !== undefined) {
    throw new UpscaleError('INVALID_OPTION', `"${id}" is already in the library; remove it first (upscale models remove ${id}) or choose another --name`);
  }
  const { onnx, info } = await importModelFile(file);
  // Load it once: onnxruntime accepts the graph, and an ONNX file's undeclared scale is probed.
  const loaded = await loadOnnxBytes(onnx, { label: file }, { id });
  await loaded.network.dispose();
  const entry: LibraryEntry = { ...info, scale: loaded.network.scale, id, sourceFiles: info.sourceFiles.map((f) => resolve(f)), added: new Date().toISOString() };
  const dir = libraryDirectory();
  await mkdir(dir, { recursive: true });
  // The description is written last: an entry without its .json is not listed, so a failed add leaves nothing.
  await writeAtomically(join(dir, `${id}.onnx`), onnx);
  await writeAtomically(join(dir, `${id}.json`), `${JSON.stringify(entry, null, 2)}\n`);
  return entry;
}

/** Every entry, by id. Unreadable descriptions are skipped (a half-removed entry must not break listing). */
export function listLibrary(): LibraryEntry[] {
  const dir = libraryDirectory();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.json') && ID_PATTERN.test(n.slice(0, -5)))
    .sort()
    .flatMap((n) => {
      const entry = libraryEntry(n.slice(0, -5));
      return entry === undefined ? [] : [entry];
    });
}

export function libraryEntry(id: string): LibraryEntry | undefined {
  if (!ID_PATTERN.test(id)) return undefined;
  const dir = libraryDirectory();
  if (!existsSync(join(dir, `${id}.onnx`))) return undefined;
  try {
    return JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as LibraryEntry;
  } catch {
    return undefined;
  }
}

/** Path of an entry's converted ONNX model. */
export function libraryModelPath(id: string): string {
  return join(libraryDirectory(), `${id}.onnx`);
}

export async function removeFromLibrary(id: string): Promise<LibraryEntry> {
  const entry = libraryEntry(id);
  if (entry === undefined) throw new UpscaleError('MODEL_NOT_FOUND', `no model "${id}" in the library (see upscale models list)`);
  const dir = libraryDirectory();
  await rm(join(dir, `${id}.json`), { force: true });
  await rm(join(dir, `${id}.onnx`), { force: true });
  return entry;
}

/** How a library entry shows in `upscale models` and provenance. */
export function libraryDescriptor(entry: LibraryEntry): ModelDescriptor {
  const source = entry.sourceFiles.map((f) => basename(f)).join(' + ');
  return {
    id: entry.id,
    name: entry.id,
    kind: 'network',
    scale: entry.scale,
    scales: [entry.scale],
    description: `${entry.architectureName} x${entry.scale} from ${source} (your library)`,
    source,
    parameters: entry.parameters,
  };
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    await removeStaleTemporaries(dirname(path));
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new UpscaleError('OUTPUT_FAILED', `could not write the model library (${error instanceof Error ? error.message : String(error)})`, {
      file: path,
      cause: error,
    });
  }
}

/**
 * The resumable work directory beside the output (`<output>.upscale-parts/`): a manifest naming the input (size,
 * modification time) and a hash of every setting that changes the result, and one encoded segment per N frames.
 * A segment appears under its final name only once its encoder has exited cleanly, so after a crash (kill -9
 * included) every `seg-*.nut` present is complete and is reused; anything else is discarded.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Manifest {
  readonly version: 1;
  readonly input: { readonly path: string; readonly bytes: number; readonly mtimeMs: number };
  /** SHA-256 of the settings that shape the output (model, size, codec, segment length, frame range...). */
  readonly settingsHash: string;
  readonly frames: number;
  readonly segmentFrames: number;
}

export interface WorkDir {
  readonly path: string;
  /** Indices of the segments already encoded by an earlier run. */
  readonly done: ReadonlySet<number>;
  segmentPath(index: number): string;
  /** Where a segment is written while its encoder runs. */
  partialPath(index: number): string;
  /** Moves a finished segment into place. */
  commit(index: number): Promise<void>;
  remove(): Promise<void>;
}

export function workDirFor(output: string): string {
  return `${output}.upscale-parts`;
}

export function hashSettings(settings: unknown): string {
  return createHash('sha256').update(JSON.stringify(settings)).digest('hex');
}

const segmentName = (index: number): string => `seg-${String(index).padStart(6, '0')}.nut`;

/** Opens the work directory, keeping an earlier run's segments when its manifest matches, else starting afresh. */
export async function openWorkDir(path: string, manifest: Manifest): Promise<WorkDir> {
  const wanted = JSON.stringify(manifest, null, 2);
  let previous: string | undefined;
  try {
    previous = await readFile(join(path, 'manifest.json'), 'utf8');
  } catch {
    previous = undefined;
  }
  const done = new Set<number>();
  if (previous === wanted) {
    for (const name of await readdir(path)) {
      const match = /^seg-(\d{6})\.nut$/.exec(name);
      if (match !== null) done.add(Number(match[1]));
      else if (name !== 'manifest.json') await rm(join(path, name), { force: true, recursive: true });
    }
  } else {
    await rm(path, { recursive: true, force: true });
    await mkdir(path, { recursive: true });
    await writeFile(join(path, 'manifest.json.tmp'), wanted);
    await rename(join(path, 'manifest.json.tmp'), join(path, 'manifest.json'));
  }
  return {
    path,
    done,
    segmentPath: (index) => join(path, segmentName(index)),
    partialPath: (index) => join(path, `${segmentName(index)}.partial`),
    async commit(index) {
      await rename(join(path, `${segmentName(index)}.partial`), join(path, segmentName(index)));
      done.add(index);
    },
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

/**
 * Output files are written to a temporary name beside the target and renamed into place, so a failed or
 * cancelled run never leaves a partial file under the final name.
 *
 * Temporary names are `.<name>.upscale-tmp-<pid>-<8 hex>` (the video writer adds the output's extension after it,
 * for ffmpeg). The pid of the writing process is part of the name so that a later run can tell a temporary left by
 * a killed process (`kill -9`, a power cut) from one that a running process is still writing:
 * {@link removeStaleTemporaries} deletes only the former.
 */
import { randomBytes } from 'node:crypto';
import { access, link, lstat, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { debuglog } from 'node:util';
import { UpscaleError } from './errors.js';

const debug = debuglog('upscale');

/** `.<name>.upscale-tmp-<pid>-<hex>`, optionally followed by an extension (`.mp4`). */
const TEMPORARY_NAME = /^\..+\.upscale-tmp-(\d+)-[0-9a-f]{8}(\.[A-Za-z0-9]{1,8})?$/;

/**
 * A fresh temporary path beside `path`, recognisable by {@link temporaryOwner}.
 * @param options.keepExtension end the name with the target's extension (for tools that choose a format by it)
 * @example temporaryPathFor('out/x@2x.png') // 'out/.x@2x.png.upscale-tmp-4242-1a2b3c4d'
 */
export function temporaryPathFor(path: string, options: { keepExtension?: boolean } = {}): string {
  const extension = options.keepExtension === true ? extname(path) : '';
  const name = options.keepExtension === true ? basename(path, extension) : basename(path);
  return join(dirname(path), `.${name}.upscale-tmp-${process.pid}-${randomBytes(4).toString('hex')}${extension}`);
}

/** The pid of the process that made a temporary file of ours, from its name; `undefined` for any other name. */
export function temporaryOwner(name: string): number | undefined {
  const match = TEMPORARY_NAME.exec(name);
  if (match === null) return undefined;
  const pid = Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether a process with this pid exists (one of another user's counts: EPERM means it is there). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary files of ours in `dir` whose writing process is gone, and returns their paths. Live
 * processes' files, other files and sub-directories are left alone; a directory that cannot be read is not an error.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = temporaryOwner(name);
    if (pid === undefined || isProcessAlive(pid)) continue;
    const path = join(dir, name);
    try {
      if (!(await lstat(path)).isFile()) continue;
      await rm(path, { force: true });
      removed.push(path);
      debug('removed %s, left by process %d which is gone', path, pid);
    } catch (error) {
      debug('cannot remove stale temporary %s: %s', path, (error as NodeJS.ErrnoException).code ?? String(error));
    }
  }
  return removed;
}

export async function writeFileAtomic(path: string, data: Uint8Array, options: { overwrite?: boolean } = {}): Promise<void> {
  const temp = temporaryPathFor(path);
  try {
    await writeFile(temp, data, { flag: 'wx' });
    if (options.overwrite) {
      await rename(temp, path);
    } else {
      await moveWithoutReplacing(temp, path);
    }
  } catch (error) {
    await rm(temp, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UpscaleError('OUTPUT_EXISTS', 'output file exists (use --overwrite to replace it)', { file: path, cause: error });
    }
    const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new UpscaleError('OUTPUT_FAILED', `cannot write output (${reason})`, { file: path, cause: error });
  }
}

/** link() fails if the name exists, so a file that appeared while we worked is never replaced. */
async function moveWithoutReplacing(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
    await rm(temp, { force: true });
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
  }
  // File systems without hard links: check, then rename.
  const exists = await access(path).then(() => true, () => false);
  if (exists) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
  await rename(temp, path);
}

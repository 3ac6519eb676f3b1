/**
 * Output files are written to a temporary name beside the target and renamed into place, so a failed or
 * cancelled run never leaves a partial file under the final name.
 */
import { randomBytes } from 'node:crypto';
import { access, link, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UpscaleError } from './errors.js';

export async function writeFileAtomic(path: string, data: Uint8Array, options: { overwrite?: boolean } = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.upscale-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
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

/**
 * Locating ffmpeg and ffprobe, checking their version and encoders, and running them with their errors captured.
 * This folder is the only place in the project that spawns them.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { debuglog } from 'node:util';
import { UpscaleError } from '../errors.js';

const debug = debuglog('upscale:video');

export interface FfmpegTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
  /** As printed by `ffmpeg -version`, e.g. `5.1.9-0+deb12u1`. */
  readonly version: string;
  /** Names of the encoders this build has (`libx264`, `ffv1`, ...). */
  readonly encoders: ReadonlySet<string>;
}

export const INSTALL_HINT = 'install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; others: https://ffmpeg.org/download.html) or set UPSCALE_FFMPEG and UPSCALE_FFPROBE';

/** Oldest release with `-fps_mode` and `-enc_time_base`, which the timestamp handling relies on. */
const MIN_VERSION = [5, 1] as const;

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/**
 * Runs a tool to completion, collecting its output. A missing executable rejects with the spawn error
 * (`code: 'ENOENT'`); a non-zero exit does not reject: callers read `code` and `stderr`.
 */
export function runTool(command: string, args: readonly string[], options: { signal?: AbortSignal | undefined } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    debug('%s %s', command, args.join(' '));
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const onAbort = (): void => {
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      resolvePromise({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** A long-running ffmpeg child with stderr kept (the last 8 KB) for error messages. */
export interface ToolProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited, with its code (null when killed). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(): void;
}

export function startTool(command: string, args: readonly string[], stdio: SpawnOptions['stdio']): ToolProcess {
  debug('%s %s', command, args.join(' '));
  // Own process group: a Ctrl-C at the terminal reaches only us, and we stop the children ourselves.
  const child = spawn(command, args, { stdio, detached: true });
  let tail = '';
  // A child that exits early (killed, or failing) makes writes fail with EPIPE; its exit status reports it.
  child.stdin?.on('error', (error) => debug('stdin of %s: %s', command, error.message));
  child.stdout?.on('error', (error) => debug('stdout of %s: %s', command, error.message));
  child.stderr?.on('data', (b: Buffer) => {
    tail = (tail + b.toString('utf8')).slice(-8192);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => {
    child.once('error', (error) => {
      tail += `\n${error.message}`;
      resolvePromise({ code: -1, signal: null });
    });
    child.once('close', (code, signal) => resolvePromise({ code, signal }));
  });
  return {
    child,
    exited,
    stderr: () => tail,
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      // A paused pipe would hold back 'close' (and so `exited`) for ever.
      child.stdout?.destroy();
      child.stdin?.destroy();
    },
  };
}

/** The last meaningful line of a tool's stderr, for a one-line error message. */
export function lastLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\]\s*/, '').trim())
    .filter((l) => l !== '' && !/^(Conversion failed!|Exiting normally|\s*Last message repeated)/.test(l));
  return lines.at(-1) ?? 'no error message';
}

let cached: Promise<FfmpegTools> | undefined;

/**
 * Finds ffmpeg and ffprobe (`$UPSCALE_FFMPEG` / `$UPSCALE_FFPROBE`, else on the PATH), checks the version and
 * lists the encoders. The answer is cached per process and per pair of paths.
 */
export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): Promise<FfmpegTools> {
  const ffmpeg = env['UPSCALE_FFMPEG'] ?? 'ffmpeg';
  const ffprobe = env['UPSCALE_FFPROBE'] ?? 'ffprobe';
  if (cached === undefined || (cachedKey !== `${ffmpeg}\0${ffprobe}`)) {
    cachedKey = `${ffmpeg}\0${ffprobe}`;
    cached = inspect(ffmpeg, ffprobe);
    cached.catch(() => {
      cached = undefined;
    });
  }
  return cached;
}
let cachedKey = '';

async function inspect(ffmpeg: string, ffprobe: string): Promise<FfmpegTools> {
  const version = await versionOf(ffmpeg, 'ffmpeg', 'UPSCALE_FFMPEG');
  await versionOf(ffprobe, 'ffprobe', 'UPSCALE_FFPROBE');
  const parsed = /^n?(\d+)\.(\d+)/.exec(version);
  if (parsed !== null) {
    const [major, minor] = [Number(parsed[1]), Number(parsed[2])];
    if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
      throw new UpscaleError('DEPENDENCY_MISSING', `ffmpeg ${version} is too old: version ${MIN_VERSION.join('.')} or later is needed; ${INSTALL_HINT}`, { file: ffmpeg });
    }
  }
  const listed = await runTool(ffmpeg, ['-hide_banner', '-encoders']);
  const encoders = new Set<string>();
  for (const line of listed.stdout.toString('utf8').split('\n')) {
    const match = /^\s[VAS][.A-Z]{5}\s+(\S+)/.exec(line);
    if (match !== null && match[1] !== '=') encoders.add(match[1]!);
  }
  return { ffmpeg, ffprobe, version, encoders };
}

async function versionOf(path: string, name: string, variable: string): Promise<string> {
  let result: RunResult;
  try {
    result = await runTool(path, ['-version']);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = path === name ? `"${name}" is not on the PATH` : `${variable}=${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be run (${code ?? 'error'})`}`;
    throw new UpscaleError('DEPENDENCY_MISSING', `${name} not found: ${where}; video needs ${name}: ${INSTALL_HINT}`, { cause: error });
  }
  const match = new RegExp(`^${name} version (\\S+)`).exec(result.stdout.toString('utf8'));
  if (result.code !== 0 || match === null) {
    throw new UpscaleError('DEPENDENCY_MISSING', `${path} does not look like ${name} (\`${path} -version\` printed no version); ${INSTALL_HINT}`);
  }
  return match[1]!;
}

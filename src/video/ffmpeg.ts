/**
 * Locating ffmpeg and ffprobe (variables, PATH, npm packages), reading their options and encoders, and running them
 * with their errors captured.
 * This folder is the only place in the project that spawns them.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { UpscaleError } from '../errors.js';

const debug = debuglog('upscale:video');

export interface FfmpegTools {
  readonly ffmpeg: string;
  readonly ffprobe: string;
  /** As printed by `ffmpeg -version`, e.g. `5.1.9-0+deb12u1` or `N-47683-g0e8eb07980-static` (a git build). */
  readonly version: string;
  /** Names of the encoders this build has (`libx264`, `ffv1`, ...). */
  readonly encoders: ReadonlySet<string>;
  /** Codecs this ffmpeg can decode, by ffprobe's `codec_name` (`h264`, `hevc`, `av1`, ...). */
  readonly decoders: ReadonlySet<string>;
  /** Options found in `ffmpeg -h long`, which differ between releases. */
  readonly features: FfmpegFeatures;
}

export interface FfmpegFeatures {
  /** `-fps_mode` (ffmpeg 5.1 and later); older releases have the global `-vsync` instead. */
  readonly fpsMode: boolean;
}

/** Where ffmpeg and ffprobe can come from, for the error that says none was found or one is unusable. */
export const INSTALL_HINT =
  'install them (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; others: https://ffmpeg.org/download.html), ' +
  'or from npm alone: npm install @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe (with -g for a global upscale), ' +
  'or set UPSCALE_FFMPEG and UPSCALE_FFPROBE';

/** The npm packages that ship a static binary, tried when neither variable is set and the PATH has none. */
const NPM_PACKAGES = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' } as const;

/** Options that select "every frame, its own timestamp" (no frames dropped or duplicated), by release. */
export function passthroughArgs(tools: FfmpegTools): string[] {
  return tools.features.fpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', 'passthrough'];
}

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

const cache = new Map<string, Promise<FfmpegTools>>();

/**
 * Finds ffmpeg and ffprobe, each from the first of: `$UPSCALE_FFMPEG` / `$UPSCALE_FFPROBE` (which must work when
 * set: no fallback), the PATH, the npm packages `@ffmpeg-installer/ffmpeg` / `@ffprobe-installer/ffprobe` when
 * the user has installed them (never our dependencies). Then checks the options the pipeline needs and lists the
 * encoders and decodable codecs. The answer is cached per process and per variables, PATH and working directory.
 */
export function locateFfmpeg(env: NodeJS.ProcessEnv = process.env): Promise<FfmpegTools> {
  const key = [env['UPSCALE_FFMPEG'], env['UPSCALE_FFPROBE'], env['PATH'], process.cwd()].join('\0');
  let found = cache.get(key);
  if (found === undefined) {
    found = (async () => {
      const ffmpeg = await findTool('ffmpeg', env);
      const ffprobe = await findTool('ffprobe', env);
      return inspect(ffmpeg, ffprobe.path);
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}

interface FoundTool {
  readonly path: string;
  readonly version: string;
}

async function findTool(name: 'ffmpeg' | 'ffprobe', env: NodeJS.ProcessEnv): Promise<FoundTool> {
  const variable = name === 'ffmpeg' ? 'UPSCALE_FFMPEG' : 'UPSCALE_FFPROBE';
  const chosen = env[variable];
  if (chosen !== undefined && chosen !== '') return { path: chosen, version: await versionOf(chosen, name, `${variable}=${chosen}`) };
  try {
    return { path: name, version: await versionOf(name, name, `"${name}" on the PATH`) };
  } catch (error) {
    if (!(error instanceof NotFound)) throw error;
  }
  const pkg = NPM_PACKAGES[name];
  const packaged = npmBinary(pkg);
  if (packaged !== undefined) return { path: packaged, version: await versionOf(packaged, name, `${pkg} (${packaged})`) };
  throw new UpscaleError('DEPENDENCY_MISSING', `${name} not found: not on the PATH, and ${pkg} is not installed; video needs ffmpeg and ffprobe: ${INSTALL_HINT}`);
}

/**
 * The binary of an npm package such as `@ffmpeg-installer/ffmpeg` (whose main module exports `{ path, version }`),
 * looked up beside this package (a global install finds global packages) and then from the working directory.
 */
function npmBinary(pkg: string): string | undefined {
  for (const base of [import.meta.url, join(process.cwd(), 'noop.js')]) {
    try {
      // The package throws (a string, in @ffmpeg-installer's case) when its platform package is missing.
      const loaded: unknown = createRequire(base)(pkg);
      const path = (loaded as { path?: unknown } | null)?.path;
      if (typeof path === 'string' && path !== '') return path;
      debug('%s from %s exports no path', pkg, base);
    } catch (error) {
      debug('%s from %s: %s', pkg, base, error instanceof Error ? error.message : String(error));
    }
  }
  return undefined;
}

/** A tool that could not be started at all; the caller moves on to the next place to look. */
class NotFound extends UpscaleError {}

async function inspect(ffmpeg: FoundTool, ffprobe: string): Promise<FfmpegTools> {
  const [help, listed, codecs] = await Promise.all([
    runTool(ffmpeg.path, ['-hide_banner', '-h', 'long']),
    runTool(ffmpeg.path, ['-hide_banner', '-encoders']),
    runTool(ffmpeg.path, ['-hide_banner', '-codecs']),
  ]);
  const options = new Set<string>();
  for (const line of help.stdout.toString('utf8').split('\n')) {
    const match = /^-([\w:]+)/.exec(line);
    if (match !== null) options.add(match[1]!);
  }
  // Encoders take the microsecond time base of the frames we send (added in ffmpeg 4.1).
  if (!options.has('enc_time_base')) {
    throw new UpscaleError('DEPENDENCY_MISSING', `ffmpeg ${ffmpeg.version} is too old: it has no -enc_time_base option (ffmpeg 4.1 or later is needed); ${INSTALL_HINT}`, { file: ffmpeg.path });
  }
  const encoders = new Set<string>();
  for (const line of listed.stdout.toString('utf8').split('\n')) {
    const match = /^\s[VAS][.A-Z]{5}\s+(\S+)/.exec(line);
    if (match !== null && match[1] !== '=') encoders.add(match[1]!);
  }
  const decoders = new Set<string>();
  for (const line of codecs.stdout.toString('utf8').split('\n')) {
    const match = /^\sD[.E]V[.A-Z]{3}\s+(\S+)/.exec(line);
    if (match !== null && match[1] !== '=') decoders.add(match[1]!);
  }
  return { ffmpeg: ffmpeg.path, ffprobe, version: ffmpeg.version, encoders, decoders, features: { fpsMode: options.has('fps_mode') } };
}

/** Runs `<path> -version`; `where` says where the path came from, for the messages. */
async function versionOf(path: string, name: string, where: string): Promise<string> {
  let result: RunResult;
  try {
    result = await runTool(path, ['-version']);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be run (${code ?? 'error'})`;
    const message = `${name} not found: ${where} ${why}; video needs ffmpeg and ffprobe: ${INSTALL_HINT}`;
    // A name that is not on the PATH (or not executable there) lets the search go on.
    throw code === 'ENOENT' || code === 'EACCES' ? new NotFound('DEPENDENCY_MISSING', message, { cause: error }) : new UpscaleError('DEPENDENCY_MISSING', message, { cause: error });
  }
  const match = new RegExp(`^${name} version (\\S+)`).exec(result.stdout.toString('utf8'));
  if (result.code !== 0 || match === null) {
    throw new UpscaleError('DEPENDENCY_MISSING', `${where} does not look like ${name} (\`${path} -version\` printed no version); ${INSTALL_HINT}`);
  }
  return match[1]!;
}

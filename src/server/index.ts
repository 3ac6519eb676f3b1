/**
 * `startServer()`: the local web app's back end. Uploads and results live in a temporary working directory that
 * `close()` removes (and, as a last resort, the process's exit); jobs run one at a time through the library, in a
 * worker thread (worker.ts), so that the event loop answering requests is never held up by a job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from './app.js';
import { JobStore } from './jobs.js';
import { normalizeServerOptions, type ServerOptions } from './limits.js';

export type { Job, JobProgress, JobStatus, TileEvent } from './jobs.js';
export type { JobEventType } from './events.js';
export { isLoopback, SERVER_DEFAULTS, type ServerOptions } from './limits.js';

export interface RunningServer {
  /** `http://<host>:<port>/`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** The temporary working directory (uploads and results), removed by close(). */
  readonly workDir: string;
  /** Cancels every job, stops listening, frees the models and removes the working directory. Idempotent. */
  close(): Promise<void>;
}

/** dist/web of the package, from src/server (tsx) and from dist/server (built) alike. */
const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/**
 * Starts the web app on `host:port` (loopback by default).
 *
 * @example
 * const server = await startServer({ port: 0 });
 * console.log(server.url); // http://127.0.0.1:41234/
 * await server.close();
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const normalized = normalizeServerOptions(options, DEFAULT_WEB_ROOT);
  const workDir = mkdtempSync(join(normalized.tempParent ?? tmpdir(), 'upscale-serve-'));
  const removeNow = (): void => rmSync(workDir, { recursive: true, force: true });
  process.on('exit', removeNow);
  const store = new JobStore(normalized, workDir);
  let app;
  try {
    app = await buildApp(store, normalized);
    await app.listen({ port: normalized.port, host: normalized.host });
  } catch (error) {
    await store.close();
    process.off('exit', removeNow);
    removeNow();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : normalized.port;
  const host = normalized.host.includes(':') && !normalized.host.startsWith('[') ? `[${normalized.host}]` : normalized.host;
  const listening = app;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    port,
    workDir,
    close() {
      closing ??= (async () => {
        await store.close();
        await listening.close();
        await rm(workDir, { recursive: true, force: true });
        process.off('exit', removeNow);
      })();
      return closing;
    },
  };
}

/**
 * `upscale serve`: the local web app (drop images, pick a model, watch the tiles appear, compare at 1:1). Thin over
 * startServer(); prints the URL on stdout, stops cleanly (removing its working directory) on Ctrl-C or SIGTERM.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { isLoopback, SERVER_DEFAULTS, startServer } from '../server/index.js';
import { nonNegativeInt, positiveInt, positiveNumber, tileSize } from './parsers.js';

interface ServeCliOptions {
  port: number;
  host: string;
  maxUploadMb: number;
  maxPixels: number;
  maxOutputPixels?: number;
  maxQueued: number;
  tile?: number | 'auto';
  threads?: number;
}

const EXAMPLES = `
Examples:
  upscale serve                      http://127.0.0.1:7860/ on this machine only
  upscale serve --port 8080
  upscale serve --host 0.0.0.0       reachable from the network (no authentication: trusted networks only)

The JSON API is described in docs/web-api.md. Uploads and results are kept in a temporary directory that is
removed when the server stops.`;

/**
 * Adds the `serve` subcommand to the `upscale` program.
 *
 * @example
 * registerServeCommand(program, (code) => { exitCode = code; });
 */
export function registerServeCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('serve')
    .description('start the local web app: drop images, pick a model, watch the tiles, compare before and after')
    .option('--port <n>', `TCP port, 0 for any free one (default: ${SERVER_DEFAULTS.port})`, port, SERVER_DEFAULTS.port)
    .option('--host <address>', 'address to listen on; anything but loopback exposes the app to the network', SERVER_DEFAULTS.host)
    .option('--max-upload-mb <n>', 'largest upload, in megabytes', positiveNumber, SERVER_DEFAULTS.maxUploadBytes / 1024 / 1024)
    .option('--max-pixels <n>', 'largest input image, in pixels', positiveInt, SERVER_DEFAULTS.maxPixels)
    .option('--max-output-pixels <n>', `largest output image, in pixels (default: ${SERVER_DEFAULTS.maxOutputPixels})`, positiveInt)
    .option('--max-queued <n>', 'jobs waiting before new ones are refused', nonNegativeInt, SERVER_DEFAULTS.maxQueued)
    .option('--tile <px>', 'tile size in input pixels, or "auto"', tileSize)
    .option('--threads <n>', 'inference threads (default: all cores)', positiveInt)
    .addHelpText('after', EXAMPLES)
    .exitOverride()
    .action(async (options: ServeCliOptions) => {
      setExitCode(await runServe(options));
    });
}

async function runServe(options: ServeCliOptions): Promise<number> {
  let server;
  try {
    server = await startServer({
      port: options.port,
      host: options.host,
      maxUploadBytes: Math.round(options.maxUploadMb * 1024 * 1024),
      maxPixels: options.maxPixels,
      maxOutputPixels: options.maxOutputPixels,
      maxQueued: options.maxQueued,
      tileSize: options.tile,
      threads: options.threads,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? `port ${options.port} is in use (choose another with --port)` : error instanceof Error ? error.message : String(error);
    process.stderr.write(`upscale: cannot start the server: ${why}\n`);
    return code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || error instanceof RangeError ? 2 : 1;
  }
  // Listen for the signals before printing the URL, so that a signal sent as soon as it appears is handled.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const local = server.url.replace(/^http:\/\/[^/]*:/, 'http://127.0.0.1:');
  const exposed = !isLoopback(options.host);
  process.stdout.write(`upscale: serving on ${server.url}${exposed && local !== server.url ? ` (on this machine: ${local})` : ''}\n`);
  if (exposed) {
    process.stderr.write(
      `upscale: warning: listening on ${options.host}, so other machines on the network can reach the app; it has no authentication: anyone who can connect can upload images and use this machine's CPU. Use it on trusted networks only.\n`,
    );
  }
  process.stdout.write('upscale: press Ctrl-C to stop\n');
  await stopped;
  await server.close();
  process.stdout.write('upscale: stopped\n');
  return 0;
}

function port(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`Expected a port from 0 to 65535, got "${value}".`);
  return n;
}

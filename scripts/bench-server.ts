/**
 * `npm run bench -- server`: how quickly the web app's API answers while a job runs, against the same server idle,
 * in the same run. The server runs in a child process of its own, as `upscale serve` does; this process sends
 * GET /api/jobs (a light endpoint) back to back, 10 ms apart, first with the server idle, then while it upscales a
 * 640x480 photo x4 with the default model, twice (the first job also loads the model), and prints the p50, p99 and
 * slowest request of each phase, with the CPU they ran on.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { DEFAULT_MODEL } from '../src/models/registry.js';
import type { Job } from '../src/server/index.js';

const line = (text = ''): void => void process.stdout.write(`${text}\n`);
const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const IDLE_REQUESTS = 400;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Starts `startServer()` in a child process and resolves with its URL and a function that stops it. */
async function startChildServer(tempParent: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', tempParent], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^url (\S+)$/m.exec(out);
      if (match !== null) resolve(match[1]!);
    });
    void exited.then(() => reject(new Error(`the bench server exited early: ${out}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One GET /api/jobs: its time in ms and the jobs it listed. */
async function timedList(url: string): Promise<{ ms: number; jobs: Job[] }> {
  const started = performance.now();
  const response = await fetch(`${url}api/jobs`);
  const jobs = (await response.json()) as Job[];
  return { ms: performance.now() - started, jobs };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchServer(work: string): Promise<void> {
  const dir = new URL('../../shared/train/SunHays80/', import.meta.url);
  const first = readdirSync(dir).sort()[0];
  if (first === undefined) throw new Error('no photo in ../shared/train/SunHays80');
  const photo = await sharp(new URL(first, dir).pathname).resize(640, 480, { fit: 'fill' }).png().toBuffer();
  const server = await startChildServer(work);
  try {
    for (let i = 0; i < 20; i++) await timedList(server.url); // warm-up: connections, JIT
    const idle: number[] = [];
    for (let i = 0; i < IDLE_REQUESTS; i++) {
      idle.push((await timedList(server.url)).ms);
      await pause(10);
    }

    const ids: string[] = [];
    const started = performance.now();
    for (let i = 0; i < 2; i++) {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(photo)]), 'photo.png');
      const response = await fetch(`${server.url}api/jobs`, { method: 'POST', body: form });
      if (response.status !== 201) throw new Error(`job refused: ${response.status} ${await response.text()}`);
      ids.push(((await response.json()) as Job).id);
    }
    const busy: number[] = [];
    let jobs: Job[] = [];
    for (;;) {
      const result = await timedList(server.url);
      busy.push(result.ms);
      jobs = result.jobs.filter((job) => ids.includes(job.id));
      if (jobs.every((job) => TERMINAL.has(job.status))) break;
      await pause(10);
    }
    const seconds = (performance.now() - started) / 1000;
    for (const job of jobs) if (job.status !== 'done') throw new Error(`bench job ${job.status}: ${JSON.stringify(job.error)}`);
    const jobMs = jobs.map((job) => Date.parse(job.finishedAt!) - Date.parse(job.startedAt!)).reverse();

    line(`## Server under load: GET /api/jobs while jobs run (server in its own process)`);
    line(`${availableParallelism()} cores, ${cpus()[0]?.model ?? 'unknown CPU'}; jobs: a 640x480 photo x4 with ${DEFAULT_MODEL} (the default), twice: ${jobMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(' (loading the model) and ')}`);
    line('| server | requests | p50 ms | p99 ms | slowest ms |');
    line('|---|---|---|---|---|');
    for (const [label, values] of [['idle', idle], [`running the two jobs (${seconds.toFixed(1)} s)`, busy]] as const) {
      line(`| ${label} | ${values.length} | ${percentile(values, 50).toFixed(1)} | ${percentile(values, 99).toFixed(1)} | ${Math.max(...values).toFixed(1)} |`);
    }
    line('target: p99 under 100 ms while a job runs');
  } finally {
    await server.stop();
  }
}

// The child process: `--serve <tempParent>` starts the server and prints its URL.
if (process.argv[2] === '--serve' && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { startServer } = await import('../src/server/index.js');
  const server = await startServer({ port: 0, ...(process.argv[3] === undefined ? {} : { tempParent: process.argv[3] }) });
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
  process.stdout.write(`url ${server.url}\n`);
}

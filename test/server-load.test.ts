/**
 * The server under load (issue 13), in a process of its own so that its memory is this file's alone: uploads are
 * checked from their header and refused by the queue limit without being decoded, and the API stays responsive
 * while a job runs (the job runs in a worker thread, off the event loop that answers requests).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { startServer, type Job } from '../src/server/index.js';

const TILE = 16;
const TERMINAL = ['done', 'failed', 'cancelled'];

let parent: string;

before(() => {
  parent = mkdtempSync(join(tmpdir(), 'upscale-server-load-test-'));
});
after(() => {
  rmSync(parent, { recursive: true, force: true });
});

function post(base: string, file: Uint8Array, fields: Record<string, string>, filename = 'photo.png'): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([new Uint8Array(file)]), filename);
  return fetch(`${base}api/jobs`, { method: 'POST', body: form });
}

async function create(base: string, file: Uint8Array, fields: Record<string, string>): Promise<Job> {
  const response = await post(base, file, fields);
  const body = (await response.json()) as unknown;
  assert.equal(response.status, 201, JSON.stringify(body));
  return body as Job;
}

async function getJob(base: string, id: string): Promise<Job> {
  return (await (await fetch(`${base}api/jobs/${id}`)).json()) as Job;
}

async function waitFor(base: string, id: string, statuses: readonly string[]): Promise<Job> {
  for (;;) {
    const job = await getJob(base, id);
    if (statuses.includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A smooth RGB gradient: compresses well, so that a large image makes a small upload. */
function gradient(width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = 128;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

test('concurrent uploads of a 49-megapixel PNG beyond the queue limit: the extra ones get 429, none is decoded at intake', async (t) => {
  // 7000x7000 of one colour: a few hundred KB of PNG, 147 MB of pixels once decoded.
  const big = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#3a6b8c' } }).png().toBuffer();
  assert.ok(big.length < 1024 * 1024, String(big.length));
  const maxQueued = 2;
  const uploads = 12;
  const server = await startServer({ port: 0, tileSize: TILE, tempParent: parent, maxQueued });
  try {
    // A job that keeps the queue busy (768 tiles), so that the accepted uploads wait, and are not decoded by running.
    const busy = await create(server.url, await gradient(512, 384), { model: 'fast' });
    // Measured once it has run a while, so that its own memory (the model, its buffers) is in the baseline.
    for (let job = busy; job.progress.tilesDone < 40; job = await getJob(server.url, busy.id)) {
      assert.equal(job.status === 'queued' || job.status === 'running', true, job.status);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const start = process.memoryUsage().rss;
    let peak = start;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 2);
    let statuses: number[];
    try {
      const responses = await Promise.all(Array.from({ length: uploads }, () => post(server.url, big, { model: 'nearest', scale: '2' })));
      statuses = responses.map((r) => r.status);
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as (Job | { error: { code: string } })[];
      for (const [i, body] of bodies.entries()) {
        if (statuses[i] === 429) assert.equal((body as { error: { code: string } }).error.code, 'QUEUE_FULL');
        else assert.deepEqual((body as Job).input, { name: 'photo.png', bytes: big.length, width: 7000, height: 7000, format: 'png', frames: 1 });
      }
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.equal((await getJob(server.url, busy.id)).status, 'running', 'the accepted uploads were measured waiting');
    // Decoding even one of them takes 147 MB; the uploads themselves, sent from this process too, a few tens of MB.
    const grewMb = (peak - start) / 1024 / 1024;
    t.diagnostic(`RSS grew by ${grewMb.toFixed(0)} MB during ${uploads} concurrent uploads`);
    assert.ok(grewMb < 120, `the server's RSS grew by ${grewMb.toFixed(0)} MB during the uploads`);
    assert.deepEqual(
      [...statuses].sort(),
      [...Array.from({ length: maxQueued }, () => 201), ...Array.from({ length: uploads - maxQueued }, () => 429)],
    );
  } finally {
    await server.close();
  }
});

test('the API answers within a fraction of a second while a model loads and a heavy job runs', async (t) => {
  const server = await startServer({ port: 0, tempParent: parent });
  try {
    // A model to load (photo-gan blends its two networks for a strength, in JavaScript), then lanczos3 x4 to a
    // 31-megapixel output: a second or more of pixel work in JavaScript.
    const first = await create(server.url, await gradient(48, 32), { model: 'photo-gan', denoise: '0.3' });
    const job = await create(server.url, await gradient(1600, 1200), { model: 'lanczos3', scale: '4' });
    // Requests on a fixed schedule: a client that asked at `due` waits from then, whether the server's event loop
    // was busy before the request went out (in this process, the client's timers wait with it) or after.
    const latencies: number[] = [];
    const start = performance.now();
    for (let k = 1; ; k++) {
      const due = start + k * 25;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      const jobs = (await (await fetch(`${server.url}api/jobs`)).json()) as Job[];
      latencies.push(performance.now() - due);
      const statuses = [first, job].map(({ id }) => jobs.find((j) => j.id === id)?.status ?? 'missing');
      if (statuses.every((status) => TERMINAL.includes(status))) {
        assert.deepEqual(statuses, ['done', 'done']);
        break;
      }
    }
    assert.ok(latencies.length >= 5, `the jobs ended too soon to measure (${latencies.length} requests)`);
    const slowest = Math.max(...latencies);
    t.diagnostic(`${latencies.length} requests during the jobs, slowest ${slowest.toFixed(0)} ms`);
    assert.ok(slowest < 500, `slowest GET /api/jobs during the jobs: ${slowest.toFixed(0)} ms (${latencies.length} requests)`);
  } finally {
    await server.close();
  }
});

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../src/image/index.js';
import { DEFAULT_MODEL } from '../src/models/registry.js';
import type { Raster } from '../src/image/raster.js';
import { startServer, type Job, type RunningServer, type TileEvent } from '../src/server/index.js';
import { createUpscaler } from '../src/upscaler.js';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const TILE = 16;

let server: RunningServer;
let parent: string;

before(async () => {
  parent = mkdtempSync(join(tmpdir(), 'upscale-server-test-'));
  server = await startServer({ port: 0, tileSize: TILE, tempParent: parent, maxPixels: 1_000_000 });
});
after(async () => {
  await server.close();
  rmSync(parent, { recursive: true, force: true });
});

/** An RGB PNG of deterministic noise and gradients. */
async function png(width: number, height: number, seed = 1): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    data[i] = ((i % (width * 3)) * 3 + (s >> 16)) & 0xff;
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

interface ApiError {
  error: { code: string; message: string };
}

async function post(base: string, file: Uint8Array | undefined, fields: Record<string, string> = {}, filename = 'photo.png'): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  if (file !== undefined) form.append('file', new Blob([new Uint8Array(file)]), filename);
  return fetch(`${base}api/jobs`, { method: 'POST', body: form });
}

async function create(base: string, file: Uint8Array, fields: Record<string, string> = {}, filename?: string): Promise<Job> {
  const response = await post(base, file, fields, filename);
  const body = (await response.json()) as Job | ApiError;
  assert.equal(response.status, 201, JSON.stringify(body));
  return body as Job;
}

async function getJob(base: string, id: string): Promise<Job> {
  const response = await fetch(`${base}api/jobs/${id}`);
  assert.equal(response.status, 200);
  return (await response.json()) as Job;
}

async function waitFor(base: string, id: string, statuses: readonly string[] = ['done', 'failed', 'cancelled']): Promise<Job> {
  for (;;) {
    const job = await getJob(base, id);
    if (statuses.includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Message {
  type: string;
  data: unknown;
}

/** Reads a job's event stream to its end. */
async function readEvents(base: string, id: string, onEvent?: (message: Message) => void | Promise<void>): Promise<Message[]> {
  const response = await fetch(`${base}api/jobs/${id}/events`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const messages: Message[] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (type === undefined || data === undefined) continue;
      const message = { type, data: JSON.parse(data) as unknown };
      messages.push(message);
      await onEvent?.(message);
    }
  }
  return messages;
}

/** A job that keeps the queue busy (fast, 16-pixel tiles: hundreds of tiles), cancelled by the caller. */
async function blocker(base: string): Promise<Job> {
  return create(base, await png(256, 192, 7), { model: 'fast' }, 'blocker.png');
}

function crop(raster: Raster, rect: TileEvent['rect']): number[] {
  const out: number[] = [];
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    const from = (y * raster.width + rect.x) * raster.channels;
    out.push(...raster.data.subarray(from, from + rect.width * raster.channels));
  }
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

test('fast: events with tiles covering the output, a result equal to the library\'s, tile PNGs with the tile\'s pixels', async () => {
  const input = await png(64, 48);
  // Keep the queue busy so that the job's whole event stream is seen from the start.
  const busy = await blocker(server.url);
  const job = await create(server.url, input, { model: 'fast' });
  assert.equal(job.status, 'queued');
  assert.equal(job.position, 0);
  assert.deepEqual(job.input, { name: 'photo.png', bytes: input.length, width: 64, height: 48, format: 'png', frames: 1 });
  assert.deepEqual(job.options, { model: 'fast', format: 'png' });
  const tilePngs: Promise<Buffer>[] = [];
  const reading = readEvents(server.url, job.id, (message) => {
    // Fetch each tile while the job runs.
    if (message.type === 'tile') tilePngs.push(fetch(new URL((message.data as TileEvent).url, server.url)).then(async (r) => {
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'image/png');
      return Buffer.from(await r.arrayBuffer());
    }));
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await fetch(`${server.url}api/jobs/${busy.id}/cancel`, { method: 'POST' })).status, 202);
  const messages = await reading;

  const types = messages.map((m) => m.type);
  assert.equal(types[0], 'snapshot');
  assert.equal(types[1], 'started');
  assert.equal(types.at(-1), 'done');
  const tiles = messages.filter((m) => m.type === 'tile').map((m) => m.data as TileEvent);
  assert.equal(tiles.length, (64 / TILE) * (48 / TILE));
  assert.deepEqual(types.slice(2, -1), tiles.map(() => 'tile'));
  // The rectangles cover the 256x192 output exactly once.
  const covered = new Uint8Array(256 * 192);
  for (const tile of tiles) {
    assert.deepEqual(tile.passSize, { width: 256, height: 192 });
    assert.equal(tile.total, tiles.length);
    assert.equal(tile.url, `/api/jobs/${job.id}/tiles/1/${tile.index}`);
    for (let y = tile.rect.y; y < tile.rect.y + tile.rect.height; y++) {
      for (let x = tile.rect.x; x < tile.rect.x + tile.rect.width; x++) covered[y * 256 + x]! += 1;
    }
  }
  assert.ok(covered.every((n) => n === 1));
  assert.ok(tiles.every((t, i) => i === 0 || t.fraction > tiles[i - 1]!.fraction));
  assert.equal(tiles.at(-1)!.fraction, 1);
  assert.ok(tiles.slice(1).every((t) => typeof t.etaMs === 'number'));

  const done = messages.at(-1)!.data as Job;
  assert.equal(done.status, 'done');
  assert.deepEqual({ ...done.output, milliseconds: 0, bytes: 0 }, { name: 'photo@4x.png', width: 256, height: 192, format: 'png', bytes: 0, frames: 1, model: 'fast-x4', milliseconds: 0 });
  assert.equal(done.progress.fraction, 1);

  const result = await fetch(`${server.url}api/jobs/${job.id}/result`);
  assert.equal(result.status, 200);
  assert.equal(result.headers.get('content-type'), 'image/png');
  assert.match(result.headers.get('content-disposition') ?? '', /^attachment; filename="photo@4x\.png"/);
  const served = (await decodeImage(Buffer.from(await result.arrayBuffer()), { maxPixels: Infinity })).raster;
  const upscaler = await createUpscaler({ model: 'fast', tileSize: TILE });
  const expected = await upscaler.upscale(new Uint8Array(input));
  await upscaler.dispose();
  assert.deepEqual([served.width, served.height, served.channels], [256, 192, 3]);
  assert.deepEqual(served.data, expected.data);

  // Each tile's PNG holds exactly that rectangle of the result.
  const pngs = await Promise.all(tilePngs);
  for (const [i, tile] of tiles.entries()) {
    const pixels = (await decodeImage(pngs[i]!, { maxPixels: Infinity })).raster;
    assert.deepEqual([pixels.width, pixels.height], [tile.rect.width, tile.rect.height]);
    assert.deepEqual([...pixels.data], crop(expected, tile.rect));
  }
  // Still served just after the end; a tile that does not exist is 404, a malformed one 400.
  assert.equal((await fetch(new URL(tiles[0]!.url, server.url))).status, 200);
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}/tiles/1/999`)).status, 404);
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}/tiles/x/0`)).status, 400);

  // A client connecting after the end gets the snapshot, then the terminal event.
  const late = await readEvents(server.url, job.id);
  assert.deepEqual(late.map((m) => m.type), ['snapshot', 'done']);
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await fetch(`${server.url}api/jobs/${busy.id}`, { method: 'DELETE' })).status, 204);
});

test('bicubic: result equals the library\'s; the one tile is the whole image; input served back', async () => {
  const input = await png(40, 30, 3);
  const job = await create(server.url, input, { model: 'bicubic', scale: '2.5', format: 'webp' }, 'scan.tiff');
  assert.deepEqual(job.options, { model: 'bicubic', scale: 2.5, format: 'webp' });
  const done = await waitFor(server.url, job.id);
  assert.equal(done.status, 'done', JSON.stringify(done.error));
  assert.equal(done.output?.name, 'scan@2.5x.webp');
  const result = await fetch(`${server.url}api/jobs/${job.id}/result`);
  assert.equal(result.headers.get('content-type'), 'image/webp');
  const bytes = Buffer.from(await result.arrayBuffer());
  assert.equal(bytes.length, done.output?.bytes);
  const meta = await sharp(bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 100, 75]);

  const late = await readEvents(server.url, job.id);
  assert.deepEqual(late.map((m) => m.type), ['snapshot', 'done']);
  const tile = await fetch(`${server.url}api/jobs/${job.id}/tiles/1/0`);
  assert.equal(tile.status, 200);
  const tilePixels = await sharp(Buffer.from(await tile.arrayBuffer())).metadata();
  assert.deepEqual([tilePixels.width, tilePixels.height], [100, 75]);

  const upscaler = await createUpscaler({ model: 'bicubic' });
  const expected = await upscaler.upscale(new Uint8Array(input), { scale: 2.5 });
  await upscaler.dispose();
  // PNG output: the library's pixels exactly.
  const job2 = await create(server.url, input, { model: 'bicubic', scale: '2.5' });
  await waitFor(server.url, job2.id);
  const served = await decodeImage(Buffer.from(await (await fetch(`${server.url}api/jobs/${job2.id}/result`)).arrayBuffer()), { maxPixels: Infinity });
  assert.deepEqual(served.raster.data, expected.data);

  const back = await fetch(`${server.url}api/jobs/${job.id}/input`);
  assert.equal(back.headers.get('content-type'), 'image/png'); // by content, whatever the name says
  assert.deepEqual(Buffer.from(await back.arrayBuffer()), input);
});

test('list (newest first) and status; width, height and fit requests', async () => {
  const input = await png(32, 32, 5);
  const a = await create(server.url, input, { model: 'nearest', width: '48' });
  const b = await create(server.url, input, { model: 'nearest', fit: '100x50' });
  const c = await create(server.url, input, { model: 'nearest', width: '20', height: '10', format: 'jpeg' });
  const list = (await (await fetch(`${server.url}api/jobs`)).json()) as Job[];
  const ids = list.map((j) => j.id);
  assert.ok(ids.indexOf(c.id) < ids.indexOf(b.id) && ids.indexOf(b.id) < ids.indexOf(a.id));
  const sizes = await Promise.all([a, b, c].map(async (j) => (await waitFor(server.url, j.id)).output));
  assert.deepEqual(sizes.map((o) => [o?.width, o?.height, o?.format, o?.name]), [
    [48, 48, 'png', 'photo@w48.png'],
    [50, 50, 'png', 'photo@fit100x50.png'],
    [20, 10, 'jpeg', 'photo@20x10.jpg'],
  ]);
  assert.equal((await getJob(server.url, b.id)).options.fit, '100x50');
  const models = (await (await fetch(`${server.url}api/models`)).json()) as { id: string }[];
  assert.ok(models.some((m) => m.id === 'fast') && models.some((m) => m.id === 'bicubic'));
});

test('cancel during a slow job: it ends cancelled, with no result; the queue goes on', async () => {
  const job = await create(server.url, await png(512, 384, 9), { model: 'fast' });
  let cancelled: Response | undefined;
  const messages = await readEvents(server.url, job.id, async (message) => {
    if (message.type === 'tile' && cancelled === undefined) {
      cancelled = await fetch(`${server.url}api/jobs/${job.id}/cancel`, { method: 'POST' });
    }
  });
  assert.equal(cancelled?.status, 202);
  assert.equal(((await cancelled!.json()) as Job).status, 'cancelled');
  assert.equal(messages.at(-1)?.type, 'cancelled');
  assert.ok(messages.filter((m) => m.type === 'tile').length < 20);
  const result = await fetch(`${server.url}api/jobs/${job.id}/result`);
  assert.equal(result.status, 409);
  assert.equal(((await result.json()) as ApiError).error.code, 'NOT_READY');
  // Cancelling again: it has already ended.
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}/cancel`, { method: 'POST' })).status, 409);
  // The next job runs once the cancelled one has stopped, and leaves no output behind.
  const next = await create(server.url, await png(16, 16), { model: 'nearest' });
  assert.equal((await waitFor(server.url, next.id)).status, 'done');
  assert.deepEqual(files(join(server.workDir, job.id)), ['input.png']);
});

test('one job at a time: the second starts when the first has ended', async () => {
  const first = await blocker(server.url);
  const second = await create(server.url, await png(64, 48), { model: 'fast' });
  assert.equal(second.status, 'queued');
  assert.equal(second.position, 0);
  const [a, b] = [await waitFor(server.url, first.id), await waitFor(server.url, second.id)];
  assert.equal(a.status, 'done');
  assert.equal(b.status, 'done');
  assert.ok(Date.parse(b.startedAt!) >= Date.parse(a.finishedAt!), `${b.startedAt} >= ${a.finishedAt}`);
});

test('delete removes the job and its files; unknown jobs are 404', async () => {
  const job = await create(server.url, await png(16, 16), { model: 'nearest' });
  await waitFor(server.url, job.id);
  assert.ok(existsSync(join(server.workDir, job.id)));
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
  assert.ok(!existsSync(join(server.workDir, job.id)));
  for (const [method, path] of [
    ['GET', job.id],
    ['DELETE', job.id],
    ['POST', `${job.id}/cancel`],
    ['GET', `${job.id}/result`],
    ['GET', `${job.id}/input`],
    ['GET', `${job.id}/events`],
    ['GET', 'nope/tiles/1/0'],
    ['GET', '..%2F..%2Fetc%2Fpasswd'],
  ] as const) {
    const response = await fetch(`${server.url}api/jobs/${path}`, { method });
    assert.equal(response.status, 404, `${method} ${path}`);
    assert.equal(((await response.json()) as ApiError).error.code, 'NOT_FOUND');
  }
  assert.equal((await fetch(`${server.url}api/nothing`)).status, 404);
  // Deleting a running job cancels it.
  const busy = await blocker(server.url);
  await waitFor(server.url, busy.id, ['running']);
  assert.equal((await fetch(`${server.url}api/jobs/${busy.id}`, { method: 'DELETE' })).status, 204);
  assert.ok(!existsSync(join(server.workDir, busy.id)));
});

test('result before done is 409', async () => {
  const busy = await blocker(server.url);
  const job = await create(server.url, await png(16, 16), { model: 'nearest' });
  const response = await fetch(`${server.url}api/jobs/${job.id}/result`);
  assert.equal(response.status, 409);
  assert.deepEqual(((await response.json()) as ApiError).error.code, 'NOT_READY');
  await fetch(`${server.url}api/jobs/${busy.id}`, { method: 'DELETE' });
  await fetch(`${server.url}api/jobs/${job.id}`, { method: 'DELETE' });
});

test('bad requests: 400 with the field named, 415 by content, 422 for a corrupt header or over the pixel limit', async () => {
  const image = await png(16, 16);
  const cases: [Record<string, string>, Uint8Array | undefined, number, string, RegExp][] = [
    [{ model: 'nope' }, image, 400, 'MODEL_NOT_FOUND', /unknown model "nope"/],
    [{ model: '../models/fast-x4.onnx' }, image, 400, 'MODEL_NOT_FOUND', /unknown model/],
    [{ model: '/etc/passwd' }, image, 400, 'MODEL_NOT_FOUND', /unknown model/],
    [{ scale: 'abc' }, image, 400, 'INVALID_OPTION', /Expected scale to be a number above 0 and at most 64, got "abc"/],
    [{ scale: '0' }, image, 400, 'INVALID_OPTION', /scale/],
    [{ scale: '100' }, image, 400, 'INVALID_OPTION', /scale/],
    [{ width: '-3' }, image, 400, 'INVALID_OPTION', /Expected width to be a positive integer, got "-3"/],
    [{ fit: '3840' }, image, 400, 'INVALID_OPTION', /Expected fit to be WIDTHxHEIGHT/],
    [{ scale: '2', fit: '100x100' }, image, 400, 'INVALID_OPTION', /one of scale, width\/height or fit/],
    [{ format: 'bmp' }, image, 400, 'INVALID_OPTION', /Expected format to be one of/],
    [{ colour: 'red' }, image, 400, 'INVALID_OPTION', /unknown field "colour"/],
    [{}, undefined, 400, 'BAD_REQUEST', /"file" part/],
    [{}, new Uint8Array(0), 400, 'INPUT_EMPTY', /empty/],
    [{}, new TextEncoder().encode('hello, I am text pretending to be a PNG\n'), 415, 'INPUT_UNSUPPORTED', /photo\.png: not a supported image .*found text/],
    [{}, new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), 415, 'INPUT_UNSUPPORTED', /found SVG/],
    [{}, image.subarray(0, 60), 422, 'INPUT_CORRUPT', /^photo\.png: corrupt or truncated PNG data/],
    [{}, await png(1200, 1000), 422, 'INPUT_TOO_LARGE', /1200x1000 \(1200000 pixels\), more than the limit of 1000000 pixels/],
  ];
  for (const [fields, file, status, code, message] of cases) {
    const response = await post(server.url, file, fields);
    const body = (await response.json()) as ApiError;
    assert.equal(response.status, status, `${JSON.stringify(fields)}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, code, JSON.stringify(fields));
    assert.match(body.error.message, message);
  }
  // Not multipart at all, and malformed JSON: 400, and the server carries on.
  const json = await fetch(`${server.url}api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"file": 1}' });
  assert.equal(json.status, 400);
  const broken = await fetch(`${server.url}api/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  assert.equal(broken.status, 400);
  const garbage = await fetch(`${server.url}api/jobs`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: 'not really multipart' });
  assert.ok(garbage.status >= 400 && garbage.status < 500, String(garbage.status));
  const two = new FormData();
  two.append('file', new Blob([new Uint8Array(image)]), 'a.png');
  two.append('file', new Blob([new Uint8Array(image)]), 'b.png');
  assert.equal((await fetch(`${server.url}api/jobs`, { method: 'POST', body: two })).status, 400);
  assert.equal((await fetch(`${server.url}api/models`)).status, 200);
});

test('a field given twice is refused (400), naming the field; nothing is queued', async () => {
  const image = await png(16, 16);
  const count = ((await (await fetch(`${server.url}api/jobs`)).json()) as Job[]).length;
  for (const [name, values] of [['scale', ['2', '3']], ['model', ['fast', 'fast']], ['fit', ['10x10', '20x20', '30x30']]] as const) {
    const form = new FormData();
    for (const value of values) form.append(name, value);
    form.append('file', new Blob([new Uint8Array(image)]), 'a.png');
    const response = await fetch(`${server.url}api/jobs`, { method: 'POST', body: form });
    const body = (await response.json()) as ApiError;
    assert.equal(response.status, 400, JSON.stringify(body));
    assert.deepEqual(body.error, { code: 'INVALID_OPTION', message: `Expected the field "${name}" once, got it ${values.length} times` });
  }
  assert.equal(((await (await fetch(`${server.url}api/jobs`)).json()) as Job[]).length, count);
  // The server carries on, and a job without a model field gets the default model.
  const job = await create(server.url, image, { scale: '1' });
  assert.equal(job.options.model, DEFAULT_MODEL);
  await fetch(`${server.url}api/jobs/${job.id}`, { method: 'DELETE' });
});

test('an image damaged past its header is accepted from the header, then fails when it runs (INPUT_CORRUPT, naming the upload)', async () => {
  const whole = await png(64, 48, 13);
  const damaged = whole.subarray(0, Math.floor(whole.length / 2));
  const job = await create(server.url, damaged, { model: 'nearest' }, 'half.png');
  assert.deepEqual(job.input, { name: 'half.png', bytes: damaged.length, width: 64, height: 48, format: 'png', frames: 1 });
  const failed = await waitFor(server.url, job.id);
  assert.equal(failed.status, 'failed');
  assert.equal(failed.error?.code, 'INPUT_CORRUPT');
  assert.match(failed.error?.message ?? '', /^half\.png: corrupt or truncated PNG data/);
  assert.ok(!failed.error?.message.includes(server.workDir), failed.error?.message);
  assert.equal((await fetch(`${server.url}api/jobs/${job.id}`, { method: 'DELETE' })).status, 204);
});

test('denoise: the strength reaches the network, is shown in the job, and is refused when bad or for a model without one', async () => {
  const models = (await (await fetch(`${server.url}api/models`)).json()) as { id: string; denoise?: number }[];
  assert.equal(models.find((m) => m.id === 'photo')?.denoise, 0.5);
  assert.equal(models.find((m) => m.id === 'fast')?.denoise, undefined);

  const input = await png(24, 16, 11);
  const soft = await create(server.url, input, { model: 'photo', denoise: '0' });
  const strong = await create(server.url, input, { model: 'photo', denoise: '1' });
  const plain = await create(server.url, input, { model: 'photo', scale: '2' });
  assert.deepEqual(soft.options, { model: 'photo', denoise: 0, format: 'png' });
  assert.deepEqual(strong.options, { model: 'photo', denoise: 1, format: 'png' });
  assert.deepEqual(plain.options, { model: 'photo', denoise: 0.5, scale: 2, format: 'png' }, 'the default strength is the one shown');
  const results = await Promise.all(
    [soft, strong, plain].map(async (job) => {
      const done = await waitFor(server.url, job.id);
      assert.equal(done.status, 'done', JSON.stringify(done.error));
      return Buffer.from(await (await fetch(`${server.url}api/jobs/${job.id}/result`)).arrayBuffer());
    }),
  );
  const [a, b] = await Promise.all(results.slice(0, 2).map(async (bytes) => (await decodeImage(bytes, { maxPixels: Infinity })).raster));
  assert.deepEqual([a!.width, a!.height, b!.width, b!.height], [96, 64, 96, 64]);
  assert.notDeepEqual(a!.data, b!.data, 'strength 0 and 1 give different pixels');
  const upscaler = await createUpscaler({ model: 'photo', denoise: 1, tileSize: TILE });
  const expected = await upscaler.upscale(new Uint8Array(input));
  await upscaler.dispose();
  assert.deepEqual(b!.data, expected.data, 'strength 1: the library\'s pixels');
  const xmp = await Promise.all(results.map(async (bytes) => (await sharp(bytes).metadata()).xmp?.toString() ?? ''));
  assert.deepEqual(xmp.map((text) => /upscale:Denoise="([^"]*)"/.exec(text)?.[1]), ['0', '1', '0.5']);

  const count = ((await (await fetch(`${server.url}api/jobs`)).json()) as Job[]).length;
  const cases: [Record<string, string>, RegExp][] = [
    [{ model: 'photo', denoise: '2' }, /^Expected denoise to be a number from 0 to 1, got "2"$/],
    [{ model: 'photo', denoise: 'abc' }, /^Expected denoise to be a number from 0 to 1, got "abc"$/],
    [{ model: 'photo', denoise: '-0.1' }, /denoise/],
    [{ model: 'fast', denoise: '0.5' }, /model "fast" has no denoise strength \(models with one: photo, photo-gan, anime\)/],
    [{ model: 'bicubic', denoise: '0' }, /model "bicubic" has no denoise strength/],
  ];
  for (const [fields, message] of cases) {
    const response = await post(server.url, input, fields);
    const body = (await response.json()) as ApiError;
    assert.equal(response.status, 400, `${JSON.stringify(fields)}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'INVALID_OPTION');
    assert.match(body.error.message, message);
  }
  assert.equal(((await (await fetch(`${server.url}api/jobs`)).json()) as Job[]).length, count, 'refused requests queue nothing');
});

test('names from uploads never reach the file system', async () => {
  const before = new Set(readdirSync(parent, { recursive: true, encoding: 'utf8' }));
  const job = await create(server.url, await png(16, 16), { model: 'nearest' }, '../../etc/passwd.png');
  assert.equal(job.input.name, 'passwd.png');
  const evil = await create(server.url, await png(16, 16), { model: 'nearest' }, '..\\..\\x.png');
  assert.equal(evil.input.name, 'x.png');
  await waitFor(server.url, job.id);
  await waitFor(server.url, evil.id);
  const response = await fetch(`${server.url}api/jobs/${evil.id}/result`);
  assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="x@4x\.png"/);
  const added = readdirSync(parent, { recursive: true, encoding: 'utf8' }).filter((f) => !before.has(f));
  const relative = server.workDir.slice(parent.length + 1);
  for (const f of added) assert.ok(f.startsWith(`${relative}/${job.id}`) || f.startsWith(`${relative}/${evil.id}`), f);
  assert.deepEqual(files(join(server.workDir, job.id)), ['input.png', 'output.png']);
  assert.ok(!existsSync(join(parent, 'etc')) && !existsSync(join(server.workDir, 'etc')));
});

test('upload size limit (413) and queue limit (429)', async () => {
  const small = await startServer({ port: 0, maxUploadBytes: 200_000, maxQueued: 1, tileSize: TILE, tempParent: parent });
  try {
    const big = await png(300, 300);
    assert.ok(big.length > 200_000);
    const response = await post(small.url, big);
    assert.equal(response.status, 413);
    const body = (await response.json()) as ApiError;
    assert.deepEqual(body.error, { code: 'UPLOAD_TOO_LARGE', message: 'upload is larger than the limit of 200000 bytes' });

    const running = await blocker(small.url);
    const queued = await create(small.url, await png(16, 16), { model: 'nearest' });
    assert.equal(queued.status, 'queued');
    const refused = await post(small.url, await png(16, 16), { model: 'nearest' });
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as ApiError).error.code, 'QUEUE_FULL');
    await fetch(`${small.url}api/jobs/${queued.id}/cancel`, { method: 'POST' });
    assert.equal((await post(small.url, await png(16, 16), { model: 'nearest' })).status, 201);
    await fetch(`${small.url}api/jobs/${running.id}/cancel`, { method: 'POST' });
  } finally {
    await small.close();
  }
});

test('close() cancels the jobs and removes the working directory', async () => {
  const other = await startServer({ port: 0, tileSize: TILE, tempParent: parent });
  const job = await blocker(other.url);
  await waitFor(other.url, job.id, ['running']);
  const events = readEvents(other.url, job.id);
  assert.ok(existsSync(other.workDir));
  await other.close();
  assert.ok(!existsSync(other.workDir));
  assert.equal((await events).at(-1)?.type, 'cancelled');
  await assert.rejects(fetch(`${other.url}api/jobs`));
  await other.close(); // idempotent
});

test('upscale serve --host 0.0.0.0 prints the URL and a warning, and stops cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '0.0.0.0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /upscale: serving on http:\/\/0\.0\.0\.0:\d+\/ \(on this machine: (http:\/\/127\.0\.0\.1:\d+\/)\)/.exec(stdout);
        if (match !== null) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`exited early: ${stdout} ${stderr}`)));
    });
    const models = await fetch(`${url}api/models`);
    assert.equal(models.status, 200);
    assert.match(stderr, /upscale: warning: listening on 0\.0\.0\.0, so other machines on the network can reach the app/);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
  assert.match(stdout, /upscale: stopped/);
});

test('upscale serve on loopback prints no warning', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/upscale: serving on http:\/\/127\.0\.0\.1:\d+\/\n/.test(stdout)) resolve();
    });
    void exited.then(() => reject(new Error(`exited early: ${stdout} ${stderr}`)));
  });
  child.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.equal(stderr, '');
});

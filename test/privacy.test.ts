/**
 * Privacy: the CLI, the library and the server, run with a fresh HOME and TMPDIR (and no cache or library location
 * set), write nothing but the outputs asked for, the documented model cache (~/.cache/upscale) and the documented
 * model library (~/.local/share/upscale) — in particular none of onnxruntime's telemetry files (a device id and an
 * event queue under ~/.cache/Microsoft, `$TMPDIR/.ses`, `$TMPDIR/mat-debug-<pid>.log`), which it writes unless told
 * not to. The children get an environment without ORT_DISABLE_TELEMETRY: turning it off is the package's job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { once } from 'node:events';

const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'upscale.js');
const SAMPLE = join(ROOT, 'assets', 'sample.png');
const NCNN_SPAN = join(ROOT, '..', 'shared', 'weights', 'span', 'spanx2_ch48.param');

interface Sandbox {
  readonly root: string;
  readonly home: string;
  readonly tmp: string;
  readonly work: string;
  readonly env: NodeJS.ProcessEnv;
}

function sandbox(): Sandbox {
  const root = mkdtempSync(join(tmpdir(), 'upscale-privacy-'));
  const [home, tmp, work] = ['home', 'tmp', 'work'].map((d) => join(root, d)) as [string, string, string];
  for (const d of [home, tmp, work]) mkdirSync(d);
  copyFileSync(SAMPLE, join(work, 'sample.png'));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8' };
  return { root, home, tmp, work, env };
}

/** Every file under `dir`, relative to the sandbox root, sorted. */
function filesUnder(box: Sandbox): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(box.root, path));
    }
  };
  walk(box.root);
  return out.sort();
}

/** What may be written besides the outputs: our conversion cache and our model library, nothing else. */
function unexpected(box: Sandbox, outputs: readonly string[]): string[] {
  const allowed = new Set(['work/sample.png', ...outputs]);
  return filesUnder(box).filter((f) => !allowed.has(f) && !f.startsWith('home/.cache/upscale/') && !f.startsWith('home/.local/share/upscale/'));
}

test('the CLI writes only its outputs, its cache and the library: no telemetry, no temp files left', () => {
  const box = sandbox();
  try {
    const run = (...args: string[]): void => {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: box.work, env: box.env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    run('sample.png', '-m', 'fast');
    run('sample.png', '-m', NCNN_SPAN, '-o', 'span.png'); // converted once, into the cache
    run('models', 'add', NCNN_SPAN, '--name', 'my-span'); // into the library
    run('sample.png', '-m', 'my-span', '-o', 'library.png');
    assert.deepEqual(unexpected(box, ['work/sample@4x.png', 'work/span.png', 'work/library.png']), []);
    assert.ok(filesUnder(box).some((f) => f.startsWith('home/.cache/upscale/')), 'the conversion was cached where the README says');
  } finally {
    rmSync(box.root, { recursive: true, force: true });
  }
});

test('the library writes only the output it is asked for', () => {
  const box = sandbox();
  try {
    const script = `
      import { createUpscaler } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};
      const upscaler = await createUpscaler({ model: 'quality' });
      await upscaler.upscaleFile('sample.png', 'out.png', { scale: 2 });
      await upscaler.dispose();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: box.work, env: box.env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(unexpected(box, ['work/out.png']), []);
  } finally {
    rmSync(box.root, { recursive: true, force: true });
  }
});

test('the server writes nothing that outlives it, and no telemetry while it runs', async () => {
  const box = sandbox();
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: box.work, env: box.env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        const match = /https?:\/\/[^\s]+/.exec(stdout);
        if (match) resolve(match[0].endsWith('/') ? match[0] : `${match[0]}/`);
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const form = new FormData();
    form.set('file', new Blob([readFileSync(SAMPLE)], { type: 'image/png' }), 'sample.png');
    form.set('model', 'fast');
    form.set('scale', '2');
    const created = await fetch(`${url}api/jobs`, { method: 'POST', body: form });
    assert.equal(created.status, 201, await created.clone().text());
    const { id } = (await created.json()) as { id: string };
    let status = '';
    for (let i = 0; i < 600 && status !== 'done' && status !== 'failed'; i++) {
      status = ((await (await fetch(`${url}api/jobs/${id}`)).json()) as { status: string }).status;
      if (status !== 'done') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'done');
    // While it runs: its working directory, nothing else (no telemetry in HOME or TMPDIR).
    const running = unexpected(box, []).filter((f) => !/^tmp\/upscale-serve-[^/]+\//.test(f));
    assert.deepEqual(running, []);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
  try {
    assert.deepEqual(unexpected(box, []), [], 'the working directory is removed on exit');
  } finally {
    rmSync(box.root, { recursive: true, force: true });
  }
});

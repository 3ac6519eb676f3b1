/**
 * UpscalerJS in a process of its own, driven over Node's IPC channel by scripts/bench-upscalerjs.ts (so that
 * TensorFlow.js, its WASM heap and its worker threads stay out of the process that measures our engine).
 *
 * How UpscalerJS 1.0 is made to run in Node without @tensorflow/tfjs-node (which does not install here):
 * - `upscaler/node` (the package's Node build, CommonJS) is loaded unchanged, except that its
 *   `require('@tensorflow/tfjs-node')` is resolved to the pure-JS `@tensorflow/tfjs` of the same version (4.11),
 *   whose backend we set to WASM first. The browser build is not used: it is ESM with directory imports that
 *   Node cannot resolve, and it would fetch the weights from a CDN.
 * - The Node build turns the model definition's `_internals.path` into `file://<package>/models/x4/model.json`;
 *   only tfjs-node can load `file://`, so a `tf.io` load router for `file://` reads model.json and its weight
 *   shards from disk (no HTTP, no network).
 * - tfjs-backend-wasm 4.11 picks its binary from two flags: WASM_HAS_SIMD_SUPPORT (true in Node 20) and
 *   WASM_HAS_MULTITHREAD_SUPPORT, which it hard-codes to false in Node (tfjs issue #3830). With `threads` > 1 we
 *   set that flag and make the threaded-SIMD build's pthreads start as worker_threads: the backend hands
 *   Emscripten its worker script as a blob: URL, which Node's Worker cannot load, so URL.createObjectURL returns
 *   a temporary file holding the same worker script instead, and the worker imports the threaded-SIMD factory
 *   from the package's wasm-out/ file instead of the Blob it is sent. The backend also caps its XNNPACK thread
 *   pool at half the logical cores (it assumes 2 hardware threads per core), so os.cpus() reports twice the
 *   cores while the module starts. If the threaded build fails to start, it falls back to one thread.
 *
 * Messages (structured clone): see ChildRequest / ChildReply.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Module, createRequire } from 'node:module';
import os, { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs';

export type ChildRequest =
  | { cmd: 'load'; pkg: string; scale: number }
  | { cmd: 'run'; width: number; height: number; data: Uint8Array; keepOutput: boolean }
  | { cmd: 'dispose' }
  | { cmd: 'exit' };

export interface WasmInfo {
  tfjs: string;
  backend: string;
  binary: string;
  simd: boolean;
  multithread: boolean;
  /** XNNPACK's thread count as reported by the backend after initialisation. */
  threads: number;
  cores: number;
  /** Why threads could not be enabled, when they were asked for and are not. */
  note?: string;
}

export type ChildReply =
  | { type: 'ready'; wasm: WasmInfo }
  | { type: 'loaded'; ms: number }
  | { type: 'result'; ms: number; width: number; height: number; output?: Float32Array }
  | { type: 'disposed' }
  | { type: 'bye'; maxRssMB: number }
  | { type: 'error'; message: string };

/** The part of UpscalerJS's Upscaler class used here. */
interface UpscalerInstance {
  execute(image: TF.Tensor, options: { output: 'tensor' }): Promise<TF.Tensor3D>;
  dispose(): Promise<void>;
}
type UpscalerClass = new (options: { model: unknown }) => UpscalerInstance;

const require = createRequire(import.meta.url);
const send = (reply: ChildReply): void => void process.send!(reply);

/** Makes `require('@tensorflow/tfjs-node')` (inside upscaler/node) load the pure-JS @tensorflow/tfjs. */
function redirectTfjsNode(): void {
  const loader = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = loader._resolveFilename;
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    return original.call(this, request === '@tensorflow/tfjs-node' ? '@tensorflow/tfjs' : request, ...rest);
  };
}

/** A tf.io router for file:// URLs: reads model.json and its weight shards from disk. */
function registerFileRouter(tf: typeof TF): void {
  tf.io.registerLoadRouter((url: string | string[]): TF.io.IOHandler => {
    // A router answers null for URLs it does not handle (the type says IOHandler).
    if (typeof url !== 'string' || !url.startsWith('file://')) return null as unknown as TF.io.IOHandler;
    const path = fileURLToPath(url);
    return {
      load: async () => {
        const json = JSON.parse(readFileSync(path, 'utf8')) as TF.io.ModelJSON;
        return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
          const buffers: ArrayBuffer[] = [];
          for (const group of manifest) {
            for (const file of group.paths) {
              const bytes = readFileSync(join(dirname(path), file));
              buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
            }
          }
          return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
        });
      },
    };
  });
}

/** Lets the threaded-SIMD build start its pthreads as Node worker_threads (see the header). */
function enableWasmThreads(tf: typeof TF, scratch: string): void {
  const wasmOut = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const factory = join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const workerFile = join(scratch, 'tfjs-wasm-pthread-worker.cjs');
  writeFileSync(
    workerFile,
    // As the backend does before making its Blob: the exported text has real newlines inside string literals.
    `${wasmWorkerContents.replace(/\n/g, '\\n')}\n;(function () {\n` +
      `  var original = self.onmessage;\n` +
      `  self.onmessage = function (e) {\n` +
      `    if (e.data && e.data.cmd === 'load' && typeof e.data.urlOrBlob !== 'string') e.data.urlOrBlob = ${JSON.stringify(factory)};\n` +
      `    return original(e);\n` +
      `  };\n` +
      `})();\n`,
  );
  const createObjectURL = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (blob: Blob): string => (blob.type === 'application/javascript' ? workerFile : createObjectURL(blob));
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
}

async function setUp(threads: number, scratch: string): Promise<{ tf: typeof TF; Upscaler: UpscalerClass; wasm: WasmInfo }> {
  redirectTfjsNode();
  const tf = require('@tensorflow/tfjs') as typeof TF;
  const backendWasm = require('@tensorflow/tfjs-backend-wasm') as {
    setThreadsCount(n: number): void;
    getThreadsCount(): number;
    version_wasm: string;
  };
  registerFileRouter(tf);
  let note: string | undefined;
  if (threads > 1) enableWasmThreads(tf, scratch);
  backendWasm.setThreadsCount(threads);
  // The backend caps its thread pool at half the logical cores ("many x86-64 processors have 2 threads per
  // core"), which gives 1 thread on a 2-core machine without SMT; it counts cores with require('os').cpus() when
  // the module starts, so report twice as many while it does.
  const cpus = os.cpus;
  if (threads > 1) os.cpus = () => [...cpus(), ...cpus()];
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    os.cpus = cpus;
  }
  if (!ok && threads > 1) {
    note = 'the threaded build failed to start; fell back to one thread';
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    backendWasm.setThreadsCount(1);
    ok = await tf.setBackend('wasm');
  }
  if (!ok) throw new Error('the TensorFlow.js WASM backend did not initialise');
  await tf.ready();
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const multithread = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean;
  const binary = simd && multithread ? 'tfjs-backend-wasm-threaded-simd.wasm' : simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  const wasm: WasmInfo = {
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    binary,
    simd,
    multithread,
    threads: backendWasm.getThreadsCount(),
    cores: availableParallelism(),
    ...(note === undefined ? {} : { note }),
  };
  // upscaler/node is CommonJS: module.exports is the Upscaler class.
  const Upscaler = require('upscaler/node') as UpscalerClass;
  return { tf, Upscaler, wasm };
}

async function main(): Promise<void> {
  const threadsArg = process.argv[2];
  const threads = threadsArg === undefined || threadsArg === 'auto' ? availableParallelism() : Number(threadsArg);
  const scratch = mkdtempSync(join(tmpdir(), 'upscalerjs-child-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  process.on('SIGTERM', () => process.exit(143));
  const { tf, Upscaler, wasm } = await setUp(threads, scratch);
  send({ type: 'ready', wasm });
  let upscaler: UpscalerInstance | undefined;

  const handle = async (request: ChildRequest): Promise<void> => {
    switch (request.cmd) {
      case 'load': {
        const started = performance.now();
        // The model package's CommonJS entry for one scale: a model definition with _internals.path.
        const definition = require(`${request.pkg}/${request.scale}x`) as unknown;
        upscaler = new Upscaler({ model: definition });
        // Loads the model (and runs UpscalerJS's own warm-up, which is empty by default).
        const probe = tf.zeros([4, 4, 3]);
        (await upscaler.execute(probe, { output: 'tensor' })).dispose();
        probe.dispose();
        send({ type: 'loaded', ms: performance.now() - started });
        return;
      }
      case 'run': {
        if (upscaler === undefined) throw new Error('no model loaded');
        // Timed from pixels in to pixels out, as for our engine: tensor creation, execute(), reading back.
        const started = performance.now();
        const input = tf.tensor3d(Float32Array.from(request.data), [request.height, request.width, 3], 'float32');
        const result = await upscaler.execute(input, { output: 'tensor' });
        const values = (await result.data()) as Float32Array; // forces completion: part of the timed work
        const ms = performance.now() - started;
        const [height, width] = result.shape;
        result.dispose();
        input.dispose();
        send({ type: 'result', ms, width, height, ...(request.keepOutput ? { output: values } : {}) });
        return;
      }
      case 'dispose':
        await upscaler?.dispose();
        upscaler = undefined;
        send({ type: 'disposed' });
        return;
      case 'exit':
        send({ type: 'bye', maxRssMB: process.resourceUsage().maxRSS / 1024 });
        process.disconnect();
        process.exit(0);
    }
  };

  // One request at a time, in order.
  let queue = Promise.resolve();
  process.on('message', (request: ChildRequest) => {
    queue = queue.then(() => handle(request)).catch((error: unknown) => {
      send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    });
  });
}

if (process.send === undefined) {
  process.stderr.write('scripts/upscalerjs-child.ts is started by scripts/bench-upscalerjs.ts (it needs an IPC channel)\n');
  process.exit(2);
}
main().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});

/**
 * Loads the committed PyTorch fixtures of test/fixtures/models (made by test/fixtures/pytorch/make_fixtures.py):
 * a reference input and the reference implementation's output, and runs converted ONNX models on the input.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OnnxSession } from '../../src/runtime/onnx.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/models', import.meta.url));

export interface FixtureMeta {
  readonly name: string;
  readonly arch: string;
  readonly scale: number;
  readonly files: readonly string[];
  readonly input_shape: readonly [number, number, number, number];
  readonly output_shape: readonly [number, number, number, number];
  readonly half: boolean;
  readonly parameters: number;
  readonly [key: string]: unknown;
}

export interface Fixture {
  readonly meta: FixtureMeta;
  readonly input: Float32Array;
  readonly output: Float32Array;
  /** Absolute path of one of the fixture's weight files. */
  path(file: string): string;
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function loadFixture(name: string): Fixture {
  const meta = JSON.parse(readFileSync(`${FIXTURE_DIR}/${name}.json`, 'utf8')) as FixtureMeta;
  return {
    meta,
    input: readF32(`${FIXTURE_DIR}/${name}.input.f32`),
    output: readF32(`${FIXTURE_DIR}/${name}.output.f32`),
    path: (file) => `${FIXTURE_DIR}/${file}`,
  };
}

/** Runs an ONNX model (bytes) on the fixture's input; returns the output data and its [C, H, W]. */
export async function runOnFixture(onnx: Uint8Array, fixture: Fixture): Promise<{ data: Float32Array; dims: [number, number, number] }> {
  const session = await OnnxSession.create(onnx, { threads: 1 });
  try {
    const [, channels, height, width] = fixture.meta.input_shape;
    const out = await session.run({ data: fixture.input, channels, height, width });
    return { data: out.data, dims: [out.channels, out.height, out.width] };
  } finally {
    await session.dispose();
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

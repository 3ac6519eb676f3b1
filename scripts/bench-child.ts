/** One enlargement for the benchmark, alone in its process: prints {seconds, rssMB, size} as JSON. */
import { createUpscaler } from '../src/index.js';

const [input, output, model] = process.argv.slice(2);
if (input === undefined || output === undefined || model === undefined) throw new Error('usage: bench-child <input> <output> <model>');
const upscaler = await createUpscaler({ model });
const started = performance.now();
const result = await upscaler.upscaleFile(input, output, { scale: 4, overwrite: true });
const seconds = (performance.now() - started) / 1000;
await upscaler.dispose();
const size = `${result.outputSize.width}x${result.outputSize.height}`;
process.stdout.write(`${JSON.stringify({ seconds, rssMB: process.resourceUsage().maxRSS / 1024, size })}\n`);

/**
 * Before/after crops for the docs: regions of a picture (by default the bundled synthetic assets/sample.png)
 * enlarged x4 by nearest (the input pixels, as blocks), bicubic, lanczos3 and each model named on the command line,
 * side by side, each panel labelled underneath. One small PNG per region in docs/crops/.
 *
 * Run: node --import tsx scripts/make-crops.ts [models] [--out docs/crops] [--input photo.png --region name:x,y,w,h ...]
 *   models  comma-separated ids or .onnx paths added after the classical panels, e.g. esrgan-slim,esrgan-thick;
 *           `photo@0.3` is the photo model at denoise strength 0.3
 *   --input another picture, with its regions (input pixels) given by --region (repeatable)
 * The whole picture is upscaled (so networks see the context around a region), then the regions are cut out.
 */
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage } from '../src/image/index.js';
import type { Raster } from '../src/image/raster.js';
import { createUpscaler } from '../src/upscaler.js';

const SAMPLE = fileURLToPath(new URL('../assets/sample.png', import.meta.url));
const SCALE = 4;
const BASELINE = ['nearest', 'bicubic', 'lanczos3'];
const GAP = 4;
const LABEL_HEIGHT = 18;
const BACKGROUND = '#ffffff';

/** Regions of the 192x128 sample, in input pixels: each shows something enlargement gets wrong. */
const REGIONS = [
  { name: 'rays', title: 'thin converging lines', x: 132, y: 6, width: 48, height: 32 },
  { name: 'text', title: 'small text', x: 96, y: 76, width: 64, height: 44 },
  { name: 'fence', title: 'regular stripes', x: 4, y: 96, width: 48, height: 28 },
  { name: 'edges', title: 'soft and hard edges', x: 24, y: 50, width: 48, height: 32 },
] as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: fileURLToPath(new URL('../docs/crops/', import.meta.url)) },
    input: { type: 'string', default: SAMPLE },
    region: { type: 'string', multiple: true, default: [] },
  },
});
const extra = positionals.join(',').split(',').filter((m) => m !== '' && !BASELINE.includes(m));
const models = [...BASELINE, ...extra];
const regions = values.region.length === 0 ? REGIONS : values.region.map(parseRegion);

const { raster: sample } = await decodeImage(values.input, { maxPixels: Infinity });
const enlarged: { label: string; raster: Raster }[] = [];
for (const spec of models) {
  const [model, strength] = spec.split('@') as [string, string | undefined];
  const upscaler = await createUpscaler({ model, denoise: strength === undefined ? undefined : Number(strength) });
  try {
    const started = performance.now();
    const raster = await upscaler.upscale(sample, { width: sample.width * SCALE, height: sample.height * SCALE });
    process.stderr.write(`${spec}: ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
    enlarged.push({ label: strength === undefined ? label(model) : `${model} denoise ${strength}`, raster });
  } finally {
    await upscaler.dispose();
  }
}

mkdirSync(values.out, { recursive: true });
for (const region of regions) {
  const panelWidth = region.width * SCALE;
  const panelHeight = region.height * SCALE;
  const width = enlarged.length * panelWidth + (enlarged.length + 1) * GAP;
  const height = panelHeight + LABEL_HEIGHT + 2 * GAP;
  const layers = enlarged.flatMap(({ label: text, raster }, i) => {
    const left = GAP + i * (panelWidth + GAP);
    const panel = cut(raster, region.x * SCALE, region.y * SCALE, panelWidth, panelHeight);
    return [
      { input: Buffer.from(panel.data.buffer, panel.data.byteOffset, panel.data.byteLength), raw: { width: panel.width, height: panel.height, channels: panel.channels }, left, top: GAP },
      { input: Buffer.from(labelSvg(text, panelWidth)), left, top: GAP + panelHeight },
    ];
  });
  const file = join(values.out, `${region.name}.png`);
  const info = await sharp({ create: { width, height, channels: 3, background: BACKGROUND } })
    .composite(layers)
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toFile(file);
  process.stderr.write(`${file}: ${region.title}, ${info.width}x${info.height}, ${(info.size / 1024).toFixed(0)} KiB\n`);
}

/** `name:x,y,width,height` in input pixels. */
function parseRegion(text: string): { name: string; title: string; x: number; y: number; width: number; height: number } {
  const match = /^([\w-]+):(\d+),(\d+),(\d+),(\d+)$/.exec(text);
  if (match === null) throw new Error(`--region: expected name:x,y,width,height, got "${text}"`);
  const [x, y, width, height] = match.slice(2).map(Number) as [number, number, number, number];
  return { name: match[1]!, title: match[1]!, x, y, width, height };
}

/** The panel caption: the model as typed (a file's name without folders or `.onnx`), the input pixels marked. */
function label(model: string): string {
  if (model === 'nearest') return 'nearest (input pixels)';
  return extname(model).toLowerCase() === '.onnx' ? basename(model, extname(model)) : model;
}

function labelSvg(text: string, width: number): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${LABEL_HEIGHT}"><text x="${width / 2}" y="${LABEL_HEIGHT - 5}" font-family="DejaVu Sans, sans-serif" font-size="12" text-anchor="middle" fill="#222">${escaped}</text></svg>`;
}

/** The `width` x `height` block of `r` at (`x`, `y`), colour channels only. */
function cut(r: Raster, x: number, y: number, width: number, height: number): Raster {
  const channels = r.channels >= 3 ? 3 : 1;
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const from = ((y + row) * r.width + x + col) * r.channels;
      const to = (row * width + col) * 3;
      for (let c = 0; c < 3; c++) data[to + c] = r.data[from + (channels === 3 ? c : 0)] as number;
    }
  }
  return { width, height, channels: 3, depth: 8, data };
}

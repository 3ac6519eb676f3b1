/**
 * Screenshots of the web app for the docs: the empty state with the models, a job running tile by tile, the
 * comparison slider, the loupe, and two models compared. Palette PNGs of 1280x800 in docs/screenshots/.
 *
 * Run (after `npm run build:web`): node --import tsx scripts/screenshots.ts [--out docs/screenshots]
 * Uses Debian's chromium (/usr/bin/chromium, or $CHROMIUM) through playwright-core, and assets/sample.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { startServer } from '../src/server/index.js';

const SAMPLE = fileURLToPath(new URL('../assets/sample.png', import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/screenshots' } } });
const out = values.out;
mkdirSync(out, { recursive: true });

async function shoot(page: Page, name: string): Promise<void> {
  await page.mouse.move(0, 0); // no hover effects
  for (const close of await page.locator('.message.info button').all()) await close.click();
  await page.waitForTimeout(150);
  const path = join(out, `${name}.png`);
  // A 256-colour palette keeps them commit-sized (about a third of the size) without visible loss on this UI.
  await sharp(await page.screenshot()).png({ palette: true, quality: 95, effort: 10, compressionLevel: 9 }).toFile(path);
  console.log(path);
}

async function waitDone(page: Page, count: number): Promise<void> {
  await page.waitForFunction((n) => document.querySelectorAll('li.job[data-status="done"]').length >= n, count, { timeout: 120_000 });
  await page.waitForSelector('#result-view:not([hidden])');
  await page.waitForFunction(() => (document.getElementById('compare-after') as HTMLImageElement).complete);
  await page.waitForFunction(() => (document.getElementById('compare-before') as HTMLImageElement).complete);
}

const server = await startServer({ port: 0, tileSize: 24 });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]');
  await shoot(page, 'empty');

  // A heavy network, so that the tiles can be seen arriving; cancelled once a third is drawn.
  await page.selectOption('#model', 'esrgan-thick');
  await page.selectOption('#scale', '8');
  await page.setInputFiles('#file-input', SAMPLE);
  await page.waitForFunction(
    () => {
      const stage = document.getElementById('live-stage');
      const total = Number(/of (\d+)/.exec(document.getElementById('live-detail')?.textContent ?? '')?.[1] ?? 0);
      return total > 0 && Number(stage?.dataset.tiles) >= total * 0.35;
    },
    undefined,
    { timeout: 300_000, polling: 50 },
  );
  await shoot(page, 'running');
  // Removing it from the list cancels it (it may have just finished on a fast machine).
  await page.locator('li.job button[aria-label^="Remove"]').first().click();
  await page.waitForSelector('#empty-view:not([hidden])');

  await page.selectOption('#model', 'fast');
  await page.selectOption('#scale', '4');
  await page.setInputFiles('#file-input', SAMPLE);
  await waitDone(page, 1);
  await page.focus('#compare-handle');
  for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowLeft');
  await shoot(page, 'compare');

  await page.click('#loupe-toggle');
  await page.check('input[name="loupe-zoom"][value="2"]');
  const stage = await page.locator('#compare-stage').boundingBox();
  if (stage) await page.mouse.click(stage.x + stage.width * 0.62, stage.y + stage.height * 0.66); // the small text
  await page.waitForTimeout(100);
  await shoot(page, 'loupe');

  await page.selectOption('#another-model', 'lanczos3');
  await page.click('#another-run');
  await waitDone(page, 2);
  await page.waitForTimeout(200);
  await shoot(page, 'two-models');
} finally {
  await browser.close();
  await server.close();
}

/**
 * The web app end to end, in a real browser (Debian's chromium, driven by playwright-core): models listed, an image
 * dropped and enlarged tile by tile, the comparison slider (mouse and keyboard), the loupe, the download, a second
 * model compared with the first, an API error shown in words, and a slow job cancelled.
 * Needs dist/web (npm test builds it; by hand: npm run build:web).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page, type Response as PageResponse } from 'playwright-core';
import sharp from 'sharp';
import { listModels } from '../src/models/registry.js';
import { startServer, type RunningServer } from '../src/server/index.js';

const CHROMIUM = '/usr/bin/chromium';
const WEB_INDEX = fileURLToPath(new URL('../dist/web/index.html', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../assets/sample.png', import.meta.url));
const skip = !existsSync(CHROMIUM) ? `no browser at ${CHROMIUM}` : !existsSync(WEB_INDEX) ? 'dist/web is not built (npm run build:web)' : false;

/** Drops files on the page the way a file manager does: a DataTransfer built in the page from the bytes. */
async function dropFile(page: Page, name: string, bytes: Buffer, type = 'image/png'): Promise<void> {
  await page.evaluate(
    ({ name, base64, type }) => {
      const data = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name, { type }));
      const target = document.getElementById('drop-zone') ?? document.body;
      for (const kind of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
      }
    },
    { name, base64: bytes.toString('base64'), type },
  );
}

async function numberAttribute(page: Page, selector: string, name: string): Promise<number> {
  return Number(await page.getAttribute(selector, name));
}

describe('web app', { skip, timeout: 240_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let small: Buffer; // 96x64: 3x2 tiles of 32 input pixels
  const pageErrors: string[] = [];

  before(async () => {
    small = await sharp(SAMPLE).extract({ left: 48, top: 32, width: 96, height: 64 }).png().toBuffer();
    server = await startServer({ port: 0, tileSize: 32, threads: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-ready="true"]');
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it('lists the models with their measured quality and speed', async () => {
    const ids = await page.$$eval('#model option', (options) => options.map((o) => (o as HTMLOptionElement).value));
    for (const id of ['fast', 'esrgan-thick', 'nearest', 'bicubic', 'lanczos3']) assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    assert.equal(await page.inputValue('#model'), 'photo-gan');
    const figures = async (): Promise<Record<string, string>> =>
      Object.fromEntries(
        await page.$$eval('#model-info .figures > div', (pairs) => pairs.map((pair) => [pair.querySelector('dt')?.textContent, pair.querySelector('dd')?.textContent])),
      );
    // The figures come from the model descriptors (what `upscale models` prints), not from the page's own code.
    const gan = listModels().find((m) => m.id === 'photo-gan')!;
    assert.deepEqual(await figures(), {
      'Set5 x4 PSNR': `${gan.quality!['Set5 x4']!.psnr.toFixed(2)} dB`,
      's/MP': String(gan.secondsPerMegapixel),
      Scales: 'native x4',
    });
    assert.match((await page.textContent('#model-info')) ?? '', /Real-ESRGAN general x4 v3/);
    const fast = listModels().find((m) => m.id === 'fast')!;
    await page.selectOption('#model', 'fast');
    assert.deepEqual(await figures(), {
      'Set5 x4 PSNR': `${fast.quality!['Set5 x4']!.psnr.toFixed(2)} dB`,
      's/MP': String(fast.secondsPerMegapixel),
      Scales: 'native x2, x4',
    });
    await page.selectOption('#model', 'esrgan-thick');
    assert.deepEqual(await figures(), { 'Set5 x4 PSNR': '29.94 dB', 's/MP': '5.9', Scales: 'native x2, x3, x4, x8' });
    assert.match((await page.textContent('#model option[value="esrgan-thick"]')) ?? '', /29\.94 dB, 5\.9 s\/MP/);
    await page.selectOption('#model', 'fast');
  });

  it('shows the denoise slider only for a model with a denoise strength, at its default', async () => {
    assert.equal(await page.isVisible('#denoise'), false);
    await page.selectOption('#model', 'photo');
    await page.waitForSelector('#denoise', { state: 'visible' });
    const photo = listModels().find((m) => m.id === 'photo')!;
    assert.equal(Number(await page.inputValue('#denoise')), photo.denoise);
    assert.equal(await page.textContent('#denoise-value'), photo.denoise!.toFixed(2));
    assert.deepEqual(
      await page.$eval('#denoise', (input) => [(input as HTMLInputElement).type, (input as HTMLInputElement).min, (input as HTMLInputElement).max, (input as HTMLInputElement).step]),
      ['range', '0', '1', '0.05'],
    );
    await page.selectOption('#model', 'fast');
    assert.equal(await page.isVisible('#denoise'), false);
  });

  it('fits 1366x768 without horizontal scrolling', async () => {
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0);
  });

  it('enlarges a dropped image tile by tile to 100%', async () => {
    await page.selectOption('#scale', '2');
    const tiles: string[] = [];
    page.on('response', (response) => {
      if (/\/api\/jobs\/[^/]+\/tiles\//.test(response.url()) && response.status() === 200) tiles.push(response.url());
    });
    await dropFile(page, 'crop.png', small);
    const row = page.locator('li.job').first();
    await row.locator('.job-name', { hasText: 'crop.png' }).waitFor();
    await page.waitForSelector('li.job[data-status="done"]', { timeout: 60_000 });
    // x2 of 96x64 with 32-pixel tiles: 3x2 tiles, each fetched and drawn on the canvas.
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('li.job')?.dataset.tilesDrawn) >= 6);
    assert.equal(tiles.length, 6);
    assert.equal(await row.locator('progress').evaluate((bar) => (bar as HTMLProgressElement).value), 1);
    assert.match((await row.locator('.job-status').textContent()) ?? '', /done, 192×128/);
    assert.match((await row.locator('.job-label').textContent()) ?? '', /fast x2/);
  });

  it('compares before and after with a slider: mouse drag and keyboard', async () => {
    await page.waitForSelector('#result-view:not([hidden])');
    await page.waitForFunction(() => (document.getElementById('compare-after') as HTMLImageElement).naturalWidth === 192);
    const handle = '#compare-handle';
    assert.equal(await page.getAttribute(handle, 'role'), 'slider');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), 50);
    const clipBefore = await page.$eval('#compare-after', (image) => (image as HTMLElement).style.clipPath);
    assert.equal(clipBefore, 'inset(0px 0px 0px 50%)');

    const stage = await page.locator('#compare-stage').boundingBox();
    const knob = await page.locator(handle).boundingBox();
    assert.ok(stage && knob);
    await page.mouse.move(knob.x + knob.width / 2, knob.y + knob.height / 2);
    await page.mouse.down();
    await page.mouse.move(stage.x + stage.width * 0.3, knob.y + knob.height / 2, { steps: 5 });
    await page.mouse.move(stage.x + stage.width * 0.25, knob.y + knob.height / 2, { steps: 5 });
    await page.mouse.up();
    const dragged = await numberAttribute(page, handle, 'aria-valuenow');
    assert.ok(Math.abs(dragged - 25) <= 1, `dragged to ${dragged}`);
    const clipDragged = await page.$eval('#compare-after', (image) => (image as HTMLElement).style.clipPath);
    assert.notEqual(clipDragged, clipBefore);
    assert.match(clipDragged, /inset\(0px 0px 0px 2[45]\.?\d*%\)/);

    await page.focus(handle);
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), dragged + 3);
    await page.keyboard.press('Shift+ArrowLeft');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), dragged - 7);
    await page.keyboard.press('End');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), 100);
    assert.equal(await page.$eval('#compare-after', (image) => (image as HTMLElement).style.clipPath), 'inset(0px 0px 0px 100%)');
    await page.keyboard.press('Home');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), 0);
    // The handle shows where the keyboard focus is.
    const outline = await page.$eval(handle, (element) => getComputedStyle(element).outlineStyle);
    assert.equal(outline, 'solid');
    await page.keyboard.press('PageUp');
    await page.keyboard.press('PageUp');
    await page.keyboard.press('PageUp');
    await page.keyboard.press('PageUp');
    await page.keyboard.press('PageUp');
    assert.equal(await numberAttribute(page, handle, 'aria-valuenow'), 50);

    // The left side: the input enlarged with nearest (pixelated) or smooth scaling.
    assert.equal(await page.inputValue('#compare-left'), 'input-nearest');
    assert.equal(await page.$eval('#compare-before', (image) => getComputedStyle(image).imageRendering), 'pixelated');
    await page.selectOption('#compare-left', 'input-smooth');
    assert.equal(await page.$eval('#compare-before', (image) => getComputedStyle(image).imageRendering), 'auto');
    await page.selectOption('#compare-left', 'input-nearest');
  });

  it('opens a 1:1 and 2:1 loupe that pans both sides together', async () => {
    await page.click('#loupe-toggle');
    await page.waitForSelector('#loupe:not([hidden])');
    assert.equal(await page.getAttribute('#loupe-toggle', 'aria-pressed'), 'true');
    const painted = (id: string): Promise<number> =>
      page.$eval(`#${id}`, (canvas) => {
        const c = canvas as HTMLCanvasElement;
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        const colours = new Set<number>();
        for (let i = 0; i < data.length; i += 4 * 97) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!);
        return colours.size;
      });
    await page.waitForFunction(() => {
      const c = document.getElementById('loupe-before') as HTMLCanvasElement;
      return c.getContext('2d')!.getImageData(110, 110, 1, 1).data[3] === 255;
    });
    assert.ok((await painted('loupe-before')) > 10, 'the left loupe shows the picture');
    assert.ok((await painted('loupe-after')) > 10, 'the right loupe shows the picture');
    const lens = (): Promise<{ left: string; width: string }> =>
      page.$eval('#loupe-lens', (element) => ({ left: (element as HTMLElement).style.left, width: (element as HTMLElement).style.width }));
    const at1 = await lens();
    await page.check('input[name="loupe-zoom"][value="2"]');
    const at2 = await lens();
    assert.ok(parseFloat(at2.width) < parseFloat(at1.width) * 0.6, `2:1 covers half the width: ${at1.width} -> ${at2.width}`);
    const label = await page.getAttribute('#loupe', 'aria-label');
    await page.focus('#loupe');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.notEqual(await page.getAttribute('#loupe', 'aria-label'), label);
    assert.ok(parseFloat((await lens()).left) > parseFloat(at2.left), 'the lens moved right');
    // Pressing the picture (not the handle) moves the loupe there while it is open; the slider stays.
    const stage = await page.locator('#compare-stage').boundingBox();
    assert.ok(stage);
    const slider = await numberAttribute(page, '#compare-handle', 'aria-valuenow');
    await page.mouse.click(stage.x + stage.width * 0.55, stage.y + stage.height / 2);
    assert.equal(await numberAttribute(page, '#compare-handle', 'aria-valuenow'), slider);
    assert.match((await page.getAttribute('#loupe', 'aria-label')) ?? '', /around pixel 10[4-7], 6[3-5]/);
    // Near a corner the loupe stops at the edge of the picture (2:1 shows 110 output pixels).
    await page.mouse.click(stage.x + 2, stage.y + 2);
    assert.match((await page.getAttribute('#loupe', 'aria-label')) ?? '', /around pixel 55, 55/);
  });

  it('downloads the result at the size asked for', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#result-download')]);
    assert.match(download.suggestedFilename(), /^crop@2x\.png$/);
    const path = await download.path();
    const meta = await sharp(await readFile(path)).metadata();
    assert.deepEqual([meta.width, meta.height, meta.format], [192, 128, 'png']);
  });

  it('runs another model on the same input and compares the two results', async () => {
    const first = await page.getAttribute('li.job', 'data-job-id');
    await page.selectOption('#another-model', 'bicubic');
    await page.click('#another-run');
    await page.waitForFunction((id) => document.querySelectorAll('li.job').length === 2 && document.querySelector('li.job')?.getAttribute('data-job-id') !== id, first);
    await page.waitForSelector('li.job[data-status="done"] >> nth=1');
    await page.waitForFunction(() => document.querySelectorAll('li.job[data-status="done"]').length === 2, undefined, { timeout: 60_000 });
    await page.waitForSelector('#result-view:not([hidden])');
    assert.match((await page.textContent('#result-title')) ?? '', /bicubic/);
    assert.equal(await page.inputValue('#compare-left'), `job:${first}`);
    assert.match((await page.textContent('#compare-left-label')) ?? '', /fast x2/);
    assert.match((await page.textContent('#compare-right-label')) ?? '', /bicubic x2/);
    assert.match((await page.getAttribute('#compare-before', 'src')) ?? '', new RegExp(`${first}/result$`));
    // The loupe stays open at 2:1 from one result to the next.
    assert.equal(await page.getAttribute('#loupe-toggle', 'aria-pressed'), 'true');
    assert.match((await page.getAttribute('#loupe', 'aria-label')) ?? '', /^Loupe at 2:1/);
  });

  it('shows API errors as readable messages', async () => {
    await page.setInputFiles('#file-input', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not an image at all') });
    const message = page.locator('.message.error').last();
    await message.waitFor();
    const text = (await message.textContent()) ?? '';
    assert.match(text, /notes\.png was not accepted: /);
    assert.doesNotMatch(text, /[{}]|HTTP_|undefined/);
    await message.getByRole('button', { name: 'Dismiss message' }).click();
    assert.equal(await page.locator('.message.error').count(), 0);
  });

  it('shows a slow job tile by tile and cancels it', async () => {
    await page.selectOption('#model', 'esrgan-thick');
    await page.selectOption('#scale', '8');
    // Large enough to take minutes even on a fast CPU (the 192x128 sample alone takes 3 s on an AVX-512 Xeon),
    // so that the job is still running when the test cancels it.
    const large = await sharp(SAMPLE).resize(768, 512).png().toBuffer();
    await dropFile(page, 'sample.png', large);
    await page.waitForSelector('#live-view:not([hidden])');
    assert.match((await page.textContent('#live-title')) ?? '', /sample\.png: esrgan-thick x8/);
    await page.waitForFunction(() => Number(document.getElementById('live-stage')?.dataset.tiles) >= 2, undefined, { timeout: 120_000 });
    const canvas = await page.$eval('#live-canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const pixel = canvas.getContext('2d')!.getImageData(4, 4, 1, 1).data;
      return { width: canvas.width, height: canvas.height, alpha: pixel[3] };
    });
    assert.ok(canvas.width >= 768 * 2 && canvas.height >= 512 * 2, `a pass's size: ${canvas.width}x${canvas.height}`);
    assert.equal(canvas.alpha, 255, 'the first tile (top left) is drawn');
    assert.match((await page.textContent('#live-percent')) ?? '', /^\d+%$/);
    assert.match((await page.textContent('#live-detail')) ?? '', /tile \d+ of \d+, (about .* left|estimating)/);
    await page.click('#live-cancel');
    await page.waitForSelector('#ended-view:not([hidden])');
    assert.match((await page.textContent('#ended-message')) ?? '', /Cancelled/);
    assert.equal(await page.getAttribute('li.job >> nth=0', 'data-status'), 'cancelled');
    assert.deepEqual(pageErrors, []);
  });

  it('sends the denoise strength set on the slider with a photo job, and shows it with the result', async () => {
    await page.selectOption('#model', 'photo');
    await page.selectOption('#scale', '2');
    await page.focus('#denoise');
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowLeft'); // 0.50 -> 0.25 in steps of 0.05
    assert.equal(await page.textContent('#denoise-value'), '0.25');
    const isPost = (response: PageResponse): boolean => response.request().method() === 'POST' && /\/api\/jobs$/.test(response.url());
    const [created] = await Promise.all([page.waitForResponse(isPost), dropFile(page, 'denoise.png', small)]);
    assert.equal(created.status(), 201);
    const { id } = (await created.json()) as { id: string };
    await page.waitForSelector(`li.job[data-job-id="${id}"][data-status="done"]`, { timeout: 60_000 });
    assert.match((await page.textContent(`li.job[data-job-id="${id}"] .job-label`)) ?? '', /^photo denoise 0\.25 x2$/);
    await page.waitForSelector('#result-view:not([hidden])');
    assert.match((await page.textContent('#compare-right-label')) ?? '', /photo denoise 0\.25 x2/);
    // The request carried it (without, the job would say the default, 0.5), and the server ran it at that strength:
    // the job's options and the output's provenance say so.
    const job = (await (await fetch(`${server.url}api/jobs/${id}`)).json()) as { options: { denoise?: number } };
    assert.equal(job.options.denoise, 0.25);
    const result = Buffer.from(await (await fetch(`${server.url}api/jobs/${id}/result`)).arrayBuffer());
    assert.match((await sharp(result).metadata()).xmp?.toString() ?? '', /upscale:Denoise="0\.25"/);
    // Back to a model without one: hidden, and not sent (the server refuses a strength for nearest with a 400).
    await page.selectOption('#model', 'nearest');
    assert.equal(await page.isVisible('#denoise'), false);
    const [plain] = await Promise.all([page.waitForResponse(isPost), dropFile(page, 'plain.png', small)]);
    assert.equal(plain.status(), 201, await plain.text());
    assert.equal(((await plain.json()) as { options: { denoise?: number } }).options.denoise, undefined);
    assert.deepEqual(pageErrors, []);
  });
});

/**
 * Quality regression: our own built-in models, run through `upscale eval` on Set5, must stay within 0.05 dB of the
 * PSNR their model card (descriptor) states, at each native x2 / x4 scale (`photo` at its default denoise strength).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { listModels } from '../src/index.js';

const BIN = new URL('../bin/upscale.js', import.meta.url).pathname;
const SET5 = new URL('../../shared/eval/Set5/HR', import.meta.url).pathname;
const TOLERANCE_DB = 0.05;

for (const model of listModels().filter((m) => m.source?.startsWith('models/'))) {
  for (const scale of (model.scales ?? [model.scale]).filter((s) => s === 2 || s === 4)) {
    const card = model.quality?.[`Set5 x${scale}`];
    test(`${model.id} on Set5 x${scale} stays within ${TOLERANCE_DB} dB of its model card`, () => {
      assert.ok(card, `${model.id} states no Set5 x${scale} figure`);
      const r = spawnSync(process.execPath, [BIN, 'eval', '--dataset', SET5, '--scale', String(scale), '--model', model.id, '--json'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { models: { meanPsnr: number; meanSsim: number }[] };
      const measured = report.models[0]!;
      assert.ok(measured.meanPsnr >= card.psnr - TOLERANCE_DB, `${model.id}: ${measured.meanPsnr.toFixed(3)} dB, card ${card.psnr}`);
      assert.ok(measured.meanSsim >= card.ssim - 0.001, `${model.id}: SSIM ${measured.meanSsim.toFixed(4)}, card ${card.ssim}`);
    });
  }
}

/** The terminal progress line between events: visibly alive during a long first tile, the ETA counting down. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, tickerText } from '../src/cli/progress.js';

test('before the first tile ends, the line shows a spinner and the elapsed time, not a frozen 0%', () => {
  const state = { startedAt: 1000, detail: 'working', etaMs: undefined, etaAt: 1000 };
  const early = tickerText(state, 1000);
  const later = tickerText(state, 13_600);
  assert.match(early.detail, /^working \S 0s$/);
  assert.match(later.detail, /^working \S 13s$/);
  assert.notEqual(early.detail, later.detail);
  assert.equal(later.eta_text, '--');
});

test('the ETA counts down between tiles and stops at zero', () => {
  const state = { startedAt: 0, detail: 'tile 1/4', etaMs: 30_000, etaAt: 10_000 };
  assert.equal(tickerText(state, 10_000).eta_text, '30s');
  assert.equal(tickerText(state, 22_000).eta_text, '18s');
  assert.equal(tickerText(state, 90_000).eta_text, '0s');
  assert.equal(formatDuration(3_725_000), '1h02m');
});

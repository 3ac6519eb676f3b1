/**
 * Progress rendering for the terminal: a bar with tiles and ETA on a TTY, nothing otherwise. The library only
 * emits events; drawing them lives here.
 */
import cliProgress from 'cli-progress';
import type { UpscaleProgress } from '../pipeline/upscale-raster.js';

export interface ProgressView {
  start(label: string): void;
  update(event: UpscaleProgress): void;
  stop(): void;
}

export function createProgressView(enabled: boolean): ProgressView {
  if (!enabled) return { start() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{label} |{bar}| {percentage}% | {detail} | ETA {eta_text}',
      hideCursor: true,
      clearOnComplete: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  let active = false;
  // Animations: the frame being upscaled (its tiles fill the bar's share of that frame) and the frames' ETA.
  let frame: { index: number; total: number; etaMs: number | undefined } | undefined;
  return {
    start(label) {
      bar.start(1000, 0, { label, detail: 'reading', eta_text: '--' });
      active = true;
      frame = undefined;
    },
    update(event) {
      if (!active) return;
      const framePrefix = frame === undefined ? '' : `frame ${frame.index + 1}/${frame.total} `;
      const overall = (fraction: number): number => (frame === undefined ? fraction : (frame.index + fraction) / frame.total);
      if (event.stage === 'frame') {
        frame = { index: event.index, total: event.total, etaMs: event.etaMs };
        bar.update(Math.round(overall(0) * 1000), { detail: `frame ${event.index + 1}/${event.total}`, eta_text: formatDuration(event.etaMs) });
      } else if (event.stage === 'tile') {
        const detail = `${framePrefix}${event.passes > 1 ? `pass ${event.pass}/${event.passes} ` : ''}tile ${event.index + 1}/${event.total}`;
        bar.update(Math.round(overall(event.fraction) * 1000), { detail, eta_text: formatDuration(frame === undefined ? event.etaMs : frame.etaMs) });
      } else {
        bar.update({ detail: `${framePrefix}resizing to ${event.to.width}x${event.to.height}` });
      }
    },
    stop() {
      if (active) bar.stop();
      active = false;
    },
  };
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '--';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

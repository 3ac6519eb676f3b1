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

/** What the bar shows between events: the last detail, a spinner and the elapsed time, and the ETA counting down. */
export interface TickerState {
  readonly startedAt: number;
  readonly detail: string;
  /** The last estimate of the time left, and when it was made. */
  readonly etaMs: number | undefined;
  readonly etaAt: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const TICK_MS = 250;

/**
 * The detail and ETA texts at time `now`: work is visibly under way during a long first tile (a spinner and the
 * elapsed time, where a frozen `0%` looked hung), and the ETA counts down between tiles instead of jumping.
 */
export function tickerText(state: TickerState, now: number): { detail: string; eta_text: string } {
  const elapsed = now - state.startedAt;
  const spinner = SPINNER[Math.floor(elapsed / TICK_MS) % SPINNER.length];
  const eta = state.etaMs === undefined ? undefined : Math.max(0, state.etaMs - (now - state.etaAt));
  return { detail: `${state.detail} ${spinner} ${formatDuration(elapsed)}`, eta_text: formatDuration(eta) };
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
  let state: TickerState = { startedAt: 0, detail: '', etaMs: undefined, etaAt: 0 };
  let timer: NodeJS.Timeout | undefined;
  // Animations: the frame being upscaled (its tiles fill the bar's share of that frame) and the frames' ETA.
  let frame: { index: number; total: number; etaMs: number | undefined } | undefined;
  const show = (value?: number): void => {
    const text = tickerText(state, performance.now());
    if (value === undefined) bar.update(text);
    else bar.update(value, text);
  };
  const note = (detail: string, etaMs: number | undefined, value?: number): void => {
    state = { ...state, detail, ...(etaMs === undefined ? {} : { etaMs, etaAt: performance.now() }) };
    show(value);
  };
  return {
    start(label) {
      const now = performance.now();
      state = { startedAt: now, detail: 'working', etaMs: undefined, etaAt: now };
      bar.start(1000, 0, { label, ...tickerText(state, now) });
      active = true;
      frame = undefined;
      timer = setInterval(() => show(), TICK_MS);
      timer.unref();
    },
    update(event) {
      if (!active) return;
      const framePrefix = frame === undefined ? '' : `frame ${frame.index + 1}/${frame.total} `;
      const overall = (fraction: number): number => (frame === undefined ? fraction : (frame.index + fraction) / frame.total);
      if (event.stage === 'frame') {
        frame = { index: event.index, total: event.total, etaMs: event.etaMs };
        note(`frame ${event.index + 1}/${event.total}`, event.etaMs, Math.round(overall(0) * 1000));
      } else if (event.stage === 'tile') {
        const detail = `${framePrefix}${event.passes > 1 ? `pass ${event.pass}/${event.passes} ` : ''}tile ${event.index + 1}/${event.total}`;
        note(detail, frame === undefined ? event.etaMs : frame.etaMs, Math.round(overall(event.fraction) * 1000));
      } else {
        note(`${framePrefix}resizing to ${event.to.width}x${event.to.height}`, undefined);
      }
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
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

/**
 * The running job's view: its output appearing tile by tile over the input (enlarged, faded), a progress bar, the
 * time left, and Cancel.
 */
import { inputUrl } from './api.js';
import { byId } from './dom.js';
import { eta, jobLabel, percent } from './format.js';
import type { JobEntry } from './store.js';

let shown: JobEntry | null = null;
let stopDrawing: (() => void) | null = null;

/** Fits the stage (which has the output's aspect ratio) in the space left in the window. */
export function fitStage(stage: HTMLElement, width: number, height: number, reserve = 24): void {
  const container = stage.parentElement;
  if (!container || width <= 0 || height <= 0) return;
  const availableWidth = container.clientWidth;
  const top = stage.getBoundingClientRect().top;
  const availableHeight = Math.max(200, window.innerHeight - top - reserve);
  const scale = Math.min(availableWidth / width, availableHeight / height);
  stage.style.width = `${Math.max(1, Math.floor(width * scale))}px`;
  stage.style.height = `${Math.max(1, Math.floor(height * scale))}px`;
}

function outputAspect(entry: JobEntry): { width: number; height: number } {
  const canvas = entry.live.canvas;
  if (canvas.width > 0 && entry.live.pass >= 0) return { width: canvas.width, height: canvas.height };
  return { width: entry.job.input.width, height: entry.job.input.height };
}

export function layoutLive(): void {
  if (!shown) return;
  const { width, height } = outputAspect(shown);
  fitStage(byId('live-stage'), width, height, 16);
}

export function showLive(entry: JobEntry): void {
  const stage = byId('live-stage');
  const backdrop = byId<HTMLImageElement>('live-input');
  if (shown !== entry) {
    stopDrawing?.();
    shown = entry;
    backdrop.src = inputUrl(entry.job.id);
    backdrop.alt = `${entry.job.input.name}, the input, enlarged`;
    const canvas = entry.live.canvas;
    canvas.id = 'live-canvas';
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `The output of ${entry.job.input.name} so far`);
    stage.querySelector('canvas')?.remove();
    stage.append(canvas);
    let lastPass = entry.live.pass;
    stopDrawing = entry.live.onDraw(() => {
      stage.dataset.tiles = String(entry.live.tiles);
      if (entry.live.pass !== lastPass) {
        lastPass = entry.live.pass;
        layoutLive();
      }
    });
    stage.dataset.tiles = String(entry.live.tiles);
  }
  const { job } = entry;
  byId('live-title').textContent = `${job.input.name}: ${jobLabel(job)}`;
  const bar = byId<HTMLProgressElement>('live-progress');
  bar.value = job.progress.fraction;
  bar.setAttribute('aria-valuetext', percent(job.progress.fraction));
  byId('live-percent').textContent = percent(job.progress.fraction);
  let detail: string;
  if (job.status === 'queued') {
    detail = job.position === undefined || job.position === 0 ? 'Waiting: next in line' : `Waiting: ${job.position} job(s) ahead`;
  } else if (job.progress.tilesTotal > 0) {
    const { pass, passes, frame, frames } = job.progress;
    const passText = passes > 1 ? `pass ${pass} of ${passes}, ` : '';
    const frameText = frames !== undefined && frames > 1 && frame !== undefined ? `frame ${frame + 1} of ${frames}, ` : '';
    detail = `${frameText}${passText}tile ${job.progress.tilesDone} of ${job.progress.tilesTotal}, ${eta(job.progress.etaMs)}`;
  } else {
    detail = 'Starting…';
  }
  byId('live-detail').textContent = detail;
  layoutLive();
}

export function hideLive(): void {
  stopDrawing?.();
  stopDrawing = null;
  shown = null;
}

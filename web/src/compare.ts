/**
 * The result view: a before/after slider over the finished output, a 1:1 / 2:1 loupe showing both sides of the
 * same spot, and the choice of what the left side shows (the input, enlarged with nearest or smooth scaling, or
 * another model's result on the same input).
 */
import { inputUrl, resultUrl } from './api.js';
import { byId, h } from './dom.js';
import { jobLabel } from './format.js';
import { fitStage } from './live.js';
import type { JobEntry } from './store.js';
import { store } from './store.js';

/** What the left side shows: `input-nearest`, `input-smooth`, or `job:<id>`. */
export type LeftSource = string;

interface State {
  entry: JobEntry;
  left: LeftSource;
  /** Slider position, 0..100: the share of the width showing the left side. */
  position: number;
  loupe: { open: boolean; zoom: number; x: number; y: number };
}

let state: State | null = null;
let loupeOpen = false;
/** The left side each job was last compared with (a second model's job starts by comparing with the first). */
const preferredLeft = new Map<string, LeftSource>();

export function preferLeft(jobId: string, left: LeftSource): void {
  preferredLeft.set(jobId, left);
}

const LOUPE_SIZE = 220;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  return byId<T>(id);
}

function outputSize(entry: JobEntry): { width: number; height: number } {
  return entry.job.output ?? { width: entry.job.input.width, height: entry.job.input.height };
}

function leftLabel(left: LeftSource): string {
  if (left === 'input-nearest') return 'Input, nearest';
  if (left === 'input-smooth') return 'Input, smooth';
  const other = store.get(left.slice(4));
  return other ? jobLabel(other.job) : 'Other result';
}

function fillLeftChoices(): void {
  if (!state) return;
  const select = el<HTMLSelectElement>('compare-left');
  const choices: Array<[LeftSource, string]> = [
    ['input-nearest', 'Input, nearest'],
    ['input-smooth', 'Input, smooth'],
    ...store.siblings(state.entry).map((other): [LeftSource, string] => [`job:${other.job.id}`, `Result: ${jobLabel(other.job)}`]),
  ];
  const signature = choices.map(([value, text]) => `${value}=${text}`).join('\n');
  if (select.dataset.signature !== signature) {
    select.dataset.signature = signature;
    select.replaceChildren(...choices.map(([value, text]) => h('option', { value }, text)));
  }
  if (!choices.some(([value]) => value === state?.left)) state.left = 'input-nearest';
  select.value = state.left;
}

function applyLeft(): void {
  if (!state) return;
  const image = el<HTMLImageElement>('compare-before');
  const { left, entry } = state;
  const src = left.startsWith('job:') ? resultUrl(left.slice(4)) : inputUrl(entry.job.id);
  if (image.getAttribute('src') !== src) image.src = src;
  image.classList.toggle('pixelated', left === 'input-nearest');
  image.alt = `Left: ${leftLabel(left)}`;
  el('compare-left-label').textContent = leftLabel(left);
  preferredLeft.set(entry.job.id, left);
  updateSlider();
  drawLoupe();
}

function updateSlider(): void {
  if (!state) return;
  const p = state.position;
  el('compare-after').style.clipPath = `inset(0 0 0 ${p}%)`;
  el('compare-divider').style.left = `${p}%`;
  const handle = el('compare-handle');
  handle.setAttribute('aria-valuenow', String(Math.round(p)));
  handle.setAttribute('aria-valuetext', `${Math.round(p)}% ${leftLabel(state.left)}, ${Math.round(100 - p)}% ${jobLabel(state.entry.job)}`);
}

function setPosition(p: number): void {
  if (!state) return;
  state.position = Math.min(100, Math.max(0, p));
  updateSlider();
}

/** The pointer's place on the stage in output pixels and as a share of the width. */
function stagePoint(event: PointerEvent): { fx: number; x: number; y: number } {
  const rect = el('compare-stage').getBoundingClientRect();
  const fx = (event.clientX - rect.left) / rect.width;
  const fy = (event.clientY - rect.top) / rect.height;
  const size = state ? outputSize(state.entry) : { width: 1, height: 1 };
  return { fx, x: fx * size.width, y: fy * size.height };
}

function setLoupeCenter(x: number, y: number): void {
  if (!state) return;
  const size = outputSize(state.entry);
  const half = LOUPE_SIZE / state.loupe.zoom / 2;
  state.loupe.x = Math.min(Math.max(x, Math.min(half, size.width / 2)), Math.max(size.width - half, size.width / 2));
  state.loupe.y = Math.min(Math.max(y, Math.min(half, size.height / 2)), Math.max(size.height - half, size.height / 2));
  drawLoupe();
}

function drawSide(canvas: HTMLCanvasElement, image: HTMLImageElement, smooth: boolean): void {
  if (!state) return;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.fillStyle = '#1b1d21';
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (!image.complete || image.naturalWidth === 0) return;
  const size = outputSize(state.entry);
  const span = LOUPE_SIZE / state.loupe.zoom; // output pixels across the loupe
  const sx = state.loupe.x - span / 2;
  const sy = state.loupe.y - span / 2;
  const kx = image.naturalWidth / size.width; // this side's pixels per output pixel
  const ky = image.naturalHeight / size.height;
  context.imageSmoothingEnabled = smooth;
  context.imageSmoothingQuality = 'high';
  context.drawImage(image, sx * kx, sy * ky, span * kx, span * ky, 0, 0, canvas.width, canvas.height);
}

function drawLoupe(): void {
  if (!state) return;
  const { loupe } = state;
  el('loupe').hidden = !loupe.open;
  el('loupe-lens').hidden = !loupe.open;
  const toggle = el('loupe-toggle');
  toggle.setAttribute('aria-pressed', String(loupe.open));
  if (!loupe.open) return;
  drawSide(el<HTMLCanvasElement>('loupe-before'), el<HTMLImageElement>('compare-before'), state.left === 'input-smooth');
  drawSide(el<HTMLCanvasElement>('loupe-after'), el<HTMLImageElement>('compare-after'), false);
  const size = outputSize(state.entry);
  const span = LOUPE_SIZE / loupe.zoom;
  const lens = el('loupe-lens');
  lens.style.left = `${((loupe.x - span / 2) / size.width) * 100}%`;
  lens.style.top = `${((loupe.y - span / 2) / size.height) * 100}%`;
  lens.style.width = `${(span / size.width) * 100}%`;
  lens.style.height = `${(span / size.height) * 100}%`;
  el('loupe-before-label').textContent = leftLabel(state.left);
  el('loupe-after-label').textContent = jobLabel(state.entry.job);
  el('loupe').setAttribute('aria-label', `Loupe at ${loupe.zoom}:1 around pixel ${Math.round(loupe.x)}, ${Math.round(loupe.y)}; arrow keys move it`);
}

export function layoutCompare(): void {
  if (!state) return;
  const size = outputSize(state.entry);
  fitStage(el('compare-stage'), size.width, size.height, 16);
}

export function showCompare(entry: JobEntry): void {
  if (state?.entry !== entry) {
    const size = outputSize(entry);
    // The loupe stays as it was (open, zoom) from one result to the next.
    const zoom = Number(document.querySelector<HTMLInputElement>('input[name="loupe-zoom"]:checked')?.value ?? 1);
    state = {
      entry,
      left: preferredLeft.get(entry.job.id) ?? 'input-nearest',
      position: 50,
      loupe: { open: loupeOpen, zoom, x: size.width / 2, y: size.height / 2 },
    };
    const after = el<HTMLImageElement>('compare-after');
    after.src = resultUrl(entry.job.id);
    after.alt = `Right: the result, ${jobLabel(entry.job)}`;
    el('compare-right-label').textContent = jobLabel(entry.job);
    const output = entry.job.output;
    el('result-title').textContent = output
      ? `${entry.job.input.name} → ${output.name} (${output.width}×${output.height}, ${entry.job.options.model})`
      : entry.job.input.name;
    el('compare-left').dataset.signature = '';
    fillLeftChoices();
    applyLeft();
    setLoupeCenter(state.loupe.x, state.loupe.y);
  } else {
    fillLeftChoices();
    applyLeft();
  }
  layoutCompare();
}

export function hideCompare(): void {
  state = null;
}

export function currentResult(): JobEntry | null {
  return state?.entry ?? null;
}

export function initCompare(): void {
  const stage = el('compare-stage');
  const handle = el('compare-handle');
  let dragging: 'slider' | 'lens' | null = null;

  stage.addEventListener('pointerdown', (event) => {
    if (!state || event.button !== 0) return;
    event.preventDefault();
    dragging = state.loupe.open && event.target !== handle ? 'lens' : 'slider';
    stage.setPointerCapture(event.pointerId);
    const point = stagePoint(event);
    if (dragging === 'slider') {
      setPosition(point.fx * 100);
      handle.focus({ preventScroll: true });
    } else setLoupeCenter(point.x, point.y);
  });
  stage.addEventListener('pointermove', (event) => {
    if (!dragging) return;
    const point = stagePoint(event);
    if (dragging === 'slider') setPosition(point.fx * 100);
    else setLoupeCenter(point.x, point.y);
  });
  const stop = (): void => {
    dragging = null;
  };
  stage.addEventListener('pointerup', stop);
  stage.addEventListener('pointercancel', stop);

  handle.addEventListener('keydown', (event) => {
    if (!state) return;
    const step = event.shiftKey ? 10 : 1;
    const moves: Record<string, number> = {
      ArrowLeft: state.position - step,
      ArrowDown: state.position - step,
      ArrowRight: state.position + step,
      ArrowUp: state.position + step,
      PageDown: state.position - 10,
      PageUp: state.position + 10,
      Home: 0,
      End: 100,
    };
    const next = moves[event.key];
    if (next === undefined) return;
    event.preventDefault();
    setPosition(next);
  });

  el('compare-left').addEventListener('change', () => {
    if (!state) return;
    state.left = el<HTMLSelectElement>('compare-left').value;
    applyLeft();
  });

  for (const id of ['compare-before', 'compare-after']) {
    el<HTMLImageElement>(id).addEventListener('load', () => drawLoupe());
    el<HTMLImageElement>(id).addEventListener('error', (event) => {
      const image = event.currentTarget as HTMLImageElement;
      if (image.getAttribute('src')) el('compare-note').textContent = 'This browser cannot show one of the images (TIFF, for instance); download it to look at it.';
    });
  }

  el('loupe-toggle').addEventListener('click', () => {
    if (!state) return;
    state.loupe.open = !state.loupe.open;
    loupeOpen = state.loupe.open;
    drawLoupe();
    layoutCompare();
  });
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="loupe-zoom"]')) {
    radio.addEventListener('change', () => {
      if (!state || !radio.checked) return;
      state.loupe.zoom = Number(radio.value);
      setLoupeCenter(state.loupe.x, state.loupe.y);
    });
  }
  const loupe = el('loupe');
  loupe.addEventListener('keydown', (event) => {
    if (!state) return;
    const step = (event.shiftKey ? 64 : 16) / state.loupe.zoom;
    const delta: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    const move = delta[event.key];
    if (!move) return;
    event.preventDefault();
    setLoupeCenter(state.loupe.x + move[0], state.loupe.y + move[1]);
  });
  // Dragging inside the loupe pans it, like a map.
  let last: { x: number; y: number } | null = null;
  loupe.addEventListener('pointerdown', (event) => {
    last = { x: event.clientX, y: event.clientY };
    loupe.setPointerCapture(event.pointerId);
  });
  loupe.addEventListener('pointermove', (event) => {
    if (!last || !state) return;
    const zoom = state.loupe.zoom;
    setLoupeCenter(state.loupe.x - (event.clientX - last.x) / zoom, state.loupe.y - (event.clientY - last.y) / zoom);
    last = { x: event.clientX, y: event.clientY };
  });
  loupe.addEventListener('pointerup', () => {
    last = null;
  });
  for (const id of ['loupe-before', 'loupe-after']) {
    const canvas = el<HTMLCanvasElement>(id);
    canvas.width = LOUPE_SIZE;
    canvas.height = LOUPE_SIZE;
  }
}

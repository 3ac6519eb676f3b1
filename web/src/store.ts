/**
 * The app's state: the jobs (server truth plus what the page adds: a live canvas, an input group) and which one
 * is shown. Views subscribe and re-render; only this module mutates the state.
 */
import type { Job, TileEvent } from './types.js';
import { TERMINAL } from './types.js';

export interface JobEntry {
  job: Job;
  /** Jobs on the same input share a group: their results can be compared with each other. */
  group: string;
  /** The output drawn so far, tile by tile (while running and after, until the page reloads). */
  live: LiveDrawing;
}

/** The tiles received for the current pass of a job, drawn on an offscreen canvas of that pass's size. */
export class LiveDrawing {
  readonly canvas = document.createElement('canvas');
  pass = -1;
  tiles = 0;
  /** Tiles drawn over all passes and frames. */
  drawn = 0;
  lastTile: TileEvent | null = null;
  private listeners = new Set<() => void>();

  /** `changed` runs after each tile is drawn (the job list shows the count). */
  constructor(private readonly changed: () => void = () => {}) {}

  add(tile: TileEvent): void {
    if (tile.pass !== this.pass) {
      // A new pass (x4 then x4 for x16): a new size. Keep the previous pass enlarged as the background.
      const previous = this.pass >= 0 ? this.snapshot() : null;
      this.pass = tile.pass;
      this.tiles = 0;
      this.canvas.width = tile.passSize.width;
      this.canvas.height = tile.passSize.height;
      const context = this.canvas.getContext('2d');
      if (context && previous) context.drawImage(previous, 0, 0, this.canvas.width, this.canvas.height);
    }
    this.lastTile = tile;
    const image = new Image();
    image.decoding = 'async';
    image.onload = () => {
      if (tile.pass !== this.pass) return; // arrived after the next pass began
      this.canvas.getContext('2d')?.drawImage(image, tile.rect.x, tile.rect.y, tile.rect.width, tile.rect.height);
      this.tiles += 1;
      this.drawn += 1;
      for (const listener of this.listeners) listener();
      this.changed();
    };
    // The server gives `/api/...`; made relative to the page, it also works behind a proxy under a sub-path.
    image.src = tile.url.replace(/^\//, '');
  }

  onDraw(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private snapshot(): HTMLCanvasElement {
    const copy = document.createElement('canvas');
    copy.width = this.canvas.width;
    copy.height = this.canvas.height;
    copy.getContext('2d')?.drawImage(this.canvas, 0, 0);
    return copy;
  }
}

type Listener = () => void;

export function groupOf(job: Job): string {
  const { name, bytes, width, height } = job.input;
  return `${name}|${bytes}|${width}x${height}`;
}

class Store {
  /** Newest first, as the server lists them. */
  private entries: JobEntry[] = [];
  selectedId: string | null = null;
  private listeners = new Set<Listener>();
  private tileListeners = new Set<(id: string, tile: TileEvent) => void>();

  get jobs(): readonly JobEntry[] {
    return this.entries;
  }

  get(id: string | null): JobEntry | undefined {
    return id === null ? undefined : this.entries.find((entry) => entry.job.id === id);
  }

  get selected(): JobEntry | undefined {
    return this.get(this.selectedId);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onTile(listener: (id: string, tile: TileEvent) => void): () => void {
    this.tileListeners.add(listener);
    return () => this.tileListeners.delete(listener);
  }

  /** Adds or updates a job. A status never goes back from a terminal one (events can arrive late). */
  upsert(job: Job, group?: string): JobEntry {
    const existing = this.get(job.id);
    if (existing) {
      if (!(TERMINAL.has(existing.job.status) && !TERMINAL.has(job.status))) existing.job = job;
    } else {
      const entry: JobEntry = { job, group: group ?? groupOf(job), live: new LiveDrawing(() => this.emit()) };
      this.entries.unshift(entry);
      this.entries.sort((a, b) => b.job.createdAt.localeCompare(a.job.createdAt));
    }
    this.emit();
    return this.get(job.id)!;
  }

  tile(id: string, tile: TileEvent): void {
    const entry = this.get(id);
    if (!entry) return;
    entry.live.add(tile);
    const job = entry.job;
    if (job.status === 'queued') job.status = 'running';
    job.progress = {
      ...job.progress,
      fraction: tile.fraction,
      etaMs: tile.etaMs,
      tilesDone: tile.index + 1,
      tilesTotal: tile.total,
      pass: tile.pass,
      passes: tile.passes,
    };
    for (const listener of this.tileListeners) listener(id, tile);
    this.emit();
  }

  remove(id: string): void {
    this.entries = this.entries.filter((entry) => entry.job.id !== id);
    if (this.selectedId === id) this.selectedId = this.entries[0]?.job.id ?? null;
    this.emit();
  }

  select(id: string | null): void {
    this.selectedId = id;
    this.emit();
  }

  /** Finished jobs on the same input as `entry`, other than it: what its result can be compared with. */
  siblings(entry: JobEntry): JobEntry[] {
    return this.entries.filter((other) => other !== entry && other.group === entry.group && other.job.status === 'done');
  }

  private scheduled = false;
  /** Coalesces bursts (many tiles at once) into one render per frame. */
  private emit(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    });
  }
}

export const store = new Store();

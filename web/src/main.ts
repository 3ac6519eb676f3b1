/** The app: wires the intake, the settings, the job list and the views to the API and the store. */
import './style.css';
import { cancelJob, createJob, deleteJob, fetchInput, followJob, listJobs, listModels, resultUrl } from './api.js';
import { currentResult, hideCompare, initCompare, layoutCompare, preferLeft, showCompare } from './compare.js';
import { byId, download } from './dom.js';
import { jobLabel } from './format.js';
import { initIntake } from './intake.js';
import { hideLive, layoutLive, showLive } from './live.js';
import { messageOf, notify, reportError } from './notify.js';
import { allModels, denoiseFor, initOptions, modelOptions, readRequest, setModels } from './options.js';
import { renderQueue } from './queue.js';
import type { JobEntry } from './store.js';
import { store } from './store.js';
import type { Job, JobRequest, SizeRequest } from './types.js';
import { TERMINAL } from './types.js';

const following = new Map<string, () => void>();

function follow(job: Job): void {
  if (following.has(job.id) || TERMINAL.has(job.status)) return;
  const stop = followJob(job.id, {
    job: (update) => {
      store.upsert(update);
      if (TERMINAL.has(update.status)) {
        following.get(update.id)?.();
        following.delete(update.id);
        if (update.status === 'failed') notify(`${update.input.name} failed: ${update.error?.message ?? 'unknown error'}`);
      }
    },
    tile: (tile) => store.tile(job.id, tile),
  });
  following.set(job.id, stop);
}

async function submit(file: Blob, name: string, request: JobRequest, group?: string): Promise<JobEntry | null> {
  try {
    const job = await createJob(file, name, request);
    const entry = store.upsert(job, group);
    follow(job);
    return entry;
  } catch (error) {
    reportError(`${name} was not accepted`, error);
    return null;
  }
}

async function addFiles(files: File[]): Promise<void> {
  let request: JobRequest;
  try {
    request = readRequest();
  } catch (error) {
    notify(messageOf(error));
    return;
  }
  let first: JobEntry | null = null;
  for (const file of files) {
    const entry = await submit(file, file.name || 'image', request);
    first ??= entry;
  }
  if (first && (!store.selected || files.length === 1 || TERMINAL.has(store.selected.job.status))) store.select(first.job.id);
}

function sizeOf(job: Job): SizeRequest {
  const { scale, width, height, fit } = job.options;
  if (scale !== undefined) return { kind: 'scale', scale };
  if (fit !== undefined) return { kind: 'fit', fit };
  if (width !== undefined || height !== undefined) {
    return { kind: 'size', ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}) };
  }
  return { kind: 'scale', scale: 4 };
}

async function tryAnotherModel(): Promise<void> {
  const entry = currentResult();
  if (!entry) return;
  const model = byId<HTMLSelectElement>('another-model').value;
  const button = byId<HTMLButtonElement>('another-run');
  button.disabled = true;
  try {
    const blob = await fetchInput(entry.job.id);
    const denoise = denoiseFor(model);
    const request: JobRequest = { model, size: sizeOf(entry.job), format: entry.job.options.format, ...(denoise !== undefined ? { denoise } : {}) };
    const created = await submit(blob, entry.job.input.name, request, entry.group);
    if (created) {
      preferLeft(created.job.id, `job:${entry.job.id}`);
      store.select(created.job.id);
      notify(`Running ${jobLabel(created.job)} on ${entry.job.input.name}; when it is done, the slider compares it with ${entry.job.options.model}.`, 'info');
    }
  } catch (error) {
    reportError('The second model could not start', error);
  } finally {
    button.disabled = false;
  }
}

const actions = {
  async cancel(entry: JobEntry): Promise<void> {
    try {
      store.upsert(await cancelJob(entry.job.id));
    } catch (error) {
      reportError(`${entry.job.input.name} could not be cancelled`, error);
    }
  },
  async remove(entry: JobEntry): Promise<void> {
    try {
      await deleteJob(entry.job.id);
    } catch (error) {
      if (!(error instanceof Error && 'status' in error && error.status === 404)) {
        reportError(`${entry.job.input.name} could not be removed`, error);
        return;
      }
    }
    following.get(entry.job.id)?.();
    following.delete(entry.job.id);
    store.remove(entry.job.id);
  },
  download(entry: JobEntry): void {
    download(resultUrl(entry.job.id), entry.job.output?.name);
  },
};

async function downloadAll(): Promise<void> {
  const done = store.jobs.filter((entry) => entry.job.status === 'done');
  for (const [i, entry] of done.entries()) {
    actions.download(entry);
    if (i < done.length - 1) await new Promise((resolve) => setTimeout(resolve, 400)); // browsers drop bursts
  }
}

type View = 'empty' | 'live' | 'result' | 'ended';
let view: View | null = null;
let viewJob: string | null = null;

function showView(next: View): void {
  for (const name of ['empty', 'live', 'result', 'ended'] as const) byId(`${name}-view`).hidden = name !== next;
  view = next;
}

function render(): void {
  renderQueue(actions);
  const entry = store.selected;
  const next: View = !entry ? 'empty' : entry.job.status === 'done' ? 'result' : TERMINAL.has(entry.job.status) ? 'ended' : 'live';
  const changed = next !== view || entry?.job.id !== viewJob;
  if (changed) showView(next);
  viewJob = entry?.job.id ?? null;
  if (next !== 'live') hideLive();
  if (next !== 'result') hideCompare();
  if (!entry) return;
  if (next === 'live') showLive(entry);
  else if (next === 'result') {
    showCompare(entry);
    if (changed) {
      // Suggest a model not yet run on this input.
      const tried = new Set([entry.job.options.model, ...store.siblings(entry).map((other) => other.job.options.model)]);
      const suggestion = allModels().find((m) => !tried.has(m.id)) ?? allModels().find((m) => m.id !== entry.job.options.model);
      modelOptions(byId<HTMLSelectElement>('another-model'), suggestion?.id ?? '', entry.job.options.model);
    }
  } else {
    const { job } = entry;
    byId('ended-title').textContent = `${job.input.name}: ${jobLabel(job)}`;
    byId('ended-message').textContent =
      job.status === 'cancelled' ? 'Cancelled. Nothing was written.' : `Failed: ${job.error?.message ?? 'the server gave no reason'}${job.error?.code ? ` (${job.error.code})` : ''}`;
  }
  if (changed) {
    const heading = byId(`${next}-view`).querySelector<HTMLElement>('h2');
    if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
  }
}

async function start(): Promise<void> {
  initOptions();
  initCompare();
  initIntake((files) => void addFiles(files));
  store.subscribe(render);
  byId('download-all').addEventListener('click', () => void downloadAll());
  byId('result-download').addEventListener('click', () => {
    const entry = currentResult();
    if (entry) actions.download(entry);
  });
  byId('live-cancel').addEventListener('click', () => {
    const entry = store.selected;
    if (entry) void actions.cancel(entry);
  });
  byId('ended-remove').addEventListener('click', () => {
    const entry = store.selected;
    if (entry) void actions.remove(entry);
  });
  byId('another-run').addEventListener('click', () => void tryAnotherModel());
  window.addEventListener('resize', () => {
    layoutLive();
    layoutCompare();
  });
  render();

  const [models, jobs] = await Promise.allSettled([listModels(), listJobs()]);
  if (models.status === 'fulfilled') setModels(models.value);
  else {
    byId('model-info').textContent = `The models could not be loaded: ${messageOf(models.reason)}`;
    reportError('The models could not be loaded', models.reason);
  }
  if (jobs.status === 'fulfilled') {
    for (const job of [...jobs.value].reverse()) {
      store.upsert(job);
      follow(job);
    }
    if (!store.selected && store.jobs[0]) store.select(store.jobs[0].job.id);
  } else reportError('The job list could not be loaded', jobs.reason);
  document.body.dataset.ready = 'true';
}

void start();

/**
 * The job list: one row per job with its status and progress, and its actions (show, cancel, download, remove).
 * Rows are kept and updated in place, so keyboard focus survives progress updates.
 */
import { byId, h } from './dom.js';
import { jobLabel, percent, statusLabel } from './format.js';
import type { JobEntry } from './store.js';
import { store } from './store.js';
import { TERMINAL } from './types.js';

export interface QueueActions {
  cancel(entry: JobEntry): void;
  remove(entry: JobEntry): void;
  download(entry: JobEntry): void;
}

interface Row {
  item: HTMLLIElement;
  show: HTMLButtonElement;
  label: HTMLElement;
  status: HTMLElement;
  bar: HTMLProgressElement;
  cancel: HTMLButtonElement;
  download: HTMLButtonElement;
  remove: HTMLButtonElement;
}

const rows = new Map<string, Row>();

function makeRow(entry: JobEntry, actions: QueueActions): Row {
  const id = entry.job.id;
  const current = (): JobEntry | undefined => store.get(id);
  const name = h('span', { class: 'job-name' }, entry.job.input.name);
  const label = h('span', { class: 'job-label' });
  const status = h('span', { class: 'job-status' });
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Progress of ${entry.job.input.name}` });
  const show = h('button', { type: 'button', class: 'job-show' }, name, label, status, bar);
  show.addEventListener('click', () => store.select(id));
  const cancel = h('button', { type: 'button', class: 'small', 'aria-label': `Cancel ${entry.job.input.name}` }, 'Cancel');
  cancel.addEventListener('click', () => {
    const e = current();
    if (e) actions.cancel(e);
  });
  const download = h('button', { type: 'button', class: 'small', 'aria-label': `Download the result of ${entry.job.input.name}` }, 'Download');
  download.addEventListener('click', () => {
    const e = current();
    if (e) actions.download(e);
  });
  const remove = h('button', { type: 'button', class: 'small icon', 'aria-label': `Remove ${entry.job.input.name} from the list`, title: 'Remove' }, '×');
  remove.addEventListener('click', () => {
    const e = current();
    if (e) actions.remove(e);
  });
  const item = h('li', { class: 'job', 'data-job-id': id }, show, h('div', { class: 'job-actions' }, cancel, download, remove));
  return { item, show, label, status, bar, cancel, download, remove };
}

export function renderQueue(actions: QueueActions): void {
  const list = byId<HTMLOListElement>('jobs');
  const seen = new Set<string>();
  const ordered: HTMLLIElement[] = [];
  for (const entry of store.jobs) {
    const { job } = entry;
    seen.add(job.id);
    let row = rows.get(job.id);
    if (!row) {
      row = makeRow(entry, actions);
      rows.set(job.id, row);
    }
    row.item.dataset.status = job.status;
    row.item.dataset.tilesDrawn = String(entry.live.drawn);
    row.label.textContent = jobLabel(job);
    row.status.textContent = statusLabel(job);
    row.bar.value = job.status === 'done' ? 1 : job.progress.fraction;
    row.bar.hidden = job.status !== 'running';
    row.bar.setAttribute('aria-valuetext', percent(job.progress.fraction));
    row.cancel.hidden = TERMINAL.has(job.status);
    row.download.hidden = job.status !== 'done';
    const selected = store.selectedId === job.id;
    row.item.classList.toggle('selected', selected);
    if (selected) row.show.setAttribute('aria-current', 'true');
    else row.show.removeAttribute('aria-current');
    ordered.push(row.item);
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.item.remove();
      rows.delete(id);
    }
  }
  const inOrder = ordered.every((item, i) => list.children[i] === item) && list.children.length === ordered.length;
  if (!inOrder) list.replaceChildren(...ordered);
  byId('queue-empty').hidden = store.jobs.length > 0;
  const done = store.jobs.filter((e) => e.job.status === 'done').length;
  const all = byId<HTMLButtonElement>('download-all');
  all.disabled = done === 0;
  all.textContent = done > 1 ? `Download all (${done})` : 'Download all';
}

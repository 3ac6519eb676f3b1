/**
 * The settings form: model (with its measured quality and speed), its denoise strength when it has one, size
 * (scale, width/height or a box to fit) and output format. `readRequest()` turns it into a validated `JobRequest`
 * or throws a message for people.
 */
import { append, byId, h } from './dom.js';
import { set5x4, speed, strength } from './format.js';
import type { JobRequest, ModelDescriptor, SizeRequest } from './types.js';

let models: ModelDescriptor[] = [];
/** The denoise strength set on the slider, per model id (until then, the model's default). */
const chosenDenoise = new Map<string, number>();

export function modelById(id: string): ModelDescriptor | undefined {
  return models.find((model) => model.id === id || model.aliases?.includes(id));
}

export function allModels(): readonly ModelDescriptor[] {
  return models;
}

/** The text of a model's option: its name with the two figures that matter when choosing. */
export function modelOptionText(model: ModelDescriptor): string {
  const figures = [model.quality?.['Set5 x4'] ? set5x4(model) : '', model.secondsPerMegapixel !== undefined ? speed(model) : '']
    .filter(Boolean)
    .join(', ');
  return figures ? `${model.id} (${figures})` : model.id;
}

export function modelOptions(select: HTMLSelectElement, selected: string, exclude?: string): void {
  select.replaceChildren();
  const groups: Array<[string, ModelDescriptor[]]> = [
    ['Networks', models.filter((m) => m.kind === 'network')],
    ['Classical', models.filter((m) => m.kind !== 'network')],
  ];
  for (const [label, list] of groups) {
    const visible = list.filter((m) => m.id !== exclude);
    if (visible.length === 0) continue;
    const group = h('optgroup', { label });
    for (const model of visible) {
      group.append(h('option', { value: model.id, selected: model.id === selected }, modelOptionText(model)));
    }
    select.append(group);
  }
}

/**
 * The denoise strength to send with a job of this model: the one last set on the slider for it, else the model's
 * default; undefined for a model without one (the field is then not sent).
 */
export function denoiseFor(id: string): number | undefined {
  const model = modelById(id);
  if (model?.denoise === undefined) return undefined;
  return chosenDenoise.get(model.id) ?? model.denoise;
}

/** The slider shows only for a model with a denoise strength, at the strength last chosen for it or its default. */
function syncDenoise(): void {
  const model = modelById(byId<HTMLSelectElement>('model').value);
  const value = model === undefined ? undefined : denoiseFor(model.id);
  byId('denoise-row').hidden = value === undefined;
  if (value === undefined) return;
  // A family of separately trained noise levels (anime: 0, 0.5, 1) snaps to them; a weight blend is continuous.
  const levels = model?.denoiseLevels;
  byId<HTMLInputElement>('denoise').step = levels === undefined || levels.length < 2 ? '0.05' : String(levels[1]! - levels[0]!);
  byId<HTMLInputElement>('denoise').value = String(value);
  byId('denoise-value').textContent = strength(value);
}

export function setModels(list: ModelDescriptor[]): void {
  models = list;
  const select = byId<HTMLSelectElement>('model');
  // The user's choice survives a refresh of the list; before any, the library's default model (DEFAULT_MODEL).
  const current = [select.value, 'photo-gan'].find((id) => modelById(id) !== undefined) ?? list[0]?.id ?? '';
  modelOptions(select, current);
  select.disabled = list.length === 0;
  showModelInfo();
}

function showModelInfo(): void {
  syncDenoise();
  const info = byId('model-info');
  const model = modelById(byId<HTMLSelectElement>('model').value);
  if (!model) {
    info.replaceChildren();
    return;
  }
  const scales = model.kind === 'network' && model.scales ? `native x${model.scales.join(', x')}` : 'any scale';
  info.replaceChildren();
  append(
    info,
    h('p', { class: 'model-name' }, model.name),
    model.description ? h('p', {}, model.description) : null,
    model.suits ? h('p', { class: 'muted' }, `Suits: ${model.suits}`) : null,
    h(
      'dl',
      { class: 'figures' },
      h('div', {}, h('dt', {}, 'Set5 x4 PSNR'), h('dd', {}, set5x4(model))),
      h('div', {}, h('dt', {}, 's/MP'), h('dd', { title: 'seconds per output megapixel, x4, on 2 CPU cores' }, model.secondsPerMegapixel === undefined ? '—' : String(model.secondsPerMegapixel))),
      h('div', {}, h('dt', {}, 'Scales'), h('dd', {}, scales)),
    ),
  );
}

function sizeMode(): string {
  return document.querySelector<HTMLInputElement>('input[name="size-mode"]:checked')?.value ?? 'scale';
}

function syncSizeFields(): void {
  const mode = sizeMode();
  for (const id of ['size-scale', 'size-dims', 'size-fit']) {
    const part = byId(id);
    const active = id === `size-${mode}`;
    part.hidden = !active;
  }
  byId('scale-custom').hidden = byId<HTMLSelectElement>('scale').value !== 'other';
}

export function initOptions(): void {
  byId('model').addEventListener('change', showModelInfo);
  byId('denoise').addEventListener('input', () => {
    const model = modelById(byId<HTMLSelectElement>('model').value);
    const value = Number(byId<HTMLInputElement>('denoise').value);
    if (model !== undefined) chosenDenoise.set(model.id, value);
    byId('denoise-value').textContent = strength(value);
  });
  for (const radio of document.querySelectorAll<HTMLInputElement>('input[name="size-mode"]')) {
    radio.addEventListener('change', syncSizeFields);
  }
  byId('scale').addEventListener('change', () => {
    syncSizeFields();
    if (byId<HTMLSelectElement>('scale').value === 'other') byId<HTMLInputElement>('scale-custom').focus();
  });
  syncSizeFields();
}

function positiveInteger(id: string, label: string): number | undefined {
  const raw = byId<HTMLInputElement>(id).value.trim();
  if (raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${label} must be a whole number of pixels, got “${raw}”`);
  return value;
}

function readSize(): SizeRequest {
  switch (sizeMode()) {
    case 'dims': {
      const width = positiveInteger('width', 'Width');
      const height = positiveInteger('height', 'Height');
      if (width === undefined && height === undefined) throw new Error('Enter a width, a height, or both');
      return { kind: 'size', ...(width !== undefined ? { width } : {}), ...(height !== undefined ? { height } : {}) };
    }
    case 'fit': {
      const raw = byId<HTMLInputElement>('fit').value.trim().toLowerCase().replace(/\s+/g, '').replace('×', 'x');
      if (!/^\d+x\d+$/.test(raw)) throw new Error(`The box to fit in must read like 3840x2160, got “${raw}”`);
      return { kind: 'fit', fit: raw };
    }
    default: {
      const choice = byId<HTMLSelectElement>('scale').value;
      const raw = choice === 'other' ? byId<HTMLInputElement>('scale-custom').value.trim() : choice;
      const scale = Number(raw);
      if (!Number.isFinite(scale) || scale <= 0 || raw === '') throw new Error(`The scale must be a number above 0, got “${raw}”`);
      return { kind: 'scale', scale };
    }
  }
}

/** The form as a job request; throws an Error with a readable message when a field is wrong. */
export function readRequest(): JobRequest {
  const model = byId<HTMLSelectElement>('model').value;
  if (!model) throw new Error('No model is available yet');
  const denoise = denoiseFor(model);
  return { model, size: readSize(), format: byId<HTMLSelectElement>('format').value, ...(denoise !== undefined ? { denoise } : {}) };
}

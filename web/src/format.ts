/** Small formatters for people: sizes, durations, labels. */
import type { Job, JobOptions, ModelDescriptor } from './types.js';

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function eta(ms: number | null): string {
  return ms === null ? 'estimating time left…' : `about ${duration(ms)} left`;
}

export function percent(fraction: number): string {
  return `${Math.round(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** The size part of a job's options, as the CLI would name it: `x2`, `w1920`, `fit 3840x2160`. */
export function sizeLabel(options: JobOptions): string {
  if (options.scale !== undefined) return `x${options.scale}`;
  if (options.fit !== undefined) return `fit ${options.fit}`;
  const parts: string[] = [];
  if (options.width !== undefined) parts.push(`w${options.width}`);
  if (options.height !== undefined) parts.push(`h${options.height}`);
  return parts.join(' ') || 'x4';
}

/** A denoise strength as the slider shows it: `0.35`. */
export function strength(denoise: number): string {
  return denoise.toFixed(2);
}

/** The model (with its denoise strength, when it has one) and the size: `fast x2`, `photo denoise 0.30 x4`. */
export function jobLabel(job: Job): string {
  const { model, denoise } = job.options;
  return `${model}${denoise === undefined ? '' : ` denoise ${strength(denoise)}`} ${sizeLabel(job.options)}`;
}

export function statusLabel(job: Job): string {
  switch (job.status) {
    case 'queued':
      return job.position === undefined || job.position === 0 ? 'queued, next' : `queued, #${job.position + 1}`;
    case 'running':
      return `running ${percent(job.progress.fraction)}`;
    case 'done':
      return job.output ? `done, ${job.output.width}×${job.output.height}` : 'done';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
  }
}

export function set5x4(model: ModelDescriptor): string {
  const q = model.quality?.['Set5 x4'];
  return q ? `${q.psnr.toFixed(2)} dB` : '—';
}

export function speed(model: ModelDescriptor): string {
  return model.secondsPerMegapixel === undefined ? '—' : `${model.secondsPerMegapixel} s/MP`;
}

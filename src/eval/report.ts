/**
 * Formatting evaluation reports: aligned markdown tables for people, numbers rounded as papers round them.
 */
import { basename, dirname, resolve } from 'node:path';
import type { EvalReport } from './evaluate.js';
import type { NoReferenceReport } from './no-reference.js';

export interface FormatOptions {
  /** Add a table with every image's PSNR, SSIM, NIQE (when measured) and time. @default false */
  perImage?: boolean | undefined;
}

/**
 * A report as text: a title line (`Set5 x4, 5 images`), a per-image table when asked, then one row per model with
 * mean PSNR-Y (dB, 2 decimals), mean SSIM-Y (4 decimals), mean NIQE (4 decimals, when the report has it) and
 * seconds per output megapixel. Valid markdown, with columns padded so that it also reads well in a terminal.
 *
 * @example
 * process.stdout.write(formatReport(await evaluate({ dataset, scale: 4, models: ['bicubic'] })));
 */
export function formatReport(report: EvalReport, options: FormatOptions = {}): string {
  const imageCount = report.models[0]?.images.length ?? 0;
  const parts = [`${datasetLabel(report.dataset)} x${report.scale}, ${imageCount} image${imageCount === 1 ? '' : 's'}`];
  const withNiqe = report.models.some((m) => m.meanNiqe !== undefined);
  const niqeCell = (score: number | undefined): string[] => (withNiqe ? [formatNiqe(score)] : []);
  const niqeHeader = withNiqe ? ['NIQE'] : [];
  if (options.perImage) {
    const rows = report.models.flatMap((m) =>
      m.images.map((image) => [
        image.name,
        m.model,
        formatPsnr(image.psnr),
        formatSsim(image.ssim),
        ...niqeCell(image.niqe),
        formatSeconds(image.seconds),
      ]),
    );
    parts.push(markdownTable(['image', 'model', 'PSNR (dB)', 'SSIM', ...niqeHeader, 'seconds'], rows));
  }
  const summary = report.models.map((m) => [
    m.model,
    formatPsnr(m.meanPsnr),
    formatSsim(m.meanSsim),
    ...niqeCell(m.meanNiqe),
    formatSeconds(m.secondsPerOutputMegapixel),
  ]);
  parts.push(markdownTable(['model', 'PSNR (dB)', 'SSIM', ...niqeHeader, 's/MP'], summary));
  return `${parts.join('\n\n')}\n`;
}

/** A no-reference report as text: a title line, a per-image table when asked, then NIQE and s/MP per model. */
export function formatNoReferenceReport(report: NoReferenceReport, options: FormatOptions = {}): string {
  const imageCount = report.models[0]?.images.length ?? 0;
  const parts = [`${datasetLabel(report.inputs)} x${report.scale}, ${imageCount} image${imageCount === 1 ? '' : 's'}, no reference (NIQE: lower is better)`];
  if (options.perImage) {
    const rows = report.models.flatMap((m) => m.images.map((i) => [i.name, m.model, formatNiqe(i.niqe), formatSeconds(i.seconds)]));
    parts.push(markdownTable(['image', 'model', 'NIQE', 'seconds'], rows));
  }
  const summary = report.models.map((m) => [m.model, formatNiqe(m.meanNiqe), formatSeconds(m.secondsPerOutputMegapixel)]);
  parts.push(markdownTable(['model', 'NIQE', 's/MP'], summary));
  return `${parts.join('\n\n')}\n`;
}

/**
 * A table with a header row, a separator and the rows, every column padded to its widest cell; numeric-looking
 * columns are right-aligned.
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(3, h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[-+]?[\d.]+(e[-+]?\d+)?$|^inf$/.test(r[c] ?? '')));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join(' | ')} |`;
  const separator = `|${widths.map((w, c) => (numeric[c] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), separator, ...rows.map(line)].join('\n');
}

/** PSNR in dB to 2 decimals, as papers print it; `inf` for an exact reconstruction. */
export function formatPsnr(db: number): string {
  return Number.isFinite(db) ? db.toFixed(2) : 'inf';
}

/** SSIM to 4 decimals. */
export function formatSsim(ssim: number): string {
  return ssim.toFixed(4);
}

/** NIQE to 4 decimals; `n/a` where it is undefined (a flat image) or was not measured. */
export function formatNiqe(score: number | undefined): string {
  return score !== undefined && Number.isFinite(score) ? score.toFixed(4) : 'n/a';
}

/** Seconds to 3 significant digits (no exponent), whole seconds from 1000 up. */
export function formatSeconds(seconds: number): string {
  return seconds >= 1000 ? seconds.toFixed(0) : seconds.toPrecision(3);
}

/**
 * A short name for a dataset directory: its own name, or its parent's when it is a generic `HR` / `GT` / `X4`
 * folder (`../shared/eval/Set5/HR` -> `Set5`).
 */
export function datasetLabel(dir: string): string {
  const full = resolve(dir);
  const name = basename(full);
  return /^(hr|gt|x\d+|images?)$/i.test(name) ? basename(dirname(full)) : name;
}

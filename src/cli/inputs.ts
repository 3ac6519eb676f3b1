/**
 * Expands the CLI's inputs (files and directories, optionally recursive) into jobs with their output paths.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { fileFormatFromPath, type FileFormat } from '../image/index.js';
import type { SizeRequest } from '../pipeline/size.js';

/** Extensions picked up when a directory is given; single files are accepted whatever their name. */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif', '.heic', '.heif', '.gif', '.apng']);
const FORMAT_EXTENSIONS: Record<FileFormat, string> = { png: '.png', jpeg: '.jpg', webp: '.webp', tiff: '.tif', avif: '.avif', gif: '.gif', apng: '.apng' };

export interface Job {
  readonly input: string;
  readonly output: string;
}

export interface JobError {
  readonly input: string;
  readonly message: string;
}

export interface PlanOptions {
  readonly output?: string | undefined;
  readonly recursive: boolean;
  readonly format?: FileFormat | undefined;
  readonly size: SizeRequest;
  readonly defaultScale: number;
}

/** Lists the jobs; inputs that do not exist come back as errors so that the rest of the run goes on. */
export function planJobs(inputs: readonly string[], options: PlanOptions): { jobs: Job[]; errors: JobError[] } {
  const jobs: Job[] = [];
  const errors: JobError[] = [];
  const singleFile = inputs.length === 1 && isFile(inputs[0]!);
  const outputIsFile = options.output !== undefined && singleFile && !isDirectory(options.output) && !/[\\/]$/.test(options.output);
  const suffix = sizeLabel(options.size, options.defaultScale);
  for (const input of inputs) {
    if (isDirectory(input)) {
      for (const file of listImages(input, options.recursive)) {
        const outDir = join(options.output ?? input, dirname(relative(input, file)));
        jobs.push({ input: file, output: join(outDir, outputName(file, suffix, options.format)) });
      }
    } else if (isFile(input)) {
      const output = outputIsFile
        ? options.output!
        : join(options.output ?? dirname(input), outputName(input, suffix, options.format));
      jobs.push({ input, output });
    } else {
      errors.push({ input, message: `${input}: no such file or directory` });
    }
  }
  return { jobs, errors };
}

/** `<name>@<label>.<ext>`, e.g. `photo@4x.jpg`, `photo@2.5x.png`, `photo@fit3840x2160.webp`. */
export function outputName(input: string, label: string, format: FileFormat | undefined): string {
  const ext = extname(input);
  const name = basename(input, ext);
  // An input extension we can also write is kept as it is spelled (.gif and .apng too: animations stay animated);
  // anything else becomes PNG.
  const outExt = format !== undefined ? FORMAT_EXTENSIONS[format] : fileFormatFromPath(input) !== undefined ? ext : '.png';
  return `${name}@${label}${outExt}`;
}

export function sizeLabel(size: SizeRequest, defaultScale: number): string {
  if (size.fit !== undefined) return `fit${size.fit.width}x${size.fit.height}`;
  if (size.width !== undefined && size.height !== undefined) return `${size.width}x${size.height}`;
  if (size.width !== undefined) return `w${size.width}`;
  if (size.height !== undefined) return `h${size.height}`;
  return `${size.scale ?? defaultScale}x`;
}

function listImages(dir: string, recursive: boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    // Skip our own temporary files and hidden files.
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) {
      if (recursive) found.push(...listImages(path, true));
    } else if (entry.isFile() && IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
      found.push(path);
    }
  }
  return found;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * Expands the CLI's inputs (files and directories, optionally recursive) into jobs with their output paths, and
 * checks the plan before any work: a file output for several inputs, two inputs mapped to one output.
 *
 * Directories: image files by extension, symbolic links followed (dangling ones reported), each real directory
 * walked once (so a link to an ancestor cannot loop) and each real file taken once; hidden files and our own
 * outputs (by name or provenance, ./own-outputs.ts) are left out. Files named on the command line are always taken.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { debuglog } from 'node:util';
import { fileFormatFromPath, type FileFormat } from '../image/index.js';
import type { SizeRequest } from '../pipeline/size.js';
import { ownOutputSign, type OwnOutputSign } from './own-outputs.js';

const debug = debuglog('upscale');

/** Extensions picked up when a directory is given; single files are accepted whatever their name. */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.avif', '.heic', '.heif', '.gif', '.apng']);
const FORMAT_EXTENSIONS: Record<FileFormat, string> = { png: '.png', jpeg: '.jpg', webp: '.webp', tiff: '.tif', avif: '.avif', gif: '.gif', apng: '.apng' };
/** Whether two names that differ in case are one file (default file systems of macOS and Windows). */
const CASE_INSENSITIVE = process.platform === 'darwin' || process.platform === 'win32';

export interface Job {
  readonly input: string;
  readonly output: string;
}

export interface JobError {
  readonly input: string;
  readonly message: string;
}

/** An input found in a directory and left out, with the reason in a few words (for the note and the JSON report). */
export interface SkippedInput {
  readonly input: string;
  readonly reason: string;
}

/** Inputs that would be written to the same output. */
export interface Collision {
  readonly output: string;
  readonly inputs: readonly string[];
}

export interface Plan {
  readonly jobs: Job[];
  readonly errors: JobError[];
  readonly skipped: SkippedInput[];
  /** Outputs that several inputs map to; the run must not start when there are any. */
  readonly collisions: Collision[];
}

export interface PlanOptions {
  readonly output?: string | undefined;
  readonly recursive: boolean;
  readonly format?: FileFormat | undefined;
  readonly size: SizeRequest;
  readonly defaultScale: number;
}

const OWN_OUTPUT_REASON: Record<OwnOutputSign, string> = {
  name: 'an upscale output (by its name)',
  provenance: 'an upscale output (its XMP records upscale)',
};

/**
 * Checks `-o` against the inputs before anything else: several inputs (or a directory) need an output directory,
 * so a path that exists as a file, or that does not exist and has an image extension, is refused.
 * @returns the one-line problem, or `undefined` when the combination is fine
 */
export function outputOptionProblem(inputs: readonly string[], output: string | undefined): string | undefined {
  if (output === undefined || /[\\/]$/.test(output)) return undefined;
  const first = inputs[0];
  if (first === undefined || (inputs.length === 1 && !isDirectory(first))) return undefined;
  const what = inputs.length > 1 ? `${inputs.length} inputs` : `the images of ${first}`;
  const existing = followLink(output);
  if (existing?.isDirectory() === true) return undefined;
  if (existing !== undefined) return `-o ${output}: expected a directory for ${what}, got an existing file`;
  if (IMAGE_EXTENSIONS.has(extname(output).toLowerCase())) {
    return `-o ${output}: expected a directory for ${what}, got a file name (use -o ${output.slice(0, -extname(output).length)}/ or give one input)`;
  }
  return undefined;
}

/**
 * Lists the jobs. Inputs that do not exist and dangling links come back as errors, so that the rest of the run
 * goes on; our own outputs found in directories come back as skipped; outputs claimed by several inputs as
 * collisions.
 */
export async function planJobs(inputs: readonly string[], options: PlanOptions): Promise<Plan> {
  const jobs: Job[] = [];
  const errors: JobError[] = [];
  const skipped: SkippedInput[] = [];
  const singleFile = inputs.length === 1 && isFile(inputs[0]!);
  const outputIsFile = options.output !== undefined && singleFile && !isDirectory(options.output) && !/[\\/]$/.test(options.output);
  const suffix = sizeLabel(options.size, options.defaultScale);
  const named = new Set(inputs.filter(isFile).map((input) => resolve(input)));
  for (const input of inputs) {
    if (isDirectory(input)) {
      const listing = listImages(input, options.recursive);
      errors.push(...listing.errors);
      for (const file of listing.files) {
        const sign = named.has(resolve(file)) ? undefined : await ownOutputSign(file);
        if (sign !== undefined) {
          if (!skipped.some((entry) => entry.input === file)) skipped.push({ input: file, reason: OWN_OUTPUT_REASON[sign] });
          continue;
        }
        const outDir = join(options.output ?? input, dirname(relative(input, file)));
        jobs.push({ input: file, output: join(outDir, outputName(file, suffix, options.format)) });
      }
    } else if (isFile(input)) {
      const output = outputIsFile
        ? options.output!
        : join(options.output ?? dirname(input), outputName(input, suffix, options.format));
      jobs.push({ input, output });
    } else {
      errors.push({ input, message: `${input}: ${isSymbolicLink(input) ? brokenLinkProblem(input) : 'no such file or directory'}` });
    }
  }
  const unique = withoutRepeats(jobs);
  return { jobs: unique, errors, skipped, collisions: findCollisions(unique) };
}

/** Drops a job named twice (`dir dir/x.png`, or one file twice): same input file, same output. */
function withoutRepeats(jobs: readonly Job[]): Job[] {
  const seen = new Set<string>();
  return jobs.filter((job) => {
    const key = `${realPath(job.input)}\0${outputKey(job.output)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function findCollisions(jobs: readonly Job[]): Collision[] {
  const byOutput = new Map<string, Job[]>();
  for (const job of jobs) {
    const key = outputKey(job.output);
    byOutput.set(key, [...(byOutput.get(key) ?? []), job]);
  }
  return [...byOutput.values()].filter((group) => group.length > 1).map((group) => ({ output: group[0]!.output, inputs: group.map((job) => job.input) }));
}

function outputKey(output: string): string {
  const path = resolve(output);
  return CASE_INSENSITIVE ? path.toLowerCase() : path;
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

/** The label of output names; ./own-outputs.ts recognises every form this returns. */
export function sizeLabel(size: SizeRequest, defaultScale: number): string {
  if (size.fit !== undefined) return `fit${size.fit.width}x${size.fit.height}`;
  if (size.width !== undefined && size.height !== undefined) return `${size.width}x${size.height}`;
  if (size.width !== undefined) return `w${size.width}`;
  if (size.height !== undefined) return `h${size.height}`;
  return `${size.scale ?? defaultScale}x`;
}

interface Found {
  readonly path: string;
  /** The file's real path (links resolved), to take each file once. */
  readonly real: string;
  /** Reached through a link (to the file, or to a directory above it): such a path gives way to a direct one. */
  readonly linked: boolean;
}

/**
 * The images in a directory tree, in name order, links followed. Real entries are walked first and linked
 * directories after them, so a tree reachable both ways is listed under its real name.
 */
function listImages(root: string, recursive: boolean): { files: string[]; errors: JobError[] } {
  const found: Found[] = [];
  const errors: JobError[] = [];
  const visited = new Set<string>();
  const linkedDirectories: string[] = [];

  const walk = (dir: string, realDir: string, viaLink: boolean): void => {
    visited.add(realDir);
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      // Hidden files, among them our own temporaries.
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      const image = IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase());
      if (entry.isSymbolicLink()) {
        const target = followLink(path);
        if (target === undefined) {
          if (image) errors.push({ input: path, message: `${path}: ${brokenLinkProblem(path)}` });
        } else if (target.isDirectory()) {
          if (recursive) linkedDirectories.push(path);
        } else if (target.isFile() && image) {
          found.push({ path, real: realPath(path), linked: true });
        }
      } else if (entry.isDirectory()) {
        const real = join(realDir, entry.name);
        if (recursive && !visited.has(real)) walk(path, real, viaLink);
      } else if (entry.isFile() && image) {
        found.push({ path, real: join(realDir, entry.name), linked: viaLink });
      }
    }
  };

  walk(root, realPath(root), false);
  for (let index = 0; index < linkedDirectories.length; index++) {
    const path = linkedDirectories[index]!;
    const real = realPath(path);
    if (visited.has(real)) {
      debug('not descending into %s: %s is already listed (a link to it, or a loop)', path, real);
      continue;
    }
    walk(path, real, true);
  }

  // Each real file once: a link to a file that is listed under its own name (or through another link) is left out.
  const taken = new Set(found.filter((file) => !file.linked).map((file) => file.real));
  const files: string[] = [];
  for (const file of found) {
    if (file.linked) {
      if (taken.has(file.real)) {
        debug('leaving out %s: it links to %s, which is listed already', file.path, file.real);
        continue;
      }
      taken.add(file.real);
    }
    files.push(file.path);
  }
  return { files, errors };
}

/** Why a symbolic link cannot be followed, for the one-line error. */
function brokenLinkProblem(path: string): string {
  try {
    statSync(path);
    return 'cannot follow the symbolic link';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'symbolic link loop, expected a link to an image file';
    if (code === 'ENOENT' || code === 'ENOTDIR') return `dangling symbolic link (its target ${readlinkSync(path)} does not exist)`;
    return `cannot follow the symbolic link (${code ?? String(error)})`;
  }
}

/** What a path (a link followed) is; `undefined` when there is nothing there (or a dangling link, a loop). */
function followLink(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function isSymbolicLink(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}

function isFile(path: string): boolean {
  return followLink(path)?.isFile() ?? false;
}

function isDirectory(path: string): boolean {
  return followLink(path)?.isDirectory() ?? false;
}

import type { ResampleKernel } from '../resample/index.js';
import type { ClassicalModel } from './types.js';

interface ClassicalEntry {
  readonly kernel: ResampleKernel;
  readonly name: string;
  readonly description: string;
  readonly aliases: readonly string[];
}

const ENTRIES: readonly ClassicalEntry[] = [
  { kernel: 'nearest', name: 'Nearest neighbour', description: 'Blocky pixel repetition: pixel art, or to see the original pixels', aliases: [] },
  { kernel: 'bilinear', name: 'Bilinear', description: 'Linear interpolation: fast and soft', aliases: ['linear'] },
  { kernel: 'bicubic', name: 'Bicubic', description: 'Keys cubic (a = -0.5, as MATLAB imresize): the standard baseline', aliases: ['cubic'] },
  { kernel: 'lanczos3', name: 'Lanczos-3', description: 'Windowed sinc: the sharpest interpolation, slight ringing', aliases: ['lanczos'] },
];

/** Default factor for interpolation, which has no native scale. */
const CLASSICAL_DEFAULT_SCALE = 4;

/** The classical method for an id or alias (`lanczos`, `cubic`), or undefined. */
export function classicalModel(id: string): ClassicalModel | undefined {
  const entry = ENTRIES.find((e) => e.kernel === id || e.aliases.includes(id));
  if (entry === undefined) return undefined;
  return {
    kind: 'classical',
    kernel: entry.kernel,
    descriptor: { id: entry.kernel, name: entry.name, kind: 'classical', scale: CLASSICAL_DEFAULT_SCALE, description: entry.description },
  };
}

export function listClassicalModels(): ClassicalModel[] {
  return ENTRIES.map((e) => classicalModel(e.kernel)!);
}

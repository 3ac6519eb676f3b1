/**
 * The supported PyTorch architectures. Detection tries each in turn; the detectors look at disjoint key patterns,
 * so the order does not decide anything (a test checks that no state dict matches two).
 */
import { UpscaleError } from '../../errors.js';
import type { StateDict } from '../weights/tensor.js';
import { compact } from './compact.js';
import { esrgan } from './esrgan.js';
import { imdn } from './imdn.js';
import { imdnCca } from './imdn-cca.js';
import { rfdn } from './rfdn.js';
import { rlfn } from './rlfn.js';
import { span } from './span.js';
import { swinir } from './swinir.js';
import type { Architecture, ArchitectureDescription } from './types.js';

export type { Architecture, ArchitectureDescription } from './types.js';

export const ARCHITECTURES: readonly Architecture<unknown>[] = [esrgan, compact, span, swinir, rfdn, rlfn, imdn, imdnCca] as Architecture<unknown>[];

export interface DetectedArchitecture {
  readonly architecture: Architecture<unknown>;
  readonly params: unknown;
  readonly description: ArchitectureDescription;
}

/** Every architecture whose detector accepts `weights` (normally one). */
export function matchingArchitectures(weights: StateDict): DetectedArchitecture[] {
  const found: DetectedArchitecture[] = [];
  for (const architecture of ARCHITECTURES) {
    const params = architecture.detect(weights);
    if (params !== undefined) found.push({ architecture, params, description: architecture.describe(weights, params) });
  }
  return found;
}

/** The architecture of `weights`, or an error listing the supported ones. */
export function detectArchitecture(weights: StateDict, file: string): DetectedArchitecture {
  const [first] = matchingArchitectures(weights);
  if (first !== undefined) return first;
  const keys = [...weights.keys()];
  const sample = keys.slice(0, 3).join(', ') + (keys.length > 3 ? ', ...' : '');
  throw new UpscaleError(
    'MODEL_INVALID',
    `unsupported architecture: the weights (${keys.length} tensors: ${sample}) match none of ${ARCHITECTURES.map((a) => a.name).join(', ')}`,
    { file },
  );
}

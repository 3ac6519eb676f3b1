/**
 * Our own models: trained by training/ (PyTorch), exported to ONNX and shipped in models/ with a model card each.
 * Figures are measured with `upscale eval` and `npm run bench` on the 2-core reference machine.
 */
import { readFile } from 'node:fs/promises';
import { UpscaleError } from '../../errors.js';
import type { SessionOptions } from '../../runtime/onnx.js';
import { loadOnnxBytes } from '../onnx-file.js';
import type { ModelDescriptor, NetworkModel } from '../types.js';

export interface OwnFamily {
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** ONNX file per native scale, in models/ at the package root. */
  readonly files: Readonly<Record<number, string>>;
}

export const OWN_FAMILIES: readonly OwnFamily[] = [];

export async function loadOwn(family: OwnFamily, scale: number, options: SessionOptions): Promise<NetworkModel> {
  const id = `${family.descriptor.id}-x${scale}`;
  const file = family.files[scale];
  if (file === undefined) throw new UpscaleError('MODEL_NOT_FOUND', `${family.descriptor.id} has no x${scale} network`);
  // models/ sits at the package root, one level above both src/ and dist/.
  const url = new URL(`../../../models/${file}`, import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(url));
  } catch (error) {
    throw new UpscaleError('MODEL_NOT_FOUND', `weights of ${id} are missing (${url.pathname}); reinstall the package`, { cause: error });
  }
  const { aliases: _aliases, scales: _scales, ...extra } = family.descriptor;
  return loadOnnxBytes(bytes, { ...options, label: id }, { id, name: `${family.descriptor.name} x${scale}`, description: family.descriptor.description, extra });
}

import type { SessionOptions } from '../../runtime/onnx.js';
import { loadOnnxBytes } from '../onnx-file.js';
import type { ModelDescriptor, NetworkModel } from '../types.js';

/**
 * Loads one native scale of a built-in family from its ONNX bytes: id `<family>-x<scale>`, the family's
 * descriptor (less what only families have), and the weights' hash for provenance when it is not the ONNX's own.
 */
export function loadVariantBytes(
  bytes: Uint8Array,
  descriptor: ModelDescriptor,
  scale: number,
  options: SessionOptions,
  sha256?: string,
): Promise<NetworkModel> {
  const id = `${descriptor.id}-x${scale}`;
  const { aliases: _aliases, scales: _scales, ...extra } = descriptor;
  return loadOnnxBytes(
    bytes,
    { ...options, label: id },
    { id, name: `${descriptor.name} x${scale}`, description: descriptor.description, extra, ...(sha256 === undefined ? {} : { sha256 }) },
  );
}

/**
 * Built-in models: resolves a family id, alias or variant id (`esrgan-thick`, `thick`, `esrgan-thick-x2`) and loads
 * a variant: the networks shipped as ONNX files in models/ (shipped.ts), the UpscalerJS ones by converting their
 * TensorFlow.js weights to ONNX once (cached by the weights' hash).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UpscaleError } from '../../errors.js';
import type { SessionOptions } from '../../runtime/onnx.js';
import { cachedModel, hashParts } from '../cache.js';
import { convertLayersModel, readLayersModel } from '../tfjs/index.js';
import type { ModelChoice, ModelDescriptor, NetworkModel } from '../types.js';
import { effectiveStrength, loadShipped, SHIPPED_FAMILIES } from './shipped.js';
import { loadVariantBytes } from './variant.js';
import { modelJsonPath, UPSCALERJS_FAMILIES, type UpscalerJsFamily } from './upscalerjs.js';

/** Bump when the converter's output changes, so that cached conversions are redone. */
const CONVERTER_VERSION = 'tfjs-layers-to-onnx 2';

/** A built-in family: what it is, and how to load one of its native scales. */
interface BuiltinFamily {
  readonly descriptor: ModelDescriptor & { readonly scales: readonly number[] };
  /** The strength a family runs at when `denoise` is asked (a levels family rounds to its nearest level). */
  strength?(denoise: number | undefined): number | undefined;
  load(scale: number, options: SessionOptions, denoise?: number): Promise<NetworkModel>;
}

const FAMILIES: readonly BuiltinFamily[] = [
  ...SHIPPED_FAMILIES.map((family) => ({
    descriptor: family.descriptor,
    strength: (denoise: number | undefined) => effectiveStrength(family, denoise),
    load: (scale: number, options: SessionOptions, denoise?: number) => loadShipped(family, scale, options, denoise),
  })),
  ...UPSCALERJS_FAMILIES.map((family) => ({
    descriptor: family.descriptor,
    load: (scale: number, options: SessionOptions) => loadVariant(family, scale, options),
  })),
];

export function listBuiltinModels(): ModelDescriptor[] {
  return FAMILIES.map((family) => family.descriptor);
}

/**
 * The built-in model a name refers to, or undefined when it is not one. `denoise` sets the strength of a family
 * that has one (its descriptor then carries the strength in use); other families ignore it.
 */
export function builtinChoice(spec: string, options: SessionOptions = {}, denoise?: number): ModelChoice | undefined {
  const match = /^(.*?)(?:-x(\d+))?$/.exec(spec);
  const base = match?.[1] ?? spec;
  const family = FAMILIES.find((f) => f.descriptor.id === base || f.descriptor.aliases?.includes(base));
  if (family === undefined) return undefined;
  const only = match?.[2] === undefined ? undefined : Number(match[2]);
  if (only !== undefined && !family.descriptor.scales.includes(only)) {
    throw new UpscaleError(
      'MODEL_NOT_FOUND',
      `${family.descriptor.id} comes at x${family.descriptor.scales.join(', x')}, not x${only}`,
    );
  }
  const scales = only === undefined ? family.descriptor.scales : [only];
  const strength = family.descriptor.denoise === undefined ? undefined : family.strength?.(denoise) ?? denoise ?? family.descriptor.denoise;
  const descriptor = {
    ...family.descriptor,
    ...(only !== undefined && { id: spec, scale: only, scales }),
    ...(strength !== undefined && { denoise: strength }),
  };
  return { descriptor, scales, load: (scale) => family.load(scale, options, strength) };
}

async function loadVariant(family: UpscalerJsFamily, scale: number, options: SessionOptions): Promise<NetworkModel> {
  const id = `${family.descriptor.id}-x${scale}`;
  const modelJson = modelJsonPath(family, scale);
  if (!existsSync(modelJson)) {
    throw new UpscaleError('MODEL_NOT_FOUND', `weights of ${id} are missing (${modelJson}); reinstall ${family.package}`);
  }
  const { key, weightsSha256 } = await fingerprint(modelJson);
  const { bytes } = await cachedModel(key, async () => {
    const converted = convertLayersModel(await readLayersModel(modelJson), { name: id, range: family.range });
    return converted.onnx;
  });
  const model = await loadVariantBytes(bytes, family.descriptor, scale, options, weightsSha256);
  // The converter records the theoretical receptive field (capped); the measured overlap is far smaller.
  return { ...model, network: { ...model.network, receptiveField: family.overlap } };
}

/** The cache key (converter version, model.json and shards) and the SHA-256 of the weights alone. */
async function fingerprint(modelJson: string): Promise<{ key: string; weightsSha256: string }> {
  const json = await readFile(modelJson);
  const manifest = JSON.parse(json.toString('utf8')) as { weightsManifest?: { paths: string[] }[] };
  const shards = await Promise.all(
    (manifest.weightsManifest ?? []).flatMap((group) => group.paths).map((path) => readFile(join(dirname(modelJson), path))),
  );
  const weights = createHash('sha256');
  for (const shard of shards) weights.update(shard);
  return { key: hashParts([new TextEncoder().encode(CONVERTER_VERSION), json, ...shards]), weightsSha256: weights.digest('hex') };
}

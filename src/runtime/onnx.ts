/**
 * The only module that imports onnxruntime-node. A session is created once per model and reused for every tile.
 * Telemetry is off (./no-telemetry.ts, imported first) and onnxruntime's own logger only speaks for fatal errors:
 * its failures reach the user as our one-line errors, not as its coloured log lines.
 */
import './no-telemetry.js';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { UpscaleError } from '../errors.js';
import { fromHalfBits, toHalfBits } from '../float16.js';

export interface TensorShapeInfo {
  readonly name: string;
  /** Numbers for fixed dimensions, strings for symbolic ones, undefined where the model says nothing. */
  readonly dims: readonly (number | string | undefined)[];
  /** Element type as onnxruntime names it (`float32`, `float16`...), undefined where the model says nothing. */
  readonly type?: string;
}

/** onnxruntime's severity levels run from 0 (verbose) to 4 (fatal). */
const FATAL = 4;
ort.env.logLevel = 'fatal';

/** Image tensor types a model may take and give; float16 ones are converted at the edges, the network unchanged. */
const IMAGE_TYPES = ['float32', 'float16'] as const;

export interface SessionOptions {
  /** Threads for one inference. @default the number of CPU cores */
  threads?: number;
  /** Names the model in error messages. */
  label?: string;
}

/** Where a model keeps the channel axis: NCHW (PyTorch, most SR models) or NHWC (TensorFlow exports). */
export type TensorLayout = 'nchw' | 'nhwc';

/** A float32 NCHW image tensor: batch 1 (a float16 model gets and gives float32 too: run() converts at the edges). */
export interface ImageTensor {
  readonly data: Float32Array;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export class OnnxSession {
  readonly input: TensorShapeInfo;
  readonly output: TensorShapeInfo;
  readonly #session: ort.InferenceSession;
  readonly #label: string;

  private constructor(session: ort.InferenceSession, label: string) {
    this.#session = session;
    this.#label = label;
    this.input = describe(session.inputMetadata[0], session.inputNames[0]);
    this.output = describe(session.outputMetadata[0], session.outputNames[0]);
  }

  /** Loads a model; a file that onnxruntime cannot read is a MODEL_INVALID error naming `label`. */
  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<OnnxSession> {
    const label = options.label ?? 'model';
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, {
        logSeverityLevel: FATAL,
        graphOptimizationLevel: 'all',
        executionMode: 'sequential',
        intraOpNumThreads: options.threads ?? availableParallelism(),
        interOpNumThreads: 1,
      });
    } catch (error) {
      throw new UpscaleError('MODEL_INVALID', `not a loadable ONNX model (${firstLine(error)})`, { file: label, cause: error });
    }
    if (session.inputNames.length !== 1 || session.outputNames.length < 1) {
      await session.release();
      throw new UpscaleError(
        'MODEL_INVALID',
        `expected a model with one image input, got ${session.inputNames.length} inputs and ${session.outputNames.length} outputs`,
        { file: label },
      );
    }
    const created = new OnnxSession(session, label);
    const inputType = created.input.type;
    if (inputType !== undefined && !(IMAGE_TYPES as readonly string[]).includes(inputType)) {
      await session.release();
      throw new UpscaleError('MODEL_INVALID', `expected a float32 or float16 image input, got ${inputType}`, { file: label });
    }
    return created;
  }

  /**
   * Runs one NCHW image through the model and returns its first output, NCHW. A model whose tensors are
   * channels-last (`layout: 'nhwc'`, as TensorFlow exports are) gets its input and output transposed here.
   */
  async run(image: ImageTensor, layout: TensorLayout = 'nchw'): Promise<ImageTensor> {
    const data = layout === 'nchw' ? image.data : toChannelsLast(image);
    const dims = layout === 'nchw' ? [1, image.channels, image.height, image.width] : [1, image.height, image.width, image.channels];
    const feed = this.input.type === 'float16' ? new ort.Tensor('float16', toHalfBits(data), dims) : new ort.Tensor('float32', data, dims);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.#session.run({ [this.input.name]: feed }, { logSeverityLevel: FATAL });
    } catch (error) {
      throw new UpscaleError('INFERENCE_FAILED', `inference failed on a ${image.width}x${image.height} input (${firstLine(error)})`, {
        file: this.#label,
        cause: error,
      });
    } finally {
      feed.dispose();
    }
    const output = result[this.output.name];
    if (output === undefined || !(IMAGE_TYPES as readonly string[]).includes(output.type) || output.dims.length !== 4 || output.dims[0] !== 1) {
      throw new UpscaleError('MODEL_INVALID', `expected a float32 or float16 NCHW output, got ${output?.type} [${output?.dims.join(', ')}]`, {
        file: this.#label,
      });
    }
    const values = output.type === 'float16' ? fromHalfBits(output.data as Uint16Array) : (output.data as Float32Array);
    if (layout === 'nhwc') {
      const [, height = 0, width = 0, channels = 0] = output.dims;
      return toChannelsFirst(values, channels, height, width);
    }
    const [, channels = 0, height = 0, width = 0] = output.dims;
    return { data: values, channels, height, width };
  }

  async dispose(): Promise<void> {
    await this.#session.release();
  }
}

function describe(metadata: ort.InferenceSession.ValueMetadata | undefined, name: string | undefined): TensorShapeInfo {
  if (metadata === undefined || !metadata.isTensor) return { name: name ?? '', dims: [] };
  return { name: metadata.name, dims: metadata.shape.map((d) => (typeof d === 'number' && d < 0 ? undefined : d)), type: metadata.type };
}

/**
 * onnxruntime's message, first line, without the C++ source location and function signature it carries
 * (`/onnxruntime_src/.../reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(...) `), which say nothing to
 * a user: `Reshape node 'reshape': input_shape_size == requested_shape_size was false. The input tensor cannot be...`.
 */
function firstLine(error: unknown): string {
  const text = ((error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '').trim();
  const node = /^Non-zero status code returned while running (\w+) node\. Name:'([^']*)' Status Message: (.*)$/.exec(text);
  const detail = (node?.[3] ?? text).replace(/\S*onnxruntime_src\/\S+:\d+ (?:[\w:~<>, &*]+\([^)]*\)(?: const)? )?/g, '').trim();
  return node === undefined || node === null ? detail : `${node[1]} node '${node[2]}': ${detail}`;
}

function toChannelsLast(image: ImageTensor): Float32Array {
  const { data, channels, height, width } = image;
  const plane = height * width;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) out[i * channels + c] = data[c * plane + i]!;
  }
  return out;
}

function toChannelsFirst(data: Float32Array, channels: number, height: number, width: number): ImageTensor {
  const plane = height * width;
  const out = new Float32Array(data.length);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = data[i * channels + c]!;
  }
  return { data: out, channels, height, width };
}

/**
 * Keras activation functions as ONNX opset-17 nodes, shared by the Activation layer and the `activation` fused
 * into Conv2D. Each is elementwise except softmax / log_softmax, which act over channels (NHWC axis -1 = NCHW 1).
 */
import { attr } from '../../onnx/index.js';
import type { Attributes, GraphBuilder } from '../../onnx/index.js';

type Emit = (g: GraphBuilder, x: string) => string;

/** The float32 scalar `value` as an initializer, one per distinct value and graph. */
export function scalar(g: GraphBuilder, value: number): string {
  let cache = scalars.get(g);
  if (cache === undefined) scalars.set(g, (cache = new Map()));
  let name = cache.get(value);
  if (name === undefined) {
    name = g.initializer(g.uniqueName(`const_${value}`), [], Float32Array.of(value));
    cache.set(value, name);
  }
  return name;
}
const scalars = new WeakMap<GraphBuilder, Map<number, string>>();

const unary = (op: string, attributes: Attributes = {}): Emit => (g, x) => g.node(op, [x], attributes);
const times = (g: GraphBuilder, x: string, gate: string): string => g.node('Mul', [x, gate]);

// SELU constants as TensorFlow writes them (tfjs-core selu_util.ts).
const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

const EMITTERS: Readonly<Record<string, Emit | null>> = {
  linear: null,
  relu: unary('Relu'),
  relu6: (g, x) => g.node('Clip', [x, scalar(g, 0), scalar(g, 6)]),
  elu: unary('Elu', { alpha: attr.float(1) }),
  selu: unary('Selu', { alpha: attr.float(SELU_ALPHA), gamma: attr.float(SELU_SCALE) }),
  sigmoid: unary('Sigmoid'),
  // Keras 2 and TF.js: clip(0.2·x + 0.5, 0, 1). (Keras 3 changed it to relu6(x + 3) / 6; its files say the same name.)
  hard_sigmoid: unary('HardSigmoid', { alpha: attr.float(0.2), beta: attr.float(0.5) }),
  tanh: unary('Tanh'),
  softplus: unary('Softplus'),
  softsign: unary('Softsign'),
  exponential: unary('Exp'),
  swish: (g, x) => times(g, x, g.node('Sigmoid', [x])),
  silu: (g, x) => times(g, x, g.node('Sigmoid', [x])),
  // Exact GELU, Keras's default (approximate=False): x · ½(1 + erf(x/√2)). ONNX Gelu arrives only in opset 20.
  gelu: (g, x) => {
    const erf = g.node('Erf', [g.node('Mul', [x, scalar(g, Math.SQRT1_2)])]);
    return times(g, x, g.node('Mul', [g.node('Add', [erf, scalar(g, 1)]), scalar(g, 0.5)]));
  },
  mish: (g, x) => times(g, x, g.node('Tanh', [g.node('Softplus', [x])])),
  // Keras 3's `leaky_relu` activation (negative_slope 0.2).
  leaky_relu: unary('LeakyRelu', { alpha: attr.float(0.2) }),
  softmax: unary('Softmax', { axis: attr.int(1) }),
  log_softmax: unary('LogSoftmax', { axis: attr.int(1) }),
};

/** Activation names this converter knows, in Keras's snake_case spelling. */
export const ACTIVATION_NAMES: readonly string[] = Object.keys(EMITTERS);

/**
 * Normalizes an activation as written in a layer config: a name in snake_case (Keras) or camelCase (TF.js:
 * 'hardSigmoid'), or `{ class_name, config }`. Returns undefined for anything else.
 */
export function activationName(value: unknown): string | undefined {
  if (value === undefined || value === null) return 'linear';
  const name = typeof value === 'object' && !Array.isArray(value) ? (value as { class_name?: unknown }).class_name : value;
  if (typeof name !== 'string') return undefined;
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Appends the activation to `x` and returns the output value (`x` itself for 'linear').
 * @returns undefined when the activation is unknown, for the caller to report with the layer's name
 */
export function emitActivation(g: GraphBuilder, x: string, name: string): string | undefined {
  if (!(name in EMITTERS)) return undefined;
  const emit = EMITTERS[name];
  return emit === null || emit === undefined ? x : emit(g, x);
}

/**
 * Activations: the ONNX subgraphs for mish, hard swish and clip, the activation fused into Convolution and friends
 * (parameters 9 and 10), and `elementwise`, which makes a one-in one-out converter from an elementwise emitter (the
 * table in index.ts builds ReLU, Sigmoid, TanH, Swish, Mish, ELU, HardSigmoid, HardSwish and Clip with it).
 */
import { attr } from '../../../onnx/index.js';
import { FLT_MAX, arrayParam, counts, imageOrVector, intParam, same, scalar } from './context.js';
import type { LayerContext, LayerConverter } from './context.js';

export function mish(ctx: LayerContext, x: string): string {
  return ctx.node('Mul', [x, ctx.node('Tanh', [ctx.node('Softplus', [x])])]);
}

export function hardSwish(ctx: LayerContext, x: string, alpha: number, beta: number): string {
  return ctx.node('Mul', [x, ctx.node('HardSigmoid', [x], { alpha: attr.float(alpha), beta: attr.float(beta) })]);
}

export function clip(ctx: LayerContext, x: string, min: number, max: number): string {
  return ctx.node('Clip', [x, scalar(ctx, 'min', Math.max(min, -FLT_MAX)), scalar(ctx, 'max', Math.min(max, FLT_MAX))]);
}

/** The activation fused into Convolution and friends (parameters 9 and 10; ncnn's fused_activation.h). */
export function fusedActivation(ctx: LayerContext, x: string): string {
  const type = intParam(ctx, 9, 0);
  const params = arrayParam(ctx, 10);
  const need = (n: number): readonly number[] => {
    if (params.length < n) ctx.fail(`activation type ${type} needs ${n} activation parameter${n === 1 ? '' : 's'} (parameter 10), got ${params.length}`);
    return params;
  };
  switch (type) {
    case 0:
      return x;
    case 1:
      return ctx.node('Relu', [x]);
    case 2:
      return ctx.node('LeakyRelu', [x], { alpha: attr.float(need(1)[0]!) });
    case 3:
      return clip(ctx, x, need(2)[0]!, params[1]!);
    case 4:
      return ctx.node('Sigmoid', [x]);
    case 5:
      return mish(ctx, x);
    case 6:
      return hardSwish(ctx, x, need(2)[0]!, params[1]!);
    default:
      return ctx.fail(`unsupported fused activation type ${type} (parameter 9; 1 ReLU, 2 leaky ReLU, 3 clip, 4 sigmoid, 5 mish, 6 hard swish)`);
  }
}

/** A one-in one-out layer computing `emit(x)` elementwise, on an image or a 1-D blob. */
export function elementwise(emit: (ctx: LayerContext, x: string) => string): LayerConverter {
  return (ctx, inputs) => {
    counts(ctx, 1, 1);
    const x = imageOrVector(ctx, inputs[0]);
    return [same(x, emit(ctx, x.name))];
  };
}

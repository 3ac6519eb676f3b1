/**
 * Every built-in UpscalerJS ESRGAN model (slim, medium, thick × 2, 3, 4, 8), converted to ONNX and run by
 * onnxruntime, equals TensorFlow.js's output of the same weights within 1e-4 per value on a 0..1 scale.
 * TF.js runs on its WASM backend (XNNPACK) where it starts, else on the pure-JS cpu backend.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { readOnnxInfo } from '../src/onnx/index.js';
import { convertLayersModel, readLayersModel } from '../src/models/tfjs/index.js';
import { modelJsonPath, UPSCALERJS_FAMILIES } from '../src/models/builtin/upscalerjs.js';
import { randomFloats } from './fixtures/models.js';
import { loadTfjsModel, predictNchw, registerUpscalerLayers, useTfjs } from './helpers/tfjs.js';

const TOLERANCE = 1e-4;

let backend = '';
before(async () => {
  backend = await useTfjs('wasm');
  registerUpscalerLayers([2, 3, 4, 8]);
});

for (const family of UPSCALERJS_FAMILIES) {
  for (const scale of family.descriptor.scales) {
    const name = `${family.descriptor.id}-x${scale}`;
    test(`${name}: onnxruntime output equals TF.js within ${TOLERANCE} (0..1 scale)`, async (t) => {
      const { range } = family;
      // Thick costs ~10× slim per pixel: a smaller (still non-square) input keeps the file quick.
      const [height, width] = family.descriptor.id === 'esrgan-thick' ? [8, 7] : [12, 10];
      const path = modelJsonPath(family, scale);
      const converted = convertLayersModel(await readLayersModel(path), { name, range });
      assert.equal(converted.scale, scale);
      assert.equal(readOnnxInfo(converted.onnx).metadata['upscale.range'], range === 1 ? '0-1' : '0-255');

      const input = randomFloats(3 * height * width, 1000 + scale).map((v) => v * range);
      const session = await ort.InferenceSession.create(converted.onnx, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
      let ours: ort.Tensor;
      try {
        const result = await session.run({ input: new ort.Tensor('float32', input, [1, 3, height, width]) });
        assert.ok(result['output']);
        ours = result['output'];
      } finally {
        await session.release();
      }
      const model = await loadTfjsModel(path);
      const theirs = await predictNchw(model, input, [3, height, width]);
      model.dispose();

      assert.deepEqual(ours.dims, [1, 3, height * scale, width * scale]);
      assert.deepEqual(theirs.dims, [1, 3, height * scale, width * scale]);
      const a = ours.data as Float32Array;
      let worst = 0;
      let at = 0;
      for (let i = 0; i < a.length; i++) {
        const d = Math.abs((a[i] as number) - (theirs.data[i] as number)) / range;
        if (!(d <= worst)) [worst, at] = [d, i];
      }
      t.diagnostic(`max |diff| ${worst.toExponential(2)} (TF.js ${backend} backend)`);
      assert.ok(worst <= TOLERANCE, `${name}: max |diff| ${worst} (0..1 scale) at ${at}: ours ${a[at]}, TF.js ${theirs.data[at]}`);
    });
  }
}

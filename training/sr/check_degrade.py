"""Unit checks of the realistic degradation: shape, dtype and range, determinism for a seed, variety across seeds.

Run: /usr/bin/python3 -m training.sr.check_degrade
"""
import sys
import time

import numpy as np
import torch

from .degrade import PRESETS, _sinc_kernel, _gaussian_kernel, imresize_matlab, realistic


def main() -> int:
    torch.set_num_threads(1)
    fails = []
    img_rng = np.random.default_rng(123)
    # A smooth image with edges, so blur/JPEG have something to act on.
    yy, xx = np.mgrid[0:96, 0:128]
    hr = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx // 16 + yy // 16) % 2) * 255], -1).astype(np.uint8)
    hr = np.clip(hr + img_rng.integers(0, 8, hr.shape), 0, 255).astype(np.uint8)

    for k in (_gaussian_kernel(np.random.default_rng(1), 21, (0.2, 3.0)), _sinc_kernel(np.pi / 2, 21)):
        if not (k.shape == (21, 21) and abs(k.sum() - 1) < 1e-9 and np.isfinite(k).all()):
            fails.append(f'kernel not normalised: sum {k.sum()}')

    t0 = time.time()
    outs = []
    for seed in range(8):
        lr = realistic(hr, 4, np.random.default_rng(seed))
        if lr.shape != (24, 32, 3) or lr.dtype != np.uint8:
            fails.append(f'seed {seed}: expected (24, 32, 3) uint8, got {lr.shape} {lr.dtype}')
        again = realistic(hr, 4, np.random.default_rng(seed))
        if not np.array_equal(lr, again):
            fails.append(f'seed {seed}: not deterministic')
        outs.append(lr)
    if len({o.tobytes() for o in outs}) < 8:
        fails.append('different seeds gave identical outputs')
    # Degraded LR should stay close to the clean bicubic LR on average (same content), but not equal to it.
    clean = imresize_matlab(hr, 24, 32).astype(np.float64)
    mad = np.mean([np.abs(o.astype(np.float64) - clean).mean() for o in outs])
    if not 1 < mad < 60:
        fails.append(f'mean abs difference to clean LR {mad:.1f}, expected between 1 and 60')
    mild = [realistic(hr, 4, np.random.default_rng(seed), PRESETS['realistic-mild']) for seed in range(4)]
    if not all(m.shape == (24, 32, 3) for m in mild) or len({m.tobytes() for m in mild}) < 4:
        fails.append('realistic-mild: wrong shape or identical outputs across seeds')
    if not np.array_equal(mild[0], realistic(hr, 4, np.random.default_rng(0), PRESETS['realistic-mild'])):
        fails.append('realistic-mild: not deterministic')
    mad_mild = np.mean([np.abs(m.astype(np.float64) - clean).mean() for m in mild])
    print(f'realistic-mild: 4 seeds, mean |LR - clean bicubic LR| = {mad_mild:.1f}')
    x2 = realistic(hr, 2, np.random.default_rng(0))
    if x2.shape != (48, 64, 3):
        fails.append(f'x2: expected (48, 64, 3), got {x2.shape}')
    print(f'realistic: 8 seeds, mean |LR - clean bicubic LR| = {mad:.1f}, {(time.time() - t0) / 17 * 1000:.0f} ms/image')
    for f in fails:
        print('FAIL', f)
    print('ok' if not fails else f'{len(fails)} failures')
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())

"""Verifies imresize_matlab against every LR_bicubic X2/X4 file of Set5 and Set14, byte for byte.

Verification only: the test sets are never used for training.
Run: /usr/bin/python3 -m training.sr.check_bicubic  (from the repository root)
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .degrade import bicubic_lr

EVAL = Path(__file__).resolve().parents[3] / 'shared' / 'eval'


def main() -> int:
    bad = total = 0
    for dataset in ('Set5', 'Set14'):
        for scale in (2, 4):
            for hr_path in sorted((EVAL / dataset / 'HR').glob('*.png')):
                hr = np.asarray(Image.open(hr_path))
                ref = np.asarray(Image.open(EVAL / dataset / 'LR_bicubic' / f'X{scale}' / f'{hr_path.stem}x{scale}.png'))
                gray = hr.ndim == 2
                lr = bicubic_lr(hr[..., None] if gray else hr, scale)
                lr = lr[..., 0] if gray else lr
                total += 1
                if lr.shape != ref.shape or not np.array_equal(lr, ref):
                    bad += 1
                    diff = 'shape' if lr.shape != ref.shape else int(np.count_nonzero(lr != ref))
                    print(f'MISMATCH {dataset} x{scale} {hr_path.name}: {diff} {lr.shape} vs {ref.shape}')
    print(f'{total - bad}/{total} LR_bicubic files reproduced byte for byte')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())

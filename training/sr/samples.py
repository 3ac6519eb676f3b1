"""Contact sheet of the degradations on random HR crops of the training set, to judge them by eye.

Run: /usr/bin/python3 -m training.sr.samples /tmp/sheet.png [--n 5] [--crop 192] [--seed 0] [--presets bicubic,realistic,realistic-mild]
Each row: the HR crop, then for each preset its LR (crop/4 pixels) shown enlarged 4x with nearest neighbour, so
noise, blur, ringing and JPEG blocks are visible at the pixel level. Write it outside the repository.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import list_images, load_rgb
from .degrade import PRESETS, bicubic_lr, realistic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('output', type=Path)
    ap.add_argument('--n', type=int, default=5)
    ap.add_argument('--crop', type=int, default=192)
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--presets', default='bicubic,' + ','.join(PRESETS))
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    paths = list_images()
    presets = a.presets.split(',')
    rows = []
    while len(rows) < a.n:
        img = load_rgb(paths[rng.integers(len(paths))])
        c = a.crop
        if img.shape[0] < c or img.shape[1] < c:
            continue
        y, x = rng.integers(0, img.shape[0] - c + 1), rng.integers(0, img.shape[1] - c + 1)
        hr = np.ascontiguousarray(img[y:y + c, x:x + c])
        row = [hr]
        for p in presets:
            lr = bicubic_lr(hr, a.scale) if p == 'bicubic' else \
                realistic(hr, a.scale, np.random.default_rng(rng.integers(2 ** 63)), PRESETS[p])
            row.append(lr.repeat(a.scale, 0).repeat(a.scale, 1))
        rows.append(np.concatenate([np.pad(r, ((2, 2), (2, 2), (0, 0)), constant_values=255) for r in row], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(a.output)
    print(f'{a.output}: {a.n} rows of HR | ' + ' | '.join(presets))


if __name__ == '__main__':
    main()

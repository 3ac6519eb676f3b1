"""Training data: the HR images of ../shared/train, held in memory with their bicubic LR, sampled as random
aligned patch pairs with flips and 90-degree rotations.

Why whole images and not a patch pool: 250 MP of uint8 RGB is about 0.75 GB (+1/16 for LR), which fits easily,
and computing LR on the whole image (as the benchmark does) avoids crop-border effects in the training inputs.
The decoded arrays are cached in training/out/cache/ so later runs start in seconds.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from .degrade import bicubic_lr

TRAIN_ROOT = Path(__file__).resolve().parents[3] / 'shared' / 'train'
TRAIN_SETS = ('T91', 'BSDS400', 'City100_NikonD5500', 'SunHays80')
CACHE = Path(__file__).resolve().parents[1] / 'out' / 'cache'
EXTS = {'.png', '.jpg', '.jpeg', '.webp', '.bmp'}


def list_images(sets=TRAIN_SETS, root: Path = TRAIN_ROOT, limit: int | None = None) -> list[Path]:
    paths = [p for s in sets for p in sorted((root / s).iterdir()) if p.suffix.lower() in EXTS]
    return paths[:limit] if limit else paths


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB'))


class PairedImages:
    """HR images (cropped to a multiple of `scale`) and their MATLAB-bicubic LR, all uint8 HWC."""

    def __init__(self, paths: list[Path], scale: int, use_cache: bool = True):
        self.scale = scale
        digest = hashlib.sha1('\n'.join(str(p) for p in paths).encode()).hexdigest()[:12]
        key = f'x{scale}_{len(paths)}_{digest}.npz'
        cache = CACHE / key
        if use_cache and cache.exists():
            z = np.load(cache, allow_pickle=True)
            self.hr, self.lr = list(z['hr']), list(z['lr'])
        else:
            self.hr, self.lr = [], []
            for p in paths:
                hr = load_rgb(p)
                h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
                self.hr.append(np.ascontiguousarray(hr[:h, :w]))
                self.lr.append(bicubic_lr(hr, scale))
            if use_cache:
                CACHE.mkdir(parents=True, exist_ok=True)
                hr_arr = np.empty(len(self.hr), dtype=object)
                lr_arr = np.empty(len(self.lr), dtype=object)
                hr_arr[:], lr_arr[:] = self.hr, self.lr
                np.savez(cache, hr=hr_arr, lr=lr_arr)
        # Sample images in proportion to their LR area, so every pixel is equally likely.
        areas = np.array([lr.shape[0] * lr.shape[1] for lr in self.lr], dtype=np.float64)
        self.prob = areas / areas.sum()

    def megapixels(self) -> float:
        return sum(h.shape[0] * h.shape[1] for h in self.hr) / 1e6

    def batch(self, rng: np.random.Generator, size: int, lr_patch: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` random aligned pairs: LR [N, lr_patch, lr_patch, 3], HR [N, s*lr_patch, s*lr_patch, 3], uint8."""
        s, p = self.scale, lr_patch
        lrs = np.empty((size, p, p, 3), np.uint8)
        hrs = np.empty((size, p * s, p * s, 3), np.uint8)
        for n in range(size):
            while True:
                i = rng.choice(len(self.lr), p=self.prob)
                lr, hr = self.lr[i], self.hr[i]
                if lr.shape[0] >= p and lr.shape[1] >= p:
                    break
            y = rng.integers(0, lr.shape[0] - p + 1)
            x = rng.integers(0, lr.shape[1] - p + 1)
            a, b = lr[y:y + p, x:x + p], hr[y * s:(y + p) * s, x * s:(x + p) * s]
            # 8 dihedral transforms: optional transpose, then optional flips.
            t = rng.integers(0, 8)
            if t & 1:
                a, b = a.transpose(1, 0, 2), b.transpose(1, 0, 2)
            if t & 2:
                a, b = a[::-1], b[::-1]
            if t & 4:
                a, b = a[:, ::-1], b[:, ::-1]
            lrs[n], hrs[n] = a, b
        return lrs, hrs


class RealisticBatches:
    """Batches whose LR is made on the fly by `degrade.realistic` from random HR patches (for the photo models).

    The main generator `rng` draws everything (image, position, dihedral transform, and one 63-bit seed per sample
    for the degradation), so a batch is a pure function of the generator state. `workers` processes degrade the
    patches of the next `depth` batches while the current one trains; `state()` is the generator state right after
    the last batch handed out (not after the prefetched ones), which is what a checkpoint must store for an exact
    resume. Any number of workers (0 = in this process) gives identical batches.
    """

    def __init__(self, data: PairedImages, rng: np.random.Generator, size: int, lr_patch: int, preset: str,
                 workers: int = 2, depth: int = 3):
        import multiprocessing as mp
        from collections import deque
        self.data, self.rng, self.size, self.p, self.preset = data, rng, size, lr_patch, preset
        self.pool = mp.get_context('spawn').Pool(workers, initializer=_worker_init) if workers > 0 else None
        self.depth = depth if workers > 0 else 0
        self.consumed = rng.bit_generator.state
        self.queue = deque()
        self.wait = 0.0  # seconds the training loop spent waiting for data
        for _ in range(self.depth):
            self._submit()

    def _spec(self) -> tuple[list, np.ndarray]:
        s, hp, rng = self.data.scale, self.p * self.data.scale, self.rng
        tasks, hrs = [], np.empty((self.size, hp, hp, 3), np.uint8)
        for n in range(self.size):
            while True:
                i = rng.choice(len(self.hr_list), p=self.data.prob)
                hr = self.hr_list[i]
                if hr.shape[0] >= hp and hr.shape[1] >= hp:
                    break
            y = rng.integers(0, hr.shape[0] - hp + 1)
            x = rng.integers(0, hr.shape[1] - hp + 1)
            b = hr[y:y + hp, x:x + hp]
            t = rng.integers(0, 8)
            if t & 1:
                b = b.transpose(1, 0, 2)
            if t & 2:
                b = b[::-1]
            if t & 4:
                b = b[:, ::-1]
            hrs[n] = b
            tasks.append((hrs[n], int(rng.integers(0, 2 ** 63)), s, self.preset))
        return tasks, hrs

    @property
    def hr_list(self) -> list[np.ndarray]:
        return self.data.hr

    def _submit(self) -> None:
        from .degrade import degrade_task
        tasks, hrs = self._spec()
        self.queue.append((self.rng.bit_generator.state, self.pool.map_async(degrade_task, tasks, chunksize=2), hrs))

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        """LR [N, p, p, 3], HR [N, s*p, s*p, 3], uint8, like `PairedImages.batch`."""
        import time
        from .degrade import degrade_task
        t0 = time.time()
        if self.pool is None:
            tasks, hrs = self._spec()
            lrs = np.stack([degrade_task(t) for t in tasks])
            self.consumed = self.rng.bit_generator.state
        else:
            state, res, hrs = self.queue.popleft()
            lrs = np.stack(res.get())
            self.consumed = state
            self._submit()
            self.wait += time.time() - t0
        return lrs, hrs

    def state(self) -> dict:
        return self.consumed

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def _worker_init() -> None:
    import torch
    torch.set_num_threads(1)

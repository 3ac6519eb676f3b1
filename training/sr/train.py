"""Trains a PlainSR model with L1 loss, Adam, cosine LR, and an EMA of the weights; resumable.

Run (from the repository root):
  /usr/bin/python3 -m training.sr.train --arch plain-c32-l8 --scale 4 --iters 6000 --out training/out/fast-x4
  ... add --resume to continue from <out>/last.pt exactly (model, EMA, optimizer, scheduler, RNGs, iteration).
`--minutes M` stops cleanly (with a checkpoint) after M minutes of training, whatever --iters says; the LR schedule
still follows --iters, so a resumed run continues the same curve.
`--degradation bicubic` (default) trains on the cached MATLAB-bicubic LR; `realistic` / `realistic-mild` make each
LR patch on the fly from an HR patch of patch*scale with `degrade.realistic` (its preset), a fresh seed per sample
drawn from the run's numpy generator, in `--workers` spawned processes that prefetch a few batches.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .data import PairedImages, RealisticBatches, list_images
from .degrade import PRESETS, degrade_task
from .model import build, count_params, widen

EVAL = Path(__file__).resolve().parents[3] / 'shared' / 'eval'


def to_tensor(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2).float().div_(255)


def set5_realistic(scale: int, preset: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Set5 (HR, LR) pairs with the realistic degradation of `preset`, seed = image index: a fixed validation set."""
    pairs = []
    for n, hr_path in enumerate(sorted((EVAL / 'Set5' / 'HR').glob('*.png'))):
        hr = np.asarray(Image.open(hr_path).convert('RGB'))
        h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
        hr = np.array(hr[:h, :w])  # a writable copy
        pairs.append((hr, degrade_task((hr, n, scale, preset))))
    return pairs


def psnr_y_set5(model: torch.nn.Module, scale: int, pairs=None) -> float:
    """Validation only (never trained on): Set5 PSNR-Y with the standard protocol, from the LR_bicubic files
    (or from the given (HR, LR) pairs). Close to, but not a replacement for, `upscale eval`."""
    vals = []
    for n, hr_path in enumerate(sorted((EVAL / 'Set5' / 'HR').glob('*.png'))):
        if pairs is not None:
            hr, lr = pairs[n][0].astype(np.float64), pairs[n][1]
        else:
            hr = np.asarray(Image.open(hr_path).convert('RGB')).astype(np.float64)
            lr = np.asarray(Image.open(EVAL / 'Set5' / 'LR_bicubic' / f'X{scale}' / f'{hr_path.stem}x{scale}.png').convert('RGB'))
        with torch.no_grad():
            sr = model(to_tensor(lr[None]))[0].clamp(0, 1).mul(255).round().permute(1, 2, 0).numpy().astype(np.float64)
        hr = hr[:sr.shape[0], :sr.shape[1]]
        y = lambda im: 16 + (65.481 * im[..., 0] + 128.553 * im[..., 1] + 24.966 * im[..., 2]) / 255
        d = (y(sr) - y(hr))[scale:-scale, scale:-scale]
        vals.append(10 * math.log10(255 ** 2 / np.mean(d * d)))
    return float(np.mean(vals))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', default='plain-c32-l8')
    ap.add_argument('--scale', type=int, default=4)
    ap.add_argument('--iters', type=int, default=6000, help='length of the LR schedule')
    ap.add_argument('--minutes', type=float, default=None, help='stop (with a checkpoint) after this long')
    ap.add_argument('--stop-at', type=int, default=None, help='stop (with a checkpoint) at this iteration')
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--patch', type=int, default=48, help='LR patch side')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--lr-min', type=float, default=1e-5)
    ap.add_argument('--ema', type=float, default=0.999)
    ap.add_argument('--ckpt-every', type=int, default=500)
    ap.add_argument('--log-every', type=int, default=50)
    ap.add_argument('--images', type=int, default=None, help='use only the first N training images (smoke test)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--degradation', default='bicubic', choices=['bicubic', *PRESETS],
                    help='bicubic: cached MATLAB-bicubic LR; realistic*: LR made on the fly (degrade.PRESETS)')
    ap.add_argument('--workers', type=int, default=2,
                    help='realistic*: degradation processes (0 = in the training process); results do not depend on it')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--no-cache', action='store_true')
    ap.add_argument('--no-val', action='store_true')
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--resume', action='store_true')
    ap.add_argument('--init', type=Path, default=None,
                    help="warm start: a checkpoint whose EMA weights start this new run (new optimizer and schedule); "
                         "a narrower network of the same depth is widened first (model.widen)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    last = args.out / 'last.pt'

    if args.resume:
        ck = torch.load(last, map_location='cpu')
        saved = ck['args']
        # The run's identity comes from the checkpoint; only the stopping/logging options may change.
        for k in ('minutes', 'stop_at', 'ckpt_every', 'log_every', 'threads', 'no_val', 'workers'):
            saved[k] = getattr(args, k)
        args = argparse.Namespace(**{'init': None, 'degradation': 'bicubic', **saved, 'out': args.out, 'resume': True})
    torch.manual_seed(args.seed)
    model = build(args.arch, args.scale)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.iters, eta_min=args.lr_min)
    rng = np.random.default_rng(args.seed)
    it = 0
    if args.resume:
        model.load_state_dict(ck['model'])
        ema.load_state_dict(ck['ema'])
        opt.load_state_dict(ck['opt'])
        sched.load_state_dict(ck['sched'])
        rng.bit_generator.state = ck['np_rng']
        torch.set_rng_state(ck['torch_rng'])
        random.setstate(ck['py_rng'])
        it = ck['iteration']
    elif args.init is not None:
        # Warm restart: a new cosine cycle from a trained network gets further than extending the old one.
        init = torch.load(args.init, map_location='cpu')
        weights = init['ema']
        if init['args']['arch'] != args.arch:
            # A wider network from a trained narrow one: same function at the start (model.widen).
            small = build(init['args']['arch'], init['args']['scale'])
            weights = widen(weights, small, model, torch.Generator().manual_seed(args.seed))
            print(f"widened {init['args']['arch']} -> {args.arch}", flush=True)
        model.load_state_dict(weights)
        ema.load_state_dict(weights)

    t0 = time.time()
    data = PairedImages(list_images(limit=args.images), args.scale, use_cache=not args.no_cache)
    print(f'data: {len(data.hr)} images, {data.megapixels():.1f} MP HR, loaded in {time.time() - t0:.1f} s; '
          f'model {args.arch} x{args.scale}: {count_params(model)} params, '
          f'{model.flops_per_output_pixel() / 1e3:.1f} kFLOP/output px; degradation {args.degradation}', flush=True)
    batches = None
    val_pairs = None
    if args.degradation != 'bicubic':
        # Made after the RNG restore: prefetching starts from the checkpoint's generator state.
        batches = RealisticBatches(data, rng, args.batch, args.patch, args.degradation, workers=args.workers)
        if not args.no_val:
            val_pairs = set5_realistic(args.scale, args.degradation)

    def save(path: Path) -> None:
        torch.save({'args': {k: v for k, v in vars(args).items() if k != 'out'} | {'out': str(args.out)},
                    'iteration': it, 'model': model.state_dict(), 'ema': ema.state_dict(),
                    'opt': opt.state_dict(), 'sched': sched.state_dict(),
                    # realistic*: the state after the last batch trained on, not after the prefetched ones
                    'np_rng': batches.state() if batches else rng.bit_generator.state,
                    'torch_rng': torch.get_rng_state(), 'py_rng': random.getstate()}, path)

    log = open(args.out / 'log.jsonl', 'a')
    start, t_log, loss_acc = time.time(), time.time(), 0.0
    it_log = it
    while it < args.iters:
        lr_u8, hr_u8 = batches.next() if batches else data.batch(rng, args.batch, args.patch)
        x, y = to_tensor(lr_u8), to_tensor(hr_u8)
        loss = F.l1_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        it += 1
        with torch.no_grad():
            # EMA warm-up: a short effective horizon early on, so the EMA is useful from the first checkpoints.
            d = min(args.ema, (1 + it) / (10 + it))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)
        loss_acc += loss.item()
        if it % args.log_every == 0:
            now = time.time()
            rec = {'iter': it, 'loss': loss_acc / (it - it_log), 'lr': sched.get_last_lr()[0],
                   'it_per_s': (it - it_log) / (now - t_log), 'elapsed_min': (now - start) / 60}
            if batches:
                rec['data_wait_frac'] = round(batches.wait / (now - t_log), 3)
                batches.wait = 0.0
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + '\n')
            t_log, loss_acc, it_log = now, 0.0, it
        stop = (args.minutes is not None and time.time() - start > args.minutes * 60) or it == args.stop_at
        if it % args.ckpt_every == 0 or it == args.iters or stop:
            save(last)
            rec = {'iter': it, 'checkpoint': str(last), 'elapsed_min': (time.time() - start) / 60}
            if not args.no_val:
                rec['set5_psnr_y_ema'] = round(psnr_y_set5(ema.eval(), args.scale), 3)
                if val_pairs:
                    rec[f'set5_{args.degradation}_psnr_y_ema'] = round(psnr_y_set5(ema, args.scale, val_pairs), 3)
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + '\n')
            log.flush()
        if stop:
            break
    log.close()
    if batches:
        batches.close()


if __name__ == '__main__':
    main()

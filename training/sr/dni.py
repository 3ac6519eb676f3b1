"""Network interpolation (DNI, Wang et al. 2019): w = (1 - s) * a + s * b on two checkpoints' EMA weights of the same
architecture and scale, e.g. a = `fast` (bicubic-trained, keeps detail and noise) and b = `photo` (trained on
realistic degradations, denoises and deblurs): s is then the denoise strength, 0..1.

  # one strength -> a checkpoint (`export.py` reads it) and, with --onnx, the exported and checked model
  /usr/bin/python3 -m training.sr.dni A.pt B.pt --strength 0.5 --out s05.pt [--onnx s05.onnx --name NAME]
  # a sweep in PyTorch: Set5 PSNR-Y on the bicubic LR and on fixed realistic-degraded LR for each strength, and
  # optionally each strength's output for one image (PNG) to judge by eye
  /usr/bin/python3 -m training.sr.dni A.pt B.pt --sweep 0,0.25,0.5,0.75,1 [--preset realistic-mild] [--image in.png --save-dir /tmp/dni]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .export import check, export
from .model import build
from .train import psnr_y_set5, set5_realistic, to_tensor


def interpolate(a: dict, b: dict, s: float) -> dict:
    """(1 - s) * a + s * b per tensor; same keys and shapes required (same architecture)."""
    if a.keys() != b.keys():
        raise ValueError(f'different parameters: {sorted(set(a) ^ set(b))}')
    out = {}
    for k in a:
        if a[k].shape != b[k].shape:
            raise ValueError(f'{k}: shapes {tuple(a[k].shape)} and {tuple(b[k].shape)} differ')
        out[k] = a[k] if s == 0 else b[k] if s == 1 else (1 - s) * a[k] + s * b[k] if a[k].is_floating_point() else a[k]
    return out


def load_pair(pa: Path, pb: Path) -> tuple[dict, dict, dict]:
    a, b = torch.load(pa, map_location='cpu'), torch.load(pb, map_location='cpu')
    for k in ('arch', 'scale'):
        if a['args'][k] != b['args'][k]:
            raise ValueError(f"{k} differs: {a['args'][k]} vs {b['args'][k]}")
    return a, b, a['args']


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('a', type=Path, help='strength 0 (e.g. training/out/fast-x4-r2/last.pt)')
    ap.add_argument('b', type=Path, help='strength 1 (e.g. training/out/photo-x4/last.pt)')
    ap.add_argument('--strength', type=float, default=None)
    ap.add_argument('--out', type=Path, default=None, help='checkpoint with the interpolated weights (as "ema")')
    ap.add_argument('--onnx', type=Path, default=None)
    ap.add_argument('--name', default=None)
    ap.add_argument('--sweep', default=None, help='comma-separated strengths to evaluate on Set5')
    ap.add_argument('--preset', default='realistic-mild', help='degradation of the second Set5 column')
    ap.add_argument('--image', type=Path, default=None, help='an LR image to upscale at every swept strength')
    ap.add_argument('--save-dir', type=Path, default=Path('/tmp/dni'))
    args = ap.parse_args()
    torch.set_num_threads(2)
    a, b, meta = load_pair(args.a, args.b)

    def model_at(s: float):
        m = build(meta['arch'], meta['scale'])
        m.load_state_dict(interpolate(a['ema'], b['ema'], s))
        return m.eval()

    if args.strength is not None:
        s = args.strength
        m = model_at(s)
        name = args.name or f"{meta['arch']}-x{meta['scale']} dni {s:g} ({args.a} -> {args.b})"
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            torch.save({'args': dict(meta), 'iteration': b['iteration'], 'ema': m.state_dict(),
                        'dni': {'a': str(args.a), 'b': str(args.b), 'strength': s}}, args.out)
            print(f'wrote {args.out} (strength {s:g})')
        if args.onnx:
            export(m, args.onnx, name)
            print(f'exported {args.onnx} ({name}); onnxruntime-node vs PyTorch max abs diff {check(m, args.onnx):.2e}')
    if args.sweep:
        pairs = set5_realistic(meta['scale'], args.preset)
        img = np.asarray(Image.open(args.image).convert('RGB')) if args.image else None
        if img is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
        print(f'strength | Set5 PSNR-Y, bicubic LR | Set5 PSNR-Y, {args.preset} LR (seeds 0-4)')
        for s in (float(v) for v in args.sweep.split(',')):
            m = model_at(s)
            print(f'{s:8g} | {psnr_y_set5(m, meta["scale"]):.3f} | {psnr_y_set5(m, meta["scale"], pairs):.3f}', flush=True)
            if img is not None:
                with torch.no_grad():
                    sr = m(to_tensor(img[None]))[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
                Image.fromarray(sr).save(args.save_dir / f'{args.image.stem}_s{s:g}.png')


if __name__ == '__main__':
    main()

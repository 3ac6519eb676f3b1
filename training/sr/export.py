"""Exports a checkpoint (its EMA weights) to ONNX for `upscale`, and checks onnxruntime against PyTorch.

ONNX: opset 17, input `input` [1,3,H,W] in 0..1, output `output`, dynamic H and W, and the metadata_props that
`upscale` reads (upscale.scale, upscale.range, upscale.receptive_field, upscale.name).
The check runs the .onnx in onnxruntime-node (our inference path) through training/ort_run.mjs, since the Python
onnxruntime is not packaged in Debian.
Run: /usr/bin/python3 -m training.sr.export CKPT OUT.onnx [--name NAME]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from .model import PlainSR, build

REPO = Path(__file__).resolve().parents[2]


def export(model: PlainSR, path: Path, name: str) -> None:
    model.eval()
    dummy = torch.rand(1, 3, 32, 32)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, dummy, str(path), opset_version=17, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {2: 'height', 3: 'width'}, 'output': {2: 'out_height', 3: 'out_width'}})
    m = onnx.load(str(path))
    for key, value in (('upscale.scale', str(model.scale)), ('upscale.range', '0-1'),
                       ('upscale.receptive_field', str(model.receptive_field)), ('upscale.name', name)):
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    """Runs the model in onnxruntime-node on one [1,3,H,W] float32 input."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / 'in.f32', Path(tmp) / 'out.f32'
        x.astype(np.float32).tofile(inp)
        subprocess.run(['node', str(REPO / 'training' / 'ort_run.mjs'), str(path), str(inp), str(out),
                        *map(str, x.shape)], check=True, cwd=REPO)
        return np.fromfile(out, dtype=np.float32)


def check(model: PlainSR, path: Path, size=(37, 53), tol: float = 1e-4) -> float:
    """Max |onnxruntime - PyTorch| on a random input of an odd size (exercises the dynamic axes)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, *size, generator=g)
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    got = ort_run(path, x.numpy())
    if got.size != ref.size:
        raise RuntimeError(f'Expected {ref.size} output values from onnxruntime, got {got.size}')
    err = float(np.abs(got - ref.reshape(-1)).max())
    if err > tol:
        raise RuntimeError(f'onnxruntime differs from PyTorch by {err} (> {tol}) on {path}')
    return err


def load_checkpoint(path: Path) -> tuple[PlainSR, dict]:
    ck = torch.load(path, map_location='cpu')
    model = build(ck['args']['arch'], ck['args']['scale'])
    model.load_state_dict(ck['ema'])
    return model, ck


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('checkpoint', type=Path)
    ap.add_argument('output', type=Path)
    ap.add_argument('--name', default=None)
    a = ap.parse_args()
    model, ck = load_checkpoint(a.checkpoint)
    name = a.name or f"{ck['args']['arch']}-x{model.scale} (iter {ck['iteration']})"
    export(model, a.output, name)
    err = check(model, a.output)
    print(f'exported {a.output} ({name}); onnxruntime-node vs PyTorch max abs diff {err:.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Exports candidate architectures (random weights) to ONNX and times them in onnxruntime-node, 2 threads.

Run: /usr/bin/python3 -m training.sr.candidates [arch ...]   (writes training/out/candidates/*.onnx)
"""
import json
import subprocess
import sys
from pathlib import Path

from .export import REPO, check, export
from .model import build, count_params

DEFAULT = ['plain-c32-l8', 'plain-c48-l8', 'plain-c64-l8', 'plain-c64-l16']


def main() -> int:
    out_dir = REPO / 'training' / 'out' / 'candidates'
    for arch in sys.argv[1:] or DEFAULT:
        model = build(arch, 4)
        path = out_dir / f'{arch}-x4.onnx'
        export(model, path, arch)
        err = check(model, path)
        res = subprocess.run(['node', str(REPO / 'training' / 'ort_run.mjs'), '--bench', str(path), '128', '2', '10'],
                             check=True, capture_output=True, text=True, cwd=REPO)
        t = json.loads(res.stdout)
        print(f"{arch}: params {count_params(model)}, {model.flops_per_output_pixel() / 1e3:.1f} kFLOP/output px "
              f"= {model.flops_per_output_pixel() / 1e6:.4f} TFLOP/MP, {t['s_per_output_mp']:.3f} s/MP (128x128 in), "
              f"ort-vs-torch {err:.1e}", flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

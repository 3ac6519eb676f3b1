#!/usr/bin/env bash
# Smoke test of the training pipeline, CPU, well under a minute: bicubic exactness on Set5/Set14 (verification
# only), the realistic-degradation checks, a few training iterations on 8 images, an exact --resume check (bicubic
# LR, and realistic-mild LR made on the fly with 2, 0 and 1 worker processes),
# a widening warm start, ONNX export checked against PyTorch in onnxruntime-node, and one `upscale` inference with
# the exported model.
# Run from anywhere: training/smoke.sh   (exit status non-zero on any failure)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
common=(--arch plain-c16-l4 --scale 4 --iters 12 --batch 4 --patch 24 --images 8 --no-cache --no-val --log-every 6)

$PY -m training.sr.check_bicubic
$PY -m training.sr.check_degrade
$PY -m training.sr.train "${common[@]}" --out "$T/a"
$PY -m training.sr.train "${common[@]}" --stop-at 6 --out "$T/b"
$PY -m training.sr.train --resume --no-val --out "$T/b"
# The same with LR made on the fly (realistic-mild): resume exact, and batches independent of the worker count.
$PY -m training.sr.train "${common[@]}" --degradation realistic-mild --workers 2 --out "$T/c"
$PY -m training.sr.train "${common[@]}" --degradation realistic-mild --workers 0 --stop-at 6 --out "$T/d"
$PY -m training.sr.train --resume --no-val --workers 1 --out "$T/d"
$PY - "$T" <<'PY'
import sys, torch
for a, b in ('ab', 'cd'):
    a, b = (torch.load(f'{sys.argv[1]}/{r}/last.pt') for r in (a, b))
    assert a['iteration'] == b['iteration'] == 12, (a['iteration'], b['iteration'])
    for part in ('model', 'ema'):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{a['args']['degradation']}: resume differs from a straight run in {part}.{k}"
    print(f"{a['args']['degradation']}: resume identical to an uninterrupted run (model and EMA)")
PY
# Widening warm start (--init from a narrower network): the wider one starts as the same function.
$PY -m training.sr.train --arch plain-c24-l4 --scale 4 --iters 2 --batch 4 --patch 24 --images 8 --no-cache --no-val \
    --log-every 1 --init "$T/a/last.pt" --out "$T/w"
$PY - "$T" <<'PY'
import sys, torch
from training.sr.model import build, widen
ck = torch.load(f'{sys.argv[1]}/a/last.pt')
small, big = build('plain-c16-l4', 4), build('plain-c24-l4', 4)
small.load_state_dict(ck['ema'])
big.load_state_dict(widen(ck['ema'], small, big, torch.Generator().manual_seed(0)))
x = torch.rand(1, 3, 20, 17)
with torch.no_grad():
    d = (small(x) - big(x)).abs().max().item()
assert d < 1e-6, d
print(f'widened c16 -> c24: same output (max diff {d:.1e})')
PY
$PY -m training.sr.export "$T/b/last.pt" "$T/smoke.onnx" --name smoke
npx --no-install upscale assets/sample.png -m "$T/smoke.onnx" -o "$T/sample@4x.png" --quiet
$PY -c "from PIL import Image; import sys; s = Image.open(sys.argv[1]).size; assert s == (768, 512), s; print('inference ok', s)" "$T/sample@4x.png"
echo 'smoke test passed'

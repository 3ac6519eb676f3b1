"""Compact x-s super-resolution networks, chosen for onnxruntime on the CPU.

`PlainSR`: a stack of 3x3 conv + ReLU at LR resolution (conv+ReLU fuse in onnxruntime; PReLU would not), a last
conv to 3*s*s channels, a nearest-neighbour global skip (the input repeated s*s times, which costs a
reshape and an add, no resampling), and DepthToSpace. Receptive-field radius = number of convs (input pixels).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class PlainSR(nn.Module):
    def __init__(self, scale: int = 4, channels: int = 32, convs: int = 8):
        super().__init__()
        assert convs >= 2
        self.scale, self.channels, self.convs = scale, channels, convs
        layers = [nn.Conv2d(3, channels, 3, padding=1)]
        layers += [nn.Conv2d(channels, channels, 3, padding=1) for _ in range(convs - 2)]
        self.body = nn.ModuleList(layers)
        self.tail = nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)
        # He init keeps the signal from vanishing through the plain ReLU stack (PyTorch's default init shrinks it
        # by ~sqrt(6) per layer, and an 8-conv net then barely trains); the tail starts near zero, so the network
        # starts as the nearest-neighbour skip.
        for conv in layers:
            nn.init.kaiming_normal_(conv.weight, nonlinearity='relu')
            nn.init.zeros_(conv.bias)
        nn.init.normal_(self.tail.weight, std=1e-3)
        nn.init.zeros_(self.tail.bias)

    @property
    def receptive_field(self) -> int:
        return self.convs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        r = self.scale * self.scale
        f = x
        for conv in self.body:
            f = F.relu(conv(f))
        # Channel c*r + k of the pixel-shuffle input is sub-pixel k of colour c: repeat each colour r times.
        skip = x.unsqueeze(2).expand(n, c, r, h, w).reshape(n, c * r, h, w)
        return F.pixel_shuffle(self.tail(f) + skip, self.scale)

    def flops_per_output_pixel(self) -> float:
        """Multiply-adds counted as 2 FLOPs; per output pixel (= per input pixel / s^2)."""
        macs = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Conv2d))
        return 2 * macs / (self.scale * self.scale)


def build(name: str, scale: int) -> PlainSR:
    """`plain-c32-l8` -> PlainSR(channels=32, convs=8)."""
    parts = dict((p[0], int(p[1:])) for p in name.split('-')[1:])
    return PlainSR(scale, parts['c'], parts['l'])


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def widen(state: dict, small: PlainSR, big: PlainSR, generator: torch.Generator) -> dict:
    """Weights for `big` (same depth and scale, more channels) that compute exactly what `small` computes.

    The old channels keep their weights; each new channel gets He-initialised incoming weights and zero outgoing
    weights (every conv's input slots for new channels, the tail's included), so the output is unchanged at the
    start and the new channels start to matter as training gives them outgoing weights. A warm start for a wider
    network from a trained narrow one (the same idea as Net2WiderNet, Chen et al. 2016, without copies to untie).
    """
    if (small.scale, small.convs) != (big.scale, big.convs) or big.channels < small.channels:
        raise ValueError('widen: same scale and depth, and at least as many channels, required')
    c = small.channels
    out = {}
    for name, target in big.state_dict().items():
        old = state[name]
        new = torch.zeros_like(target)
        if name.endswith('bias'):
            new[: old.shape[0]] = old
        else:
            fan_in = target.shape[1] * 9
            new[old.shape[0]:] = torch.randn(new[old.shape[0]:].shape, generator=generator) * (2 / fan_in) ** 0.5
            new[: old.shape[0], : old.shape[1]] = old  # input slots of new channels stay 0 for old outputs
        out[name] = new
    assert all(state[k].shape[0] in (c, 3 * small.scale ** 2) for k in state)
    return out

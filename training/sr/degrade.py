"""Degradations that turn a high-resolution image into the low-resolution training input.

(a) `imresize_matlab`: MATLAB's bicubic `imresize`, bit-exact with our TypeScript `imresizeMatlab`
    (src/resample/matlab.ts), so the training inputs are made exactly like the benchmark inputs.
(b) `realistic`: a Real-ESRGAN-style second-order mix (blur, resize, noise, JPEG), for photo models.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic, a = -0.5 (same piecewise expression as MATLAB's and ours, so doubles agree bit for bit)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return np.where(ax <= 1, 1.5 * ax3 - 2.5 * ax2 + 1,
                    np.where(ax <= 2, -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2, 0.0))


def matlab_table(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB `contributions()`: (indices [out, taps] 0-based and mirrored, weights [out, taps] float64)."""
    scale = out_size / in_size
    shrink = scale < 1
    kw = 4 / scale if shrink else 4.0
    taps = math.ceil(kw) + 2
    i = np.arange(1, out_size + 1, dtype=np.float64)
    u = i / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kw / 2)
    j = left[:, None] + np.arange(taps)[None, :]
    x = u[:, None] - j
    w = scale * _cubic(scale * x) if shrink else _cubic(x)
    # Normalise with a left-to-right sum, as MATLAB (and our TypeScript) do.
    s = np.zeros(out_size)
    for k in range(taps):
        s = s + w[:, k]
    w = w / s[:, None]
    period = 2 * in_size
    m = np.mod(j.astype(np.int64) - 1, period)
    idx = np.where(m < in_size, m, period - 1 - m)
    return idx, w


def _saturate(acc: np.ndarray) -> np.ndarray:
    # Round half away from zero (values are >= 0 after the clamp, so floor(v + 0.5)), clamp to uint8.
    return np.clip(np.floor(np.maximum(acc, 0) + 0.5), 0, 255).astype(np.uint8)


def _pass(img: np.ndarray, idx: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    """One 1-D pass along `axis`, taps summed in order k = 0, 1, ... in float64, then rounded to uint8."""
    acc = None
    for k in range(idx.shape[1]):
        shape = [1] * img.ndim
        shape[axis] = -1
        term = w[:, k].reshape(shape) * np.take(img, idx[:, k], axis=axis).astype(np.float64)
        acc = term if acc is None else acc + term
    return _saturate(acc)


def imresize_matlab(img: np.ndarray, out_h: int, out_w: int, h_axis: int = 0) -> np.ndarray:
    """MATLAB `imresize(img, [out_h out_w], 'bicubic')` on uint8 data.

    `img` is [..., H, W, C] with H at `h_axis` (0 for one HWC image, 1 for a stack of patches NHWC).
    Height is resized first unless it is enlarged more than the width, as in MATLAB.
    """
    w_axis = h_axis + 1
    in_h, in_w = img.shape[h_axis], img.shape[w_axis]
    rows = matlab_table(in_h, out_h)
    cols = matlab_table(in_w, out_w)
    if out_h / in_h <= out_w / in_w:
        return _pass(_pass(img, *rows, h_axis), *cols, w_axis)
    return _pass(_pass(img, *cols, w_axis), *rows, h_axis)


def bicubic_lr(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark protocol: crop HR to a multiple of `scale` (top-left kept), then MATLAB bicubic 1/scale."""
    h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
    return imresize_matlab(hr[:h, :w], h // scale, w // scale)


# ---------------------------------------------------------------------------------------------------------------
# (b) Realistic degradations, after Real-ESRGAN (Wang et al. 2021): two rounds of blur -> resize -> noise -> JPEG,
# then a final resize to the target size, with a sinc filter for ringing. Every random choice comes from the
# numpy Generator passed in, so a seed reproduces the exact LR image.
# ---------------------------------------------------------------------------------------------------------------
import torch
import torch.nn.functional as F

REALISTIC = {
    # first round
    'blur_sigma': (0.2, 3.0), 'resize_range': (0.15, 1.5), 'noise_sigma': (1, 30), 'poisson_scale': (0.05, 3.0),
    'jpeg': (30, 95),
    # second round (milder), applied with probability `second_prob`, blur with `blur2_prob`
    'second_prob': 1.0, 'blur2_prob': 0.8, 'blur2_sigma': (0.2, 1.5), 'resize2_range': (0.3, 1.2),
    'noise2_sigma': (1, 25), 'poisson2_scale': (0.05, 2.5), 'jpeg2': (30, 95),
    'gray_noise_prob': 0.4, 'gaussian_noise_prob': 0.5, 'sinc_prob': 0.1, 'final_sinc_prob': 0.8,
}
# Milder ranges for the `photo` models: old digicam / phone / web photos rarely show the Real-ESRGAN extremes
# (sigma-30 colour noise after a 0.15x downscale, JPEG 30 twice). One blur/resize/noise round is more common than
# two (second round with p 0.4, its blur with p 0.5), first blur sigma 0.2-2 HR px, first resize 0.4-1.5, noise
# sigma 1-15 (0-255 scale; second round 1-8) and Poisson scale 0.05-1.5 (second 0.05-1), JPEG 40-95, and the final
# sinc (ringing / band limit) with p 0.3 and cutoff pi/2-pi instead of p 0.8 and pi/3-pi, which blurred most
# Real-ESRGAN samples to well below the x4 resolution.
REALISTIC_MILD = {
    'blur_sigma': (0.2, 2.0), 'resize_range': (0.4, 1.5), 'noise_sigma': (1, 15), 'poisson_scale': (0.05, 1.5),
    'jpeg': (40, 95),
    'second_prob': 0.4, 'blur2_prob': 0.5, 'blur2_sigma': (0.2, 1.2), 'resize2_range': (0.6, 1.2),
    'noise2_sigma': (1, 8), 'poisson2_scale': (0.05, 1.0), 'jpeg2': (40, 95),
    'gray_noise_prob': 0.4, 'gaussian_noise_prob': 0.5, 'sinc_prob': 0.1, 'final_sinc_prob': 0.3,
    'final_sinc_cutoff': (np.pi / 2, np.pi),
}
PRESETS = {'realistic': REALISTIC, 'realistic-mild': REALISTIC_MILD}
RESIZE_MODES = ('area', 'bilinear', 'bicubic')


def _gaussian_kernel(rng: np.random.Generator, size: int, sigma: tuple[float, float], aniso_prob: float = 0.5,
                     generalized_prob: float = 0.15, plateau_prob: float = 0.15) -> np.ndarray:
    """A random (an)isotropic Gaussian, generalized-Gaussian or plateau kernel, normalised to sum 1."""
    sx = rng.uniform(*sigma)
    sy = rng.uniform(*sigma) if rng.random() < aniso_prob else sx
    theta = rng.uniform(-math.pi, math.pi) if sx != sy else 0.0
    r = np.arange(size) - size // 2
    xx, yy = np.meshgrid(r, r)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    q = (u / sx) ** 2 + (v / sy) ** 2  # squared Mahalanobis distance
    kind = rng.random()
    if kind < generalized_prob:
        beta = rng.uniform(0.5, 4.0)
        k = np.exp(-0.5 * q ** (beta / 2))
    elif kind < generalized_prob + plateau_prob:
        beta = rng.uniform(1.0, 2.0)
        k = 1 / (1 + q ** beta)
    else:
        k = np.exp(-0.5 * q)
    return k / k.sum()


def _sinc_kernel(cutoff: float, size: int) -> np.ndarray:
    """2-D circular low-pass (jinc) kernel: the ringing and overshoot of sharpened or band-limited images."""
    r = np.arange(size) - size // 2
    xx, yy = np.meshgrid(r, r)
    d = np.hypot(xx, yy)
    with np.errstate(divide='ignore', invalid='ignore'):
        k = cutoff * _j1(cutoff * d) / (2 * np.pi * d)
    k[size // 2, size // 2] = cutoff ** 2 / (4 * np.pi)
    return k / k.sum()


def _j1(x: np.ndarray) -> np.ndarray:
    """Bessel J1 by its integral form (numpy has no J1): J1(x) = 1/pi * int_0^pi cos(t - x sin t) dt."""
    t = np.linspace(0, np.pi, 257)
    return np.trapz(np.cos(t[:, None, None] - x[None] * np.sin(t[:, None, None])), t, axis=0) / np.pi


def _filter(img: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Depthwise 2-D convolution of a [3,H,W] image with reflect padding."""
    k = torch.from_numpy(kernel.astype(np.float32))[None, None].repeat(3, 1, 1, 1)
    p = kernel.shape[0] // 2
    return F.conv2d(F.pad(img[None], (p, p, p, p), mode='reflect'), k, groups=3)[0]


def _blur(img: torch.Tensor, rng: np.random.Generator, sigma, sinc_prob: float) -> torch.Tensor:
    size = int(rng.choice([7, 9, 11, 13, 15, 17, 19, 21]))
    if rng.random() < sinc_prob:
        return _filter(img, _sinc_kernel(rng.uniform(np.pi / 3, np.pi), size))
    return _filter(img, _gaussian_kernel(rng, size, sigma))


def _resize(img: torch.Tensor, h: int, w: int, mode: str) -> torch.Tensor:
    kw = {} if mode == 'area' else {'align_corners': False}
    return F.interpolate(img[None], size=(max(h, 1), max(w, 1)), mode=mode, **kw)[0]


def _noise(img: torch.Tensor, rng: np.random.Generator, sigma, poisson, gray_prob, gauss_prob) -> torch.Tensor:
    gray = rng.random() < gray_prob
    shape = (1, *img.shape[1:]) if gray else tuple(img.shape)
    if rng.random() < gauss_prob:
        n = rng.standard_normal(shape) * rng.uniform(*sigma) / 255
    else:
        # Shot noise: photon counts ~ Poisson(intensity * 255); `scale` sets its strength relative to that.
        base = img.mean(0, keepdim=True).numpy() if gray else img.numpy()
        base = np.clip(base, 0, 1)
        n = (rng.poisson(base * 255) / 255 - base) * rng.uniform(*poisson)
    return (img + torch.from_numpy(np.broadcast_to(n, img.shape).astype(np.float32))).clamp(0, 1)


def _jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    u8 = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format='JPEG', quality=int(quality))
    back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))
    return torch.from_numpy(back.copy()).permute(2, 0, 1).float() / 255


def realistic(hr: np.ndarray, scale: int, rng: np.random.Generator, cfg: dict = REALISTIC) -> np.ndarray:
    """Real-ESRGAN-style second-order degradation of a uint8 HWC RGB image to [H/scale, W/scale] uint8.

    HR sides must be multiples of `scale`. Deterministic for a given generator state.
    """
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    x = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1).float() / 255
    # Round 1
    x = _blur(x, rng, cfg['blur_sigma'], cfg['sinc_prob'])
    f = rng.uniform(*cfg['resize_range'])
    x = _resize(x, round(x.shape[1] * f), round(x.shape[2] * f), str(rng.choice(RESIZE_MODES)))
    x = _noise(x, rng, cfg['noise_sigma'], cfg['poisson_scale'], cfg['gray_noise_prob'], cfg['gaussian_noise_prob'])
    x = _jpeg(x, rng.integers(cfg['jpeg'][0], cfg['jpeg'][1] + 1))
    # Round 2: sizes relative to the target, as in Real-ESRGAN
    if rng.random() < cfg['second_prob']:
        if rng.random() < cfg['blur2_prob']:
            x = _blur(x, rng, cfg['blur2_sigma'], cfg['sinc_prob'])
        f = rng.uniform(*cfg['resize2_range'])
        x = _resize(x, round(h * f), round(w * f), str(rng.choice(RESIZE_MODES)))
        x = _noise(x, rng, cfg['noise2_sigma'], cfg['poisson2_scale'], cfg['gray_noise_prob'],
                   cfg['gaussian_noise_prob'])
    # Final: resize to the target + optional sinc, and JPEG, in a random order
    sinc = rng.random() < cfg['final_sinc_prob']
    cutoff, size = rng.uniform(*cfg.get('final_sinc_cutoff', (np.pi / 3, np.pi))), int(rng.choice([7, 9, 11, 13, 15, 17, 19, 21]))
    mode, q = str(rng.choice(RESIZE_MODES)), rng.integers(cfg['jpeg2'][0], cfg['jpeg2'][1] + 1)
    if rng.random() < 0.5:
        x = _resize(x, h, w, mode)
        x = _filter(x, _sinc_kernel(cutoff, size)) if sinc else x
        x = _jpeg(x, q)
    else:
        x = _jpeg(x, q)
        x = _resize(x, h, w, mode)
        x = _filter(x, _sinc_kernel(cutoff, size)) if sinc else x
    return (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def degrade_task(task: tuple) -> np.ndarray:
    """One training sample for a worker process: (HR uint8 patch, seed, scale, preset name) -> LR uint8 patch.
    Pure function of its arguments (1 torch thread, as in the main process), so any number of workers gives the
    same batches."""
    hr, seed, scale, preset = task
    if torch.get_num_threads() != 1:
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return realistic(hr, scale, np.random.default_rng(seed), PRESETS[preset])
        finally:
            torch.set_num_threads(n)
    return realistic(hr, scale, np.random.default_rng(seed), PRESETS[preset])

"""DiffAugment (Zhao et al. 2020): differentiable augmentations of real *and* fake images.

Augmenting only the reals teaches D the augmentations and G copies them; applying the same
family of transforms, each differentiable in the image, to everything D sees (reals and fakes
in the D step, fakes in the G step) lets a GAN train on small data sets. The three families,
as in the paper's code, on images in [-1, 1], one random draw per sample:

- ``color``: brightness x + (u − ½); saturation (x − x̄_c)·2u + x̄_c with x̄_c the mean over
  channels; contrast (x − x̄)·(u + ½) + x̄ with x̄ the mean over the whole image;
- ``translation``: shift by (t_y, t_x) integer pixels, |t| ≤ round(ratio·size), filling with 0;
- ``cutout``: zero a square of round(ratio·size) pixels at a random centre (clipped at the
  border).

Every draw comes from the :class:`fastgan.Generator` passed in, so a resumed run augments
identically. The transforms with explicit draws (:func:`brightness`, :func:`translation`, ...)
are public for tests and custom policies.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import random as _random

__all__ = ["DiffAugment", "diff_augment", "brightness", "saturation", "contrast", "translation",
           "cutout", "POLICIES"]


def brightness(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """x + (u − ½) per sample; x (B, C, H, W), u (B,) uniforms in [0, 1)."""
    return x + (u.to(x.dtype) - 0.5).view(-1, 1, 1, 1)


def saturation(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(x − mean_c x)·2u + mean_c x per sample (the mean over channels, per pixel)."""
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (2 * u.to(x.dtype)).view(-1, 1, 1, 1) + m


def contrast(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(x − mean x)·(u + ½) + mean x per sample (the mean over channels and pixels)."""
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (u.to(x.dtype) + 0.5).view(-1, 1, 1, 1) + m


def _randint(u: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Integers in [low, high) from uniforms: low + floor(u·(high − low))."""
    return low + (u * (high - low)).long().clamp_(max=high - low - 1)


def translation(x: torch.Tensor, uy: torch.Tensor, ux: torch.Tensor,
                ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by (t_y, t_x) pixels: out[b, :, i, j] = x[b, :, i + t_y, j + t_x], 0
    where that falls outside; t = −s + floor(u·(2s + 1)) with s = round(ratio·size)
    (s_y from H, s_x from W); uy, ux (B,) uniforms."""
    b, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty, tx = _randint(uy, -sy, sy + 1), _randint(ux, -sx, sx + 1)
    # row i + t of the image is row i + t + 1 of the zero-padded one; past the edge is padding
    rows = (torch.arange(h, device=x.device) + ty.view(-1, 1) + 1).clamp_(0, h + 1)
    cols = (torch.arange(w, device=x.device) + tx.view(-1, 1) + 1).clamp_(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2))
    return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))


def cutout(x: torch.Tensor, uy: torch.Tensor, ux: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a k_h × k_w rectangle per image (k = round(ratio·size)): rows
    [o_y − k_h//2, o_y − k_h//2 + k_h) ∩ [0, H) and likewise columns, with the centre
    o = floor(u·(size + 1 − k mod 2)); uy, ux (B,) uniforms."""
    b, c, h, w = x.shape
    kh, kw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = _randint(uy, 0, h + 1 - kh % 2) - kh // 2
    ox = _randint(ux, 0, w + 1 - kw % 2) - kw // 2
    i = torch.arange(h, device=x.device).view(1, h, 1)
    j = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((i >= oy.view(-1, 1, 1)) & (i < (oy + kh).view(-1, 1, 1))
              & (j >= ox.view(-1, 1, 1)) & (j < (ox + kw).view(-1, 1, 1)))
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = ("color", "translation", "cutout")


class DiffAugment:
    """Apply a DiffAugment ``policy`` (comma-separated ``color``, ``translation``,
    ``cutout``, applied in the order given) to a batch.

    ``x`` (B, C, H, W) float, or flat rows (B, C·H·W) when ``image_shape`` is given (returned
    flat again). Each family draws B uniforms per random quantity from ``generator``, in this
    order: color: brightness, saturation, contrast; translation: t_y, t_x; cutout: o_y, o_x.
    Stateless: all randomness is the generator's.

    >>> aug = DiffAugment("translation,cutout,color")
    >>> g = fastgan.Generator(0)
    >>> y = aug(torch.rand(8, 3, 32, 32) * 2 - 1, generator=g)
    """

    def __init__(self, policy: str = "color,translation,cutout", *, translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5, image_shape: tuple[int, int, int] | None = None):
        if not isinstance(policy, str):
            raise TypeError(f"policy must be a comma-separated string, got {type(policy).__name__}")
        names = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = [p for p in names if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown augmentation {unknown[0]!r} in policy {policy!r}; "
                             f"choose from {', '.join(POLICIES)}")
        for name, r in (("translation_ratio", translation_ratio), ("cutout_ratio", cutout_ratio)):
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {r!r}")
        self.policy = tuple(names)
        self.translation_ratio = float(translation_ratio)
        self.cutout_ratio = float(cutout_ratio)
        self.image_shape = tuple(image_shape) if image_shape is not None else None

    def __call__(self, x: torch.Tensor, *, generator: _random.Generator | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got "
                            f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
        flat = x.dim() == 2 and self.image_shape is not None \
            and x.shape[1] == math.prod(self.image_shape)
        if flat:
            x = x.view(x.shape[0], *self.image_shape)
        if x.dim() != 4:
            want = f" or (B, {math.prod(self.image_shape)})" if self.image_shape else ""
            raise ValueError(f"x must be images (B, C, H, W){want}, got shape {tuple(x.shape)}")
        b = x.shape[0]

        def u():
            return _random.rand(b, generator=generator, device=x.device)

        for name in self.policy:
            if name == "color":
                x = contrast(saturation(brightness(x, u()), u()), u())
            elif name == "translation":
                uy = u()
                x = translation(x, uy, u(), self.translation_ratio)
            else:
                uy = u()
                x = cutout(x, uy, u(), self.cutout_ratio)
        return x.reshape(b, -1) if flat else x

    def __repr__(self) -> str:
        return (f"DiffAugment({','.join(self.policy)!r}, translation_ratio={self.translation_ratio}, "
                f"cutout_ratio={self.cutout_ratio})")


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout", *,
                 generator: _random.Generator | None = None) -> torch.Tensor:
    """Functional form: ``DiffAugment(policy)(x, generator=generator)``."""
    return DiffAugment(policy)(x, generator=generator)

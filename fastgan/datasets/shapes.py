"""``shapes``: procedurally drawn 32×32 RGB images for the convolutional demo (no download).

Each image is one filled shape on a black background. Its *mode* is a choice of
shape (circle, square, triangle, diamond) × colour (red, green, blue, yellow, cyan, magenta)
× position (a 3×3 grid of centres) × size (two radii): 432 modes, drawn with equal weight,
and the centre is jittered by up to ``jitter`` pixels in x and y. Edges are antialiased
(pixel coverage from the signed distance), values are in [-1, 1] like an image folder's.
Knowing the mode of every sample makes mode coverage measurable, as for ``ring``/``grid``.
"""
from __future__ import annotations

import math

import torch

from .. import random as _random
from ..data import _HELD_OUT_SEED, Dataset, _check_n

__all__ = ["Shapes", "shapes", "SHAPES", "COLOURS"]

SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {"red": (1, -1, -1), "green": (-1, 1, -1), "blue": (-1, -1, 1),
           "yellow": (1, 1, -1), "cyan": (-1, 1, 1), "magenta": (1, -1, 1)}
_CENTRES = (8.0, 16.0, 24.0)   # pixel coordinates of the 3×3 grid of positions
_RADII = (4.5, 6.5)
_SIZE = 32


def _signed_distance(shape: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor,
                     r: torch.Tensor) -> torch.Tensor:
    """Distance in pixels outside (> 0) or inside (< 0) the boundary of each sample's shape;
    dx, dy (n, H, W) are offsets from the centre (y grows downwards), r (n, 1, 1) the radius."""
    ax, ay = dx.abs(), dy.abs()
    circle = torch.sqrt(dx * dx + dy * dy) - r
    square = torch.maximum(ax, ay) - 0.85 * r          # 0.85: about the circle's area
    # isosceles triangle, apex (0, -r), base corners (±r, r): the farthest of its three edges
    s5 = math.sqrt(5.0)
    triangle = torch.maximum(dy - r, (2 * ax - dy - r) / s5)
    diamond = (ax + ay - 1.25 * r) / math.sqrt(2.0)
    sd = torch.stack([circle, square, triangle, diamond])            # (4, n, H, W)
    return sd.gather(0, shape.view(1, -1, 1, 1).expand(1, *dx.shape)).squeeze(0)


class Shapes(Dataset):
    """The procedural ``shapes`` set (see the module docstring): ``dim = 3072``,
    ``image_shape = (3, 32, 32)``, ``modes = 432``.

    A draw of n samples takes n uniforms (the mode, floor(u·432)) then 2n uniforms (the
    jitter, x then y per sample) from the generator, so it is deterministic from the
    generator's seed and offset. Mode m decodes as
    ``m = ((shape · 6 + colour) · 9 + position) · 2 + size`` (:meth:`attributes`).

    >>> data = fastgan.data.load("shapes")
    >>> x = data.sample(16, generator=fastgan.Generator(0)).view(16, *data.image_shape)
    """

    name = "shapes"
    image_shape = (3, _SIZE, _SIZE)
    dim = 3 * _SIZE * _SIZE
    modes = len(SHAPES) * len(COLOURS) * len(_CENTRES) ** 2 * len(_RADII)

    def __init__(self, jitter: float = 1.0):
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) \
                or not 0 <= jitter <= 2 or not math.isfinite(jitter):
            raise ValueError(f"jitter must be a number of pixels in [0, 2], got {jitter!r}")
        self.jitter = float(jitter)

    @staticmethod
    def attributes(modes: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decode mode indices into ``shape``, ``colour``, ``position`` (0..8, row-major on
        the 3×3 grid) and ``size`` (0 small, 1 large) index tensors."""
        modes = torch.as_tensor(modes)
        return {"shape": modes // 108, "colour": modes // 18 % 6, "position": modes // 2 % 9,
                "size": modes % 2}

    def render(self, modes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """Images of the given modes (n,) int64 with centre offsets (n, 2) in pixels (x, y):
        (n, 3·32·32) float32 rows in [-1, 1]."""
        a = self.attributes(modes)
        device = offsets.device
        centres = torch.tensor(_CENTRES, device=device)
        cx = centres[a["position"] % 3] + offsets[:, 0]
        cy = centres[a["position"] // 3] + offsets[:, 1]
        r = torch.tensor(_RADII, device=device)[a["size"]].view(-1, 1, 1)
        pix = torch.arange(_SIZE, device=device, dtype=torch.float32) + 0.5   # pixel centres
        dx = pix.view(1, 1, -1) - cx.view(-1, 1, 1)
        dy = pix.view(1, -1, 1) - cy.view(-1, 1, 1)
        dx, dy = torch.broadcast_tensors(dx, dy)
        coverage = (0.5 - _signed_distance(a["shape"], dx, dy, r)).clamp(0, 1)   # (n, H, W)
        colour = torch.tensor(list(COLOURS.values()), dtype=torch.float32, device=device)[a["colour"]]
        images = -1.0 + coverage.unsqueeze(1) * (colour.view(-1, 3, 1, 1) + 1.0)
        return images.reshape(images.shape[0], -1)

    def sample_with_modes(self, n, *, generator=None, device=None):
        """``(x, modes)``: n samples as :meth:`sample` gives them, and their (n,) int64 modes."""
        n = _check_n(n)
        u = _random.rand(n, generator=generator, device=device)
        modes = (u * self.modes).long().clamp_(max=self.modes - 1)
        offsets = (2 * _random.rand(n, 2, generator=generator, device=u.device) - 1) * self.jitter
        return self.render(modes, offsets), modes

    def sample(self, n, *, generator=None, device=None):
        """n images as (n, 3072) float32 rows in [-1, 1]; ``x.view(n, 3, 32, 32)`` for images."""
        return self.sample_with_modes(n, generator=generator, device=device)[0]

    def held_out(self, n=None, *, device=None):
        return self.sample(2000 if n is None else n, generator=_random.Generator(_HELD_OUT_SEED),
                           device=device)

    def __repr__(self) -> str:
        return f"fastgan.datasets.Shapes(jitter={self.jitter}, modes={self.modes})"


def shapes(jitter: float = 1.0) -> Shapes:
    """The built-in ``shapes`` image set (``fastgan.data.load("shapes")``): 32×32 RGB images
    of 432 modes (4 shapes × 6 colours × 9 positions × 2 sizes), centres jittered by up to
    ``jitter`` pixels; deterministic from the generator passed to ``sample``."""
    return Shapes(jitter)

"""Built-in data sets for training demos and tests: no downloads, reproducible draws.

Four data sets, each a :class:`Dataset` whose :meth:`Dataset.sample` draws minibatches
through a :class:`fastgan.Generator` (so a training run resumes bit-exactly):

- ``gauss1d``: a 1-D Gaussian N(mean, std²) (default N(4, 1.25²)), the seed documents'
  toy problem for direct vs adversarial training and the optimal-discriminator check.
- ``ring``: 8 Gaussians evenly spaced on a circle of radius 2, std 0.02 (the VEEGAN /
  PacGAN mode-collapse benchmark).
- ``grid``: 25 Gaussians on the 5×5 grid {-4, -2, 0, 2, 4}², std 0.05 (same papers).
- ``digits``: scikit-learn's 8×8 handwritten digits (1797 images that ship with
  scikit-learn), flattened to 64 values in [0, 1]; every 6th image is held out.

Example::

    import fastgan
    data = fastgan.data.load("ring")
    g = fastgan.Generator(seed=0)
    x = data.sample(512, generator=g)      # (512, 2) float32
    ref = data.held_out(2000)              # fixed held-out draw for metrics
"""
from __future__ import annotations

import math
import numbers

import torch

from . import random as _random

__all__ = ["Dataset", "GaussianMixture", "TensorDataset", "gauss1d", "ring", "grid", "digits",
           "load", "names"]

# Held-out draws of the synthetic sets come from their own fixed stream, disjoint from any
# training seed a user is likely to pick.
_HELD_OUT_SEED = 0x5EED_0F_DA7A


# Checks of the constructors' arguments: a wrong type is a TypeError, a bad value (NaN, ≤ 0, ...)
# a ValueError. numpy scalars count as numbers (numbers.Integral / numbers.Real include them).
def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_n(n) -> int:
    return _check_int(n, "n", 1)


def _check_real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _check_real_tensor(t: torch.Tensor, name: str) -> None:
    # .float() would silently drop an imaginary part
    if t.is_complex():
        raise TypeError(f"{name} must be a real tensor, got dtype {t.dtype}")


class Dataset:
    """A built-in data set: ``dim`` features per sample, drawn by :meth:`sample`.

    Attributes: ``name`` (str), ``dim`` (int), ``centers`` ((K, dim) tensor of mixture
    modes, or None) and ``std`` (the per-mode std of a mixture, or None).
    """

    name: str = "dataset"
    dim: int = 0
    centers: torch.Tensor | None = None
    std: float | None = None

    def sample(self, n: int, *, generator: _random.Generator | None = None,
               device=None) -> torch.Tensor:
        """``n`` samples as an (n, dim) float32 tensor, consuming ``generator``'s stream."""
        raise NotImplementedError

    def held_out(self, n: int | None = None, *, device=None) -> torch.Tensor:
        """Fixed held-out samples (the same on every call) for evaluation metrics."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"fastgan.data.{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class GaussianMixture(Dataset):
    """An equal-weight mixture of isotropic Gaussians N(c_k, std² I).

    A draw of n samples takes n uniforms (mode k = floor(u·K)) then n·dim normals from the
    generator, in that order.
    """

    def __init__(self, centers: torch.Tensor, std: float, name: str = "mixture"):
        centers = torch.as_tensor(centers)
        _check_real_tensor(centers, "centers")
        centers = centers.to(torch.float32)
        if centers.dim() != 2 or centers.shape[0] < 1 or centers.shape[1] < 1:
            raise ValueError(f"centers must be a non-empty (K, D) tensor, got shape {tuple(centers.shape)}")
        self.centers = centers.contiguous()
        self.std = _check_positive(std, "std")
        self.dim = int(centers.shape[1])
        self.name = name

    def sample(self, n, *, generator=None, device=None):
        n = _check_n(n)
        k = self.centers.shape[0]
        u = _random.rand(n, generator=generator, device=device)
        idx = (u * k).long().clamp_(max=k - 1)
        noise = _random.randn(n, self.dim, generator=generator, device=device)
        return self.centers.to(noise.device)[idx] + self.std * noise

    def held_out(self, n=None, *, device=None):
        return self.sample(2000 if n is None else n, generator=_random.Generator(_HELD_OUT_SEED),
                           device=device)


class TensorDataset(Dataset):
    """A finite data set held in memory: minibatches are drawn uniformly with replacement.

    ``train`` (N, D) and optional ``test`` (M, D) float tensors. A draw of n samples takes n
    uniforms from the generator (index = floor(u·N)).
    """

    def __init__(self, train: torch.Tensor, test: torch.Tensor | None = None, name: str = "tensor",
                 image_shape: tuple[int, ...] | None = None):
        for what, t in (("train", train), ("test", test)):
            if what == "test" and t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
            _check_real_tensor(t, what)
        if train.dim() != 2 or train.shape[0] < 1:
            raise ValueError("train must be a non-empty (N, D) tensor")
        if test is not None and (test.dim() != 2 or test.shape[0] < 1 or test.shape[1] != train.shape[1]):
            raise ValueError(f"test must be a non-empty (M, {train.shape[1]}) tensor like train")
        self.train = train.float().contiguous()
        self.test = test.float().contiguous() if test is not None else None
        self.dim = int(train.shape[1])
        self.name = name
        self.image_shape = image_shape

    def sample(self, n, *, generator=None, device=None):
        n = _check_n(n)
        u = _random.rand(n, generator=generator, device=device)
        idx = (u * self.train.shape[0]).long().clamp_(max=self.train.shape[0] - 1)
        return self._train_on(u.device)[idx]

    def _train_on(self, device) -> torch.Tensor:
        # one copy of the training rows per device, so batches are gathered where they are used
        cache = self.__dict__.setdefault("_copies", {})
        key = str(device)
        if key not in cache:
            cache[key] = self.train.to(device)
        return cache[key]

    def held_out(self, n=None, *, device=None):
        data = self.test if self.test is not None else self.train
        if n is not None:
            data = data[: _check_n(n)]
        return data if device is None else data.to(device)


def gauss1d(mean: float = 4.0, std: float = 1.25) -> GaussianMixture:
    """The 1-D Gaussian N(mean, std²) as a one-mode mixture of dim 1."""
    mean = _check_real(mean, "mean")
    return GaussianMixture(torch.tensor([[mean]]), std, name="gauss1d")


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """``modes`` Gaussians evenly spaced on a circle: c_k = radius·(cos 2πk/K, sin 2πk/K)."""
    modes = _check_int(modes, "modes", 1)
    radius = _check_positive(radius, "radius")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    centers = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(centers.float(), std, name="ring")


def grid(size: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """size² Gaussians on a square grid centred at 0 with the given spacing
    (default {-4, -2, 0, 2, 4}²)."""
    size = _check_int(size, "size", 1)
    spacing = _check_positive(spacing, "spacing")
    axis = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) * spacing
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return GaussianMixture(centers.float(), std, name="grid")


def digits() -> TensorDataset:
    """scikit-learn's 8×8 digits as (N, 64) float32 in [0, 1]; every 6th image is held out
    (1497 train, 300 test). Needs scikit-learn (``pip install fastgan[train]``)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the 'digits' data set needs scikit-learn: pip install 'fastgan[train]'") from exc
    images = torch.from_numpy(load_digits().data).float() / 16.0
    held = torch.arange(images.shape[0]) % 6 == 0
    return TensorDataset(images[~held], images[held], name="digits", image_shape=(8, 8))


def _shapes(**kwargs):
    from .datasets.shapes import shapes  # imported on use: fastgan.datasets imports this module

    return shapes(**kwargs)


_BUILTIN = {"gauss1d": gauss1d, "ring": ring, "grid": grid, "digits": digits, "shapes": _shapes}


def names() -> tuple[str, ...]:
    """Names accepted by :func:`load`."""
    return tuple(_BUILTIN)


def load(source, **kwargs) -> Dataset:
    """A data set: a built-in one by name (``gauss1d``, ``ring``, ``grid``, ``digits``,
    ``shapes``; keyword arguments go to its constructor, e.g. ``load("ring", std=0.05)``), a
    path (an image folder, or a ``.npy`` / ``.npz`` / ``.pt`` file: see
    :func:`fastgan.datasets.from_path` for its keyword arguments, e.g. ``image_size=``,
    ``stream=True``, ``key=``), or an (N, D) tensor or numpy array of samples (a
    :class:`TensorDataset`; keyword arguments go to it, e.g. ``test=``). Samples must be finite.
    A built-in name wins over a folder of that name: pass ``pathlib.Path("ring")`` or
    ``"./ring"`` for the folder.

    >>> ring = fastgan.data.load("ring")
    >>> mine = fastgan.data.load(torch.randn(500, 2))
    """
    if isinstance(source, str) and source in _BUILTIN:
        return _BUILTIN[source](**kwargs)
    import os  # only paths need it

    if isinstance(source, (str, os.PathLike)):
        if not os.path.exists(source):
            raise ValueError(f"unknown data set {str(source)!r}: not a built-in one "
                             f"({', '.join(_BUILTIN)}) nor an existing file or folder")
        from .datasets import from_path

        return from_path(source, **kwargs)
    if type(source).__module__ == "numpy" and hasattr(source, "ndim"):
        source = torch.from_numpy(source)
    if not isinstance(source, torch.Tensor):
        raise TypeError(f"source must be a data set name, a tensor or a numpy array, got "
                        f"{type(source).__name__}")
    if not (source.is_floating_point() or source.dtype in (torch.int32, torch.int64,
                                                           torch.int16, torch.uint8)):
        raise TypeError(f"source must hold real numbers, got {source.dtype}")
    if source.dim() != 2:
        raise ValueError(f"source must be (N, D) samples, got shape {tuple(source.shape)}")
    bad = ~torch.isfinite(source.float()).all(1)
    if bool(bad.any()):
        raise ValueError(f"source row {int(bad.nonzero()[0, 0])} is not finite (NaN or inf)")
    return TensorDataset(source, **kwargs)

"""Small default MLPs for the built-in data sets (fast on a CPU)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["mlp_generator", "mlp_discriminator", "CategoricalLatentGenerator"]

_OUT = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def _check_dims(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _hidden(hidden) -> tuple[int, ...]:
    if isinstance(hidden, int):
        hidden = (hidden,)
    hidden = tuple(hidden)
    for h in hidden:
        _check_dims("hidden sizes", h)
    return hidden


def mlp_generator(latent_dim: int, out_dim: int, hidden: Sequence[int] | int = (128, 128),
                  out_activation: str = "identity") -> nn.Sequential:
    """z (B, latent_dim) -> x (B, out_dim): Linear-ReLU layers, then a Linear and
    ``out_activation`` ("identity", "sigmoid" for data in [0, 1], "tanh" for [-1, 1])."""
    _check_dims("latent_dim", latent_dim)
    _check_dims("out_dim", out_dim)
    if out_activation not in _OUT:
        raise ValueError(f"out_activation must be one of {tuple(_OUT)}, got {out_activation!r}")
    layers, d = [], latent_dim
    for h in _hidden(hidden):
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers += [nn.Linear(d, out_dim), _OUT[out_activation]()]
    return nn.Sequential(*layers)


def mlp_discriminator(in_dim: int, hidden: Sequence[int] | int = (128, 128),
                      out_dim: int = 1) -> nn.Sequential:
    """x (B, in_dim) -> logits (B, out_dim): Linear-LeakyReLU(0.2) layers, then a Linear.
    With out_dim > 1 it doubles as the feature network of an MMD-GAN."""
    _check_dims("in_dim", in_dim)
    _check_dims("out_dim", out_dim)
    layers, d = [], in_dim
    for h in _hidden(hidden):
        layers += [nn.Linear(d, h), nn.LeakyReLU(0.2)]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class CategoricalLatentGenerator(nn.Module):
    """An MLP generator whose latent has a discrete part: z (B, 1 + noise_dim) standard normal
    → x (B, out_dim).

    The first latent column becomes a category c = ⌊Φ(z₀)·K⌋ ∈ {0, …, K−1} (Φ the standard
    normal CDF, so c is uniform over the ``categories`` K), the other ``noise_dim`` columns stay
    Gaussian, and the MLP of :func:`mlp_generator` maps [one_hot(c), z₁…z_d] to x. A map from a
    connected latent (a Gaussian) onto separated modes is continuous and so must put mass on the
    bridges between them; with a discrete part each category can sit on a mode with no bridge.
    The latent stays the trainer's ordinary normal draw (``latent_dim = 1 + noise_dim``), so
    training, sampling and resuming work unchanged. Truncating the latent at sampling time
    also truncates z₀ and so drops the outer categories: do not truncate this generator's
    latents (its categories need none).

    >>> g = CategoricalLatentGenerator(25, 2, noise_dim=2)
    >>> g(torch.randn(10, g.latent_dim)).shape        # doctest: +SKIP
    torch.Size([10, 2])
    """

    def __init__(self, categories: int, out_dim: int, *, noise_dim: int = 2,
                 hidden: Sequence[int] | int = (128, 128), out_activation: str = "identity",
                 noise_scale: float = 1.0):
        super().__init__()
        self.categories = _check_dims("categories", categories)
        self.noise_dim = _check_dims("noise_dim", noise_dim)
        if isinstance(noise_scale, bool) or not isinstance(noise_scale, (int, float)) or not noise_scale > 0 \
                or noise_scale == float("inf"):
            raise ValueError(f"noise_scale must be a positive finite number, got {noise_scale!r}")
        self.noise_scale = float(noise_scale)
        self.latent_dim = 1 + self.noise_dim
        self.net = mlp_generator(self.categories + self.noise_dim, out_dim, hidden, out_activation)

    def category(self, z: torch.Tensor) -> torch.Tensor:
        """The category (B,) int64 of each latent row (from its first column)."""
        u = torch.special.ndtr(z[:, 0].double())
        return (u * self.categories).long().clamp_(0, self.categories - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}) (1 category column + noise_dim="
                             f"{self.noise_dim}), got shape {tuple(z.shape)}")
        one_hot = nn.functional.one_hot(self.category(z), self.categories).to(z.dtype)
        return self.net(torch.cat([one_hot, self.noise_scale * z[:, 1:]], dim=1))

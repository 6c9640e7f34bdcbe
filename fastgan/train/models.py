"""Small default MLPs for the built-in data sets (fast on a CPU)."""
from __future__ import annotations

from typing import Sequence

from torch import nn

__all__ = ["mlp_generator", "mlp_discriminator"]

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

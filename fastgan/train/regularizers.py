"""Discriminator regularisers: spectral normalisation, the R1 penalty (with lazy
regularisation) and the WGAN-GP gradient penalty.

The two penalties are gradients of D's scores with respect to its input, added to the D loss
and differentiated again (``create_graph=True``): a second derivative through D, which every
layer of :mod:`fastgan.train.conv` and :mod:`fastgan.train.models` supports. ``discriminator``
is any callable from a batch to one score per sample ((B,) or (B, 1)); wrap packing or
augmentation into it (``lambda x: D(pack(x, 2))``) to penalise what D really sees. Do not use
them with BatchNorm in D: a per-sample gradient is not one when batch statistics mix samples.

Typical D step (GAN, non-saturating loss, R1 every 16 steps as StyleGAN2 does)::

    r1 = R1Penalty(gamma=10.0, every=16)
    loss = fastgan.losses.discriminator_loss(D(real), D(fake.detach())) + r1(D, real)
    loss.backward()
"""
from __future__ import annotations

import torch
from torch import nn

from .. import random as _random

__all__ = ["spectral_norm", "r1_penalty", "R1Penalty", "gradient_penalty"]

_SN_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d)


def _check_nonneg(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def spectral_norm(module: nn.Module, *, n_power_iterations: int = 1, eps: float = 1e-12,
                  generator: _random.Generator | None = None) -> nn.Module:
    """Spectrally normalise every Linear / Conv / ConvTranspose layer of ``module`` in place
    (Miyato et al. 2018) and return it: each weight W is used as W / σ(W), σ estimated by
    ``n_power_iterations`` power iterations per training-mode forward
    (``torch.nn.utils.parametrizations.spectral_norm``; layers already normalised are left
    as they are).

    The power-iteration vectors u, v are buffers, so they are in ``state_dict()`` and a resumed
    run continues them exactly. With ``generator=`` their starting values are drawn from the
    fastgan stream (then refined by 15 power iterations, as PyTorch does) rather than from
    torch's global RNG.

    >>> d = spectral_norm(fastgan.train.mlp_discriminator(2))
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations, int) \
            or n_power_iterations < 1:
        raise ValueError(f"n_power_iterations must be a positive int, got {n_power_iterations!r}")
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm as _sn

    layers = [m for m in module.modules() if isinstance(m, _SN_TYPES)]
    for m in layers:
        if parametrize.is_parametrized(m, "weight"):
            continue
        _sn(m, n_power_iterations=n_power_iterations, eps=eps)
        if generator is not None:
            _restart_power_iteration(m.parametrizations.weight, generator)
    return module


@torch.no_grad()
def _restart_power_iteration(plist, generator) -> None:
    sn = plist[0]
    if not hasattr(sn, "_u"):  # a 1-D weight needs no power iteration
        return
    weight_mat = sn._reshape_weight_to_matrix(plist.original)
    u = _random.randn(sn._u.shape[0], generator=generator, device=sn._u.device, dtype=sn._u.dtype)
    v = _random.randn(sn._v.shape[0], generator=generator, device=sn._v.device, dtype=sn._v.dtype)
    sn._u.copy_(nn.functional.normalize(u, dim=0, eps=sn.eps))
    sn._v.copy_(nn.functional.normalize(v, dim=0, eps=sn.eps))
    sn._power_method(weight_mat, 15)


def _input_gradient(discriminator, x: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """∇_x D(x) per sample, flattened to (B, features)."""
    x = x.detach().requires_grad_(True)
    scores = discriminator(x)
    if not isinstance(scores, torch.Tensor) or scores.numel() != x.shape[0]:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"discriminator must return one score per sample ({x.shape[0]},) or "
                         f"({x.shape[0]}, 1), got {shape}")
    # the sum's gradient is every sample's own gradient: score i depends on x_i alone
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    return grad.reshape(grad.shape[0], -1)


def r1_penalty(discriminator, real: torch.Tensor, gamma: float = 10.0, *,
               create_graph: bool = True) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): γ/2 · E_x ‖∇_x D(x)‖² on real samples.

    ``real`` (B, ...) any float dtype; returns a 0-d tensor whose gradient with respect to D's
    parameters (``create_graph=True``, the default) is the penalty's. D's scores are taken
    before the loss (logits), as in the paper.

    >>> D = fastgan.train.mlp_discriminator(2)
    >>> r1_penalty(D, torch.randn(64, 2), gamma=1.0).backward()
    """
    gamma = _check_nonneg("gamma", gamma)
    _check_batch("real", real)
    grad = _input_gradient(discriminator, real, create_graph)
    return 0.5 * gamma * grad.pow(2).sum(1).mean()


class R1Penalty:
    """R1 with lazy regularisation (Karras et al. 2020, StyleGAN2): the penalty is computed on
    one call in ``every`` and multiplied by ``every`` there, so its average over calls is the
    R1 penalty at a fraction of the cost; on the other calls it returns a zero tensor.

    Calls are counted (call 0 is due, then ``every``, ``2·every``, ...); the count is the
    state, saved by :meth:`state_dict` and restored by :meth:`load_state_dict` so a resumed
    run regularises on the same steps. StyleGAN2 also rescales Adam for the D steps that carry
    the penalty (lr·c, betas^c with c = every / (every + 1)); that is the optimiser's business.

    >>> r1 = R1Penalty(gamma=10.0, every=4)
    >>> loss = r1(D, real)          # 4·R1 on calls 0, 4, 8, ...; 0 otherwise   # doctest: +SKIP
    """

    def __init__(self, gamma: float = 10.0, every: int = 1):
        self.gamma = _check_nonneg("gamma", gamma)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.every = every
        self.calls = 0

    @property
    def due(self) -> bool:
        """Whether the next call computes the penalty."""
        return self.calls % self.every == 0

    def __call__(self, discriminator, real: torch.Tensor) -> torch.Tensor:
        due = self.due
        self.calls += 1
        if not due:
            return real.new_zeros(())
        return self.every * r1_penalty(discriminator, real, self.gamma)

    def state_dict(self) -> dict:
        return {"gamma": self.gamma, "every": self.every, "calls": self.calls}

    def load_state_dict(self, state: dict) -> None:
        if state.get("gamma") != self.gamma or state.get("every") != self.every:
            raise ValueError(f"R1Penalty state is for gamma={state.get('gamma')}, "
                             f"every={state.get('every')}; this one has gamma={self.gamma}, "
                             f"every={self.every}")
        self.calls = int(state["calls"])

    def __repr__(self) -> str:
        return f"R1Penalty(gamma={self.gamma}, every={self.every}, calls={self.calls})"


def _check_batch(name: str, x) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 1 \
            or x.shape[0] < 1:
        raise TypeError(f"{name} must be a floating-point tensor (B, ...) with B >= 1, got "
                        f"{type(x).__name__ if not isinstance(x, torch.Tensor) else (x.dtype, tuple(x.shape))}")


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     *, generator: _random.Generator | None = None, target: float = 1.0,
                     create_graph: bool = True) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): λ · E (‖∇_x̂ D(x̂)‖₂ − target)² on random interpolates
    x̂ = ε·real + (1 − ε)·fake, one ε ~ U[0, 1) per sample.

    The ε are B uniforms from ``generator`` (``fastgan.rand(B, generator=generator)``), so a
    resumed run draws the same ones. ``real`` and ``fake`` (B, ...) of one shape; ``fake``
    is detached (the penalty trains D only). Returns a 0-d tensor.

    >>> D = fastgan.train.mlp_discriminator(2)
    >>> gp = gradient_penalty(D, torch.randn(64, 2), torch.randn(64, 2),
    ...                       generator=fastgan.Generator(0))
    """
    weight = _check_nonneg("weight", weight)
    _check_batch("real", real)
    _check_batch("fake", fake)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have one shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    eps = _random.rand(real.shape[0], generator=generator, device=real.device)
    eps = eps.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    mixed = eps * real.detach() + (1 - eps) * fake.detach()
    grad = _input_gradient(discriminator, mixed, create_graph)
    return weight * (torch.linalg.vector_norm(grad, dim=1) - target).pow(2).mean()

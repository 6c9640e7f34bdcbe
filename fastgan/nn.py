"""nn.Module forms of fastgan's losses, for code that composes losses as modules.

:class:`DiscriminatorLoss` and :class:`GeneratorLoss` wrap :func:`fastgan.losses.discriminator_loss`
and :func:`fastgan.losses.generator_loss` (options checked at construction);
:class:`MMDLoss` wraps :func:`fastgan.mmd`. The modules hold no parameters or buffers.
"""
from __future__ import annotations

import torch
from torch import nn

from .ops import gan_loss as _gl

__all__ = ["DiscriminatorLoss", "GeneratorLoss", "MMDLoss"]


class DiscriminatorLoss(nn.Module):
    """Fused discriminator loss on (real_logits, fake_logits); see
    :func:`fastgan.losses.discriminator_loss` for the formulas.

    Args:
        loss: ``"bce"``, ``"hinge"`` or ``"wasserstein"``.
        real_label, fake_label: BCE targets in [0, 1] (e.g. ``real_label=0.9`` for one-sided
            label smoothing); ``"bce"`` only.
        reduction: ``"mean"`` (each part averaged over its own count, then added), ``"sum"``
            or ``"none"`` (the pair of per-element losses ``(real, fake)``).

    Example::

        >>> crit = fastgan.nn.DiscriminatorLoss(real_label=0.9)
        >>> loss = crit(D(x), D(G(z).detach()))
    """

    def __init__(self, loss: str = "bce", *, real_label: float = 1.0, fake_label: float = 0.0,
                 reduction: str = "mean"):
        super().__init__()
        self.real_label, self.fake_label = _gl._check_discriminator_options(
            real_label, fake_label, loss, reduction)
        self.loss, self.reduction = loss, reduction

    def forward(self, real_logits: torch.Tensor, fake_logits: torch.Tensor):
        return _gl.discriminator_loss(real_logits, fake_logits, real_label=self.real_label,
                                      fake_label=self.fake_label, loss=self.loss,
                                      reduction=self.reduction)

    def extra_repr(self) -> str:
        s = f"loss={self.loss!r}, reduction={self.reduction!r}"
        if self.loss == "bce":
            s += f", real_label={self.real_label}, fake_label={self.fake_label}"
        return s


class GeneratorLoss(nn.Module):
    """Fused generator loss on the discriminator's logits for generated data; see
    :func:`fastgan.losses.generator_loss`.

    Args:
        loss: ``"bce"``, ``"hinge"`` or ``"wasserstein"`` (the last two: −mean(logits)).
        saturating: for ``"bce"``, the minimax form mean log(1 − D(G(z))) instead of the
            non-saturating −mean log D(G(z)).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Example::

        >>> crit = fastgan.nn.GeneratorLoss()
        >>> crit(D(G(z))).backward()
    """

    def __init__(self, loss: str = "bce", *, saturating: bool = False, reduction: str = "mean"):
        super().__init__()
        _gl._check_generator_options(saturating, loss, reduction)
        self.loss, self.saturating, self.reduction = loss, saturating, reduction

    def forward(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return _gl.generator_loss(fake_logits, saturating=self.saturating, loss=self.loss,
                                  reduction=self.reduction)

    def extra_repr(self) -> str:
        s = f"loss={self.loss!r}, reduction={self.reduction!r}"
        return s + (", saturating=True" if self.saturating else "")


class MMDLoss(nn.Module):
    """Squared MMD between two batches, ``fastgan.mmd(x, y, **kwargs)``, as a module.

    The keyword arguments (``kernel``, ``bandwidth``, ``estimator``, ...) are stored and passed
    through on every call, so they are checked by :func:`fastgan.mmd` on the first forward.

    Example::

        >>> crit = fastgan.nn.MMDLoss(kernel="gaussian", bandwidth=[1.0, 2.0, 5.0])
        >>> crit(real_batch, G(z)).backward()     # GMMN training step
    """

    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = dict(kwargs)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from .ops.mmd import mmd  # loaded on first use

        return mmd(x, y, **self.kwargs)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())

"""Plain-PyTorch GAN losses: the reference the fused kernels are tested and benchmarked against.

Written the obvious way (softplus, ``relu``, means), so each call
is the composite of small eager kernels that the fused op replaces. Differentiable by autograd;
run it in float64 for the tests.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["discriminator_loss_reference", "generator_loss_reference"]


def _softplus(x):
    # log(1 + e^x); the threshold (x itself above it) is far enough out for float64
    return F.softplus(x, threshold=50.0)


def _bce(logits, label):
    # BCE-with-logits against the constant target y: -y·log σ(l) - (1 - y)·log(1 - σ(l)).
    # (Written with softplus: torch's binary_cross_entropy_with_logits loses the e^l tail
    # for y = 0 and l << 0 even in float64.) A term whose weight is 0 is left out, so that an
    # infinite logit the label predicts costs 0 rather than 0·inf = NaN.
    if label == 0.0:
        return _softplus(logits)
    if label == 1.0:
        return _softplus(-logits)
    return label * _softplus(-logits) + (1.0 - label) * _softplus(logits)


def _reduce(t: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        # the plain eager mean, (Σ t)/n: in float32 it overflows for values near the dtype's
        # maximum (the tests use float64, the benchmarks it as the eager baseline)
        return t.mean()
    if reduction == "sum":
        return t.sum()
    if reduction == "none":
        return t
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def discriminator_loss_reference(real_logits, fake_logits, *, real_label=1.0, fake_label=0.0,
                                 loss="bce", reduction="mean"):
    """Discriminator loss; ``reduction="none"`` returns the pair (real part, fake part).

    bce: BCE-with-logits(real, real_label) + BCE-with-logits(fake, fake_label), where
    BCE(l, y) = y·softplus(-l) + (1 - y)·softplus(l); hinge: relu(1 - real) + relu(1 + fake);
    wasserstein: fake - real. Each part is reduced over its own elements ("mean": each averaged
    over its own count), then the two are added. Logits of any shapes (the two may differ),
    any float dtype (the tests use float64); the result is 0-d, or the two per-element tensors.

    Example::

        >>> r, f = torch.randn(8, 1, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
        >>> discriminator_loss_reference(r, f, real_label=0.9)
    """
    if loss == "bce":
        lr, lf = _bce(real_logits, real_label), _bce(fake_logits, fake_label)
    elif loss == "hinge":
        lr, lf = F.relu(1.0 - real_logits), F.relu(1.0 + fake_logits)
    elif loss == "wasserstein":
        lr, lf = -real_logits, fake_logits
    else:
        raise ValueError(f"unknown loss {loss!r}")
    if reduction == "none":
        return lr, lf
    return _reduce(lr, reduction) + _reduce(lf, reduction)


def generator_loss_reference(fake_logits, *, saturating=False, loss="bce", reduction="mean"):
    """Generator loss: bce non-saturating softplus(-l) = -log D(G(z)); saturating -softplus(l) =
    log(1 - D(G(z))); hinge and wasserstein: -l. Reduced as ``reduction`` says (a 0-d tensor,
    or per-element losses shaped like ``fake_logits`` for "none").

    Example::

        >>> generator_loss_reference(torch.randn(8, 1, dtype=torch.float64), saturating=True)
    """
    if loss == "bce":
        per = -_softplus(fake_logits) if saturating else _softplus(-fake_logits)
    elif loss in ("hinge", "wasserstein"):
        per = -fake_logits
    else:
        raise ValueError(f"unknown loss {loss!r}")
    return _reduce(per, reduction)

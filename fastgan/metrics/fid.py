"""Fréchet Inception Distance from streamed float64 means and covariances."""
from __future__ import annotations

import torch

from .base import Metric

__all__ = ["FID", "fid", "frechet_distance"]


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor,
                     sigma2: torch.Tensor) -> torch.Tensor:
    """The Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂):

        ‖μ₁ − μ₂‖² + Tr(Σ₁) + Tr(Σ₂) − 2 Tr((Σ₁Σ₂)^½)

    Tr((Σ₁Σ₂)^½) is Σᵢ √λᵢ over the eigenvalues λ of the symmetric matrix Σ₁^½ Σ₂ Σ₁^½ (similar
    to Σ₁Σ₂), both from symmetric eigendecompositions (``torch.linalg.eigh``) with eigenvalues
    clamped at 0: no iterative matrix square root, no complex round-off to discard.

    mu (D,), sigma (D, D) tensors; computed in float64; returns a 0-d float64 tensor.

    >>> frechet_distance(torch.zeros(3), torch.eye(3), torch.ones(3), torch.eye(3))
    tensor(3., dtype=torch.float64)
    """
    for name, t, dims in (("mu1", mu1, 1), ("sigma1", sigma1, 2), ("mu2", mu2, 1), ("sigma2", sigma2, 2)):
        if not isinstance(t, torch.Tensor) or t.dim() != dims:
            raise ValueError(f"{name} must be a {dims}-D tensor, got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"shapes must be mu (D,), sigma (D, D) with one D; got mu1 {tuple(mu1.shape)}, "
                         f"sigma1 {tuple(sigma1.shape)}, mu2 {tuple(mu2.shape)}, sigma2 {tuple(sigma2.shape)}")
    mu1, mu2, s1, s2 = (t.detach().double() for t in (mu1, mu2, sigma1, sigma2))
    w, v = torch.linalg.eigh((s1 + s1.T) / 2)
    root = (v * w.clamp_min(0).sqrt()) @ v.T
    inner = root @ s2 @ root
    lam = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0)
    diff = mu1 - mu2
    return diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * lam.sqrt().sum()


class _Moments:
    """n, mean and the centred scatter M = Σ (x − mean)(x − mean)ᵀ in float64, merged per batch
    with Chan et al.'s pairwise update (no sum of squares that cancels)."""

    def __init__(self, n, mean, m2):
        self.n, self.mean, self.m2 = n, mean, m2

    @staticmethod
    def of(x: torch.Tensor) -> "_Moments":
        x = x.double()
        mean = x.mean(0)
        c = x - mean
        return _Moments(x.shape[0], mean, c.T @ c)

    def merge(self, other: "_Moments") -> "_Moments":
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        m2 = self.m2 + other.m2 + torch.outer(delta, delta) * (self.n * other.n / n)
        return _Moments(n, mean, m2)


class FID(Metric):
    """Streaming Fréchet Inception Distance, in torchmetrics' ``Metric`` shape.

    ``update(x, real=True|False)`` folds a batch (features (n, D), or inputs of the
    ``feature_extractor``) into that side's running float64 mean and covariance; no features
    are kept, so memory is O(D²) whatever the number of samples. ``compute()`` returns
    :func:`frechet_distance` of the two Gaussians (covariances with the n − 1 normalisation,
    as pytorch-fid and torch-fidelity use) as a 0-d float64 tensor; ``reset()`` clears both.
    Under torch.distributed ``compute()`` merges every rank's moments (equal, to rounding, to
    one process that saw all rows).

    >>> m = fastgan.metrics.FID()
    >>> m.update(torch.randn(500, 8), real=True); m.update(torch.randn(500, 8) + 1, real=False)
    >>> m.compute()            # about ‖1‖² = 8
    """

    def reset(self) -> None:
        """Forget both sides."""
        self._moments = {"real": None, "fake": None}

    def update(self, x: torch.Tensor, *, real: bool) -> None:
        """Fold a batch into the real (``real=True``) or the fake side's moments."""
        side = self._side(real)
        f = self._features(x)
        have = self._moments[side]
        if have is not None and f.shape[1] != have.mean.shape[0]:
            raise ValueError(f"x gives features of dimension {f.shape[1]}; earlier updates gave "
                             f"{have.mean.shape[0]}")
        if f.shape[0] == 0:
            return
        new = _Moments.of(f)
        self._moments[side] = new if have is None else have.merge(new)

    def _synced(self, side: str) -> _Moments:
        mom = self._moments[side]
        if mom is None:
            raise ValueError(f"FID.compute(): no {side} features yet; call update(x, real="
                             f"{side == 'real'}) first")
        if self._syncing():
            n = torch.tensor([[float(mom.n)]], dtype=torch.float64, device=mom.mean.device)
            ns, means, m2s = self._gather(n), self._gather(mom.mean[None]), self._gather(mom.m2[None])
            mom = _Moments(0, None, None)
            for k, mu, m2 in zip(ns, means, m2s):
                mom = mom.merge(_Moments(int(k.item()), mu[0], m2[0]))
        if mom.n < 2:
            raise ValueError(f"FID.compute(): the {side} side has {mom.n} sample(s); a covariance "
                             "needs at least 2")
        return mom

    def compute(self) -> torch.Tensor:
        """FID between the real and the fake side (0-d float64 tensor)."""
        r, f = self._synced("real"), self._synced("fake")
        return frechet_distance(r.mean, r.m2 / (r.n - 1), f.mean, f.m2 / (f.n - 1))


def fid(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """FID of two feature sets (n, D) and (m, D), n, m >= 2: :class:`FID` with one update each.

    >>> fastgan.metrics.fid(torch.randn(500, 8), torch.randn(500, 8) + 1)
    """
    m = FID()
    m.update(real_features, real=True)
    m.update(fake_features, real=False)
    return m.compute()

"""Sample-quality metrics: Kernel Inception Distance (KID) over random subsets, batched."""
from __future__ import annotations

import numbers

import torch

from .ops import mmd as _mmd

__all__ = ["kid", "kid_subset_indices"]


def kid_subset_indices(n_real: int, n_fake: int, subsets: int, subset_size: int, *,
                       generator=None, device=None):
    """The random subsets :func:`kid` uses, drawn without replacement.

    Row s of the real indices is the first ``subset_size`` entries of a stable argsort of row
    s of ``fastgan.rand(subsets, n_real, generator=generator)`` (a uniformly random
    permutation, as torchmetrics' ``torch.randperm`` per subset, on fastgan's Philox stream);
    the fake indices are drawn next from the same generator, likewise. Returns two int64
    tensors of shape (subsets, subset_size).

    >>> real_idx, fake_idx = kid_subset_indices(500, 400, 10, 100, generator=fastgan.Generator(0))
    """
    import fastgan

    ur = fastgan.rand(subsets, n_real, generator=generator, device=device)
    uf = fastgan.rand(subsets, n_fake, generator=generator, device=device)
    real_idx = torch.argsort(ur, dim=1, stable=True)[:, :subset_size]
    fake_idx = torch.argsort(uf, dim=1, stable=True)[:, :subset_size]
    return real_idx, fake_idx


def kid(real_features: torch.Tensor, fake_features: torch.Tensor, *, subsets: int = 100,
        subset_size: int = 1000, degree: int = 3, gamma: float | None = None, coef: float = 1.0,
        generator=None, precision: str = "ieee"):
    """Kernel Inception Distance as torchmetrics' ``KernelInceptionDistance`` defines it.

    For each of ``subsets`` pairs of random subsets of ``subset_size`` rows drawn without
    replacement (:func:`kid_subset_indices`) from the real and the fake features, the unbiased
    MMD² with the polynomial kernel k(a, b) = (γ⟨a, b⟩ + coef)^degree, γ = 1/D by default:

        KID_s = (Σ_{i≠i'} k(r_i, r_i') + Σ_{j≠j'} k(f_j, f_j')) / (m(m−1))
                − 2 Σ_{i,j} k(r_i, f_j) / m²

    Returns ``(mean, std)`` over the subsets, std with ``unbiased=False``; 0-d tensors, float64
    for float64 features else float32. Not differentiable.

    On CUDA all subsets run in one Triton launch over (row tile, subset) programs that gather
    rows through the index tensors (no dense m×m matrices, nothing copied per subset); on CPU
    a chunked PyTorch loop over the subsets. ``precision="ieee"`` (default) keeps full float32
    dots for float32 features; ``"tf32"`` trades accuracy for speed on the GPU.

    Args:
        real_features: (N_r, D), fake_features: (N_f, D), same dtype and device.
        subsets: number of subset pairs (>= 1); subset_size: m, 2 <= m <= min(N_r, N_f).
        generator: a :class:`fastgan.Generator` (default: the device's default generator).

    >>> mean, std = fastgan.metrics.kid(torch.randn(300, 64), torch.randn(300, 64) + 0.1,
    ...                                 subsets=10, subset_size=100)
    """
    _mmd.checks.check_pair(real_features, fake_features, names=("real_features", "fake_features"))
    _mmd.checks.check_kernel("polynomial", degree, gamma, coef, precision)
    for name, v in (("subsets", subsets), ("subset_size", subset_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2 (the estimator is unbiased), got {subset_size}")
    n_real, n_fake = real_features.shape[0], fake_features.shape[0]
    if subset_size > min(n_real, n_fake):
        raise ValueError(f"subset_size ({subset_size}) must not exceed the number of samples "
                         f"(real: {n_real}, fake: {n_fake})")
    m = int(subset_size)
    real_idx, fake_idx = kid_subset_indices(n_real, n_fake, int(subsets), m, generator=generator,
                                            device=real_features.device)
    sums = _mmd.subset_kernel_sums(real_features, fake_features, real_idx, fake_idx,
                                   kernel="polynomial", estimator="unbiased", degree=degree,
                                   gamma=gamma, coef=coef, precision=precision)
    scores = (sums[:, 0] + sums[:, 1]) / (m * (m - 1)) - 2.0 * sums[:, 2] / (m * m)
    out = torch.float64 if real_features.dtype == torch.float64 else torch.float32
    return scores.mean().to(out), scores.std(unbiased=False).to(out)

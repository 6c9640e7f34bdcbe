"""Kernel Inception Distance (KID) over random subsets, batched: the function form."""
from __future__ import annotations

import numbers

import torch

from ..ops import mmd as _mmd
from .base import Metric

__all__ = ["kid", "kid_subset_indices", "KID"]


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


class KID(Metric):
    """Streaming Kernel Inception Distance, in torchmetrics' ``Metric`` shape.

    ``update(x, real=True|False)`` adds a batch (features (n, D), or inputs of the
    ``feature_extractor``); ``compute()`` returns :func:`kid` ``(mean, std)`` over the kept
    real and fake features, with subsets drawn from ``fastgan.Generator(seed)``, so the numbers
    are exactly those of ``kid(real, fake, ..., generator=fastgan.Generator(seed))`` on the same
    features; ``reset()`` forgets them.

    Memory is bounded: each side keeps at most ``max_samples`` rows. Past that, a uniform
    reservoir sample (Vitter's algorithm R on fastgan's Philox stream, seeded by ``seed``)
    replaces kept rows, so the kept rows are a uniform sample without replacement of all rows
    seen, and the same sample however the rows were split into batches. Under torch.distributed every rank keeps its own reservoir and ``compute()`` joins
    them in rank order: with fewer than ``max_samples`` rows per rank that is exactly the
    one-process result on the rank-ordered data.

    Args: ``subsets``, ``subset_size``, ``degree``, ``gamma``, ``coef``, ``precision`` as in
    :func:`kid`; ``max_samples`` (>= subset_size) rows kept per side; ``seed`` for the subsets
    and the reservoir; ``feature_extractor``, ``process_group`` and ``sync`` as in
    :class:`fastgan.metrics.base.Metric`.

    >>> m = fastgan.metrics.KID(subsets=10, subset_size=100)
    >>> m.update(torch.randn(300, 64), real=True); m.update(torch.randn(300, 64) + 0.1, real=False)
    >>> mean, std = m.compute()
    """

    def __init__(self, feature_extractor=None, *, subsets: int = 100, subset_size: int = 1000,
                 degree: int = 3, gamma: float | None = None, coef: float = 1.0,
                 max_samples: int = 10_000, seed: int = 0, precision: str = "ieee", process_group=None,
                 sync: bool = True):
        _mmd.checks.check_kernel("polynomial", degree, gamma, coef, precision)
        for name, v in (("subsets", subsets), ("subset_size", subset_size), ("max_samples", max_samples),
                        ("seed", seed)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if subsets < 1:
            raise ValueError(f"subsets must be >= 1, got {subsets}")
        if subset_size < 2:
            raise ValueError(f"subset_size must be >= 2 (the estimator is unbiased), got {subset_size}")
        if max_samples < subset_size:
            raise ValueError(f"max_samples ({max_samples}) must be >= subset_size ({subset_size})")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.subsets, self.subset_size, self.degree = subsets, subset_size, degree
        self.gamma, self.coef, self.precision = gamma, coef, precision
        self.max_samples, self.seed = max_samples, seed
        super().__init__(feature_extractor, process_group=process_group, sync=sync)

    def reset(self) -> None:
        """Forget every feature seen (the reservoir's stream restarts from ``seed``)."""
        import fastgan

        self._kept = {"real": None, "fake": None}
        self._seen = {"real": 0, "fake": 0}
        # one stream per side, so the real reservoir does not depend on how fake updates interleave
        self._rng = {"real": fastgan.Generator(self.seed + 1), "fake": fastgan.Generator(self.seed + 2)}

    def update(self, x: torch.Tensor, *, real: bool) -> None:
        """Add a batch to the real (``real=True``) or the fake side."""
        import fastgan

        side = self._side(real)
        f = self._features(x)
        kept = self._kept[side]
        if kept is not None and (f.shape[1] != kept.shape[1] or f.dtype != kept.dtype
                                 or f.device != kept.device):
            raise ValueError(f"x gives features of shape (n, {f.shape[1]}), {f.dtype} on {f.device}; "
                             f"earlier updates gave (n, {kept.shape[1]}), {kept.dtype} on {kept.device}")
        seen, cap = self._seen[side], self.max_samples
        room = max(0, cap - seen)
        head = f[:room]
        kept = head.clone() if kept is None else torch.cat([kept, head])
        rest = f[room:]
        if rest.shape[0]:
            # algorithm R: row t (0-based over all rows seen) replaces slot j ~ U{0..t} when j < cap
            t = torch.arange(seen + room, seen + f.shape[0], dtype=torch.float64)
            # row t takes value t − cap of the side's Philox stream (4 values per counter), so the
            # kept rows do not depend on how the rows were split into batches
            p0, p1 = seen + room - cap, seen + f.shape[0] - cap
            g = self._rng[side]
            g.set_offset(p0 // 4)
            u = fastgan.rand(p1 - 4 * (p0 // 4), generator=g, dtype=torch.float64)[p0 % 4:]
            j = torch.floor(u * (t + 1)).to(torch.int64)
            hit = torch.nonzero(j < cap).flatten()
            if hit.numel():
                slots = j[hit]
                order, perm = torch.sort(slots, stable=True)
                last = torch.ones_like(order, dtype=torch.bool)
                last[:-1] = order[1:] != order[:-1]  # a slot hit twice keeps the later row
                rows = hit[perm[last]]
                kept[order[last].to(kept.device)] = rest[rows.to(rest.device)]
        self._kept[side] = kept
        self._seen[side] = seen + f.shape[0]

    def _synced(self, side: str) -> torch.Tensor:
        kept = self._kept[side]
        if kept is None:
            raise ValueError(f"KID.compute(): no {side} features yet; call update(x, real="
                             f"{side == 'real'}) first")
        return torch.cat(self._gather(kept))

    def compute(self):
        """``(mean, std)`` of KID over the kept features (0-d tensors, see :func:`kid`)."""
        import fastgan

        real, fake = self._synced("real"), self._synced("fake")
        return kid(real, fake, subsets=self.subsets, subset_size=self.subset_size, degree=self.degree,
                   gamma=self.gamma, coef=self.coef, precision=self.precision,
                   generator=fastgan.Generator(self.seed, real.device))

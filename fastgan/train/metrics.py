"""Evaluation metrics for training runs: mode coverage on 2-D mixtures, held-out MMD, and the
periodic KID/FID evaluation of a run (:class:`Evaluator`).

Mode coverage follows VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al., 2018):

- a generated sample is *high quality* when its distance to the nearest mode centre is
  at most ``3·std`` (std: the mixture's per-mode standard deviation);
- a mode is *covered* (``modes_covered``, VEEGAN's rule as fastgan applies it) when at least
  ``min_count`` high-quality samples have it as their nearest centre; fastgan's count is 20
  of the 2,500 samples (a fastgan choice, not a number taken from either paper's code);
- a mode is covered by PacGAN's released code (``modes_covered_any``) when it is the nearest
  centre of at least one high-quality sample;
- ``reverse_kl`` is KL(p ‖ uniform) between the histogram p of the high-quality samples'
  nearest modes and the uniform distribution over the K modes, as PacGAN reports it (see
  :func:`mode_coverage` for the exact formula).
"""
from __future__ import annotations

import torch

from . import _ops

__all__ = ["mode_coverage", "REVERSE_KL_EPS", "heldout_mmd", "HELDOUT_BANDWIDTHS", "Evaluator"]


# An empty mode has p_k = 0 and contributes 0·log 0 = 0 to the reverse KL; the log's argument
# is floored at this ε so that the 0 term is computed as 0 rather than 0·(−inf) = NaN.
REVERSE_KL_EPS = 1e-10


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float, *,
                  min_count: int = 20, radius: float = 3.0) -> dict:
    """Modes covered, the share of high-quality samples and the reverse KL over modes.

    samples (n, D) and centers (K, D) float tensors; ``std`` the per-mode std. Distances are
    Euclidean in float64; rows with NaN/inf count as not high quality. With d_i the distance
    of sample i to its nearest centre k_i, sample i is high quality when d_i <= radius·std
    (the boundary counts as inside), n_k = #{high-quality i with k_i = k}, N = Σ_k n_k, and

    - ``modes_covered`` = #{k : n_k >= min_count} (VEEGAN's rule, count 20 by default),
    - ``modes_covered_any`` = #{k : n_k >= 1} (PacGAN's released code),
    - ``high_quality_share`` = N / n,
    - ``reverse_kl`` = Σ_k p_k·log(max(p_k, ε)·K), p_k = n_k / N, ε = 1e-10
      (KL(p ‖ uniform over the K modes) in nats; empty modes contribute 0; ``None`` when
      no sample is high quality, N = 0, where p is undefined),
    - ``counts`` = [n_0, …, n_{K−1}].

    Returns ``{"modes_covered": int, "modes_covered_any": int, "modes_total": K,
    "high_quality_share": float in [0, 1], "reverse_kl": float | None, "counts": [int]*K}``.

    >>> mode_coverage(torch.zeros(100, 2), torch.tensor([[0., 0.], [5., 5.]]), 0.1)["modes_covered"]
    1
    """
    if not isinstance(samples, torch.Tensor) or samples.dim() != 2:
        raise ValueError("samples must be an (n, D) tensor")
    if not isinstance(centers, torch.Tensor) or centers.dim() != 2 or centers.shape[1] != samples.shape[1]:
        raise ValueError("centers must be a (K, D) tensor with the same D as samples")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive int, got {min_count!r}")
    s = samples.detach().double().cpu()
    c = centers.detach().double().cpu()
    finite = torch.isfinite(s).all(dim=1)
    # direct differences, not torch.cdist's matmul form, so a sample exactly 3σ away is
    # classified exactly (the boundary test compares with a float64 formula)
    dist, nearest = (s[finite, None, :] - c[None, :, :]).norm(dim=2).min(dim=1)
    good = dist <= radius * std
    counts = torch.bincount(nearest[good], minlength=c.shape[0])
    total = int(counts.sum())
    if total:
        p = counts.double() / total
        rkl = float((p * (p.clamp(min=REVERSE_KL_EPS) * c.shape[0]).log()).sum())
    else:
        rkl = None
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "modes_covered_any": int((counts >= 1).sum()),
        "modes_total": int(c.shape[0]),
        "high_quality_share": float(good.sum()) / max(1, samples.shape[0]),
        "reverse_kl": rkl,
        "counts": [int(v) for v in counts],
    }


# Held-out MMD uses a Gaussian mixture of 6 bandwidths spaced geometrically from the held-out
# data's median nearest-neighbour distance (fine structure: tight modes, strokes) to twice its
# median pairwise distance (global shape), so numbers are comparable across runs on one data set.
HELDOUT_BANDWIDTHS = 6


@torch.no_grad()
def heldout_mmd(samples: torch.Tensor, held_out: torch.Tensor) -> dict:
    """Unbiased MMD² between generated samples (n, D) and held-out data (m, D): Gaussian kernel
    summed over σ_k = a·(b/a)^(k/5), k = 0..5, with a the median nearest-neighbour distance
    and b twice the median pairwise distance of (the first 1000 rows of) the held-out data.
    Returns ``{"mmd2": float, "bandwidths": [σ...]}``."""
    if not isinstance(samples, torch.Tensor) or not isinstance(held_out, torch.Tensor):
        raise TypeError("samples and held_out must be tensors")
    ref = held_out.detach().float().cpu()
    gen = samples.detach().float().cpu().reshape(samples.shape[0], -1)
    sub = ref[:1000]
    d = torch.cdist(sub, sub)
    med = float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)].median())
    nn_ = float(d.fill_diagonal_(float("inf")).min(dim=1).values.median())
    lo, hi = max(nn_, 1e-6), max(2 * med, 2e-6)
    k = HELDOUT_BANDWIDTHS
    bws = [lo * (hi / lo) ** (i / (k - 1)) for i in range(k)]
    value = _ops.mmd(ref, gen, kernel="gaussian", bandwidth=bws, estimator="unbiased")
    return {"mmd2": float(value), "bandwidths": bws}


class Evaluator:
    """KID (and FID) of a trainer's current generator against fixed held-out data.

    Each call draws ``n`` samples with the trainer's fixed sample stream (the same latents at
    every evaluation, so changes come from the generator only) and compares their flattened
    values (the data's own coordinates or pixels are the features), standardised by the
    held-out data's per-feature mean and overall standard deviation (so KID's polynomial
    kernel sees values of order 1 on every data set), with ``held_out``:
    :class:`fastgan.metrics.KID` with ``subsets`` subsets of half the smaller side, seed 0, and
    :class:`fastgan.metrics.FID` when the feature dimension is at most ``fid_max_dim`` (a D × D
    covariance needs many more than D samples to mean anything). Returns
    ``{"kid": mean, "kid_std": std[, "fid": value]}`` as floats; lower is better for both.

    >>> ev = Evaluator(fastgan.data.load("ring").held_out(500), n=500)  # doctest: +SKIP
    >>> ev(trainer)["kid"]                                              # doctest: +SKIP
    """

    def __init__(self, held_out: torch.Tensor, *, n: int = 1000, subsets: int = 10, fid_max_dim: int = 256):
        if not isinstance(held_out, torch.Tensor) or held_out.dim() < 2 or held_out.shape[0] < 4:
            raise ValueError("held_out must be a tensor of at least 4 rows")
        if isinstance(n, bool) or not isinstance(n, int) or n < 4:
            raise ValueError(f"n must be an int >= 4, got {n!r}")
        real = held_out.detach().float().cpu().flatten(1)
        self.shift = real.mean(0)
        self.scale = float((real - self.shift).std()) or 1.0
        self.real = self.features(real)
        self.n, self.subsets = n, subsets
        self.use_fid = self.real.shape[1] <= fid_max_dim and min(n, self.real.shape[0]) > self.real.shape[1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Samples (n, ...) as the standardised (n, D) features the metrics compare."""
        return (x.detach().float().cpu().flatten(1) - self.shift) / self.scale

    @torch.no_grad()
    def __call__(self, trainer) -> dict:
        from ..metrics import FID, KID

        fake = self.features(trainer.sample(self.n))
        m = min(fake.shape[0], self.real.shape[0]) // 2
        # computed on one rank (rank 0 evaluates for the run): no gathering over ranks
        kid = KID(subsets=self.subsets, subset_size=m, max_samples=max(m, fake.shape[0], self.real.shape[0]),
                  sync=False)
        kid.update(self.real, real=True)
        kid.update(fake, real=False)
        mean, std = kid.compute()
        out = {"kid": float(mean), "kid_std": float(std)}
        if self.use_fid:
            fid = FID(sync=False)
            fid.update(self.real, real=True)
            fid.update(fake, real=False)
            out["fid"] = float(fid.compute())
        return out

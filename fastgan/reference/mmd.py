"""Dense reference kernel-MMD, KID and pair sums: the N×M matrices in plain PyTorch.

Written to be obviously right (and to be the eager baseline of the benches), not to scale:
memory is O(N·M). Works in any floating dtype; the tests run it in float64. Conventions are
those of :func:`fastgan.mmd` (see its docstring): distances after centring by the pooled mean,
squared distances clamped at 0 and exactly 0 on the diagonal, and a zero gradient of the
laplacian and energy kernels at distance 0.
"""
from __future__ import annotations

import torch

__all__ = ["kernel_matrix", "kernel_sums", "mmd", "pair_sum", "median_bandwidth", "kid"]


def _sigmas(bandwidth) -> list:
    if isinstance(bandwidth, torch.Tensor):
        return list(bandwidth.reshape(-1).unbind())
    if isinstance(bandwidth, (int, float)):
        return [float(bandwidth)]
    return [float(b) for b in bandwidth]


def _safe_sqrt(d: torch.Tensor) -> torch.Tensor:
    # √d with gradient 0 (not inf·0 = NaN) where d = 0
    pos = d > 0
    return torch.where(pos, torch.where(pos, d, torch.ones_like(d)).sqrt(), torch.zeros_like(d))


def kernel_matrix(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                  degree: int = 3, gamma: float | None = None, coef: float = 1.0,
                  same: bool = False, center: torch.Tensor | None = None) -> torch.Tensor:
    """K[i, j] = k(a_i, b_j), dense (len(a), len(b)).

    Distance kernels use d = ‖a_i‖² + ‖b_j‖² − 2⟨a_i, b_j⟩ after subtracting ``center``
    (default: the mean of a and b pooled), clamped at 0; ``same=True`` (a is b) forces d = 0
    on the diagonal. gaussian Σ_σ exp(−d/(2σ²)); laplacian Σ_σ exp(−√d/σ);
    imq Σ_σ (1 + d/(2σ²))^(−½); energy −√d; polynomial (γ⟨a_i, b_j⟩ + coef)^degree, γ = 1/D.
    """
    if kernel == "polynomial":
        g = 1.0 / a.shape[1] if gamma is None else gamma
        return (g * (a @ b.T) + coef) ** degree
    if center is None:
        center = torch.cat([a, b]).mean(0)
    a = a - center
    b = b - center
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    d = d.clamp_min(0)
    if same:
        d = d * (1 - torch.eye(d.shape[0], dtype=d.dtype, device=d.device))
    if kernel == "energy":
        return -_safe_sqrt(d)
    out = torch.zeros_like(d)
    for s in _sigmas(bandwidth):
        if kernel == "gaussian":
            out = out + torch.exp(-d / (2 * s * s))
        elif kernel == "laplacian":
            out = out + torch.exp(-_safe_sqrt(d) / s)
        elif kernel == "imq":
            out = out + (1 + d / (2 * s * s)).rsqrt()
        else:
            raise ValueError(f"unknown kernel {kernel!r}")
    return out


def median_bandwidth(x: torch.Tensor, y: torch.Tensor, max_points: int = 4096) -> torch.Tensor:
    """The median heuristic σ (Gretton et al. 2012): the median Euclidean distance between
    distinct points of the pooled sample Z = [x; y] (lower median of the P(P−1)/2 pairs).

    When P > ``max_points`` the rows at ``linspace(0, P − 1, max_points)`` (rounded down) are
    used — deterministic. Computed without gradient; clamped below at 1e-12.
    """
    with torch.no_grad():
        z = torch.cat([x, y]).to(torch.float64 if x.dtype == torch.float64 else torch.float32)
        p = z.shape[0]
        if p > max_points:
            z = z[torch.linspace(0, p - 1, max_points, device=z.device).long()]
            p = max_points
        return torch.pdist(z).median().clamp_min(1e-12)


def kernel_sums(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
                coef: float = 1.0):
    """(Σ_{i,i'} k(x_i, x_i'), Σ_{j,j'} k(y_j, y_j'), Σ_{i,j} k(x_i, y_j)); the first two
    exclude i = i' (j = j') for ``estimator="unbiased"``."""
    if isinstance(bandwidth, str):  # "median"
        bandwidth = median_bandwidth(x, y)
    center = torch.cat([x, y]).mean(0)
    kw = dict(kernel=kernel, bandwidth=bandwidth, degree=degree, gamma=gamma, coef=coef,
              center=center)
    kxx = kernel_matrix(x, x, same=True, **kw)
    kyy = kernel_matrix(y, y, same=True, **kw)
    kxy = kernel_matrix(x, y, **kw)
    if estimator == "unbiased":  # the diagonal masked out, not subtracted: no cancellation
        # when the off-diagonal values are tiny next to k(x, x)
        kxx = kxx.masked_fill(torch.eye(kxx.shape[0], dtype=torch.bool, device=kxx.device), 0.0)
        kyy = kyy.masked_fill(torch.eye(kyy.shape[0], dtype=torch.bool, device=kyy.device), 0.0)
    elif estimator != "biased":
        raise ValueError(f"unknown estimator {estimator!r}")
    sxx, syy = kxx.sum(), kyy.sum()
    return sxx, syy, kxy.sum()


def mmd(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
        estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
        coef: float = 1.0) -> torch.Tensor:
    """MMD² = mean k(x, x') + mean k(y, y') − 2 mean k(x, y); the unbiased estimator leaves
    the diagonals out of the first two means (U-statistic), the biased one keeps them."""
    sxx, syy, sxy = kernel_sums(x, y, kernel=kernel, bandwidth=bandwidth, estimator=estimator,
                                degree=degree, gamma=gamma, coef=coef)
    n, m = x.shape[0], y.shape[0]
    if estimator == "unbiased":
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    return sxx / (n * n) + syy / (m * m) - 2 * sxy / (n * m)


def pair_sum(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
             degree: int = 3, gamma: float | None = None, coef: float = 1.0) -> torch.Tensor:
    """Σ_i Σ_j k(a_i, b_j) over all pairs."""
    return kernel_matrix(a, b, kernel=kernel, bandwidth=bandwidth, degree=degree, gamma=gamma,
                         coef=coef).sum()


def kid(real: torch.Tensor, fake: torch.Tensor, real_idx: torch.Tensor, fake_idx: torch.Tensor,
        *, degree: int = 3, gamma: float | None = None, coef: float = 1.0):
    """KID as torchmetrics defines it, on given subset indices (real_idx, fake_idx: (S, m);
    :func:`fastgan.metrics.kid_subset_indices` draws the ones :func:`fastgan.metrics.kid` uses),
    by a Python loop of dense subset_size² matrices: unbiased MMD² with the polynomial kernel
    per subset, then (mean, std with unbiased=False)."""
    scores = []
    for ir, jf in zip(real_idx, fake_idx):
        scores.append(mmd(real[ir], fake[jf], kernel="polynomial", degree=degree, gamma=gamma,
                          coef=coef))
    s = torch.stack(scores)
    return s.mean(), s.std(unbiased=False)

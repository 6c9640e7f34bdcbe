"""Dense reference MMD permutation test: the kernel matrix once, then one permutation at a time.

Written to be obviously right, not fast (the tests run it in float64; the benchmark times it
as the plain-PyTorch baseline, the way alibi-detect's PyTorch backend works: K of the pooled
sample once, then a Python loop that permutes K and takes the block means). Memory O(P²).
"""
from __future__ import annotations

import torch

from .mmd import kernel_matrix, median_bandwidth

__all__ = ["mmd_statistic_from_kernel", "mmd_permutation_test"]


def mmd_statistic_from_kernel(k: torch.Tensor, x_rows: torch.Tensor, y_rows: torch.Tensor,
                              estimator: str = "unbiased") -> torch.Tensor:
    """MMD² of the split (x_rows, y_rows) of the pooled sample, from its kernel matrix k (P, P).

    unbiased: mean of k over distinct pairs inside X and inside Y, minus twice the cross mean;
    biased: the same means with the diagonals kept.
    """
    kxx = k[x_rows][:, x_rows]
    kyy = k[y_rows][:, y_rows]
    kxy = k[x_rows][:, y_rows]
    n, m = len(x_rows), len(y_rows)
    if estimator == "unbiased":
        sxx = kxx.sum() - kxx.diagonal().sum()
        syy = kyy.sum() - kyy.diagonal().sum()
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * kxy.sum() / (n * m)
    if estimator == "biased":
        return kxx.sum() / (n * n) + kyy.sum() / (m * m) - 2.0 * kxy.sum() / (n * m)
    raise ValueError(f"unknown estimator {estimator!r}")


def mmd_permutation_test(x: torch.Tensor, y: torch.Tensor, perms: torch.Tensor, *,
                         kernel: str = "gaussian", bandwidth=1.0, estimator: str = "unbiased",
                         degree: int = 3, gamma: float | None = None, coef: float = 1.0):
    """(statistic, p-value, null statistics) of the MMD permutation test on given permutations.

    perms: (B, N + M) int64, each row a permutation of the pooled rows; permutation b assigns
    the rows perms[b, :N] to X and the others to Y (:func:`fastgan.stats.permutation_indices`
    draws the ones :func:`fastgan.stats.mmd_test` uses). p-value = (1 + #{T_b >= T}) / (1 + B).
    ``bandwidth="median"`` is the median heuristic on the pooled sample. The kernel follows
    :func:`fastgan.reference.kernel_matrix` (distances after centring by the pooled mean).
    """
    if isinstance(bandwidth, str):
        bandwidth = median_bandwidth(x, y)
    z = torch.cat([x, y])
    n = x.shape[0]
    k = kernel_matrix(z, z, kernel=kernel, bandwidth=bandwidth, degree=degree, gamma=gamma,
                      coef=coef, same=True)
    rows = torch.arange(z.shape[0], device=z.device)
    stat = mmd_statistic_from_kernel(k, rows[:n], rows[n:], estimator)
    null = torch.stack([mmd_statistic_from_kernel(k, p[:n], p[n:], estimator) for p in perms])
    pvalue = (1.0 + (null >= stat).sum().item()) / (1.0 + len(perms))
    return stat, pvalue, null

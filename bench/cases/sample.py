"""Samplers (issue #5): ``fastgan.sample`` vs what a PyTorch user writes today.

- categorical (R rows × K bins, n draws per row) vs ``torch.multinomial(replacement=True)``
  (the baseline) and ``cumsum`` + ``torch.rand`` + ``torch.searchsorted``;
- inverse_cdf (piecewise-linear) vs ``torch.rand`` + ``torch.searchsorted`` + ``gather``;
- normal vs ``torch.randn``;
- truncated normal on [−2, 2] vs ``torch.nn.init.trunc_normal_`` (the baseline) and scipy's
  ``truncnorm.rvs`` (NumPy on the host, so on a GPU run it measures the CPU).
Minimal bytes: inputs read once, samples written once (float32 samples, int64 indices).
"""
from __future__ import annotations

import torch

from ..harness import Case, Skip
from ._common import module_missing, pick


def missing() -> str | None:
    return module_missing("fastgan.sample", ("categorical", "inverse_cdf", "normal", "truncated_normal"))


def _searchsorted_categorical(w, n, g):
    cdf = w.cumsum(1)
    cdf = cdf / cdf[:, -1:]
    u = torch.rand(w.shape[0], n, device=w.device, generator=g)
    return torch.searchsorted(cdf, u, right=True).clamp_max_(w.shape[1] - 1)


def _searchsorted_inverse_cdf(cdf, support, n, g):
    k = cdf.shape[1]
    u = torch.rand(cdf.shape[0], n, device=cdf.device, generator=g)
    j = torch.searchsorted(cdf, u, right=True).clamp_(1, k - 1)
    c0, c1 = cdf.gather(1, j - 1), cdf.gather(1, j)
    s0, s1 = support.gather(1, j - 1), support.gather(1, j)
    t = ((u - c0) / (c1 - c0).clamp_min(1e-12)).clamp_(0, 1)
    return s0 + t * (s1 - s0)


def cases(device: torch.device, mode: str) -> list[Case]:
    import fastgan
    import fastgan.sample as fs

    def gens():
        return (fastgan.Generator(seed=3, device=device),
                torch.Generator(device=device).manual_seed(3))

    out = []
    grid = pick(mode, [(8, 100, 16)], [(64, 1024, 64), (256, 4096, 64)],
                [(64, 1024, 256), (1024, 4096, 256), (4096, 32768, 256)])
    for r, k, n in grid:
        def weights(r=r, k=k):
            return torch.rand(r, k, device=device) + 1e-3

        def fast(r=r, k=k, n=n):
            w, (g, _) = weights(r, k), gens()
            return lambda: fs.categorical(w, n, generator=g)

        def multinomial(r=r, k=k, n=n):
            w, (_, tg) = weights(r, k), gens()
            return lambda: torch.multinomial(w, n, replacement=True, generator=tg)

        def searchsorted(r=r, k=k, n=n):
            w, (_, tg) = weights(r, k), gens()
            return lambda: _searchsorted_categorical(w, n, tg)

        out.append(Case(
            op="sample", name="categorical", series="categorical", size=r * k,
            shape={"R": r, "K": k, "n": n}, dtype="float32",
            providers={"fastgan": fast, "torch.multinomial": multinomial, "searchsorted": searchsorted},
            bytes=4.0 * r * k + 8.0 * r * n, items=float(r * n), items_name="samples",
            bound="bandwidth", baseline="torch.multinomial", size_name="R·K",
            priority=0 if (r, k) == (4096, 32768) else 1,
            target=">= 5x torch.multinomial" if (r, k) == (4096, 32768) else None))

        def cdf_support(r=r, k=k):
            w = torch.rand(r, k, device=device) + 1e-3
            cdf = w.cumsum(1)
            cdf = cdf / cdf[:, -1:]
            support = torch.rand(r, k, device=device).cumsum(1)  # non-decreasing
            return cdf.contiguous(), support.contiguous()

        def fast_icdf(r=r, k=k, n=n):
            (cdf, s), (g, _) = cdf_support(r, k), gens()
            return lambda: fs.inverse_cdf(cdf, n, support=s, generator=g)

        def ss_icdf(r=r, k=k, n=n):
            (cdf, s), (_, tg) = cdf_support(r, k), gens()
            return lambda: _searchsorted_inverse_cdf(cdf, s, n, tg)

        out.append(Case(
            op="sample", name="inverse_cdf", series="inverse_cdf", size=r * k,
            shape={"R": r, "K": k, "n": n}, dtype="float32",
            providers={"fastgan": fast_icdf, "searchsorted": ss_icdf},
            bytes=8.0 * r * k + 4.0 * r * n, items=float(r * n), items_name="samples",
            bound="bandwidth", baseline="searchsorted", size_name="R·K"))

    sizes = pick(mode, [4096], [1 << 16, 1 << 20], [1 << 20, 1 << 24, 1 << 26])
    for n in sizes:
        def fast_normal(n=n):
            g, _ = gens()
            return lambda: fs.normal(n, generator=g, device=device)

        def randn(n=n):
            _, tg = gens()
            return lambda: torch.randn(n, generator=tg, device=device)

        out.append(Case(
            op="sample", name="normal", series="normal", size=n, shape={"n": n}, dtype="float32",
            providers={"fastgan": fast_normal, "torch.randn": randn}, bytes=4.0 * n,
            items=float(n), items_name="samples", bound="bandwidth", baseline="torch.randn",
            size_name="n", priority=0 if n == sizes[-1] else 1,
            target=">= 1x torch.randn" if mode == "full" and n == sizes[-1] else None))

        def fast_tn(n=n):
            g, _ = gens()
            return lambda: fs.truncated_normal(n, a=-2.0, b=2.0, generator=g, device=device)

        def trunc_normal_(n=n):
            _, tg = gens()
            buf = torch.empty(n, device=device)
            try:
                torch.nn.init.trunc_normal_(buf, a=-2.0, b=2.0, generator=tg)
                return lambda: torch.nn.init.trunc_normal_(buf, a=-2.0, b=2.0, generator=tg)
            except TypeError:  # an older torch without generator=
                return lambda: torch.nn.init.trunc_normal_(buf, a=-2.0, b=2.0)

        def scipy_tn(n=n):
            if n > (1 << 22):
                raise Skip("scipy truncnorm timed only up to 4M samples (host NumPy)")
            try:
                from scipy.stats import truncnorm
            except ImportError as exc:
                raise Skip(f"scipy not installed ({exc})") from exc
            import numpy as np

            rng = np.random.default_rng(3)
            return lambda: truncnorm.rvs(-2.0, 2.0, size=n, random_state=rng)

        out.append(Case(
            op="sample", name="truncated_normal", series="truncated normal [-2,2]", size=n,
            shape={"n": n}, dtype="float32",
            providers={"fastgan": fast_tn, "trunc_normal_": trunc_normal_, "scipy": scipy_tn},
            bytes=4.0 * n, items=float(n), items_name="samples", bound="bandwidth",
            baseline="trunc_normal_", size_name="n", priority=0 if n == sizes[-1] else 1,
            target=">= 5x trunc_normal_" if mode == "full" and n == sizes[-1] else None))
    return out

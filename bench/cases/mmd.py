"""MMD (issue #3): ``fastgan.mmd`` vs the dense eager reference, torch.compile(reference) and
KeOps (when pykeops is installed); gaussian kernel, σ = √D, unbiased, float32, N = M.

Work of one call (a canonical count, the same for every provider):
pairs = N² + M² + N·M (the three kernel matrices); forward flops = 2·D·pairs (the Gram
products), forward+backward flops = 3× that (two more products of the same size for the
gradient). The exp per pair is not counted in flops: at small D it, not the tensor cores,
bounds the kernel (see bench/NOTES.md). Fraction of peak is taken of the measured tf32 rate.
At D = 2048 with the gradient the two large-D strategies are also timed on their own
(providers ``fastgan:recompute`` and ``fastgan:gemm``).
"""
from __future__ import annotations

import math

import torch

from ..harness import Case, Skip, rotating
from ._common import compiled_cached, keops_missing, module_missing, timed_call


def missing() -> str | None:
    return module_missing("fastgan.ops.mmd", ("mmd",))


def _keops_mmd(x, y, sigma):
    from pykeops.torch import LazyTensor

    scale = -1.0 / (2.0 * sigma * sigma)

    def ksum(a, b):
        d = ((LazyTensor(a[:, None, :]) - LazyTensor(b[None, :, :])) ** 2).sum(-1)
        return (d * scale).exp().sum(dim=1).sum()

    n, m = x.shape[0], y.shape[0]
    c = torch.cat([x, y]).mean(0)
    x, y = x - c, y - c
    # the gaussian diagonal is exactly 1: the unbiased sums drop n (m) ones
    return ((ksum(x, x) - n) / (n * (n - 1)) + (ksum(y, y) - m) / (m * (m - 1))
            - 2 * ksum(x, y) / (n * m))


def _large_d(mode, f):
    """f with the D > 128 gradient strategy forced ("recompute" or "gemm"; see
    fastgan.ops.mmd.LaunchConfig.large_d): both are timed where "auto" picks one of them."""
    from fastgan.ops import mmd as M

    def g(x, y):
        with M.configure(large_d=mode):
            return f(x, y)
    return g


def _grid(mode):
    # (N, D) pairs; the full grid caps D=2048 at 65536 (262144 would take minutes per call)
    if mode == "dry":
        return [(64, 3)]
    if mode == "quick":
        return [(n, d) for d in (3, 64) for n in (256, 1024, 2048)] + [(256, 2048), (1024, 2048)]
    full = [(n, d) for d in (3, 64) for n in (1024, 4096, 16384, 65536, 262144, 1 << 20)]
    return full + [(n, 2048) for n in (1024, 4096, 16384, 65536)]


def cases(device: torch.device, mode: str) -> list[Case]:
    import fastgan
    import fastgan.reference as ref

    out = []
    for n, d in _grid(mode):
        sigma = math.sqrt(d)
        pairs = 3.0 * n * n
        for backward in (False, True):
            variant = "fwd+bwd" if backward else "fwd"

            def fast_f(x, y, sigma=sigma):
                return fastgan.mmd(x, y, kernel="gaussian", bandwidth=sigma)

            def ref_f(x, y, sigma=sigma):
                return ref.mmd(x, y, kernel="gaussian", bandwidth=sigma)

            def sets(n=n, d=d):
                make = lambda: (torch.randn(n, d, device=device), torch.randn(n, d, device=device) + 0.5)
                return rotating(make, 2 * n * d * 4, device)

            def fast(f=fast_f, sets=sets, b=backward):
                return timed_call(f, sets(), b)

            def eager(f=ref_f, sets=sets, b=backward):
                return timed_call(f, sets(), b)

            def comp(sets=sets, b=backward, sigma=sigma):
                f = compiled_cached(("mmd", b), lambda x, y, s: ref.mmd(x, y, kernel="gaussian", bandwidth=s))
                return timed_call(lambda x, y: f(x, y, sigma), sets(), b)

            def keops(sets=sets, b=backward, sigma=sigma, n=n, d=d):
                why = keops_missing()
                if why:
                    raise Skip(why)
                if n > (16384 if d > 64 else 262144):
                    # KeOps runs on CUDA cores: ~2·D·pairs fp32 flops, seconds to minutes a
                    # call at this size; the one-call GPU run cannot afford it
                    raise Skip("KeOps not timed at this size (seconds per call; see bench/NOTES.md)")
                return timed_call(lambda x, y: _keops_mmd(x, y, sigma), sets(), b)

            providers = {"fastgan": fast, "eager": eager, "compile": comp, "keops": keops}
            if backward and d > 128 and n <= 16384 and device.type == "cuda":
                for strategy in ("recompute", "gemm"):
                    providers[f"fastgan:{strategy}"] = (
                        lambda f=_large_d(strategy, fast_f), sets=sets: timed_call(f, sets(), True))
            target = d == 64 and n in (16384, 1 << 20)
            out.append(Case(
                op="mmd", name=f"gaussian {variant}", series=f"D={d} {variant}", size=n,
                shape={"N": n, "M": n, "D": d}, dtype="float32",
                providers=providers,
                flops=(3.0 if backward else 1.0) * 2 * d * pairs, bytes=2.0 * n * d * 4 * (2 if backward else 1),
                items=pairs, items_name="pairs", bound="tf32", baseline="eager", size_name="N (= M)",
                priority=0 if target else (2 if d == 2048 or n >= 262144 else 1),
                target=(">= 20x eager, >= 5x keops (H100)" if (n, d) == (16384, 64)
                        else "runs (H100)" if (n, d) == (1 << 20, 64) else None)))
    return out

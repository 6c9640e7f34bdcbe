"""The MMD permutation test (issue 17): ``fastgan.stats.mmd_test`` vs a plain PyTorch permutation
loop and alibi-detect's MMD drift detector (PyTorch backend, when installed); gaussian
kernel σ = √D, unbiased, float32, N = M, B permutations.

Providers:
- ``fastgan``: ``mmd_test`` (drawing its B permutations included).
- ``eager``: ``fastgan.reference.mmd_permutation_test``: the P × P kernel matrix once, then a
  Python loop over the B permutations that gathers its blocks and takes their means (how
  alibi-detect's PyTorch backend works), on precomputed permutations; memory O(P²).
- ``alibi``: ``alibi_detect.cd.pytorch.MMDDriftTorch(x, n_permutations=B, sigma=σ).score(y)``
  (alibi-detect 0.13's API; skipped when alibi-detect does not import).
- ``mmd fwd``: one fused ``fastgan.mmd`` forward on the same data, the yardstick of the
  issue's GPU target (the test within 10× of it).

Work of one call (canonical): P² (2D + 2B) flops over P = N + M (the Gram products and the
kernel × signs products on all P² pairs); items = B permutations.
"""
from __future__ import annotations

import math

import torch

from ..harness import Case, Skip
from ._common import module_missing, pick


def missing() -> str | None:
    return module_missing("fastgan.stats", ("mmd_test",))


def alibi_missing() -> str | None:
    try:
        from alibi_detect.cd.pytorch import MMDDriftTorch  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means not usable
        return f"alibi-detect not usable ({type(exc).__name__}: {exc})"
    return None


def _grid(mode):
    # (N = M, D, B)
    return pick(mode, [(32, 3, 16)], [(250, 64, 200), (500, 64, 200), (1000, 64, 200)],
                [(2000, 64, 1000), (10000, 64, 1000), (16384, 64, 1000)])


def cases(device: torch.device, mode: str) -> list[Case]:
    import fastgan
    import fastgan.reference as ref
    from fastgan import stats

    out = []
    for n, d, b in _grid(mode):
        sigma = math.sqrt(d)
        p = 2 * n

        def data(n=n, d=d):
            g = torch.Generator(device=device).manual_seed(17)
            x = torch.randn(n, d, device=device, generator=g)
            return x, torch.randn(n, d, device=device, generator=g) + 0.05

        def fast(data=data, b=b, sigma=sigma):
            x, y = data()
            gen = fastgan.Generator(0, device=device)
            return lambda: stats.mmd_test(x, y, bandwidth=sigma, permutations=b, generator=gen)

        def eager(data=data, b=b, sigma=sigma, p=p):
            if device.type == "cpu" and p * p * b > 2e11:
                raise Skip("the permutation loop takes minutes per call at this size on a CPU")
            x, y = data()
            perms = stats.permutation_indices(p, b, generator=fastgan.Generator(0),
                                              device=device)
            return lambda: ref.mmd_permutation_test(x, y, perms, bandwidth=sigma)

        def alibi(data=data, b=b, sigma=sigma):
            why = alibi_missing()
            if why:
                raise Skip(why)
            import numpy as np
            from alibi_detect.cd.pytorch import MMDDriftTorch

            x, y = data()
            det = MMDDriftTorch(x.cpu().numpy(), n_permutations=b, sigma=np.array([sigma]),
                                configure_kernel_from_x_ref=False, device=device.type)
            yn = y.cpu().numpy()
            return lambda: det.score(yn)

        def mmd_fwd(data=data, sigma=sigma):
            x, y = data()
            return lambda: fastgan.mmd(x, y, bandwidth=sigma)

        out.append(Case(
            op="stats", name="mmd_test gaussian", series=f"D={d} B={b}", size=n,
            shape={"N": n, "M": n, "D": d, "B": b}, dtype="float32",
            providers={"fastgan": fast, "eager": eager, "alibi": alibi, "mmd fwd": mmd_fwd},
            flops=float(p) * p * (2 * d + 2 * b), bytes=2.0 * n * d * 4, items=float(b),
            items_name="permutations", bound="tf32", baseline="eager", size_name="N (= M)",
            priority=0 if n in (2000, 16384) else 1,
            target=(">= 20x alibi-detect (CPU)" if n == 2000 and mode == "full" else
                    "within 10x of one mmd fwd (H100/H200)" if n == 16384 else None)))
    return out

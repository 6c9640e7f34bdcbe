"""RNG (issue #2): Philox fills ``fastgan.rand`` / ``fastgan.randn`` vs ``torch.rand`` /
``torch.randn`` on the same device. Write-bound: bytes = 4 · numel (float32 out)."""
from __future__ import annotations

import torch

from ..harness import Case
from ._common import pick


def missing() -> str | None:
    return None  # fastgan.random is part of the foundation


def cases(device: torch.device, mode: str) -> list[Case]:
    import fastgan

    sizes = pick(mode, [1 << 12], [1 << 12, 1 << 16, 1 << 20, 1 << 22],
                 [1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26, 1 << 28])
    out = []
    for kind, ours, theirs in (("rand", fastgan.rand, torch.rand), ("randn", fastgan.randn, torch.randn)):
        for n in sizes:
            def fast(n=n, ours=ours):
                g = fastgan.Generator(seed=1, device=device)
                return lambda: ours(n, generator=g, device=device)

            def base(n=n, theirs=theirs):
                g = torch.Generator(device=device).manual_seed(1)
                return lambda: theirs(n, generator=g, device=device)

            out.append(Case(
                op="random", name=kind, series=kind, size=n, shape={"n": n}, dtype="float32",
                providers={"fastgan": fast, "torch": base}, bytes=4.0 * n, items=float(n),
                items_name="samples", bound="bandwidth", baseline="torch", size_name="n",
                priority=0 if n == sizes[-1] else 1,
                target="about torch's speed, device recorded" if mode == "full" and n == sizes[-1] else None))
    return out

"""GAN losses (issue #4): forward+backward of the fused ``discriminator_loss`` (bce, real and
fake logits of B each) and ``generator_loss`` (non-saturating bce) vs the eager
``binary_cross_entropy_with_logits`` composites of ``fastgan.reference`` and torch.compile of
them. Bandwidth-bound: minimal bytes = logits read once + gradients written once
(16·B for the discriminator's two float32 inputs, 8·B for the generator's one).
"""
from __future__ import annotations

import importlib

import torch

from ..harness import Case, rotating
from ._common import compiled_cached, pick, timed_call


def _ops():
    for name in ("fastgan.losses", "fastgan.ops.gan_loss"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "discriminator_loss") and hasattr(mod, "generator_loss"):
            return mod
    return None


def missing() -> str | None:
    if _ops() is None:
        return "neither fastgan.losses nor fastgan.ops.gan_loss defines discriminator_loss/generator_loss yet"
    import fastgan.reference as ref

    if not hasattr(ref, "discriminator_loss_reference"):
        return "fastgan.reference.discriminator_loss_reference does not exist yet"
    return None


def cases(device: torch.device, mode: str) -> list[Case]:
    import fastgan.reference as ref

    ops = _ops()
    sizes = pick(mode, [1000], [64, 1024, 16384, 65536, 262144, 1 << 20],
                 [64, 1024, 16384, 65536, 262144, 1 << 20, 1 << 22, 1 << 24, 1 << 26])
    variants = {
        "D loss fwd+bwd": (2, ops.discriminator_loss, ref.discriminator_loss_reference),
        "G loss fwd+bwd": (1, ops.generator_loss, ref.generator_loss_reference),
    }
    out = []
    for name, (n_in, ours, theirs) in variants.items():
        for b in sizes:
            def sets(b=b, n_in=n_in):
                make = lambda: tuple(4 * torch.randn(b, device=device) for _ in range(n_in))
                return rotating(make, n_in * b * 4, device)

            def fast(f=ours, sets=sets):
                return timed_call(f, sets(), True)

            def eager(f=theirs, sets=sets):
                return timed_call(f, sets(), True)

            def comp(f=theirs, sets=sets, name=name):
                return timed_call(compiled_cached(("gan_loss", name), f), sets(), True)

            out.append(Case(
                op="gan_loss", name=name, series=name, size=b, shape={"B": b}, dtype="float32",
                providers={"fastgan": fast, "eager": eager, "compile": comp},
                bytes=8.0 * n_in * b, items=float(n_in * b), items_name="logits",
                bound="bandwidth", baseline="eager", size_name="B",
                priority=0 if b in (65536, 1 << 26) else 1,
                target={65536: ">= 4x eager (H100)", 1 << 26: ">= 85% of HBM bandwidth (H100)"}.get(b)))
    return out

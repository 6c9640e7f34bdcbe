"""Training (issue #6): GMMN training steps on 784-dim data, fastgan ops vs the same loop in
plain PyTorch. One step: latent z (B × 64) → MLP generator 64-1024-1024-784 (ReLU, sigmoid) →
MMD² against a data batch (gaussian mixture σ ∈ {2, 5, 10, 20, 40, 80}) → backward → Adam.

- ``fastgan``: z from ``fastgan.randn``, loss ``fastgan.mmd``;
- ``plain``: z from ``torch.randn``, loss the dense reference ``fastgan.reference.mmd``
  (torch ops only) — the baseline;
- ``MMDTrainer``: ``fastgan.train.MMDTrainer.train_step`` on the same model (its loss-value
  read-back and finiteness check included), when fastgan.train is there.
Same model, optimizer and data. Data: fixed uniform pixels (the timing does not depend on
the images). items = samples (B per step); steps/s = 1000 / median_ms.
"""
from __future__ import annotations

import torch

from ..harness import Case, Skip
from ._common import module_missing, pick

SIGMAS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
LATENT, HIDDEN, DIM = 64, 1024, 784


def missing() -> str | None:
    return module_missing("fastgan.ops.mmd", ("mmd",))


def _model(device, hidden):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(LATENT, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, DIM), torch.nn.Sigmoid(),
    ).to(device)


def _step_fn(device, batch, use_fastgan: bool, hidden: int = HIDDEN):
    import fastgan
    import fastgan.reference as ref

    gen = _model(device, hidden)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-3)
    data = torch.rand(4 * batch, DIM, device=device)
    g = fastgan.Generator(seed=5, device=device)
    tg = torch.Generator(device=device).manual_seed(5)
    state = {"i": 0}

    def step():
        i = state["i"]
        state["i"] = (i + 1) % 4
        x = data[i * batch:(i + 1) * batch]
        if use_fastgan:
            z = fastgan.randn(batch, LATENT, generator=g, device=device)
            loss = fastgan.mmd(gen(z), x, kernel="gaussian", bandwidth=list(SIGMAS))
        else:
            z = torch.randn(batch, LATENT, generator=tg, device=device)
            loss = ref.mmd(gen(z), x, kernel="gaussian", bandwidth=list(SIGMAS))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def _trainer_step_fn(device, batch, hidden: int = HIDDEN):
    try:
        from fastgan.train import MMDTrainer
    except ImportError as exc:
        raise Skip(f"fastgan.train.MMDTrainer not importable ({exc})") from exc
    t = MMDTrainer(_model(device, hidden), latent_dim=LATENT, bandwidth=SIGMAS, lr=1e-3,
                   betas=(0.9, 0.999), device=device, rng=5)
    data = torch.rand(4 * batch, DIM, device=device)
    state = {"i": 0}

    def step():
        i = state["i"]
        state["i"] = (i + 1) % 4
        return t.train_step(data[i * batch:(i + 1) * batch])

    return step


def cases(device: torch.device, mode: str) -> list[Case]:
    batches = pick(mode, [64], [128, 512], [1024, 8192])
    hidden = 32 if mode == "dry" else HIDDEN  # dry runs only check the machinery
    out = []
    params = LATENT * hidden + hidden * hidden + hidden * DIM
    for b in batches:
        pairs = 3.0 * b * b
        out.append(Case(
            op="train", name="GMMN step", series="GMMN step (784-dim)", size=b,
            shape={"B": b, "D": DIM, "hidden": hidden}, dtype="float32",
            providers={"fastgan": lambda b=b: _step_fn(device, b, True, hidden),
                       "plain": lambda b=b: _step_fn(device, b, False, hidden),
                       "MMDTrainer": lambda b=b: _trainer_step_fn(device, b, hidden)},
            # MLP forward+backward (6 flops per parameter per sample) + MMD forward+backward
            flops=6.0 * params * b + 3.0 * 2 * DIM * pairs, items=float(b), items_name="samples",
            bound="tf32", baseline="plain", size_name="B", priority=0 if b == 8192 else 1,
            target=">= 3x plain (H100)" if b == 8192 else None))
    return out

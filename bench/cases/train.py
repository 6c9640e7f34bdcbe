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

Conv steps (issue 14): a DCGAN for 32×32 RGB images (latent 64, width 32, D without batch
norm), one full step (D update, then G update) per call:

- ``DCGAN GAN step``: non-saturating BCE, R1 γ = 1 on the reals every step, DiffAugment
  ``translation,cutout`` on everything D sees;
- ``DCGAN MMD-GAN step``: D a 16-feature critic, MMD² (σ ∈ {1, 2, 4, 8}) on its features.

Providers: ``fastgan``, i.e. ``GANTrainer`` / ``MMDTrainer`` (``train_step``: Philox latents and augmentation
draws, fused loss / MMD, the finiteness checks) vs ``plain``, the same loop in plain PyTorch
(``torch.randn`` / ``torch.rand`` draws, softplus BCE, R1 by ``torch.autograd.grad``, the
dense reference MMD; the augmentation transforms are the same tensor code, fed torch's draws).
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
    return out + _conv_cases(device, mode)


# ---- conv GAN / MMD-GAN steps (issue 14) -----------------------------------------------------
CONV_LATENT, CONV_WIDTH, CONV_SHAPE = 64, 32, (3, 32, 32)
CONV_SIGMAS = (1.0, 2.0, 4.0, 8.0)


def _conv_models(device, width, mmd: bool):
    from fastgan.train import conv

    torch.manual_seed(0)
    g = conv.dcgan_generator(CONV_LATENT, CONV_SHAPE, width).to(device)
    d = conv.dcgan_discriminator(CONV_SHAPE, width, norm="none", out_dim=16 if mmd else 1).to(device)
    return g, d


def _conv_trainer_fn(device, batch, width, mmd: bool):
    try:
        from fastgan.train import GANTrainer, MMDTrainer
    except ImportError as exc:
        raise Skip(f"fastgan.train not importable ({exc})") from exc
    g, d = _conv_models(device, width, mmd)
    if mmd:
        t = MMDTrainer(g, discriminator=d, latent_dim=CONV_LATENT, bandwidth=CONV_SIGMAS, lr=2e-4,
                       device=device, rng=5)
    else:
        t = GANTrainer(g, d, latent_dim=CONV_LATENT, lr=2e-4, r1=1.0, augment="translation,cutout",
                       device=device, rng=5)
    data = torch.rand(2 * batch, 3 * 32 * 32, device=device) * 2 - 1
    state = {"i": 0}

    def step():
        i = state["i"]
        state["i"] = (i + 1) % 2
        return t.train_step(data[i * batch:(i + 1) * batch])

    return step


def _conv_plain_fn(device, batch, width, mmd: bool):
    import torch.nn.functional as F

    import fastgan.reference as ref
    from fastgan.train import augment as A

    g, d = _conv_models(device, width, mmd)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = torch.rand(2 * batch, *CONV_SHAPE, device=device) * 2 - 1
    tg = torch.Generator(device=device).manual_seed(5)
    state = {"i": 0}

    def aug(x):
        if mmd:
            return x
        u = [torch.rand(x.shape[0], generator=tg, device=device) for _ in range(4)]
        return A.cutout(A.translation(x, u[0], u[1]), u[2], u[3])

    def step():
        i = state["i"]
        state["i"] = (i + 1) % 2
        x = data[i * batch:(i + 1) * batch]
        z = torch.randn(batch, CONV_LATENT, generator=tg, device=device)
        with torch.no_grad():
            fake = g(z)
        xa, fa = aug(x), aug(fake)
        if mmd:
            d_loss = -ref.mmd(d(xa), d(fa), kernel="gaussian", bandwidth=list(CONV_SIGMAS))
        else:
            xr = xa.detach().requires_grad_(True)
            real_logits = d(xr)
            (grad,) = torch.autograd.grad(real_logits.sum(), xr, create_graph=True)
            d_loss = (F.softplus(-real_logits).mean() + F.softplus(d(fa)).mean()
                      + 0.5 * grad.pow(2).flatten(1).sum(1).mean())
        od.zero_grad(set_to_none=True)
        d_loss.backward()
        od.step()
        float(d_loss.detach())  # the trainer reads every loss back too
        z = torch.randn(batch, CONV_LATENT, generator=tg, device=device)
        for p in d.parameters():
            p.requires_grad_(False)
        if mmd:
            g_loss = ref.mmd(d(x), d(g(z)), kernel="gaussian", bandwidth=list(CONV_SIGMAS))
        else:
            g_loss = F.softplus(-d(aug(g(z)))).mean()
        og.zero_grad(set_to_none=True)
        g_loss.backward()
        og.step()
        for p in d.parameters():
            p.requires_grad_(True)
        return float(g_loss.detach())

    return step


def _conv_cases(device, mode) -> list[Case]:
    batches = pick(mode, [8], [256], [256, 1024, 4096])
    width = 4 if mode == "dry" else CONV_WIDTH
    out = []
    for mmd in (False, True):
        name = "DCGAN MMD-GAN step" if mmd else "DCGAN GAN step"
        for b in batches:
            out.append(Case(
                op="train", name=name, series=f"{name} (32x32, R1 + DiffAugment)" if not mmd else f"{name} (32x32)",
                size=b, shape={"B": b, "image": "3x32x32", "width": width}, dtype="float32",
                providers={"fastgan": lambda b=b, m=mmd: _conv_trainer_fn(device, b, width, m),
                           "plain": lambda b=b, m=mmd: _conv_plain_fn(device, b, width, m)},
                items=float(b), items_name="samples", baseline="plain", size_name="B", priority=2))
    return out

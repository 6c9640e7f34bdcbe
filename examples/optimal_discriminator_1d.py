"""Demonstration 2: the optimal discriminator on 1-D Gaussians.

For a fixed generator distribution p_g, the discriminator that minimises the BCE loss
BCE(D(x), 1) + BCE(D(G(z)), 0) is D*(x) = p_d(x) / (p_d(x) + p_g(x)), and at D* the loss
equals 2·log 2 − 2·JSD(p_d ‖ p_g). Here p_d = N(4, 1.25²) (the data) and p_g = N(1, 1)
(a frozen generator x = 1 + z). A small MLP discriminator is trained with
fastgan.losses.discriminator_loss on minibatches from both; the script then compares the
trained D(x) with D*(x) on a grid (where p_d + p_g holds 99% of the mass) and the trained
loss with 2·log 2 − 2·JSD (computed by numerical integration), and writes a PNG.

    python examples/optimal_discriminator_1d.py --steps 2000 --out runs/optimal_discriminator
"""
import argparse
import math
from pathlib import Path

import torch

import fastgan
from fastgan.losses import discriminator_loss
from fastgan.train import mlp_discriminator

MU_D, SD_D = 4.0, 1.25
MU_G, SD_G = 1.0, 1.0


def normal_pdf(x, mu, sd):
    return torch.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/optimal_discriminator"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    rng = fastgan.Generator(args.seed)
    data = fastgan.data.gauss1d(MU_D, SD_D)
    D = mlp_discriminator(1, (64, 64))
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    for step in range(1, args.steps + 1):
        real = data.sample(args.batch_size, generator=rng)
        fake = MU_G + SD_G * fastgan.sample.latent(args.batch_size, 1, generator=rng)
        loss = discriminator_loss(D(real), D(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, args.steps // 10) == 0:
            print(f"step {step:5d}: discriminator BCE {loss.item():.4f}")

    # compare on a grid covering both densities
    x = torch.linspace(-3.0, 9.0, 2401, dtype=torch.float64).view(-1, 1)
    pd, pg = normal_pdf(x, MU_D, SD_D), normal_pdf(x, MU_G, SD_G)
    d_star = pd / (pd + pg)
    with torch.no_grad():
        d_hat = torch.sigmoid(D(x.float()).double())
    mix = 0.5 * (pd + pg)
    dx = float(x[1] - x[0])
    # where 99% of the mixture's mass is (mass-weighted error is what training controls)
    order = mix.view(-1).argsort(descending=True)
    keep = torch.zeros_like(mix.view(-1), dtype=torch.bool)
    keep[order[: int((mix.view(-1)[order].cumsum(0) * dx < 0.99).sum()) + 1]] = True
    err = (d_hat - d_star).abs().view(-1)
    jsd = 0.5 * float((pd * torch.log(pd / mix)).sum() * dx) + 0.5 * float((pg * torch.log(pg / mix)).sum() * dx)
    with torch.no_grad():
        real = data.held_out(1000000)
        fake = MU_G + SD_G * fastgan.sample.latent(1000000, 1, generator=fastgan.Generator(99))
        lr_, lf_ = D(real), D(fake)
        trained_loss = float(discriminator_loss(lr_, lf_))
        # Monte-Carlo standard error of that estimate (per-pair terms softplus(−l), softplus(l))
        n = real.shape[0]
        se = math.sqrt(float(torch.nn.functional.softplus(-lr_).var()) / n
                       + float(torch.nn.functional.softplus(lf_).var()) / n)
    optimum = 2 * math.log(2) - 2 * jsd
    print(f"\nmax |D(x) - D*(x)| where p_d + p_g holds 99% of the mass: {err[keep].max():.4f}")
    print(f"mass-weighted mean |D - D*|: {float((err * mix.view(-1)).sum() * dx):.4f}")
    print(f"JSD(p_d || p_g) = {jsd:.4f} nats; 2 log 2 - 2 JSD = {optimum:.4f}; "
          f"trained D's BCE on 1M held-out pairs = {trained_loss:.4f} ± {se:.4f} (1 s.e.)")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = x.view(-1).numpy()
    ax.plot(xs, pd.view(-1).numpy() / pd.max().item(), ":", label="p_d (scaled)")
    ax.plot(xs, pg.view(-1).numpy() / pg.max().item(), ":", label="p_g (scaled)")
    ax.plot(xs, d_star.view(-1).numpy(), lw=3, alpha=0.5, label="D* = p_d / (p_d + p_g)")
    ax.plot(xs, d_hat.view(-1).numpy(), "--", label="trained D")
    ax.set_xlabel("x")
    ax.set_title(f"optimal discriminator: BCE {trained_loss:.4f} vs 2log2-2JSD {optimum:.4f}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "optimal_discriminator.png", dpi=100)
    print(f"wrote {args.out / 'optimal_discriminator.png'}")
    return float(err[keep].max()), trained_loss, optimum


if __name__ == "__main__":
    main()

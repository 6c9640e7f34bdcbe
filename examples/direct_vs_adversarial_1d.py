"""Demonstration 1: direct (MMD) vs adversarial training on a 1-D Gaussian.

The same small generator G: z -> x (z ~ N(0, 1) in 4 dimensions) learns the data
distribution N(4, 1.25²) in two ways:

- direct: a Generative Moment Matching Network minimises MMD²(x, G(z)) (Gaussian kernel,
  bandwidth mixture), backpropagating through the kernel sums (fastgan.mmd);
- adversarial: a GAN, discriminator D and generator G trained by the BCE losses
  (fastgan.losses; non-saturating generator loss, real label 0.9).

Every --eval-every steps it prints the mean and std of 5,000 generated samples and their
1-D Wasserstein-1 distance to the data (from sorted samples), then writes a PNG with the
final histograms and the distance curves.

    python examples/direct_vs_adversarial_1d.py --steps 1500 --out runs/direct_vs_adversarial
"""
import argparse
from pathlib import Path

import torch

import fastgan
from fastgan.train import GANTrainer, MMDTrainer, mlp_discriminator, mlp_generator


def w1(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """Wasserstein-1 between two equal-size 1-D samples: mean |sorted a − sorted b|."""
    a, _ = samples.view(-1).double().sort()
    b, _ = reference.view(-1).double().sort()
    return float((a - b).abs().mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/direct_vs_adversarial"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    data = fastgan.data.gauss1d(mean=4.0, std=1.25)
    reference = data.held_out(5000)
    torch.manual_seed(args.seed)
    trainers = {
        "direct (GMMN)": MMDTrainer(mlp_generator(4, 1, (32, 32)), latent_dim=4,
                                    bandwidth=(0.25, 0.5, 1.0, 2.0, 4.0), lr=1e-3, rng=args.seed),
        "adversarial (GAN)": GANTrainer(mlp_generator(4, 1, (32, 32)), mlp_discriminator(1, (32, 32)),
                                        latent_dim=4, lr=1e-3, real_label=0.9, rng=args.seed),
    }
    curves = {name: [] for name in trainers}
    for name, t in trainers.items():
        def evaluate(trainer, losses, name=name):
            if trainer.step % args.eval_every == 0 or trainer.step == args.steps:
                x = trainer.sample(5000)
                d = w1(x, reference)
                curves[name].append((trainer.step, d))
                print(f"{name:18s} step {trainer.step:5d}: mean {x.mean():6.3f} std {x.std():6.3f} "
                      f"W1 to data {d:.4f}   losses {losses}")

        t.fit(data, steps=args.steps, batch_size=args.batch_size, progress=False, callback=evaluate)

    print("\ntarget: mean 4.000 std 1.250")
    for name, t in trainers.items():
        x = t.sample(5000)
        print(f"{name:18s} final: mean {x.mean():.3f} std {x.std():.3f} W1 {w1(x, reference):.4f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.hist(reference.numpy().ravel(), bins=60, density=True, alpha=0.35, label="data N(4, 1.25²)")
    colors = dict(zip(trainers, ("tab:orange", "tab:green")))  # one colour per method in both panels
    for name, t in trainers.items():
        ax1.hist(t.sample(5000).numpy().ravel(), bins=60, density=True, histtype="step", lw=2, label=name,
                 color=colors[name])
    ax1.set_title("final samples")
    ax1.legend()
    for name, pts in curves.items():
        ax2.plot(*zip(*pts), marker=".", label=name, color=colors[name])
    ax2.set_yscale("log")
    ax2.set_xlabel("step")
    ax2.set_ylabel("W1(generated, data)")
    ax2.set_title("distance to the data during training")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(args.out / "direct_vs_adversarial.png", dpi=100)
    print(f"wrote {args.out / 'direct_vs_adversarial.png'}")


if __name__ == "__main__":
    main()

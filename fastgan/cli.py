"""The ``fastgan`` command line: ``train``, ``sample`` and ``bench``.

    fastgan train gmmn --data digits --out runs/digits        # about a minute on a CPU
    fastgan train gan --data ring --steps 3000 --out runs/ring --loss hinge
    fastgan train gmmn --data ring --out runs/ring --resume   # continue from runs/ring/checkpoint.pt
    fastgan train gan --data digits --out runs/d --eval-every 250 --sample-every 500
    fastgan train gan --data my_images/ --image-size 32 --ema-decay 0.999 --r1 1 --augment translation,cutout
    torchrun --nproc_per_node 2 -m fastgan.cli train gmmn --data ring --out runs/ring2
    fastgan sample --checkpoint runs/digits/checkpoint.pt --n 64 --out digits.png
    fastgan bench --help                                      # the benchmark runner (source checkout)
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

_DATA = ("gauss1d", "ring", "grid", "digits", "shapes")


def _number(kind, minimum, *, exclusive: bool = False, below: float | None = None, what: str):
    """An argparse ``type=`` that parses ``kind`` (int or float) and checks
    minimum <= value (minimum < value with ``exclusive``) and value < ``below``; the error says
    ``expected <what>``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = math.isfinite(value) and (value > minimum if exclusive else value >= minimum)
        if not ok or (below is not None and not value < below):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_positive_int = _number(int, 1, what="a positive integer")
_nonneg_int = _number(int, 0, what="a non-negative integer")
_positive_float = _number(float, 0.0, exclusive=True, what="a positive number")
_batch_size = _number(int, 2, what="an integer >= 2")  # the MMD and the unbiased estimators need two rows
_unit_interval = _number(float, 0.0, below=1.0, what="a number in [0, 1)")


def _device(text: str) -> str:
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return text


def _bandwidths(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}") from None
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}")
    return values


def _data_source(text: str) -> str:
    """A built-in data set name, or an existing image folder / array file."""
    import os

    if text in _DATA or os.path.exists(text):
        return text
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(_DATA)}, an image folder or a .npy/.npz/.pt "
                                     f"file, got {text!r} (no such file or folder)")


def _betas(text: str) -> tuple[float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected two numbers in [0, 1) as B1,B2, got {text!r}")
    return values


def _policy(text: str) -> str:
    from .train.augment import POLICIES

    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names or any(p not in POLICIES for p in names):
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(POLICIES)}, got {text!r}")
    return ",".join(names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastgan", description="Train and sample generative models "
                                     "with fastgan's fused kernels.")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample,bench,test}")
    sub.required = True

    t = sub.add_parser("train", help="train a GAN, a GMMN or an MMD-GAN on built-in or your own data",
                       description="Train on built-in data, an image folder or an array file; writes checkpoint.pt, metrics.jsonl, loss.png, "
                       "report.png, samples.png and metrics.json into --out (and best.pt, samples/ with "
                       "--eval-every, --sample-every). A non-empty --out is refused unless --resume or "
                       "--overwrite; one process at a time may use it. Under torchrun (WORLD_SIZE > 1) the "
                       "models use DDP and the MMD is sharded over processes.")
    t.add_argument("model", choices=("gan", "gmmn", "mmdgan"),
                   help="gan: adversarial; gmmn: direct MMD training; mmdgan: MMD on learned features")
    t.add_argument("--data", type=_data_source, required=True,
                   help=f"a built-in data set ({', '.join(_DATA)}; shapes: 32x32 RGB images), an image folder "
                   "(searched recursively) or a .npy/.npz/.pt array (N, D) or (N, C, H, W)")
    t.add_argument("--image-size", type=_number(int, 8, what="an integer >= 8"), default=None,
                   help="image folders: resize and centre-crop to this many pixels (default 32)")
    t.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="image folders: 1 (grey) or 3 (RGB, the default)")
    t.add_argument("--strict", action="store_true",
                   help="image folders: stop at the first unreadable file (default: skip and report them)")
    t.add_argument("--arch", choices=("mlp", "dcgan", "resnet"), default=None,
                   help="models: mlp (vectors), dcgan (images 16-128 px, the default for images), resnet "
                   "(SNGAN-style, 32 px)")
    t.add_argument("--latent-dim", type=_positive_int, default=None, help="latent size (default: per data set)")
    t.add_argument("--width", type=_positive_int, default=None,
                   help="base channels (dcgan, resnet) or hidden size (mlp) (default: per data set)")
    t.add_argument("--out", type=Path, required=True, help="output folder")
    t.add_argument("--steps", type=_positive_int, default=None, help="total training steps (default: per data set)")
    t.add_argument("--batch-size", type=_batch_size, default=None, help="global batch size (default: 256)")
    t.add_argument("--lr", "--g-lr", dest="lr", type=_positive_float, default=None,
                   help="learning rate (of G when --d-lr is given; default: per data set); with --resume it "
                   "may only go down (both networks' rates)")
    t.add_argument("--d-lr", type=_positive_float, default=None,
                   help="gan, mmdgan: D's own learning rate (TTUR; default: --lr)")
    t.add_argument("--betas", type=_betas, default=None, help="Adam betas B1,B2 for both networks (default: 0.5,0.999)")
    t.add_argument("--ema-decay", type=_unit_interval, default=None,
                   help="keep an EMA of G's weights (e.g. 0.999); samples, metrics and `fastgan sample` use it")
    t.add_argument("--spectral-norm", action="store_true", help="gan, mmdgan: spectral normalisation of D")
    t.add_argument("--r1", type=_positive_float, default=None, help="gan: R1 penalty γ on real data")
    t.add_argument("--r1-every", type=_positive_int, default=None,
                   help="gan: lazy R1, computed every k D steps and scaled by k (default: 1)")
    t.add_argument("--gp", type=_positive_float, default=None, help="gan: WGAN-GP gradient penalty λ")
    t.add_argument("--augment", type=_policy, default=None,
                   help="gan, mmdgan: DiffAugment policy, e.g. translation,cutout,color (images only)")
    t.add_argument("--pack", type=_positive_int, default=None, help="gan, mmdgan: PacGAN, D sees m samples at once")
    t.add_argument("--accumulate", type=_positive_int, default=None,
                   help="gradient accumulation: each update in k micro-batches (the batch must divide)")
    t.add_argument("--seed", type=_nonneg_int, default=0, help="fastgan.Generator seed for data and latents")
    t.add_argument("--loss", choices=("bce", "hinge", "wasserstein"), default="bce", help="GAN loss")
    t.add_argument("--saturating", action="store_true",
                   help="GAN: minimax generator loss log(1 - D(G(z))) instead of -log D(G(z))")
    t.add_argument("--label-smoothing", type=_unit_interval, default=None,
                   help="GAN: real label = 1 - this (default: 0.1 for digits, else 0)")
    t.add_argument("--d-steps", type=_positive_int, default=None,
                   help="gan, mmdgan: discriminator steps per generator step (default: 1)")
    t.add_argument("--d-clip", type=_positive_float, default=None,
                   help="gan, mmdgan: clip discriminator weights to [-c, c] (WGAN, MMD-GAN)")
    t.add_argument("--bandwidth", type=_bandwidths, default=None,
                   help="gmmn, mmdgan: MMD Gaussian bandwidths σ, comma-separated (default: per data set)")
    t.add_argument("--preset", choices=("modes",), default=None,
                   help="named settings replacing the per-data defaults; modes: gmmn on ring or grid with a "
                        "categorical latent (the mode-collapse benchmark's winner, see bench/modes.py)")
    t.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                   help="learning-rate schedule over --steps (default: cosine annealing)")
    t.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                   help="mixed precision: bf16 autocast, or fp16 autocast with a GradScaler (for GPUs; "
                   "on a CPU autocast runs, but is usually slower than fp32)")
    t.add_argument("--device", type=_device, default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt up to --steps (same settings; --lr may go down; "
                   "another --steps starts a new cosine horizon)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--checkpoint-every", type=_nonneg_int, default=0,
                   help="write the checkpoint every N steps (default: only at the end)")
    t.add_argument("--eval-every", type=_nonneg_int, default=0,
                   help="every N steps: KID (and FID) against held-out data into metrics.jsonl, the best "
                   "so far kept as best.pt (default: 0, off)")
    t.add_argument("--sample-every", type=_nonneg_int, default=0,
                   help="every N steps: a grid of the fixed sample batch as samples/step_XXXXXX.png")
    t.add_argument("--log-every", type=_positive_int, default=None,
                   help="steps per metrics.jsonl line of mean losses (default: --steps / 100)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also log to OUT/tensorboard (needs the tensorboard package)")
    t.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for torch (default 1 on CPU: the default models are too small to "
                   "gain from more, and extra threads slow down a shared machine)")
    t.add_argument("--quiet", action="store_true", help="no progress output")

    s = sub.add_parser("sample", help="draw samples from a `fastgan train` checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True, help="checkpoint.pt from `fastgan train`")
    s.add_argument("--n", type=_positive_int, default=64, help="number of samples")
    s.add_argument("--out", type=Path, required=True,
                   help="output file, format by suffix: .png plot, .npy numpy, .pt torch tensor, .csv text")
    s.add_argument("--truncation", type=_positive_float, default=None, help="truncate latents to |z| <= t")
    s.add_argument("--seed", type=_nonneg_int, default=None,
                   help="latent seed (default: the run's own fixed sample stream, the one its samples.png used)")

    sub.add_parser("bench", help="run the benchmarks (source checkout only; see bench/)", add_help=False)
    from .stats import add_cli
    add_cli(sub)  # fastgan test A B (fastgan/stats.py)
    parser.subcommands = {"train": t, "sample": s}  # for errors that name the subcommand
    return parser


def _bench(argv: list[str]) -> int:
    import fastgan

    root = Path(fastgan.__file__).resolve().parent.parent
    if not (root / "bench" / "runner.py").is_file():
        print("fastgan bench: the benchmarks live in the source checkout (bench/runner.py), which this "
              "installation does not have; clone the repository and run `fastgan bench` from an "
              "editable install (pip install -e .)", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import runner

    return int(runner.main(argv) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        fail = parser.subcommands["train"].error
        from .train.run import model_options_error
        from .train.trainer import discriminator_options_error

        # the trainer's and run.py's rules, named by their flags, as usage errors before any work
        error = model_options_error(args.model, {k: f"--{k.replace('_', '-')}" for k, v in (
            ("loss", args.loss != "bce"), ("saturating", args.saturating),
            ("label_smoothing", args.label_smoothing is not None), ("bandwidth", args.bandwidth is not None),
            ("r1", args.r1 is not None), ("r1_every", args.r1_every is not None), ("gp", args.gp is not None)) if v})
        error = error or discriminator_options_error(args.model != "gmmn", {
            "--d-steps": args.d_steps is not None, "--d-clip": args.d_clip is not None,
            "--d-lr": args.d_lr is not None, "--spectral-norm": args.spectral_norm,
            "--augment": args.augment is not None, "--pack": args.pack is not None})
        if args.r1_every is not None and args.r1 is None:
            error = error or "--r1-every needs --r1 (the penalty's γ)"
        if error:
            fail(error)
        if args.loss != "bce" and (args.saturating or args.label_smoothing):
            fail("--saturating and --label-smoothing apply to --loss bce only")
        import torch

        from .train.run import train_builtin
        from .train.trainer import NonFiniteLossError

        if args.threads is not None:
            torch.set_num_threads(args.threads)
        elif args.device is None or str(args.device).startswith("cpu"):
            torch.set_num_threads(1)

        try:
            metrics = train_builtin(
                args.model, args.data, out=args.out, steps=args.steps, batch_size=args.batch_size,
                lr=args.lr, seed=args.seed, loss=args.loss, saturating=args.saturating,
                label_smoothing=args.label_smoothing, d_steps=args.d_steps or 1, d_clip=args.d_clip,
                amp=None if args.amp == "none" else args.amp, device=args.device, resume=args.resume,
                overwrite=args.overwrite, checkpoint_every=args.checkpoint_every, progress=not args.quiet,
                bandwidth=args.bandwidth, lr_schedule=args.lr_schedule, eval_every=args.eval_every,
                sample_every=args.sample_every, log_every=args.log_every, tensorboard=args.tensorboard,
                arch=args.arch, latent_dim=args.latent_dim, width=args.width, image_size=args.image_size,
                channels=args.channels, strict=args.strict, ema_decay=args.ema_decay,
                spectral_norm=args.spectral_norm, r1=args.r1, r1_every=args.r1_every or 1, gp=args.gp,
                d_lr=args.d_lr, betas=args.betas, augment=args.augment, pack=args.pack or 1,
                accumulate=args.accumulate or 1, preset=args.preset)
        except (NonFiniteLossError, OSError, ValueError, ImportError) as exc:
            # RunFolderError is an OSError, CheckpointError a ValueError: each one line naming its path
            print(f"fastgan train: error: {exc}", file=sys.stderr)
            return 1
        if metrics:
            summary = {k: metrics[k] for k in ("heldout_mmd2", "kid", "fid", "modes_covered",
                                                "high_quality_share", "seconds", "samples_per_s")
                       if k in metrics}
            text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
            print(f"fastgan train: done, {metrics['steps']} steps; {text}")
            extra = ", best.pt" if args.eval_every else ""
            print(f"fastgan train: wrote {args.out}/checkpoint.pt{extra}, metrics.jsonl, loss.png, report.png, "
                  "samples.png, metrics.json")
        return 0
    if args.command == "sample":
        from .train.run import sample_checkpoint

        try:
            path = sample_checkpoint(args.checkpoint, args.n, args.out, truncation=args.truncation,
                                     seed=args.seed)
        except (OSError, ValueError) as exc:
            print(f"fastgan sample: error: {exc}", file=sys.stderr)
            return 1
        print(f"fastgan sample: wrote {path}")
        return 0
    if args.command == "test":
        from .stats import run_cli
        return run_cli(args)
    return 2  # pragma: no cover - argparse rejects other commands


if __name__ == "__main__":
    sys.exit(main())

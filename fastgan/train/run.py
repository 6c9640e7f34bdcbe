"""End-to-end training runs on the built-in data sets (what ``fastgan train`` does).

:func:`train_builtin` builds the default MLPs for a data set, trains a GAN, a GMMN or an
MMD-GAN, and writes into ``out`` (a :class:`fastgan.train.runs.RunFolder`: locked, checked
before step 1, every file written atomically): ``checkpoint.pt`` (resumable), ``best.pt``
(the best KID so far, with ``eval_every``), ``metrics.jsonl`` (losses per log interval and
each evaluation), ``samples/step_XXXXXX.png`` (with ``sample_every``), ``loss.png``,
``report.png`` (losses and metrics), ``samples.png`` (a row of real data above the digit
grid, or a 2-D scatter / 1-D histogram over the data) and ``metrics.json`` (held-out MMD², KID
and FID, and for the 2-D mixtures modes covered and the high-quality share).
"""
from __future__ import annotations

import errno
import io
import json
import math
import sys
import time
from pathlib import Path

import torch

from .. import data as _data
from .. import random as _random
from . import distributed as _dist
from .checkpoint import CheckpointError, load_checkpoint, require_fields
from .logging import MetricsLog, tensorboard_class, tensorboard_writer
from .metrics import Evaluator, heldout_mmd, mode_coverage
from .models import CategoricalLatentGenerator, mlp_discriminator, mlp_generator
from .runs import RunFolder, RunFolderError, atomic_write, check_resume
from .trainer import GANTrainer, MMDTrainer, discriminator_options_error, generate, sample_seed

__all__ = ["PRESETS", "NAMED_PRESETS", "MODELS", "MODEL_OPTIONS", "model_options_error", "SAMPLE_FORMATS", "build_trainer", "train_builtin", "evaluate",
           "sample_checkpoint"]

MODELS = ("gan", "gmmn", "mmdgan")

# which built-in models take which model-specific options (one rule for the API and the CLI)
MODEL_OPTIONS = {"loss": ("gan",), "saturating": ("gan",), "label_smoothing": ("gan",),
                 "bandwidth": ("gmmn", "mmdgan"), "r1": ("gan",), "r1_every": ("gan",), "gp": ("gan",)}


def model_options_error(model: str, given: dict) -> str | None:
    """The message when ``model`` got an option of :data:`MODEL_OPTIONS` it does not take, else
    None. ``given`` maps each option that was set to the caller's name for it (``"bandwidth"``
    for the API, ``"--bandwidth"`` for the CLI)."""
    for key, name in given.items():
        models = MODEL_OPTIONS[key]
        if model not in models:
            which = "model " + repr(models[0]) if len(models) == 1 else "models " + ", ".join(map(repr, models))
            return f"{name} applies to {which} only, not {model!r}"
    return None

# Per data set: network sizes, MMD bandwidths (in data units) and the default run length,
# chosen so each default run takes about a minute on a 2-core CPU. Measured with seed 0
# (GMMN): digits held-out MMD² 0.013 with mmd_lr 2e-3 in 1500 steps (0.025 with 1e-3, seeds
# 0 and 1), 0.008 in 3000 steps; 2500 steps take 25-30 s on an idle 2-core CPU;
# grid 8-9 of 25 modes. On the grid, lr 3e-3 or 2e-2, batch 512, width 256, latent 8, a
# constant lr or a uniform latent did not cover more modes in the same minute; the modes
# appear during the cosine decay's last quarter.
PRESETS = {
    "gauss1d": dict(latent_dim=4, hidden=(32, 32), d_hidden=(32, 32), out_activation="identity",
                    bandwidth=(0.25, 0.5, 1.0, 2.0, 4.0), steps=1500, batch_size=256, gan_lr=1e-3,
                    mmd_lr=1e-3),
    "ring": dict(latent_dim=2, hidden=(128, 128), d_hidden=(128, 128), out_activation="identity",
                 bandwidth=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0), steps=2000, batch_size=256, gan_lr=1e-3,
                 mmd_lr=5e-3),
    "grid": dict(latent_dim=2, hidden=(128, 128), d_hidden=(128, 128), out_activation="identity",
                 bandwidth=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0), steps=2000, batch_size=256,
                 gan_lr=1e-3, mmd_lr=1e-2),
    "digits": dict(latent_dim=16, hidden=(128, 256), d_hidden=(256, 128), out_activation="sigmoid",
                   bandwidth=(0.5, 1.0, 2.0, 4.0, 8.0), steps=2500, batch_size=256, gan_lr=1e-3,
                   mmd_lr=2e-3, label_smoothing=0.1),
}


# Named presets (``fastgan train --preset NAME``): per data set, settings that replace those of
# PRESETS. "modes" (issue 16, the VEEGAN/PacGAN mode-collapse benchmark, see bench/modes.py):
# a GMMN whose latent has a discrete part, ``categories`` uniform categories (one-hot) beside
# ``noise_dim`` Gaussian columns (:class:`CategoricalLatentGenerator`), so that no latent mass
# has to bridge two modes. Chosen with bench.modes; the numbers are in the README.
NAMED_PRESETS = {
    "modes": {
        "ring": dict(model="gmmn", categories=8, noise_dim=2, noise_scale=0.1, latent_dim=3,
                     bandwidth=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0), steps=1500, batch_size=256, mmd_lr=5e-3),
        "grid": dict(model="gmmn", categories=25, noise_dim=2, noise_scale=0.1, latent_dim=3,
                     bandwidth=(0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0), steps=1500, batch_size=256,
                     mmd_lr=5e-3),
    },
}


def _generator(config: dict, dim: int):
    # a run config with "categories" describes a CategoricalLatentGenerator, else an mlp_generator
    if config.get("categories"):
        return CategoricalLatentGenerator(config["categories"], dim, noise_dim=config["noise_dim"],
                                          hidden=config["hidden"], out_activation=config["out_activation"],
                                          noise_scale=config.get("noise_scale", 1.0))
    return mlp_generator(config["latent_dim"], dim, config["hidden"], config["out_activation"])


# Presets for data from a path and for ``shapes``: images train a DCGAN by default, (N, D)
# arrays an MLP; MMD bandwidths from the median heuristic, since a user's data has no known
# scale. The shapes run takes a few minutes on a 2-core CPU (README).
IMAGE_PRESET = dict(latent_dim=64, width=32, hidden=(256, 256), d_hidden=(256, 256), out_activation="tanh",
                    bandwidth="median", steps=1000, batch_size=64, gan_lr=2e-4, mmd_lr=5e-4)
ARRAY_PRESET = dict(latent_dim=16, hidden=(256, 256), d_hidden=(256, 256), out_activation="identity",
                    bandwidth="median", steps=2000, batch_size=256, gan_lr=1e-3, mmd_lr=1e-3)
ARCHS = ("mlp", "dcgan", "resnet")
# the toolkit's run-config keys and their defaults (off); every one of them changes the run
TOOLKIT_DEFAULTS = dict(ema_decay=None, spectral_norm=False, r1=None, r1_every=1, gp=None, d_lr=None,
                        betas=(0.5, 0.999), augment=None, pack=1, accumulate=1)


def _models(config: dict, dim: int, image_shape):
    """(generator, discriminator or None) for a run config: ``arch`` "mlp" (the default and
    the only choice for vector data), "dcgan" or "resnet" (images, ``width`` channels)."""
    model, arch = config["model"], config.get("arch", "mlp")
    pack = config.get("pack", 1)
    out_dim = 16 if model == "mmdgan" else 1
    if arch == "mlp":
        g = _generator(config, dim)
        d = mlp_discriminator(dim * pack, config["d_hidden"], out_dim=out_dim) if model != "gmmn" else None
        return g, d
    from . import conv

    if image_shape is None or len(image_shape) != 3:
        raise ValueError(f"--arch {arch} needs image data (C, H, W): an image folder, shapes, or an "
                         f"(N, C, H, W) array; this data set is (N, {dim}) vectors")
    shape, width = tuple(image_shape), config["width"]
    if arch == "dcgan":
        g = conv.dcgan_generator(config["latent_dim"], shape, width)
        # per-sample gradient penalties and spectral norm do not mix with batch statistics
        norm = "none" if (config.get("r1") or config.get("gp") or config.get("spectral_norm")) else "batch"
        d = conv.dcgan_discriminator(shape, width, out_dim=out_dim, norm=norm, pack=pack) if model != "gmmn" else None
    elif arch == "resnet":
        g = conv.resnet_generator(config["latent_dim"], shape, width)
        d = conv.resnet_discriminator(shape, width, out_dim=out_dim, pack=pack) if model != "gmmn" else None
    else:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return g, d


def build_trainer(config: dict, dim: int, *, device=None, seed: int = 0, amp=None, image_shape=None):
    """The trainer a run ``config`` describes (keys of :data:`PRESETS` plus ``model``, ``loss``,
    ``saturating``, ``real_label``, ``d_steps``, ``lr``, ``arch``, ``width`` and the toolkit's
    :data:`TOOLKIT_DEFAULTS`)."""
    model = config["model"]
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    g, d = _models(config, dim, image_shape)
    kit = {k: config.get(k, v) for k, v in TOOLKIT_DEFAULTS.items()}
    common = dict(latent_dim=config["latent_dim"], d_steps=config.get("d_steps", 1), d_clip=config.get("d_clip"),
                  lr=config["lr"], d_lr=kit["d_lr"], betas=tuple(kit["betas"]), device=device, rng=seed, amp=amp,
                  ema_decay=kit["ema_decay"], spectral_norm=kit["spectral_norm"], augment=kit["augment"],
                  pack=kit["pack"], accumulate=kit["accumulate"],
                  image_shape=tuple(image_shape) if image_shape is not None and len(image_shape) == 3 else None)
    if model == "gan":
        return GANTrainer(g, d, loss=config.get("loss", "bce"), saturating=config.get("saturating", False),
                          real_label=config.get("real_label", 1.0), r1=kit["r1"], r1_every=kit["r1_every"],
                          gp=kit["gp"], **common)
    bandwidth = config["bandwidth"]
    return MMDTrainer(g, bandwidth=bandwidth if isinstance(bandwidth, str) else tuple(bandwidth),
                      discriminator=d, **common)


def _load_data(data, *, image_size=None, channels=None, strict=False):
    """(dataset, preset, name) for ``data``: a built-in name (its :data:`PRESETS` entry, or
    :data:`IMAGE_PRESET` for ``shapes``) or a path (an image folder or an array file)."""
    import os

    is_builtin = isinstance(data, str) and data in _data.names()
    folder = not is_builtin and isinstance(data, (str, os.PathLike)) and os.path.isdir(data)
    for name, v in (("image_size", image_size), ("channels", channels), ("strict", strict)):
        if v not in (None, False) and not folder:
            raise ValueError(f"{name} applies to image folders only, not {str(data)!r}")
    if is_builtin:
        if data not in PRESETS and data != "shapes":
            raise ValueError(f"data must be one of {tuple(PRESETS) + ('shapes',)} or a path, got {data!r}")
        return _data.load(data), PRESETS.get(data, IMAGE_PRESET), data
    if not isinstance(data, (str, os.PathLike)) or not os.path.exists(data):
        raise ValueError(f"data must be one of {tuple(PRESETS) + ('shapes',)}, an image folder or a .npy/.npz/.pt "
                         f"file, got {str(data)!r} (no such file or folder)")
    kwargs = {}
    if folder:
        kwargs = dict(image_size=32 if image_size is None else image_size, channels=3 if channels is None else channels,
                      strict=strict)
    dataset = _data.load(Path(data), **kwargs)
    shape = getattr(dataset, "image_shape", None)
    preset = IMAGE_PRESET if shape is not None and len(shape) == 3 else ARRAY_PRESET
    return dataset, preset, str(data)


class _Images:
    # what _write_samples needs of a data set to draw an image grid without loading it
    def __init__(self, image_shape):
        self.image_shape = tuple(image_shape)


def _write_samples(samples, dataset, path, title, real_row: bool = False):
    from . import plots

    if getattr(dataset, "image_shape", None):
        real = dataset.held_out(8) if real_row else None
        if real_row:
            title = f"{title} (top row: real data)"
        return plots.plot_image_grid(samples[:64], path, image_shape=dataset.image_shape, title=title,
                                     real=real)
    if samples.shape[1] == 2:
        return plots.plot_scatter(samples, path, real=dataset.held_out(1000), centers=dataset.centers,
                                  title=title)
    return plots.plot_hist(samples, path, real=dataset.held_out(5000), title=title)


def evaluate(trainer, dataset, n: int = 2500) -> dict:
    """Held-out MMD² (and the data's own train-vs-held-out floor), plus mode coverage for
    2-D mixtures, from ``n`` generated samples."""
    samples = trainer.sample(n).cpu()
    metrics = {"samples": n, "heldout_mmd2": heldout_mmd(samples, dataset.held_out())["mmd2"]}
    metrics["data_floor_mmd2"] = heldout_mmd(
        dataset.sample(n, generator=_random.Generator(12345)),
        dataset.held_out())["mmd2"]
    if dataset.centers is not None and dataset.dim == 2:
        metrics.update(mode_coverage(samples, dataset.centers, dataset.std))
    return metrics


def _run_bytes(trainer) -> int:
    # a checkpoint holds each parameter three times (weights, Adam's two moments); checkpoint.pt,
    # best.pt and one temporary copy during a write may coexist; plus the plots and logs
    params = sum(p.numel() * p.element_size() for m in trainer._modules.values() for p in m.parameters())
    return 3 * 3 * params + 8 * 2**20


def _mean_losses(window: list[dict]) -> dict:
    keys = window[0].keys() if window else ()
    return {k: sum(w[k] for w in window) / len(window) for k in keys}


class _RunCallback:
    """What happens between steps of a built-in run: the log line, the evaluation with its
    best checkpoint, and the periodic sample grid."""

    def __init__(self, out: Path, dataset, log: MetricsLog | None, evaluator, *, log_every: int,
                 eval_every: int, sample_every: int, best: float | None, title: str, t0: float):
        self.out, self.dataset, self.log, self.evaluator = out, dataset, log, evaluator
        self.log_every, self.eval_every, self.sample_every = log_every, eval_every, sample_every
        self.best, self.title, self.t0 = best, title, t0
        self.window: list[dict] = []

    def __call__(self, trainer, losses: dict) -> None:
        step = trainer.step
        self.window.append(losses)
        main = _dist.is_main_process()
        if self.log is not None and main and step % self.log_every == 0:
            lr = next(iter(trainer._optimizers.values())).param_groups[0]["lr"]
            self.log.log(step, **_mean_losses(self.window), lr=lr, seconds=time.perf_counter() - self.t0)
            self.window = []
        if self.eval_every and step % self.eval_every == 0:
            self.evaluate(trainer)
        if self.sample_every and main and step % self.sample_every == 0:
            n = 2500 if self.dataset.dim <= 2 else 64
            _write_samples(trainer.sample(n).cpu(), self.dataset, self.out / "samples" / f"step_{step:06d}.png",
                           title=f"{self.title}, step {step}")

    def evaluate(self, trainer) -> dict:
        values = self.evaluator(trainer) if _dist.is_main_process() else {}
        if _dist.is_main_process() and self.log is not None:
            self.log.log(trainer.step, **values)
        better = _dist.is_main_process() and math.isfinite(values["kid"]) and (
            self.best is None or values["kid"] < self.best)
        if _dist.is_distributed():  # every rank takes part in writing a checkpoint (a barrier)
            flag = torch.tensor([1.0 if better else 0.0])
            torch.distributed.broadcast(flag, 0)
            better = bool(flag.item())
        if better:
            self.best = values.get("kid", self.best)
            trainer.save_checkpoint(self.out / "best.pt",
                                    extra={"best": {"metric": "kid", "step": trainer.step, **values}},
                                    track=False)
        return values


def train_builtin(model: str, data: str, *, out: str | Path, steps: int | None = None,
                  batch_size: int | None = None, lr: float | None = None, seed: int = 0,
                  loss: str = "bce", saturating: bool = False, label_smoothing: float | None = None,
                  d_steps: int = 1, d_clip: float | None = None, amp: str | None = None,
                  device=None, resume: bool = False, overwrite: bool = False, checkpoint_every: int = 0,
                  progress: bool = True, bandwidth=None, lr_schedule: str = "cosine", eval_every: int = 0,
                  sample_every: int = 0, log_every: int | None = None, tensorboard: bool = False,
                  arch: str | None = None, latent_dim: int | None = None, width: int | None = None,
                  image_size: int | None = None, channels: int | None = None, strict: bool = False,
                  ema_decay: float | None = None, spectral_norm: bool = False, r1: float | None = None,
                  r1_every: int = 1, gp: float | None = None, d_lr: float | None = None, betas=None,
                  augment: str | None = None, pack: int = 1, accumulate: int = 1,
                  preset: str | None = None) -> dict:
    """Train ``model`` ("gan", "gmmn" or "mmdgan") on built-in ``data`` and write the run's
    files into ``out``; returns the metrics dict (also written to metrics.json).

    Defaults (steps, batch size, learning rate, bandwidths, network sizes) come from
    :data:`PRESETS`; the learning rate follows ``lr_schedule`` ("cosine" by default).
    ``preset`` names an entry of :data:`NAMED_PRESETS` whose settings replace those defaults
    (e.g. ``preset="modes"``: the GMMN with a categorical latent for ring and grid); explicit
    arguments still win over it.

    The run folder: a non-empty ``out`` is refused unless ``resume`` (continue from
    ``out/checkpoint.pt`` up to ``steps``) or ``overwrite`` (replace the earlier run's files);
    a second process on the same ``out`` is refused while the first runs. ``resume`` keeps
    every setting of the checkpoint except ``steps`` (another value starts a new cosine horizon,
    see :meth:`fastgan.train.Trainer.fit`) and ``lr``, which may only go down (recorded in the
    checkpoint's ``lr_changes``); without ``lr`` it keeps the checkpoint's.

    ``eval_every`` N: every N steps KID (and FID for data of dimension <= 256) of 1000 samples
    of the fixed sample stream against held-out data (:class:`fastgan.train.metrics.Evaluator`),
    logged to metrics.jsonl; the best KID so far is kept as ``best.pt``. ``sample_every`` N:
    ``samples/step_XXXXXX.png`` every N steps. ``log_every`` (default steps // 100): the losses'
    mean per interval into metrics.jsonl. ``tensorboard``: the same values to ``out/tensorboard``.

    ``data`` may also be a path: an image folder (resized and centre-cropped to ``image_size``
    pixels, default 32, with ``channels`` 1 or 3, default 3; unreadable files are skipped with a
    warning, or stop the run with ``strict``) or a ``.npy`` / ``.npz`` / ``.pt`` array of shape
    (N, D) or (N, C, H, W); ``"shapes"`` is the built-in image set. ``arch``: "mlp" (vectors;
    the default for them), "dcgan" (the default for images) or "resnet" (32-pixel images);
    ``latent_dim`` and ``width`` (channels for conv models, hidden size for MLPs) override the
    preset. The toolkit, each off by default: ``ema_decay`` (samples, metrics and
    ``fastgan sample`` use the EMA generator), ``spectral_norm`` (of D), ``r1`` γ with
    ``r1_every`` k (lazy R1), ``gp`` λ (WGAN-GP), ``d_lr`` and ``betas`` (TTUR; ``lr`` is G's
    rate), ``augment`` (DiffAugment policy, e.g. "translation,cutout,color"), ``pack`` m
    (PacGAN) and ``accumulate`` k (gradient accumulation). Each is part of the run config, so
    ``resume`` refuses a change of any of them.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    dataset, base, data = _load_data(data, image_size=image_size, channels=channels, strict=strict)
    named = None
    if preset is not None:  # a named preset (NAMED_PRESETS) replaces some of the data's settings
        if preset not in NAMED_PRESETS:
            raise ValueError(f"preset must be one of {tuple(NAMED_PRESETS)}, got {preset!r}")
        if data not in NAMED_PRESETS[preset]:
            raise ValueError(f"preset {preset!r} is for data {tuple(NAMED_PRESETS[preset])}, not {data!r}")
        named = dict(NAMED_PRESETS[preset][data])
        if named.pop("model") != model:
            raise ValueError(f"preset {preset!r} is for model {NAMED_PRESETS[preset][data]['model']!r}, "
                             f"not {model!r}")
    preset_name, preset = preset, ({**base, **named} if named else base)
    image_shape = getattr(dataset, "image_shape", None)
    image_shape = tuple(image_shape) if image_shape is not None and len(image_shape) == 3 else None
    if arch is None:
        arch = "dcgan" if image_shape is not None and base is IMAGE_PRESET else "mlp"
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    error = discriminator_options_error(model != "gmmn", {k: v for k, v in (
        ("spectral_norm", spectral_norm), ("augment", bool(augment)), ("pack", pack != 1),
        ("d_lr", d_lr is not None))})
    error = error or model_options_error(model, {k: k for k, v in (
        ("r1", r1 is not None), ("r1_every", r1_every != 1), ("gp", gp is not None)) if v})
    if error:
        raise ValueError(error)
    error = model_options_error(model, {k: k for k, v in (
        ("loss", loss != "bce"), ("saturating", saturating), ("label_smoothing", label_smoothing is not None),
        ("bandwidth", bandwidth is not None)) if v})
    if error:
        raise ValueError(error)
    for name, v in (("eval_every", eval_every), ("sample_every", sample_every), ("checkpoint_every",
                                                                                  checkpoint_every)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    if label_smoothing is None:
        label_smoothing = preset.get("label_smoothing", 0.0) if (model, loss) == ("gan", "bce") else 0.0
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    out = Path(out)
    ckpt = out / "checkpoint.pt"
    device = _dist.init_from_env(device)
    config = {k: v for k, v in preset.items() if k != "label_smoothing"}
    config.update(model=model, data=data, loss=loss, saturating=saturating,
                  real_label=1.0 - label_smoothing, d_steps=d_steps, d_clip=d_clip)
    if base is not PRESETS.get(data) or arch != "mlp":
        # the new keys only where they matter, so built-in MLP runs keep their configs
        config.update(arch=arch, image_shape=list(image_shape) if image_shape else None)
    if latent_dim is not None:
        config["latent_dim"] = latent_dim
    if width is not None:
        config.update(width=width, hidden=(width, width), d_hidden=(width, width))
    if arch != "mlp" and "width" not in config:
        config["width"] = IMAGE_PRESET["width"]
    kit = dict(ema_decay=ema_decay, spectral_norm=spectral_norm, r1=r1, r1_every=r1_every, gp=gp, d_lr=d_lr,
               betas=tuple(betas) if betas is not None else None, augment=augment, pack=pack, accumulate=accumulate)
    # every toolkit key is in the config (defaults too), so resume refuses turning one on or off
    config.update({k: TOOLKIT_DEFAULTS[k] if v is None else v for k, v in kit.items()})
    config["lr"] = lr if lr is not None else preset["gan_lr" if model == "gan" else "mmd_lr"]
    if bandwidth is not None:
        config["bandwidth"] = tuple(bandwidth)
    steps = steps if steps is not None else preset["steps"]
    batch_size = batch_size if batch_size is not None else preset["batch_size"]
    if log_every is None:
        log_every = max(1, steps // 100)
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be an int >= 1, got {log_every!r}")
    config.update(steps=steps, batch_size=batch_size, seed=seed, amp=amp, lr_schedule=lr_schedule)
    if preset_name is not None:
        config["preset"] = preset_name
    torch.manual_seed(seed)  # the networks' initial weights: reproducible runs
    trainer = build_trainer(config, dataset.dim, device=device, seed=seed, amp=amp, image_shape=image_shape)
    trainer.config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}
    main = _dist.is_main_process()
    if tensorboard and main:
        tensorboard_class()  # a missing package stops the run before the folder is touched
    # the folder is checked (lock, emptiness, writability, space) before any training step
    folder, failure = None, None
    if main:
        try:
            folder = RunFolder(out, resume=resume, overwrite=overwrite, need_bytes=_run_bytes(trainer))
        except (OSError, ValueError) as exc:
            failure = exc
    if _dist.is_distributed():  # the other ranks must not wait for a rank 0 that stopped
        flag = torch.tensor([0.0 if failure is None else 1.0], device=device)
        torch.distributed.broadcast(flag, 0)
        if flag.item() and failure is None:
            failure = RunFolderError(errno.EIO, f"rank 0 could not use the run folder {str(out)!r} (its error "
                                     "says why)")
    if failure is not None:
        raise failure
    log = None
    try:
        notes = []
        if resume:
            if not ckpt.is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {str(ckpt)!r}")
            saved = load_checkpoint(ckpt).get("config") or {}
            if lr is None and isinstance(saved.get("lr"), (int, float)):
                trainer.config["lr"] = saved["lr"]  # keep the (possibly lowered) rate of the run
            lowered = check_resume(saved, trainer.config)
            trainer.load_checkpoint(ckpt)
            if steps < trainer.step:
                raise ValueError(f"--resume: --steps {steps} is below the checkpoint's step {trainer.step}")
            if "lr" in lowered:
                old, new = lowered["lr"]
                trainer.lower_learning_rate(new / old)
                notes.append(f"learning rate lowered from {old:g} to {new:g} at step {trainer.step}")
            if lr_schedule == "cosine" and saved.get("steps") not in (None, steps):
                notes.append(f"--steps {steps} differs from the checkpoint's {saved['steps']}: the cosine "
                             f"schedule starts a new {steps}-step horizon at step {trainer.step} (not the "
                             f"uninterrupted {steps}-step run)")
            if progress and main:
                for note in notes:
                    print(f"fastgan train: note: {note}", file=sys.stderr)
        best = None
        if resume and (out / "best.pt").is_file():
            try:
                best = load_checkpoint(out / "best.pt").get("extra", {}).get("best", {}).get("kid")
            except (CheckpointError, OSError):
                best = None  # an unreadable best.pt is replaced by the next best evaluation
        if main:
            tb = tensorboard_writer(out / "tensorboard") if tensorboard else None
            log = MetricsLog(out / "metrics.jsonl", resume_step=trainer.step if resume else None, tensorboard=tb)
        evaluator = None
        if eval_every:
            evaluator = Evaluator(dataset.held_out(1000), n=1000)
        t0 = time.perf_counter()
        start = trainer.step
        title = f"{model} on {data}"
        callback = _RunCallback(out, dataset, log, evaluator, log_every=log_every, eval_every=eval_every,
                                sample_every=sample_every, best=best, title=title, t0=t0)
        trainer.fit(dataset, steps=steps, batch_size=batch_size, checkpoint=ckpt,
                    checkpoint_every=checkpoint_every, progress=progress, lr_schedule=lr_schedule,
                    callback=callback)
        seconds = time.perf_counter() - t0
        final = {}
        if evaluator is not None:
            if trainer.step % eval_every or trainer.step == start:  # the last step was not evaluated
                final = callback.evaluate(trainer)
            elif main:
                final = [x for x in log.lines if "kid" in x][-1]
        metrics = {}
        if main:
            from .plots import plot_losses, plot_report

            metrics = evaluate(trainer, dataset, n=2500 if dataset.dim <= 256 else 500)
            metrics.update({k: final[k] for k in ("kid", "kid_std", "fid") if k in final})
            metrics.update(model=model, data=data, steps=trainer.step, steps_this_run=trainer.step - start,
                           batch_size=batch_size, seconds=seconds, world_size=trainer.world_size,
                           samples_per_s=(trainer.step - start) * batch_size * trainer.d_steps / max(seconds, 1e-9),
                           final_losses={k: v[-1] for k, v in trainer.history.items() if v},
                           lr_schedules=trainer.lr_schedules, lr_changes=trainer.lr_changes, notes=notes,
                           config=trainer.config)
            plot_losses(trainer.history, out / "loss.png", title=title)
            plot_report(trainer.history, {k: log.series(k) for k in ("kid", "fid")}, out / "report.png",
                        title=title)
            _write_samples(trainer.sample(2500 if dataset.dim <= 2 else 64).cpu(), dataset, out / "samples.png",
                           title=f"{title}, step {trainer.step}", real_row=True)
            atomic_write(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        return metrics
    finally:
        if log is not None:
            log.close()
        if folder is not None:
            folder.close()


# ``fastgan sample --out``: what each suffix writes
SAMPLE_FORMATS = {".png": "a plot (image grid, 2-D scatter or 1-D histogram)", ".npy": "numpy array (np.load)",
                  ".pt": "torch tensor (torch.load)", ".csv": "comma-separated text, one sample per line"}


def _encode(samples: torch.Tensor, suffix: str) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    if suffix == ".npy":
        np.save(buf, samples.numpy())
    elif suffix == ".pt":
        torch.save(samples, buf)
    else:
        text = io.StringIO()
        np.savetxt(text, samples.numpy(), delimiter=",", fmt="%.9g")
        return text.getvalue().encode()
    return buf.getvalue()


def sample_checkpoint(checkpoint: str | Path, n: int, out: str | Path, *, truncation: float | None = None,
                      seed: int | None = None) -> Path:
    """Rebuild the generator of a ``fastgan train`` checkpoint and write ``n`` samples to ``out``.

    Only the generator is rebuilt (no discriminator, optimizers or data set; the data set is
    loaded for a ``.png`` only, to draw against it). ``out``'s suffix picks the format (see
    :data:`SAMPLE_FORMATS`): ``.png``, ``.npy``, ``.pt`` or ``.csv``; written atomically.
    Latents: ``fastgan.Generator(seed)`` with ``seed``, else the run's own fixed sample stream
    (the one its samples.png and evaluations used: ``Trainer.sample`` of a trainer with the
    run's seed). A run with ``ema_decay`` samples from its EMA generator, as its own samples
    and metrics did. A truncated, foreign or incomplete checkpoint raises CheckpointError
    naming the file.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SAMPLE_FORMATS:
        raise ValueError(f"out must end in one of {', '.join(SAMPLE_FORMATS)} (the format is taken from the "
                         f"suffix), got {str(out)!r}")
    state = load_checkpoint(checkpoint)
    config = state.get("config") or {}
    if "data" not in config or "model" not in config:
        raise CheckpointError(f"{str(checkpoint)!r} was not written by `fastgan train` (no run config); "
                              "load it with your own modules via Trainer.load_checkpoint")
    require_fields(config, checkpoint, ("latent_dim", "hidden", "out_activation"), "run config")
    require_fields(state, checkpoint, ("models",))
    require_fields(state["models"], checkpoint, ("generator",), "models")
    # the EMA copy when the run kept one: it is what the run's own samples and metrics used
    weights = state["ema"]["module"] if isinstance(state.get("ema"), dict) else state["models"]["generator"]
    hidden = tuple(config["hidden"])
    image_shape = config.get("image_shape")
    if config.get("arch", "mlp") == "mlp":
        # the output Linear of mlp_generator (inside .net for a CategoricalLatentGenerator)
        last = weights.get(f"{'net.' if config.get('categories') else ''}{2 * len(hidden)}.weight")
        if not isinstance(last, torch.Tensor) or last.dim() != 2:
            raise CheckpointError(f"checkpoint {str(checkpoint)!r}: the generator weights do not match the run "
                                  f"config (hidden={list(hidden)})")
        dim = int(last.shape[0])
    else:
        require_fields(config, checkpoint, ("image_shape", "width"), "run config")
        dim = math.prod(image_shape)
    try:
        g, _ = _models({**config, "model": "gmmn"}, dim, image_shape)
        g.load_state_dict(weights)
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(checkpoint)!r}: the generator weights do not match the run "
                              f"config ({str(exc).splitlines()[0]})") from None
    rng = _random.Generator(seed if seed is not None else sample_seed(config.get("seed", 0)))
    samples = generate(g, n, latent_dim=config["latent_dim"], truncation=truncation, rng=rng)
    if suffix == ".png":
        # an image run draws its grid without its data (a user's folder may be gone)
        dataset = _Images(image_shape) if image_shape else _data.load(config["data"])
        _write_samples(samples, dataset, out, title=f"{config['model']} on {config['data']}: {n} samples")
    else:
        atomic_write(out, _encode(samples, suffix))
    return out

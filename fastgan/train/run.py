"""End-to-end training runs on the built-in data sets (what ``fastgan train`` does).

:func:`train_builtin` builds the default MLPs for a data set, trains a GAN, a GMMN or an
MMD-GAN, and writes into ``out``: ``checkpoint.pt`` (atomic, resumable), ``loss.png``,
``samples.png`` (digit grid, 2-D scatter or 1-D histogram) and ``metrics.json`` (held-out
MMD², and for the 2-D mixtures modes covered and the high-quality share).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .. import data as _data
from .. import random as _random
from . import distributed as _dist
from .metrics import heldout_mmd, mode_coverage
from .models import mlp_discriminator, mlp_generator
from .trainer import GANTrainer, MMDTrainer

__all__ = ["PRESETS", "MODELS", "build_trainer", "train_builtin", "evaluate", "sample_checkpoint"]

MODELS = ("gan", "gmmn", "mmdgan")

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


# run settings that may differ between a run and its --resume
_RESUME_FREE = ("steps", "gan_lr", "mmd_lr")


def _load_config(path) -> dict:
    from .checkpoint import load_checkpoint

    return load_checkpoint(path).get("config") or {}


def build_trainer(config: dict, dim: int, *, device=None, seed: int = 0, amp=None):
    """The trainer a run ``config`` describes (keys of :data:`PRESETS` plus ``model``, ``loss``,
    ``saturating``, ``real_label``, ``d_steps``, ``lr``)."""
    model = config["model"]
    g = mlp_generator(config["latent_dim"], dim, config["hidden"], config["out_activation"])
    if model == "gan":
        d = mlp_discriminator(dim, config["d_hidden"])
        return GANTrainer(g, d, latent_dim=config["latent_dim"], loss=config.get("loss", "bce"),
                          saturating=config.get("saturating", False),
                          real_label=config.get("real_label", 1.0), d_steps=config.get("d_steps", 1),
                          d_clip=config.get("d_clip"), lr=config["lr"], device=device, rng=seed, amp=amp)
    if model in ("gmmn", "mmdgan"):
        d = mlp_discriminator(dim, config["d_hidden"], out_dim=16) if model == "mmdgan" else None
        return MMDTrainer(g, latent_dim=config["latent_dim"], bandwidth=tuple(config["bandwidth"]),
                          discriminator=d, d_steps=config.get("d_steps", 1), d_clip=config.get("d_clip"),
                          lr=config["lr"], device=device, rng=seed, amp=amp)
    raise ValueError(f"model must be one of {MODELS}, got {model!r}")


def _write_samples(samples, dataset, path, title):
    from . import plots

    if getattr(dataset, "image_shape", None):
        return plots.plot_image_grid(samples[:64], path, image_shape=dataset.image_shape, title=title)
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


def train_builtin(model: str, data: str, *, out: str | Path, steps: int | None = None,
                  batch_size: int | None = None, lr: float | None = None, seed: int = 0,
                  loss: str = "bce", saturating: bool = False, label_smoothing: float | None = None,
                  d_steps: int = 1, d_clip: float | None = None, amp: str | None = None,
                  device=None, resume: bool = False, checkpoint_every: int = 0,
                  progress: bool = True, bandwidth=None, lr_schedule: str = "cosine") -> dict:
    """Train ``model`` ("gan", "gmmn" or "mmdgan") on built-in ``data`` and write the run's
    files into ``out``; returns the metrics dict (also written to metrics.json).

    Defaults (steps, batch size, learning rate, bandwidths, network sizes) come from
    :data:`PRESETS`; the learning rate follows ``lr_schedule`` ("cosine" by default).
    ``resume=True`` continues from ``out/checkpoint.pt`` up to ``steps``.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if data not in PRESETS:
        raise ValueError(f"data must be one of {tuple(PRESETS)}, got {data!r}")
    if model == "gan" and bandwidth is not None:
        raise ValueError("bandwidth applies to the MMD models ('gmmn', 'mmdgan'), not 'gan'")
    if model == "gmmn" and (d_steps != 1 or d_clip is not None):
        raise ValueError("d_steps and d_clip apply to models with a discriminator ('gan', 'mmdgan'), not 'gmmn'")
    preset = PRESETS[data]
    if label_smoothing is None:
        label_smoothing = preset.get("label_smoothing", 0.0) if (model, loss) == ("gan", "bce") else 0.0
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    dataset = _data.load(data)
    device = _dist.init_from_env(device)
    config = {k: v for k, v in preset.items() if k != "label_smoothing"}
    config.update(model=model, data=data, loss=loss, saturating=saturating,
                  real_label=1.0 - label_smoothing, d_steps=d_steps, d_clip=d_clip)
    config["lr"] = lr if lr is not None else preset["gan_lr" if model == "gan" else "mmd_lr"]
    if bandwidth is not None:
        config["bandwidth"] = tuple(bandwidth)
    steps = steps if steps is not None else preset["steps"]
    batch_size = batch_size if batch_size is not None else preset["batch_size"]
    config.update(steps=steps, batch_size=batch_size, seed=seed, amp=amp, lr_schedule=lr_schedule)
    torch.manual_seed(seed)  # the networks' initial weights: reproducible runs
    trainer = build_trainer(config, dataset.dim, device=device, seed=seed, amp=amp)
    trainer.config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {str(ckpt)!r}")
        saved = _load_config(ckpt)
        # the optimizers' state would silently override a new lr, and any other change
        # breaks "resume = the uninterrupted run": only the number of steps may differ
        for key in sorted(trainer.config, key=lambda k: (k not in ("model", "data"), k)):
            value = trainer.config[key]
            if key not in _RESUME_FREE and key in saved and saved[key] != value:
                raise ValueError(f"--resume: the checkpoint was trained with {key}={saved[key]!r}, this run "
                                 f"asks for {key}={value!r}; resume with the same settings (only --steps "
                                 "may change)")
        trainer.load_checkpoint(ckpt)
        if steps < trainer.step:
            raise ValueError(f"--resume: --steps {steps} is below the checkpoint's step {trainer.step}")
    t0 = time.perf_counter()
    start = trainer.step
    trainer.fit(dataset, steps=steps, batch_size=batch_size, checkpoint=ckpt,
                checkpoint_every=checkpoint_every, progress=progress, lr_schedule=lr_schedule)
    seconds = time.perf_counter() - t0
    metrics = {}
    if _dist.is_main_process():
        from .plots import plot_losses

        metrics = evaluate(trainer, dataset)
        metrics.update(model=model, data=data, steps=trainer.step, steps_this_run=trainer.step - start,
                       batch_size=batch_size, seconds=seconds, world_size=trainer.world_size,
                       samples_per_s=(trainer.step - start) * batch_size * trainer.d_steps / max(seconds, 1e-9),
                       final_losses={k: v[-1] for k, v in trainer.history.items() if v},
                       config=trainer.config)
        plot_losses(trainer.history, out / "loss.png", title=f"{model} on {data}")
        _write_samples(trainer.sample(2500 if dataset.dim <= 2 else 64).cpu(), dataset, out / "samples.png",
                       title=f"{model} on {data}, step {trainer.step}")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def sample_checkpoint(checkpoint: str | Path, n: int, out: str | Path, *, truncation: float | None = None,
                      seed: int | None = None) -> Path:
    """Rebuild the generator of a ``fastgan train`` checkpoint and write ``n`` samples to ``out``:
    a PNG (image grid / scatter / histogram) for ``.png``, else a tensor file (``torch.save``)."""
    from .. import Generator
    from .checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    config = state.get("config") or {}
    if "data" not in config or "model" not in config:
        raise ValueError(f"{str(checkpoint)!r} was not written by `fastgan train` (no run config); "
                         "load it with your own modules via Trainer.load_checkpoint")
    dataset = _data.load(config["data"])
    trainer = build_trainer(config, dataset.dim)
    trainer.generator.load_state_dict(state["models"]["generator"])
    samples = trainer.sample(n, truncation=truncation,
                             generator=None if seed is None else Generator(seed)).cpu()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".png":
        _write_samples(samples, dataset, out, title=f"{config['model']} on {config['data']}: {n} samples")
    else:
        torch.save(samples, out)
    return out

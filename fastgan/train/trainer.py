"""GAN and MMD trainers over user nn.Modules, on fastgan's fused losses, MMD and samplers.

Both trainers share one loop (:meth:`Trainer.fit`): minibatches and latents come from a
:class:`fastgan.Generator` whose state is checkpointed with the models, optimizers,
GradScaler and torch's RNG, so a resumed run reproduces the uninterrupted one bit for bit
on CPU. Every loss is checked before its backward pass: a NaN/inf stops training with
:class:`NonFiniteLossError` naming the step, before the bad update is applied, and the
last checkpoint written stays the last good one. Under ``torchrun`` (a process group with
more than one process) the models are wrapped in DistributedDataParallel, every process
draws the same global batch and keeps its own rows, and MMD losses use the sharded MMD
(:func:`fastgan.train.distributed.sharded_mmd`), so W processes compute what one process
computes on the whole batch.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .. import random as _random
from ..ops.gan_loss import _check_discriminator_options, _check_generator_options
from ..ops.mmd import ESTIMATORS as _ESTIMATORS
from ..ops.mmd import KERNELS as _KERNELS
from . import _ops
from . import distributed as _dist
from .augment import DiffAugment
from .batching import micro_batches
from .batching import pack as _pack
from .ema import EMA
from .regularizers import R1Penalty, gradient_penalty, r1_penalty
from .regularizers import spectral_norm as _spectral_norm
from .checkpoint import CheckpointError, load_checkpoint, require_fields, save_checkpoint
from .progress import Progress

__all__ = ["Trainer", "GANTrainer", "MMDTrainer", "NonFiniteLossError", "NonFiniteStateError",
           "discriminator_options_error", "generate", "sample_seed"]

_AMP = {None: None, "none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_STATE_FIELDS = ("trainer", "step", "models", "optimizers", "rng", "torch_rng", "history")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped before the update that loss drives
    (a GAN's discriminator updates earlier in the same step are kept in memory, never in the
    checkpoint)."""


class NonFiniteStateError(NonFiniteLossError):
    """Model or optimizer state holds NaN/inf at a checkpoint: the checkpoint is not written,
    so the last one on disk stays the last good one."""


def discriminator_options_error(has_discriminator: bool, given: dict) -> str | None:
    """The rule "discriminator options need a discriminator", for every layer that takes them.

    ``given`` maps each caller's own option names (``"d_steps"``, ``"--d-clip"``, ...) to
    whether that option was set. Returns the error message when a model without a
    discriminator got one of them, else None."""
    if has_discriminator:
        return None
    names = [k for k, v in given.items() if v]
    if not names:
        return None
    return (f"{', '.join(names)} {'applies' if len(names) == 1 else 'apply'} to models with a discriminator "
            "(a GAN or an MMD-GAN); a GMMN has none")


def sample_seed(seed: int) -> int:
    """The seed of a trainer's fixed sample stream for the training seed ``seed`` (what
    :meth:`Trainer.sample` uses without ``generator=``): a constant offset, so the sample
    latents never overlap the training stream's start."""
    return (int(seed) + 0x9E3779B97F4A7C15) % (1 << 64)


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, latent_dim: int, distribution: str = "normal",
             truncation: float | None = None, rng: _random.Generator, device=None,
             autocast=contextlib.nullcontext, batch_size: int = 4096) -> torch.Tensor:
    """``n`` samples G(z) (float32) in eval mode, z ~ ``fastgan.sample.latent`` drawn from
    ``rng`` in batches of ``batch_size``; the module's train/eval mode is restored after.

    >>> generate(mlp_generator(4, 2), 10, latent_dim=4, rng=fastgan.Generator(0)).shape  # doctest: +SKIP
    torch.Size([10, 2])
    """
    _check_module("generator", generator)
    n = _check_int("n", n)
    batch_size = _check_int("batch_size", batch_size)
    was_training = generator.training
    generator.eval()
    try:
        out = []
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = _ops.latent(m, latent_dim, distribution=distribution, truncation=truncation,
                            generator=rng, device=device)
            with autocast():
                out.append(generator(z).float())
        return torch.cat(out)
    finally:
        generator.train(was_training)


def _non_finite(state, where: str) -> str | None:
    # the first place in a (nested) state dict holding NaN/inf, as a readable path
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() and not bool(torch.isfinite(state).all()):
            return where
        return None
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(
        state, (list, tuple)) else ()
    for k, v in items:
        bad = _non_finite(v, f"{where}[{k!r}]")
        if bad:
            return bad
    return None


def _check_int(name, value, minimum=1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_float(name, value, *, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


def _check_module(name, module) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")
    return module


def _like(x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    # flat data rows as the generator's images (one layout for the penalties' interpolates)
    if x.shape != fake.shape and x.dim() == 2 and x.shape[0] == fake.shape[0] \
            and x.shape[1] == fake[0].numel():
        return x.view_as(fake)
    return x


class Trainer:
    """Shared machinery of :class:`GANTrainer` and :class:`MMDTrainer` (not used directly)."""

    def __init__(self, generator: nn.Module, *, latent_dim: int, latent_distribution: str = "normal",
                 amp: str | None = None, device=None, rng: int | _random.Generator = 0):
        self.generator = _check_module("generator", generator)
        self.latent_dim = _check_int("latent_dim", latent_dim)
        if latent_distribution not in ("normal", "uniform"):
            raise ValueError(f"latent_distribution must be 'normal' or 'uniform', got {latent_distribution!r}")
        self.latent_distribution = latent_distribution
        if amp not in _AMP:
            raise ValueError(f"amp must be one of None, 'bf16', 'fp16', got {amp!r}")
        self.amp = None if amp == "none" else amp
        if device is None:
            p = next(generator.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        self.device = torch.device(device)
        if isinstance(rng, _random.Generator):
            self.rng = rng
        elif isinstance(rng, int) and not isinstance(rng, bool):
            self.rng = _random.Generator(rng, self.device)
        else:
            raise TypeError(f"rng must be an int seed or a fastgan.Generator, got {type(rng).__name__}")
        self._sample_seed = sample_seed(self.rng.initial_seed())
        self.step = 0
        # learning-rate schedule segments [{"step", "schedule", "horizon"}] and lowered rates
        # [{"step", "factor"}], both kept in the checkpoint
        self.lr_schedules: list[dict] = []
        self.lr_changes: list[dict] = []
        self.history: dict[str, list[float]] = {}
        self.world_size = _dist.world_size()
        self.rank = _dist.rank()
        self.scaler = None
        if self.amp == "fp16":
            self.scaler = torch.amp.GradScaler(self.device.type)
        self.last_checkpoint: Path | None = None
        self._ckpt_step = -1
        self._modules: dict[str, nn.Module] = {}
        self._wrapped: dict[str, nn.Module] = {}
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self.config: dict = {}

    # set-up helpers -------------------------------------------------------------------------
    def _register(self, name: str, module: nn.Module, optimizer: torch.optim.Optimizer):
        module.to(self.device)
        self._modules[name] = module
        if self.world_size > 1 and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._wrapped[name] = DDP(module, device_ids=ids)
        else:
            self._wrapped[name] = module
        self._optimizers[name] = optimizer

    def _setup_toolkit(self, *, ema_decay=None, augment=None, pack: int = 1, accumulate: int = 1,
                       image_shape=None) -> None:
        """The options every trainer shares (each off by default): an EMA copy of the
        generator, DiffAugment of what D sees, PacGAN packing, gradient accumulation."""
        self.accumulate = _check_int("accumulate", accumulate)
        self.pack = _check_int("pack", pack)
        self.ema = None
        if ema_decay is not None:
            # after _register: the copy lives on the trainer's device
            self.ema = EMA(self.generator, _check_float("ema_decay", ema_decay))
        self.augment = None
        if augment:
            shape = image_shape if image_shape is not None else getattr(self.generator, "image_shape", None)
            if shape is None or len(tuple(shape)) != 3:
                raise ValueError("augment needs images: pass image_shape=(C, H, W) or a generator with an "
                                 "image_shape attribute (the conv models of fastgan.train.conv)")
            self.augment = DiffAugment(augment, image_shape=tuple(shape))

    def _d_view(self, x: torch.Tensor, *, augment: bool = True) -> torch.Tensor:
        # what D sees of a batch: DiffAugment's draws come from the training stream, so a
        # resumed run augments the same way
        if augment and self.augment is not None:
            x = self.augment(x, generator=self.rng)
        return x

    def _chunks(self, *tensors: torch.Tensor):
        """Gradient accumulation: (weight, chunks...) per micro-batch (one whole-batch chunk of
        weight 1 without accumulation, so the default path computes what it always did); each
        chunk a multiple of the pack size."""
        b = tensors[0].shape[0]
        if b % (self.accumulate * self.pack):
            raise ValueError(f"the per-process batch {b} must be a multiple of accumulate·pack = "
                             f"{self.accumulate}·{self.pack}")
        if self.accumulate == 1:
            return [(1.0, *tensors)]
        return list(micro_batches(*tensors, k=self.accumulate))

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        return _pack(x, self.pack) if self.pack > 1 else x

    @staticmethod
    def _adam(module, lr, betas, name):
        lr = _check_float(name, lr, positive=True)
        return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(betas))

    def _autocast(self):
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_AMP[self.amp])

    def _backward_step(self, loss: torch.Tensor, name: str):
        self._zero_grad(name)
        self._backward(loss)
        self._opt_step(name)

    def _zero_grad(self, name: str):
        self._optimizers[name].zero_grad(set_to_none=True)

    def _backward(self, loss: torch.Tensor):
        # gradients add up over the micro-batches of an accumulated step
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _opt_step(self, name: str):
        opt = self._optimizers[name]
        if self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        if name == "generator" and getattr(self, "ema", None) is not None:
            self.ema.update(self.generator)

    def _check_finite(self, name: str, loss: torch.Tensor) -> float:
        value = float(_dist.all_reduce_mean(loss.detach().float()))
        if not math.isfinite(value):
            where = (f"the last good checkpoint is {str(self.last_checkpoint)!r}; resume it with a lower "
                     "learning rate: --resume --lr LOWER, or lower_learning_rate()"
                     if self.last_checkpoint is not None else "no checkpoint was written yet")
            raise NonFiniteLossError(
                f"{name} is {value} at step {self.step + 1}; training stopped before the update this "
                f"loss drives ({where}). Try a lower learning rate or no mixed precision (amp=None, "
                f"--amp none).")
        return value

    def _latent(self, n: int) -> torch.Tensor:
        # every rank draws the same global latents and keeps its own rows
        z = _ops.latent(n, self.latent_dim, distribution=self.latent_distribution,
                        generator=self.rng, device=self.device)
        return self._shard(z)

    @contextlib.contextmanager
    def _discriminator_frozen(self, D):
        """For a G step through D: D's parameter gradients are not needed, so they are skipped in
        one process and kept local (no all-reduce, ``no_sync``) under DDP; the next D step clears
        them."""
        ddp = D is not self.discriminator
        frozen = [] if ddp else [p for p in self.discriminator.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            with (D.no_sync() if ddp else contextlib.nullcontext()):
                yield
        finally:
            for p in frozen:
                p.requires_grad_(True)

    def _discriminate(self, G, D, x: torch.Tensor):
        """D on a real batch and on as many fresh fakes (G frozen): (D(x), D(G(z)))."""
        z = self._latent(x.shape[0] * self.world_size)
        with torch.no_grad(), self._autocast():
            fake = G(z)
        with self._autocast():
            return D(x), D(fake)

    def _shard(self, x: torch.Tensor) -> torch.Tensor:
        if self.world_size == 1:
            return x
        n = x.shape[0] // self.world_size
        return x[self.rank * n:(self.rank + 1) * n]

    def _sampler(self, data) -> Callable[[int], torch.Tensor]:
        if isinstance(data, torch.Tensor):
            from ..data import TensorDataset

            if data.dim() != 2:
                raise ValueError(f"data tensor must be (N, D), got shape {tuple(data.shape)}")
            data = TensorDataset(data)
        if hasattr(data, "sample"):
            return lambda n: self._shard(data.sample(n, generator=self.rng, device=self.device))
        if callable(data):
            return lambda n: self._shard(torch.as_tensor(data(n, self.rng)).to(self.device))
        raise TypeError("data must be a (N, D) tensor, an object with .sample(n, generator=, device=) "
                        f"(e.g. fastgan.data.load('ring')), or a callable (n, generator) -> tensor; "
                        f"got {type(data).__name__}")

    def _record(self, losses: dict) -> dict:
        for k, v in losses.items():
            self.history.setdefault(k, []).append(v)
        return losses

    # public API -------------------------------------------------------------------------------
    @property
    def d_steps(self) -> int:
        return getattr(self, "_d_steps", 1)

    def train_step(self, real) -> dict:
        """One training step on real data; returns the step's losses as floats."""
        raise NotImplementedError

    def _clip_discriminator(self) -> None:
        # weight clipping (WGAN, MMD-GAN) after each discriminator update
        if getattr(self, "d_clip", None) is not None:
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.d_clip, self.d_clip)

    def _split_real(self, real) -> list[torch.Tensor]:
        k = self.d_steps
        if isinstance(real, torch.Tensor):
            if real.dim() < 2:
                raise ValueError(f"real must have a batch dimension and features, got shape {tuple(real.shape)}")
            if real.shape[0] % k:
                raise ValueError(f"real's batch size {real.shape[0]} must divide into d_steps={k} parts")
            return list(real.to(self.device).chunk(k))
        if isinstance(real, (list, tuple)) and len(real) == k and all(isinstance(r, torch.Tensor) for r in real):
            return [r.to(self.device) for r in real]
        raise TypeError(f"real must be a tensor or a sequence of d_steps={k} tensors")

    def fit(self, data, *, steps: int, batch_size: int = 256, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, progress: bool = True, log_every: int | None = None,
            lr_schedule: str = "constant",
            callback: Callable[["Trainer", dict], None] | None = None) -> dict:
        """Train until ``self.step == steps`` (a resumed trainer continues where it stopped).

        data: an (N, D) tensor, a :mod:`fastgan.data` data set, or a callable
        ``(n, generator) -> (n, D) tensor``. ``batch_size`` is the global batch (divided over
        processes under torchrun). With ``checkpoint`` a checkpoint is written atomically every
        ``checkpoint_every`` steps (0: only at the end). ``lr_schedule="cosine"`` anneals every
        optimizer's learning rate as lr·(1 + cos(π·step/steps))/2 (a function of the step, so a
        resumed run with the same ``steps`` follows the same schedule). Resuming with another
        ``steps`` starts a new horizon: from the resumed step on, the rate is that of a
        ``steps``-long schedule (a jump up when ``steps`` grows), and the change is recorded in
        :attr:`lr_schedules`; the run is then not the uninterrupted ``steps``-step run.
        ``callback(trainer,
        losses)`` runs after each step. Returns :attr:`history`.
        """
        steps = _check_int("steps", steps, minimum=0)
        batch_size = _check_int("batch_size", batch_size, minimum=2)
        checkpoint_every = _check_int("checkpoint_every", checkpoint_every, minimum=0)
        if batch_size % self.world_size:
            raise ValueError(f"batch_size={batch_size} must be divisible by the number of processes "
                             f"({self.world_size})")
        if lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        draw = self._sampler(data)
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
        segment = {"schedule": lr_schedule, "horizon": steps}
        last = self.lr_schedules[-1] if self.lr_schedules else None
        if last is None or {k: last[k] for k in segment} != segment:
            # resuming with another --steps starts a new horizon from this step on (documented)
            self.lr_schedules.append({"step": self.step, **segment})
        bar = Progress(steps, start=self.step, desc=type(self).__name__, log_every=log_every,
                       enabled=progress and _dist.is_main_process())
        t0, n0 = time.perf_counter(), self.step
        while self.step < steps:
            if lr_schedule == "cosine":
                factor = 0.5 * (1.0 + math.cos(math.pi * self.step / steps))
                for opt in self._optimizers.values():
                    for group in opt.param_groups:
                        group["lr"] = group["initial_lr"] * factor
            real = [draw(batch_size) for _ in range(self.d_steps)]
            losses = self.train_step(real)
            rate = (self.step - n0) * batch_size * self.d_steps / max(1e-9, time.perf_counter() - t0)
            bar.update(self.step, losses, rate)
            if callback is not None:
                callback(self, losses)
            if checkpoint is not None and checkpoint_every and self.step % checkpoint_every == 0:
                self.save_checkpoint(checkpoint)
        bar.close()
        if checkpoint is not None and (self.last_checkpoint is None or self._ckpt_step != self.step):
            self.save_checkpoint(checkpoint)
        return self.history

    @torch.no_grad()
    def sample(self, n: int, *, truncation: float | None = None,
               generator: _random.Generator | None = None, batch_size: int = 4096) -> torch.Tensor:
        """``n`` generated samples (float32, on the trainer's device) in eval mode.

        Latents come from ``generator`` or, by default, a fixed stream of this trainer (the
        same latents every call, and the training stream is left untouched). ``truncation``
        bounds |z| (the truncation trick; see :func:`fastgan.sample.latent`).
        """
        n = _check_int("n", n)
        g = generator if generator is not None else _random.Generator(self._sample_seed, self.device)
        return generate(self.sampling_generator, n, latent_dim=self.latent_dim, distribution=self.latent_distribution,
                        truncation=truncation, rng=g, device=self.device, autocast=self._autocast,
                        batch_size=batch_size)

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator samples and metrics come from: the EMA copy with ``ema_decay``, else
        the trained generator itself."""
        ema = getattr(self, "ema", None)
        return ema.module if ema is not None else self.generator

    def lower_learning_rate(self, factor: float) -> None:
        """Multiply every optimizer's learning rate (and its schedule's base rate) by
        ``factor`` in (0, 1], e.g. after a divergence; recorded in :attr:`lr_changes` and so in
        the checkpoint."""
        factor = _check_float("factor", factor, positive=True)
        if factor > 1.0:
            raise ValueError(f"factor must be in (0, 1] (a lower learning rate), got {factor}")
        for opt in self._optimizers.values():
            for group in opt.param_groups:
                group["lr"] *= factor
                if "initial_lr" in group:
                    group["initial_lr"] *= factor
        self.lr_changes.append({"step": self.step, "factor": factor})

    def state_dict(self) -> dict:
        """Everything needed to resume: step, models, optimizers, scaler, RNG states, history."""
        return {
            "trainer": type(self).__name__,
            "step": self.step,
            "models": {k: m.state_dict() for k, m in self._modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self._optimizers.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": {k: list(v) for k, v in self.history.items()},
            "config": dict(self.config),
            "lr_schedules": [dict(s) for s in self.lr_schedules],
            "lr_changes": [dict(c) for c in self.lr_changes],
            **({"ema": self.ema.state_dict()} if getattr(self, "ema", None) is not None else {}),
            **({"r1": self.r1.state_dict()} if getattr(self, "r1", None) is not None else {}),
        }

    def load_state_dict(self, state: dict, path="<state>") -> None:
        """Restore :meth:`state_dict`; a missing field raises CheckpointError naming ``path``."""
        require_fields(state, path, _STATE_FIELDS)
        if state.get("trainer") != type(self).__name__:
            raise ValueError(f"checkpoint is from a {state.get('trainer')}, not a {type(self).__name__}")
        missing = set(self._modules) ^ set(state["models"])
        if missing:
            raise ValueError(f"checkpoint models {sorted(state['models'])} do not match this trainer's "
                             f"{sorted(self._modules)}")
        for k, m in self._modules.items():
            m.load_state_dict(state["models"][k])
        for k, o in self._optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.lr_schedules = [dict(s) for s in state.get("lr_schedules", [])]
        self.lr_changes = [dict(c) for c in state.get("lr_changes", [])]
        for key in ("ema", "r1"):
            part = getattr(self, key, None)
            if part is not None:
                require_fields(state, path, (key,))
                part.load_state_dict(state[key])

    def save_checkpoint(self, path: str | Path, extra: dict | None = None, *, track: bool = True) -> Path:
        """Write :meth:`state_dict` (plus ``extra``) atomically; only process 0 writes.

        ``track=False`` writes a side copy (e.g. the best-so-far ``best.pt``) that is not
        :attr:`last_checkpoint`: :meth:`fit` still writes its own checkpoint at the end.

        A state with NaN/inf in a model or optimizer raises :class:`NonFiniteStateError`
        instead of writing, so the checkpoint on disk stays the last good one."""
        path = Path(path)
        state = self.state_dict()
        bad = _non_finite({"models": state["models"], "optimizers": state["optimizers"]}, "state")
        if bad:
            where = (f"the last good checkpoint is {str(self.last_checkpoint)!r} (step {self._ckpt_step})"
                     if self.last_checkpoint is not None else "no checkpoint was written yet")
            raise NonFiniteStateError(
                f"not writing {str(path)!r}: {bad} holds NaN/inf at step {self.step}; {where}. Restart "
                "from it with a lower learning rate (fastgan train ... --resume --lr LOWER, or "
                "Trainer.load_checkpoint then lower_learning_rate) or without mixed precision.")
        if _dist.is_main_process():
            if extra:
                state["extra"] = extra
            save_checkpoint(state, path)
        if _dist.is_distributed():
            torch.distributed.barrier()
        if track:
            self.last_checkpoint, self._ckpt_step = path, self.step
        return path

    def load_checkpoint(self, path: str | Path) -> dict:
        """Restore a checkpoint written by :meth:`save_checkpoint`; returns the raw state."""
        state = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(state, path)
        self.last_checkpoint, self._ckpt_step = Path(path), self.step
        return state


class GANTrainer(Trainer):
    """Adversarial training of ``generator`` against ``discriminator`` (logits out).

    Per step: ``d_steps`` discriminator updates on
    ``fastgan.losses.discriminator_loss(D(x), D(G(z)), real_label=, fake_label=, loss=)``, then
    one generator update on ``fastgan.losses.generator_loss(D(G(z)), saturating=, loss=)``.

    - loss: "bce" (saturating log(1 − D(G(z))) or non-saturating −log D(G(z)) for G), "hinge",
      or "wasserstein" (use ``d_clip``, e.g. 0.01, for WGAN's weight clipping).
    - real_label / fake_label: BCE targets; one-sided label smoothing is real_label=0.9.
    - latents z ~ ``fastgan.sample.latent(batch, latent_dim, distribution=latent_distribution)``.
    - amp: None, "bf16" (autocast) or "fp16" (autocast + one GradScaler for both optimizers).
    - Optimizers default to Adam(lr, betas=(0.5, 0.999)) for both networks (``d_lr`` for D).
    - rng: seed or :class:`fastgan.Generator` for data and latents.
    - The toolkit, each off by default: ``ema_decay`` (an :class:`~fastgan.train.ema.EMA` of G,
      which :meth:`sample` uses; in the checkpoint), ``spectral_norm`` (of D, its power-iteration
      vectors started from ``rng``), ``r1`` γ with ``r1_every`` k (lazy R1 on the reals),
      ``gp`` λ (WGAN-GP, interpolation weights from ``rng``), ``augment`` (a DiffAugment policy,
      draws from ``rng``; needs ``image_shape`` or a conv generator), ``pack`` m (D must take
      m samples: ``pack=m`` of the conv discriminators, m·D inputs for an MLP) and
      ``accumulate`` k (k micro-batches per update). TTUR: ``lr`` / ``d_lr`` and ``betas``.

    Example::

        from fastgan.train import GANTrainer, mlp_generator, mlp_discriminator
        t = GANTrainer(mlp_generator(8, 2), mlp_discriminator(2), latent_dim=8)
        t.fit(fastgan.data.load("ring"), steps=2000, batch_size=256)
        xs = t.sample(1000)                          # (1000, 2)
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int,
                 loss: str = "bce", saturating: bool = False, real_label: float = 1.0,
                 fake_label: float = 0.0, d_steps: int = 1, lr: float = 2e-4, d_lr: float | None = None,
                 betas: Sequence[float] = (0.5, 0.999), g_optimizer: torch.optim.Optimizer | None = None,
                 d_optimizer: torch.optim.Optimizer | None = None, latent_distribution: str = "normal",
                 d_clip: float | None = None, amp: str | None = None, device=None,
                 rng: int | _random.Generator = 0, ema_decay: float | None = None,
                 spectral_norm: bool = False, r1: float | None = None, r1_every: int = 1,
                 gp: float | None = None, augment: str | None = None, pack: int = 1,
                 accumulate: int = 1, image_shape=None):
        super().__init__(generator, latent_dim=latent_dim, latent_distribution=latent_distribution,
                         amp=amp, device=device, rng=rng)
        self.discriminator = _check_module("discriminator", discriminator)
        self.r1 = None
        if r1 is not None:
            self.r1 = R1Penalty(_check_float("r1", r1, positive=True), _check_int("r1_every", r1_every))
        elif r1_every != 1:
            raise ValueError("r1_every applies with r1 (the R1 penalty's γ) only")
        self.gp = None if gp is None else _check_float("gp", gp, positive=True)
        if spectral_norm:
            if d_optimizer is not None:
                raise ValueError("spectral_norm re-parametrises the discriminator's weights: build "
                                 "d_optimizer after fastgan.train.regularizers.spectral_norm instead")
            _spectral_norm(discriminator, generator=self.rng)
        # the loss ops' own rules: one of their losses, labels in [0, 1], labels and the saturating
        # loss for bce only (checked here, not at the first step)
        _check_generator_options(saturating, loss, "mean")
        self.real_label, self.fake_label = _check_discriminator_options(real_label, fake_label, loss, "mean")
        self.loss, self.saturating = loss, saturating
        self._d_steps = _check_int("d_steps", d_steps)
        self.d_clip = None if d_clip is None else _check_float("d_clip", d_clip, positive=True)
        g_opt = g_optimizer or self._adam(generator, lr, betas, "lr")
        d_opt = d_optimizer or self._adam(discriminator, lr if d_lr is None else d_lr, betas, "d_lr")
        self._register("generator", generator, g_opt)
        self._register("discriminator", discriminator, d_opt)
        self._setup_toolkit(ema_decay=ema_decay, augment=augment, pack=pack, accumulate=accumulate,
                            image_shape=image_shape)

    def train_step(self, real) -> dict:
        """One step: ``d_steps`` D updates then one G update. ``real``: a (k·B, D) tensor split
        into k = d_steps batches, or a sequence of k tensors. Returns ``{"d_loss", "g_loss"}``
        (the D loss averaged over its k updates), plus ``"r1"`` / ``"gp"`` (the penalty added to
        the D loss) when they are on.

        With the toolkit options: reals and fakes are augmented (``augment``) and packed
        (``pack``) before D; R1 (due every ``r1_every`` D updates, then scaled by it) is taken on
        the augmented, packed reals and WGAN-GP on interpolates of the packed reals and fakes;
        with ``accumulate`` k each update backpropagates k micro-batches before its step."""
        batches = self._split_real(real)
        G, D = self._wrapped["generator"], self._wrapped["discriminator"]
        d_losses, r1s, gps = [], [], []
        for x in batches:
            z = self._latent(x.shape[0] * self.world_size)
            with torch.no_grad(), self._autocast():
                fake = G(z)
            x, fake = self._d_view(_like(x, fake)), self._d_view(fake)
            r1_due = self.r1 is not None and self.r1.due
            if self.r1 is not None:
                self.r1.calls += 1  # one call per D update, whatever the micro-batches
            self._zero_grad("discriminator")
            d_total = r1_total = gp_total = 0.0
            for w, xc, fc in self._chunks(x, fake):
                xc, fc = self._packed(xc), self._packed(fc)
                with self._autocast():
                    real_logits, fake_logits = D(xc), D(fc)
                d_loss = _ops.discriminator_loss(real_logits.float(), fake_logits.float(),
                                                 real_label=self.real_label, fake_label=self.fake_label,
                                                 loss=self.loss)
                total = d_loss
                if r1_due:
                    r1 = self.r1.every * self._penalty(lambda: r1_penalty(D, xc, self.r1.gamma))
                    total = total + r1
                    r1_total += w * self._check_finite("R1 penalty", r1)
                if self.gp is not None:
                    gp = self._penalty(lambda: gradient_penalty(D, xc, fc, self.gp, generator=self.rng))
                    total = total + gp
                    gp_total += w * self._check_finite("gradient penalty", gp)
                d_total += w * self._check_finite("discriminator loss", d_loss)
                self._backward(total if w == 1.0 else total * w)
            self._opt_step("discriminator")
            self._clip_discriminator()
            d_losses.append(d_total)
            r1s.append(r1_total)
            gps.append(gp_total)
        z = self._latent(batches[-1].shape[0] * self.world_size)
        self._zero_grad("generator")
        g_value = 0.0
        with self._discriminator_frozen(D):
            for w, zc in self._chunks(z):
                with self._autocast():
                    logits = D(self._packed(self._d_view(G(zc))))
                g_loss = _ops.generator_loss(logits.float(), saturating=self.saturating, loss=self.loss)
                g_value += w * self._check_finite("generator loss", g_loss)
                self._backward(g_loss if w == 1.0 else g_loss * w)
            self._opt_step("generator")
        self.step += 1
        out = {"d_loss": sum(d_losses) / len(d_losses), "g_loss": g_value}
        if self.r1 is not None:
            out["r1"] = sum(r1s) / len(r1s)
        if self.gp is not None:
            out["gp"] = sum(gps) / len(gps)
        return self._record(out)

    def _penalty(self, fn) -> torch.Tensor:
        # the penalties differentiate D twice: in fp32, outside autocast
        with torch.autocast(self.device.type, enabled=False):
            return fn().float()


class MMDTrainer(Trainer):
    """Direct training by MMD: a Generative Moment Matching Network, or an MMD-GAN.

    GMMN (``discriminator=None``): each step minimises
    ``MMD²(x, G(z))`` (``fastgan.mmd``: kernel ``kernel``, a bandwidth mixture
    k = Σ_σ exp(−‖a−b‖²/(2σ²)) by default, ``estimator``) over the generator.

    MMD-GAN (``discriminator`` = a feature network f): ``d_steps`` updates of f maximising
    ``MMD²(f(x), f(G(z)))`` (optionally with weight clipping ``d_clip``), then one generator
    update minimising it.

    Under torchrun the MMD is sharded over processes (exact, see
    :func:`fastgan.train.distributed.sharded_mmd`). Optimizers: Adam(lr, betas) by default.
    ``ema_decay`` and ``accumulate`` as for :class:`GANTrainer`; ``spectral_norm``,
    ``augment`` and ``pack`` apply to the MMD-GAN's critic.

    Example::

        from fastgan.train import MMDTrainer, mlp_generator
        t = MMDTrainer(mlp_generator(8, 2), latent_dim=8, bandwidth=(0.05, 0.1, 0.2, 0.5, 1, 2))
        t.fit(fastgan.data.load("ring"), steps=1000, batch_size=256)
    """

    def __init__(self, generator: nn.Module, *, latent_dim: int, kernel: str = "gaussian",
                 bandwidth=(0.25, 0.5, 1.0, 2.0, 4.0), estimator: str = "unbiased",
                 discriminator: nn.Module | None = None, d_steps: int = 1, d_clip: float | None = None,
                 lr: float = 1e-3, d_lr: float | None = None, betas: Sequence[float] = (0.5, 0.999),
                 optimizer: torch.optim.Optimizer | None = None,
                 d_optimizer: torch.optim.Optimizer | None = None, latent_distribution: str = "normal",
                 amp: str | None = None, device=None, rng: int | _random.Generator = 0,
                 ema_decay: float | None = None, spectral_norm: bool = False, augment: str | None = None,
                 pack: int = 1, accumulate: int = 1, image_shape=None):
        super().__init__(generator, latent_dim=latent_dim, latent_distribution=latent_distribution,
                         amp=amp, device=device, rng=rng)
        if kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {tuple(_KERNELS)}, got {kernel!r}")
        if estimator not in _ESTIMATORS:
            raise ValueError(f"estimator must be one of {_ESTIMATORS}, got {estimator!r}")
        if isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
            _check_float("bandwidth", bandwidth, positive=True)
        elif isinstance(bandwidth, (list, tuple)) and bandwidth:
            bandwidth = tuple(_check_float("bandwidth", b, positive=True) for b in bandwidth)
        elif bandwidth != "median":
            raise ValueError(f"bandwidth must be a positive number, a non-empty sequence of them, "
                             f"or 'median', got {bandwidth!r}")
        self.kernel, self.bandwidth, self.estimator = kernel, bandwidth, estimator
        self.discriminator = None if discriminator is None else _check_module("discriminator", discriminator)
        error = discriminator_options_error(discriminator is not None, {
            "d_steps": d_steps != 1, "d_clip": d_clip is not None, "d_lr": d_lr is not None,
            "d_optimizer": d_optimizer is not None, "spectral_norm": bool(spectral_norm),
            "augment": bool(augment), "pack": pack != 1})
        if error:
            raise ValueError(f"{error} (pass discriminator= for an MMD-GAN)")
        self._d_steps = _check_int("d_steps", d_steps) if discriminator is not None else 1
        self.d_clip = None if d_clip is None else _check_float("d_clip", d_clip, positive=True)
        if spectral_norm:
            if d_optimizer is not None:
                raise ValueError("spectral_norm re-parametrises the discriminator's weights: build "
                                 "d_optimizer after fastgan.train.regularizers.spectral_norm instead")
            _spectral_norm(discriminator, generator=self.rng)
        self._register("generator", generator, optimizer or self._adam(generator, lr, betas, "lr"))
        if discriminator is not None:
            self._register("discriminator", discriminator,
                           d_optimizer or self._adam(discriminator, lr if d_lr is None else d_lr, betas, "d_lr"))
        self._setup_toolkit(ema_decay=ema_decay, augment=augment, pack=pack, accumulate=accumulate,
                            image_shape=image_shape)

    def _mmd(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # MMD on fp32 rows: squared distances in half precision lose too much to cancellation
        return _dist.sharded_mmd(a.float().flatten(1), b.float().flatten(1), kernel=self.kernel,
                                 bandwidth=self.bandwidth, estimator=self.estimator)

    def train_step(self, real) -> dict:
        """One step. GMMN: ``real`` a (B, D) tensor; returns ``{"mmd2"}``. MMD-GAN: like
        :meth:`GANTrainer.train_step`; returns ``{"d_mmd2", "mmd2"}``.

        With ``accumulate`` k the batch is split into k micro-batches and the loss is
        Σ (size/B)·MMD²(micro-batch): an unbiased MMD² estimate (with the unbiased estimator),
        but not the whole batch's, since MMD² is not a mean over samples. An MMD-GAN's critic
        sees augmented (``augment``) and packed (``pack``) batches."""
        batches = self._split_real(real)
        G = self._wrapped["generator"]
        # DDP averages gradients over processes; the sharded MMD's gradient is per process,
        # so scaling by W gives the gradient of the global-batch MMD².
        w = float(self.world_size)
        scale = (lambda loss, c: loss * (w * c) if w * c != 1.0 else loss)
        out = {}
        if self.discriminator is not None:
            D = self._wrapped["discriminator"]
            d_values = []
            for x in batches:
                z = self._latent(x.shape[0] * self.world_size)
                with torch.no_grad(), self._autocast():
                    fake = G(z)
                x, fake = self._d_view(_like(x, fake)), self._d_view(fake)
                self._zero_grad("discriminator")
                value = 0.0
                for c, xc, fc in self._chunks(x, fake):
                    with self._autocast():
                        fr, ff = D(self._packed(xc)), D(self._packed(fc))
                    d_loss = -self._mmd(fr, ff)
                    value += c * -self._check_finite("discriminator MMD²", d_loss)
                    self._backward(scale(d_loss, c))
                self._opt_step("discriminator")
                self._clip_discriminator()
                d_values.append(value)
            out["d_mmd2"] = sum(d_values) / len(d_values)
        x = batches[-1]
        z = self._latent(x.shape[0] * self.world_size)
        self._zero_grad("generator")
        value = 0.0
        if self.discriminator is None:
            for c, xc, zc in self._chunks(x, z):
                with self._autocast():
                    fake = G(zc)
                loss = self._mmd(xc, fake)
                value += c * self._check_finite("MMD²", loss)
                self._backward(scale(loss, c))
            self._opt_step("generator")
        else:
            D = self._wrapped["discriminator"]
            with self._discriminator_frozen(D):
                for c, xc, zc in self._chunks(x, z):
                    with self._autocast():
                        fr = D(self._packed(self._d_view(xc)))
                        ff = D(self._packed(self._d_view(G(zc))))
                    loss = self._mmd(fr, ff)
                    value += c * self._check_finite("MMD²", loss)
                    self._backward(scale(loss, c))
                self._opt_step("generator")
        out["mmd2"] = value
        self.step += 1
        return self._record(out)

"""The shared shape of the metric classes: ``update(x, real=...)``, ``compute()``, ``reset()``,
an optional feature extractor, and state gathered over torch.distributed ranks in ``compute``."""
from __future__ import annotations

import torch
import torch.distributed as dist

from . import features as _features

__all__ = ["Metric"]


def _distributed(group) -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def gather_tensors(t: torch.Tensor, group=None) -> list[torch.Tensor]:
    """Every rank's ``t`` in rank order (shapes may differ in dim 0); ``[t]`` in one process.

    gloo and NCCL gather equal shapes only, so rows are padded to the largest count first."""
    if not _distributed(group):
        return [t]
    world = dist.get_world_size(group)
    n = torch.tensor([t.shape[0]], dtype=torch.int64, device=t.device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n, group=group)
    counts = [int(c) for c in counts]
    rows = max(counts)
    padded = torch.zeros((rows, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[:t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous(), group=group)
    return [p[:c] for p, c in zip(parts, counts)]


class Metric:
    """Base of :class:`~fastgan.metrics.KID` and :class:`~fastgan.metrics.FID` (not used directly).

    ``feature_extractor``: None (``update`` receives (n, D) feature vectors), any ``nn.Module``
    or callable mapping a batch to (n, D) features, ``"pixels"`` or ``"inception"`` (see
    :func:`fastgan.metrics.features.resolve`). The extractor runs under ``torch.no_grad``.

    ``compute()`` combines the state of every rank of the default process group (or
    ``process_group``) when torch.distributed is initialised with more than one process (every
    rank must call it then); each rank's own state is left as it was, so ``update`` may
    continue afterwards. ``sync=False`` computes on this rank's state alone.
    """

    def __init__(self, feature_extractor=None, *, process_group=None, sync: bool = True):
        self.feature_extractor = _features.resolve(feature_extractor)
        self.process_group = process_group
        self.sync = bool(sync)
        self.reset()

    def _gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        return gather_tensors(t, self.process_group) if self.sync else [t]

    def _syncing(self) -> bool:
        return self.sync and _distributed(self.process_group)

    def reset(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _features(self, x) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a tensor, got {type(x).__name__}")
        if self.feature_extractor is not None:
            with torch.no_grad():
                x = self.feature_extractor(x)
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"the feature extractor must return a tensor, got {type(x).__name__}")
        if x.dim() != 2:
            raise ValueError(f"features must be (n, D), got shape {tuple(x.shape)}"
                             + ("" if self.feature_extractor is not None else
                                " (pass feature_extractor= to update with images)"))
        if not x.is_floating_point():
            raise TypeError(f"features must be floating point, got {x.dtype}")
        return x.detach()

    @staticmethod
    def _side(real) -> str:
        if not isinstance(real, bool):
            raise TypeError(f"real must be True or False, got {real!r}")
        return "real" if real else "fake"

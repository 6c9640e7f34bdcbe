"""An exponential moving average (EMA) of a generator's weights, for sampling and metrics.

GAN generators' weights oscillate late in training; their running average gives visibly
better samples (Yazıcı et al. 2019; the "G_ema" of StyleGAN and BigGAN). The trainer keeps one
:class:`EMA` beside the generator, calls :meth:`EMA.update` after every generator step and
samples from :attr:`EMA.module`.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """A frozen copy of ``model`` whose parameters follow θ_ema ← d·θ_ema + (1 − d)·θ after each
    :meth:`update`, with d = ``decay``; buffers (BatchNorm's running statistics, spectral-norm
    vectors) are copied, not averaged, since an average of them is not a statistic of any
    model.

    The averaged copy is :attr:`module` (in eval mode, no gradients); call it as the model.
    The arithmetic runs in each parameter's own dtype. ``state_dict()`` holds the decay, the
    number of updates and the copy's weights; ``load_state_dict`` restores them exactly.

    >>> g = fastgan.train.mlp_generator(8, 2)
    >>> ema = EMA(g, decay=0.999)
    >>> # ... after each optimiser step on g:
    >>> ema.update(g)
    >>> x = ema(torch.randn(16, 8))          # samples from the averaged weights
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay < 1:
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        self.decay = float(decay)
        self.num_updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def _pairs(self, model: nn.Module, what: str):
        mine = dict(getattr(self.module, what)())
        theirs = dict(getattr(model, what)())
        if mine.keys() != theirs.keys():
            raise ValueError(f"model's {what.replace('named_', '')} do not match the EMA copy's "
                             f"(a different architecture?)")
        return [(mine[k], theirs[k]) for k in mine]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Average ``model``'s current parameters in (the model the EMA was made from, or one of
        the same architecture) and copy its buffers."""
        for e, p in self._pairs(model, "named_parameters"):
            e.mul_(self.decay).add_(p.detach().to(e.dtype), alpha=1 - self.decay)
        for e, b in self._pairs(model, "named_buffers"):
            e.copy_(b)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged parameters and buffers into ``model``."""
        for e, p in self._pairs(model, "named_parameters") + self._pairs(model, "named_buffers"):
            p.copy_(e)

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def to(self, *args, **kwargs) -> "EMA":
        self.module.to(*args, **kwargs)
        return self

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "module": self.module.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("decay") != self.decay:
            raise ValueError(f"EMA state has decay={state.get('decay')}, this EMA decay={self.decay}")
        self.module.load_state_dict(state["module"])
        self.num_updates = int(state["num_updates"])

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay}, num_updates={self.num_updates}, module={type(self.module).__name__})"

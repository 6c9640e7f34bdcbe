"""Batch plumbing for large and packed batches: PacGAN packing and gradient accumulation."""
from __future__ import annotations

from typing import Callable, Iterator

import torch

__all__ = ["pack", "micro_batches", "accumulate"]


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): concatenate each m consecutive samples into one, so D judges
    m samples jointly and sees a lack of diversity.

    (B, D) → (B/m, m·D); (B, C, H, W) → (B/m, m·C, H, W) (along the channels; sample j of a
    group in channels j·C ... (j+1)·C − 1); (B,) → (B/m, m). Packing flat rows and packing the
    images they hold give the same values. ``m = 1`` returns ``x``. ``B % m != 0`` is a
    ``ValueError``.

    >>> pack(torch.arange(6.).view(6, 1), 2)
    tensor([[0., 1.],
            [2., 3.],
            [4., 5.]])
    """
    m = _positive("m", m)
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise TypeError(f"x must be a tensor (B, ...), got {type(x).__name__}")
    b = x.shape[0]
    if b % m:
        raise ValueError(f"the batch size {b} is not a multiple of the pack size m={m}")
    if m == 1:
        return x
    if x.dim() == 1:
        return x.reshape(b // m, m)
    return x.reshape(b // m, m * x.shape[1], *x.shape[2:])


def micro_batches(*tensors: torch.Tensor, k: int) -> Iterator[tuple]:
    """Split a batch into k micro-batches for gradient accumulation: yields
    ``(weight, *chunks)`` with the chunks of every tensor along dim 0 (sizes differ by at most
    one when k does not divide B) and weight = chunk size / B. For a loss that is a mean over
    samples, Σ weight·loss(chunk) equals the loss of the whole batch, so summing the
    weighted micro-batch gradients gives the big batch's gradient.

    This holds for per-sample losses (the GAN losses, penalties); a batch statistic such as
    BatchNorm's or an MMD² estimate over the whole batch is not a mean over samples, so the
    weighted sum of its micro-batch values is a different (still unbiased, for the unbiased
    MMD) estimate, not the big batch's value.

    >>> for w, x, z in micro_batches(real, noise, k=4):      # doctest: +SKIP
    ...     (w * loss_fn(x, z)).backward()
    """
    k = _positive("k", k)
    if not tensors:
        raise ValueError("micro_batches needs at least one tensor")
    b = tensors[0].shape[0] if isinstance(tensors[0], torch.Tensor) and tensors[0].dim() else None
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.dim() < 1 or t.shape[0] != b:
            raise ValueError("every tensor must be (B, ...) with the same batch size B")
    if k > b:
        raise ValueError(f"k={k} micro-batches need a batch of at least k samples, got B={b}")
    for parts in zip(*(torch.tensor_split(t, k) for t in tensors)):
        yield (parts[0].shape[0] / b, *parts)


def accumulate(loss_fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, k: int) -> torch.Tensor:
    """Gradient accumulation: for each of :func:`micro_batches`' chunks, backpropagate
    weight·``loss_fn(*chunks)``, so the ``.grad`` of every parameter gains the gradient of the
    whole batch's mean loss while only one micro-batch's activations are in memory. Returns
    the batch's loss (detached, the weighted sum). Zero the gradients before, step after.

    >>> opt.zero_grad()                                     # doctest: +SKIP
    >>> loss = accumulate(lambda x: loss_fn(model(x)), batch, k=8)
    >>> opt.step()
    """
    total = None
    for w, *chunks in micro_batches(*tensors, k=k):
        loss = loss_fn(*chunks) * w
        loss.backward()
        total = loss.detach() if total is None else total + loss.detach()
    return total

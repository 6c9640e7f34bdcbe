"""Multi-process training helpers: process-group set-up under torchrun and a sharded MMD.

Sharded MMD: with W processes, rank r holds rows x_r (n_r, D) of the real batch and rows
y_r of the generated batch. Each rank gathers all rows X, Y (an autograd-aware all-gather),
computes its share of the three kernel sums with ``fastgan.ops.mmd.pair_sum``

    S_xx^r = Σ_{i∈r} Σ_j k(x_i, X_j),  S_yy^r = Σ_{i∈r} Σ_j k(y_i, Y_j),  S_xy^r = Σ_{i∈r} Σ_j k(x_i, Y_j)

(minus its own diagonal k(x_i, x_i) for the unbiased estimator), forms its share
L_r = S_xx^r / (N(N−1)) + S_yy^r / (M(M−1)) − 2 S_xy^r / (N·M), and all-reduces the value.
So MMD² = Σ_r L_r exactly, at O(n_r·N) work per rank. In the backward pass the gather
sums the column gradients of every rank's L_r, so each rank's x_r.grad is ∂MMD²/∂x_r — the
same rows of the gradient a single process computes on the concatenated batch.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

from . import _ops

__all__ = ["init_from_env", "is_distributed", "world_size", "rank", "is_main_process",
           "gather_rows", "sharded_mmd", "all_reduce_mean"]


def is_distributed() -> bool:
    """True when a default process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    return rank() == 0


def init_from_env(device: str | torch.device | None = None) -> torch.device:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT)
    when WORLD_SIZE > 1: NCCL for CUDA, gloo otherwise. Returns this process's device
    (``cuda:LOCAL_RANK`` for CUDA). A no-op returning ``device`` in a single process."""
    requested = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    if requested.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(requested)!r}: CUDA is not available on this machine")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return requested
    if requested.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        requested = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if requested.type == "cuda" else "gloo")
    return requested


class _GatherRows(torch.autograd.Function):
    # forward: concatenate every rank's rows; backward: sum the gradient over ranks and keep
    # this rank's slice (a reduce-scatter written as all-reduce + slice, which gloo supports).
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        ctx.n = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n], None


def gather_rows(x: torch.Tensor, group=None) -> torch.Tensor:
    """All ranks' ``x`` (equal shapes) concatenated along dim 0, differentiable: the gradient
    reaching rank r's ``x`` is the sum over ranks of the gradient of its rows."""
    if not is_distributed():
        return x
    shapes = [None] * dist.get_world_size(group)
    dist.all_gather_object(shapes, tuple(x.shape), group=group)
    if len(set(shapes)) != 1:
        raise ValueError(f"every rank must pass the same shape to gather_rows, got {shapes}")
    return _GatherRows.apply(x, group)


def all_reduce_mean(value: torch.Tensor, group=None) -> torch.Tensor:
    """The mean of a tensor over ranks (no autograd); the tensor itself in one process."""
    if not is_distributed():
        return value
    out = value.detach().clone()
    dist.all_reduce(out, group=group)
    return out / dist.get_world_size(group)


def _diag_sum(x: torch.Tensor, kernel: str, bandwidth, degree, gamma, coef) -> torch.Tensor:
    # Σ_i k(x_i, x_i): 1 per bandwidth for the radial kernels, 0 for energy, and the
    # polynomial kernel's (γ‖x_i‖² + c)^d otherwise.
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if kernel == "polynomial":
        g = gamma if gamma is not None else 1.0 / x.shape[1]
        return (g * x.to(dtype).pow(2).sum(1) + coef).pow(degree).sum()
    if kernel == "energy":
        return x.new_zeros((), dtype=dtype)
    n_bw = 1 if isinstance(bandwidth, (int, float)) else len(bandwidth)
    return x.new_full((), float(x.shape[0] * n_bw), dtype=dtype)


def sharded_mmd(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
                coef: float = 1.0, group=None) -> torch.Tensor:
    """MMD² of the batches spread over the ranks: x (n_r, D) and y (m_r, D) are this rank's
    rows; every rank gets the MMD² of the concatenated batches (same definition as
    :func:`fastgan.mmd`), and backward gives each rank the gradient of its own rows.

    Every rank must call it (and backward) in the same order, with equal n_r (and m_r)
    on all ranks. ``bandwidth="median"`` is not supported here (it needs the pooled batch).
    In one process it is ``fastgan.mmd(x, y, ...)``.

    Under DDP (which averages parameter gradients over ranks) multiply the loss by the
    world size before backward to get the single-process gradient of the global batch.
    """
    if estimator not in ("unbiased", "biased"):
        raise ValueError(f"estimator must be 'unbiased' or 'biased', got {estimator!r}")
    kw = dict(kernel=kernel, bandwidth=bandwidth, degree=degree, gamma=gamma, coef=coef)
    if not is_distributed():
        return _ops.mmd(x, y, estimator=estimator, **kw)
    if isinstance(bandwidth, str):
        raise ValueError("sharded_mmd needs numeric bandwidths; bandwidth='median' is not supported")
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (N, D) and (M, D), got {tuple(x.shape)} and {tuple(y.shape)}")
    xs, ys = gather_rows(x, group), gather_rows(y, group)
    n, m = xs.shape[0], ys.shape[0]
    sxx = _ops.pair_sum(x, xs, **kw)
    syy = _ops.pair_sum(y, ys, **kw)
    sxy = _ops.pair_sum(x, ys, **kw)
    if estimator == "unbiased":
        if n < 2 or m < 2:
            raise ValueError("the unbiased estimator needs at least 2 rows of x and of y in total")
        sxx = sxx - _diag_sum(x, **kw)
        syy = syy - _diag_sum(y, **kw)
        local = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    else:
        local = sxx / (n * n) + syy / (m * m) - 2 * sxy / (n * m)
    total = local.detach().clone()
    dist.all_reduce(total, group=group)
    # the global value, with the gradient of this rank's share only (see module docstring)
    return local + (total - local.detach())

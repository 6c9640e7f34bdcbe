"""Launch settings of the MMD op: the tunables the launchers read, in one object.

Every number that decides how the MMD is cut into work (the CPU path's chunk budget, the
large-D gradient strategy, the two-stage path's w budget, the median heuristic's subsample)
lives in :class:`LaunchConfig`. Code (tests, benches) that needs other settings uses
:func:`configure` as a context manager instead of patching module globals; the setting
applies to that block. It is process-wide (a stack of configurations, not a context variable:
torch.compile traces reads of it, and cannot trace ``ContextVar.get``), so configure from one
thread at a time.

>>> from fastgan.ops.mmd import configure
>>> with configure(large_d="gemm"):        # force the two-stage large-D gradient
...     pass
"""
from __future__ import annotations

import contextlib
import dataclasses

from ... import _backend

__all__ = ["LaunchConfig", "LARGE_D_MODES", "configure", "current", "large_d_mode"]

LARGE_D_MODES = ("auto", "recompute", "gemm")


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """How the MMD launchers cut the work (defaults are the measured/predicted best).

    Attributes:
        torch_budget: elements per (rows × columns) temporary of the CPU PyTorch path. A few
            of these live at once (distances, kernel, gradient weights, one per-σ term), 1 MiB
            each in float32, so they stay in cache. Measured on one EPYC thread: 2^20 and 2^22
            were slower than 2^18 at N = M >= 2048 (cache misses), and no faster below.
        large_d: the gradient strategy for D > 128 on the Triton path: ``"recompute"`` (one
            fused pass per 128 features, each recomputing the Gram block), ``"gemm"`` (the
            two-stage path: w for a chunk of rows, then a GEMM by Z), ``"auto"`` (the GEMM from
            ``gemm_min_d`` features), or None: the environment variable
            ``FASTGAN_MMD_LARGE_D`` (default ``"auto"``).
        gemm_min_d: the smallest D for which ``"auto"`` takes the two-stage GEMM (the floors
            of docs/mmd.md cross near D = 400 on an H100 for fp32 and bf16).
        w_budget: bytes for one chunk of w in the two-stage gradient.
        w_min_rows: fewer rows per chunk of w starve the GEMM: recompute instead.
        target_programs: the two-stage w pass splits the columns so that about this many
            programs run (None: 4 per SM on CUDA, 1 in the interpreter).
        median_cap: rows of the pooled sample the median heuristic looks at (a deterministic
            subsample above it).
    """

    torch_budget: int = 1 << 18
    large_d: str | None = None
    gemm_min_d: int = 385
    w_budget: int = 1 << 30
    w_min_rows: int = 512
    target_programs: int | None = None
    median_cap: int = 4096

    def __post_init__(self):
        for name in ("torch_budget", "gemm_min_d", "w_budget", "w_min_rows", "median_cap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LaunchConfig.{name} must be an int >= 1, got {v!r}")
        tp = self.target_programs
        if tp is not None and (isinstance(tp, bool) or not isinstance(tp, int) or tp < 1):
            raise ValueError(f"LaunchConfig.target_programs must be None or an int >= 1, got {tp!r}")
        if self.large_d is not None and self.large_d not in LARGE_D_MODES:
            raise ValueError(f"LaunchConfig.large_d must be None or one of {LARGE_D_MODES}, "
                             f"got {self.large_d!r}")


_STACK: list[LaunchConfig] = [LaunchConfig()]


def current() -> LaunchConfig:
    """The configuration in force (the innermost :func:`configure` block's)."""
    return _STACK[-1]


@contextlib.contextmanager
def configure(config: LaunchConfig | None = None, **overrides):
    """Use ``config`` (default: the current one) with ``overrides`` applied, for a block.

    >>> with configure(torch_budget=1 << 12, large_d="gemm"):
    ...     pass
    """
    base = current() if config is None else config
    config = dataclasses.replace(base, **overrides) if overrides else base
    _STACK.append(config)
    try:
        yield config
    finally:
        _STACK.pop()


def large_d_mode(config: LaunchConfig) -> str:
    """The large-D strategy in force: the config's, else FASTGAN_MMD_LARGE_D (validated)."""
    if config.large_d is not None:
        return config.large_d
    return _backend.env_choice("FASTGAN_MMD_LARGE_D", LARGE_D_MODES)

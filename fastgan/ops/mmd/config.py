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

__all__ = ["LaunchConfig", "LARGE_D_MODES", "configure", "current", "large_d_mode", "cpu_chunk_rows",
           "cpu_cache_elements"]

LARGE_D_MODES = ("auto", "recompute", "gemm")


@dataclasses.dataclass(frozen=True)
class LaunchConfig:
    """How the MMD launchers cut the work (defaults are the measured/predicted best).

    Attributes:
        torch_budget: elements per (rows × columns) temporary of the CPU PyTorch path, or None
            (the default): chosen from the L2 cache and the number of columns by
            :func:`cpu_chunk_rows`. Set it to force a chunk height (tests force tiny chunks).
        torch_min_rows: the fewest rows per chunk of the CPU path when the budget is chosen
            automatically. Each chunk streams all of Z once, so with a fixed element budget the
            chunk shrinks as N grows (~4 rows at N = 64k) and the GEMMs become memory-bound:
            time per pair doubled from N = 16k to 32k on one EPYC thread. 64 rows keep the
            reuse of each Z row high; temporaries are then O(N · 64).
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

    torch_budget: int | None = None
    torch_min_rows: int = 64
    large_d: str | None = None
    gemm_min_d: int = 385
    w_budget: int = 1 << 30
    w_min_rows: int = 512
    target_programs: int | None = None
    median_cap: int = 4096

    def __post_init__(self):
        for name in ("torch_min_rows", "gemm_min_d", "w_budget", "w_min_rows", "median_cap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LaunchConfig.{name} must be an int >= 1, got {v!r}")
        tb = self.torch_budget
        if tb is not None and (isinstance(tb, bool) or not isinstance(tb, int) or tb < 1):
            raise ValueError(f"LaunchConfig.torch_budget must be None or an int >= 1, got {tb!r}")
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


_CACHE_ELEMENTS: list[int] = []


def cpu_cache_elements() -> int:
    """The CPU path's element budget per temporary when none is configured: half the L2
    cache's bytes, at most 2^18 elements (1 MiB of float32: a few temporaries live at once,
    and on a 512 KiB-L2 EPYC core 2^20 and 2^22 were measured slower than 2^18 at
    N = M >= 2048, as was 2^20 on a 2 MiB-L2 Xeon core at N = M = 1000), at least 2^16.
    Read once from Linux's sysfs; 2^18 where it cannot be read."""
    if not _CACHE_ELEMENTS:
        elems = 1 << 18
        try:
            with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
                text = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            size = int(text.rstrip("KMB")) * scale
            elems = min(max(size // 2, 1 << 16), 1 << 18)
        except (OSError, ValueError):
            pass
        _CACHE_ELEMENTS.append(elems)
    return _CACHE_ELEMENTS[0]


def cpu_chunk_rows(columns: int, config: LaunchConfig | None = None) -> int:
    """Rows per chunk of the CPU path for chunks ``columns`` wide.

    ``torch_budget // columns`` (at least 1) when a budget is configured; otherwise
    ``max(torch_min_rows, cpu_cache_elements() // columns)``: cache-sized temporaries while
    they hold enough rows, and never fewer than ``torch_min_rows`` rows (each chunk reads all
    of Z once, so thin chunks make the pass memory-bound at large N).

    >>> cpu_chunk_rows(100, LaunchConfig(torch_budget=1000))
    10
    """
    config = current() if config is None else config
    columns = max(1, int(columns))
    if config.torch_budget is not None:
        return max(1, config.torch_budget // columns)
    return max(config.torch_min_rows, cpu_cache_elements() // columns)

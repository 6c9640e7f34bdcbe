"""Timing machinery shared by the runner and the pytest-benchmark files.

A :class:`Case` is one op at one shape: a dict of providers (``fastgan``, ``eager``,
``compile``, ``keops``, ...), each a *setup* callable that builds inputs and returns the
zero-argument function to time. :func:`measure` times one provider:

- CUDA: ``triton.testing.do_bench`` medians (CUDA events, warm-up, L2 flushed between
  repetitions) for calls under ~50 ms; a few CUDA-event-timed calls for slower ones; inputs
  rotate among several copies when one set fits in L2; peak memory from
  ``torch.cuda.max_memory_allocated`` above what was allocated before the call.
- CPU: ``time.perf_counter`` medians after a warm-up; no peak memory (recorded as None).

Failures never escape: an out-of-memory error becomes status ``"OOM"``, any other exception
``"error"`` (with its message), a provider whose library is missing ``"skip"``.
"""
from __future__ import annotations

import dataclasses
import gc
import math
import statistics
import time
import traceback
from typing import Any, Callable

import torch

__all__ = [
    "Case", "Result", "measure", "sync", "is_oom", "rotating", "l2_bytes", "Skip", "device_name",
]


class Skip(Exception):
    """Raised by a provider's setup when it cannot run here (library missing, too large...)."""


@dataclasses.dataclass
class Case:
    """One op at one shape, timed for every provider.

    op: family ("random", "mmd", ...); name: a short label ("gaussian fwd"); series: the line
    it belongs to in the plots ("D=64 fwd"); size: the x value of that line (N, B, numel).
    shape: the shape parameters, recorded verbatim. flops / bytes / items: the work of one
    call (minimal bytes: each input read once, each output written once) for TFLOP/s, GB/s
    and items/s; ``items_name`` names the items ("pairs", "samples", "steps").
    bound: which device peak the fraction is taken of ("bandwidth", "bf16", "tf32", or None).
    providers: name -> setup() returning a zero-argument callable (it may raise Skip).
    baseline: the provider speedups are measured against.
    """

    op: str
    name: str
    series: str
    size: int
    shape: dict
    dtype: str
    providers: dict[str, Callable[[], Callable[[], Any]]]
    flops: float | None = None
    bytes: float | None = None
    items: float | None = None
    items_name: str = "items"
    bound: str | None = None
    baseline: str = "eager"
    priority: int = 1  # 0 runs first (the targets), then 1, then 2
    size_name: str = "size"  # the plots' x label
    target: str | None = None  # the target for this case, e.g. ">= 20x eager"

    @property
    def key(self) -> str:
        shape = ",".join(f"{k}={v}" for k, v in self.shape.items())
        return f"{self.op}/{self.name}/{shape}/{self.dtype}"


@dataclasses.dataclass
class Result:
    op: str
    case: str
    series: str
    size: int
    shape: dict
    dtype: str
    provider: str
    status: str  # ok | OOM | skip | error | budget
    median_ms: float | None = None
    p20_ms: float | None = None
    p80_ms: float | None = None
    reps: int = 0
    timer: str = ""
    peak_mem_bytes: int | None = None
    flops: float | None = None
    bytes: float | None = None
    items: float | None = None
    items_name: str = "items"
    bound: str | None = None
    baseline: str = "eager"
    size_name: str = "size"
    target: str | None = None
    message: str = ""

    @classmethod
    def of(cls, case: Case, provider: str, status: str, **kw) -> "Result":
        """A result for ``provider`` on ``case``, with the case's description and counts."""
        return cls(op=case.op, case=case.name, series=case.series, size=case.size,
                   shape=dict(case.shape), dtype=case.dtype, provider=provider, status=status,
                   flops=case.flops, bytes=case.bytes, items=case.items,
                   items_name=case.items_name, bound=case.bound, baseline=case.baseline,
                   size_name=case.size_name, target=case.target, **kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def device_name(device: torch.device) -> str:
    """A human name of the device: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "cpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError) or isinstance(exc, MemoryError):
        return True
    msg = str(exc).lower()
    return "out of memory" in msg or "can't allocate memory" in msg or "not enough memory" in msg


def l2_bytes(device: torch.device) -> int:
    if device.type != "cuda":
        return 0
    props = torch.cuda.get_device_properties(device)
    return int(getattr(props, "L2_cache_size", 50 * 2**20))


def rotating(make: Callable[[], Any], nbytes: float, device: torch.device, max_copies: int = 8):
    """Input sets to cycle through: enough copies that together they exceed twice the L2
    (so a repeated call does not just measure the cache); one copy on CPU or for big inputs."""
    copies = 1
    l2 = l2_bytes(device)
    if l2 and nbytes and nbytes < 2 * l2:
        copies = min(max_copies, max(2, math.ceil(2 * l2 / max(nbytes, 1))))
    return [make() for _ in range(copies)]


def cycle_call(fn: Callable, inputs: list) -> Callable[[], Any]:
    """A zero-argument callable that calls fn(*inputs[i]) with i cycling over the sets."""
    state = {"i": 0}
    n = len(inputs)

    def call():
        i = state["i"]
        state["i"] = i + 1 if i + 1 < n else 0
        return fn(*inputs[i])

    return call


def _free(device: torch.device, collect: bool = False) -> None:
    # a full gc pass costs tens of ms: only after a failure (tracebacks hold tensors alive)
    if collect:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _time_cpu(fn, target_s: float, min_reps: int, max_reps: int, first_s: float):
    reps = int(min(max_reps, max(min_reps, target_s / max(first_s, 1e-9))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _time_cuda_events(fn, reps: int):
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return times


def _quantiles(times: list[float]):
    times = sorted(times)
    med = statistics.median(times)
    if len(times) >= 5:
        q = statistics.quantiles(times, n=5)
        return med, q[0], q[3]
    return med, times[0], times[-1]


def measure(case: Case, provider: str, device: torch.device, *, target_s: float = 0.25,
            min_reps: int = 3, max_reps: int = 100, slow_s: float = 0.05,
            max_call_s: float = 30.0) -> Result:
    """Time ``case.providers[provider]`` on ``device``; never raises (see module docstring).

    target_s: wall time to aim for per provider (CPU reps, CUDA do_bench rep window).
    slow_s: calls slower than this are timed with a few CUDA events instead of do_bench.
    max_call_s: a call slower than this is recorded from that single timed call (after the
    warm-up call), so a slow provider costs two calls, not a dozen.
    """
    res = Result.of(case, provider, "ok")
    fn = None
    try:
        _free(device)
        fn = case.providers[provider]()
        # first call: compilation, autotuning, caches; also a probe of the call's duration
        sync(device)
        fn()
        sync(device)
        if device.type == "cuda":  # the probe call also gives the peak memory of one call
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        first_s = time.perf_counter() - t0
        if device.type == "cuda":
            res.peak_mem_bytes = int(torch.cuda.max_memory_allocated(device) - base)
        if first_s > max_call_s:
            times, res.timer = [first_s * 1e3], "single call (slow)"
        elif device.type == "cuda":
            if first_s < slow_s:
                import triton.testing

                warm = max(5.0, min(25.0, 250.0 * target_s))
                rep = max(10.0, min(100.0, 1e3 * target_s))
                try:
                    times = triton.testing.do_bench(fn, warmup=warm, rep=rep, return_mode="all")
                except (AssertionError, AttributeError, ValueError, TypeError):
                    # a Triton without return_mode="all": the 20/50/80% quantiles instead
                    times = triton.testing.do_bench(fn, warmup=warm, rep=rep,
                                                    quantiles=[0.2, 0.5, 0.8])
                res.timer = "triton.testing.do_bench (CUDA events, L2 flushed)"
            else:
                reps = int(min(max_reps, max(min_reps, target_s / first_s)))
                times = _time_cuda_events(fn, reps)
                res.timer = "CUDA events"
        else:
            times = _time_cpu(fn, target_s, min_reps, max_reps, first_s)
            res.timer = "time.perf_counter"
        res.median_ms, res.p20_ms, res.p80_ms = _quantiles(list(times))
        res.reps = len(times)
    except Skip as exc:
        res.status, res.message = "skip", str(exc)
    except BaseException as exc:  # noqa: BLE001 - one provider's failure must not stop the run
        if isinstance(exc, KeyboardInterrupt):
            raise
        if is_oom(exc):
            res.status, res.message = "OOM", str(exc).splitlines()[0][:200] if str(exc) else "OOM"
        else:
            res.status = "error"
            tb = traceback.format_exception_only(type(exc), exc)
            res.message = "".join(tb).strip()[:500]
    finally:
        fn = None
        _free(device, collect=res.status != "ok")
    return res

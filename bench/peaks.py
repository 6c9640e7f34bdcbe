"""The device's own ceilings, measured once per run: copy bandwidth and matmul rates.

- ``bandwidth_gbs``: a large device-to-device copy, counting bytes read plus bytes written.
- ``bf16_tflops``: a large bf16 matrix product (fp32 accumulation by the library).
- ``tf32_tflops``: the same in float32 with TF32 allowed (on CPU: plain float32).

Fractions of peak in the results divide achieved rates by these numbers, not by datasheets.
"""
from __future__ import annotations

import time

import torch

from .harness import sync

__all__ = ["measure_peaks"]


def _time_ms(fn, device: torch.device, reps: int) -> float:
    """CUDA: the do_bench median; CPU: the fastest of ``reps`` calls."""
    fn()
    sync(device)
    if device.type == "cuda":
        import triton.testing

        try:
            return float(triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median"))
        except (AssertionError, AttributeError, ValueError, TypeError):
            return float(triton.testing.do_bench(fn, warmup=25, rep=200, quantiles=[0.5])[0])
    # CPU: the best of the repetitions. A peak is what the machine can do; on a shared host
    # the median mostly measures the neighbours.
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def measure_peaks(device: torch.device, mode: str = "full") -> dict:
    """Measure copy GB/s and bf16 / tf32 matmul TFLOP/s on ``device``.

    mode: "full" (CUDA: 1 GiB copied, 8192³ products; CPU: 64 MiB, 1024³), "quick" (CUDA:
    256 MiB, 4096³; CPU as full) or "dry" (tiny, for tests). Values that cannot be measured are recorded as None with a note.
    """
    cuda = device.type == "cuda"
    out: dict = {"device": str(device)}
    # copy: random data, never zeros (docs/benchmarks.md)
    dry = mode == "dry"
    if cuda:
        n_copy = {"full": 1 << 28, "quick": 1 << 26}.get(mode, 1 << 22)
        n_mm = {"full": 8192, "quick": 4096}.get(mode, 1024)
    else:
        n_copy, n_mm = (1 << 20, 128) if dry else (1 << 24, 1024)
    try:
        src = torch.rand(n_copy, device=device)
        dst = torch.empty_like(src)
        ms = _time_ms(lambda: dst.copy_(src), device, reps=15)
        out["bandwidth_gbs"] = 2 * src.numel() * src.element_size() / (ms * 1e-3) / 1e9
        out["copy_bytes"] = 2 * src.numel() * src.element_size()
        del src, dst
    except Exception as exc:  # noqa: BLE001
        out["bandwidth_gbs"], out["bandwidth_note"] = None, str(exc)[:200]
    for key, dtype in (("bf16_tflops", torch.bfloat16), ("tf32_tflops", torch.float32)):
        old = torch.backends.cuda.matmul.allow_tf32
        try:
            torch.backends.cuda.matmul.allow_tf32 = True
            a = torch.randn(n_mm, n_mm, device=device, dtype=dtype)
            b = torch.randn(n_mm, n_mm, device=device, dtype=dtype)
            ms = _time_ms(lambda: a @ b, device, reps=9)
            out[key] = 2 * n_mm**3 / (ms * 1e-3) / 1e12
            del a, b
        except Exception as exc:  # noqa: BLE001
            out[key], out[key + "_note"] = None, str(exc)[:200]
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
    out["matmul_n"] = n_mm
    if not cuda:
        out["note"] = "CPU: tf32_tflops is plain float32; bf16 on CPU is often emulated"
    if cuda:
        props = torch.cuda.get_device_properties(device)
        out["sm_count"] = props.multi_processor_count
        out["l2_bytes"] = int(getattr(props, "L2_cache_size", 0))
        out["total_memory_bytes"] = int(props.total_memory)
    return out

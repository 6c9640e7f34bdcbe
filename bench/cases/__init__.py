"""Benchmark case definitions, one module per op family.

Each module has ``cases(device, mode) -> list[Case]`` (mode: "dry" one tiny shape per case,
"quick" the small CPU grid, "full" the issue's grid for CUDA) and ``missing() -> str | None``,
the reason the family cannot run in this tree (its fastgan module not there yet), or None.
The runner and the pytest-benchmark files (bench/bench_<op>.py) share these definitions.
"""
from __future__ import annotations

import importlib

OPS = ("random", "mmd", "gan_loss", "sample", "train", "stats")

__all__ = ["OPS", "load"]


def load(op: str):
    """The case module of ``op`` (raises ValueError for an unknown op)."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    return importlib.import_module(f"{__name__}.{op}")

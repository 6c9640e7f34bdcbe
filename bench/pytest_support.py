"""Glue between the case definitions (bench/cases) and pytest-benchmark.

``parametrize(op)`` gives the (case, provider) parameters of an op family for the device in
use (a single skipped parameter with the reason when the family is missing);
``run(benchmark, case, provider)`` times one of them with ``benchmark.pedantic`` (the callable
synchronizes CUDA so wall-clock rounds are device times) and stores the work counts in
``extra_info``. The runner (``python -m bench``) is the tool for the results JSON and README
table; these files let pytest-benchmark users compare and track runs (``--benchmark-save``).
"""
from __future__ import annotations

import os

import pytest
import torch

from .cases import load
from .harness import Skip, device_name, is_oom, sync

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
MODE = os.environ.get("FASTGAN_BENCH_MODE") or ("full" if DEVICE.type == "cuda" else "quick")
_PROVIDERS_OFF_CPU = {"compile"}  # inductor's CPU compiles take minutes; the runner's --compile opts in


def parametrize(op: str):
    try:
        mod = load(op)
        reason = mod.missing()
        cases = [] if reason else mod.cases(DEVICE, MODE)
    except Exception as exc:  # noqa: BLE001
        reason, cases = f"{type(exc).__name__}: {exc}", []
    if reason:
        return pytest.mark.parametrize(
            "case,provider", [pytest.param(None, None, marks=pytest.mark.skip(reason=reason))])
    params = []
    for c in cases:
        for p in c.providers:
            marks = ()
            if DEVICE.type == "cpu" and p in _PROVIDERS_OFF_CPU:
                marks = pytest.mark.skip(reason="torch.compile is not timed on CPU by default")
            shape = "-".join(f"{k}{v}" for k, v in c.shape.items())
            params.append(pytest.param(c, p, id=f"{c.name.replace(' ', '_')}-{shape}-{p}", marks=marks))
    return pytest.mark.parametrize("case,provider", params)


def run(benchmark, case, provider):
    try:
        fn = case.providers[provider]()
        fn()
        sync(DEVICE)
    except Skip as exc:
        pytest.skip(str(exc))
    except Exception as exc:  # noqa: BLE001
        if is_oom(exc):
            pytest.skip(f"OOM: {exc}")
        raise

    def call():
        fn()
        sync(DEVICE)

    benchmark.extra_info.update(
        device=device_name(DEVICE), device_type=DEVICE.type, mode=MODE, op=case.op,
        shape=case.shape, dtype=case.dtype, provider=provider, flops=case.flops,
        bytes=case.bytes, items=case.items, items_name=case.items_name)
    benchmark.pedantic(call, rounds=5 if MODE != "dry" else 1, iterations=1, warmup_rounds=1)

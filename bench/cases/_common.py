"""Helpers shared by the case modules."""
from __future__ import annotations

import importlib

import torch

from ..harness import Skip


def module_missing(name: str, attrs: tuple[str, ...] = ()) -> str | None:
    """Why ``name`` (with ``attrs``) cannot be used, or None when it can."""
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        return f"{name} is not importable ({exc})"
    for a in attrs:
        if not hasattr(mod, a):
            return f"{name}.{a} does not exist yet"
    return None


def compiled(fn):
    """torch.compile(fn), compiled lazily on the first (warm-up) call."""
    try:
        return torch.compile(fn)
    except Exception as exc:  # noqa: BLE001
        raise Skip(f"torch.compile unavailable: {exc}") from exc


def keops_missing() -> str | None:
    try:
        import pykeops  # noqa: F401
        from pykeops.torch import LazyTensor  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any failure (import, compiler) means not usable
        return f"pykeops not usable ({type(exc).__name__}: {exc})"
    return None


def pick(mode: str, dry, quick, full):
    return {"dry": dry, "quick": quick, "full": full}[mode]


_COMPILED: dict = {}


def compiled_cached(key, fn):
    """One torch.compile(fn, dynamic=True) per key, shared by every shape of a case family,
    so the grid costs one compilation per variant rather than one per shape."""
    if key not in _COMPILED:
        try:
            _COMPILED[key] = torch.compile(fn, dynamic=True)
        except Exception as exc:  # noqa: BLE001
            raise Skip(f"torch.compile unavailable: {exc}") from exc
    return _COMPILED[key]


def timed_call(f, sets, backward: bool):
    """A zero-argument callable over input sets that rotate call by call (see
    harness.rotating): ``f(*set)``, or with ``backward`` f and its gradients w.r.t. every input
    (torch.autograd.grad: nothing accumulates into .grad, so each call does the same work)."""
    state = {"i": 0}
    n = len(sets)
    if backward:
        sets = [tuple(t.detach().requires_grad_(True) for t in s) for s in sets]

    def call():
        i = state["i"]
        state["i"] = (i + 1) % n
        args = sets[i]
        if backward:
            return torch.autograd.grad(f(*args), args)
        with torch.no_grad():
            return f(*args)

    return call

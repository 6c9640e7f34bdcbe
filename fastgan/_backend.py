"""Backend selection: Triton kernels for CUDA tensors, pure PyTorch for CPU tensors.

``FASTGAN_BACKEND`` overrides the choice:

- ``auto`` (default): Triton on CUDA tensors, the PyTorch path on CPU tensors.
- ``triton``: always the Triton kernels. On CPU tensors this needs ``TRITON_INTERPRET=1``
  set before triton is first imported (the test suite does this), so the very same kernels
  run in Triton's interpreter.
- ``torch``: always the pure-PyTorch path (also on CUDA tensors).

:func:`backend` is a context manager that overrides the variable for a block of code.
"""
from __future__ import annotations

import contextlib
import os
import threading

import torch

_VALID = ("auto", "triton", "torch")
_local = threading.local()


def current() -> str:
    """The backend in force: the innermost :func:`backend` block, else ``FASTGAN_BACKEND``."""
    forced = getattr(_local, "stack", None)
    if forced:
        return forced[-1]
    return env_choice("FASTGAN_BACKEND", _VALID)


def env_choice(name: str, valid: tuple[str, ...]) -> str:
    """The environment variable ``name`` as one of ``valid`` (case-insensitive; unset or
    empty gives ``valid[0]``), or a ValueError naming the variable."""
    value = os.environ.get(name, valid[0]).strip().lower() or valid[0]
    if value not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
    return value


@contextlib.contextmanager
def backend(name: str):
    """Run a block with the given backend (``"auto"``, ``"triton"`` or ``"torch"``)."""
    if name not in _VALID:
        raise ValueError(f"backend must be one of {_VALID}, got {name!r}")
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()


def interpreter_enabled() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def use_triton(device: torch.device | str) -> bool:
    """Whether ops on tensors of ``device`` should launch the Triton kernels."""
    device = torch.device(device)
    choice = current()
    if choice == "torch":
        return False
    if device.type == "cuda":
        return True
    if choice == "triton":
        if not interpreter_enabled():
            raise RuntimeError(
                "FASTGAN_BACKEND=triton on CPU tensors needs TRITON_INTERPRET=1 set before triton "
                "is imported (the Triton interpreter runs the kernels on the CPU)"
            )
        return True
    return False


def cdiv(a: int, b: int) -> int:
    """Ceiling division, for launch grids."""
    return -(-a // b)


def next_pow2(v: int) -> int:
    """The smallest power of two >= v (1 for v <= 1), for block sizes."""
    return 1 << max(0, int(v) - 1).bit_length()


def on_device(t: torch.Tensor):
    """A context in which Triton launches go to ``t``'s GPU (Triton launches on the current
    device, which may not be ``t``'s on a multi-GPU machine); a no-op for CPU tensors."""
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


# Triton's interpreter keeps global state while it runs a kernel: two threads launching at
# once fail with InterpreterError. Launches on CPU tensors therefore take one process-wide
# (re-entrant: a launcher may launch twice) lock; compiled GPU launches never wait on it.
_INTERPRETER_LOCK = threading.RLock()


def launch_guard(t: torch.Tensor):
    """A context that serialises Triton launches on ``t`` when they run in the interpreter
    (CPU tensors); a no-op for CUDA tensors."""
    return _INTERPRETER_LOCK if t.device.type != "cuda" else contextlib.nullcontext()

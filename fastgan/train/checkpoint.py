"""Atomic checkpoint files: write to a temporary file in the same folder, fsync, rename.

``os.replace`` is atomic on POSIX and Windows, so a reader (or a resumed run) sees either
the previous complete checkpoint or the new complete one, never a torn file, even if the
process is killed between the write and the rename. The state is serialised in memory
first, so a full disk is an ordinary OS error (one line naming the file), not an error from
inside torch's zip writer. A file that cannot be read back (truncated, not a torch file, a
missing field) raises :class:`CheckpointError` naming the file and what is wrong.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import torch

from .runs import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "require_fields", "CheckpointError", "FORMAT"]

FORMAT = "fastgan-checkpoint-v1"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or lacks what the caller needs."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` (a dict of tensors, numbers, strings, lists and dicts) to ``path``
    atomically; returns the path. The folder is created if needed. Disk-full and permission
    errors raise :class:`fastgan.train.runs.RunFolderError` naming the path; the previous
    file at ``path`` stays as it was."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    buf = io.BytesIO()
    torch.save({**state, "format": FORMAT}, buf)
    return atomic_write(path, buf.getbuffer())


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors mapped to ``map_location``).

    Raises FileNotFoundError when there is no file, and :class:`CheckpointError` (a
    ValueError) with one line naming the file when it is truncated, not a torch file, or not
    a fastgan checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... here
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise CheckpointError(f"checkpoint {str(path)!r} is unreadable: truncated or not a torch file "
                              f"({type(exc).__name__}: {first}); use an earlier copy (e.g. best.pt) or "
                              "start a new run") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a fastgan checkpoint (expected format {FORMAT})")
    return state


def require_fields(state: dict, path, fields, where: str = "") -> None:
    """Raise :class:`CheckpointError` naming ``path`` and the first of ``fields`` missing from
    ``state`` (``where``: which part of the checkpoint, e.g. "run config")."""
    for name in fields:
        if not isinstance(state, dict) or name not in state:
            part = f" {where}" if where else ""
            raise CheckpointError(f"checkpoint {str(path)!r}{part} lacks the field {name!r} (written by an "
                                  "older or a different program?)")

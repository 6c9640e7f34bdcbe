"""A run's metric log: ``metrics.jsonl`` (one JSON object a line) and, optionally, TensorBoard.

Every write of ``metrics.jsonl`` replaces the whole file atomically (the log is small: one
line per log interval), so a kill or a full disk never leaves a torn last line. A resumed run
keeps the lines of steps it has already passed and drops later ones (they belong to the part
of the earlier run after its checkpoint, which the resumed run redoes).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .runs import atomic_write

__all__ = ["MetricsLog", "tensorboard_class", "tensorboard_writer"]


def _clean(value):
    # JSON has no NaN/inf: write them as strings so the file stays valid JSON
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLog:
    """``MetricsLog(path, resume_step=None, tensorboard=None)``; ``log(step, **values)`` adds one
    line ``{"step": step, ...values}`` and rewrites ``path`` atomically; ``lines`` holds them.

    ``tensorboard``: a SummaryWriter-like object (``add_scalar(tag, value, step)``, ``flush()``)
    that receives every numeric value too. With ``resume_step`` the lines of an earlier run
    at steps <= resume_step are kept.
    """

    def __init__(self, path: str | Path, *, resume_step: int | None = None, tensorboard=None):
        self.path = Path(path)
        self.tensorboard = tensorboard
        self.lines: list[dict] = []
        if resume_step is not None and self.path.is_file():
            for text in self.path.read_text().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:  # a line from a foreign writer: not ours to keep
                    continue
                if isinstance(line, dict) and isinstance(line.get("step"), int) and line["step"] <= resume_step:
                    self.lines.append(line)

    def log(self, step: int, **values) -> dict:
        line = {"step": int(step), **{k: _clean(v) for k, v in values.items()}}
        self.lines.append(line)
        atomic_write(self.path, "".join(json.dumps(x) + "\n" for x in self.lines))
        if self.tensorboard is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tensorboard.add_scalar(k, v, step)
            self.tensorboard.flush()
        return line

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of every line that has ``key`` with a finite number."""
        steps, values = [], []
        for line in self.lines:
            v = line.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                steps.append(line["step"])
                values.append(float(v))
        return steps, values

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def tensorboard_class():
    """``torch.utils.tensorboard.SummaryWriter``; ImportError with the install command when the
    tensorboard package is missing (call it before touching the run folder)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError("--tensorboard needs the tensorboard package: pip install tensorboard "
                          "(metrics.jsonl is written either way)") from None
    return SummaryWriter


def tensorboard_writer(folder: str | Path):
    """A ``SummaryWriter`` on ``folder`` (see :func:`tensorboard_class`)."""
    return tensorboard_class()(log_dir=str(folder))

"""A dependency-free progress bar on stderr; periodic log lines when stderr is not a TTY."""
from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, start=0)``; call ``update(step, metrics, samples_per_s)`` each step and
    ``close()`` at the end. On a TTY it redraws one line (at most 10 times a second);
    otherwise it prints a line every ``log_every`` steps (default: total // 10)."""

    def __init__(self, total: int, *, start: int = 0, desc: str = "train", stream=None,
                 log_every: int | None = None, enabled: bool = True):
        self.total, self.start, self.desc = total, start, desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = log_every or max(1, (total - start) // 10)
        self._last_draw = 0.0
        self._t0 = time.perf_counter()

    def _line(self, step, metrics, rate) -> str:
        frac = step / max(1, self.total)
        stats = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        elapsed = time.perf_counter() - self._t0
        if self.tty:
            width = 20
            filled = int(width * frac)
            bar = "#" * filled + "-" * (width - filled)
            return f"\r{self.desc} [{bar}] {step}/{self.total} {stats} {rate:.0f} samples/s {elapsed:.0f}s"
        return f"{self.desc} step {step}/{self.total} {stats} {rate:.0f} samples/s {elapsed:.1f}s\n"

    def update(self, step: int, metrics: dict, samples_per_s: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._last_draw < 0.1 and step < self.total:
                return
            self._last_draw = now
        elif (step - self.start) % self.log_every and step != self.total:
            return
        self.stream.write(self._line(step, metrics, samples_per_s))
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

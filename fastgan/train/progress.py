"""Training progress on stderr: tqdm's bar on a terminal when tqdm is installed, else a
dependency-free bar; periodic log lines when stderr is not a TTY. Every form shows an ETA."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``Progress(total, start=0)``; call ``update(step, metrics, samples_per_s)`` each step and
    ``close()`` at the end. On a TTY it redraws one line (at most 10 times a second; through
    tqdm when it is installed, unless ``use_tqdm=False``); otherwise it prints a line every
    ``log_every`` steps (default: total // 10). The ETA assumes the mean speed of this run so far."""

    def __init__(self, total: int, *, start: int = 0, desc: str = "train", stream=None,
                 log_every: int | None = None, enabled: bool = True, use_tqdm: bool = True):
        self.total, self.start, self.desc = total, start, desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_every = log_every or max(1, (total - start) // 10)
        self._last_draw = 0.0
        self._t0 = time.perf_counter()
        self._bar = None
        if enabled and self.tty and use_tqdm:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total, initial=start, desc=desc, file=self.stream, dynamic_ncols=True)

    def eta(self, step: int) -> float | None:
        """Seconds left at ``step`` at this run's mean speed (None before the first step)."""
        done = step - self.start
        if done <= 0:
            return None
        return (self.total - step) * (time.perf_counter() - self._t0) / done

    def _line(self, step, metrics, rate) -> str:
        frac = step / max(1, self.total)
        stats = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        elapsed = time.perf_counter() - self._t0
        eta = self.eta(step)
        left = f"eta {_clock(eta)}" if eta is not None else "eta ?"
        if self.tty:
            width = 20
            filled = int(width * frac)
            bar = "#" * filled + "-" * (width - filled)
            return (f"\r{self.desc} [{bar}] {step}/{self.total} {stats} {rate:.0f} samples/s "
                    f"{elapsed:.0f}s {left}")
        return f"{self.desc} step {step}/{self.total} {stats} {rate:.0f} samples/s {elapsed:.1f}s {left}\n"

    def update(self, step: int, metrics: dict, samples_per_s: float) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
            self._bar.update(step - self._bar.n)  # tqdm redraws at most every mininterval
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
        if self._bar is not None:
            self._bar.close()
            return
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

"""Run folders that never lose work: atomic writes, a lock, up-front checks, resume rules.

- Every file of a run is written to a temporary file in the same folder (``.NAME.XXXX.tmp``),
  fsynced and renamed over the target, so a reader or a resumed run sees the previous complete
  file or the new complete one, never a torn one. Temporary files a killed process left are
  removed when the next process takes the folder's lock.
- :class:`RunFolder` takes an exclusive ``fcntl`` lock on ``OUT/.lock`` (the holder's pid is
  written into it and named in the error of a second process), refuses a non-empty folder
  unless the run resumes or overwrites it, and checks before step 1 that the folder is
  writable and has room for the run's files.
- OS errors while writing (disk full, permission denied, read-only file system) become one
  :class:`RunFolderError` line naming the path.
"""
from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["RunFolderError", "RunFolder", "atomic_write", "clean_temp_files", "check_resume",
           "RUN_FILES"]

# what a run writes into its folder (``--overwrite`` removes exactly these)
RUN_FILES = ("checkpoint.pt", "best.pt", "metrics.json", "metrics.jsonl", "loss.png", "samples.png",
             "report.png", "samples", "tensorboard")
LOCK_NAME = ".lock"
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")

_REASONS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
            errno.EROFS: "read-only file system", errno.ENOTDIR: "a parent of it is not a folder",
            errno.EEXIST: "it exists and is not a folder", errno.EISDIR: "it is a folder"}


class RunFolderError(OSError):
    """A run folder cannot be used or written (a one-line message naming the path; ``errno``
    says why)."""

    def __str__(self) -> str:  # the message alone, without OSError's "[Errno N]" prefix
        return self.strerror or super().__str__()


def describe(exc: OSError, path) -> RunFolderError:
    """``exc`` as one line: ``cannot write '<path>': <reason>``."""
    reason = _REASONS.get(exc.errno) or exc.strerror or str(exc)
    return RunFolderError(exc.errno, f"cannot write {str(path)!r}: {reason}")


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass


def _file_mode() -> int:
    # the mode open() would give a new file (mkstemp's own is 0600)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _atomic_file(path: Path):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike, data) -> Path:
    """Write ``data`` (bytes, str, or a callable ``f(binary_file)`` that writes) to ``path``
    atomically: temporary file in the same folder, fsync, rename, fsync of the folder.

    The folder is created if needed. An OS error (disk full, permission, read-only) is raised
    as :class:`RunFolderError` naming ``path``, and the previous file at ``path`` is untouched.

    >>> atomic_write("runs/x/notes.txt", "hello\\n")  # doctest: +SKIP
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _atomic_file(path) as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
    except RunFolderError:
        raise
    except OSError as exc:
        raise describe(exc, path) from None
    return path


def save_figure(fig, path) -> Path:
    """A matplotlib figure as PNG, written atomically (a full disk leaves no truncated plot)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return atomic_write(path, buf.getvalue())


def clean_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the ``.NAME.XXXX.tmp`` files an interrupted atomic write left in ``folder`` (and
    its ``samples`` subfolder). Only call it while holding the folder's lock: a live writer's
    temporary file looks the same. Returns the removed paths."""
    removed = []
    for sub in (Path(folder), Path(folder) / "samples"):
        if not sub.is_dir():
            continue
        for p in sub.iterdir():
            if p.is_file() and _TEMP.match(p.name):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed.append(p)
    return removed


class RunFolder:
    """Exclusive use of a run's output folder for one process.

    ``RunFolder(out, resume=False, overwrite=False, need_bytes=0)`` creates ``out`` if needed,
    takes the lock (:class:`RunFolderError` naming the holder's pid when another process has
    it), refuses a folder that already holds files unless ``resume`` or ``overwrite``, removes
    orphan temporary files, checks that a file can be written and that ``need_bytes`` are
    free, and with ``overwrite`` removes the earlier run's files (:data:`RUN_FILES`) only
    after those checks pass. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False,
                 need_bytes: int = 0):
        if resume and overwrite:
            raise ValueError("--resume and --overwrite exclude each other: --resume continues the run in "
                             "the folder, --overwrite replaces it")
        self.path = Path(out)
        self._fd = None
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(errno.ENOTDIR, f"cannot use {str(self.path)!r} as a run folder: it is a file")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise describe(exc, self.path) from None
        self._lock()
        try:
            self._check(resume, overwrite, need_bytes)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        import fcntl

        lock = self.path / LOCK_NAME
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise describe(exc, lock) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(errno.EBUSY, f"run folder {str(self.path)!r} is in use by another process "
                                 f"(pid {holder}); wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def _check(self, resume: bool, overwrite: bool, need_bytes: int) -> None:
        self.removed_temp_files = clean_temp_files(self.path)
        present = sorted(p.name for p in self.path.iterdir() if p.name != LOCK_NAME)
        if present and not (resume or overwrite):
            shown = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
            raise RunFolderError(errno.EEXIST, f"run folder {str(self.path)!r} is not empty ({shown}); "
                                 "pass --resume to continue its run, --overwrite to replace it, or "
                                 "choose another --out")
        probe = self.path / ".write-test"
        try:
            with _atomic_file(probe) as f:
                f.write(b"x" * 4096)
            probe.unlink()
        except OSError as exc:
            raise describe(exc, self.path) from None
        free = shutil.disk_usage(self.path).free
        if free < need_bytes:
            raise RunFolderError(errno.ENOSPC, f"cannot write {str(self.path)!r}: {free / 2**20:.1f} MiB free, "
                                 f"the run needs about {need_bytes / 2**20:.1f} MiB (checkpoints and "
                                 "plots); free some space or choose another --out")
        if overwrite:
            for name in RUN_FILES:
                p = self.path / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()

    def close(self) -> None:
        """Release the lock (the lock file stays; it is empty of meaning without the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_resume(saved: dict, requested: dict, *, free=("steps", "gan_lr", "mmd_lr"),
                 lowerable=("lr",)) -> dict:
    """The resume rule: a resumed run must be the run in the checkpoint. ``saved`` and
    ``requested`` are run configs; keys in ``free`` may differ, keys in ``lowerable`` may only
    go down (a lower learning rate after a divergence), anything else that differs (model,
    data, sizes, seed, ...) raises ValueError naming the key. Returns the lowered keys as
    ``{key: (saved, requested)}``."""
    lowered = {}
    for key in sorted(requested, key=lambda k: (k not in ("model", "data"), k)):
        value = requested[key]
        if key in free or key not in saved or saved[key] == value:
            continue
        if key in lowerable and isinstance(value, (int, float)) and isinstance(saved[key], (int, float)):
            if value < saved[key]:
                lowered[key] = (saved[key], value)
                continue
            raise ValueError(f"--resume: --{key} may only lower the checkpoint's {key}={saved[key]!r}, "
                             f"got {value!r}")
        raise ValueError(f"--resume: the checkpoint was trained with {key}={saved[key]!r}, this run asks "
                         f"for {key}={value!r}; resume with the same settings (only --steps may change, "
                         "and --lr may go down)")
    return lowered

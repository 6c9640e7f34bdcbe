"""Image folders as data sets: decode with Pillow, resize and centre-crop, scale to [-1, 1].

Two forms share one decoder (:func:`read_image`), so they give bit-identical pixels:

- :func:`load_image_folder` decodes every file once and holds the set in memory (a
  :class:`fastgan.data.TensorDataset`);
- :class:`StreamingImageDataset` keeps only the file list and reads the files of each batch
  through a ``torch.utils.data.DataLoader`` (worker processes, pinned memory for CUDA), for
  folders larger than memory.

Both draw a batch the same way (n uniforms u from the fastgan Generator, index floor(u·N) into
the sorted file list), so for the same generator state they return the same batch.
"""
from __future__ import annotations

import math
import pathlib
import warnings

import torch

from .. import random as _random
from ..data import Dataset, TensorDataset, _check_n

__all__ = ["IMAGE_SUFFIXES", "UnreadableImagesWarning", "list_images", "read_image",
           "load_image_folder", "ImageFiles", "StreamingImageDataset"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm",
                  ".pgm")

# how many names a report of unreadable files spells out
_SHOW = 5


class UnreadableImagesWarning(UserWarning):
    """Some files of an image folder could not be decoded and were skipped."""


def _check_image_size(image_size) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise TypeError(f"image_size must be an int, got {type(image_size).__name__}")
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    return image_size


def _check_channels(channels) -> int:
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    return channels


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("image folders need Pillow: pip install 'fastgan[train]'") from exc
    return Image


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for a file it cannot decode (a huge image's DecompressionBombError
    is no OSError)."""
    return (OSError, ValueError, SyntaxError, _pil().DecompressionBombError)


def list_images(root) -> list[pathlib.Path]:
    """Image files under ``root`` (recursively, by suffix, case-insensitive), sorted by their
    path relative to ``root`` so that the order, and with it every drawn batch, is the same on
    every file system."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {str(root)!r}")
    files = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def read_image(path, image_size: int = 32, channels: int = 3) -> torch.Tensor:
    """Decode one image file to a (channels, image_size, image_size) float32 tensor in [-1, 1].

    The shorter side is resized to ``image_size`` (bicubic, antialiased), the centre square
    cropped, then the 8-bit values v become v / 127.5 − 1. ``channels=1`` converts to
    grayscale (Pillow's ITU-R 601 luma), ``3`` to RGB; transparency is dropped.
    The EXIF orientation of photos is applied first. Raises ``OSError`` / ``ValueError``
    (Pillow's) if the file cannot be decoded.

    >>> x = read_image("cat.png", image_size=64)   # doctest: +SKIP
    """
    image_size = _check_image_size(image_size)
    channels = _check_channels(channels)
    Image = _pil()
    from PIL import ImageOps

    with Image.open(path) as img:
        img.load()
        # photos store their rotation in EXIF; apply it so the crop is of the upright picture
        img = ImageOps.exif_transpose(img)
        if img.mode in ("P", "PA", "LA") or "transparency" in img.info:
            img = img.convert("RGBA")  # palette transparency only converts cleanly through RGBA
        img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    scale = image_size / min(w, h)
    # the shorter side becomes exactly image_size; the longer one at least that
    new_w = max(image_size, round(w * scale))
    new_h = max(image_size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
    img = img.crop((left, top, left + image_size, top + image_size))
    raw = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    x = raw.view(image_size, image_size, channels).permute(2, 0, 1).float()
    return x / 127.5 - 1.0


def _report(bad: list[tuple[pathlib.Path, Exception]], total: int, root) -> None:
    names = ", ".join(str(p) for p, _ in bad[:_SHOW]) + (", ..." if len(bad) > _SHOW else "")
    warnings.warn(f"{len(bad)} of {total} image files under {str(root)!r} could not be read and "
                  f"were skipped: {names}", UnreadableImagesWarning, stacklevel=3)


def _no_files(root) -> ValueError:
    return ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {str(root)!r}")


def _none_readable(bad, root) -> ValueError:
    p, exc = bad[0]
    return ValueError(f"none of the {len(bad)} image files under {str(root)!r} could be read "
                      f"(the first, {str(p)!r}: {exc})")


def load_image_folder(root, *, image_size: int = 32, channels: int = 3, strict: bool = False,
                      name: str | None = None) -> TensorDataset:
    """Every image under ``root`` decoded into memory: a :class:`fastgan.data.TensorDataset`
    of flat (N, channels·image_size²) float32 rows in [-1, 1] with
    ``image_shape = (channels, image_size, image_size)``.

    Files are found recursively by suffix (:data:`IMAGE_SUFFIXES`) and decoded by
    :func:`read_image`. A file that cannot be decoded is skipped, and one
    :class:`UnreadableImagesWarning` gives the count and the first few names; with
    ``strict=True`` the first such file raises ``ValueError`` instead. An empty folder, or one
    where no file can be read, raises ``ValueError``.

    >>> data = load_image_folder("my_images", image_size=32)   # doctest: +SKIP
    >>> x = data.sample(64, generator=fastgan.Generator(0))    # (64, 3072)
    """
    image_size = _check_image_size(image_size)
    channels = _check_channels(channels)
    files = list_images(root)
    if not files:
        raise _no_files(root)
    rows, bad = [], []
    for p in files:
        try:
            rows.append(read_image(p, image_size, channels).reshape(-1))
        except _decode_errors() as exc:
            if strict:
                raise ValueError(f"cannot read image {str(p)!r}: {exc}") from exc
            bad.append((p, exc))
    if not rows:
        raise _none_readable(bad, root)
    if bad:
        _report(bad, len(files), root)
    return TensorDataset(torch.stack(rows), name=name or pathlib.Path(root).name,
                         image_shape=(channels, image_size, image_size))


class ImageFiles(torch.utils.data.Dataset):
    """A ``torch.utils.data.Dataset`` of image files: item i is :func:`read_image` of the
    i-th file, a (channels, image_size, image_size) float32 tensor in [-1, 1].

    Construction lists the folder and opens every file's header (cheap: no pixels are
    decoded) to drop the files Pillow cannot identify, reporting them as
    :func:`load_image_folder` does; a file whose header reads but whose pixel data is broken
    raises ``ValueError`` naming it when it is loaded.
    """

    def __init__(self, root, *, image_size: int = 32, channels: int = 3, strict: bool = False):
        self.root = pathlib.Path(root)
        self.image_size = _check_image_size(image_size)
        self.channels = _check_channels(channels)
        files = list_images(self.root)
        if not files:
            raise _no_files(self.root)
        Image = _pil()
        good, bad = [], []
        for p in files:
            try:
                with Image.open(p):
                    pass
                good.append(p)
            except _decode_errors() as exc:
                if strict:
                    raise ValueError(f"cannot read image {str(p)!r}: {exc}") from exc
                bad.append((p, exc))
        if not good:
            raise _none_readable(bad, self.root)
        if bad:
            _report(bad, len(files), self.root)
        self.files = good

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        p = self.files[i]
        try:
            return read_image(p, self.image_size, self.channels)
        except _decode_errors() as exc:
            raise ValueError(f"cannot read image {str(p)!r}: {exc}") from exc


class _Batches:
    """A batch sampler whose index list the caller replaces before each pass: the DataLoader
    (and its persistent workers) is made once, the indices come from the fastgan Generator."""

    def __init__(self):
        self.chunks: list[list[int]] = []

    def __iter__(self):
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class StreamingImageDataset(Dataset):
    """An image folder read batch by batch from disk, for folders larger than memory.

    ``sample(n, generator=, device=)`` draws the batch's indices exactly as
    :class:`fastgan.data.TensorDataset` does (n uniforms u, index floor(u·N) into the sorted
    file list), then loads those files through a ``torch.utils.data.DataLoader`` over
    :class:`ImageFiles`: the batch is split into ``num_workers`` parts decoded in parallel by
    persistent worker processes (0: in this process; ``mp_context`` chooses how they start,
    the platform's default when None), pinned when the batch goes to CUDA. So
    the batches equal :func:`load_image_folder`'s for the same generator state, and a resumed
    run reads the same files in the same order. Returns flat (n, channels·image_size²) float32
    rows; ``image_shape = (channels, image_size, image_size)``.

    ``held_out(n)`` loads a fixed set of files (evenly spaced through the sorted list;
    ``n`` defaults to min(N, 1000)) and keeps it in memory.

    >>> data = StreamingImageDataset("huge_folder", image_size=64, num_workers=4)  # doctest: +SKIP
    >>> x = data.sample(256, generator=fastgan.Generator(0), device="cuda")
    """

    def __init__(self, root, *, image_size: int = 32, channels: int = 3, strict: bool = False,
                 num_workers: int = 0, mp_context: str | None = None, name: str | None = None):
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        if mp_context not in (None, "fork", "spawn", "forkserver"):
            raise ValueError(f"mp_context must be None, 'fork', 'spawn' or 'forkserver', got "
                             f"{mp_context!r}")
        self.mp_context = mp_context
        self.files = ImageFiles(root, image_size=image_size, channels=channels, strict=strict)
        self.num_workers = num_workers
        self.image_shape = (self.files.channels, self.files.image_size, self.files.image_size)
        self.dim = math.prod(self.image_shape)
        self.name = name or self.files.root.name
        self._loaders: dict[bool, tuple[torch.utils.data.DataLoader, _Batches]] = {}
        self._held: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.files)

    def _loader(self, pin: bool):
        if pin not in self._loaders:
            batches = _Batches()
            loader = torch.utils.data.DataLoader(
                self.files, batch_sampler=batches, num_workers=self.num_workers, pin_memory=pin,
                persistent_workers=self.num_workers > 0,
                multiprocessing_context=self.mp_context if self.num_workers > 0 else None)
            self._loaders[pin] = (loader, batches)
        return self._loaders[pin]

    def _load(self, idx: list[int], device) -> torch.Tensor:
        device = torch.device("cpu") if device is None else torch.device(device)
        loader, batches = self._loader(device.type == "cuda")
        parts = max(1, min(self.num_workers, len(idx)))
        step = -(-len(idx) // parts)
        batches.chunks = [idx[i:i + step] for i in range(0, len(idx), step)]
        chunks = [b.reshape(b.shape[0], -1) for b in loader]
        if len(chunks) == 1:
            out = chunks[0]
        else:
            # a plain cat would drop the pinning: gather the parts into a pinned buffer
            pinned = device.type == "cuda"
            out = torch.empty(len(idx), self.dim, pin_memory=pinned)
            torch.cat(chunks, out=out)
        return out.to(device, non_blocking=out.is_pinned())

    def sample(self, n, *, generator=None, device=None):
        n = _check_n(n)
        if device is None and generator is not None:
            device = generator.device
        if generator is None:  # the default generator TensorDataset.sample would use
            generator = _random.default_generator(device)
        # the uniforms are the same on every device: draw them where the indices are used
        u = _random.rand(n, generator=generator, device="cpu")
        size = len(self.files)
        idx = (u * size).long().clamp_(max=size - 1)
        return self._load(idx.tolist(), device)

    def held_out(self, n=None, *, device=None):
        n = min(len(self.files), 1000) if n is None else min(_check_n(n), len(self.files))
        if n not in self._held:
            idx = torch.linspace(0, len(self.files) - 1, n, dtype=torch.float64).round().long()
            self._held[n] = self._load(idx.tolist(), None)
        return self._held[n] if device is None else self._held[n].to(device)

    def close(self) -> None:
        """Stop the worker processes (they also stop when the object is garbage collected)."""
        self._loaders.clear()

    def __getstate__(self):
        # DataLoaders with live workers cannot be pickled; a copy makes its own
        d = dict(self.__dict__)
        d["_loaders"], d["_held"] = {}, {}
        return d

    def __repr__(self) -> str:
        return (f"fastgan.datasets.StreamingImageDataset(root={str(self.files.root)!r}, "
                f"files={len(self.files)}, image_shape={self.image_shape})")

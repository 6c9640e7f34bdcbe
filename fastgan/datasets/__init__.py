"""Data from disk and the procedural image set, as :class:`fastgan.data.Dataset` objects.

:func:`fastgan.data.load` dispatches a path here, so most users never import this package:

- an image folder (PNG, JPEG, WebP, ... through Pillow, searched recursively):
  :func:`load_image_folder` holds it in memory, :class:`StreamingImageDataset` (``stream=True``)
  reads the files of each batch through a ``torch.utils.data.DataLoader``;
- ``.npy`` / ``.npz`` / ``.pt`` arrays of shape (N, D) or (N, C, H, W): :func:`load_array`;
- ``shapes``: procedurally drawn 32×32 RGB images (:func:`shapes`), no download.

Every set returns flat (n, D) float32 rows from ``sample(n, generator=, device=)`` and says its
image layout in ``image_shape`` (C, H, W), so ``x.view(-1, *data.image_shape)`` gives images.
None of them keeps state between draws: the order of samples comes from the
:class:`fastgan.Generator` passed in, so a resumed run draws the same batches.
"""
from __future__ import annotations

import os
import pathlib

from .arrays import ARRAY_SUFFIXES, load_array
from .images import (IMAGE_SUFFIXES, ImageFiles, StreamingImageDataset, UnreadableImagesWarning,
                     list_images, load_image_folder, read_image)
from .shapes import Shapes, shapes

__all__ = ["from_path", "load_image_folder", "StreamingImageDataset", "ImageFiles", "read_image",
           "list_images", "UnreadableImagesWarning", "load_array", "shapes", "Shapes",
           "IMAGE_SUFFIXES", "ARRAY_SUFFIXES"]


def from_path(path, *, stream: bool = False, **kwargs):
    """A data set from a path: a folder of images, or a ``.npy`` / ``.npz`` / ``.pt`` file.

    Folders go to :func:`load_image_folder` (or :class:`StreamingImageDataset` with
    ``stream=True``), files to :func:`load_array`; keyword arguments go to them
    (``image_size=``, ``channels=``, ``strict=``, ``num_workers=`` for folders; ``key=`` for
    ``.npz`` and dicts saved in ``.pt`` files).

    >>> data = from_path("my_images/", image_size=32, channels=3)    # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = pathlib.Path(path)
    if p.is_dir():
        return StreamingImageDataset(p, **kwargs) if stream else load_image_folder(p, **kwargs)
    if stream:
        raise ValueError(f"stream=True needs an image folder, got the file {str(p)!r}")
    if p.is_file():
        if p.suffix.lower() in ARRAY_SUFFIXES:
            return load_array(p, **kwargs)
        raise ValueError(f"cannot load {str(p)!r}: expected an image folder or a file ending in "
                         f"{', '.join(ARRAY_SUFFIXES)}")
    raise FileNotFoundError(f"no such file or folder: {str(p)!r}")

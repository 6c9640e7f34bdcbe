"""Arrays saved to disk (``.npy``, ``.npz``, ``.pt``) as in-memory data sets."""
from __future__ import annotations

import math
import pathlib

import torch

from ..data import TensorDataset

__all__ = ["ARRAY_SUFFIXES", "load_array"]

ARRAY_SUFFIXES = (".npy", ".npz", ".pt", ".pth")

_REAL = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
         torch.int16, torch.int32, torch.int64)


def _pick(arrays: dict, key, path) -> object:
    names = sorted(arrays)
    if key is None:
        if len(names) != 1:
            raise ValueError(f"{str(path)!r} holds {len(names)} arrays ({', '.join(names) or 'none'}): "
                             f"choose one with key=")
        key = names[0]
    if key not in arrays:
        raise KeyError(f"{str(path)!r} has no array {key!r}; it holds: {', '.join(names)}")
    return arrays[key]


def _read(path: pathlib.Path, key):
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        import numpy as np

        try:
            loaded = np.load(path, allow_pickle=False)
        except ValueError as exc:  # object arrays need pickle, which could run code
            raise ValueError(f"cannot read {str(path)!r} without pickle (object arrays are not "
                             f"supported): {exc}") from exc
        if suffix == ".npz":
            with loaded:
                array = _pick({k: loaded[k] for k in loaded.files}, key, path)
        else:
            if key is not None:
                raise ValueError(f"key= is only for .npz files and dicts in .pt files, got key={key!r} "
                                 f"for {str(path)!r}")
            array = loaded
        if array.dtype.kind not in "fiu":
            raise TypeError(f"{str(path)!r} holds {array.dtype} values; expected real numbers "
                            f"(floating point or integer)")
        return torch.from_numpy(np.ascontiguousarray(array))
    # weights_only: a .pt file is data here, and unpickling arbitrary objects could run code
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict):
        obj = _pick(obj, key, path)
    elif key is not None:
        raise ValueError(f"key= needs a dict of tensors, but {str(path)!r} holds a "
                         f"{type(obj).__name__}")
    if not isinstance(obj, torch.Tensor):
        raise TypeError(f"{str(path)!r} holds a {type(obj).__name__}; expected a tensor")
    return obj


def load_array(path, *, key: str | None = None, name: str | None = None) -> TensorDataset:
    """An array file as a :class:`fastgan.data.TensorDataset` of flat float32 rows.

    ``.npy`` (one array), ``.npz`` (``key=`` names the array when there are several; the error
    lists them), ``.pt`` / ``.pth`` (a tensor, or a dict of tensors with ``key=``; read with
    ``weights_only=True``). Shape (N, D) gives D features per sample; (N, C, H, W) gives
    images, flattened to (N, C·H·W) rows with ``image_shape = (C, H, W)``. Values are used as
    they are (an image folder is scaled to [-1, 1]; scale arrays yourself to match the model's
    output). Raises ``ValueError`` for another shape, an empty array or a non-finite value (it
    names the first bad row), ``TypeError`` for a non-real dtype.

    >>> data = load_array("samples.npz", key="train")   # doctest: +SKIP
    """
    path = pathlib.Path(path)
    if path.suffix.lower() not in ARRAY_SUFFIXES:
        raise ValueError(f"{str(path)!r}: expected a file ending in {', '.join(ARRAY_SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    x = _read(path, key)
    if x.dtype not in _REAL:
        raise TypeError(f"{str(path)!r} holds {x.dtype} values; expected real numbers "
                        f"(floating point or integer)")
    if x.dim() not in (2, 4) or x.shape[0] < 1 or math.prod(x.shape[1:]) < 1:
        hint = "; add a channel axis for grayscale images: (N, 1, H, W)" if x.dim() == 3 else ""
        raise ValueError(f"{str(path)!r} holds an array of shape {tuple(x.shape)}; expected "
                         f"(N, D) samples or (N, C, H, W) images with N >= 1{hint}")
    image_shape = tuple(int(s) for s in x.shape[1:]) if x.dim() == 4 else None
    # checked after the cast: a float64 value past float32's range becomes inf in training
    rows = x.reshape(x.shape[0], -1).float()
    if x.is_floating_point():
        bad = ~torch.isfinite(rows).all(1)
        if bool(bad.any()):
            raise ValueError(f"{str(path)!r}: row {int(bad.nonzero()[0, 0])} is not finite "
                             f"(NaN or inf)")
    return TensorDataset(rows, name=name or path.stem, image_shape=image_shape)

"""Input checks shared by the ops (errors name the arguments)."""
from __future__ import annotations

import torch


def same_dtype_and_device(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """TypeError unless a and b share a dtype; ValueError unless they share a device."""
    if a.dtype != b.dtype:
        raise TypeError(f"{names[0]} and {names[1]} must have the same dtype, got {a.dtype} and "
                        f"{b.dtype}")
    if a.device != b.device:
        raise ValueError(f"{names[0]} and {names[1]} must be on the same device, got {a.device} "
                         f"and {b.device}")

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


def reject_meta(t: torch.Tensor, name: str) -> None:
    """ValueError if ``t`` is a meta tensor: the samplers and the RNG read or write real data,
    which a meta tensor (shape and dtype only) does not have."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is a meta tensor; meta tensors are not supported here "
                         "(the op needs data on the CPU or a CUDA device)")

"""Integer codes shared by the ops, the launchers and the Triton kernels.

Each family of codes is one ``IntEnum`` here. The Python side passes ``int(Code.NAME)`` as a
``tl.constexpr`` argument; the kernels compare against module-level ``tl.constexpr`` copies
built from these same enums (Triton only reads ``tl.constexpr`` globals inside ``@triton.jit``
code), so a code is written once, in this file.
"""
from __future__ import annotations

import enum


class MMDKernel(enum.IntEnum):
    """The kernel k of the MMD ops (``kernel=`` names are the lower-case member names)."""

    GAUSSIAN = 0
    LAPLACIAN = 1
    IMQ = 2
    POLYNOMIAL = 3
    ENERGY = 4

    @classmethod
    def from_name(cls, name: str) -> "MMDKernel":
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class Estimator(enum.IntEnum):
    """MMD² estimators: the U-statistic (diagonals left out) and the V-statistic."""

    UNBIASED = 0
    BIASED = 1

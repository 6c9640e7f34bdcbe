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


class SamplerFamily(enum.IntEnum):
    """The parametric families of the inverse-CDF sampler kernel (``fastgan.sample``).

    Each reads its own columns of the float64 parameter rows (``fastgan.ops.sample.FAMILIES``).
    """

    UNIFORM = 0
    EXPONENTIAL = 1
    LAPLACE = 2
    LOGISTIC = 3
    CAUCHY = 4
    NORMAL = 5  # the (truncated) normal: mean, std, a, b and the derived row constants

    @classmethod
    def from_name(cls, name: str) -> "SamplerFamily":
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class TabulatedMode(enum.IntEnum):
    """What the tabulated sampler kernel writes for the bin it finds."""

    CATEGORICAL = 0  # the bin index (int64)
    INVERSE_CDF = 1  # the piecewise-linear inverse of the tabulated CDF (float)


class FillKind(enum.IntEnum):
    """What the Philox fill writes (the same codes as the C++ extension's ``FILL_*``)."""

    BITS = 0  # the raw 32-bit words, as int32 bit patterns
    UNIFORM_F32 = 1  # Triton's uint32 -> float32 map, in [0, 1)
    UNIFORM_F64 = 2  # those float32 uniforms widened exactly
    NORMAL_F32 = 3  # Box-Muller on the float32 uniforms, in float32
    NORMAL_F64 = 4  # Box-Muller in float64 on the same float32 uniforms


class LossPart(enum.IntEnum):
    """The pointwise function f(l) of one part of a fused GAN loss (``fastgan.losses``)."""

    BCE = 0  # softplus(l) - y·l, the BCE-with-logits against a label y
    HINGE_POS = 1  # relu(1 - l): hinge on real logits
    HINGE_NEG = 2  # relu(1 + l): hinge on fake logits
    LINEAR = 3  # l: Wasserstein critics and the hinge generator

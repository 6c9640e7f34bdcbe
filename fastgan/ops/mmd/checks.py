"""Input checks of the MMD ops and the host-side kernel constants.

Everything the public functions validate (shapes, dtypes, the kernel and its parameters,
the bandwidths) is checked here once, with errors that name the argument; :func:`resolve`
turns validated arguments into the :class:`KernelSpec` the backends run.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import NamedTuple, Sequence

import torch

from ..._checks import same_dtype_and_device
from ..._codes import Estimator, MMDKernel
from . import config as _config

__all__ = ["KERNELS", "ESTIMATORS", "PRECISIONS", "KernelSpec", "check_pair", "check_kernel",
           "check_estimator", "sigma_list", "median_bandwidth", "square_mask", "kernel_consts",
           "resolve"]

# public names -> codes (kernels/mmd.py compares against the same MMDKernel values)
KERNELS = {k.label: int(k) for k in MMDKernel}
ESTIMATORS = tuple(e.name.lower() for e in Estimator)
PRECISIONS = ("tf32", "ieee")
BANDWIDTH_KERNELS = (MMDKernel.GAUSSIAN, MMDKernel.LAPLACIAN, MMDKernel.IMQ)
FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
LOG2E = 1.4426950408889634
# each squaring doubles the relative rounding error of the exp2 result: at most 8
# (σ_max/σ ≤ 16, error ≤ 2^9 ulp of the smallest term, below fp32's sum rounding)
MAX_SQUARINGS = 8


class KernelSpec(NamedTuple):
    """A validated kernel: its code, one float64 constant per σ (:func:`kernel_consts`),
    the polynomial's degree, γ and coef, and the gaussian squaring mask."""

    kernel: MMDKernel
    consts: torch.Tensor
    degree: int
    gamma: float
    coef: float
    square_mask: int


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_pair(x, y, names=("x", "y"), min_rows=(1, 1)):
    """Two (rows, D) float tensors with the same D, dtype and device, and enough rows."""
    for t, name in zip((x, y), names):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(t.shape)}")
        if t.dtype not in FLOATS:
            raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {t.dtype}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of features D, got "
                         f"{names[0]}: {tuple(x.shape)} and {names[1]}: {tuple(y.shape)}")
    if x.shape[1] < 1:
        raise ValueError(f"{names[0]} and {names[1]} need at least one feature (D >= 1)")
    same_dtype_and_device(x, y, names)
    if x.device.type == "meta":
        raise ValueError(f"{names[0]} and {names[1]} are meta tensors (no data): fastgan's MMD "
                         f"needs CPU or CUDA tensors")
    for t, name, k in zip((x, y), names, min_rows):
        if t.shape[0] < k:
            raise ValueError(f"{name} needs at least {k} sample(s) here, got {t.shape[0]}")


def check_estimator(estimator) -> bool:
    """True for the unbiased estimator, False for the biased one (else a ValueError)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    return estimator == "unbiased"


def check_kernel(kernel, degree, gamma, coef, precision) -> MMDKernel:
    """The kernel's code after checking the polynomial's parameters and the precision
    (all are checked whatever the kernel, so a bad value never passes silently)."""
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {tuple(KERNELS)}")
    if not _is_int(degree) or degree < 1:
        raise ValueError(f"degree must be an int >= 1, got {degree!r}")
    if gamma is not None and (not _is_real(gamma) or not math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite float or None, got {gamma!r}")
    if not _is_real(coef) or not math.isfinite(coef):
        raise ValueError(f"coef must be a finite float, got {coef!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return MMDKernel.from_name(kernel)


def sigma_list(bandwidth, allow_median: bool):
    """Concrete σ values as floats, or None for "median" (numpy scalars are accepted)."""
    if isinstance(bandwidth, str):
        if bandwidth == "median" and allow_median:
            return None
        extra = ' or "median"' if allow_median else ""
        raise ValueError(f"bandwidth must be a positive float, a sequence of them{extra}, "
                         f"got {bandwidth!r}")
    if isinstance(bandwidth, torch.Tensor):
        bandwidth = bandwidth.detach().reshape(-1).tolist()  # host sync; "median" avoids it
    elif hasattr(bandwidth, "ndim") and hasattr(bandwidth, "tolist"):  # numpy arrays
        bandwidth = bandwidth.tolist()
    if _is_real(bandwidth):
        sig = [float(bandwidth)]
    elif isinstance(bandwidth, Sequence) and len(bandwidth) > 0 and all(
            _is_real(b) for b in bandwidth):
        sig = [float(b) for b in bandwidth]
    else:
        raise ValueError(f"bandwidth must be a positive float or a non-empty sequence of them, "
                         f"got {bandwidth!r}")
    for s in sig:
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"bandwidth σ must be positive and finite, got {s!r}")
    return sig


def median_bandwidth(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The median heuristic σ used by ``bandwidth="median"`` (no gradient, no host sync).

    σ = median Euclidean distance between distinct points of the pooled sample Z = [x; y]
    (Gretton et al., 2012; the lower median of the P(P−1)/2 pairs), clamped below at 1e-12.
    For P > 4096 rows (``LaunchConfig.median_cap``), the deterministic subsample
    ``Z[linspace(0, P − 1, 4096).long()]`` is used (O(4096²) memory). x: (N, D), y: (M, D),
    any float dtype. Returns a 0-d float32 (float64 for float64 inputs) tensor.

    >>> sigma = fastgan.ops.mmd.median_bandwidth(torch.randn(100, 3), torch.randn(80, 3))
    """
    from ...reference.mmd import median_bandwidth as _median

    return _median(x, y, max_points=_config.current().median_cap)


def square_mask(kernel, sigmas) -> int:
    """Bit e set for each σ with σ_max²/σ² = 2^e (gaussian mixtures such as σ = 1, 2, 4, 8):
    the kernel then takes one exp2 and squarings. 0 when the σ do not fit (or a single σ)."""
    if kernel not in (MMDKernel.GAUSSIAN, "gaussian") or isinstance(sigmas, torch.Tensor) \
            or len(sigmas) < 2:
        return 0
    top = max(sigmas)
    mask = 0
    for s in sigmas:
        r = math.log2(top * top / (s * s))
        e = round(r)
        if abs(r - e) > 1e-9 or e > MAX_SQUARINGS or mask >> e & 1:
            return 0
        mask |= 1 << e
    return mask


def kernel_consts(kernel, sigmas, device) -> torch.Tensor:
    """One float64 constant per σ, the scale the kernels multiply d (or √d) by
    (kernels/mmd.py ``_transform``): −log2(e)/(2σ²) gaussian, −log2(e)/σ laplacian, 1/(2σ²)
    imq, σ_max first. Numbers are cached per device: building the tensor from host floats
    is a copy that synchronises a GPU stream, once per call otherwise. Not cached under
    torch.compile's tracing (a fake tensor must not outlive it) or for tensor σ."""
    kernel = MMDKernel(kernel) if not isinstance(kernel, str) else MMDKernel.from_name(kernel)
    if not isinstance(sigmas, torch.Tensor) and not torch.compiler.is_compiling():
        key = None if sigmas is None else tuple(float(v) for v in sigmas)
        return _consts_cached(kernel, key, str(torch.device(device)))
    return _consts_build(kernel, sigmas, device)


@functools.lru_cache(maxsize=256)
def _consts_cached(kernel: MMDKernel, sigmas, device: str) -> torch.Tensor:
    return _consts_build(kernel, sigmas, device)


def _consts_build(kernel: MMDKernel, sigmas, device) -> torch.Tensor:
    if kernel not in BANDWIDTH_KERNELS:
        return torch.zeros(1, dtype=torch.float64, device=device)
    if not isinstance(sigmas, torch.Tensor):
        sigmas = sorted(sigmas, reverse=True)  # σ_max first: the base of the squarings
    s = sigmas if isinstance(sigmas, torch.Tensor) else torch.tensor(
        sigmas, dtype=torch.float64, device=device)
    s = s.to(device=device, dtype=torch.float64).reshape(-1)
    if kernel == MMDKernel.GAUSSIAN:
        return -LOG2E / (2.0 * s * s)
    if kernel == MMDKernel.LAPLACIAN:
        return -LOG2E / s
    return 1.0 / (2.0 * s * s)


def resolve(x, kernel, bandwidth, degree, gamma, coef, precision, allow_median,
            y=None) -> KernelSpec:
    """Validate the kernel arguments and build the :class:`KernelSpec` for features of x.

    The bandwidth is validated for every kernel (a bad value is never silently ignored),
    and used by gaussian, laplacian and imq. ``"median"`` needs y (the pooled sample)."""
    code = check_kernel(kernel, degree, gamma, coef, precision)
    sig = sigma_list(bandwidth, allow_median)
    if code not in BANDWIDTH_KERNELS:
        sig = [1.0]
    elif sig is None:
        sig = median_bandwidth(x, y).reshape(1)
    consts = kernel_consts(code, sig, x.device)
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return KernelSpec(code, consts, int(degree), g, float(coef), square_mask(code, sig))

"""Kernel MMD: input checks, the Triton launcher, the chunked PyTorch path, autograd, and the
public functions :func:`mmd`, :func:`kernel_sums` and :func:`pair_sum`.

Both backends compute the same thing: with Z = [X; Y] centred by its mean, per-row kernel
sums over the X columns and over the Y columns, and optionally the gradient of the weighted
sum L = Σ_p Σ_q ω(p, q) k(z_p, z_q) in the same pass (kernels/mmd.py derives it). Row sums are
added in float64 on the host, in a fixed order, so results are deterministic.
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import torch

from .. import _backend
from .._backend import cdiv, next_pow2
from .._checks import same_dtype_and_device

__all__ = ["mmd", "kernel_sums", "pair_sum", "median_bandwidth", "KERNELS", "ESTIMATORS"]

KERNELS = {"gaussian": 0, "laplacian": 1, "imq": 2, "polynomial": 3, "energy": 4}
ESTIMATORS = ("unbiased", "biased")
PRECISIONS = ("tf32", "ieee")
_POLY = 3
_BANDWIDTH_KERNELS = ("gaussian", "laplacian", "imq")
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_MEDIAN_CAP = 4096
# elements per (rows × columns) temporary of the PyTorch path; a few of these live at once
# (distances, kernel, gradient weights, one per-σ term), 1 MiB each in float32, so they stay
# in cache. Problems with (N + M)² <= this run as one chunk per sample. Measured on one
# EPYC thread: 2^20 and 2^22 were slower than 2^18 at N = M >= 2048 (cache misses), and no
# faster below.
_TORCH_BUDGET = 1 << 18


# ----------------------------------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------------------------------
def _check_pair(x, y, names=("x", "y"), min_rows=(1, 1)):
    for t, name in zip((x, y), names):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(t.shape)}")
        if t.dtype not in _FLOATS:
            raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {t.dtype}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of features D, got "
                         f"{names[0]}: {tuple(x.shape)} and {names[1]}: {tuple(y.shape)}")
    if x.shape[1] < 1:
        raise ValueError(f"{names[0]} and {names[1]} need at least one feature (D >= 1)")
    same_dtype_and_device(x, y, names)
    for t, name, k in zip((x, y), names, min_rows):
        if t.shape[0] < k:
            raise ValueError(f"{name} needs at least {k} sample(s) here, got {t.shape[0]}")


def _check_kernel(kernel, degree, gamma, coef, precision):
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {tuple(KERNELS)}")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ValueError(f"degree must be an int >= 1, got {degree!r}")
    if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float))
                              or not math.isfinite(gamma)):
        raise ValueError(f"gamma must be a finite float or None, got {gamma!r}")
    if isinstance(coef, bool) or not isinstance(coef, (int, float)) or not math.isfinite(coef):
        raise ValueError(f"coef must be a finite float, got {coef!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def _sigma_list(bandwidth, allow_median: bool):
    """Concrete σ values as floats, or None for "median"."""
    if isinstance(bandwidth, str):
        if bandwidth == "median" and allow_median:
            return None
        extra = ' or "median"' if allow_median else ""
        raise ValueError(f"bandwidth must be a positive float, a sequence of them{extra}, "
                         f"got {bandwidth!r}")
    if isinstance(bandwidth, torch.Tensor):
        bandwidth = bandwidth.detach().reshape(-1).tolist()  # host sync; "median" avoids it
    if isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
        sig = [float(bandwidth)]
    elif isinstance(bandwidth, Sequence) and len(bandwidth) > 0 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) for b in bandwidth):
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
    For P > 4096 rows, the deterministic subsample ``Z[linspace(0, P − 1, 4096).long()]`` is
    used (O(4096²) memory). x: (N, D), y: (M, D), any float dtype. Returns a 0-d float32
    (float64 for float64 inputs) tensor.

    >>> sigma = fastgan.ops.mmd.median_bandwidth(torch.randn(100, 3), torch.randn(80, 3))
    """
    from ..reference.mmd import median_bandwidth as _median

    return _median(x, y, max_points=_MEDIAN_CAP)


_MAX_SQUARINGS = 8


def _square_mask(kernel: str, sigmas) -> int:
    """Bit e set for each σ with σ_max²/σ² = 2^e (gaussian mixtures such as σ = 1, 2, 4, 8):
    the kernel then takes one exp2 and squarings. 0 when the σ do not fit (or a single σ)."""
    if kernel != "gaussian" or isinstance(sigmas, torch.Tensor) or len(sigmas) < 2:
        return 0
    top = max(sigmas)
    mask = 0
    for s in sigmas:
        r = math.log2(top * top / (s * s))
        e = round(r)
        # each squaring doubles the relative rounding error of the exp2 result: at most 8
        # (σ_max/σ ≤ 16, error ≤ 2^9 ulp of the smallest term, below fp32's sum rounding)
        if abs(r - e) > 1e-9 or e > _MAX_SQUARINGS or mask >> e & 1:
            return 0
        mask |= 1 << e
    return mask


def _consts(kernel: str, sigmas, device) -> torch.Tensor:
    """One float64 constant per σ, the scale the kernels multiply d (or √d) by
    (kernels/mmd.py). Numbers are cached per device: building the tensor from host floats
    is a copy that synchronises a GPU stream, once per call otherwise. Not cached under
    torch.compile's tracing (a fake tensor must not outlive it) or for tensor σ."""
    if not isinstance(sigmas, torch.Tensor) and not torch.compiler.is_compiling():
        key = None if sigmas is None else tuple(float(v) for v in sigmas)
        return _consts_cached(kernel, key, str(torch.device(device)))
    return _consts_build(kernel, sigmas, device)


@functools.lru_cache(maxsize=256)
def _consts_cached(kernel: str, sigmas, device: str) -> torch.Tensor:
    return _consts_build(kernel, sigmas, device)


def _consts_build(kernel: str, sigmas, device) -> torch.Tensor:
    if kernel not in _BANDWIDTH_KERNELS:
        return torch.zeros(1, dtype=torch.float64, device=device)
    if not isinstance(sigmas, torch.Tensor):
        sigmas = sorted(sigmas, reverse=True)  # σ_max first: the base of the squarings
    s = sigmas if isinstance(sigmas, torch.Tensor) else torch.tensor(
        sigmas, dtype=torch.float64, device=device)
    s = s.to(device=device, dtype=torch.float64).reshape(-1)
    if kernel == "gaussian":
        return -_LOG2E / (2.0 * s * s)
    if kernel == "laplacian":
        return -_LOG2E / s
    return 1.0 / (2.0 * s * s)


# ----------------------------------------------------------------------------------------------
# the two backends: per-row sums (B, 2, P) and the gradient (P, D)
# ----------------------------------------------------------------------------------------------
def _torch_transform(d, s, cs, kernel, degree, gamma, coef, grad):
    """(k, dk/dd or dk/ds) elementwise, as kernels/mmd.py's _transform; d and s are scratch
    (overwritten)."""
    if kernel == _POLY:
        t = s.mul_(gamma).add_(coef)
        tm1 = t.pow(degree - 1) if degree > 1 else torch.ones_like(t)
        g = tm1 * (degree * gamma) if grad else None
        return tm1.mul_(t), g
    if kernel == 4:  # energy
        r = d.sqrt_()
        g = torch.where(r > 0, r.reciprocal().mul_(-0.5), 0.0) if grad else None
        return r.neg_(), g
    if kernel == 1:
        d = d.sqrt_()  # r = √d
        inv2r = torch.where(d > 0, d.reciprocal().mul_(0.5), 0.0) if grad else None
    k = g = None
    last = len(cs) - 1
    for j, c in enumerate(cs):
        # the last σ reuses d's storage: a single σ costs no extra temporary
        t = d.mul_(c) if j == last else torch.mul(d, c)
        if kernel == 2:  # imq
            kj = t.add_(1.0).rsqrt_()
            gj = kj.pow(3).mul_(-0.5 * c) if grad else None
        else:  # gaussian 2^(c d), laplacian 2^(c √d)
            kj = t.exp2_()
            gj = None
            if grad:
                gj = kj * (c * _LN2)
                if kernel == 1:
                    gj.mul_(inv2r)
        if k is None:
            k, g = kj, gj
        else:
            k.add_(kj)
            if grad:
                g.add_(gj)
    return k, g


def _torch_fused(zc, sq, n, consts, kernel, degree, gamma, coef, weights, exclude_diag,
                 cross_only, compute_grad):
    """Chunked PyTorch over the upper triangle of Z×Z (k and ω are symmetric).

    A row chunk [r0, r1) (never straddling row n) runs against the columns [r0, P) (only
    the Y columns with ``cross_only``; Y chunks then have nothing to do): its own square
    [r0, r1)² is computed whole, and the rectangle [r0, r1) × [r1, P) once, serving both
    its rows and, transposed, the rows r1 .. P − 1: their row sums get the rectangle's
    column sums, their gradient wᵀ·z_rows and their Σ w the column sums of w. Each
    unordered pair is transformed once ((P² + P·chunk)/2 pairs instead of P²), and
    per-row sums and gradients come out exact. One distance block, one transform and two
    row sums serve the X and the Y columns of a chunk at once.

    The chunk height is ``_TORCH_BUDGET // columns`` (at least 1): a few temporaries of at
    most max(_TORCH_BUDGET, columns) elements live at once, O(P·chunk) memory whatever P,
    and a small problem (P² <= _TORCH_BUDGET) runs as one chunk per block of rows.
    """
    p = zc.shape[0]
    wA, wB, wC = weights
    cs = consts.tolist()  # host floats (one sync on CUDA, none on CPU)
    rows = torch.zeros(2, p, dtype=torch.float64, device=zc.device)
    grad = torch.zeros_like(zc) if compute_grad else None
    wcol = torch.zeros(p, dtype=zc.dtype, device=zc.device) if compute_grad else None
    poly = kernel == _POLY
    r0 = 0
    while r0 < p:
        in_x = r0 < n
        if not in_x and cross_only:
            break  # the cross block and its transpose are done
        c_lo = n if cross_only else r0
        width = p - c_lo
        r1 = min(n if in_x else p, r0 + max(1, _TORCH_BUDGET // width))
        zr = zc[r0:r1]
        zcol = zc[c_lo:]
        split = max(0, n - c_lo)  # columns [0, split) of the block are X, the rest Y
        rect = r1 - c_lo if not cross_only else 0  # columns [rect, width) are below the chunk
        d = s = None
        if poly:
            s = zr @ zcol.T
        else:  # d = ‖z_r‖² + ‖z_c‖² − 2⟨z_r, z_c⟩, clamped at 0 (NaN stays NaN)
            d = torch.addmm(sq[None, c_lo:], zr, zcol.T, alpha=-2.0)
            d.add_(sq[r0:r1, None]).clamp_min_(0.0)
            if not cross_only:
                d.diagonal(0).fill_(0.0)  # exactly 0 whatever the dot's rounding
        k, g = _torch_transform(d, s, cs, kernel, degree, gamma, coef, compute_grad)
        if exclude_diag and not cross_only:
            k.diagonal(0).fill_(0.0)
            if g is not None:
                g.diagonal(0).fill_(0.0)
        blk = 0 if in_x else 1  # the rows' block: the rectangle's columns get these sums
        if split > 0:
            rows[0, r0:r1] += k[:, :split].sum(1, dtype=torch.float64)
        if split < width:
            rows[1, r0:r1] += k[:, split:].sum(1, dtype=torch.float64)
        if rect < width:
            rows[blk, c_lo + rect:] += k[:, rect:].sum(0, dtype=torch.float64)
        if g is not None:
            # ω along the columns: the chunk's own block, then (X chunks) the cross block
            if in_x:
                w = g
                w[:, :split].mul_(wA)
                w[:, split:].mul_(wC)
            else:
                w = g.mul_(wB)
            gc = grad[r0:r1]
            gc.addmm_(w, zcol, alpha=2.0 if poly else -4.0)
            if not poly:
                gc.add_(zr * w.sum(1, keepdim=True), alpha=4.0)
            if rect < width:  # the rows below the chunk: wᵀ·z_rows and Σ over the chunk
                wr = w[:, rect:]
                grad[c_lo + rect:].addmm_(wr.T, zr, alpha=2.0 if poly else -4.0)
                if not poly:
                    wcol[c_lo + rect:] += wr.sum(0)
        r0 = r1
    if compute_grad and not poly:
        grad.add_(zc * wcol[:, None], alpha=4.0)
    return rows[None], grad


# The gradient for D > 128 (kernels/mmd.py docstring, "Cost"). "recompute": one fused pass
# per 128 features, each recomputing the Gram block: (ceil(D/128) + 1) Gram-sized GEMMs.
# "gemm" (two-stage): the fused kernel writes w for a chunk of rows (chunk × P in the input
# dtype) and a Triton GEMM multiplies it by Z: 2 Gram-sized GEMMs plus writing and reading w.
# The floors on an H100 (tf32 495 / bf16 989 TFLOP/s, HBM 3.35 TB/s; bench/NOTES.md) cross
# near D = 400 for fp32 and bf16, so "auto" takes the GEMM from D > 384 (4 recomputations).
# Unmeasured on a GPU so far: bench/cases/mmd.py times both (providers fastgan:recompute and
# fastgan:gemm). FASTGAN_MMD_LARGE_D=auto|recompute|gemm picks one for a whole run; _LARGE_D,
# when set, overrides the variable (the bench and the tests set it).
_LARGE_D = None
_LARGE_D_MODES = ("auto", "recompute", "gemm")
_GEMM_MIN_D = 385
_W_BUDGET = 1 << 30          # bytes for one chunk of w
_W_MIN_ROWS = 512            # fewer rows per chunk starve the GEMM: recompute instead
_TARGET_PROGRAMS = None      # column splits fill this many programs (None: 4 per SM on CUDA)


def _two_stage_rows(p: int, d: int, itemsize: int, bm: int) -> int:
    """Rows per chunk of w for the two-stage gradient, or 0 for the recompute path."""
    mode = _LARGE_D if _LARGE_D is not None else _backend.env_choice("FASTGAN_MMD_LARGE_D",
                                                                        _LARGE_D_MODES)
    if mode == "recompute" or (mode == "auto" and d < _GEMM_MIN_D):
        return 0
    rows = min(_W_BUDGET // (p * itemsize), cdiv(p, bm) * bm) // bm * bm
    if rows < min(_W_MIN_ROWS, cdiv(p, bm) * bm):
        return 0
    return rows


# (compute_grad, BLOCK_K or 0 for D > 128) -> (BLOCK_M, BLOCK_N, num_warps, num_stages);
# (False, 0) also serves the two-stage gradient's w pass
_CUDA_BLOCKS = {
    (True, 16): (128, 64, 8, 3), (True, 32): (128, 64, 8, 3), (True, 64): (64, 64, 8, 3),
    (True, 128): (64, 32, 8, 3), (True, 0): (64, 32, 8, 2),
    (False, 16): (128, 128, 8, 3), (False, 32): (128, 128, 8, 3), (False, 64): (128, 64, 8, 3),
    (False, 128): (128, 64, 8, 3), (False, 0): (128, 64, 8, 2),
}
# the two-stage gradient's GEMM (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) by the
# bytes of an operand element: 96 KiB of shared memory for 3 stages either way; no spills
# (ptxas -v, sm_90a, Triton 3.9, with the launcher's stride-1/16-divisible specialisation)
_CUDA_GEMM = {4: (128, 128, 32, 8, 3), 2: (128, 128, 64, 8, 3)}


def _triton_fused(zc, sq, n, consts, kernel, degree, gamma, coef, weights, exclude_diag,
                  cross_only, compute_grad, precision, idx=None, p=None, square_mask=0):
    """Launch kernels/mmd.py. zc (rows, D) in the dot dtype; idx (B, P) gathers rows of zc."""
    d = zc.shape[1]
    p = zc.shape[0] if p is None else p
    batch = 1 if idx is None else idx.shape[0]
    cuda = zc.device.type == "cuda"
    bk = max(16, next_pow2(d))
    single = bk <= 128
    if single:
        bdv = bk if compute_grad else 16
    else:
        bk = 64
        bdv = 128 if compute_grad else 16
    if cuda:
        # no register spills on sm_90 (ptxas -v over these configurations, Triton 3.9)
        bm, bn, warps, stages = _CUDA_BLOCKS[(compute_grad, bk if single else 0)]
    else:  # the interpreter: fewer, larger blocks run faster
        bm, bn, warps, stages = 64, 32, 4, 1  # BLOCK_M != BLOCK_N as on the GPU
    c32 = consts.to(device=zc.device, dtype=torch.float32).contiguous()
    common = dict(KERNEL=kernel, NSIG=c32.numel(), DEGREE=degree, SQUARE_MASK=square_mask,
                  SQUARE_TOP=max(0, square_mask.bit_length() - 1), EXCLUDE_DIAG=exclude_diag,
                  CROSS_ONLY=cross_only, USE_IDX=idx is not None, COMPUTE_GRAD=compute_grad,
                  PRECISION=precision, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, SINGLE_K=single,
                  UPCAST=(not cuda) and zc.dtype == torch.bfloat16, num_warps=warps,
                  num_stages=stages)
    ws = tuple(float(v) for v in weights) + (float(gamma), float(coef))
    with _backend.on_device(zc):
        if compute_grad and not single and idx is None:
            # the w pass has no accumulator: on the GPU the forward's larger tiles fit (no
            # spills, fp32 and bf16)
            w_blocks = _CUDA_BLOCKS[(False, 0)] if cuda else (bm, bn, warps, stages)
            w_size = 4 if zc.dtype == torch.float16 else zc.element_size()
            chunk = _two_stage_rows(p, d, w_size, w_blocks[0])
            if chunk:
                common.update(zip(("BLOCK_M", "BLOCK_N", "num_warps", "num_stages"), w_blocks))
                return _triton_two_stage(zc, sq, n, p, d, c32, ws, chunk, common, cuda)

        from ..kernels.mmd import mmd_fused_kernel

        n_v = cdiv(d, bdv) if compute_grad else 1
        rows = torch.full((batch, 2, p), float("nan"), dtype=torch.float32, device=zc.device)
        if compute_grad:
            grad = torch.full((p, d), float("nan"), dtype=torch.float32, device=zc.device)
        else:
            grad = rows  # never written
        idx_t = idx if idx is not None else rows
        grid = (cdiv(p, bm), n_v, batch)
        mmd_fused_kernel[grid](
            zc, sq, idx_t, c32, rows, grad, rows, rows,
            n, p, d, 0, 1,
            zc.stride(0), zc.stride(1), idx.stride(0) if idx is not None else 0, 2 * p, d, 0,
            *ws, WRITE_W=False, BLOCK_DV=bdv, **common,
        )
    return rows, (grad if compute_grad else None)


def _triton_two_stage(zc, sq, n, p, d, c32, ws, chunk, common, cuda):
    """The gradient for large D in two stages per chunk of rows: w (chunk × P) and the row
    sums from the fused kernel, then grad = 4 (z·Σw − w Z) (2 w Z for the polynomial) by
    mmd_grad_gemm_kernel. Memory: one chunk of w (at most _W_BUDGET bytes)."""
    from ..kernels.mmd import mmd_fused_kernel, mmd_grad_gemm_kernel

    bm, bn = common["BLOCK_M"], common["BLOCK_N"]
    tiles = chunk // bm
    target = _TARGET_PROGRAMS
    if target is None:
        target = 4 * torch.cuda.get_device_properties(zc.device).multi_processor_count \
            if cuda else 1
    n_split = max(1, min(cdiv(p, bn), cdiv(target, min(tiles, cdiv(p, bm)))))
    rows = torch.full((n_split, 2, p), float("nan"), dtype=torch.float32, device=zc.device)
    wsum = torch.full((n_split, p), float("nan"), dtype=torch.float32, device=zc.device)
    wtot = torch.full((p,), float("nan"), dtype=torch.float32, device=zc.device) \
        if n_split > 1 else None
    grad = torch.full((p, d), float("nan"), dtype=torch.float32, device=zc.device)
    # w in the rows' dtype (fp32 for fp16 rows: kernels/mmd.py _w_operand)
    w_dtype = torch.float32 if zc.dtype == torch.float16 else zc.dtype
    w = torch.empty((chunk, p), dtype=w_dtype, device=zc.device)
    if cuda:
        gbm, gbn, gbk, gwarps, gstages = _CUDA_GEMM[w.element_size()]
    else:
        gbm, gbn, gbk, gwarps, gstages = 32, 64, 32, 4, 1
    poly = common["KERNEL"] == _POLY
    for r0 in range(0, p, chunk):
        r = min(chunk, p - r0)
        if common["CROSS_ONLY"]:  # columns a row never visits (its own block) read as w = 0
            w.zero_()
        mmd_fused_kernel[(cdiv(r, bm), n_split, 1)](
            zc, sq, rows, c32, rows, grad, w, wsum,
            n, p, d, r0 // bm, n_split,
            zc.stride(0), zc.stride(1), 0, 2 * p, d, w.stride(0),
            *ws, WRITE_W=True, BLOCK_DV=16, **common,
        )
        if n_split == 1:
            wsum_r = wsum[0]
        else:  # the column spans' partial Σ w of this chunk's rows, in a fixed order
            wsum_r = wtot
            torch.sum(wsum[:, r0:r0 + r], 0, out=wtot[r0:r0 + r])
        mmd_grad_gemm_kernel[(cdiv(r, gbm) * cdiv(d, gbn),)](
            w, zc, wsum_r, grad,
            r0, r, p, d,
            w.stride(0), zc.stride(0), zc.stride(1), d,
            POLY=poly, PRECISION=common["PRECISION"],
            BLOCK_M=gbm, BLOCK_N=gbn, BLOCK_K=gbk, GROUP_M=8, UPCAST=common["UPCAST"],
            num_warps=gwarps, num_stages=gstages,
        )
    # partial row sums of the column spans, added in a fixed order
    rows = rows.sum(0, keepdim=True, dtype=torch.float64) if n_split > 1 else rows
    return rows, grad


def _prepare(x, y, kernel, use_triton):
    """Z = [x; y] centred by its mean (distance kernels) in the compute dtype, and ‖z_p‖²."""
    if use_triton:
        dot_dtype = x.dtype if x.dtype in (torch.float16, torch.bfloat16) else torch.float32
        acc_dtype = torch.float32
    else:
        dot_dtype = acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    z = torch.cat([x.detach(), y.detach()]).to(acc_dtype)
    if kernel != _POLY:
        z = z - z.mean(0)
    zc = z.to(dot_dtype).contiguous()
    zf = zc.to(acc_dtype)
    sq = (zf * zf).sum(1).contiguous()
    return zc, sq


def _saved_dtype(dtype: torch.dtype) -> torch.dtype:
    # The gradient is computed in the forward pass and multiplied by grad_output in backward:
    # fp16 gradients stay fp32 until then, so a GradScaler's 2^16 (or any grad_output) meets
    # them unrounded; an fp16 MMD gradient (≈ 1/N² per pair) would otherwise flush to 0.
    return torch.float32 if dtype == torch.float16 else dtype


def _fused(x, y, consts, kernel, degree, gamma, coef, wA, wB, wC, exclude_diag, cross_only,
           compute_grad, precision, square_mask):
    n = x.shape[0]
    use_triton = _backend.use_triton(x.device)
    zc, sq = _prepare(x, y, kernel, use_triton)
    args = (zc, sq, n, consts, kernel, degree, gamma, coef, (wA, wB, wC), exclude_diag,
            cross_only, compute_grad)
    if use_triton:
        prec = "ieee" if x.dtype == torch.float64 else precision
        rows, grad = _triton_fused(*args, prec, square_mask=square_mask)
    else:
        # no squarings on the CPU: repeated squaring walks through denormals, which x86
        # handles in microcode (≈5× slower overall); GPUs square denormals at full speed
        rows, grad = _torch_fused(*args)
    r = rows[0].double()
    sums = torch.stack([r[0, :n].sum(), r[1, n:].sum(), r[1, :n].sum()])
    # zero-weight sums are left out, not multiplied by 0: pair sums (wA = wB = 0) also
    # visit same-sample pairs, whose kernel values may overflow to inf (0·inf = NaN)
    terms = [c * t for c, t in zip((wA, wB, 2.0 * wC), sums) if c != 0.0]
    value = sum(terms[1:], terms[0]) if terms else sums.new_zeros(())
    if compute_grad:
        gx = grad[:n].to(_saved_dtype(x.dtype), copy=True)
        gy = grad[n:].to(_saved_dtype(y.dtype), copy=True)
    else:
        gx = x.new_empty(0)
        gy = y.new_empty(0)
    return value, sums, gx, gy


# ----------------------------------------------------------------------------------------------
# the registered op (torch.compile sees one opaque node) and its autograd
# ----------------------------------------------------------------------------------------------
@torch.library.custom_op("fastgan::mmd_fused", mutates_args=())
def _mmd_fused(x: torch.Tensor, y: torch.Tensor, consts: torch.Tensor, kernel: int, degree: int,
               gamma: float, coef: float, wA: float, wB: float, wC: float, exclude_diag: bool,
               cross_only: bool, compute_grad: bool, precision: str, square_mask: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(value = wA·Sxx + wB·Syy + 2wC·Sxy (fp64), sums (3,) fp64, dvalue/dx, dvalue/dy)."""
    return _fused(x, y, consts, kernel, degree, gamma, coef, wA, wB, wC, exclude_diag,
                  cross_only, compute_grad, precision, square_mask)


@_mmd_fused.register_fake
def _(x, y, consts, kernel, degree, gamma, coef, wA, wB, wC, exclude_diag, cross_only,
      compute_grad, precision, square_mask):
    value = x.new_empty((), dtype=torch.float64)
    sums = x.new_empty((3,), dtype=torch.float64)
    if compute_grad:
        return value, sums, \
            torch.empty_like(x, dtype=_saved_dtype(x.dtype), memory_format=torch.contiguous_format), \
            torch.empty_like(y, dtype=_saved_dtype(y.dtype), memory_format=torch.contiguous_format)
    return value, sums, x.new_empty(0), y.new_empty(0)


def _setup_context(ctx, inputs, output):
    ctx.compute_grad = inputs[12]
    ctx.dtypes = (inputs[0].dtype, inputs[1].dtype)
    ctx.save_for_backward(output[2], output[3])


def _backward(ctx, grad_value, grad_sums, grad_gx, grad_gy):
    # The gradient was computed in the forward pass; scale it by grad_output (a multiply of
    # N·D elements, new tensors: the saved ones are never written in place).
    if not ctx.compute_grad:
        raise RuntimeError("fastgan.mmd: the forward ran without gradient tracking; its "
                           "gradient was not computed")
    gx, gy = ctx.saved_tensors
    gx_out = (gx * grad_value.to(gx.dtype)).to(ctx.dtypes[0])
    gy_out = (gy * grad_value.to(gy.dtype)).to(ctx.dtypes[1])
    return (gx_out, gy_out) + (None,) * 13


torch.library.register_autograd("fastgan::mmd_fused", _backward, setup_context=_setup_context)


def _needs_grad(x, y) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)


def _result_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _resolve(x, y, kernel, bandwidth, degree, gamma, coef, precision, allow_median):
    _check_kernel(kernel, degree, gamma, coef, precision)
    sig = _sigma_list(bandwidth, allow_median) if kernel in _BANDWIDTH_KERNELS else [1.0]
    if sig is None:
        sig = median_bandwidth(x, y).reshape(1)
    consts = _consts(kernel, sig, x.device)
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    return consts, g, _square_mask(kernel, sig)


# ----------------------------------------------------------------------------------------------
# public functions
# ----------------------------------------------------------------------------------------------
def kernel_sums(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
                coef: float = 1.0, precision: str = "tf32"):
    """The three raw kernel sums (Σ_{i≠i'} k(x_i, x_i'), Σ_{j≠j'} k(y_j, y_j'), Σ_{i,j} k(x_i, y_j)).

    x: (N, D), y: (M, D), as for :func:`mmd` (any N, M >= 1). With ``estimator="biased"`` the
    first two include the diagonal (i = i'). Same kernels and arguments as :func:`mmd`;
    float64 0-d tensors; not differentiable (use :func:`mmd` or :func:`pair_sum`). One fused
    pass, no N×M buffer.

    >>> sxx, syy, sxy = fastgan.kernel_sums(torch.randn(100, 3), torch.randn(80, 3))
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    _check_pair(x, y)
    consts, g, sqm = _resolve(x, y, kernel, bandwidth, degree, gamma, coef, precision, True)
    _, sums, _, _ = _mmd_fused(x.detach(), y.detach(), consts, KERNELS[kernel], degree, g,
                               float(coef), 0.0, 0.0, 0.0, estimator == "unbiased", False, False,
                               precision, sqm)
    return sums[0], sums[1], sums[2]


def mmd(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
        estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
        coef: float = 1.0, precision: str = "tf32") -> torch.Tensor:
    """Squared maximum mean discrepancy between the samples x and y, fused forward + gradient.

    MMD² = A·Σ_{i,i'} k(x_i, x_i') + B·Σ_{j,j'} k(y_j, y_j') − 2/(N·M)·Σ_{i,j} k(x_i, y_j) with
    ``estimator="unbiased"`` (U-statistic): diagonals left out, A = 1/(N(N−1)), B = 1/(M(M−1));
    may be slightly negative. ``"biased"`` (V-statistic): diagonals kept, A = 1/N², B = 1/M².

    Kernels, with d = ‖x − y‖² (computed as ‖a‖² + ‖b‖² − 2⟨a, b⟩ after centring both samples
    by their pooled mean, clamped at 0):

    - ``"gaussian"``: Σ_σ exp(−d / (2σ²)); ``bandwidth`` a float σ, a sequence of σ (a mixture,
      as in GMMN / MMD-GAN) or ``"median"`` (:func:`median_bandwidth`). Note: GMMN's code
      passes σ as a *variance* (exp(−d / (2s))); use ``bandwidth=math.sqrt(s)`` to match.
    - ``"laplacian"``: Σ_σ exp(−√d / σ);  ``"imq"``: Σ_σ (1 + d / (2σ²))^(−½).
    - ``"polynomial"``: (γ⟨x, y⟩ + coef)^degree, γ = 1/D by default (KID's kernel; not centred).
    - ``"energy"``: −√d, so MMD² (biased) is the energy distance 2E‖x−y‖ − E‖x−x'‖ − E‖y−y'‖
      (GeomLoss's ``"energy"`` reports half of this).

    laplacian and energy are not differentiable at d = 0 (the diagonal, duplicated points):
    their gradient is taken as 0 there. Away from the diagonal d comes from the expansion, so
    near-duplicate points carry a rounding error of about ε·‖z‖² in d (ε ≈ 1e-3 for tf32 dots,
    6e-8 for "ieee"); for these two kernels prefer ``precision="ieee"`` when points nearly
    coincide.

    Args:
        x: (N, D), y: (M, D); float32, float64, float16 or bfloat16 (same dtype and device);
            any strides. N, M >= 2 for the unbiased estimator, >= 1 for the biased one.
        precision: ``"tf32"`` (default: float32 Gram blocks on tensor cores in tf32, ~1e-3
            relative error on the dots) or ``"ieee"`` (full float32). float16/bfloat16 go to the
            tensor cores as they are, with float32 accumulation; float64 inputs run the GPU
            kernels in float32 "ieee" (and the CPU path in float64).

    Returns:
        0-d tensor, float64 for float64 inputs else float32; differentiable in x and y (first
        order). The gradient is computed in the forward pass when x or y requires grad, and
        backward only scales it by grad_output. Not differentiable in ``bandwidth``.

    NaN policy: inputs are not scanned (that would need a host sync): a NaN or inf anywhere
    in x or y makes the result NaN.

    Backends: CUDA tensors run the Triton kernel, one pass with memory O((N+M)·D): over
    the (N+M)² pairs with the gradient (with D > 128 the pass recomputes the Gram block once
    per 128 features, see kernels/mmd.py), over N² + M² + N·M without it (Y×X is X×Y's
    transpose). CPU tensors run a chunked PyTorch loop over the same N² + M² + N·M pairs
    (the gradient of the Y rows' cross pairs comes from the X×Y blocks) in row chunks of
    at most 2^18 elements per temporary (at least one row), memory O((N+M)·chunk), one
    chunk per sample when (N+M)² <= 2^18. ``fastgan.backend("triton")`` forces the
    Triton kernel on CPU tensors (the interpreter).

    >>> x, y = torch.randn(500, 2, requires_grad=True), torch.randn(400, 2) + 1
    >>> loss = fastgan.mmd(x, y, bandwidth=[0.5, 1.0, 2.0]); loss.backward()
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    unbiased = estimator == "unbiased"
    _check_pair(x, y, min_rows=(2, 2) if unbiased else (1, 1))
    consts, g, sqm = _resolve(x, y, kernel, bandwidth, degree, gamma, coef, precision, True)
    n, m = x.shape[0], y.shape[0]
    if unbiased:
        wA, wB = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1))
    else:
        wA, wB = 1.0 / (n * n), 1.0 / (m * m)
    wC = -1.0 / (n * m)
    value, _, _, _ = _mmd_fused(x, y, consts, KERNELS[kernel], degree, g, float(coef), wA, wB, wC,
                                unbiased, False, _needs_grad(x, y), precision, sqm)
    return value.to(_result_dtype(x.dtype))


def pair_sum(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
             degree: int = 3, gamma: float | None = None, coef: float = 1.0,
             precision: str = "tf32") -> torch.Tensor:
    """Σ_i Σ_j k(a_i, b_j) over all pairs (diagonal included when a is b), differentiable.

    The building block of a sharded MMD: each process sums its shard against the gathered
    batches and the pieces are combined with the 1/(N(N−1)), 1/(M(M−1)), −2/(NM) weights.
    For the unbiased estimator subtract the diagonal Σ_i k(x_i, x_i): N·(number of σ) for
    gaussian/laplacian/imq, 0 for energy, Σ_i (γ‖x_i‖² + coef)^degree for polynomial.
    Same kernels as :func:`mmd`, but ``bandwidth`` must be concrete (a float or a sequence of
    σ, no "median", so that every shard uses the same kernel); distances are centred by the
    mean of [a; b]. Only the a×b block is computed (N·M pairs; with a gradient, also b×a
    for the gradient of b). Identical rows of a and b (a is b, or a shard of b) are not
    recognised as such: their d is the rounding of the expansion (≈ ε·‖z‖², ε ≈ 1e-3 for
    tf32 dots), so their k equals k(0) only up to that error (for energy −√d ≈ −√ε‖z‖, not 0).

    Args: a (N, D), b (M, D), same dtype and device; N or M may be 0 (the sum is then 0).
    Returns: 0-d tensor, float64 for float64 inputs else float32; gradients flow to a and b.

    >>> s = fastgan.ops.mmd.pair_sum(torch.randn(64, 8), torch.randn(256, 8), bandwidth=2.0)
    """
    _check_pair(a, b, names=("a", "b"), min_rows=(0, 0))
    consts, g, sqm = _resolve(a, b, kernel, bandwidth, degree, gamma, coef, precision, False)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return (a.sum() + b.sum()).to(_result_dtype(a.dtype)) * 0.0
    value, _, _, _ = _mmd_fused(a, b, consts, KERNELS[kernel], degree, g, float(coef), 0.0, 0.0,
                                0.5, False, True, _needs_grad(a, b), precision, sqm)
    return value.to(_result_dtype(a.dtype))

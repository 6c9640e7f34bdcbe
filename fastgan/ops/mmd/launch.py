"""The MMD's Triton launchers: launch tables, block sizes and the two large-D schemes.

:func:`triton_fused` runs kernels/mmd.py's ``mmd_fused_kernel`` over Z (rows already centred
and cast, fastgan.ops.mmd.op ``prepare``) and returns per-row kernel sums (B, 2, P) and, when
asked, the gradient (P, D) fp32. For D > 128 with a gradient it picks, from the active
:class:`~fastgan.ops.mmd.config.LaunchConfig`, the recompute scheme or the two-stage one
(:func:`two_stage_rows`; docs/mmd.md derives both and their costs).

The tables ``CUDA_BLOCKS`` and ``CUDA_GEMM`` are every configuration the GPU path can choose;
bench/ reads them from here.
"""
from __future__ import annotations

import torch

from ... import _backend
from ..._backend import cdiv, next_pow2
from ..._codes import MMDKernel
from . import config as _config

__all__ = ["CUDA_BLOCKS", "CUDA_GEMM", "INTERPRETER_BLOCKS", "INTERPRETER_GEMM", "block_config",
           "two_stage_rows", "triton_fused", "triton_two_stage"]

# (compute_grad, BLOCK_K or 0 for D > 128) -> (BLOCK_M, BLOCK_N, num_warps, num_stages);
# (False, 0) also serves the two-stage gradient's w pass. No register spills on sm_90a
# (python -m bench.sass, Triton 3.6 and 3.9). 8 warps on 64-row single-K gradient tiles had
# both warpgroups compute the same 64 rows: every Gram product and exp twice (issue 13,
# finding 1; the report's Gram work ratio and exps per pair catch it). Two stages, not three,
# with the gradient at D = 33..128: the loop is issue-bound, and the third buffer cost
# registers and instructions (bench/NOTES.md).
CUDA_BLOCKS = {
    (True, 16): (128, 64, 8, 3), (True, 32): (128, 64, 8, 3), (True, 64): (128, 64, 8, 2),
    (True, 128): (128, 32, 8, 2), (True, 0): (64, 32, 8, 2),
    (False, 16): (128, 128, 8, 3), (False, 32): (128, 128, 8, 3), (False, 64): (128, 64, 8, 3),
    (False, 128): (128, 64, 8, 3), (False, 0): (128, 64, 8, 2),
}
# the two-stage gradient's GEMM (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) by the
# bytes of an operand element: 96 KiB of shared memory for 3 stages either way; no spills
# (ptxas -v, sm_90a, Triton 3.9, with the launcher's stride-1/16-divisible specialisation)
CUDA_GEMM = {4: (128, 128, 32, 8, 3), 2: (128, 128, 64, 8, 3)}
# the interpreter: fewer, larger blocks run faster; BLOCK_M != BLOCK_N as on the GPU
INTERPRETER_BLOCKS = (64, 32, 4, 1)
INTERPRETER_GEMM = (32, 64, 32, 4, 1)


def block_config(d: int, compute_grad: bool, cuda: bool):
    """(BLOCK_K, BLOCK_DV, SINGLE_K, (BLOCK_M, BLOCK_N, num_warps, num_stages)) for D
    features: BLOCK_K covers D in one step up to 128 (SINGLE_K: the row tile stays in
    registers), else 64-wide steps; BLOCK_DV is the gradient's feature chunk."""
    bk = max(16, next_pow2(d))
    single = bk <= 128
    if single:
        bdv = bk if compute_grad else 16
    else:
        bk = 64
        bdv = 128 if compute_grad else 16
    blocks = CUDA_BLOCKS[(compute_grad, bk if single else 0)] if cuda else INTERPRETER_BLOCKS
    return bk, bdv, single, blocks


def two_stage_rows(p: int, d: int, itemsize: int, bm: int,
                   config: _config.LaunchConfig | None = None) -> int:
    """Rows per chunk of w for the two-stage gradient, or 0 for the recompute path."""
    config = _config.current() if config is None else config
    mode = _config.large_d_mode(config)
    if mode == "recompute" or (mode == "auto" and d < config.gemm_min_d):
        return 0
    rows = min(config.w_budget // (p * itemsize), cdiv(p, bm) * bm) // bm * bm
    if rows < min(config.w_min_rows, cdiv(p, bm) * bm):
        return 0
    return rows


def triton_fused(zc, sq, n, consts, kernel, degree, gamma, coef, weights, exclude_diag,
                 cross_only, compute_grad, precision, idx=None, p=None, square_mask=0):
    """Launch kernels/mmd.py. zc (rows, D) in the dot dtype; idx (B, P) gathers rows of zc
    (KID's subsets, batch b on grid axis 2); returns (rows (B, 2, P) fp32, grad or None)."""
    config = _config.current()
    d = zc.shape[1]
    p = zc.shape[0] if p is None else p
    batch = 1 if idx is None else idx.shape[0]
    cuda = zc.device.type == "cuda"
    bk, bdv, single, (bm, bn, warps, stages) = block_config(d, compute_grad, cuda)
    c32 = consts.to(device=zc.device, dtype=torch.float32).contiguous()
    flags = dict(KERNEL=int(kernel), NSIG=c32.numel(), DEGREE=degree, SQUARE_MASK=square_mask,
                 SQUARE_TOP=max(0, square_mask.bit_length() - 1), EXCLUDE_DIAG=exclude_diag,
                 CROSS_ONLY=cross_only, USE_IDX=idx is not None, COMPUTE_GRAD=compute_grad,
                 PRECISION=precision, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, SINGLE_K=single,
                 UPCAST=(not cuda) and zc.dtype == torch.bfloat16, num_warps=warps,
                 num_stages=stages)
    wA, wB, wC = (float(v) for v in weights)
    scalars = dict(wA=wA, wB=wB, wC=wC, gamma=float(gamma), coef=float(coef))
    with _backend.on_device(zc), _backend.launch_guard(zc):
        if compute_grad and not single and idx is None:
            # the w pass has no accumulator: on the GPU the forward's larger tiles fit (no
            # spills, fp32 and bf16)
            w_blocks = CUDA_BLOCKS[(False, 0)] if cuda else (bm, bn, warps, stages)
            w_size = 4 if zc.dtype == torch.float16 else zc.element_size()
            chunk = two_stage_rows(p, d, w_size, w_blocks[0], config)
            if chunk:
                flags.update(zip(("BLOCK_M", "BLOCK_N", "num_warps", "num_stages"), w_blocks))
                return triton_two_stage(zc, sq, n, p, d, c32, scalars, chunk, flags, cuda,
                                        config)

        from ...kernels.mmd import mmd_fused_kernel

        n_v = cdiv(d, bdv) if compute_grad else 1
        rows = torch.full((batch, 2, p), float("nan"), dtype=torch.float32, device=zc.device)
        if compute_grad:
            grad = torch.full((p, d), float("nan"), dtype=torch.float32, device=zc.device)
        else:
            grad = rows  # never written
        mmd_fused_kernel[(cdiv(p, bm), n_v, batch)](
            z_ptr=zc, sq_ptr=sq, idx_ptr=idx if idx is not None else rows, c_ptr=c32,
            rows_ptr=rows, grad_ptr=grad, w_ptr=rows, wsum_ptr=rows,
            N=n, P=p, D=d, tile0=0, n_split=1,
            stride_zp=zc.stride(0), stride_zd=zc.stride(1),
            stride_ib=idx.stride(0) if idx is not None else 0, stride_rb=2 * p, stride_gp=d,
            stride_wr=0,
            **scalars, WRITE_W=False, BLOCK_DV=bdv, **flags,
        )
    return rows, (grad if compute_grad else None)


def triton_two_stage(zc, sq, n, p, d, c32, scalars, chunk, flags, cuda, config):
    """The gradient for large D in two stages per chunk of rows: w (chunk × P) and the row
    sums from the fused kernel, then grad = 4 (z·Σw − w Z) (2 w Z for the polynomial) by
    mmd_grad_gemm_kernel. Memory: one chunk of w (at most ``config.w_budget`` bytes)."""
    from ...kernels.mmd import mmd_fused_kernel, mmd_grad_gemm_kernel

    bm, bn = flags["BLOCK_M"], flags["BLOCK_N"]
    tiles = chunk // bm
    target = config.target_programs
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
    gbm, gbn, gbk, gwarps, gstages = CUDA_GEMM[w.element_size()] if cuda else INTERPRETER_GEMM
    poly = flags["KERNEL"] == MMDKernel.POLYNOMIAL
    for r0 in range(0, p, chunk):
        r = min(chunk, p - r0)
        if flags["CROSS_ONLY"]:  # columns a row never visits (its own block) read as w = 0
            w.zero_()
        mmd_fused_kernel[(cdiv(r, bm), n_split, 1)](
            z_ptr=zc, sq_ptr=sq, idx_ptr=rows, c_ptr=c32, rows_ptr=rows, grad_ptr=grad,
            w_ptr=w, wsum_ptr=wsum,
            N=n, P=p, D=d, tile0=r0 // bm, n_split=n_split,
            stride_zp=zc.stride(0), stride_zd=zc.stride(1), stride_ib=0, stride_rb=2 * p,
            stride_gp=d, stride_wr=w.stride(0),
            **scalars, WRITE_W=True, BLOCK_DV=16, **flags,
        )
        if n_split == 1:
            wsum_r = wsum[0]
        else:  # the column spans' partial Σ w of this chunk's rows, in a fixed order
            wsum_r = wtot
            torch.sum(wsum[:, r0:r0 + r], 0, out=wtot[r0:r0 + r])
        mmd_grad_gemm_kernel[(cdiv(r, gbm) * cdiv(d, gbn),)](
            w_ptr=w, z_ptr=zc, wsum_ptr=wsum_r, grad_ptr=grad,
            row0=r0, R=r, P=p, D=d,
            stride_wr=w.stride(0), stride_zp=zc.stride(0), stride_zd=zc.stride(1), stride_gp=d,
            POLY=poly, PRECISION=flags["PRECISION"],
            BLOCK_M=gbm, BLOCK_N=gbn, BLOCK_K=gbk, GROUP_M=8, UPCAST=flags["UPCAST"],
            num_warps=gwarps, num_stages=gstages,
        )
    # partial row sums of the column spans, added in a fixed order
    rows = rows.sum(0, keepdim=True, dtype=torch.float64) if n_split > 1 else rows
    return rows, grad

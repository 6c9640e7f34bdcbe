"""The MMD permutation test in Triton: all permutation statistics in one streaming pass.

Notation (fastgan.stats derives the statistics from these sums). Z = [X; Y] has P = N + M
rows; a permutation b assigns N rows to X and M to Y, written as a sign column
σ_b ∈ {+1, −1}^P (+1: assigned to X). The weight vector of the biased statistic is
s_b = σ_b·h/2 + g·1 with h/2 = (1/N + 1/M)/2 and g = (1/N − 1/M)/2 (so s_bp = 1/N on X,
−1/M on Y), and with K the kernel matrix (its diagonal zeroed when EXCLUDE_DIAG):

    K s_b = (h/2)·K σ_b + g·r,   r = K·1 (the row sums),
    q_b   = s_bᵀ K s_b = Σ_p s_bp ((h/2)(K σ_b)_p + g r_p),
    ra_b  = Σ_p a_bp r_p,   a_bp = (σ_bp + 1)/2 (the rows assigned to X).

The sign matrix S = [σ_1 … σ_B] (P × B, int8) enters the tensor cores as ±1, exact in every
dtype; only the kernel values are rounded to the dot's dtype. A program owns BLOCK_M rows and
BLOCK_B permutations and streams over column tiles of BLOCK_N rows: the Gram tile from tl.dot,
the kernel transform (kernels/mmd.py's _transform), then acc += K_tile · S[cols, perms] (a
second tl.dot, BLOCK_M × BLOCK_B in fp32). The epilogue reduces its rows into partial q_b and
ra_b (one row of the (row tiles × B) outputs per program; the host adds them in fp64, in a
fixed order). Nothing P × P is stored: memory O(P·(D + B)).

Cost: ceil(B / BLOCK_B) passes over the P² pairs (the Gram tile and the transform are
recomputed per block of permutations), 2·D + 2·BLOCK_B flops per pair and pass on the
tensor cores, one transform per pair and pass.
"""
import triton
import triton.language as tl

from .._codes import MMDKernel
from .mmd import _transform

# the constexpr copy Triton reads of fastgan._codes.MMDKernel.POLYNOMIAL
POLYNOMIAL = tl.constexpr(int(MMDKernel.POLYNOMIAL))
# K_DOT codes: the dtype kernel values enter the second tl.dot in
K_FP32 = tl.constexpr(0)
K_BF16 = tl.constexpr(1)
K_FP16 = tl.constexpr(2)


@triton.jit
def _to_k_dtype(x, K_DOT: tl.constexpr):
    if K_DOT == K_BF16:
        return x.to(tl.bfloat16)
    elif K_DOT == K_FP16:
        return x.to(tl.float16)
    else:
        return x.to(tl.float32)


@triton.jit
def _dot(a, b, acc, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    # UPCAST: Triton's interpreter multiplies bfloat16 blocks wrongly (3.9); there the
    # operands, already rounded to bf16, are multiplied in fp32 (the same exact products)
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc, input_precision=PRECISION)


@triton.jit
def mmd_perm_kernel(
    # q_b = s_bᵀ K s_b and ra_b = Σ_p a_bp r_p for every permutation b (module docstring).
    # z: centred rows of Z (P × D) in the dot dtype; sq[p] = ‖z_p‖²; c: one constant per σ
    # (kernels/mmd.py _transform); sign: S (P × NB int8, +1 = assigned to X).
    z_ptr, sq_ptr, c_ptr, sign_ptr,
    # outputs: q and ra (row tiles × NB, fp32 partials); rows: r (P, fp32, written by the
    # programs of the first block of permutations); v (P × NB fp32, only with WRITE_V): the
    # per-row (K σ_b)_p, for callers that need row-level sums (bandwidth selection)
    q_ptr, ra_ptr, rows_ptr, v_ptr,
    # sizes and strides
    P, D, NB,
    stride_zp, stride_zd, stride_sp, stride_q,
    # scalars: h/2 and g of the weights, the polynomial kernel's γ and coef
    half_h, g, gamma, coef,
    # kernel and estimator
    KERNEL: tl.constexpr, NSIG: tl.constexpr, DEGREE: tl.constexpr,
    EXCLUDE_DIAG: tl.constexpr, WRITE_V: tl.constexpr,
    # precision: the dtype of K tiles on the tensor cores, tf32 / ieee, interpreter bf16 fix
    K_DOT: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    # tiles
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    BLOCK_B: tl.constexpr, SINGLE_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_b = tl.program_id(1)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_m = offs_m < P
    rows_m = offs_m.to(tl.int64)
    offs_b = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    mask_b = offs_b < NB
    offs_k = tl.arange(0, BLOCK_K)
    if KERNEL != POLYNOMIAL:
        sq_m = tl.load(sq_ptr + rows_m, mask=mask_m, other=0.0)
    if SINGLE_K:
        # D <= BLOCK_K: the row tile stays in registers across the column loop
        a = tl.load(z_ptr + rows_m[:, None] * stride_zp + offs_k[None, :] * stride_zd,
                    mask=mask_m[:, None] & (offs_k[None, :] < D), other=0.0)

    acc = tl.zeros((BLOCK_M, BLOCK_B), dtype=tl.float32)
    rsum = tl.zeros((BLOCK_M,), dtype=tl.float32)
    for n0 in range(0, P, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        mask_n = offs_n < P
        rows_n = offs_n.to(tl.int64)
        if SINGLE_K:
            bt = tl.load(z_ptr + rows_n[None, :] * stride_zp + offs_k[:, None] * stride_zd,
                         mask=mask_n[None, :] & (offs_k[:, None] < D), other=0.0)
            s = _dot(a, bt, tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), PRECISION, UPCAST)
        else:
            s = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
            for k0 in range(0, D, BLOCK_K):
                kk = k0 + offs_k
                ak = tl.load(z_ptr + rows_m[:, None] * stride_zp + kk[None, :] * stride_zd,
                             mask=mask_m[:, None] & (kk[None, :] < D), other=0.0)
                bk = tl.load(z_ptr + rows_n[None, :] * stride_zp + kk[:, None] * stride_zd,
                             mask=mask_n[None, :] & (kk[:, None] < D), other=0.0)
                s = _dot(ak, bk, s, PRECISION, UPCAST)

        diag = offs_m[:, None] == offs_n[None, :]
        if KERNEL != POLYNOMIAL:
            sq_n = tl.load(sq_ptr + rows_n, mask=mask_n, other=0.0)
            d = sq_m[:, None] + sq_n[None, :] - 2.0 * s
            d = tl.where(d < 0.0, 0.0, d)  # clamp; keeps NaN
            d = tl.where(diag, 0.0, d)     # exactly 0 on the diagonal whatever the dot's rounding
        else:
            d = s
        k, _ = _transform(d, s, c_ptr, gamma, coef, KERNEL, NSIG, DEGREE, False, 0, 0)
        valid = mask_m[:, None] & mask_n[None, :]
        if EXCLUDE_DIAG:
            valid = valid & (~diag)
        # bf16/fp16: rounded once, and the row sums take the same rounded values, so for
        # N != M the g·r term of K s = (h/2)·Kσ + g·r cancels against Kσ without a rounding
        # mismatch; a tf32 dot rounds K inside (~5e-4 relative), the Gram tile's error order
        kd = _to_k_dtype(tl.where(valid, k, 0.0), K_DOT)
        rsum += tl.sum(kd.to(tl.float32), axis=1)
        sg = tl.load(sign_ptr + rows_n[:, None] * stride_sp + offs_b[None, :],
                     mask=mask_n[:, None] & mask_b[None, :], other=0)
        # int8 -> fp32 -> dot dtype: the interpreter's direct int8 -> bf16 gives NaN (3.9)
        acc = _dot(kd, _to_k_dtype(sg.to(tl.float32), K_DOT), acc, PRECISION, UPCAST)

    # epilogue: v = (h/2)·Kσ + g·r, s = (h/2)·σ + g, q = Σ_rows s·v, ra = Σ_rows a·r
    sg_m = tl.load(sign_ptr + rows_m[:, None] * stride_sp + offs_b[None, :],
                   mask=mask_m[:, None] & mask_b[None, :], other=0).to(tl.float32)
    live = mask_m[:, None] & mask_b[None, :]
    v = half_h * acc + g * rsum[:, None]
    w = tl.where(live, half_h * sg_m + g, 0.0)
    am = tl.where(live, 0.5 * (sg_m + 1.0), 0.0)
    q = tl.sum(w * v, axis=0)
    ra = tl.sum(am * rsum[:, None], axis=0)
    tl.store(q_ptr + pid_m * stride_q + offs_b, q, mask=mask_b)
    tl.store(ra_ptr + pid_m * stride_q + offs_b, ra, mask=mask_b)
    if pid_b == 0:
        tl.store(rows_ptr + offs_m, rsum, mask=mask_m)
    if WRITE_V:
        tl.store(v_ptr + rows_m[:, None] * NB + offs_b[None, :], acc, mask=live)

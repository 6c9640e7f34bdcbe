"""Fused kernel-MMD in Triton: one streaming pass over Z = [X; Y] yields the kernel sums and,
optionally, the whole gradient ("gradient in forward").

Notation (docs/mmd.md derives all of it). Z has P = N + M rows (rows < N are X, the rest Y);
ω(p, q) is a block weight: wA inside X, wB inside Y, wC across. The loss is
L = Σ_p Σ_q ω(p, q) k(z_p, z_q). A program owns BLOCK_M rows of Z and streams over column
tiles of BLOCK_N rows (flash-attention style); nothing of size P×P is ever stored.

Per row p it writes the kernel row sums over the X columns and over the Y columns (fp32, in
a fixed loop order; the host adds them in fp64), and, when COMPUTE_GRAD, the gradient row.
The host reads only three totals: Σ over X rows of the X-column sums, Σ over Y rows of the
Y-column sums, Σ over X rows of the Y-column sums. Without COMPUTE_GRAD the pass is
therefore triangular (row p takes columns q >= p, X×X and Y×Y pairs off the diagonal
counted twice, Y×X never): the per-row sums are partial, the totals exact.
For a distance kernel k = f(d), d = ‖z_p − z_q‖², with w_pq = ω(p, q) f'(d_pq):
    ∂L/∂z_p = 4 (z_p Σ_q w_pq − Σ_q w_pq z_q)
(2 from ∂d/∂z_p times 2 from the symmetry of ω and k); Σ_q w_pq z_q is a second tl.dot, the
P·V of flash attention. For the polynomial kernel k = (γ⟨z_p, z_q⟩ + c)^m, with
w_pq = ω(p, q) m γ (γ⟨z_p, z_q⟩ + c)^(m−1):   ∂L/∂z_p = 2 Σ_q w_pq z_q.

Cost. Without gradient: one Gram GEMM over N²/2 + M²/2 + N·M pairs (2·D flops each, up to
tile granularity: the triangle) and one transform per pair. With the gradient and
D <= 128 (SINGLE_K): the row tile stays in registers and the accumulator Σ_q w_pq z_q is
BLOCK_M × D, so one pass over all P² pairs costs 2 Gram-sized GEMMs (4·P²·D flops) and one
transform per pair. With the gradient and D > 128 the accumulator does not fit in
registers, and the launcher (fastgan.ops.mmd.launch.two_stage_rows, from the active
LaunchConfig) picks one of two schemes:
- recompute (128 < D < 385): grid axis 1 splits D into ceil(D / BLOCK_DV) chunks
  (BLOCK_DV = 128) and each chunk's programs recompute the whole Gram block (looping over D
  in BLOCK_K chunks) and the transform to get w: (ceil(D/128) + 1)·2·P²·D flops and
  ceil(D/128) transforms per pair (the row sums are written by the chunk-0 programs only).
- two-stage (D >= 385): WRITE_W programs compute the Gram once for a chunk of rows and
  store w (chunk × P, at most 1 GiB) with the partial Σ_q w_pq and row sums of their column
  span; mmd_grad_gemm_kernel then forms Σ_q w_pq z_q as a tiled GEMM with the gradient's
  epilogue. 2 Gram-sized GEMMs plus writing and reading w: at Inception's D = 2048 the
  floors give ≈ 20 ms against ≈ 150 ms at N = M = 16384 on an H100 (bench/NOTES.md).
Two paths per column tile. An interior tile (rows all in X or all in Y, columns too, off
the diagonal, inside P and the column range) has one block weight and no diagonal: it skips
every per-pair mask and select, adds its row sums into the X or the Y sum as a whole, and for
the gaussian folds the scale into the squared norms (x = c‖z_p‖² + c‖z_q‖² − 2c⟨z_p, z_q⟩:
one FFMA, one add and a min per pair before the exp2). Other tiles (the diagonal, the X/Y
boundary, the edges: under 1% at N = M = 16384) take the masked path. Static counts of the
column loop, sm_90a, D = 64, tf32 (python -m bench.sass, bench/NOTES.md): ≈ 12 instructions
per pair forward and ≈ 18 with the gradient, from ≈ 25 and ≈ 28.
Also checked with ptxas (Triton 3.9, sm_90a) for the recompute scheme, not timed:
BLOCK_DV = 256 spills with BLOCK_M = 64, and is spill-free with BLOCK_M = BLOCK_N = 32,
8 warps, 2 stages (half the recomputation at half the row reuse per column tile).
"""
import triton
import triton.language as tl

from .._codes import MMDKernel

# kernel codes: the constexpr copies Triton reads of fastgan._codes.MMDKernel
GAUSSIAN = tl.constexpr(int(MMDKernel.GAUSSIAN))
LAPLACIAN = tl.constexpr(int(MMDKernel.LAPLACIAN))
IMQ = tl.constexpr(int(MMDKernel.IMQ))
POLYNOMIAL = tl.constexpr(int(MMDKernel.POLYNOMIAL))
ENERGY = tl.constexpr(int(MMDKernel.ENERGY))


@triton.jit
def _transform(d, s, c_ptr, gamma, coef, KERNEL: tl.constexpr, NSIG: tl.constexpr,
               DEGREE: tl.constexpr, COMPUTE_GRAD: tl.constexpr, SQUARE_MASK: tl.constexpr,
               SQUARE_TOP: tl.constexpr):
    # Returns (k, g): k the kernel value; g = dk/dd for distance kernels, dk/ds for the
    # polynomial (s = ⟨z_p, z_q⟩). c_ptr holds one constant per bandwidth σ_j, prepared on
    # the host so the inner loop is one multiply and one exp2:
    #   gaussian   c_j = −log2(e)/(2σ_j²):  k_j = 2^(c_j d),      dk_j/dd = c_j ln2 k_j
    #   laplacian  c_j = −log2(e)/σ_j:      k_j = 2^(c_j √d),     dk_j/dd = c_j ln2 k_j / (2√d)
    #   imq        c_j = 1/(2σ_j²):         k_j = (1 + c_j d)^-½, dk_j/dd = −½ c_j (1 + c_j d)^-3/2
    # laplacian and energy (k = −√d) are not differentiable at d = 0: g is 0 there.
    # SQUARE_MASK != 0 (gaussian mixtures whose σ_max²/σ_j² are powers of two, 2^e_j; bit e_j
    # set): one exp2 for σ_max (c_ptr[0]) and squarings, k_{σ/√2} = k_σ², sparing the exp unit.
    # -0.0, not 0.0: x + (-0.0) is x for every x, so the compiler drops the first add
    k = tl.full(d.shape, -0.0, tl.float32)
    g = tl.full(d.shape, -0.0, tl.float32)
    if KERNEL == GAUSSIAN and SQUARE_MASK != 0:
        c0 = tl.load(c_ptr)
        cur = tl.exp2(d * c0)
        for e in tl.static_range(SQUARE_TOP + 1):
            if (SQUARE_MASK >> e) & 1:
                k += cur
                if COMPUTE_GRAD:
                    g += (c0 * (0.6931471805599453 * (1 << e))) * cur
            if e < SQUARE_TOP:
                cur = cur * cur
    elif KERNEL == GAUSSIAN:
        for j in tl.static_range(NSIG):
            c = tl.load(c_ptr + j)
            kj = tl.exp2(d * c)
            k += kj
            if COMPUTE_GRAD:
                g += (c * 0.6931471805599453) * kj
    elif KERNEL == LAPLACIAN:
        r = tl.sqrt(d)
        inv2r = tl.where(r > 0, 0.5 / tl.where(r > 0, r, 1.0), 0.0)
        for j in tl.static_range(NSIG):
            c = tl.load(c_ptr + j)
            kj = tl.exp2(r * c)
            k += kj
            if COMPUTE_GRAD:
                g += (c * 0.6931471805599453) * kj * inv2r
    elif KERNEL == IMQ:
        for j in tl.static_range(NSIG):
            c = tl.load(c_ptr + j)
            u = 1.0 + c * d
            kj = 1.0 / tl.sqrt(u)
            k += kj
            if COMPUTE_GRAD:
                g += (-0.5 * c) * kj / u
    elif KERNEL == POLYNOMIAL:
        t = gamma * s + coef
        tm1 = tl.full(t.shape, 1.0, tl.float32)
        for _ in tl.static_range(DEGREE - 1):
            tm1 = tm1 * t
        k = tm1 * t
        if COMPUTE_GRAD:
            g = (DEGREE * gamma) * tm1
    else:
        r = tl.sqrt(d)
        k = -r
        if COMPUTE_GRAD:
            g = tl.where(r > 0, -0.5 / tl.where(r > 0, r, 1.0), 0.0)
    return k, g


@triton.jit
def _gauss_folded(x, c_ptr, NSIG: tl.constexpr, COMPUTE_GRAD: tl.constexpr,
                  SQUARE_MASK: tl.constexpr, SQUARE_TOP: tl.constexpr):
    # The gaussian terms from x = c_0·d (c_0 = c_ptr[0] < 0, folded into ‖z‖² and the Gram
    # by the caller): k_j = 2^(x·c_j/c_0), dk/dd = Σ_j c_j ln2 k_j; as _transform otherwise.
    c0 = tl.load(c_ptr)
    k = tl.full(x.shape, -0.0, tl.float32)
    g = tl.full(x.shape, -0.0, tl.float32)
    if SQUARE_MASK != 0:
        cur = tl.exp2(x)
        for e in tl.static_range(SQUARE_TOP + 1):
            if (SQUARE_MASK >> e) & 1:
                k += cur
                if COMPUTE_GRAD:
                    g += (c0 * (0.6931471805599453 * (1 << e))) * cur
            if e < SQUARE_TOP:
                cur = cur * cur
    else:
        k = tl.exp2(x)
        if COMPUTE_GRAD:
            g = (c0 * 0.6931471805599453) * k
        for j in tl.static_range(1, NSIG):
            c = tl.load(c_ptr + j)
            kj = tl.exp2(x * (c / c0))
            k += kj
            if COMPUTE_GRAD:
                g += (c * 0.6931471805599453) * kj
    return k, g


@triton.jit
def _w_operand(w, z):
    # The gradient weights w (fp32) and the rows z as tensor-core operands: w in z's dtype,
    # except for fp16, whose range cannot hold w (ω spans N²/M², f' spans many decades):
    # there z goes up to fp32 and w stays fp32 (a tf32/fp32 dot, as for fp32 inputs).
    if z.dtype == tl.float16:
        wv = w
        zv = z.to(tl.float32)
    else:
        wv = w.to(z.dtype)
        zv = z
    return wv, zv


@triton.jit
def _dot(a, b, acc, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    # UPCAST: Triton's interpreter multiplies bfloat16 blocks wrongly (3.9), so there the
    # operands (already rounded to bf16) go to fp32 first: the same exact products and fp32
    # accumulation as the tensor cores.
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc, input_precision=PRECISION)


@triton.jit
def mmd_fused_kernel(
    # Row sums and gradient of L = Σ_p Σ_q ω(p, q) k(z_p, z_q) (module docstring).
    # Rows of Z are z_ptr[idx[b, p]] when USE_IDX (KID's batched subsets, batch b = program
    # axis 2), else z_ptr[p]. sq[p] = ‖z_p‖² of the (centred, rounded) rows.
    # WRITE_W (with COMPUTE_GRAD; the two-stage gradient for large D): the programs own the
    # row tiles tile0, tile0 + 1, ... of one chunk of rows, grid axis 1 splits the columns
    # into n_split spans, and each program stores its w_pq (chunk-relative rows, w_ptr's
    # dtype) and its partial Σ_q w_pq and row sums under split pid_v; no accumulator, no
    # gradient (mmd_grad_gemm_kernel multiplies w by Z).
    # pointers: Z rows (centred), ‖z‖², subset indices, σ constants; outputs: row sums,
    # gradient, w and its partial Σ (WRITE_W)
    z_ptr, sq_ptr, idx_ptr, c_ptr, rows_ptr, grad_ptr, w_ptr, wsum_ptr,
    # sizes: X rows, all rows, features; the first row tile and the column spans (WRITE_W)
    N, P, D, tile0, n_split,
    # strides (in elements)
    stride_zp, stride_zd, stride_ib, stride_rb, stride_gp, stride_wr,
    # scalars: the block weights ω (X×X, Y×Y, X×Y) and the polynomial's γ, coef
    wA, wB, wC, gamma, coef,
    # the kernel (fastgan._codes.MMDKernel), its number of σ, degree and squaring mask
    KERNEL: tl.constexpr, NSIG: tl.constexpr, DEGREE: tl.constexpr,
    SQUARE_MASK: tl.constexpr, SQUARE_TOP: tl.constexpr,
    # what to compute
    EXCLUDE_DIAG: tl.constexpr, CROSS_ONLY: tl.constexpr, USE_IDX: tl.constexpr,
    COMPUTE_GRAD: tl.constexpr, WRITE_W: tl.constexpr, PRECISION: tl.constexpr,
    # tiles
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    BLOCK_DV: tl.constexpr, SINGLE_K: tl.constexpr, UPCAST: tl.constexpr,
):
    pid_m = tl.program_id(0) + tile0
    pid_v = tl.program_id(1)
    pid_b = tl.program_id(2).to(tl.int64)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    mask_m = offs_m < P
    if USE_IDX:
        zrow_m = tl.load(idx_ptr + pid_b * stride_ib + offs_m, mask=mask_m, other=0).to(tl.int64)
    else:
        zrow_m = offs_m.to(tl.int64)
    row_in_x = offs_m < N
    offs_k = tl.arange(0, BLOCK_K)
    if KERNEL != POLYNOMIAL:
        sq_m = tl.load(sq_ptr + zrow_m, mask=mask_m, other=0.0)

    if SINGLE_K:
        # the whole row tile stays in registers across the column loop
        a = tl.load(z_ptr + zrow_m[:, None] * stride_zp + offs_k[None, :] * stride_zd,
                    mask=mask_m[:, None] & (offs_k[None, :] < D), other=0.0)

    # column range: with CROSS_ONLY (pair sums) an X-only row tile needs only Y columns;
    # without the gradient a Y-only row tile then needs none (Y×X is X×Y's transpose).
    # Without the gradient and CROSS_ONLY only the totals Σ_X rows, Σ_Y rows, Σ_X rows of
    # the Y columns are read (the host's and KID's sums), so the pass is triangular
    # (TRIANGLE): row p takes the columns q >= p, a pair inside X×X or Y×Y with q > p counts
    # twice, the cross pairs once from their X row, and q < p not at all. A row tile
    # starting at r0 visits the columns r0 .. P − 1: N²/2 + N·M + M²/2 pairs instead of
    # (N + M)² (1.5× fewer than the 3 blocks at N = M). Per-row sums are then partial.
    TRIANGLE: tl.constexpr = (not COMPUTE_GRAD) and (not CROSS_ONLY)
    r0 = pid_m * BLOCK_M
    if CROSS_ONLY:
        col_lo = tl.where(r0 + BLOCK_M <= N, N, 0)
        col_hi = tl.where(r0 >= N, N, P)
        if not COMPUTE_GRAD:
            col_hi = tl.where(r0 >= N, 0, col_hi)
    else:
        col_lo = 0
        if TRIANGLE:
            col_lo = r0
        col_hi = P
    if WRITE_W:  # this program's span of the columns (whole BLOCK_N tiles)
        span = tl.cdiv(tl.cdiv(col_hi - col_lo, BLOCK_N), n_split) * BLOCK_N
        col_lo = col_lo + pid_v * span
        col_hi = tl.minimum(col_hi, col_lo + span)
        row0 = tile0 * BLOCK_M

    rows_x = r0 + BLOCK_M <= N  # the row tile lies in X (rows_y: in Y)
    rows_y = r0 >= N
    if KERNEL == GAUSSIAN:
        c0 = tl.load(c_ptr)
        m2c0 = -2.0 * c0
        sqc_m = sq_m * c0
    sum_x = tl.zeros((BLOCK_M,), dtype=tl.float32)
    sum_y = tl.zeros((BLOCK_M,), dtype=tl.float32)
    wsum = tl.zeros((BLOCK_M,), dtype=tl.float32)
    offs_v = pid_v * BLOCK_DV + tl.arange(0, BLOCK_DV)
    mask_v = offs_v < D
    acc = tl.zeros((BLOCK_M, BLOCK_DV), dtype=tl.float32)

    for n0 in range(col_lo, col_hi, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        mask_n = offs_n < col_hi
        if USE_IDX:
            zrow_n = tl.load(idx_ptr + pid_b * stride_ib + offs_n, mask=mask_n,
                             other=0).to(tl.int64)
        else:
            zrow_n = offs_n.to(tl.int64)

        # Gram block s = Z_m Z_nᵀ (fp32 accumulation), streamed over D chunks when D is large
        if SINGLE_K:
            bt = tl.load(z_ptr + zrow_n[None, :] * stride_zp + offs_k[:, None] * stride_zd,
                         mask=mask_n[None, :] & (offs_k[:, None] < D), other=0.0)
            s = _dot(a, bt, tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32), PRECISION, UPCAST)
        else:
            s = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
            for k0 in range(0, D, BLOCK_K):
                kk = k0 + offs_k
                ak = tl.load(z_ptr + zrow_m[:, None] * stride_zp + kk[None, :] * stride_zd,
                             mask=mask_m[:, None] & (kk[None, :] < D), other=0.0)
                bk = tl.load(z_ptr + zrow_n[None, :] * stride_zp + kk[:, None] * stride_zd,
                             mask=mask_n[None, :] & (kk[:, None] < D), other=0.0)
                s = _dot(ak, bk, s, PRECISION, UPCAST)

        if KERNEL != POLYNOMIAL:
            sq_n = tl.load(sq_ptr + zrow_n, mask=mask_n, other=0.0)
        # the distances (or c_0·d) for both paths, outside the branch (Triton 3.6's software
        # pipeliner fails on a loop whose dot result is used only inside an if)
        if KERNEL == GAUSSIAN:
            # x = c_0·d = c_0‖z_p‖² + c_0‖z_q‖² − 2c_0⟨z_p, z_q⟩: the scale folded into the
            # squared norms, so one FFMA and one add per pair; d >= 0 is x <= 0 (c_0 < 0),
            # and min keeps NaN
            x = sqc_m[:, None] + (s * m2c0 + (sq_n * c0)[None, :])
            x = tl.minimum(x, 0.0, propagate_nan=tl.PropagateNan.ALL)
        elif KERNEL != POLYNOMIAL:
            d = sq_m[:, None] + sq_n[None, :] - 2.0 * s
            d = tl.maximum(d, 0.0, propagate_nan=tl.PropagateNan.ALL)  # clamp; keeps NaN
        else:
            d = s
        # An interior tile lies inside one block of ω (rows all in X or all in Y, columns
        # too), off the diagonal, and inside P and col_hi: no per-pair masks, selects or
        # block weights there, only per-row sums into the X or the Y column sum (at
        # N = M = 16384 all but the diagonal and boundary tiles). Other tiles take the
        # masked path. The two give the same sums up to rounding.
        col_x = n0 + BLOCK_N <= N
        col_y = n0 >= N
        interior = (r0 + BLOCK_M <= P) & (n0 + BLOCK_N <= col_hi) & (rows_x | rows_y) \
            & (col_x | col_y) & ((n0 >= r0 + BLOCK_M) | (n0 + BLOCK_N <= r0))
        same_blk = (rows_x & col_x) | (rows_y & col_y)
        om_t = tl.where(same_blk, tl.where(rows_x, wA, wB), wC)
        if COMPUTE_GRAD:
            interior = interior & (om_t != 0.0)  # weight-0 pairs: no 0·inf in the masked path
        if interior:
            if KERNEL == GAUSSIAN:
                k, g = _gauss_folded(x, c_ptr, NSIG, COMPUTE_GRAD, SQUARE_MASK, SQUARE_TOP)
            else:
                k, g = _transform(d, s, c_ptr, gamma, coef, KERNEL, NSIG, DEGREE, COMPUTE_GRAD,
                                  SQUARE_MASK, SQUARE_TOP)
            rs = tl.sum(k, axis=1)
            if TRIANGLE:  # an interior tile of the triangle lies above the diagonal
                rs = tl.where(same_blk, 2.0 * rs, rs)
            sum_x += tl.where(col_x, rs, 0.0)
            sum_y += tl.where(col_x, 0.0, rs)
            if COMPUTE_GRAD:
                w = om_t * g
        else:
            diag = offs_m[:, None] == offs_n[None, :]
            # exact zero on the diagonal whatever the dot rounding
            if KERNEL == GAUSSIAN:
                k, g = _gauss_folded(tl.where(diag, 0.0, x), c_ptr, NSIG, COMPUTE_GRAD,
                                     SQUARE_MASK, SQUARE_TOP)
            else:
                if KERNEL != POLYNOMIAL:
                    d = tl.where(diag, 0.0, d)
                k, g = _transform(d, s, c_ptr, gamma, coef, KERNEL, NSIG, DEGREE, COMPUTE_GRAD,
                                  SQUARE_MASK, SQUARE_TOP)

            valid = mask_m[:, None] & mask_n[None, :]
            if EXCLUDE_DIAG:
                valid = valid & (~diag)
            col_in_x = offs_n < N
            if TRIANGLE:
                upper = offs_n[None, :] > offs_m[:, None]
                lower = offs_n[None, :] < offs_m[:, None]
                same = row_in_x[:, None] == col_in_x[None, :]
                k = tl.where(upper & same, 2.0 * k, k)
                valid = valid & (~lower)
            k = tl.where(valid, k, 0.0)
            sum_x += tl.sum(tl.where(col_in_x[None, :], k, 0.0), axis=1)
            sum_y += tl.sum(tl.where(col_in_x[None, :], 0.0, k), axis=1)

            if COMPUTE_GRAD:
                same = row_in_x[:, None] == col_in_x[None, :]
                om = tl.where(same, tl.where(row_in_x[:, None], wA, wB), wC)
                # distance kernels: the diagonal pair contributes z_p·w_pp − w_pp·z_p = 0
                # exactly (d = 0 whatever z_p), so w_pp is left out rather than cancelled in
                # rounding (biased estimator: w_pp = ω f'(0) ≠ 0; the dot rounds it, Σ w does
                # not) (and pairs of weight 0, e.g. same-sample pairs of a pair sum, never
                # make 0·inf)
                w_ok = valid & (om != 0.0)
                if KERNEL != POLYNOMIAL:
                    w_ok = w_ok & (~diag)
                w = tl.where(w_ok, om * g, 0.0)

        if COMPUTE_GRAD:
            wsum += tl.sum(w, axis=1)
            if WRITE_W:
                tl.store(w_ptr + (offs_m - row0).to(tl.int64)[:, None] * stride_wr
                         + offs_n[None, :], w.to(w_ptr.dtype.element_ty),
                         mask=mask_m[:, None] & mask_n[None, :])
            else:
                if SINGLE_K:
                    zv = tl.trans(bt)
                else:
                    zv = tl.load(z_ptr + zrow_n[:, None] * stride_zp
                                 + offs_v[None, :] * stride_zd,
                                 mask=mask_n[:, None] & mask_v[None, :], other=0.0)
                wv, zv = _w_operand(w, zv)
                acc = _dot(wv, zv, acc, PRECISION, UPCAST)

    if WRITE_W:  # partial sums of split pid_v
        rbase = rows_ptr + pid_v * stride_rb
        tl.store(rbase + offs_m, sum_x, mask=mask_m)
        tl.store(rbase + P + offs_m, sum_y, mask=mask_m)
        tl.store(wsum_ptr + pid_v * P + offs_m, wsum, mask=mask_m)
    elif pid_v == 0:
        rbase = rows_ptr + pid_b * stride_rb
        tl.store(rbase + offs_m, sum_x, mask=mask_m)
        tl.store(rbase + P + offs_m, sum_y, mask=mask_m)

    if COMPUTE_GRAD and not WRITE_W:
        if KERNEL == POLYNOMIAL:
            grad = 2.0 * acc
        else:
            zm = tl.load(z_ptr + zrow_m[:, None] * stride_zp + offs_v[None, :] * stride_zd,
                         mask=mask_m[:, None] & mask_v[None, :], other=0.0).to(tl.float32)
            grad = 4.0 * (zm * wsum[:, None] - acc)
        tl.store(grad_ptr + offs_m.to(tl.int64)[:, None] * stride_gp + offs_v[None, :], grad,
                 mask=mask_m[:, None] & mask_v[None, :])


@triton.jit
def mmd_grad_gemm_kernel(
    # Second stage of the two-stage gradient: for the R rows row0 .. row0 + R − 1 of one chunk,
    # grad[p] = 4 (z_p Σ_q w_pq − Σ_q w_pq z_q)  (distance kernels), or 2 Σ_q w_pq z_q
    # (polynomial), with w (R × P, chunk-relative rows) and wsum from mmd_fused_kernel(WRITE_W).
    # A tiled GEMM W·Z (grouped launch order so a group of row tiles shares Z tiles in L2)
    # with the epilogue fused.
    # pointers: w (chunk × P), Z, Σ_q w_pq, the gradient
    w_ptr, z_ptr, wsum_ptr, grad_ptr,
    # sizes: the chunk's first row and its rows, all rows, features
    row0, R, P, D,
    # strides (in elements)
    stride_wr, stride_zp, stride_zd, stride_gp,
    # flags and tiles
    POLY: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr, UPCAST: tl.constexpr,
):
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(R, BLOCK_M)
    tiles_n = tl.cdiv(D, BLOCK_N)
    group = GROUP_M * tiles_n
    first_m = (pid // group) * GROUP_M
    size_m = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % size_m
    pid_n = (pid % group) // size_m

    offs_r = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_v = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_r = offs_r < R
    mask_v = offs_v < D
    offs_k = tl.arange(0, BLOCK_K)
    # pointers advance by BLOCK_K per step (no per-step 64-bit index arithmetic); rows past R
    # and features past D are clamped to valid ones, not masked: only the K tail is masked
    safe_r = tl.where(mask_r, offs_r, 0).to(tl.int64)
    safe_v = tl.where(mask_v, offs_v, 0)
    w_tile = w_ptr + safe_r[:, None] * stride_wr + offs_k[None, :]
    z_tile = z_ptr + offs_k[:, None] * stride_zp + safe_v[None, :] * stride_zd
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, P, BLOCK_K):
        k_ok = offs_k < P - k0
        wt = tl.load(w_tile, mask=k_ok[None, :], other=0.0)
        zt = tl.load(z_tile, mask=k_ok[:, None], other=0.0).to(wt.dtype)  # fp16 z, fp32 w
        acc = _dot(wt, zt, acc, PRECISION, UPCAST)
        w_tile += BLOCK_K
        z_tile += BLOCK_K * stride_zp

    rows = (row0 + offs_r).to(tl.int64)
    mask = mask_r[:, None] & mask_v[None, :]
    if POLY:
        grad = 2.0 * acc
    else:
        wsum = tl.load(wsum_ptr + rows, mask=mask_r, other=0.0)
        zm = tl.load(z_ptr + rows[:, None] * stride_zp + offs_v[None, :] * stride_zd,
                     mask=mask, other=0.0).to(tl.float32)
        grad = 4.0 * (zm * wsum[:, None] - acc)
    tl.store(grad_ptr + rows[:, None] * stride_gp + offs_v[None, :], grad, mask=mask)

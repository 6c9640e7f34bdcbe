"""Inverse-CDF samplers: Philox uniforms drawn in-kernel and mapped through F⁻¹ in one launch.

Stream layout (docs/random.md): element j of an (R, n) output (row-major, row r = j // n) takes word
j % 4 of stream counter ``offset + j // 4`` — exactly the values of ``fastgan.rand(R, n)`` for the
same generator state — so ``fastgan.rand`` followed by the reference F⁻¹
(``fastgan.reference.sample``) reproduces these kernels. ``stream_block`` carries the 64-bit
counter in two 32-bit words; for offset + j // 4 < 2**32 it equals ``tl.randint4x(seed, offset +
j // 4)``, and unlike ``tl.randint4x`` it gives the same words on Triton 3.6 and 3.9 for every
64-bit offset. Uniforms use Triton's map (``uint_to_uniform``): u in [0, 1 - 2**-24], never 1.

Each program handles BLOCK counters = 4 * BLOCK consecutive elements. All F⁻¹ arithmetic is in
float64 (the normal tails need it); the result is saturated at ±(the largest finite value of the
output's dtype), so it never rounds to ±inf, and rounded once to that dtype. Truncated-normal
rows whose nearer bound lies beyond ±TAIL_Z are inverted relative to that bound (``_tail_offset``,
derived in ``fastgan.reference.sample.tail_offset``), AS 241 elsewhere.
"""
import triton
import triton.language as tl

from .._codes import SamplerFamily, TabulatedMode
from ._math import log1p
from .random import stream_block, uint_to_uniform

# Family codes (fastgan._codes.SamplerFamily) and the per-row parameter columns each reads.
#   UNIFORM      low, high
#   EXPONENTIAL  rate
#   LAPLACE      loc, scale
#   LOGISTIC     loc, scale
#   CAUCHY       loc, scale
#   NORMAL       mean, std, a, b, alpha, beta, log_lo, r_lo, log_hi, r_hi, phi_lo, phi_hi
#                (truncated to [a, b]; ±inf bounds for the plain normal; see
#                normal_row_constants in the reference; phi_* = exp(log_*))
FAMILY_UNIFORM = tl.constexpr(int(SamplerFamily.UNIFORM))
FAMILY_EXPONENTIAL = tl.constexpr(int(SamplerFamily.EXPONENTIAL))
FAMILY_LAPLACE = tl.constexpr(int(SamplerFamily.LAPLACE))
FAMILY_LOGISTIC = tl.constexpr(int(SamplerFamily.LOGISTIC))
FAMILY_CAUCHY = tl.constexpr(int(SamplerFamily.CAUCHY))
MODE_CATEGORICAL = tl.constexpr(int(TabulatedMode.CATEGORICAL))
P_MIN = tl.constexpr(2.3283064365386963e-10)  # 2**-32: u = 0 is raised to this where F⁻¹(0) = -inf
PI = tl.constexpr(3.141592653589793)  # keep it right of a tensor: the interpreter's constexpr * tensor stays a constexpr
# Largest finite float32 / float64: samples are saturated there before the store, never ±inf.
FLT_MAX = tl.constexpr(3.4028234663852886e+38)
DBL_MAX = tl.constexpr(1.7976931348623157e+308)
# Far-tail inversion (fastgan.reference.sample.tail_offset): threshold and Newton steps.
TAIL_Z = tl.constexpr(30.0)
TAIL_NEWTON = tl.constexpr(3)


@triton.jit
def _saturate(x, out_ptr):
    # x (float64) clamped to ±the largest finite value of out_ptr's element type.
    if out_ptr.dtype.element_ty == tl.float32:
        x = tl.minimum(tl.maximum(x, -FLT_MAX), FLT_MAX)
    else:
        x = tl.minimum(tl.maximum(x, -DBL_MAX), DBL_MAX)
    return x


@triton.jit
def _pick(c0, c1, zero, a, b, c):
    # a where c0, else b where c1, else c; zero (a float64 zero tensor) fixes the dtype.
    return tl.where(c0, zero + a, tl.where(c1, zero + b, zero + c))


@triton.jit
def _ndtri(p, logp):
    # z = Φ⁻¹(p) for p ≤ ~1/2 given p and log p: Wichura's AS 241 (PPND16), ~1e-16 relative.
    #   central, p ≥ 0.075:  z = q·A(r)/B(r),           q = p - 1/2, r = 0.180625 - q²
    #   tail, s ≤ 5:         z = -C(s - 1.6)/D(s - 1.6), s = sqrt(-log p)
    #   far tail, s > 5:     z = -E(s - 5)/F(s - 5)
    # Taking log p keeps the tails accurate where p itself underflows float64. The three
    # rationals share one Horner evaluation with per-element coefficients (one division).
    logp = tl.minimum(logp, 0.0)
    q = p - 0.5
    s = tl.sqrt(-logp)
    c0 = q >= -0.425
    c1 = s <= 5.0
    zero = tl.zeros_like(s)
    x = tl.where(c0, 0.180625 - q * q, tl.where(c1, s - 1.6, s - 5.0))
    num = _pick(c0, c1, zero, 2.5090809287301226727e+3, 7.74545014278341407640e-4, 2.01033439929228813265e-7)
    num = num * x + _pick(c0, c1, zero, 3.3430575583588128105e+4, 2.27238449892691845833e-2,
                          2.71155556874348757815e-5)
    num = num * x + _pick(c0, c1, zero, 6.7265770927008700853e+4, 2.41780725177450611770e-1,
                          1.24266094738807843860e-3)
    num = num * x + _pick(c0, c1, zero, 4.5921953931549871457e+4, 1.27045825245236838258e+0,
                          2.65321895265761230930e-2)
    num = num * x + _pick(c0, c1, zero, 1.3731693765509461125e+4, 3.64784832476320460504e+0,
                          2.96560571828504891230e-1)
    num = num * x + _pick(c0, c1, zero, 1.9715909503065514427e+3, 5.76949722146069140550e+0,
                          1.78482653991729133580e+0)
    num = num * x + _pick(c0, c1, zero, 1.3314166789178437745e+2, 4.63033784615654529590e+0,
                          5.46378491116411436990e+0)
    num = num * x + _pick(c0, c1, zero, 3.3871328727963666080e+0, 1.42343711074968357734e+0,
                          6.65790464350110377720e+0)
    den = _pick(c0, c1, zero, 5.2264952788528545610e+3, 1.05075007164441684324e-9, 2.04426310338993978564e-15)
    den = den * x + _pick(c0, c1, zero, 2.8729085735721942674e+4, 5.47593808499534494600e-4,
                          1.42151175831644588870e-7)
    den = den * x + _pick(c0, c1, zero, 3.9307895800092710610e+4, 1.51986665636164571966e-2,
                          1.84631831751005468180e-5)
    den = den * x + _pick(c0, c1, zero, 2.1213794301586595867e+4, 1.48103976427480074590e-1,
                          7.86869131145613259100e-4)
    den = den * x + _pick(c0, c1, zero, 5.3941960214247511077e+3, 6.89767334985100004550e-1,
                          1.48753612908506148525e-2)
    den = den * x + _pick(c0, c1, zero, 6.8718700749205790830e+2, 1.67638483018380384940e+0,
                          1.36929880922735805310e-1)
    den = den * x + _pick(c0, c1, zero, 4.2313330701600911252e+1, 2.05319162663775882187e+0,
                          5.99832206555887937690e-1)
    den = den * x + 1.0
    return tl.where(c0, q, zero - 1.0) * (num / den)


@triton.jit
def _mills_m1(x):
    # M(x) - 1 for x ≥ TAIL_Z, M(x) = x·Φ(-x)/φ(x) = 1 - x⁻² + 3x⁻⁴ - ... (asymptotic series)
    w = 1.0 / (x * x)
    acc = w * 2027025.0 - 135135.0
    acc = acc * w + 10395.0
    acc = acc * w - 945.0
    acc = acc * w + 105.0
    acc = acc * w - 15.0
    acc = acc * w + 3.0
    acc = acc * w - 1.0
    return acc * w


@triton.jit
def _tail_offset(a, e):
    # δ ≥ 0 with Φ(-(A + δ)) = Φ(-A)·e^(-E) (reference: tail_offset): Newton on
    # h(δ) = δ(A + δ/2) + log1p(δ/A) - [log M(A + δ) - log M(A)] - E, h'(δ) = x/M(x),
    # from δ₀ = 2E/(A + sqrt(A² + 2E)); TAIL_NEWTON steps.
    d = e * 2.0 / (a + tl.sqrt(a * a + 2.0 * e))
    log_ma = log1p(_mills_m1(a))
    for _ in tl.static_range(TAIL_NEWTON):
        x = a + d
        mx = _mills_m1(x)
        h = d * (a + 0.5 * d) + log1p(d / a) - (log1p(mx) - log_ma) - e
        d = d - h * (1.0 + mx) / x
    return tl.maximum(d, 0.0)


@triton.jit
def _param_value(u, row_ptr, FAMILY: tl.constexpr):
    # x = F⁻¹(u) for one family; row_ptr points at each element's row of parameters (float64).
    u = u.to(tl.float64)
    p = tl.maximum(u, P_MIN)
    if FAMILY == FAMILY_UNIFORM:  # uniform: low + (high - low)·u
        low = tl.load(row_ptr)
        high = tl.load(row_ptr + 1)
        x = low + (high - low) * u
    elif FAMILY == FAMILY_EXPONENTIAL:  # exponential: -log(1 - u)/rate
        x = -tl.log(1.0 - u) / tl.load(row_ptr)
    elif FAMILY == FAMILY_LAPLACE:  # laplace: loc + scale·(log 2p | -log(2 - 2p))
        z = tl.where(p < 0.5, tl.log(2.0 * p), -tl.log(2.0 - 2.0 * p))
        x = tl.load(row_ptr) + tl.load(row_ptr + 1) * z
    elif FAMILY == FAMILY_LOGISTIC:  # logistic: loc + scale·logit(p)
        z = tl.log(p) - tl.log(1.0 - p)
        x = tl.load(row_ptr) + tl.load(row_ptr + 1) * z
    elif FAMILY == FAMILY_CAUCHY:  # cauchy: loc + scale·tan(π(p - 1/2)) = loc ∓ scale·cot(π min(p, 1 - p))
        m = tl.minimum(p, 1.0 - p)
        cot = tl.cos(m * PI) / tl.sin(m * PI)
        x = tl.load(row_ptr) + tl.load(row_ptr + 1) * tl.where(p < 0.5, -cot, cot)
    else:  # FAMILY_NORMAL, on [a, b]: P = Φ(β)(r_lo + p(1 - r_lo)), Q = 1 - P = Φ(-α)(r_hi + (1-p)(1 - r_hi))
        mean = tl.load(row_ptr)
        std = tl.load(row_ptr + 1)
        a = tl.load(row_ptr + 2)
        b = tl.load(row_ptr + 3)
        alpha = tl.load(row_ptr + 4)
        beta = tl.load(row_ptr + 5)
        log_lo = tl.load(row_ptr + 6)
        r_lo = tl.load(row_ptr + 7)
        log_hi = tl.load(row_ptr + 8)
        r_hi = tl.load(row_ptr + 9)
        phi_lo = tl.load(row_ptr + 10)  # Φ(β) = exp(log_lo)
        phi_hi = tl.load(row_ptr + 11)  # Φ(-α) = exp(log_hi)
        t_lo = r_lo + p * (1.0 - r_lo)
        t_hi = r_hi + (1.0 - p) * (1.0 - r_hi)
        lower = phi_lo * t_lo <= phi_hi * t_hi  # invert whichever of P, Q is ≤ 1/2
        t = tl.where(lower, t_lo, t_hi)
        log_t = tl.log(t)
        logp = tl.where(lower, log_lo, log_hi) + log_t
        z = _ndtri(tl.where(lower, phi_lo, phi_hi) * t, logp)
        z = tl.where(lower, z, -z)
        z = tl.minimum(tl.maximum(z, alpha), beta)
        x = mean + std * z
        # Far tails (nearer bound beyond ±TAIL_Z): the bound moved inwards by σ·δ; the
        # branch runs only in blocks that hold such a row, so plain normals pay nothing.
        far_hi = alpha >= TAIL_Z
        far_lo = beta <= -TAIL_Z
        far = far_hi | far_lo
        if tl.max(far.to(tl.int32), axis=0) > 0:
            anchor = tl.where(far_hi, alpha, tl.where(far_lo, -beta, TAIL_Z))
            delta = _tail_offset(anchor, tl.where(far, -log_t, 0.0))
            x = tl.where(far, tl.where(far_hi, a + std * delta, b - std * delta), x)
        x = tl.minimum(tl.maximum(x, a), b)
    return x


@triton.jit
def _param_emit(out_ptr, rows_ptr, j, bits, N, n, R, FAMILY: tl.constexpr, W: tl.constexpr):
    r = tl.minimum(j // n, R - 1)  # masked lanes (j ≥ N) read the last row, never out of bounds
    x = _saturate(_param_value(uint_to_uniform(bits), rows_ptr + r * W, FAMILY), out_ptr)
    tl.store(out_ptr + j, x.to(out_ptr.dtype.element_ty), mask=j < N)


@triton.jit(do_not_specialize=["seed_lo", "seed_hi", "off_lo", "off_hi"])
def parametric_kernel(
    # pointers: the (R, n) contiguous float32/float64 output, the (R, W) float64 parameter rows
    out_ptr, rows_ptr,
    # sizes: N = R·n samples, n per row, R rows
    N, n, R,
    # the Philox seed and first counter, as int32 bit patterns (lo, hi)
    seed_lo, seed_hi, off_lo, off_hi,
    # constexpr: the family (SamplerFamily), the row width, counters per program
    FAMILY: tl.constexpr, W: tl.constexpr, BLOCK: tl.constexpr,
):
    # out[j] = F⁻¹_FAMILY(u_j; params of row j // n), u_j = word j % 4 of counter offset + j // 4.
    pid = tl.program_id(0).to(tl.int64)
    b = pid * BLOCK + tl.arange(0, BLOCK)
    w0, w1, w2, w3 = stream_block(seed_lo, seed_hi, off_lo, off_hi, b)
    j = b * 4
    _param_emit(out_ptr, rows_ptr, j, w0, N, n, R, FAMILY, W)
    _param_emit(out_ptr, rows_ptr, j + 1, w1, N, n, R, FAMILY, W)
    _param_emit(out_ptr, rows_ptr, j + 2, w2, N, n, R, FAMILY, W)
    _param_emit(out_ptr, rows_ptr, j + 3, w3, N, n, R, FAMILY, W)


@triton.jit
def _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j, bits, N, n, R, steps,
              MODE: tl.constexpr):
    r = tl.minimum(j // n, R - 1)
    start = tl.load(start_ptr + r)
    length = tl.load(len_ptr + r)
    row = cdf_ptr + start
    t = uint_to_uniform(bits).to(tl.float64) * tl.load(row + length - 1).to(tl.float64)
    # Binary search for the first k with c[k] > t; it exists since u < 1 means t < c[K-1].
    lo = length * 0
    hi = length - 1
    for _ in range(steps):
        active = lo < hi
        mid = (lo + hi) // 2
        c = tl.load(row + mid, mask=active, other=0.0).to(tl.float64)
        go_left = c > t
        hi = tl.where(active & go_left, mid, hi)
        lo = tl.where(active & (c <= t), mid + 1, lo)
    if MODE == MODE_CATEGORICAL:  # the bin index; -1 for a row of total weight 0 (no bin)
        idx = tl.where(tl.load(row + length - 1).to(tl.float64) > 0.0, lo.to(tl.int64), -1)
        tl.store(out_ptr + j, idx, mask=j < N)
    else:  # inverse_cdf: linear interpolation in [c[k-1], c[k]) (k = 0: the atom at x[0])
        km1 = tl.maximum(lo - 1, 0)
        c1 = tl.load(row + lo).to(tl.float64)
        c0 = tl.load(row + km1).to(tl.float64)
        srow = sup_ptr + tl.load(sstart_ptr + r)
        x1 = tl.load(srow + lo).to(tl.float64)
        x0 = tl.load(srow + km1).to(tl.float64)
        first = lo == 0
        den = tl.where(first, 1.0, c1 - c0)
        x = _saturate(tl.where(first, x0, x0 + (t - c0) / den * (x1 - x0)), out_ptr)
        tl.store(out_ptr + j, x.to(out_ptr.dtype.element_ty), mask=j < N)


@triton.jit(do_not_specialize=["seed_lo", "seed_hi", "off_lo", "off_hi"])
def tabulated_kernel(
    # pointers: the (R, n) output; the flat tables and support points; per-row int64 table
    # starts, lengths and support starts
    out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr,
    # sizes: N = R·n samples, n per row, R rows; binary-search halvings
    N, n, R, steps,
    # the Philox seed and first counter, as int32 bit patterns (lo, hi)
    seed_lo, seed_hi, off_lo, off_hi,
    # constexpr: what to write (TabulatedMode), counters per program
    MODE: tl.constexpr, BLOCK: tl.constexpr,
):
    # Row r's cumulative table is cdf[start[r] : start[r] + len[r]] (ragged rows by offsets; dense
    # (R, K) rows have start = r·K); its support points sup[sstart[r] : ...] (INVERSE_CDF only).
    # t = u·c[K-1]; k = first index with c[k] > t (`steps` = ceil(log2(max K)) halvings).
    # CATEGORICAL writes k (int64; -1 where c[K-1] = 0); INVERSE_CDF writes
    # x[k-1] + (t - c[k-1])/(c[k] - c[k-1])·(x[k] - x[k-1]).
    pid = tl.program_id(0).to(tl.int64)
    b = pid * BLOCK + tl.arange(0, BLOCK)
    w0, w1, w2, w3 = stream_block(seed_lo, seed_hi, off_lo, off_hi, b)
    j = b * 4
    _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j, w0, N, n, R, steps, MODE)
    _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j + 1, w1, N, n, R, steps, MODE)
    _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j + 2, w2, N, n, R, steps, MODE)
    _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j + 3, w3, N, n, R, steps, MODE)


@triton.jit
def categorical_table_kernel(
    # Row r of the categorical table: out[r, k] = Σ_{k' <= k} floor(w[r, k'] · a_r · b_r), the
    # exact float64 prefix sums of the integer counts of fastgan.reference.sample.weight_counts
    # (a_r · b_r = 2^(53 − L − e_r) split in two exact powers of two, prepared on the host from
    # the row maxima). Every partial sum is an integer ≤ 2^53, so the in-block scan and the
    # carry between blocks give the same bits as torch.cumsum in any order. One read of w and
    # one write of the table, instead of a float64 copy and four float64 passes.
    # pointers: weights (R, K), the two per-row scales (R,), the table (R, K) float64
    w_ptr, a_ptr, b_ptr, out_ptr,
    # sizes and strides (in elements)
    K, stride_wr, stride_wk,
    # tiles
    BLOCK: tl.constexpr,
):
    r = tl.program_id(0).to(tl.int64)
    a = tl.load(a_ptr + r)
    b = tl.load(b_ptr + r)
    carry = tl.zeros((), dtype=tl.float64)
    for k0 in range(0, K, BLOCK):
        k = k0 + tl.arange(0, BLOCK)
        ok = k < K
        w = tl.load(w_ptr + r * stride_wr + k * stride_wk, mask=ok, other=0.0).to(tl.float64)
        counts = tl.floor(w * a * b)
        table = tl.cumsum(counts, axis=0) + carry
        tl.store(out_ptr + r * K + k, table, mask=ok)
        carry += tl.sum(counts, axis=0)

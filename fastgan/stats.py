r"""Two-sample tests: the MMD permutation test with every permutation in one fused pass.

:func:`mmd_test` asks "were x and y drawn from the same distribution?" with the kernel MMD²
as the statistic and its permutation distribution as the null. ``fastgan test A B`` runs it
on two array files.

How all permutations come from one pass
---------------------------------------
Pool the samples, Z = [x; y] with P = N + M rows, and let K be the P × P kernel matrix. A
permutation b assigns N rows to X and M rows to Y; write it as indicators a_b (1 on the rows
assigned to X) and f_b = 1 − a_b, or as signs σ_b = a_b − f_b ∈ {±1}^P. With the weights

    s_b = a_b / N − f_b / M = (h/2)·σ_b + g·1,   h = 1/N + 1/M,   g = (1/N − 1/M)/2,

the biased (V-statistic) MMD² of permutation b is the quadratic form

    T_b = s_bᵀ K s_b = K_aa / N² + K_ff / M² − 2 K_af / (N M),

with K_aa = a_bᵀ K a_b, K_ff = f_bᵀ K f_b, K_af = a_bᵀ K f_b. Its diagonal terms are
Σ_p s_bp² k(z_p, z_p) = D_a / N² + D_f / M² (D_a = Σ_p a_bp k_pp, D_f likewise), which the
unbiased estimator must drop, and the unbiased estimator also weights the off-diagonal pairs
differently: 1/(N(N−1)) inside X, 1/(M(M−1)) inside Y, −1/(NM) across:

    U_b = α K'_aa + β K'_ff − 2 K'_af / (N M),   α = 1/(N(N−1)),   β = 1/(M(M−1)),

where K' = K − diag(K). This is not one quadratic form (α β ≠ 1/(N M)²), but it is a linear
function of one quadratic form and two per-row terms. With r = K' 1 (row sums without the
diagonal), R_a = a_bᵀ r = K'_aa + K'_af and R_f = f_bᵀ r = K'_af + K'_ff, the three unknowns
K'_aa, K'_ff, K'_af follow from q_b = s_bᵀ K' s_b, R_a and R_f (the system's determinant is
h² > 0): K'_af = (R_a/N² + R_f/M² − q_b) / h², and

    U_b = c q_b + c_A R_a + c_B R_f,
    c   = 1 + (ε_N + ε_M)/h²,   c_A = ε_N − (ε_N + ε_M)/(N h)²,   c_B = ε_M − (ε_N + ε_M)/(M h)²,

with ε_N = 1/(N²(N−1)) = α − 1/N² and ε_M = 1/(M²(M−1)). The kernel zeroes the diagonal
of every tile (exact for every permutation and every kernel, the polynomial included, whose
k(z, z) is not constant; for gaussian/laplacian/imq it is the number of σ, for energy 0),
so no diagonal is subtracted afterwards. The coefficients are formed in closed form in
float64: c_A R_a and c_B R_f are of the statistic's size (c_A ≈ 1/(2N³) at N = M), so
nothing large cancels on the host.

So a pass over the tiles of K needs, per row p, the row sum r_p and (K σ_b)_p for every b:
K s_b = (h/2) K σ_b + g r. The Triton kernel (kernels/stats.py) multiplies each kernel tile by
the (tile × B) slice of the sign matrix S = [σ_0 … σ_B] on the tensor cores (±1 is exact in
every dtype) and reduces q_b and R_a per row tile; the CPU path does the same in row chunks.
Column 0 of S is the observed split, so the statistic and the null come from the same
arithmetic. Memory O(P·(D + B)); the P × P matrix is never stored.

The p-value is (1 + #{b : T_b ≥ T}) / (1 + B) (the observed split counted as one of the
permutations: a valid p-value, never 0, Phipson & Smyth 2010). Only ``alternative="greater"``
exists: the population MMD² is 0 under the null and positive otherwise, so only large
statistics are evidence against it; other values are rejected.

Precision of the null statistics (max |T_b − T_b(float64)| in units of the null's standard
deviation, against the float64 statistics of the same inputs, measured on N, M = 30 to 40,
D = 5; tests/test_stats.py checks the bounds in brackets):

- float64 (CPU path): ~1e-14 [1e-9];
- float32, CPU path and the Triton kernel with ``precision="ieee"``: ~1e-6 [1e-4];
The float16 and bfloat16 numbers are the Triton kernel's; the CPU path computes those inputs in
float32.

- float16: ~2e-3 [2e-2] (the rows are rounded to fp16 after centring; kernel values enter
  the tensor cores in fp16, or fp32 for the polynomial and energy kernels, whose values
  overflow it);
- bfloat16: ~2e-2 [0.1] (kernel values rounded to bf16, 2^-9 relative, before the product
  with the signs; fp32 accumulation);
- float32 with ``precision="tf32"`` (the GPU default): the Gram and kernel tiles lose ~5e-4
  relative, so expect ~1e-2; not measurable here (the interpreter multiplies in full fp32).
p-values move only where a T_b lies within that error of T.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import torch

from . import _backend
from ._backend import cdiv, next_pow2
from ._codes import Estimator, MMDKernel

__all__ = ["MMDTestResult", "mmd_test", "permutation_indices", "power_ratio", "add_cli",
           "run_cli"]

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_BANDWIDTH_KERNELS = ("gaussian", "laplacian", "imq")
_LOG2E = 1.4426950408889634
# elements of the (rows × P) kernel block of the CPU path: at 2^20 (4 MiB in float32) the
# block × S product is a GEMM with enough rows to run near the CPU's matmul rate
_TORCH_BUDGET = 1 << 20
# λ in the power criterion MMD²_u / sqrt(V + λ): a constant kernel gives 0, not 0/0
_POWER_EPS = 1e-12


# ----------------------------------------------------------------------------------------------
# the result
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MMDTestResult:
    """What :func:`mmd_test` returns.

    statistic: the observed MMD² (float); pvalue: (1 + #{null >= statistic}) / (1 + B);
    null: the B permutation statistics (float64 tensor on the inputs' device);
    bandwidth: the σ used (a tuple; None for the polynomial and energy kernels);
    selection: with ``select="power"``, ``{"candidates": (σ...), "ratios": (...),
    "rows": (n_select, m_select)}`` from the selection split, else None; the other fields
    echo the arguments (``n``, ``m`` are the sizes the test ran on).
    """

    statistic: float
    pvalue: float
    null: torch.Tensor
    bandwidth: tuple | None
    kernel: str
    estimator: str
    alternative: str
    permutations: int
    n: int
    m: int
    selection: dict | None = None


# ----------------------------------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------------------------------
def _check_pair(x, y, min_rows: int):
    # the MMD op's own checks (the same messages): one rule for both
    from .ops.mmd.checks import check_pair

    check_pair(x, y, min_rows=(min_rows, min_rows))


def _check_kernel_args(kernel, degree, gamma, coef, precision):
    from .ops.mmd.checks import check_kernel

    check_kernel(kernel, degree, gamma, coef, precision)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _sigmas(bandwidth, what: str = "bandwidth") -> list[float]:
    """Concrete σ values (floats) from a number, a sequence or a tensor."""
    if isinstance(bandwidth, torch.Tensor):
        bandwidth = bandwidth.detach().reshape(-1).tolist()
    if _is_number(bandwidth):
        sig = [float(bandwidth)]
    elif isinstance(bandwidth, Sequence) and not isinstance(bandwidth, str) and len(bandwidth) \
            and all(_is_number(b) for b in bandwidth):
        sig = [float(b) for b in bandwidth]
    else:
        raise ValueError(f"{what} must be \"median\", a positive float or a non-empty sequence "
                         f"of them, got {bandwidth!r}")
    for s in sig:
        if not (s > 0 and math.isfinite(s)):
            raise ValueError(f"{what}: σ must be positive and finite, got {s!r}")
    return sig


def _check_count(value, name: str, low: int):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


# ----------------------------------------------------------------------------------------------
# permutations
# ----------------------------------------------------------------------------------------------
def permutation_indices(n_total: int, permutations: int, *, generator=None, device=None):
    """The permutations :func:`mmd_test` uses: a (permutations, n_total) int64 tensor.

    Row b is a stable argsort of row b of ``fastgan.rand(permutations, n_total,
    generator=generator, device=device)`` (a uniformly random permutation from fastgan's
    Philox stream, the same on CPU and GPU for the same generator state, as
    :func:`fastgan.metrics.kid_subset_indices` draws subsets). Permutation b assigns the pooled
    rows ``perm[b, :N]`` to x and the rest to y. Advances the generator by
    ceil(permutations · n_total / 4) counters.

    >>> perms = fastgan.stats.permutation_indices(10, 3, generator=fastgan.Generator(0))
    """
    import fastgan

    _check_count(n_total, "n_total", 1)
    _check_count(permutations, "permutations", 1)
    u = fastgan.rand(permutations, n_total, generator=generator, device=device)
    return torch.argsort(u, dim=1, stable=True)


def _signs(perms: torch.Tensor, n: int, p: int) -> torch.Tensor:
    """S (P × (B + 1) int8, contiguous): column 0 the observed split, column b + 1 the split of
    permutation b; +1 on the rows assigned to x, −1 on those assigned to y."""
    b = perms.shape[0]
    s = torch.full((b + 1, p), -1, dtype=torch.int8, device=perms.device)
    s[0, :n] = 1
    s[1:].scatter_(1, perms[:, :n], 1)
    return s.T.contiguous()


# ----------------------------------------------------------------------------------------------
# the two backends: (q, R_a) for every column of S, the row sums r and optionally K σ per row
# ----------------------------------------------------------------------------------------------
def _consts(kernel: str, sigmas) -> list[float]:
    """The per-σ constant that kernels/mmd.py's _transform multiplies d (or √d) by."""
    if kernel not in _BANDWIDTH_KERNELS:
        return [0.0]
    if kernel == "gaussian":
        return [-_LOG2E / (2.0 * s * s) for s in sigmas]
    if kernel == "laplacian":
        return [-_LOG2E / s for s in sigmas]
    return [1.0 / (2.0 * s * s) for s in sigmas]


def _prepare(x, y, kernel: str, use_triton: bool):
    """Z = [x; y] (centred by its mean for distance kernels) in the compute dtype, ‖z_p‖²."""
    if use_triton:
        dot = x.dtype if x.dtype in (torch.float16, torch.bfloat16) else torch.float32
        acc = torch.float32
    else:
        dot = acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    z = torch.cat([x.detach(), y.detach()]).to(acc)
    if kernel != "polynomial":
        z = z - z.mean(0)
    zc = z.to(dot).contiguous()
    zf = zc.to(acc)
    return zc, (zf * zf).sum(1).contiguous()


def _torch_kernel_block(zr, zc, sqr, sq, r0, cs, kernel, degree, gamma, coef):
    """k(z_r, z_q) for a chunk of rows against all rows (plain PyTorch, the chunk's dtype)."""
    if kernel == "polynomial":
        return (zr @ zc.T).mul_(gamma).add_(coef).pow_(degree)
    d = torch.addmm(sq[None, :], zr, zc.T, alpha=-2.0).add_(sqr[:, None]).clamp_min_(0.0)
    d.diagonal(r0).fill_(0.0)  # the chunk's own rows: exactly 0 whatever the rounding
    if kernel == "energy":
        return d.sqrt_().neg_()
    if kernel == "laplacian":
        d = d.sqrt_()
    k = None
    for j, c in enumerate(cs):
        t = d.mul_(c) if j == len(cs) - 1 else d * c  # the last σ reuses d's storage
        t = t.add_(1.0).rsqrt_() if kernel == "imq" else t.exp2_()
        k = t if k is None else k.add_(t)
    return k


def _torch_sums(zc, sq, cs, kernel, degree, gamma, coef, signs, half_h, g, exclude_diag,
                write_v):
    """The CPU path: row chunks of K (chunk × P, at most _TORCH_BUDGET elements unless one
    row is longer) times S; memory O(P·(chunk + B)). Returns (q, R_a) per column of S
    (float64), r (float64) and K σ per row (P × NB) when write_v."""
    p = zc.shape[0]
    nb = signs.shape[1]
    sf = signs.to(zc.dtype)
    q = torch.zeros(nb, dtype=torch.float64, device=zc.device)
    ra = torch.zeros(nb, dtype=torch.float64, device=zc.device)
    rows = torch.zeros(p, dtype=torch.float64, device=zc.device)
    v_all = torch.empty((p, nb), dtype=zc.dtype, device=zc.device) if write_v else None
    chunk = max(1, min(p, _TORCH_BUDGET // p))
    for r0 in range(0, p, chunk):
        r1 = min(p, r0 + chunk)
        k = _torch_kernel_block(zc[r0:r1], zc, sq[r0:r1], sq, r0, cs, kernel, degree, gamma,
                                coef)
        if exclude_diag:
            k.diagonal(r0).fill_(0.0)
        r = k.sum(1)
        acc = k @ sf
        if write_v:
            v_all[r0:r1] = acc
        sr = sf[r0:r1]
        v = acc.mul_(half_h).add_(r[:, None], alpha=g)
        q += (v.mul_(sr * half_h + g)).sum(0, dtype=torch.float64)
        ra += ((sr + 1.0) * r[:, None]).sum(0, dtype=torch.float64).mul_(0.5)
        rows[r0:r1] = r.to(torch.float64)
    return q, ra, rows, v_all


# (BLOCK_M, BLOCK_N, BLOCK_B, num_warps, num_stages) on CUDA: the accumulator is
# BLOCK_M × BLOCK_B fp32 (64 registers a thread at 8 warps). ptxas -v (Triton 3.9, sm_90a):
# 255 registers for fp32 tiles, 244 for bf16, no spills at 2 or 3 stages. Not yet timed on a
# GPU: with B = 1000 the tensor cores (2·128 flops per pair and pass) and the exp unit (one
# exp per pair and pass) are about balanced for bf16, so a larger BLOCK_B would not pay.
_CUDA_BLOCKS = (128, 64, 128, 8, 2)
# the interpreter's largest BLOCK_B (few, large blocks run faster there; the tests lower it
# to cover several blocks of permutations)
_INTERP_MAX_BLOCK_B = 128


def _triton_sums(zc, sq, cs, kernel, degree, gamma, coef, signs, half_h, g, exclude_diag,
                 write_v, precision):
    """Launch kernels/stats.py over (row tiles, blocks of columns of S)."""
    from .kernels.stats import mmd_perm_kernel

    p, d = zc.shape
    nb = signs.shape[1]
    cuda = zc.device.type == "cuda"
    bk = max(16, next_pow2(d))
    single = bk <= 128
    if not single:
        bk = 64
    if cuda:
        bm, bn, bb, warps, stages = _CUDA_BLOCKS
        if nb <= 64:
            bb = 64
    else:  # the interpreter: few, large blocks
        bm, bn, bb, warps, stages = 64, 64, min(_INTERP_MAX_BLOCK_B, max(16, next_pow2(nb))), 4, 1
    k_dot = {torch.bfloat16: 1, torch.float16: 2}.get(zc.dtype, 0)
    if k_dot == 2 and kernel in ("polynomial", "energy"):
        k_dot = 0  # their values are unbounded: fp16 would overflow
    tiles = cdiv(p, bm)
    dev = zc.device
    q = torch.full((tiles, nb), float("nan"), dtype=torch.float32, device=dev)
    ra = torch.full((tiles, nb), float("nan"), dtype=torch.float32, device=dev)
    rows = torch.full((p,), float("nan"), dtype=torch.float32, device=dev)
    v = torch.full((p, nb), float("nan"), dtype=torch.float32, device=dev) if write_v else rows
    c32 = torch.tensor(cs, dtype=torch.float32, device=dev)
    with _backend.on_device(zc):
        mmd_perm_kernel[(tiles, cdiv(nb, bb))](
            zc, sq, c32, signs, q, ra, rows, v,
            P=p, D=d, NB=nb,
            stride_zp=zc.stride(0), stride_zd=zc.stride(1), stride_sp=signs.stride(0),
            stride_q=q.stride(0),
            half_h=half_h, g=g, gamma=gamma, coef=coef,
            KERNEL=int(MMDKernel.from_name(kernel)), NSIG=len(cs), DEGREE=degree,
            EXCLUDE_DIAG=exclude_diag, WRITE_V=write_v,
            K_DOT=k_dot, PRECISION="ieee" if zc.dtype == torch.float32 and precision == "ieee"
            else "tf32", UPCAST=(not cuda) and zc.dtype == torch.bfloat16,
            BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, BLOCK_B=bb, SINGLE_K=single,
            num_warps=warps, num_stages=stages,
        )
    # per-tile partials added in float64 in a fixed order
    return (q.double().sum(0), ra.double().sum(0), rows.double(),
            v if write_v else None)


def _sums(x, y, kernel, sigmas, degree, gamma, coef, signs, exclude_diag, write_v, precision):
    n, m = x.shape[0], y.shape[0]
    use_triton = _backend.use_triton(x.device)
    zc, sq = _prepare(x, y, kernel, use_triton)
    half_h = 0.5 * (1.0 / n + 1.0 / m)
    g = 0.5 * (1.0 / n - 1.0 / m)
    cs = _consts(kernel, sigmas)
    gm = 1.0 / x.shape[1] if gamma is None else float(gamma)
    args = (zc, sq, cs, kernel, degree, gm, float(coef), signs, half_h, g, exclude_diag, write_v)
    if use_triton:
        return _triton_sums(*args, precision if x.dtype != torch.float64 else "ieee")
    return _torch_sums(*args)


def _statistics(q, ra, rows, n: int, m: int, estimator: str) -> torch.Tensor:
    """T_b for every column of S from q_b, R_a and r (module docstring), float64."""
    if estimator == "biased":
        return q
    h = 1.0 / n + 1.0 / m
    en = 1.0 / (n * n * (n - 1))
    em = 1.0 / (m * m * (m - 1))
    c = 1.0 + (en + em) / (h * h)
    ca = en - (en + em) / (n * h) ** 2
    cb = em - (en + em) / (m * h) ** 2
    rf = rows.sum() - ra
    return c * q + ca * ra + cb * rf


# ----------------------------------------------------------------------------------------------
# bandwidth selection by estimated power
# ----------------------------------------------------------------------------------------------
def power_ratio(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                degree: int = 3, gamma: float | None = None, coef: float = 1.0,
                precision: str = "tf32") -> float:
    r"""The estimated test power criterion MMD²_u / sqrt(V + λ) (Sutherland et al. 2017).

    With the row sums r_X(p) = Σ_{i ≠ p, i ∈ X} k(z_p, x_i) and r_Y(p) likewise:

        MMD²_u = Σ_{i∈X} r_X(i) / (N(N−1)) + Σ_{j∈Y} r_Y(j) / (M(M−1)) − 2 Σ_{i∈X} r_Y(i) / (NM)
        h_X(i) = r_X(i)/(N−1) − r_Y(i)/M      (i in X),
        h_Y(j) = r_Y(j)/(M−1) − r_X(j)/N      (j in Y),
        V      = 4 Var_i h_X(i) / N + 4 Var_j h_Y(j) / M     (Var: mean-centred, divided by N, M)

    V estimates the leading (order 1/N) term of the variance of MMD²_u under the alternative,
    from the U-statistic's Hoeffding projections onto x_i and y_j: the variance estimator of
    Sutherland et al. (2017, "Generative models and model criticism via optimized MMD")
    without its O(1/N²) terms, as in Liu et al. (2020), written for N ≠ M. The test with the
    larger ratio has the larger asymptotic power. λ = 1e-12 (a constant kernel gives 0).
    One fused pass (the permutation kernel with one sign column); x: (N, D), y: (M, D),
    N, M >= 2. Returns a float.

    >>> r = fastgan.stats.power_ratio(torch.randn(100, 2), torch.randn(100, 2) + 1, bandwidth=1.0)
    """
    _check_pair(x, y, 2)
    _check_kernel_args(kernel, degree, gamma, coef, precision)
    if kernel in _BANDWIDTH_KERNELS:
        sig = _sigmas(bandwidth) if not (isinstance(bandwidth, str) and bandwidth == "median") \
            else [_median(x, y)]
    else:
        sig = [1.0]
    return _power_ratio(x, y, kernel, sig, degree, gamma, coef, precision)


def _power_ratio(x, y, kernel, sigmas, degree, gamma, coef, precision) -> float:
    n, m = x.shape[0], y.shape[0]
    p = n + m
    signs = torch.full((p, 1), -1, dtype=torch.int8, device=x.device)
    signs[:n] = 1
    _, _, rows, v = _sums(x, y, kernel, sigmas, degree, gamma, coef, signs, True, True,
                          precision)
    v = v[:, 0].double()
    rx = 0.5 * (rows + v)  # r = r_X + r_Y, K σ = r_X − r_Y
    ry = 0.5 * (rows - v)
    mmd2 = rx[:n].sum() / (n * (n - 1)) + ry[n:].sum() / (m * (m - 1)) \
        - 2.0 * ry[:n].sum() / (n * m)
    hx = rx[:n] / (n - 1) - ry[:n] / m
    hy = ry[n:] / (m - 1) - rx[n:] / n
    var = 4.0 * hx.var(unbiased=False) / n + 4.0 * hy.var(unbiased=False) / m
    return float(mmd2 / torch.sqrt(var + _POWER_EPS))


def _median(x, y) -> float:
    from .ops.mmd import median_bandwidth

    return float(median_bandwidth(x, y))


# ----------------------------------------------------------------------------------------------
# the test
# ----------------------------------------------------------------------------------------------
def mmd_test(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth="median",
             estimator: str = "unbiased", permutations: int = 1000, alternative: str = "greater",
             generator=None, select: str | None = None, degree: int = 3,
             gamma: float | None = None, coef: float = 1.0,
             precision: str = "tf32") -> MMDTestResult:
    r"""The MMD two-sample permutation test: every permutation statistic in one fused pass.

    H₀: x and y come from the same distribution. The statistic is T = MMD²(x, y) (the
    estimator and kernels of :func:`fastgan.mmd`); the null distribution is T over B random
    re-splits of the pooled sample into N and M rows (:func:`permutation_indices`), and

        p-value = (1 + #{b : T_b >= T}) / (1 + B)        (alternative="greater", the only one).

    The unbiased estimator's diagonal is handled exactly for every permutation (see the
    module docstring for the derivation and the precision per dtype).

    Args:
        x: (N, D), y: (M, D), same float dtype (float32/float64/float16/bfloat16) and device;
            N, M >= 2 for ``estimator="unbiased"``, >= 1 for ``"biased"``.
        kernel: "gaussian", "laplacian", "imq", "polynomial" or "energy" (as :func:`fastgan.mmd`;
            ``degree``, ``gamma``, ``coef`` are the polynomial's).
        bandwidth: ``"median"`` (the median heuristic on the pooled sample,
            :func:`fastgan.ops.mmd.median_bandwidth`: it does not depend on the split, so the
            test stays valid), a float σ, or a sequence of σ (a mixture; with
            ``select="power"``: the candidates, each a single σ). Ignored by polynomial/energy.
        permutations: B >= 1 (1000 by default: p-values down to 1/1001).
        generator: a :class:`fastgan.Generator` for the permutations (and the split); the
            device's default generator when None. Same state, same permutations on CPU and GPU.
        select: None, or ``"power"``: split x and y in halves at random (from ``generator``),
            pick the candidate σ with the largest :func:`power_ratio` on the first halves, and
            test on the second halves (N, M >= 4), so the selection does not bias the test.
        precision: ``"tf32"`` (default) or ``"ieee"``: the float32 tensor-core mode of the
            Triton kernel (float64 inputs run it in "ieee"); the CPU path is full precision.

    Returns:
        :class:`MMDTestResult` (statistic, pvalue, null (B,) float64, bandwidth, ...).

    Backends: CUDA tensors run the Triton kernel (kernels/stats.py): ceil((B + 1) / 128)
    passes over the P² pairs, each a Gram tile and a kernel tile × signs product on the tensor
    cores, memory O(P·(D + B)). CPU tensors run the same algebra in PyTorch over row chunks of
    K (at most 2^20 elements), memory O(P·(chunk + B)). ``fastgan.backend("triton")`` runs the
    kernel on CPU tensors in the Triton interpreter.

    >>> x, y = torch.randn(200, 3), torch.randn(150, 3) + 0.3
    >>> res = fastgan.stats.mmd_test(x, y, permutations=200, generator=fastgan.Generator(0))
    >>> res.pvalue < 0.05
    True
    """
    import fastgan

    if not (isinstance(estimator, str) and estimator.upper() in Estimator.__members__
            and estimator == estimator.lower()):
        raise ValueError(f"estimator must be one of {tuple(e.name.lower() for e in Estimator)}, "
                         f"got {estimator!r}")
    if alternative != "greater":
        raise ValueError(f"alternative must be \"greater\" (large MMD² is the only evidence "
                         f"against equal distributions), got {alternative!r}")
    if select not in (None, "power"):
        raise ValueError(f"select must be None or \"power\", got {select!r}")
    _check_pair(x, y, (4 if select == "power" else 2) if estimator == "unbiased"
                else (4 if select == "power" else 1))
    _check_kernel_args(kernel, degree, gamma, coef, precision)
    _check_count(permutations, "permutations", 1)
    if generator is not None and not isinstance(generator, fastgan.Generator):
        raise TypeError(f"generator must be a fastgan.Generator or None, got "
                        f"{type(generator).__name__}")
    has_bw = kernel in _BANDWIDTH_KERNELS
    selection = None
    if select == "power":
        if not has_bw:
            raise ValueError(f"select=\"power\" chooses a bandwidth; the {kernel} kernel has none")
        if isinstance(bandwidth, torch.Tensor):
            bandwidth = bandwidth.detach().reshape(-1).tolist()
        if isinstance(bandwidth, (str, int, float)) or not isinstance(bandwidth, Sequence):
            raise ValueError(f"select=\"power\" needs bandwidth = a non-empty list of candidate σ, "
                             f"got {bandwidth!r}")
        if len(bandwidth) == 0:
            raise ValueError("select=\"power\" needs a non-empty list of candidate bandwidths; "
                             "got an empty list")
        cands = _sigmas(bandwidth, "bandwidth candidates")
        n, m = x.shape[0], y.shape[0]
        ix = torch.argsort(fastgan.rand(n, generator=generator, device=x.device), stable=True)
        iy = torch.argsort(fastgan.rand(m, generator=generator, device=x.device), stable=True)
        xs, xt = x[ix[: n // 2]], x[ix[n // 2:]]
        ys, yt = y[iy[: m // 2]], y[iy[m // 2:]]
        ratios = [_power_ratio(xs, ys, kernel, [s], degree, gamma, coef, precision)
                  for s in cands]
        best = max(range(len(cands)), key=lambda i: ratios[i])  # first of equal ratios
        sig = [cands[best]]
        selection = {"candidates": tuple(cands), "ratios": tuple(ratios),
                     "rows": (xs.shape[0], ys.shape[0])}
        x, y = xt, yt
    elif has_bw:
        sig = [_median(x, y)] if isinstance(bandwidth, str) and bandwidth == "median" \
            else _sigmas(bandwidth)
    else:
        sig = [1.0]

    n, m = x.shape[0], y.shape[0]
    perms = permutation_indices(n + m, permutations, generator=generator, device=x.device)
    signs = _signs(perms, n, n + m)
    del perms
    with torch.no_grad():
        q, ra, rows, _ = _sums(x, y, kernel, sig, degree, gamma, coef, signs,
                               estimator == "unbiased", False, precision)
    t = _statistics(q, ra, rows, n, m, estimator)
    if not bool(torch.isfinite(t).all()):
        # a NaN statistic compares false with everything: p would read 1/(B + 1)
        raise ValueError("the MMD statistics are not finite: x or y contains NaN or inf (or "
                         "the kernel overflows)")
    stat, null = t[0], t[1:]
    # the comparison on the device, one host copy of the count
    count = int((null >= stat).sum())
    return MMDTestResult(statistic=float(stat), pvalue=(1.0 + count) / (1.0 + permutations),
                         null=null, bandwidth=tuple(sig) if has_bw else None, kernel=kernel,
                         estimator=estimator, alternative=alternative,
                         permutations=permutations, n=n, m=m, selection=selection)


# ----------------------------------------------------------------------------------------------
# command line: ``fastgan test A B``
# ----------------------------------------------------------------------------------------------
def _load_array(path) -> torch.Tensor:
    """(N, D) float tensor from a .npy, .npz (one array) or .pt (one tensor) file; rows are
    samples, trailing dimensions are flattened into features."""
    from pathlib import Path

    import numpy as np

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: image folders need a feature extractor, which fastgan does "
                         f"not have yet; pass .npy, .npz or .pt feature arrays")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        t = torch.from_numpy(np.load(path, allow_pickle=False))
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            if len(keys) != 1:
                raise ValueError(f"{path}: expected one array in the .npz, found {len(keys)} "
                                 f"({', '.join(keys) or 'none'})")
            t = torch.from_numpy(z[keys[0]])
    elif suffix == ".pt":
        t = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{path}: expected a tensor, got {type(t).__name__}")
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (use .npy, .npz or .pt)")
    if t.ndim < 1 or t.shape[0] == 0:
        raise ValueError(f"{path}: expected an array of samples (N, ...), got shape "
                         f"{tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1)
    if t.dtype not in _FLOATS:
        if t.dtype == torch.bool or t.dtype.is_complex:
            raise ValueError(f"{path}: expected real numbers, got {t.dtype}")
        t = t.to(torch.float32)
    return t


def add_cli(subparsers) -> None:
    """Register ``fastgan test A B`` on an argparse subparsers object."""
    import argparse

    def positive_int(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
        return v

    def bandwidth(text):
        if text == "median":
            return text
        try:
            vals = [float(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected \"median\" or comma-separated positive numbers, got {text!r}") from None
        if not all(v > 0 and math.isfinite(v) for v in vals):
            raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
        return vals

    t = subparsers.add_parser(
        "test", help="MMD two-sample permutation test between two feature files",
        description="MMD permutation test between the samples in A and B (.npy, .npz or .pt: "
        "rows are samples, other dimensions are flattened into features). Prints the "
        "statistic, the p-value, the bandwidth and the time.")
    t.add_argument("a", help="first sample (.npy, .npz or .pt)")
    t.add_argument("b", help="second sample (.npy, .npz or .pt)")
    t.add_argument("--kernel", choices=tuple(k.label for k in MMDKernel), default="gaussian")
    t.add_argument("--bandwidth", type=bandwidth, default="median",
                   help="\"median\" (default), a σ, or comma-separated σ (a mixture; with "
                   "--select power the candidates)")
    t.add_argument("--select", choices=("power",), default=None,
                   help="choose σ among the --bandwidth candidates by estimated power on half "
                   "of the data and test on the other half")
    t.add_argument("--estimator", choices=("unbiased", "biased"), default="unbiased")
    t.add_argument("--permutations", type=positive_int, default=1000)
    t.add_argument("--seed", type=int, default=0, help="fastgan.Generator seed (permutations)")
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    t.add_argument("--dtype", choices=("float32", "float64", "bfloat16", "float16"),
                   default=None, help="compute dtype (default: the files' float dtype, float32 "
                   "for integers)")


def run_cli(args) -> int:
    """Run ``fastgan test`` from parsed arguments; prints the result, returns the exit code."""
    import sys

    import fastgan

    try:
        device = torch.device(args.device) if args.device else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        a, b = _load_array(args.a), _load_array(args.b)
        dtype = getattr(torch, args.dtype) if args.dtype else (
            torch.float64 if torch.float64 in (a.dtype, b.dtype) else
            a.dtype if a.dtype == b.dtype else torch.float32)
        a, b = a.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)
        bw = args.bandwidth
        if isinstance(bw, list) and len(bw) == 1 and args.select is None:
            bw = bw[0]
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        res = mmd_test(a, b, kernel=args.kernel, bandwidth=bw, estimator=args.estimator,
                       permutations=args.permutations, select=args.select,
                       generator=fastgan.Generator(args.seed))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        print(f"fastgan test: error: {exc}", file=sys.stderr)
        return 1
    if res.bandwidth is None:
        bw_text = f"none ({res.kernel} kernel)"
    else:
        how = "median heuristic" if args.bandwidth == "median" else (
            "selected by power" if args.select else "given")
        bw_text = ", ".join(f"{s:.6g}" for s in res.bandwidth) + f" ({how})"
    print(f"fastgan test: {res.kernel} kernel, {res.estimator} MMD², N={res.n} M={res.m} "
          f"D={a.shape[1]}, {res.permutations} permutations, on {device}")
    if res.selection:
        cand = ", ".join(f"{s:.4g}: {r:.4g}" for s, r in zip(res.selection["candidates"],
                                                         res.selection["ratios"]))
        print(f"power ratios on the selection half (σ: ratio): {cand}")
    print(f"statistic: {res.statistic:.6g}")
    print(f"p-value: {res.pvalue:.6g}")
    print(f"bandwidth: {bw_text}")
    print(f"time: {seconds:.3f} s")
    return 0

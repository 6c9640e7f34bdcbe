"""fastgan.sample (issue #5): inverse-CDF samplers on the Philox stream.

- the CPU path equals "fastgan.rand + reference F⁻¹" exactly; the Triton kernels (interpreted on
  CPU tensors) equal it exactly for integer outputs and within a few ulp for floats;
- the kernels' F⁻¹ at chosen uniforms (u = 0, the largest u, ...) through a probe kernel;
- distributions against scipy.stats (kstest, chisquare) at fixed seeds;
- generator offsets, dtypes, shapes, per-row parameters, ragged rows, bad inputs, torch.library.
"""
import math
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

import fastgan
import fastgan.sample as fs
from fastgan._codes import TabulatedMode
from fastgan.reference import sample as ref
from fastgan.reference import uniform_from_bits_reference

from helpers import assert_rel

# conftest.py has set TRITON_INTERPRET (when there is no GPU) before this import
import triton  # noqa: E402
import triton.language as tl  # noqa: E402
from fastgan.kernels.inverse_cdf import _param_emit, _tab_emit  # noqa: E402

# Small shapes for the interpreter; odd on purpose (rows straddle Philox counters).
R, N = 5, 37


def gen(seed=1234, offset=0):
    return fastgan.Generator(seed).set_offset(offset)


def ulp_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    """Largest distance in units in the last place between two float32 tensors."""
    ia = a.float().contiguous().view(torch.int32).long()
    ib = b.float().contiguous().view(torch.int32).long()
    ia = torch.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = torch.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return int((ia - ib).abs().max()) if a.numel() else 0


def assert_close_samples(out, ref_out, what):
    assert out.shape == ref_out.shape and out.dtype == ref_out.dtype, what
    assert torch.isfinite(out).all(), f"{what}: non-finite samples"
    if out.dtype == torch.float64:
        assert_rel(out, ref_out, 1e-13, what)
        assert torch.allclose(out, ref_out, rtol=1e-13, atol=1e-13), what
    else:
        assert ulp_diff(out, ref_out) <= 2, f"{what}: {ulp_diff(out, ref_out)} ulp apart"


# Per-row parameters as the tests use them: (R,), (R, 1) and a non-contiguous (R,) view, on
# PARAM_DEVICE (the CASES build them when called; a test may point this at the GPU).
PARAM_DEVICE = "cpu"


def per_row(values, form):
    t = torch.tensor(values, dtype=torch.float64, device=PARAM_DEVICE)
    if form == "col":
        return t.reshape(-1, 1)
    if form == "strided":
        return torch.stack([t, t]).t()[:, 0]  # (R,) with stride 2
    return t


SCALES = [0.5, 1.0, 2.5, 0.1, 7.0]
LOCS = [-1.0, 0.0, 3.0, 1e3, -2.5]

# (name, public call, reference call) with R rows of N samples
CASES = {
    "uniform": (lambda **k: fs.uniform(R, N, low=per_row(LOCS, "row"), high=per_row(LOCS, "row") + 2.0, **k),
                lambda **k: ref.uniform(R, N, low=per_row(LOCS, "row"), high=per_row(LOCS, "row") + 2.0, **k)),
    "exponential": (lambda **k: fs.exponential(R, N, rate=per_row(SCALES, "col"), **k),
                    lambda **k: ref.exponential(R, N, rate=per_row(SCALES, "col"), **k)),
    "laplace": (lambda **k: fs.laplace(R, N, loc=per_row(LOCS, "strided"), scale=2.0, **k),
                lambda **k: ref.laplace(R, N, loc=per_row(LOCS, "row"), scale=2.0, **k)),
    "logistic": (lambda **k: fs.logistic(R, N, loc=0.5, scale=per_row(SCALES, "row"), **k),
                 lambda **k: ref.logistic(R, N, loc=0.5, scale=per_row(SCALES, "row"), **k)),
    "cauchy": (lambda **k: fs.cauchy(R, N, loc=per_row(LOCS, "col"), scale=per_row(SCALES, "col"), **k),
               lambda **k: ref.cauchy(R, N, loc=per_row(LOCS, "col"), scale=per_row(SCALES, "col"), **k)),
    "normal": (lambda **k: fs.normal(R, N, mean=per_row(LOCS, "row"), std=per_row(SCALES, "strided"), **k),
               lambda **k: ref.normal(R, N, mean=per_row(LOCS, "row"), std=per_row(SCALES, "row"), **k)),
    "normal_truncation": (lambda **k: fs.normal(R, N, mean=1.0, std=2.0, truncation=per_row(SCALES, "row"), **k),
                          lambda **k: ref.normal(R, N, mean=1.0, std=2.0,
                                                 truncation=per_row(SCALES, "row"), **k)),
    "truncated_normal": (
        lambda **k: fs.truncated_normal(R, N, a=per_row([-8.0, -1.0, 3.0, -math.inf, 30.0], "row"),
                                        b=per_row([-7.0, 1.0, 8.0, -5.0, 31.0], "row"), **k),
        lambda **k: ref.truncated_normal(R, N, a=per_row([-8.0, -1.0, 3.0, -math.inf, 30.0], "row"),
                                         b=per_row([-7.0, 1.0, 8.0, -5.0, 31.0], "row"), **k)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cpu_path_equals_rand_plus_reference(name, torch_backend):
    fast, slow = CASES[name]
    for dtype in (torch.float32, torch.float64):
        g1, g2 = gen(7), gen(7)
        out = fast(generator=g1, dtype=dtype)
        assert torch.equal(out, slow(generator=g2, dtype=dtype)), name
        assert g1.get_offset() == g2.get_offset() == math.ceil(R * N / 4)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(CASES))
def test_triton_kernel_matches_reference(name, triton_backend, device, monkeypatch):
    # the kernels on `device` (compiled on a GPU), the reference on the CPU
    fast, slow = CASES[name]
    # seed/offset above 2**32 exercise the carried 64-bit counter; seed 1 and offset 1 the
    # integer arguments that compiled Triton would specialise
    for dtype, (seed, offset) in ((torch.float32, (3, 0)), (torch.float64, ((1 << 63) + 5, (1 << 32) - 3)),
                                  (torch.float32, (1, 1))):
        g1, g2 = gen(seed, offset), gen(seed, offset)
        monkeypatch.setattr(sys.modules[__name__], "PARAM_DEVICE", str(device))
        out = fast(generator=g1, dtype=dtype, device=device).cpu()
        monkeypatch.setattr(sys.modules[__name__], "PARAM_DEVICE", "cpu")
        with fastgan.backend("torch"):
            expected = slow(generator=g2, dtype=dtype)
        assert_close_samples(out, expected, name)
        assert g1.get_offset() == g2.get_offset() == offset + math.ceil(R * N / 4)


def test_explicit_rand_then_reference_inverse():
    """The documented identity, spelled out: fastgan.rand(R, n) then the reference F⁻¹."""
    g = gen(99, 12345)
    u = fastgan.rand(R, N, generator=gen(99, 12345))
    mean, std = per_row(LOCS, "col"), per_row(SCALES, "col")
    assert torch.equal(fs.normal(R, N, mean=mean, std=std, generator=g),
                       ref.normal_icdf(u, mean, std).float())
    w = torch.rand(R, 11)
    assert torch.equal(fs.categorical(w, N, generator=gen(99, 12345)), ref.categorical_icdf(u, w))


# ------------------------------------------------------------------------------ probe kernel
@triton.jit
def _probe_param(out_ptr, bits_ptr, rows_ptr, N, n, R, FAMILY: tl.constexpr, W: tl.constexpr,
                 BLOCK: tl.constexpr):
    j = tl.arange(0, BLOCK).to(tl.int64)
    w = tl.load(bits_ptr + j, mask=j < N, other=0).to(tl.uint32, bitcast=True)
    _param_emit(out_ptr, rows_ptr, j, w, N, n, R, FAMILY, W)


@triton.jit
def _probe_tab(out_ptr, bits_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, N, n, R, steps,
               MODE: tl.constexpr, BLOCK: tl.constexpr):
    j = tl.arange(0, BLOCK).to(tl.int64)
    w = tl.load(bits_ptr + j, mask=j < N, other=0).to(tl.uint32, bitcast=True)
    _tab_emit(out_ptr, cdf_ptr, sup_ptr, start_ptr, len_ptr, sstart_ptr, j, w, N, n, R, steps, MODE)


def _probe(family_or_mode, bits, table, tabulated=False, support=None):
    """Run the kernels' per-element code on chosen Philox words (no stream), one program."""
    b = torch.tensor(np.asarray(bits, dtype=np.uint32).view(np.int32))
    nb = b.numel()
    block = triton.next_power_of_2(nb)
    if not tabulated:
        out = torch.full((1, nb), float("nan"), dtype=torch.float64)
        _probe_param[(1,)](out, b, table, nb, nb, 1, FAMILY=int(family_or_mode), W=table.shape[1], BLOCK=block)
        return out
    k = table.shape[1]
    out = torch.full((1, nb), -7, dtype=torch.int64 if family_or_mode == 0 else torch.float64)
    if family_or_mode == 1:
        out.fill_(float("nan"))
    zero = torch.zeros(1, dtype=torch.int64)
    sup = support if support is not None else table
    _probe_tab[(1,)](out, b, table, sup, zero, torch.full((1,), k), zero, nb, nb, 1,
                    max(k - 1, 0).bit_length(), MODE=int(family_or_mode), BLOCK=block)
    return out


# Philox words giving u = 0 (0 and 0xFFFFFFFF), the smallest u > 0, u ≈ 1/2 and the largest u.
EDGE_BITS = [0, 0xFFFFFFFF, 1, 0xFFFFFFFE, 0x3FFFFFFF, 0x40000000, 0x7FFFFFBF, 0x7FFFFFFF, 0x80000000,
             0x12345678, 0xDEADBEEF]


def test_uniform_map_edges():
    u = uniform_from_bits_reference(np.array(EDGE_BITS, dtype=np.uint32))
    assert u.min() == 0.0 and u.max() == np.float32(1 - 2.0 ** -24) < 1.0
    assert u[2] == np.float32(4.6566127342e-10) and 0 < ref.P_MIN < u[2]  # the smallest u > 0, ~2**-31


@pytest.mark.parametrize("family,params", [
    ("uniform", [-1.0, 2.0]), ("exponential", [3.0]), ("laplace", [1.0, 2.0]), ("logistic", [0.0, 0.5]),
    ("cauchy", [2.0, 3.0]), ("normal", [0.0, 1.0, -math.inf, math.inf]), ("normal", [1.0, 2.0, -15.0, -13.0]),
    ("normal", [0.0, 1.0, 3.0, 8.0]), ("normal", [0.0, 1.0, 40.0, 41.0]), ("normal", [0.0, 1.0, 1.0, 1.0 + 1e-12]),
    # extreme parameters: ±8σ and far beyond, one-sided, degenerate a = b, bounds that overflow
    # when standardised, tiny / huge scales (the Cauchy tail overflows float64: saturated)
    ("normal", [0.0, 1.0, -8.0, 8.0]), ("normal", [0.0, 1.0, 8.0, math.inf]), ("normal", [0.0, 1.0, -math.inf, -38.0]),
    ("normal", [2.0, 3.0, 1.0, 1.0]), ("normal", [0.0, 1.0, 1e200, math.inf]), ("normal", [0.0, 1.0, -1e300, -1e300]),
    ("normal", [0.0, 1e-300, 1e30, 1e30 * (1 + 4e-16)]), ("normal", [1e300, 1e300, -math.inf, math.inf]),
    ("normal", [0.0, 1e-300, -math.inf, math.inf]), ("exponential", [1e-300]), ("exponential", [1e300]),
    ("laplace", [0.0, 1e-300]), ("logistic", [-1e300, 1e300]), ("cauchy", [0.0, 1e300]), ("cauchy", [0.0, 1e-300]),
    ("uniform", [-1e307, 1e307]),
    # far tails (the bound-relative inversion): two-sided, one-sided, below the mean, scaled
    ("normal", [0.0, 1.0, 999.0, 1000.0]), ("normal", [0.0, 1.0, 1e5, math.inf]),
    ("normal", [3.0, 2.0, -math.inf, 3.0 - 2.0 * 500.0]), ("normal", [0.0, 1.0, 30.0, 30.0 + 1e-9]),
])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # numpy, before the saturation
def test_kernel_inverse_at_edge_uniforms(family, params, triton_backend):
    from fastgan.ops.sample import FAMILIES, parametric_rows

    rows = parametric_rows(family, [torch.tensor([p], dtype=torch.float64) for p in params])
    out = _probe(FAMILIES[family][0], EDGE_BITS, rows)
    u = torch.from_numpy(uniform_from_bits_reference(np.array(EDGE_BITS, dtype=np.uint32))).reshape(1, -1)
    icdf = {"uniform": ref.uniform_icdf, "exponential": ref.exponential_icdf, "laplace": ref.laplace_icdf,
            "logistic": ref.logistic_icdf, "cauchy": ref.cauchy_icdf, "normal": ref.truncated_normal_icdf}[family]
    expected = ref.saturate(icdf(u, *params), torch.float64)  # the CPU path's values
    assert torch.isfinite(out).all() and torch.isfinite(expected).all()
    assert torch.allclose(out, expected, rtol=1e-13, atol=1e-300)
    if family == "normal":
        assert (out >= params[2]).all() and (out <= params[3]).all()
        if params[2] == params[3]:
            assert (out == params[2]).all()


def test_kernel_search_at_edge_uniforms(triton_backend):
    from fastgan.ops.sample import categorical_table

    u = torch.from_numpy(uniform_from_bits_reference(np.array(EDGE_BITS, dtype=np.uint32))).reshape(1, -1)
    # trailing and leading zero-weight bins: the largest u must still land on the last positive bin
    w = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0, 0.0]])
    idx = _probe(TabulatedMode.CATEGORICAL, EDGE_BITS, categorical_table(w).reshape(1, -1), tabulated=True)
    assert torch.equal(idx, ref.categorical_icdf(u, w))
    assert set(idx.flatten().tolist()) <= {1, 3} and idx[0, 7] == 3 and idx[0, 0] == 1
    cdf = torch.tensor([[0.25, 0.25, 0.5, 1.0, 1.0]], dtype=torch.float64)
    sup = torch.tensor([-2.0, -1.0, 0.0, 5.0, 6.0], dtype=torch.float64)
    x = _probe(TabulatedMode.INVERSE_CDF, EDGE_BITS, cdf, tabulated=True, support=sup)
    assert torch.allclose(x, ref.tabulated_icdf(u, cdf, sup), rtol=1e-15, atol=0)
    assert x[0, 0] == -2.0 and x.max() < 5.0  # the atom at x[0]; u < 1 never reaches the flat top


# --------------------------------------------------------------------------- reference pieces
def test_ndtri_log_matches_scipy():
    logp = torch.cat([torch.linspace(-745.0, math.log(0.5), 4001, dtype=torch.float64),
                      torch.log(torch.tensor([0.075, 0.0749999, 1e-11, 0.5], dtype=torch.float64))])
    z = ref.ndtri_log(logp)
    expected = torch.from_numpy(special.ndtri_exp(logp.numpy()))
    assert ((z - expected).abs() <= 4e-15 * expected.abs() + 1e-300).all()
    p = torch.exp(logp[logp > -700])
    assert torch.allclose(ref.ndtri_log(torch.log(p)), torch.special.ndtri(p), rtol=1e-14, atol=1e-15)


def test_truncated_normal_icdf_against_scipy():
    u = torch.rand(3, 500, dtype=torch.float32)
    a = torch.tensor([[-8.0], [-1.0], [3.0]], dtype=torch.float64)
    b = torch.tensor([[-7.0], [1.0], [8.0]], dtype=torch.float64)
    x = ref.truncated_normal_icdf(u, 0.0, 1.0, a, b)
    expected = stats.truncnorm.ppf(torch.clamp(u.double(), min=ref.P_MIN).numpy(), a.numpy(), b.numpy())
    assert np.allclose(x.numpy(), expected, rtol=1e-9, atol=0)


def test_weight_counts_make_cumsum_exact_in_any_order():
    w = torch.rand(4, 300, dtype=torch.float64) * torch.logspace(-30, 10, 300, dtype=torch.float64)
    w[1, ::3] = 0.0
    w[2] = 0.0
    w[2, 17] = 5e-300  # a one-hot row of a tiny (but normal) weight
    counts = ref.weight_counts(w)
    assert (counts == torch.floor(counts)).all() and (counts >= 0).all()
    assert ((counts == 0) | (w > 0)).all() and (counts[w == 0] == 0).all()
    assert counts[2, 17] > 0 and (counts.sum(1) <= 2.0 ** 53).all()
    forward = torch.cumsum(counts, 1)
    backward = counts.sum(1, keepdim=True) - torch.cumsum(counts.flip(1), 1).flip(1) + counts
    assert torch.equal(forward, backward)  # any summation order gives the same table
    ratio = (counts / counts.sum(1, keepdim=True))[[0, 1, 3]]
    assert torch.allclose(ratio, (w / w.sum(1, keepdim=True))[[0, 1, 3]], rtol=1e-12, atol=2 ** -(52 - 9))


# ------------------------------------------------------------------------- distribution checks
KS_P = 1e-3  # fixed seeds: these are deterministic; the threshold only guards against a wrong law


@pytest.mark.parametrize("a,b", [(-8.0, -7.0), (-1.0, 1.0), (3.0, 8.0)])
def test_truncated_normal_kstest(a, b):
    x = fs.truncated_normal(20000, a=a, b=b, generator=gen(11), dtype=torch.float64).numpy()
    assert x.min() >= a and x.max() <= b
    assert stats.kstest(x, stats.truncnorm(a, b).cdf).pvalue > KS_P


def test_truncated_normal_kstest_kernel(triton_backend, device):
    a = torch.tensor([-8.0, -1.0, 3.0], dtype=torch.float64)
    b = torch.tensor([-7.0, 1.0, 8.0], dtype=torch.float64)
    x = fs.truncated_normal(3, 1500, a=a.to(device), b=b.to(device), mean=0.0, std=1.0,
                            generator=gen(5)).double().cpu()
    for r in range(3):
        lo, hi = a[r].item(), b[r].item()
        assert x[r].min() >= lo and x[r].max() <= hi
        assert stats.kstest(x[r].numpy(), stats.truncnorm(lo, hi).cdf).pvalue > KS_P


# Far tails (issue 12): rows (mean, std, a, b) whose nearer bound is 8σ … 1e5σ out, one-sided and
# two-sided, above and below the mean; all in one call, so the kernel's blocks mix far-tail rows
# with ordinary ones (rows of n samples straddle its programs).
FAR_ROWS = [(0.0, 1.0, 8.0, 9.0), (0.0, 1.0, 300.0, 301.0), (0.0, 1.0, 500.0, 501.0),
            (0.0, 1.0, 999.0, 1000.0), (0.0, 1.0, -1000.0, -999.0), (0.0, 1.0, 1e5, 1e5 + 1.0),
            (0.0, 1.0, 1000.0, math.inf), (0.0, 1.0, -math.inf, -300.0), (-5.0, 0.5, 195.0, math.inf),
            (0.0, 1.0, -1.0, 2.0)]


def truncnorm_cdf(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """The CDF of N(0, 1) truncated to [α, β] at standardised x, float64, from differences of
    scipy's log Φ taken on the side of the nearer bound (no 1 - tiny cancellation)."""
    x = np.clip(x, alpha, beta)
    if alpha >= 0:  # upper tail: 1 - Φ(-x)/Φ(-α), normalised
        la = special.log_ndtr(-alpha)
        return -np.expm1(special.log_ndtr(-x) - la) / -np.expm1(special.log_ndtr(-beta) - la)
    if beta <= 0:  # lower tail: (Φ(x) - Φ(α)) / (Φ(β) - Φ(α)) over Φ(β)
        lb = special.log_ndtr(beta)
        r = np.exp(special.log_ndtr(alpha) - lb)
        return (np.exp(special.log_ndtr(x) - lb) - r) / (1.0 - r)
    return stats.truncnorm(alpha, beta).cdf(x)


def _pit_interval(x: torch.Tensor, mean, std, alpha, beta):
    """[F(lo), F(hi)] with [lo, hi] the reals that round to each sample in its dtype (a point for
    float64 samples): the exact probability-integral transform of a rounded sample."""
    v = x.double().numpy()
    if x.dtype == torch.float64:
        lo = hi = v
    else:
        x32 = x.numpy()
        lo = (v + np.nextafter(x32, np.float32(-np.inf)).astype(np.float64)) / 2
        hi = (v + np.nextafter(x32, np.float32(np.inf)).astype(np.float64)) / 2
    return (truncnorm_cdf((lo - mean) / std, alpha, beta), truncnorm_cdf((hi - mean) / std, alpha, beta))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_truncated_normal_far_tails(backend, dtype):
    # Each sample is F⁻¹(p) of its own uniform p (fastgan.rand on the same generator state),
    # so F(sample) = p to within the float64 CDF's own error (~A²·ulp: log Φ(-A) ~ -A²/2)
    # and, for float32 samples, the rounding interval; and the PITs pass a KS test.
    n = 2000 if backend == "torch" else 150
    cols = [torch.tensor(c, dtype=torch.float64) for c in zip(*FAR_ROWS)]
    with fastgan.backend(backend):
        x = fs.truncated_normal(len(FAR_ROWS), n, mean=cols[0], std=cols[1], a=cols[2], b=cols[3],
                                generator=gen(21), dtype=dtype)
    p = torch.clamp(fastgan.rand(len(FAR_ROWS), n, generator=gen(21), dtype=torch.float64),
                    min=ref.P_MIN).numpy()
    rng = np.random.default_rng(0)
    for r, (mean, std, a, b) in enumerate(FAR_ROWS):
        alpha, beta = (a - mean) / std, (b - mean) / std
        assert (x[r] >= a).all() and (x[r] <= b).all(), FAR_ROWS[r]
        f_lo, f_hi = _pit_interval(x[r], mean, std, alpha, beta)
        tol = 1e-9 + 1e-15 * min(abs(alpha), abs(beta)) ** 2
        assert (f_lo - tol <= p[r]).all() and (p[r] <= f_hi + tol).all(), \
            (FAR_ROWS[r], float(np.maximum(f_lo - p[r], p[r] - f_hi).max()))
        pit = f_lo + rng.random(n) * (f_hi - f_lo)  # randomised PIT: uniform for a rounded law
        assert stats.kstest(pit, "uniform").pvalue > KS_P, FAR_ROWS[r]


def test_tail_offset_solves_the_tail_equation():
    # Φ(-(A + δ)) = Φ(-A)·e^(-E), checked in log space with scipy's log Φ
    a = torch.tensor([30.0, 31.5, 100.0, 999.0, 1e4, 1e5], dtype=torch.float64)[:, None]
    e = torch.tensor([1e-12, 1e-6, 0.1, 1.0, 5.0, 22.0], dtype=torch.float64)[None, :]
    d = ref.tail_offset(a, e)
    assert (d > 0).all()
    lhs = special.log_ndtr(-(a + d).numpy()) - special.log_ndtr(-a.numpy())
    assert np.allclose(lhs, -e.numpy(), rtol=1e-9, atol=1e-15 * (a.numpy() ** 2)), lhs + e.numpy()
    # the bounds the API accepts: a standardised bound up to Z_MAX = 1e30 (δ ≈ E/A)
    big = ref.tail_offset(torch.tensor([1e15, 1e30], dtype=torch.float64), torch.tensor([3.0, 3.0]))
    assert torch.allclose(big, 3.0 / torch.tensor([1e15, 1e30], dtype=torch.float64), rtol=1e-12)


@pytest.mark.parametrize("name,call,dist", [
    ("normal", lambda g: fs.normal(20000, mean=1.5, std=2.0, generator=g), stats.norm(1.5, 2.0)),
    ("normal_truncation", lambda g: fs.normal(20000, truncation=0.5, generator=g), stats.truncnorm(-0.5, 0.5)),
    ("exponential", lambda g: fs.exponential(20000, rate=4.0, generator=g), stats.expon(scale=0.25)),
    ("laplace", lambda g: fs.laplace(20000, loc=-1.0, scale=0.3, generator=g), stats.laplace(-1.0, 0.3)),
    ("logistic", lambda g: fs.logistic(20000, loc=2.0, scale=1.5, generator=g), stats.logistic(2.0, 1.5)),
    ("cauchy", lambda g: fs.cauchy(20000, loc=0.5, scale=2.0, generator=g), stats.cauchy(0.5, 2.0)),
    ("uniform", lambda g: fs.uniform(20000, low=-3.0, high=5.0, generator=g), stats.uniform(-3.0, 8.0)),
    ("latent_uniform", lambda g: fs.latent(100, 200, distribution="uniform", generator=g).flatten(),
     stats.uniform(-1.0, 2.0)),
])
def test_parametric_kstest(name, call, dist):
    x = call(gen(21)).double().numpy()
    assert np.isfinite(x).all()
    assert stats.kstest(x, dist.cdf).pvalue > KS_P, name


def test_inverse_cdf_kstest():
    # a normal CDF tabulated on an uneven grid, plus an atom of mass 0.1 at the first point
    grid = torch.cat([torch.linspace(-4, -1, 7), torch.linspace(-0.8, 4, 31)]).double()
    cdf = 0.1 + 0.9 * (torch.special.ndtr(grid) - torch.special.ndtr(grid[0])) / (
        torch.special.ndtr(grid[-1]) - torch.special.ndtr(grid[0]))
    x = fs.inverse_cdf(cdf, 20000, support=grid, generator=gen(8)).numpy()
    assert x.dtype == np.float64 and x.min() == -4.0 and x.max() <= 4.0
    assert abs((x == -4.0).mean() - 0.1) < 0.01
    cont = x[x > -4.0]

    def law(v):  # the interpolated CDF conditioned on leaving the atom
        return (np.interp(v, grid.numpy(), cdf.numpy()) - 0.1) / 0.9

    assert stats.kstest(cont, law).pvalue > KS_P


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_categorical_chisquare(backend, device):
    w = torch.tensor([
        [1.0, 2.0, 3.0, 4.0, 0.0],
        [0.0, 5.0, 0.0, 1.0, 0.0],      # zero-weight bins inside and at the ends
        [0.0, 0.0, 0.0, 7.5, 0.0],      # one-hot
        [1e-3, 1.0, 1e3, 1.0, 1e-3],    # wide range
    ])
    n = 4000 if backend == "torch" or device.type == "cuda" else 600  # the interpreter is slow
    with fastgan.backend(backend):
        idx = fs.categorical(w.to(device), n, generator=gen(31)).cpu()
    assert idx.dtype == torch.int64 and idx.shape == (4, n)
    counts = torch.stack([torch.bincount(idx[r], minlength=5) for r in range(4)]).double()
    assert (counts[w == 0] == 0).all(), "a zero-weight bin was drawn"
    assert (idx[2] == 3).all()
    for r in (0, 1):
        keep = w[r] > 0
        expected = (w[r][keep].double() / w[r].double().sum() * n).numpy()
        assert stats.chisquare(counts[r][keep].numpy(), expected).pvalue > KS_P


# ------------------------------------------------------------------------ ragged and tabulated
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_categorical_all_zero_row_without_validation_gives_minus_one(backend):
    # validate=True rejects a row without positive weight; validate=False gives -1 for it on
    # every path (issue 12: the CPU path gave K, out of range, the kernel K - 1)
    w = torch.tensor([[1.0, 0.0, 3.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    with fastgan.backend(backend):
        idx = fs.categorical(w, 50, generator=gen(4), validate=False)
        ragged = fs.categorical([torch.ones(2), torch.zeros(5)], 9, generator=gen(4), validate=False)
    assert (idx[1] == -1).all() and (idx[2] == 1).all() and set(idx[0].tolist()) <= {0, 2}
    assert torch.equal(idx, ref.categorical(w, 50, generator=gen(4)))
    assert (ragged[1] == -1).all() and set(ragged[0].tolist()) <= {0, 1}


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_zero_rows(backend):
    # (0, K) tables give (0, n) samples like categorical does (issue 12: aminmax raised)
    g = gen(2)
    with fastgan.backend(backend):
        x = fs.inverse_cdf(torch.zeros(0, 3), 5, generator=g)
        y = fs.inverse_cdf(torch.zeros(0, 3, dtype=torch.float64), 5, support=torch.arange(3.0),
                           generator=g)
        z = fs.inverse_cdf(torch.zeros(0, 3), 5, support=torch.zeros(0, 3), generator=g)
        idx = fs.categorical(torch.zeros(0, 3), 5, generator=g)
    assert x.shape == y.shape == z.shape == idx.shape == (0, 5)
    assert x.dtype == torch.float32 and y.dtype == torch.float64 and idx.dtype == torch.int64
    assert g.get_offset() == 0


def test_tabulated_triton_equals_cpu_bitwise(triton_backend, device):
    # the kernels on `device` (compiled on a GPU), the PyTorch path on the CPU
    w = torch.rand(R, 13) * (torch.rand(R, 13) > 0.3)
    w[:, 6] += 0.1
    w_t = w.to(device).t().contiguous().t()  # non-contiguous input
    cdf = torch.rand(R, 13).cumsum(1)
    cdf = cdf / cdf[:, -1:]
    sup = torch.rand(13).cumsum(0)
    cdf_t = cdf.to(device).t().contiguous().t()
    tri = (fs.categorical(w_t, N, generator=gen(2)).cpu(),
           fs.inverse_cdf(cdf_t, N, support=sup.to(device), generator=gen(2)).cpu())
    with fastgan.backend("torch"):
        cpu = (fs.categorical(w, N, generator=gen(2)), fs.inverse_cdf(cdf, N, support=sup, generator=gen(2)))
    assert torch.equal(tri[0], cpu[0])
    assert ulp_diff(tri[1], cpu[1]) <= 1
    assert torch.equal(cpu[0], ref.categorical(w, N, generator=gen(2)))
    assert torch.equal(cpu[1], ref.inverse_cdf(cdf, N, support=sup, generator=gen(2)))


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_ragged_rows_match_padded_rows(backend, device):
    lengths = [3, 1, 40, 7]
    rows_w = [torch.rand(k) + 0.05 for k in lengths]
    rows_c = [torch.cat([torch.rand(k - 1).sort().values, torch.ones(1)]).double() for k in lengths]
    rows_s = [torch.randn(k).sort().values.double() for k in lengths]
    kmax = max(lengths)
    pad_w = torch.stack([torch.cat([w, w.new_zeros(kmax - w.numel())]) for w in rows_w])
    pad_c = torch.stack([torch.cat([c, c.new_ones(kmax - c.numel())]) for c in rows_c])
    pad_s = torch.stack([torch.cat([s, s[-1].repeat(kmax - s.numel())]) for s in rows_s])
    on = lambda rows: [t.to(device) for t in rows]  # noqa: E731
    with fastgan.backend(backend):
        idx = fs.categorical(on(rows_w), 29, generator=gen(4)).cpu()
        x = fs.inverse_cdf(on(rows_c), 29, support=on(rows_s), generator=gen(4)).cpu()
    assert torch.equal(idx, ref.categorical(pad_w, 29, generator=gen(4)))
    assert (idx < torch.tensor(lengths)[:, None]).all()
    assert_close_samples(x, ref.inverse_cdf(pad_c, 29, support=pad_s, generator=gen(4)), "ragged icdf")


def test_one_dimensional_inputs_and_default_support():
    idx = fs.categorical(torch.tensor([0.0, 3.0, 1.0]), 50, generator=gen())
    assert idx.shape == (50,) and set(idx.tolist()) <= {1, 2}
    x = fs.inverse_cdf(torch.tensor([0.0, 0.5, 1.0]), 50, generator=gen())
    assert x.shape == (50,) and x.dtype == torch.float32 and (x >= 0).all() and (x < 2).all()
    assert torch.equal(x, ref.inverse_cdf(torch.tensor([0.0, 0.5, 1.0]), 50, generator=gen()))
    assert fs.categorical(torch.rand(3, 4), 0).shape == (3, 0)


# ------------------------------------------------------------------------ API, shapes, dtypes
def test_stream_continues_across_calls():
    g = gen(77)
    a = fs.normal(3, 5, generator=g)
    b = fs.normal(3, 5, generator=g)
    assert g.get_offset() == 8  # ceil(15 / 4) = 4 counters per call
    u1 = fastgan.rand(1, 15, generator=gen(77, 0))
    u2 = fastgan.rand(1, 15, generator=gen(77, 4))
    assert torch.equal(a.flatten(), ref.normal_icdf(u1).float().flatten())
    assert torch.equal(b.flatten(), ref.normal_icdf(u2).float().flatten())


def test_default_generator_and_manual_seed():
    fastgan.manual_seed(5)
    a = fs.latent(4, 6)
    fastgan.manual_seed(5)
    assert torch.equal(a, fs.normal(4, 6))
    assert not torch.equal(a, fs.normal(4, 6))


def test_shapes_and_dtypes():
    assert fs.normal(generator=gen()).shape == ()
    assert fs.normal(7, generator=gen()).shape == (7,)
    assert fs.normal(2, 3, 4, mean=torch.tensor([0.0, 100.0]), generator=gen()).shape == (2, 3, 4)
    x = fs.normal(2, 3, 4, mean=torch.tensor([[[0.0]], [[100.0]]]), generator=gen())
    assert (x[0].abs() < 10).all() and (x[1] > 90).all()
    assert fs.normal(0, 3, generator=gen()).shape == (0, 3)
    g = gen()
    h = fs.uniform(3, 9, generator=g, dtype=torch.float16)
    assert h.dtype == torch.float16 and g.get_offset() == 7
    assert torch.equal(h, fs.uniform(3, 9, generator=gen()).half())
    bf = fs.normal(3, 9, generator=gen(), dtype=torch.bfloat16)
    assert torch.equal(bf, fs.normal(3, 9, generator=gen()).bfloat16())
    assert fs.inverse_cdf(torch.tensor([0.5, 1.0], dtype=torch.float64), 4).dtype == torch.float64
    c16 = torch.tensor([[0.25, 0.5, 1.0]], dtype=torch.float16)
    assert torch.equal(fs.inverse_cdf(c16, 9, generator=gen(), dtype=torch.bfloat16),
                       fs.inverse_cdf(c16.float(), 9, generator=gen()).bfloat16())
    assert torch.equal(fs.inverse_cdf(c16, 9, generator=gen(), validate=False),
                       ref.inverse_cdf(c16.float(), 9, generator=gen()))


def test_latent_truncation_and_samples_in_bounds():
    z = fs.latent(64, 33, truncation=0.5, generator=gen(3))
    assert z.shape == (64, 33) and z.abs().max() <= 0.5
    assert torch.equal(z, fs.normal(64, 33, truncation=0.5, generator=gen(3)))
    # numbers (a cached host-built row) and one-element tensors (device math) agree bitwise
    assert torch.equal(z, fs.normal(64, 33, truncation=torch.tensor(0.5), std=torch.ones(1), generator=gen(3)))
    assert torch.equal(fs.truncated_normal(9, 7, a=-0.3, b=2.0, mean=0.1, std=0.7, generator=gen(4)),
                       fs.truncated_normal(9, 7, a=torch.full((9,), -0.3, dtype=torch.float64), b=2.0, mean=0.1,
                                           std=torch.full((9, 1), 0.7, dtype=torch.float64), generator=gen(4)))
    lo = torch.tensor([-8.0, 3.0, 7.9999, -1e-9])
    hi = torch.tensor([-7.0, 8.0, 8.0, 1e-9])
    x = fs.truncated_normal(4, 300, a=lo, b=hi, generator=gen(9))
    assert (x >= lo[:, None]).all() and (x <= hi[:, None]).all() and torch.isfinite(x).all()


EXTREME = [
    ("normal", dict(mean=0.0, std=1e38)), ("normal", dict(mean=1e300, std=1e300)), ("normal", dict(std=1e-300)),
    ("normal", dict(mean=2.0, std=0.5, truncation=1e-300)),
    ("truncated_normal", dict(a=8.0, b=math.inf)), ("truncated_normal", dict(a=-math.inf, b=-8.0)),
    ("truncated_normal", dict(a=-12.0, b=-11.0)), ("truncated_normal", dict(a=1e200, b=math.inf)),
    ("truncated_normal", dict(a=torch.tensor([1.5, -3.0, 0.0]), b=torch.tensor([1.5, 2.0, 0.0]))),
    ("exponential", dict(rate=1e-38)), ("exponential", dict(rate=1e-310)), ("exponential", dict(rate=1e300)),
    ("laplace", dict(scale=1e37)), ("logistic", dict(loc=-1e38, scale=1e37)), ("cauchy", dict(scale=1e4)),
    ("cauchy", dict(scale=1e300)), ("uniform", dict(low=-1e38, high=3e38)),
]


@pytest.mark.parametrize("name,kw", EXTREME, ids=[f"{n}{i}" for i, (n, _) in enumerate(EXTREME)])
def test_extreme_parameters_never_inf_or_nan(name, kw, torch_backend):
    """Samples whose exact value overflows the output dtype saturate at ±finfo.max; far or
    degenerate bounds give points of [a, b]; the CPU path still equals rand + reference F⁻¹."""
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = getattr(fs, name)(3, 401, generator=gen(13), dtype=dtype, **kw)
        assert torch.isfinite(x).all(), (name, kw, dtype)
        assert torch.equal(x, getattr(ref, name)(3, 401, generator=gen(13), dtype=dtype, **kw)), (name, dtype)
        if name == "truncated_normal":
            a, b = (torch.as_tensor(kw[k], dtype=torch.float64).reshape(-1, 1).expand(3, 1) for k in "ab")
            lo, hi = ref.saturate(a, dtype).double(), ref.saturate(b, dtype).double()
            assert (x.double() >= lo).all() and (x.double() <= hi).all()
            point = (a == b).flatten()
            assert (x[point] == ref.saturate(a[point], dtype)).all()


@pytest.mark.interpreter
def test_saturation_replaces_overflow():
    u = torch.tensor([[0.0, 2.0 ** -31, 0.5, 1 - 2.0 ** -24]])
    x = ref.cauchy_icdf(u, 0.0, 1e4)
    assert torch.equal(ref.saturate(x, torch.float16),
                       torch.tensor([[-65504.0, -65504.0, 0.0, 65504.0]], dtype=torch.float16))
    assert torch.equal(ref.saturate(torch.tensor([math.inf, -math.inf, 1.0]), torch.float32),
                       torch.tensor([3.4028234663852886e38, -3.4028234663852886e38, 1.0]))
    cdf, sup = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([0.0, 1e300], dtype=torch.float64)
    for backend in ("torch", "triton"):
        with fastgan.backend(backend):
            y = fs.inverse_cdf(cdf, 41, support=sup, generator=gen(3), dtype=torch.float32)
        assert torch.equal(y, ref.inverse_cdf(cdf, 41, support=sup, generator=gen(3), dtype=torch.float32))
        assert torch.isfinite(y).all() and (y == 3.4028234663852886e38).any() and (y == 0).any()
    h = fs.cauchy(2, 300, scale=1e4, generator=gen(3), dtype=torch.float16)
    assert torch.isfinite(h).all() and (h.abs() == 65504).any()
    assert torch.equal(h, ref.saturate(fs.cauchy(2, 300, scale=1e4, generator=gen(3)), torch.float16))


def test_validate_false_skips_tensor_checks():
    bad = torch.tensor([0.0, -1.0])
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        fs.normal(2, 3, std=bad)
    fs.normal(2, 3, std=bad.abs() + 1, validate=False)


@settings(max_examples=40, deadline=None)
@given(a=st.floats(-40.0, 39.0), width=st.floats(1e-6, 30.0), mean=st.floats(-5.0, 5.0),
       std=st.floats(0.01, 10.0))
def test_truncated_normal_property(a, width, mean, std):
    b = a + width
    expected = ref.truncated_normal(2, 33, a=a, b=b, mean=mean, std=std, generator=gen(6), dtype=torch.float64)
    with fastgan.backend("torch"):  # the pure-PyTorch path is the reference itself
        x = fs.truncated_normal(2, 33, a=a, b=b, mean=mean, std=std, generator=gen(6), dtype=torch.float64)
    assert torch.equal(x, expected)
    # the C++ path (the CPU default): the same steps, libm's transcendentals (a few float64 ulp)
    x = fs.truncated_normal(2, 33, a=a, b=b, mean=mean, std=std, generator=gen(6), dtype=torch.float64)
    assert torch.isfinite(x).all() and (x >= a).all() and (x <= b).all()
    assert_close_samples(x, expected, "native truncated normal")


@settings(max_examples=40, deadline=None)
@given(w=st.lists(st.sampled_from([0.0, 1e-30, 1e-3, 0.5, 1.0, 7.0, 1e20]), min_size=1, max_size=12))
def test_categorical_property(w):
    t = torch.tensor(w, dtype=torch.float64)
    if t.sum() <= 0:
        t[-1] = 1.0
    idx = fs.categorical(t, 64, generator=gen(8))
    assert (t[idx] > 0).all() and torch.equal(idx, ref.categorical(t, 64, generator=gen(8)))


def test_numpy_scalars_are_accepted():
    # numpy scalars are numbers like Python's (issue 12): seeds, offsets, sizes, parameters, n
    g = fastgan.Generator(np.int64(5)).set_offset(np.uint64(3))
    assert g.initial_seed() == 5 and g.get_offset() == 3
    x = fs.normal(np.int64(4), np.int32(3), mean=np.float32(1.0), std=np.float64(2.0), generator=g)
    assert torch.equal(x, fs.normal(4, 3, mean=1.0, std=2.0, generator=gen(5, 3)))
    t = fs.truncated_normal(5, a=np.float64(300.0), b=np.inf, generator=gen(1))
    assert torch.equal(t, fs.truncated_normal(5, a=300.0, b=math.inf, generator=gen(1)))
    idx = fs.categorical(torch.ones(3), np.int64(6), generator=gen(1))
    assert torch.equal(idx, fs.categorical(torch.ones(3), 6, generator=gen(1)))
    assert fs.latent(np.int64(2), np.int64(3)).shape == (2, 3)
    fastgan.manual_seed(np.int64(9))
    assert torch.equal(fastgan.rand(np.int64(4)), fastgan.rand(4, generator=fastgan.Generator(9)))


META = [
    (lambda g: fs.normal(3, mean=torch.zeros(3, device="meta"), generator=g), "mean is a meta tensor"),
    (lambda g: fs.truncated_normal(2, 3, a=0.0, b=torch.ones(2, device="meta"), generator=g),
     "b is a meta tensor"),
    (lambda g: fs.normal(3, device="meta", generator=g), "device is meta"),
    (lambda g: fs.categorical(torch.ones(3, device="meta"), 3, generator=g), "weights is a meta tensor"),
    (lambda g: fs.categorical([torch.ones(2), torch.ones(3, device="meta")], 3, generator=g),
     r"weights\[1\] is a meta tensor"),
    (lambda g: fs.inverse_cdf(torch.ones(3, device="meta"), 3, generator=g), "cdf is a meta tensor"),
    (lambda g: fs.inverse_cdf(torch.tensor([0.5, 1.0]), 3, support=torch.zeros(2, device="meta"),
                              generator=g), "support is a meta tensor"),
]


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("call,match", META, ids=[f"meta{i}" for i in range(len(META))])
def test_meta_tensors_are_rejected_clearly(call, match, backend):
    g = gen(1, 7)
    with fastgan.backend(backend), pytest.raises(ValueError, match=match + ".*not supported"):
        call(g)
    assert g.get_offset() == 7


FAILING_DRAWS = [
    lambda g: fs.normal(3, std=-1.0, generator=g),
    lambda g: fs.normal(3, std=torch.tensor([1.0, -1.0, 1.0]), generator=g),
    lambda g: fs.uniform(3, low=2.0, high=1.0, generator=g),
    lambda g: fs.normal(3, device="meta", generator=g),
    lambda g: fs.categorical(torch.tensor([[1.0, -1.0]]), 3, generator=g),
    lambda g: fs.inverse_cdf(torch.tensor([[0.5, 0.4, 1.0]]), 3, generator=g),
    lambda g: fs.normal(3, dtype=torch.int32, generator=g),
    lambda g: fastgan.rand(3, device="meta", generator=g),
    lambda g: fastgan.randn(2, 2, device="meta", generator=g),
    lambda g: fastgan.random.randbits(4, device="meta", generator=g),
    lambda g: fastgan.random.uniform_(torch.empty(4, device="meta"), generator=g),
]


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("call", FAILING_DRAWS, ids=[f"draw{i}" for i in range(len(FAILING_DRAWS))])
def test_a_draw_that_fails_validation_leaves_the_generator_alone(call, backend):
    # issue 12: counters were reserved before the device was checked
    g = gen(3, 11)
    with fastgan.backend(backend), pytest.raises((ValueError, TypeError)):
        call(g)
    assert g.get_offset() == 11


# ---------------------------------------------------------------------------------- bad input
BAD = [
    (lambda: fs.inverse_cdf(torch.tensor([[0.2, 0.1, 1.0]]), 3), ValueError, "non-decreasing"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.2, 0.5, 0.9]]), 3), ValueError, "must end at 1"),
    (lambda: fs.inverse_cdf(torch.tensor([[-0.1, 0.5, 1.0]]), 3), ValueError, r"in \[0, 1\]"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.1, float("nan"), 1.0]]), 3), ValueError, "finite"),
    (lambda: fs.inverse_cdf(torch.tensor([[float("-inf"), 0.5, 1.0]]), 3), ValueError, "finite"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.1, 0.5, 1.0]]), 3,
                            support=torch.tensor([0.0, 1.0, float("inf")])),
     ValueError, "support must be finite"),
    (lambda: fs.inverse_cdf([torch.tensor([0.5, 1.0]), torch.tensor([0.2, 1.0])], 3,
                            support=[torch.tensor([0.0, 1.0]), torch.tensor([float("nan"), 1.0])]),
     ValueError, "support must be finite"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.1, 0.5, 1.0]]), 3, support=torch.tensor([0.0, 2.0, 1.0])),
     ValueError, "support must be non-decreasing"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.5, 1.0]]), 3, support=torch.tensor([-1e308, 1e308], dtype=torch.float64)),
     ValueError, "support steps .* must be finite"),
    (lambda: fs.inverse_cdf([torch.tensor([0.5, 1.0]), torch.ones(1)], 3,
                            support=[torch.tensor([-1e308, 1e308], dtype=torch.float64), torch.zeros(1)]),
     ValueError, "support steps .* must be finite"),
    (lambda: fs.inverse_cdf(torch.tensor([[0.1, 0.5, 1.0]]), 3, support=torch.zeros(4)), ValueError,
     "support must have shape"),
    (lambda: fs.inverse_cdf([torch.tensor([0.5, 1.0]), torch.tensor([1.0])], 3, support=[torch.zeros(2)]),
     ValueError, "support must be a list"),
    (lambda: fs.inverse_cdf([torch.tensor([0.5, 1.0]), torch.tensor([0.2, 0.1, 1.0])], 3),
     ValueError, "non-decreasing"),
    (lambda: fs.inverse_cdf(torch.tensor([[1, 1]]), 3), TypeError, "floating-point"),
    (lambda: fs.inverse_cdf(torch.zeros(2, 2, 2), 3), ValueError, r"shape \(K,\) or \(R, K\)"),
    (lambda: fs.inverse_cdf([], 3), ValueError, "empty list"),
    (lambda: fs.categorical(torch.tensor([[1.0, -0.5, 2.0]]), 3), ValueError, "non-negative"),
    (lambda: fs.categorical(torch.tensor([[1.0, 2.0], [0.0, 0.0]]), 3), ValueError, "positive sum"),
    (lambda: fs.categorical(torch.tensor([[1.0, float("inf")]]), 3), ValueError, "finite"),
    (lambda: fs.categorical([torch.ones(2), torch.zeros(3)], 3), ValueError, "positive sum"),
    (lambda: fs.categorical(torch.ones(2, 3), -1), ValueError, "n must be non-negative"),
    (lambda: fs.categorical(torch.ones(2, 3), 2.0), TypeError, "n must be an int"),
    (lambda: fs.categorical("weights", 2), TypeError, "weights must be a torch.Tensor"),
    (lambda: fs.truncated_normal(3, a=2.0, b=1.0), ValueError, "a must be ≤ b"),
    (lambda: fs.truncated_normal(2, 3, a=torch.tensor([0.0, 2.0]), b=1.0), ValueError, "a must be ≤ b"),
    (lambda: fs.truncated_normal(3, a=math.inf, b=math.inf), ValueError, r"a = b = ±inf is empty"),
    (lambda: fs.truncated_normal(2, 3, a=-math.inf, b=torch.tensor([0.0, -math.inf])), ValueError,
     "a must be ≤ b .* in every row"),
    (lambda: fs.uniform(3, low=-1e308, high=1e308), ValueError, "high - low finite"),
    (lambda: fs.uniform(2, 3, low=torch.tensor([0.0, -1e308], dtype=torch.float64), high=1e308), ValueError,
     "high - low finite in every row"),
    (lambda: fs.normal(3, std=0.0), ValueError, "std must be finite and > 0"),
    (lambda: fs.normal(3, std=-1.0), ValueError, "std must be finite and > 0"),
    (lambda: fs.normal(3, truncation=0.0), ValueError, "truncation must be > 0"),
    (lambda: fs.normal(3, mean=float("nan")), ValueError, "mean must be finite"),
    (lambda: fs.exponential(3, rate=0.0), ValueError, "rate must be finite and > 0"),
    (lambda: fs.laplace(3, scale=torch.tensor([1.0, 0.0, 1.0])), ValueError, "scale must be finite and > 0"),
    (lambda: fs.uniform(3, low=1.0, high=1.0), ValueError, "low must be < high"),
    (lambda: fs.normal(4, 5, mean=torch.zeros(5)), ValueError, r"mean has shape \(5,\)"),
    (lambda: fs.normal(4, 5, mean=torch.zeros(4, 5)), ValueError, r"mean has shape \(4, 5\)"),
    (lambda: fs.normal(mean=torch.zeros(4)), ValueError, "need a size with rows"),
    (lambda: fs.normal(3, mean="0"), TypeError, "mean must be a number or a tensor"),
    (lambda: fs.normal(3, dtype=torch.int32), TypeError, "dtype must be one of"),
    (lambda: fs.normal(3, generator=torch.Generator()), TypeError, "generator must be a fastgan.Generator"),
    (lambda: fs.latent(2, 3, distribution="gamma"), ValueError, "distribution must be one of"),
    (lambda: fs.latent(2, 3, distribution="uniform", truncation=1.0), ValueError, "truncation applies"),
    (lambda: fs.latent(2.5, 3), TypeError, "batch must be an int"),
]


@pytest.mark.parametrize("call,exc,match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -------------------------------------------------------------------------- torch.library ops
def test_custom_op_under_compile():
    from fastgan.ops.sample import parametric_rows

    rows = parametric_rows("normal", [torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
                                      torch.full((3,), -2.0, dtype=torch.float64),
                                      torch.full((3,), 2.0, dtype=torch.float64)])

    def f(r):
        return torch.ops.fastgan.sample_parametric(r, 5, 10, 7, 0, 3, 0, torch.float32) * 2.0

    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(rows), f(rows))
    expected = ref.truncated_normal_icdf(fastgan.rand(3, 10, generator=gen(7, 3)), 0.0, 1.0, -2.0, 2.0)
    assert torch.equal(f(rows), 2.0 * expected.float())


def test_opcheck_registrations():
    from fastgan.ops.sample import categorical_table, parametric_rows

    rows = parametric_rows("laplace", [torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)])
    torch.library.opcheck(torch.ops.fastgan.sample_parametric.default, (rows, 2, 9, 1, 0, 0, 0, torch.float32))
    table = categorical_table(torch.rand(2, 6))
    start = torch.tensor([0, 6])
    length = torch.tensor([6, 6])
    torch.library.opcheck(torch.ops.fastgan.sample_tabulated.default,
                          (table, table, start, length, start, 0, 9, 3, 1, 0, 0, 0, torch.int64))


# ------------------------------------------------------------------------------------ GPU only
@pytest.mark.gpu
def test_gpu_matches_cpu_path():
    w = torch.rand(64, 100) * (torch.rand(64, 100) > 0.5)
    w[:, 0] += 1e-3
    cuda = fs.categorical(w.cuda(), 513, generator=gen(3))
    assert torch.equal(cuda.cpu(), fs.categorical(w, 513, generator=gen(3)))
    cdf = torch.rand(64, 100).cumsum(1)
    cdf = cdf / cdf[:, -1:]
    x = fs.inverse_cdf(cdf.cuda(), 513, generator=gen(3))
    assert ulp_diff(x.cpu(), fs.inverse_cdf(cdf, 513, generator=gen(3))) <= 4
    for a, b in ((-8.0, -7.0), (-1.0, 1.0), (3.0, 8.0)):
        x = fs.truncated_normal(64, 257, a=a, b=b, generator=gen(4), device="cuda")
        assert ulp_diff(x.cpu(), fs.truncated_normal(64, 257, a=a, b=b, generator=gen(4))) <= 4
        assert (x >= a).all() and (x <= b).all()
    for f in (fs.normal, fs.exponential, fs.laplace, fs.logistic, fs.cauchy, fs.uniform):
        x = f(64, 257, generator=gen(5), device="cuda")
        assert ulp_diff(x.cpu(), f(64, 257, generator=gen(5))) <= 4, f.__name__


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_categorical_table_one_pass_kernel_is_bit_identical(dtype, triton_backend, device):
    # the GPU builds the table in one read of the weights (kernels/inverse_cdf.py
    # categorical_table_kernel): the same exact integer counts and prefix sums as the
    # reference's float64 passes, bit for bit, across blocks (K = 2500 > 1024), with zero
    # weights, weights spanning 2^60, a one-column row, and strided weights
    from fastgan.ops import sample as ops_sample
    from fastgan.reference import sample as ref_sample

    torch.manual_seed(5)
    w = torch.rand(3, 2500, dtype=torch.float64) ** 4
    w[0, :7] = 0.0
    w[1] *= torch.pow(2.0, torch.randint(-60, 0, (2500,), dtype=torch.float64))
    cases = [w.to(dtype), torch.rand(4, 1).to(dtype), torch.rand(9, 5).T.to(dtype)]
    for weights in cases:
        want = ref_sample.weight_counts(weights).cumsum(-1).reshape(-1)
        got = ops_sample.categorical_table(weights.to(device))
        assert got.dtype == torch.float64 and torch.equal(got.cpu(), want)

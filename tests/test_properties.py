"""Property-based tests: every public op against an independent float64 formula.

Hypothesis draws shapes and parameters; each property compares an op with a float64 formula
written here (dense pairwise MMD sums, softplus / relu losses, closed-form CDFs, the Philox
reference stream of ``fastgan.reference``) over:

- ``fastgan.mmd`` / ``fastgan.kernel_sums``: the five kernels, both estimators, bandwidths
  1e-3 … 1e3, value scales 1e-6 … 1e6, offsets up to ±1e3; the error is measured relative
  to Σ|terms| (the sizes of the sums MMD² is a difference of);
- the GAN losses with logits up to ±3e38 (values and gradients, every reduction);
- the samplers, truncation bounds far in the tails included: each sample is F⁻¹ of its own
  uniform (the same generator state through ``fastgan.rand``), so F(sample) = u;
- ``fastgan.rand`` / ``randn`` / ``randbits``: the stream equals the pure-Python Philox reference.

Budget: the suite must stay well under two minutes on one CPU core. Every property runs a
fixed number of examples (``max_examples`` per test, from the ``PROFILE`` below) with
``derandomize=True``: the examples are a deterministic function of the test, the same on
every run and machine (no example database either), so a failure is reproducible and CI time
is fixed. Examples run on the CPU path mostly; the Triton kernels (the interpreter, slow) get
a few examples each.

Two properties guard fixes of silent wrong results: float64 inputs are centred in float64
before the Triton path rounds them to float32, and polynomial kernels whose values would
overflow float32 still give the finite MMD² (their test failed before those fixes).
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import special, stats

import fastgan
import fastgan.sample as fs
from fastgan.losses import discriminator_loss, generator_loss
from fastgan.reference import stream_bits_reference, uniform_from_bits_reference

PROFILE = settings(derandomize=True, deadline=None, database=None, max_examples=20,
                   suppress_health_check=[HealthCheck.too_slow])

KERNELS = ["gaussian", "laplacian", "imq", "polynomial", "energy"]
FLT_MAX = float(torch.finfo(torch.float32).max)


def log_uniform(lo, hi):
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0 ** e)


# ------------------------------------------------------------------------------------ MMD
def dense_kernel(a: np.ndarray, b: np.ndarray, kernel: str, sigmas) -> np.ndarray:
    """k(a_i, b_j) for all pairs in float64, from the differences themselves (no centring,
    no ‖a‖² + ‖b‖² - 2⟨a, b⟩ expansion)."""
    if kernel == "polynomial":  # (γ⟨a, b⟩ + 1)³, γ = 1/D
        return (a @ b.T / a.shape[1] + 1.0) ** 3
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    if kernel == "energy":
        return -np.sqrt(d)
    out = np.zeros_like(d)
    for s in sigmas:
        if kernel == "gaussian":
            out += np.exp(-d / (2 * s * s))
        elif kernel == "laplacian":
            out += np.exp(-np.sqrt(d) / s)
        else:  # imq
            out += 1.0 / np.sqrt(1.0 + d / (2 * s * s))
    return out


def dense_mmd(x: np.ndarray, y: np.ndarray, kernel: str, sigmas, estimator: str):
    """(MMD², Σ|terms|, (Sxx, Syy, Sxy)) in float64."""
    n, m = len(x), len(y)
    kxx, kyy, kxy = (dense_kernel(a, b, kernel, sigmas) for a, b in ((x, x), (y, y), (x, y)))
    if estimator == "unbiased":
        np.fill_diagonal(kxx, 0.0)
        np.fill_diagonal(kyy, 0.0)
        wa, wb = 1 / (n * (n - 1)), 1 / (m * (m - 1))
    else:
        wa, wb = 1 / n ** 2, 1 / m ** 2
    wc = -2 / (n * m)
    value = wa * kxx.sum() + wb * kyy.sum() + wc * kxy.sum()
    scale = wa * np.abs(kxx).sum() + wb * np.abs(kyy).sum() + abs(wc) * np.abs(kxy).sum()
    return value, scale, (kxx.sum(), kyy.sum(), kxy.sum())


@st.composite
def mmd_problems(draw, max_rows=10, max_dim=4, kernels=KERNELS, scale=(1e-6, 1e6),
                 offset=1e3, bandwidth=(1e-3, 1e3)):
    """(x, y, kernel, bandwidth, estimator) as float64 numpy arrays: x = offset + scale·N(0, 1),
    y likewise with a shifted mean; bandwidth one σ or a mixture of up to three."""
    kernel = draw(st.sampled_from(kernels))
    estimator = draw(st.sampled_from(["unbiased", "biased"]))
    n, m = draw(st.integers(2, max_rows)), draw(st.integers(2, max_rows))
    dim = draw(st.integers(1, max_dim))
    s = draw(log_uniform(*scale))
    off = draw(st.sampled_from([0.0, 1.0]) | st.floats(-offset, offset))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = off + s * rng.standard_normal((n, dim))
    y = off + s * (rng.standard_normal((m, dim)) * draw(st.floats(0.5, 2.0)) + draw(st.floats(-1, 1)))
    sig = draw(st.lists(log_uniform(*bandwidth), min_size=1, max_size=3))
    return x, y, kernel, sig, estimator


def _bw(kernel, sig):
    return (sig[0] if len(sig) == 1 else sig) if kernel in ("gaussian", "laplacian", "imq") else 1.0


def check_mmd(problem, dtype, rel, backend="torch"):
    x, y, kernel, sig, estimator = problem
    xt, yt = torch.from_numpy(x).to(dtype), torch.from_numpy(y).to(dtype)
    # the formula sees the inputs as the op does (rounded to dtype)
    value, scale, _ = dense_mmd(xt.double().numpy(), yt.double().numpy(), kernel, sig, estimator)
    with fastgan.backend(backend):
        out = fastgan.mmd(xt, yt, kernel=kernel, bandwidth=_bw(kernel, sig), estimator=estimator,
                          precision="ieee")
    assert out.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert abs(out.item() - value) <= rel * scale, (out.item(), value, scale)


# Error model of the op (see fastgan.mmd): d comes from the expansion after centring, so its
# absolute error is ~ε·‖z‖²; a kernel through √d (laplacian, energy) turns that into ~√ε·‖z‖
# for (near-)coincident points. Relative to Σ|terms| this stays below the bounds used here.
@settings(PROFILE, max_examples=60)
@given(mmd_problems())
def test_mmd_float64_cpu_matches_dense_formula(problem):
    check_mmd(problem, torch.float64, 1e-9 if problem[2] in ("laplacian", "energy") else 1e-12)


@settings(PROFILE, max_examples=40)
@given(mmd_problems(kernels=["gaussian", "laplacian", "imq", "energy"]))
def test_mmd_float32_cpu_matches_dense_formula(problem):
    check_mmd(problem, torch.float32, 3e-3 if problem[2] in ("laplacian", "energy") else 1e-5)


@settings(PROFILE, max_examples=25)
@given(mmd_problems(kernels=["polynomial"], scale=(1e-6, 1e3)))
def test_mmd_float32_cpu_polynomial_moderate_scale(problem):
    check_mmd(problem, torch.float32, 1e-5)


@settings(PROFILE, max_examples=10)
@given(mmd_problems(max_dim=2, kernels=["polynomial"], scale=(1e6, 4e6), offset=0.0))
def test_mmd_float32_polynomial_large_scale_stays_finite(problem):
    x, y, kernel, sig, estimator = problem
    value, _, _ = dense_mmd(x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64),
                            kernel, sig, estimator)
    if abs(value) < FLT_MAX:
        check_mmd(problem, torch.float32, 1e-5)


@settings(PROFILE, max_examples=30)
@given(mmd_problems())
def test_kernel_sums_float64_cpu_match_dense_formula(problem):
    x, y, kernel, sig, estimator = problem
    _, _, sums = dense_mmd(x, y, kernel, sig, estimator)
    out = fastgan.kernel_sums(torch.from_numpy(x), torch.from_numpy(y), kernel=kernel,
                              bandwidth=_bw(kernel, sig), estimator=estimator)
    for got, expect, (a, b) in zip(out, sums, ((x, x), (y, y), (x, y))):
        bound = np.abs(dense_kernel(a, b, kernel, sig)).sum()
        rel = 1e-9 if kernel in ("laplacian", "energy") else 1e-12
        assert abs(got.item() - expect) <= rel * bound, (got.item(), expect, bound)


@pytest.mark.interpreter
@settings(PROFILE, max_examples=5)
@given(mmd_problems(max_rows=6, max_dim=3, kernels=["gaussian", "imq", "polynomial"], offset=10.0,
                    scale=(1e-2, 1e2)))
def test_mmd_float32_triton_matches_dense_formula(problem):
    check_mmd(problem, torch.float32, 1e-5, backend="triton")


@pytest.mark.interpreter
@settings(PROFILE, max_examples=3)
@given(st.floats(1e2, 1e3), log_uniform(1e-3, 1e-2), st.floats(-0.5, 0.5), st.integers(0, 1000))
def test_mmd_float64_triton_centres_before_rounding(offset, spread, log_ratio, seed):
    # points 1e3 out with a spread of 1e-3: in float32 they keep ~4 significant bits of their
    # differences, so the kernel must centre in float64 first; σ on the scale of the spread
    rng = np.random.default_rng(seed)
    x = offset + spread * rng.standard_normal((5, 2))
    y = offset + spread * (rng.standard_normal((4, 2)) + 0.5)
    check_mmd((x, y, "gaussian", [spread * 10 ** log_ratio], "unbiased"), torch.float64, 1e-5,
              backend="triton")


# --------------------------------------------------------------------------------- losses
def softplus64(x):
    return np.logaddexp(0.0, x)


def sigmoid64(x):
    return special.expit(x)


def loss_part(x, part, label):
    """(f(x), f'(x)) in float64: BCE against label y, relu(1 - x), relu(1 + x), x."""
    if part == "bce":
        f = label * softplus64(-x) + (1 - label) * softplus64(x) if 0 < label < 1 else \
            (softplus64(-x) if label == 1 else softplus64(x))
        # σ(x) - y; for y = 1 as -σ(-x), which keeps the tail 1 - σ(x) for x >> 0
        return f, (-sigmoid64(-x) if label == 1 else sigmoid64(x) - label)
    if part == "hinge_pos":
        return np.maximum(1 - x, 0.0), np.where(x < 1, -1.0, 0.0)
    if part == "hinge_neg":
        return np.maximum(1 + x, 0.0), np.where(x > -1, 1.0, 0.0)
    return x, np.ones_like(x)


# logits anywhere up to ±3e38, with moderate values and the exp/hinge edges mixed in
LOGIT = (st.floats(-3e38, 3e38, allow_nan=False) | st.floats(-120.0, 120.0)
         | st.sampled_from([0.0, 1.0, -1.0, 88.0, -88.0, 3e38, -3e38, 1e4, -1e4]))


@st.composite
def logits(draw, dtype):
    vals = draw(st.lists(LOGIT, min_size=1, max_size=40))
    x = torch.tensor(vals, dtype=torch.float64).to(dtype)
    return x.reshape(-1, 1) if draw(st.booleans()) else x


def _check_loss(out, grads, parts, reduction, dtype):
    """parts: [(x float64 numpy, part, label, sign)]; compares value and gradient."""
    terms = []
    for (x, part, label, sign), g in zip(parts, grads):
        f, df = loss_part(x, part, label)
        coef = sign / x.size if reduction == "mean" else sign
        terms.append((f, coef))
        tol_g = 1e-5 if dtype == torch.float32 else 1e-12
        np.testing.assert_allclose(g.double().numpy().reshape(-1), coef * df, rtol=tol_g,
                                   atol=2e-38 if dtype == torch.float32 else 1e-300)  # subnormals
    if reduction == "none":
        for (f, coef), o in zip(terms, out):
            expect = np.sign(coef) * f
            got = o.detach().double().numpy().reshape(-1)
            big = np.abs(expect) > FLT_MAX if dtype == torch.float32 else np.zeros_like(expect, bool)
            np.testing.assert_allclose(got[~big], expect[~big], rtol=1e-6 if dtype == torch.float32 else 1e-14,
                                       atol=2e-38 if dtype == torch.float32 else 1e-300)
        return
    exact = sum(coef * f.sum() for f, coef in terms)
    size = sum(abs(coef) * np.abs(f).sum() for f, coef in terms)
    got = out.item()
    if dtype == torch.float32 and abs(exact) > FLT_MAX * (1 - 1e-6):
        assert got == math.copysign(math.inf, exact) or abs(got) >= FLT_MAX * (1 - 1e-5), (got, exact)
    else:
        assert math.isfinite(got), (got, exact)
        rel, tiny = (1e-5, 1e-38) if dtype == torch.float32 else (1e-13, 1e-300)  # tiny: subnormals
        assert abs(got - exact) <= rel * size + tiny, (got, exact, size)


D_FORMS = {"bce": [("bce", None, 1.0), ("bce", None, 1.0)],
           "hinge": [("hinge_pos", 0.0, 1.0), ("hinge_neg", 0.0, 1.0)],
           "wasserstein": [("linear", 0.0, -1.0), ("linear", 0.0, 1.0)]}


def run_losses(data, dtype):
    real, fake = data.draw(logits(dtype)), data.draw(logits(dtype))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    loss = data.draw(st.sampled_from(["bce", "hinge", "wasserstein"]))
    labels = data.draw(st.sampled_from([(1.0, 0.0), (0.9, 0.0), (0.7, 0.2)])) if loss == "bce" else (1.0, 0.0)
    r, f = real.clone().requires_grad_(), fake.clone().requires_grad_()
    out = discriminator_loss(r, f, real_label=labels[0], fake_label=labels[1], loss=loss,
                             reduction=reduction)
    total = (out[0].sum() + out[1].sum()) if reduction == "none" else out
    total.backward()
    parts = [(t.double().numpy().reshape(-1), part, labels[i] if part == "bce" else lab, sign)
             for i, (t, (part, lab, sign)) in enumerate(zip((real, fake), D_FORMS[loss]))]
    _check_loss(out, (r.grad, f.grad), parts, reduction, dtype)

    saturating = loss == "bce" and data.draw(st.booleans())
    g = fake.clone().requires_grad_()
    out = generator_loss(g, saturating=saturating, loss=loss, reduction=reduction)
    (out.sum() if reduction == "none" else out).backward()
    part = ("bce", 0.0, -1.0) if saturating else ("bce", 1.0, 1.0) if loss == "bce" else ("linear", 0.0, -1.0)
    _check_loss([out] if reduction == "none" else out, (g.grad,),
                [(fake.double().numpy().reshape(-1), *part)], reduction, dtype)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the float64 sums of ±3e38
@settings(PROFILE, max_examples=60)
@given(st.data(), st.sampled_from([torch.float32, torch.float64]))
def test_losses_cpu_match_float64_formula(data, dtype):
    with fastgan.backend("torch"):
        run_losses(data, dtype)


@pytest.mark.interpreter
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(PROFILE, max_examples=6)
@given(st.data())
def test_losses_triton_match_float64_formula(data):
    with fastgan.backend("triton"):
        run_losses(data, torch.float32)


# ------------------------------------------------------------------------------- samplers
def truncnorm_cdf(z: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """CDF of N(0, 1) truncated to [α, β] at standardised z, float64, by differences of log Φ
    on the side of the nearer bound (so far tails do not cancel)."""
    z = np.clip(z, alpha, beta)
    if alpha >= 0:
        la = special.log_ndtr(-alpha)
        return -np.expm1(special.log_ndtr(-z) - la) / -np.expm1(special.log_ndtr(-beta) - la)
    if beta <= 0:
        lb = special.log_ndtr(beta)
        r = np.exp(special.log_ndtr(alpha) - lb)
        return (np.exp(special.log_ndtr(z) - lb) - r) / (1.0 - r)
    pa, pb = special.ndtr(alpha), special.ndtr(beta)
    return (special.ndtr(z) - pa) / (pb - pa)


def rounding_interval(x: torch.Tensor):
    """The reals that round to each sample in its dtype, as float64 [lo, hi] (lo = hi = x for
    float64 samples)."""
    v = x.double().numpy()
    if x.dtype == torch.float64:
        return v, v
    x32 = x.numpy()
    lo = (v + np.nextafter(x32, np.float32(-np.inf)).astype(np.float64)) / 2
    hi = (v + np.nextafter(x32, np.float32(np.inf)).astype(np.float64)) / 2
    return lo, hi


def check_inverse(x, p, cdf, tol):
    """F(sample) = p: p lies in [F(lo), F(hi)] of the sample's rounding interval, ± tol."""
    lo, hi = rounding_interval(x)
    f_lo, f_hi = cdf(lo), cdf(hi)
    bad = (p < f_lo - tol) | (p > f_hi + tol)
    assert not bad.any(), (x[torch.from_numpy(bad)][:3], p[bad][:3], f_lo[bad][:3], f_hi[bad][:3])


# a bound A standard deviations out: ordinary, far, very far
BOUND = st.floats(-10.0, 10.0) | st.floats(-1e5, 1e5) | st.sampled_from([8.0, 30.0, 300.0, 999.0, -1000.0])


@st.composite
def truncations(draw):
    mean = draw(st.floats(-100.0, 100.0))
    std = draw(log_uniform(1e-3, 1e3))
    alpha = draw(BOUND)
    width = draw(log_uniform(1e-6, 1e3) | st.just(math.inf))
    if draw(st.booleans()):  # the tail below the mean
        alpha, beta = -alpha - width, -alpha
    else:
        beta = alpha + width
    return mean, std, alpha, beta


def _draw_truncated(prob, dtype, backend, n):
    mean, std, alpha, beta = prob
    a = mean + std * alpha if math.isfinite(alpha) else alpha
    b = mean + std * beta if math.isfinite(beta) else beta
    with fastgan.backend(backend):
        x = fs.truncated_normal(n, a=a, b=b, mean=mean, std=std, dtype=dtype,
                                generator=fastgan.Generator(5))
    p = np.maximum(fastgan.rand(n, generator=fastgan.Generator(5), dtype=torch.float64).numpy(), 2.0 ** -32)
    lo_b, hi_b = (torch.tensor(v, dtype=torch.float64).to(dtype) for v in (a, b))
    assert (x >= lo_b).all() and (x <= hi_b).all()
    # standardise with the bounds as the op sees them (a, b rounded to float64)
    al, be = ((a - mean) / std if math.isfinite(a) else a), ((b - mean) / std if math.isfinite(b) else b)
    nearer = min(abs(al), abs(be))
    tol = 1e-9 + 1e-14 * nearer ** 2 + 1e-9 * nearer * (abs(mean) / std + 1)
    check_inverse(x, p, lambda v: truncnorm_cdf((v - mean) / std, al, be), tol)


@settings(PROFILE, max_examples=60)
@given(truncations(), st.sampled_from([torch.float32, torch.float64]))
def test_truncated_normal_cpu_inverts_the_exact_cdf(prob, dtype):
    _draw_truncated(prob, dtype, "torch", 64)


@pytest.mark.interpreter
@settings(PROFILE, max_examples=5)
@given(truncations(), st.sampled_from([torch.float32, torch.float64]))
def test_truncated_normal_triton_inverts_the_exact_cdf(prob, dtype):
    _draw_truncated(prob, dtype, "triton", 40)


FAMILIES = {  # name: (parameter strategies, float64 CDF)
    "uniform": (dict(low=st.floats(-1e3, 1e3), high=st.floats(1e-3, 1e3)),
                lambda v, low, high: np.clip((v - low) / high, 0, 1)),
    "exponential": (dict(rate=log_uniform(1e-3, 1e3)), lambda v, rate: -np.expm1(-rate * np.maximum(v, 0))),
    "laplace": (dict(loc=st.floats(-1e3, 1e3), scale=log_uniform(1e-3, 1e3)),
                lambda v, loc, scale: stats.laplace.cdf(v, loc, scale)),
    "logistic": (dict(loc=st.floats(-1e3, 1e3), scale=log_uniform(1e-3, 1e3)),
                 lambda v, loc, scale: stats.logistic.cdf(v, loc, scale)),
    "cauchy": (dict(loc=st.floats(-1e3, 1e3), scale=log_uniform(1e-3, 1e3)),
               lambda v, loc, scale: stats.cauchy.cdf(v, loc, scale)),
}


@settings(PROFILE, max_examples=40)
@given(st.data(), st.sampled_from(sorted(FAMILIES)), st.sampled_from([torch.float32, torch.float64]))
def test_parametric_samplers_invert_their_cdf(data, family, dtype):
    strategies, cdf = FAMILIES[family]
    params = {k: data.draw(s, label=k) for k, s in strategies.items()}
    call = dict(params)
    if family == "uniform":  # drawn as (low, width)
        call["high"] = params["low"] + params["high"]
    x = getattr(fs, family)(50, **call, dtype=dtype, generator=fastgan.Generator(3))
    u = fastgan.rand(50, generator=fastgan.Generator(3), dtype=torch.float64).numpy()
    p = u if family in ("uniform", "exponential") else np.maximum(u, 2.0 ** -32)
    # the CDF's own float64 rounding near loc (|loc|/scale ulps) bounds the tolerance
    scale = params.get("scale", 1.0)
    tol = 1e-12 + 1e-15 * abs(params.get("loc", params.get("low", 0.0))) / scale
    check_inverse(x, p, lambda v: cdf(v, **params), tol)


@st.composite
def cdf_tables(draw):
    rows, k = draw(st.integers(1, 4)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    steps = rng.random((rows, k)) + 1e-3  # strictly increasing rows ending at 1
    c = np.cumsum(steps, axis=1)
    c /= c[:, -1:]
    c[:, -1] = 1.0
    support = np.cumsum(rng.random((rows, k)) + 1e-3, axis=1) * draw(log_uniform(1e-3, 1e3))
    return c, support


@settings(PROFILE, max_examples=30)
@given(cdf_tables(), st.booleans())
def test_inverse_cdf_is_linear_interpolation(table, per_row_support):
    c, support = table
    sup = support if per_row_support else np.broadcast_to(support[:1], c.shape)
    x = fs.inverse_cdf(torch.from_numpy(c), 30, generator=fastgan.Generator(4),
                       support=torch.from_numpy(sup.copy() if per_row_support else support[0]))
    u = fastgan.rand(c.shape[0], 30, generator=fastgan.Generator(4), dtype=torch.float64).numpy()
    for r in range(c.shape[0]):  # the atom c[0] at x[0], linear in between
        expect = np.interp(u[r] * c[r, -1], c[r], sup[r])
        np.testing.assert_allclose(x[r].numpy(), expect, rtol=1e-12, atol=1e-12 * sup[r, -1])


@settings(PROFILE, max_examples=30)
@given(st.lists(st.sampled_from([0.0, 1e-3, 0.25, 1.0, 3.0, 1e6]), min_size=1, max_size=10),
       st.integers(0, 2 ** 32 - 1))
def test_categorical_draws_follow_the_cumulative_weights(w, seed):
    w = np.array(w)
    if w.sum() == 0:
        w[-1] = 1.0
    idx = fs.categorical(torch.from_numpy(w), 40, generator=fastgan.Generator(seed)).numpy()
    u = fastgan.rand(40, generator=fastgan.Generator(seed), dtype=torch.float64).numpy()
    c = np.cumsum(w) / w.sum()
    assert (w[idx] > 0).all()
    # the drawn bin brackets u: c[k-1] ≤ u < c[k] up to the counts' quantisation (2**-40 here)
    lo = np.where(idx > 0, c[np.maximum(idx - 1, 0)], 0.0)
    assert ((lo <= u + 1e-12) & (u < c[idx] + 1e-12)).all()


# ----------------------------------------------------------------------------------- RNG
SEEDS = st.integers(0, 2 ** 64 - 1) | st.sampled_from([0, 1, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1])
OFFSETS = st.integers(0, 2 ** 64 - 1) | st.sampled_from([0, 2 ** 32 - 1, 2 ** 64 - 1, 2 ** 64 - 3])


def box_muller64(u: np.ndarray) -> np.ndarray:
    """Triton's Box-Muller in float64 on the float32 uniforms of words (0, 1) and (2, 3)."""
    u = u.reshape(-1, 2, 2)
    r = np.sqrt(-2.0 * np.log(np.maximum(u[:, :, 0], 1e-7)))
    th = 2 * math.pi * u[:, :, 1]
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1).reshape(-1)


def check_stream(seed, offset, n, backend):
    g = fastgan.Generator(seed).set_offset(offset)
    with fastgan.backend(backend):
        u = fastgan.rand(n, generator=g)
        z = fastgan.randn(n, generator=g, dtype=torch.float64)
        bits = fastgan.random.randbits(n, generator=g)
    blocks = -(-n // 4)
    assert g.get_offset() == (offset + 3 * blocks) % 2 ** 64
    # whole blocks: a normal pairs words (0, 1) and (2, 3) of its block, drawn or not
    ref = [stream_bits_reference(seed, (offset + i * blocks) % 2 ** 64, 4 * blocks) for i in range(3)]
    assert np.array_equal(u.numpy(), uniform_from_bits_reference(ref[0][:n]))
    u64 = uniform_from_bits_reference(ref[1]).astype(np.float64)
    np.testing.assert_allclose(z.numpy(), box_muller64(u64)[:n], rtol=1e-13, atol=1e-13)
    assert np.array_equal(bits.numpy().view(np.uint32), ref[2][:n])


@settings(PROFILE, max_examples=30)
@given(SEEDS, OFFSETS, st.integers(1, 40))
def test_rand_randn_randbits_equal_the_reference_stream(seed, offset, n):
    check_stream(seed, offset, n, "torch")


@pytest.mark.interpreter
@settings(PROFILE, max_examples=4)
@given(SEEDS, OFFSETS, st.integers(1, 40))
def test_triton_fill_equals_the_reference_stream(seed, offset, n):
    check_stream(seed, offset, n, "triton")

"""Reference inverse-CDF samplers in plain PyTorch: ``fastgan.rand`` uniforms, then F⁻¹.

Two layers:

- ``*_icdf(u, ...)``: the inverse CDFs applied to given float32 uniforms ``u`` of shape (R, n),
  with per-row parameters of shape (R, 1) (or Python numbers). They compute in float64 and return
  float64 (int64 for :func:`categorical_icdf`). The kernels of ``fastgan.kernels.inverse_cdf``
  implement exactly these formulas; the CPU path of :mod:`fastgan.sample` calls them directly.
- ``inverse_cdf``, ``categorical``, ``normal``, ... with the signatures of :mod:`fastgan.sample`:
  draw ``u = fastgan.rand(R, n, generator=...)`` and apply the F⁻¹ above. These are the
  baselines the tests and the benchmarks compare with.

Conventions shared with the kernels (documented in :mod:`fastgan.sample`):

- ``u`` comes from Triton's uint32 -> float32 map: ``u`` is in [0, 1 - 2**-24], it can be 0 and is
  never 1. Where F⁻¹(0) = -inf (normal, laplace, logistic, cauchy) ``u`` is first raised to
  ``p = max(u, 2**-32)``, half the smallest positive uniform, so every F⁻¹ is finite. The whole
  samplers round with :func:`saturate` (beyond the dtype's range: ±finfo.max, never ±inf), as
  the kernels and the CPU path of :mod:`fastgan.sample` do.
- Tabulated rows use the cumulative table ``c`` and the target ``t = u * c[K-1]``; the bin is the
  first ``k`` with ``c[k] > t`` (``torch.searchsorted(..., right=True)``), which is never a
  zero-weight bin and always exists because ``u < 1``.
- Categorical tables are prefix sums of integer counts (:func:`weight_counts`), exact in float64,
  so every device builds bit-identical tables and hence draws bit-identical indices.
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "P_MIN", "Z_MAX", "TAIL_Z", "saturate", "ndtri_log", "tail_offset", "weight_counts", "normal_row_constants",
    "uniform_icdf", "exponential_icdf", "laplace_icdf", "logistic_icdf", "cauchy_icdf",
    "normal_icdf", "truncated_normal_icdf", "categorical_search", "categorical_icdf", "tabulated_icdf",
    "inverse_cdf", "categorical", "normal", "truncated_normal", "exponential", "laplace",
    "logistic", "cauchy", "uniform", "latent",
]

#: The lowest probability fed to an F⁻¹ with an infinite lower tail: u = 0 becomes 2**-32.
P_MIN = 2.0 ** -32
#: Standardised truncation bounds are clamped to ±Z_MAX (±inf and overflowing bounds included).
Z_MAX = 1e30
#: A row whose nearer standardised bound lies beyond ±TAIL_Z is inverted by :func:`tail_offset`
#: (AS 241 is accurate to ~1e-16 only up to |z| ≈ 38; beyond TAIL_Z + 1 no sample reaches it).
TAIL_Z = 30.0
# M(x) = x·Φ(-x)/φ(x) = 1 - x⁻² + 3x⁻⁴ - 15x⁻⁶ + ... (asymptotic; (-1)^k (2k-1)!! / x^(2k)).
# Eight terms: the first one left out is below 1e-19 for x ≥ TAIL_Z.
_MILLS = (-1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0, 2027025.0)
#: Newton steps of :func:`tail_offset` (each squares the relative error, which starts ≤ 1/A²).
TAIL_NEWTON = 3

# Wichura (1988), Algorithm AS 241 (PPND16): Φ⁻¹ to about 1e-16 relative error. Coefficients of
# the numerator / denominator polynomials, constant term first.
_A = (3.3871328727963666080e+0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
      1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
      3.3430575583588128105e+4, 2.5090809287301226727e+3)
_B = (1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
      2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4,
      5.2264952788528545610e+3)
_C = (1.42343711074968357734e+0, 4.63033784615654529590e+0, 5.76949722146069140550e+0,
      3.64784832476320460504e+0, 1.27045825245236838258e+0, 2.41780725177450611770e-1,
      2.27238449892691845833e-2, 7.74545014278341407640e-4)
_D = (1.0, 2.05319162663775882187e+0, 1.67638483018380384940e+0, 6.89767334985100004550e-1,
      1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
      1.05075007164441684324e-9)
_E = (6.65790464350110377720e+0, 5.46378491116411436990e+0, 1.78482653991729133580e+0,
      2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
      2.71155556874348757815e-5, 2.01033439929228813265e-7)
_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
      7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
      2.04426310338993978564e-15)


def _rational(num, den, x: torch.Tensor) -> torch.Tensor:
    """num(x) / den(x) by Horner's rule (coefficients constant term first), in place.

    Each step is ``acc = acc·x + c`` with separate roundings, the order the kernel uses."""
    a = torch.full_like(x, num[-1])
    b = torch.full_like(x, den[-1])
    for c in num[-2::-1]:
        a.mul_(x).add_(c)
    for c in den[-2::-1]:
        b.mul_(x).add_(c)
    return a.div_(b)


def ndtri_log(logp: torch.Tensor, p: torch.Tensor | None = None) -> torch.Tensor:
    """Φ⁻¹(exp(logp)) for logp ≤ log(1/2), float64 (the lower half of the normal quantile).

    AS 241 in three branches, with q = p - 1/2 and s = sqrt(-log p):
    ``z = q·A(r)/B(r)``, r = 0.180625 - q², where p ≥ 0.075 (q ≥ -0.425);
    ``z = -C(s - 1.6)/D(s - 1.6)`` where s ≤ 5; ``z = -E(s - 5)/F(s - 5)`` beyond.
    Only the central branch reads ``p`` (``exp(logp)`` unless given; the kernel passes the
    product it already has); the tails read ``log p``, so a log-probability input keeps full
    relative accuracy far beyond where ``p`` underflows: ~1e-15 down to logp = -800
    (x ≈ -40), ~1e-8 at logp = -1e4. Each branch is evaluated only on its own elements.
    Upper-half quantiles come from symmetry, -Φ⁻¹(1 - p), with ``log(1 - p)`` computed without
    cancellation by the caller.
    """
    logp = torch.clamp(logp.double(), max=0.0)
    p = torch.exp(logp) if p is None else p.double().expand_as(logp)
    shape = logp.shape
    logp, p = logp.reshape(-1), p.reshape(-1)
    q = p - 0.5
    central = q >= -0.425
    if bool(central.all()):
        return (q * _rational(_A, _B, (q * q).neg_().add_(0.180625))).reshape(shape)
    out = torch.empty_like(logp)
    ic = central.nonzero().squeeze(1)
    if ic.numel():
        qc = q[ic]
        out[ic] = qc * _rational(_A, _B, (qc * qc).neg_().add_(0.180625))
    it = (~central).nonzero().squeeze(1)
    s = logp[it].neg_().sqrt_()
    near = s <= 5.0
    if bool(near.all()):
        out[it] = _rational(_C, _D, s.sub_(1.6)).neg_()
    else:
        z = torch.empty_like(s)
        z[near] = _rational(_C, _D, s[near] - 1.6).neg_()
        far = ~near
        z[far] = _rational(_E, _F, s[far] - 5.0).neg_()
        out[it] = z
    return out.reshape(shape)


def _mills_m1(x: torch.Tensor) -> torch.Tensor:
    """M(x) - 1 for x ≥ TAIL_Z, M(x) = x·Φ(-x)/φ(x) (asymptotic series in w = 1/x², Horner)."""
    w = x.reciprocal().square_()
    acc = torch.full_like(w, _MILLS[-1])
    for c in _MILLS[-2::-1]:
        acc.mul_(w).add_(c)
    return acc.mul_(w)


def tail_offset(anchor: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """δ ≥ 0 with Φ(-(A + δ)) = Φ(-A)·exp(-E): the far-tail inversion, float64, A ≥ TAIL_Z.

    Beyond a standardised bound A the normal's tail is exponentially steep, so a sample is
    A + δ with δ of order E/A: AS 241 applied to log Φ(-A) - E (whose magnitude is ~A²/2)
    would lose δ to rounding (its rational approximations also stop at |z| ≈ 38). Instead,
    with Φ(-x) = φ(x)·M(x)/x and M the Mills-ratio factor above, the equation
    log Φ(-x) - log Φ(-A) = -E at x = A + δ is, without any large term cancelling,

        h(δ) = δ·(A + δ/2) + log1p(δ/A) - [log M(A + δ) - log M(A)] - E = 0.

    Start from the root of the leading term, δ₀ = 2E / (A + sqrt(A² + 2E)) (x₀ = sqrt(A² + 2E),
    the classical tail inversion), then Newton steps δ ← δ - h(δ)/h'(δ) with the exact
    derivative h'(δ) = x/M(x) = φ(x)/Φ(-x) (the inverse Mills ratio). h is increasing and
    convex and h(δ₀) ≥ 0, so the steps approach the root from above; δ₀ is within a relative
    1/A² ≤ 1e-3 of it and TAIL_NEWTON = 3 steps reach float64 rounding. Valid for
    A in [TAIL_Z, Z_MAX] and every E ≥ 0; elementwise on broadcastable float64 tensors.
    """
    a = anchor.double()
    e = e.double()
    d = e * 2.0 / (a + torch.sqrt(a * a + 2.0 * e))
    log_ma = torch.log1p(_mills_m1(a))
    for _ in range(TAIL_NEWTON):
        x = a + d
        mx = _mills_m1(x)
        h = d * (a + 0.5 * d) + torch.log1p(d / a) - (torch.log1p(mx) - log_ma) - e
        d = d - h * (1.0 + mx) / x
    return d.clamp_(min=0.0)


def _pow2(k: torch.Tensor) -> torch.Tensor:
    """2**k in float64, exactly, for integer tensors k in [-1022, 1023] (built from the bits)."""
    return ((k.to(torch.int64) + 1023) << 52).view(torch.float64)


def weight_counts(w: torch.Tensor) -> torch.Tensor:
    """Weights as integer counts in float64, so that prefix sums are exact in any order.

    Per row, with the row maximum ≤ 2**e (``torch.frexp``) and L = ceil(log2 K):
    ``count = floor(w · 2**(53 - L - e))``. Every count is ≤ 2**(53 - L), so every partial sum
    is an integer ≤ 2**53, exactly representable: ``torch.cumsum`` gives the same table on every
    device whatever its summation order, and so every categorical draw is bit-identical.
    Scaling by a power of two is exact; only the floor changes the weights, by less than
    2**-(52 - L) of the row maximum (a weight that small becomes 0 and is never drawn; the
    uniforms themselves only resolve 2**-31).
    """
    levels = (w.shape[-1] - 1).bit_length()
    _, e = torch.frexp(w.amax(dim=-1, keepdim=True).double())
    shift = 53 - levels - e.to(torch.int64)
    half = torch.div(shift, 2, rounding_mode="floor")
    counts = w.to(torch.float64, copy=True)
    return counts.mul_(_pow2(half)).mul_(_pow2(shift - half)).floor_()


def _col(v, like: torch.Tensor) -> torch.Tensor:
    """A Python number or an (R,)/(R, 1) parameter as a float64 (R, 1) (or 0-d) tensor."""
    t = torch.as_tensor(v, dtype=torch.float64, device=like.device)
    return t.reshape(-1, 1) if t.dim() >= 1 else t


def _p(u: torch.Tensor) -> torch.Tensor:
    return torch.clamp(u.double(), min=P_MIN)


def saturate(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x`` rounded to ``dtype``, values beyond its range (±inf included) saturated at
    ±``torch.finfo(dtype).max``: samples whose exact value overflows the output dtype (a Cauchy
    tail in float16, σ = 1e38 in float32) come out as the largest finite value, never ±inf."""
    m = torch.finfo(dtype).max
    return x.clamp(-m, m).to(dtype)


def _rounded(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 samples as :mod:`fastgan.sample` returns them: saturated to float32 (float64 for
    float64 outputs), then, for float16/bfloat16, the float32 values saturated to ``dtype``."""
    return saturate(saturate(x, torch.float64 if dtype == torch.float64 else torch.float32), dtype)


# ----------------------------------------------------------------- inverse CDFs of given uniforms
def uniform_icdf(u, low=0.0, high=1.0):
    """low + (high - low) · u; u in [0, 1) so samples lie in [low, high) (up to rounding)."""
    low, high = _col(low, u), _col(high, u)
    return u.to(torch.float64, copy=True).mul_(high - low).add_(low)


def exponential_icdf(u, rate=1.0):
    """-log(1 - u) / rate (u = 0 gives 0; u ≤ 1 - 2**-24 keeps it finite)."""
    return torch.log(1.0 - u.double()).neg_().div_(_col(rate, u))


def laplace_icdf(u, loc=0.0, scale=1.0):
    """loc + scale · log(2p) for p < 1/2, loc - scale · log(2 - 2p) otherwise; p = max(u, 2**-32)."""
    p = _p(u)
    lower = p < 0.5
    z = torch.log(torch.where(lower, 2.0 * p, 2.0 - 2.0 * p))  # one log: the same values
    return torch.where(lower, z, z.neg()).mul_(_col(scale, u)).add_(_col(loc, u))


def logistic_icdf(u, loc=0.0, scale=1.0):
    """loc + scale · (log p - log(1 - p)); p = max(u, 2**-32)."""
    p = _p(u)
    return torch.log(p).sub_(torch.log(1.0 - p)).mul_(_col(scale, u)).add_(_col(loc, u))


def cauchy_icdf(u, loc=0.0, scale=1.0):
    """loc + scale · tan(π(p - 1/2)), evaluated as ∓cot(π·min(p, 1 - p)) so both tails keep
    their relative accuracy; p = max(u, 2**-32)."""
    p = _p(u)
    m = torch.minimum(p, 1.0 - p)
    m.mul_(math.pi)
    cot = torch.cos(m).div_(torch.sin(m))
    return torch.where(p < 0.5, cot.neg(), cot).mul_(_col(scale, u)).add_(_col(loc, u))


def normal_row_constants(mean, std, a, b):
    """Per-row constants of the truncated-normal inverse, all float64 of the broadcast shape.

    With α = (a - μ)/σ and β = (b - μ)/σ (standardised bounds, clamped to ±Z_MAX = ±1e30, so
    an infinite bound, or one that overflows when standardised, becomes ±1e30):
    ``log_lo = log Φ(β)``, ``r_lo = Φ(α)/Φ(β)``, ``log_hi = log Φ(-α)``, ``r_hi = Φ(-β)/Φ(-α)``,
    all from ``torch.special.log_ndtr`` so nothing underflows for far-out bounds (and no
    ``-inf - -inf`` NaN appears for a = b = ±inf or bounds beyond 1e154 σ).
    Returns (alpha, beta, log_lo, r_lo, log_hi, r_hi).
    """
    mean, std = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(std, dtype=torch.float64)
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    alpha = ((a - mean) / std).clamp(-Z_MAX, Z_MAX)
    beta = ((b - mean) / std).clamp(-Z_MAX, Z_MAX)
    lphi_a = torch.special.log_ndtr(alpha)
    lphi_b = torch.special.log_ndtr(beta)
    lphi_na = torch.special.log_ndtr(-alpha)
    lphi_nb = torch.special.log_ndtr(-beta)
    r_lo = torch.exp(lphi_a - lphi_b)
    r_hi = torch.exp(lphi_nb - lphi_na)
    return alpha, beta, lphi_b, r_lo, lphi_na, r_hi


def truncated_normal_icdf(u, mean=0.0, std=1.0, a=-math.inf, b=math.inf):
    """Inverse CDF of N(mean, std²) truncated to [a, b], accurate in both tails.

    Standardised bounds α, β (:func:`normal_row_constants`); p = max(u, 2**-32). The lower form
    ``P = Φ(α) + p(Φ(β) - Φ(α)) = Φ(β)·t_lo``, t_lo = r_lo + p(1 - r_lo), and the upper form
    ``Q = 1 - P = Φ(-α)·t_hi``, t_hi = r_hi + (1 - p)(1 - r_hi), are both available without
    cancellation; the smaller one (P ≤ Q: the lower form) goes to :func:`ndtri_log` as
    (log Φ(·) + log t, Φ(·)·t), so AS 241 only ever sees probabilities ≤ ~1/2 and no 1 - P
    cancellation happens (the erfinv tail failure of pytorch#145498); z = Φ⁻¹(P) or -Φ⁻¹(Q).
    z is clamped to [α, β], x = μ + σ z is clamped to [a, b]: a = b (finite) gives x = a.
    Rows whose nearer bound lies beyond TAIL_Z (α ≥ 30 or β ≤ -30) take x = a + σδ
    (b - σδ below the mean) with δ = :func:`tail_offset` (α, -log t_hi) (resp. (-β, -log t_lo)):
    there z itself would need a relative accuracy finer than 1/α², which AS 241 lacks.
    With a = -inf, b = inf this is the plain normal quantile. The kernel evaluates exactly these
    steps (its results agree to a few float64 ulp: transcendental functions differ).
    """
    mean, std, a, b = (_col(v, u) for v in (mean, std, a, b))
    alpha, beta, log_lo, r_lo, log_hi, r_hi = normal_row_constants(mean, std, a, b)
    p = _p(u)
    if not bool(((r_lo != 0) | (r_hi != 0) | (log_lo != 0) | (log_hi != 0)).any()):
        # Untruncated rows (Φ(α) = Φ(-β) = 0, Φ(β) = Φ(-α) = 1): the steps below with those
        # constants, skipping the operations that are exact no-ops (same values, fewer passes).
        lower = p <= 1.0 - p
        t = torch.minimum(p, 1.0 - p)
        z = ndtri_log(torch.log(t), t)
        return torch.where(lower, z, z.neg()).mul_(std).add_(mean)
    t_lo = (p * (1.0 - r_lo)).add_(r_lo)
    t_hi = (1.0 - p).mul_(1.0 - r_hi).add_(r_hi)
    phi_lo, phi_hi = torch.exp(log_lo), torch.exp(log_hi)
    lower = (t_lo * phi_lo) <= (t_hi * phi_hi)
    t = torch.where(lower, t_lo, t_hi)
    del t_lo, t_hi
    log_t = torch.log(t)
    z = ndtri_log(torch.where(lower, log_lo, log_hi) + log_t, t.mul_(torch.where(lower, phi_lo, phi_hi)))
    z = torch.where(lower, z, z.neg())
    z = torch.clamp(z, alpha, beta)
    x = z.mul_(std).add_(mean)
    far_hi, far_lo = alpha >= TAIL_Z, beta <= -TAIL_Z
    if bool((far_hi | far_lo).any()):
        # Far tails: all the mass sits within ~E/A of the nearer bound A (α above the mean, -β
        # below it; that tail is the smaller one, so ``lower`` picked it and log_t = log t of
        # it). The sample is the bound moved inwards by σ·δ, formed from the bound itself.
        far = far_hi | far_lo
        delta = tail_offset(torch.where(far_hi, alpha, torch.where(far_lo, -beta, TAIL_Z)),
                            torch.where(far, -log_t, 0.0))
        x_far = torch.where(far_hi, a + std * delta, b - std * delta)
        x = torch.where(far, x_far, x)
    return torch.clamp(x, a, b)


def normal_icdf(u, mean=0.0, std=1.0):
    """mean + std · Φ⁻¹(p), p = max(u, 2**-32): :func:`truncated_normal_icdf` with infinite bounds."""
    return truncated_normal_icdf(u, mean, std, -math.inf, math.inf)


def _search(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """First k with c[k] > u · c[K-1], per row (float64 compare)."""
    t = u.double() * c[:, -1:]
    return torch.searchsorted(c, t, right=True)


def categorical_search(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """First k with c[k] > u · c[K-1] per row of the cumulative table c, int64 (R, n); -1 for a
    row whose total c[K-1] is 0 (it has no bin to draw; only ``validate=False`` lets one in)."""
    return _search(u, c).masked_fill_(c[:, -1:] <= 0, -1)


def categorical_icdf(u, weights):
    """Index of the first k with c[k] > u · c[K-1], c = cumsum(weight_counts(w)): int64 (R, n)
    (-1 in rows of weight 0, :func:`categorical_search`)."""
    return categorical_search(u, torch.cumsum(weight_counts(weights), dim=-1))


def tabulated_icdf(u, cdf, support=None):
    """Piecewise-linear inverse of the CDF tabulated at ``support`` points, float64 (R, n).

    With c = cdf (R, K) and x = support ((K,) or (R, K); default 0..K-1) and t = u · c[K-1]:
    k = first index with c[k] > t; x[0] when k = 0 (an atom of mass c[0] at x[0]), otherwise
    ``x[k-1] + (t - c[k-1]) / (c[k] - c[k-1]) · (x[k] - x[k-1])`` (c[k] > t ≥ c[k-1]).
    """
    c = cdf.double()
    r, k = c.shape
    x = torch.arange(k, dtype=torch.float64, device=c.device) if support is None else support.double()
    x = x.expand(r, k)
    i = _search(u, c)
    t = u.double() * c[:, -1:]
    im1 = (i - 1).clamp(min=0)
    c1, c0 = c.gather(1, i), c.gather(1, im1)
    x1, x0 = x.gather(1, i), x.gather(1, im1)
    inner = x0 + (t - c0) / (c1 - c0) * (x1 - x0)
    return torch.where(i == 0, x0, inner)


# ------------------------------------------------------- whole samplers (fastgan.sample signatures)
def _uniforms(rows: int, n: int, generator, device):
    from ..random import rand

    return rand(rows, n, generator=generator, device=device)


def _rows(size, *params):
    """(R, n) from size: R = size[0] when a parameter is per-row, else 1."""
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)) else tuple(size)
    numel = math.prod(size)
    per_row = any(isinstance(p, torch.Tensor) and p.numel() > 1 for p in params)
    rows = size[0] if per_row else 1
    return size, rows, (numel // rows if rows else 0)


def _flat(p):
    return p.reshape(-1, 1) if isinstance(p, torch.Tensor) and p.numel() > 1 else p


def _parametric(icdf, size, params, generator, device, dtype):
    """u = fastgan.rand(R, n) (R = size[0] with per-row tensor parameters, else 1), then icdf.

    Rounded to ``dtype`` with saturation (:func:`saturate`), as in :mod:`fastgan.sample`.
    """
    size, rows, n = _rows(size, *params)
    if device is None:
        tensors = [p for p in params if isinstance(p, torch.Tensor)]
        device = tensors[0].device if tensors else None
    u = _uniforms(rows, n, generator, device)
    x = icdf(u, *[_flat(p) for p in params])
    return _rounded(x, dtype).reshape(size)


def uniform(*size, low=0.0, high=1.0, generator=None, device=None, dtype=torch.float32):
    """Reference of :func:`fastgan.sample.uniform` (and likewise each function below): the same
    signature (no checks), ``fastgan.rand`` uniforms through the ``*_icdf`` above."""
    return _parametric(uniform_icdf, size, (low, high), generator, device, dtype)


def exponential(*size, rate=1.0, generator=None, device=None, dtype=torch.float32):
    return _parametric(exponential_icdf, size, (rate,), generator, device, dtype)


def laplace(*size, loc=0.0, scale=1.0, generator=None, device=None, dtype=torch.float32):
    return _parametric(laplace_icdf, size, (loc, scale), generator, device, dtype)


def logistic(*size, loc=0.0, scale=1.0, generator=None, device=None, dtype=torch.float32):
    return _parametric(logistic_icdf, size, (loc, scale), generator, device, dtype)


def cauchy(*size, loc=0.0, scale=1.0, generator=None, device=None, dtype=torch.float32):
    return _parametric(cauchy_icdf, size, (loc, scale), generator, device, dtype)


def truncated_normal(*size, a, b, mean=0.0, std=1.0, generator=None, device=None, dtype=torch.float32):
    return _parametric(truncated_normal_icdf, size, (mean, std, a, b), generator, device, dtype)


def normal(*size, mean=0.0, std=1.0, truncation=None, generator=None, device=None, dtype=torch.float32):
    """Truncation τ means bounds mean ∓ τ·std, computed in float64."""
    if truncation is None:
        return _parametric(normal_icdf, size, (mean, std), generator, device, dtype)
    f64 = (lambda v: v.double() if isinstance(v, torch.Tensor) else v)
    mean, std, truncation = f64(mean), f64(std), f64(truncation)
    a = mean - truncation * std
    b = mean + truncation * std
    return _parametric(truncated_normal_icdf, size, (mean, std, a, b), generator, device, dtype)


def latent(batch, dim, *, distribution="normal", truncation=None, generator=None, device=None,
           dtype=torch.float32):
    if distribution == "uniform":
        return uniform(batch, dim, low=-1.0, high=1.0, generator=generator, device=device, dtype=dtype)
    return normal(batch, dim, truncation=truncation, generator=generator, device=device, dtype=dtype)


def categorical(weights, n, *, generator=None):
    """Reference of :func:`fastgan.sample.categorical` for dense (K,) / (R, K) weights."""
    w = weights if weights.dim() == 2 else weights.reshape(1, -1)
    out = categorical_icdf(_uniforms(w.shape[0], n, generator, w.device), w)
    return out if weights.dim() == 2 else out.reshape(n)


def inverse_cdf(cdf, n, *, support=None, generator=None, dtype=None):
    """Reference of :func:`fastgan.sample.inverse_cdf` for dense (K,) / (R, K) tables."""
    c = cdf if cdf.dim() == 2 else cdf.reshape(1, -1)
    if dtype is None:
        dtype = torch.float64 if torch.float64 in (cdf.dtype, getattr(support, "dtype", None)) else torch.float32
    out = _rounded(tabulated_icdf(_uniforms(c.shape[0], n, generator, c.device), c, support), dtype)
    return out if cdf.dim() == 2 else out.reshape(n)

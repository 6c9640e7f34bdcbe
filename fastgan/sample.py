"""Batched inverse-CDF sampling on the Philox stream: ``fastgan.sample``.

The inverse transform method (U ~ Uniform(0, 1) ⇒ F⁻¹(U) ~ F) as fused ops: one launch draws
the uniforms in-kernel from the generator's Philox stream and maps them through F⁻¹, for many
rows (each with its own parameters or table) at once.

Stream and reproducibility. A call producing R rows of n samples reserves R·n values
(``ceil(R·n / 4)`` counters, as ``fastgan.rand(R, n)`` does); sample (r, i) uses uniform
j = r·n + i of that draw. Hence, for the same generator state,
``fastgan.rand(R, n)`` followed by the F⁻¹ of ``fastgan.reference.sample`` gives the same samples:
bit-identical integer outputs (categorical) on the CPU path, the Triton interpreter and the GPU
(the tables are exact float64 integers, so no summation order matters), and float outputs within
a few ulp (transcendental functions differ slightly between libraries). The CPU path *is*
"uniforms + reference F⁻¹"; the kernels evaluate the same formulas in float64.

Uniform edge cases. ``u`` (Triton's uint32 -> float32 map) lies in [0, 1 - 2**-24]: it can be 0,
never 1. Families whose F⁻¹(0) is -inf (normal, truncated normal, laplace, logistic, cauchy) use
``p = max(u, 2**-32)``; uniform and exponential use ``u`` as is, and tabulated rows use
``t = u · c[K-1] < c[K-1]``, so a bin always exists.

Never inf or NaN. Every F⁻¹ is finite at every u (u = 0 and the largest u included) for every
accepted parameter. A sample whose exact value lies beyond the output dtype's range (a Cauchy
tail in float16, std = 1e38 in float32, rate = 1e-310) saturates at ±``torch.finfo(dtype).max``
instead of rounding to ±inf, on every path (the reference too: ``reference.sample.saturate``).
Truncated normal: a = b (finite) gives the point a; standardised bounds beyond ±1e30 (a = 1e200,
or σ = 1e-300) are clamped there, so the samples sit at the bound instead of turning NaN;
samples always lie in [a, b]. Inputs that would need inf in the formula itself are rejected:
uniform needs a finite ``high - low``, ``inverse_cdf`` finite support steps.

Per-row parameters. Parametric samplers take the output ``*size`` like ``torch.rand``; each
parameter is a Python number, a one-element tensor, or a per-row tensor of shape (R,) or (R, 1)
(any (R, 1, ..., 1) of at most ``len(size)`` dims), where R = size[0] is the number of rows:
row r of the output uses element r. Note that (R,) means *per row* here, not torch's trailing-dim
broadcasting. Parameters are used in float64.

``validate=True`` checks tensor arguments (one device synchronisation per call); pass
``validate=False`` in hot loops whose inputs are known good.
"""
from __future__ import annotations

import functools
import math
import numbers

import torch

from . import random as _random
from ._checks import reject_meta
from .ops import sample as _ops
from .reference import sample as _ref

__all__ = ["inverse_cdf", "categorical", "normal", "truncated_normal", "exponential", "laplace",
           "logistic", "cauchy", "uniform", "latent"]

_OUT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------------- helpers
def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int (samples per row), got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return int(n)


def _check_dtype(dtype) -> None:
    if dtype not in _OUT_DTYPES:
        raise TypeError(f"dtype must be one of {_OUT_DTYPES}, got {dtype}")


def _raise_first(checks) -> None:
    """checks: [(bad: 0-d bool tensor, exception)]; one device sync for all of them."""
    if not checks:
        return
    bad = torch.stack([c.reshape(()) for c, _ in checks]).cpu()
    for flag, (_, exc) in zip(bad.tolist(), checks):
        if flag:
            raise exc


def _kernel_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _to_dtype(out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float32 kernel samples to float16/bfloat16, saturating (a Cauchy tail never becomes inf)."""
    return out if out.dtype == dtype else _ref.saturate(out, dtype)


# ------------------------------------------------------------------------------ tabulated rows
def _rows_of(x, name: str, allow_int: bool):
    """A (K,), (R, K) tensor or a list of 1-D tensors -> (list-or-tensor, was_1d)."""
    def check(t, what):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
        reject_meta(t, what)
        if t.dtype == torch.bool or t.is_complex() or (not allow_int and not t.is_floating_point()):
            kind = "a real" if allow_int else "a floating-point"
            raise TypeError(f"{what} must be {kind} tensor, got dtype {t.dtype}")

    if isinstance(x, (list, tuple)):
        if len(x) == 0:
            raise ValueError(f"{name} is an empty list; give at least one row")
        for i, t in enumerate(x):
            check(t, f"{name}[{i}]")
            if t.dim() != 1 or t.numel() == 0:
                raise ValueError(f"{name}[{i}] must be a non-empty 1-D tensor, got shape {tuple(t.shape)}")
            if t.device != x[0].device:
                raise ValueError(f"{name}[{i}] is on {t.device} but {name}[0] is on {x[0].device}")
        return list(x), False
    check(x, name)
    if x.dim() not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{name} must have shape (K,) or (R, K) with K ≥ 1, got {tuple(x.shape)}")
    return (x.reshape(1, -1) if x.dim() == 1 else x), x.dim() == 1


class _Layout:
    """Rows laid end to end: flat values, row starts and lengths (int64 (R,) tensors).

    Dense (R, K) rows are a view (start = r·K); a list of 1-D rows is concatenated (ragged rows
    cost no padding)."""

    def __init__(self, rows):
        self.dense = isinstance(rows, torch.Tensor)
        if self.dense:
            r, k = rows.shape
            dev = rows.device
            self.flat = rows.contiguous().reshape(-1)
            self.lengths = [k] * r
            self.start = torch.arange(r, device=dev, dtype=torch.int64) * k
        else:
            dev = rows[0].device
            self.lengths = [t.numel() for t in rows]
            dtype = rows[0].dtype
            for t in rows[1:]:
                dtype = torch.promote_types(dtype, t.dtype)
            self.flat = torch.cat([t.to(dtype) for t in rows])
            starts = [0]
            for k in self.lengths[:-1]:
                starts.append(starts[-1] + k)
            self.start = torch.tensor(starts, device=dev, dtype=torch.int64)
        self.len = torch.tensor(self.lengths, device=dev, dtype=torch.int64)
        self.rows = len(self.lengths)
        self.kmax = max(self.lengths) if self.lengths else 0

    def last(self, values):
        return values[self.start + self.len - 1]

    def _pairs(self, values):
        """(previous, next) entries of every within-row neighbour pair, as views when dense."""
        if self.dense:
            v = values.reshape(self.rows, -1)
            return v[:, :-1], v[:, 1:]
        keep = torch.ones(values.numel() - 1, dtype=torch.bool, device=values.device)
        keep[self.start[1:] - 1] = False  # the pair (last of row r, first of row r + 1)
        return values[:-1][keep], values[1:][keep]

    def steps(self, values) -> torch.Tensor:
        """values[k] - values[k-1] within each row, in values' dtype."""
        prev, nxt = self._pairs(values)
        return nxt - prev

    def decreasing(self, values) -> torch.Tensor:
        """True if some entry is below its predecessor in the same row (one comparison pass:
        the order of two floats is exact in their own dtype)."""
        prev, nxt = self._pairs(values)
        return (nxt < prev).any()


def _table_dtype(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float64)


def _draw_tabulated(layout, table, support, sup_start, mode, n, generator, dtype):
    _ops.check_total(layout.rows, n)
    seeds = _ops.seed_args(generator, layout.rows * n)
    return torch.ops.fastgan.sample_tabulated(
        table, support, layout.start, layout.len, sup_start, int(mode), n, _ops.steps_for(layout.kmax),
        *seeds, dtype)


def inverse_cdf(cdf, n: int, *, support=None, generator: _random.Generator | None = None,
                dtype: torch.dtype | None = None, validate: bool = True) -> torch.Tensor:
    """Samples from CDFs tabulated at support points, by piecewise-linear inversion.

    Row r is the distribution whose CDF passes through (x[r, k], c[r, k]) and is linear in
    between, with an atom of mass c[r, 0] at x[r, 0]. With u the uniforms of this draw and
    t = u · c[r, K-1] (c ends at 1 up to rounding), k = the first index with c[r, k] > t
    (binary search) and::

        sample = x[k-1] + (t - c[k-1]) / (c[k] - c[k-1]) · (x[k] - x[k-1])   (x[0] when k = 0)

    Args:
        cdf: (R, K) or (K,) non-decreasing rows in [0, 1] ending at 1 (within 1e-6 + K·eps of
            the dtype); or a list of R 1-D rows of different lengths (ragged rows are stored end
            to end with per-row offsets, not padded).
        n: samples per row.
        support: the points x: None (0, 1, ..., K-1), (K,) shared by all rows, (R, K), or a list
            of 1-D rows matching a ragged ``cdf``. Non-decreasing.
        dtype: float32 (default), float64 (default when cdf or support is float64), float16,
            bfloat16 (the float32 samples rounded).
        validate: check the tables (one device sync).

    Returns:
        (R, n) samples, or (n,) for a 1-D ``cdf``; on ``cdf``'s device.

    Example::

        cdf = torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.9, 1.0]])
        x = fastgan.sample.inverse_cdf(cdf, 1000, support=torch.tensor([-1.0, 0.0, 1.0]))
    """
    n = _check_n(n)
    rows, one_d = _rows_of(cdf, "cdf", allow_int=False)
    layout = _Layout(rows)
    table = _table_dtype(layout.flat)
    dev = table.device
    ragged = isinstance(rows, list)
    if support is None:
        sup = torch.arange(layout.kmax, device=dev, dtype=torch.float64)
        sup_start = torch.zeros(layout.rows, device=dev, dtype=torch.int64)
        sup_dtype = None
    elif ragged:
        if not isinstance(support, (list, tuple)) or len(support) != layout.rows:
            raise ValueError("support must be a list of 1-D rows matching the ragged cdf "
                             f"({layout.rows} rows of lengths {layout.lengths}), or None")
        srows, _ = _rows_of(support, "support", allow_int=True)
        lens = [t.numel() for t in srows]
        if lens != layout.lengths or srows[0].device != dev:
            raise ValueError(f"support row lengths {lens} must match cdf row lengths {layout.lengths} "
                             "(and be on the same device)")
        slay = _Layout(srows)
        sup, sup_start, sup_dtype = _table_dtype(slay.flat), slay.start, slay.flat.dtype
    else:
        if not isinstance(support, torch.Tensor):
            raise TypeError(f"support must be a torch.Tensor or None, got {type(support).__name__}")
        reject_meta(support, "support")
        if support.dtype == torch.bool or support.is_complex():
            raise TypeError(f"support must be a real tensor, got dtype {support.dtype}")
        r, k = rows.shape
        if support.device != dev:
            raise ValueError(f"support is on {support.device} but cdf is on {dev}")
        if support.shape == (k,):
            sup_start = torch.zeros(r, device=dev, dtype=torch.int64)
        elif support.shape == (r, k):
            sup_start = torch.arange(r, device=dev, dtype=torch.int64) * k
        else:
            raise ValueError(f"support must have shape ({k},) or ({r}, {k}) to match cdf "
                             f"{tuple(cdf.shape)}, got {tuple(support.shape)}")
        sup = _table_dtype(support.contiguous().reshape(-1))
        sup_dtype = support.dtype
    if dtype is None:
        dtype = torch.float64 if torch.float64 in (layout.flat.dtype, sup_dtype) else torch.float32
    _check_dtype(dtype)
    if validate and layout.rows:  # (0, K) tables: nothing to check (aminmax needs an element)
        eps = torch.finfo(table.dtype).eps
        tol = 1e-6 + layout.kmax * eps
        # few passes over the tables: aminmax (NaN and ±inf reach lo or hi), one comparison
        # of neighbours, and R last entries; all flags are read with one sync
        last = layout.last(table)
        lo, hi = torch.aminmax(table)
        checks = [
            (~(torch.isfinite(lo) & torch.isfinite(hi)), ValueError("cdf must be finite")),
            ((lo < 0) | (hi > 1 + tol), ValueError("cdf values must lie in [0, 1]")),
            (layout.decreasing(table), ValueError("cdf must be non-decreasing along each row")),
            (((last - 1).abs() > tol).any(),
             ValueError(f"each cdf row must end at 1 (within {tol:.1e}); normalise the rows")),
        ]
        if support is not None:
            sup_rows = slay if ragged else _Layout(sup.reshape(-1, rows.shape[-1]))
            s_lo, s_hi = torch.aminmax(sup)
            checks += [(~(torch.isfinite(s_lo) & torch.isfinite(s_hi)),
                        ValueError("support must be finite")),
                       (sup_rows.decreasing(sup), ValueError("support must be non-decreasing along each row"))]
            if sup.dtype == torch.float64:  # finite float32 values have finite float64 steps
                checks.append((~torch.isfinite(sup_rows.steps(sup)).all(),
                               ValueError("support steps x[k] - x[k-1] must be finite (below the "
                                          "float64 maximum)")))
        _raise_first(checks)
    out = _draw_tabulated(layout, table, sup, sup_start, _ops.MODE_INVERSE_CDF, n,
                          _random._resolve(generator, dev)[0], _kernel_dtype(dtype))
    out = _to_dtype(out, dtype)
    return out.reshape(n) if one_d else out


def categorical(weights, n: int, *, generator: _random.Generator | None = None,
                validate: bool = True) -> torch.Tensor:
    """Category indices drawn with probabilities proportional to each row of ``weights``.

    Row r's table is c = cumsum of w[r] as integer counts,
    ``floor(w · 2**(53 - ceil(log2 K) - e))`` with 2**e ≥ max(w[r]) (exact in float64, so the
    table and every index are bit-identical on all devices); index = the first k with
    c[k] > u · c[K-1] (binary search). Zero-weight bins are never drawn (nor are weights below
    ~2**-(52 - log2 K) of the row maximum); a one-hot row always gives its index. A row without
    any positive weight has no category to draw: ``validate=True`` rejects it, and with
    ``validate=False`` its samples are -1 on every path (never an index of the row, so it
    cannot pass for a draw; note that -1 still indexes the last element in Python).

    Args:
        weights: (R, K) or (K,) non-negative finite weights (any real dtype; rows need not sum to
            1 but must have a positive sum), or a list of R 1-D rows of different lengths.
        n: samples per row.
        validate: check the weights (one device sync).

    Returns:
        int64 (R, n) indices in [0, K_r) (-1 for an all-zero row under ``validate=False``), or
        (n,) for 1-D ``weights``; on ``weights``' device.

    Example::

        idx = fastgan.sample.categorical(torch.tensor([[1.0, 0.0, 3.0]]), 8)   # values 0 or 2
    """
    n = _check_n(n)
    rows, one_d = _rows_of(weights, "weights", allow_int=True)
    layout = _Layout(rows)
    w = layout.flat
    table = _ops.table_for(rows)
    if validate and w.numel():
        lo, hi = torch.aminmax(w)  # one pass; NaN propagates into both
        total = layout.last(table)
        _raise_first([(~(torch.isfinite(lo) & torch.isfinite(hi)), ValueError("weights must be finite")),
                      (lo < 0, ValueError("weights must be non-negative")),
                      ((total <= 0).any(),
                       ValueError("each row of weights must have a positive sum (all-zero row)"))])
    out = _draw_tabulated(layout, table, table, layout.start, _ops.MODE_CATEGORICAL, n,
                          _random._resolve(generator, w.device)[0], torch.int64)
    return out.reshape(n) if one_d else out


# ------------------------------------------------------------------------------ parametric rows
def _parametric(family: str, size, params: dict, generator, device, dtype, validate, truncation=None):
    _check_dtype(dtype)
    shape = _random._parse_size(size)
    numel = math.prod(shape)
    all_params = dict(params) if truncation is None else {**params, "truncation": truncation}
    tensors = {k: v for k, v in all_params.items() if isinstance(v, torch.Tensor)}
    for k, v in all_params.items():
        if isinstance(v, torch.Tensor):
            if v.dtype == torch.bool or v.is_complex():
                raise TypeError(f"{k} must be a real tensor, got dtype {v.dtype}")
            reject_meta(v, k)
        elif isinstance(v, bool) or not isinstance(v, numbers.Real):  # numpy scalars are Real
            raise TypeError(f"{k} must be a number or a tensor, got {type(v).__name__}")
    if device is None and tensors:
        device = next(iter(tensors.values())).device
    generator, device = _random._resolve(generator, device)
    for k, v in tensors.items():
        if _random._normalize_device(v.device) != device:
            raise ValueError(f"{k} is on {v.device} but the samples go to {device}")
    per_row = {k: v for k, v in tensors.items() if v.numel() != 1}
    rows = 1
    if per_row:
        if not shape:
            raise ValueError(f"per-row parameters ({', '.join(per_row)}) need a size with rows, got size ()")
        rows = shape[0]
        for k, v in per_row.items():
            if v.dim() > len(shape) or v.shape[0] != rows or any(d != 1 for d in v.shape[1:]):
                raise ValueError(f"{k} has shape {tuple(v.shape)}; expected a scalar or a per-row tensor "
                                 f"of shape ({rows},) or ({rows}, 1) for size {shape} (rows = size[0])")
    n = numel // rows if rows else 0
    if not tensors:  # all numbers: checked in Python, one cached (1, W) row per device
        _check_params(family, all_params, None, validate)
        if numel == 0:
            return torch.empty(shape, dtype=dtype, device=device)
        _ops.check_total(rows, n)
        table = _scalar_rows(family, tuple(float(v) for v in all_params.values()),
                             truncation is not None, str(device))
    else:
        cols = {k: (v.detach().to(torch.float64).reshape(-1).expand(rows) if isinstance(v, torch.Tensor)
                    else torch.full((rows,), float(v), dtype=torch.float64, device=device))
                for k, v in all_params.items()}
        _check_params(family, all_params, cols, validate)
        if numel == 0:
            return torch.empty(shape, dtype=dtype, device=device)
        _ops.check_total(rows, n)
        table = _family_rows(family, cols, truncation is not None)
    code = int(_ops.FAMILIES[family][0])  # the op's schema takes a plain int
    seeds = _ops.seed_args(generator, rows * n)
    out = torch.ops.fastgan.sample_parametric(table, code, n, *seeds, _kernel_dtype(dtype))
    return _to_dtype(out, dtype).reshape(shape)


def _family_rows(family: str, cols: dict, truncated: bool) -> torch.Tensor:
    if truncated:  # the truncation trick: bounds mean ∓ τ·std, in float64
        tau = cols.pop("truncation")
        cols["a"] = cols["mean"] - tau * cols["std"]
        cols["b"] = cols["mean"] + tau * cols["std"]
    return _ops.parametric_rows(family, [cols[k] for k in _ops.FAMILIES[family][1]])


@functools.lru_cache(maxsize=64)
def _scalar_rows(family: str, values: tuple, truncated: bool, device: str) -> torch.Tensor:
    # Scalar parameters: the row is built on the host (same float64 math as tensor parameters)
    # and copied to the device once; latents drawn every training step reuse it.
    names = list(_ops.FAMILIES[family][1]) if not truncated else ["mean", "std", "truncation"]
    cols = {k: torch.tensor([v], dtype=torch.float64) for k, v in zip(names, values)}
    return _family_rows(family, cols, truncated).to(device)


# (parameter, test on float64 values that must hold, message)
_RULES = {
    "low": (torch.isfinite, "must be finite"),
    "high": (torch.isfinite, "must be finite"),
    "loc": (torch.isfinite, "must be finite"),
    "mean": (torch.isfinite, "must be finite"),
    "scale": (lambda v: torch.isfinite(v) & (v > 0), "must be finite and > 0"),
    "std": (lambda v: torch.isfinite(v) & (v > 0), "must be finite and > 0"),
    "rate": (lambda v: torch.isfinite(v) & (v > 0), "must be finite and > 0"),
    "truncation": (lambda v: v > 0, "must be > 0 (inf for no truncation)"),
    "a": (lambda v: ~torch.isnan(v), "must not be NaN"),
    "b": (lambda v: ~torch.isnan(v), "must not be NaN"),
}


def _check_params(family, raw, cols, validate) -> None:
    checks = []
    for k, v in raw.items():
        ok, msg = _RULES[k]
        exc = ValueError(f"{k} {msg}, got {v if not isinstance(v, torch.Tensor) else 'a tensor with bad values'}")
        if isinstance(v, torch.Tensor):
            if validate:
                checks.append((~ok(cols[k]).all(), exc))
        elif not bool(ok(torch.tensor(float(v), dtype=torch.float64))):
            raise exc
    # uniform: low < high with a finite width; truncated normal: a ≤ b (a = b finite: the point a)
    pairs = {"uniform": ("low", "high", "<", lambda lo, hi: (lo < hi) & torch.isfinite(hi - lo)),
             "normal": ("a", "b", "≤", lambda lo, hi: (lo <= hi) & (lo < math.inf) & (hi > -math.inf))}.get(family)
    if pairs and pairs[0] in raw:
        lo, hi, rel, ok = pairs
        what = (f"{lo} must be {rel} {hi}" + (f" and {hi} - {lo} finite" if family == "uniform" else
                                               f" (a = b = ±inf is empty)"))
        if isinstance(raw[lo], torch.Tensor) or isinstance(raw[hi], torch.Tensor):
            if validate:
                checks.append((~ok(cols[lo], cols[hi]).all(), ValueError(f"{what} in every row")))
        elif not bool(ok(torch.tensor(float(raw[lo]), dtype=torch.float64),
                         torch.tensor(float(raw[hi]), dtype=torch.float64))):
            raise ValueError(f"{what}, got {lo}={raw[lo]} and {hi}={raw[hi]}")
    _raise_first(checks)


def normal(*size, mean=0.0, std=1.0, truncation=None, generator: _random.Generator | None = None,
           device=None, dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Normal samples by the inverse CDF: x = mean + std · Φ⁻¹(p), p = max(u, 2**-32).

    Φ⁻¹ is Wichura's AS 241 in float64 (about 1e-16 relative), one uniform per sample (unlike
    ``fastgan.randn``'s Box-Muller), so each sample is a monotone function of its uniform.
    ``truncation=τ`` draws from the normal truncated to [mean - τ·std, mean + τ·std] (the
    "truncation trick"), exactly (no resampling); see :func:`truncated_normal`.

    Args:
        *size: output shape; size[0] is the row count for per-row parameters.
        mean, std, truncation: numbers or per-row tensors (see the module docstring); std > 0,
            truncation > 0 (inf = none).
        dtype: float32 (default), float64, float16 or bfloat16.

    Example::

        z = fastgan.sample.normal(64, 128, truncation=0.7, generator=fastgan.Generator(1))
    """
    params = {"mean": mean, "std": std}
    if truncation is None:
        params.update(a=-math.inf, b=math.inf)
    return _parametric("normal", size, params, generator, device, dtype, validate, truncation=truncation)


def truncated_normal(*size, a, b, mean=0.0, std=1.0, generator: _random.Generator | None = None,
                     device=None, dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """N(mean, std²) truncated to [a, b] (absolute bounds, like ``torch.nn.init.trunc_normal_``).

    Exact inverse CDF, no resampling loop. With α = (a - μ)/σ, β = (b - μ)/σ:
    P = Φ(α) + p(Φ(β) - Φ(α)) and z = Φ⁻¹(P), computed as ``log P = log Φ(β) + log(r + p(1 - r))``
    (r = Φ(α)/Φ(β), from ``log_ndtr``) or, when P > 1/2, from the complementary
    Q = 1 - P = Φ(-α)·(r' + (1 - p)(1 - r')), so both tails are accurate (no erfinv of
    1 - tiny as in pytorch#145498). Far tails: when the nearer bound lies beyond 30σ (α ≥ 30 or
    β ≤ -30) all the mass sits within ~E/α of it and the sample is the bound moved inwards,
    x = a + σδ (or b - σδ), where δ solves Φ(-(α + δ)) = Φ(-α)·e^(-E), E = -log(r' + (1 - p)(1 - r')),
    in the cancellation-free form
    ``δ(α + δ/2) + log1p(δ/α) - log(M(α + δ)/M(α)) = E`` (M(x) = xΦ(-x)/φ(x), the Mills-ratio
    factor, by its asymptotic series) by Newton's method from δ₀ = 2E/(α + sqrt(α² + 2E))
    (:func:`fastgan.reference.sample.tail_offset`). So the distribution is right at every
    bound the API accepts ([8, 9], [999, 1000], [1e5, 1e5 + 1], [1000, inf], ...), in float32
    and float64, to the float64 resolution of the bound itself. Samples are clamped into [a, b]
    (in float64; the rounded output lies in [dtype(a), dtype(b)], bounds beyond the dtype's
    range saturated at ±finfo.max), never inf or NaN. a = b (finite) is allowed: every sample is
    a. Standardised bounds beyond ±1e30 are clamped there (δ ≈ E/1e30: the samples sit at the
    bound, as the exact law rounded to float64 does).

    Args:
        *size: output shape; a, b, mean, std: numbers or per-row tensors; a ≤ b (±inf allowed,
            not a = b = ±inf).

    Example::

        x = fastgan.sample.truncated_normal(10_000, a=3.0, b=8.0)   # all in [3, 8]
    """
    return _parametric("normal", size, {"mean": mean, "std": std, "a": a, "b": b}, generator, device,
                       dtype, validate)


def exponential(*size, rate=1.0, generator: _random.Generator | None = None, device=None,
                dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Exponential(rate) samples: x = -log(1 - u) / rate (≥ 0, at most ~16.6 / rate).

    Example: ``fastgan.sample.exponential(4, 100, rate=torch.tensor([1.0, 2.0, 3.0, 4.0]))``
    """
    return _parametric("exponential", size, {"rate": rate}, generator, device, dtype, validate)


def laplace(*size, loc=0.0, scale=1.0, generator: _random.Generator | None = None, device=None,
            dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Laplace(loc, scale): x = loc + scale·log(2p) for p < 1/2, loc - scale·log(2 - 2p) otherwise.

    Example: ``fastgan.sample.laplace(1000, loc=1.0, scale=0.5)``
    """
    return _parametric("laplace", size, {"loc": loc, "scale": scale}, generator, device, dtype, validate)


def logistic(*size, loc=0.0, scale=1.0, generator: _random.Generator | None = None, device=None,
             dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Logistic(loc, scale): x = loc + scale·(log p - log(1 - p)).

    Example: ``fastgan.sample.logistic(1000, scale=2.0)``
    """
    return _parametric("logistic", size, {"loc": loc, "scale": scale}, generator, device, dtype, validate)


def cauchy(*size, loc=0.0, scale=1.0, generator: _random.Generator | None = None, device=None,
           dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Cauchy(loc, scale): x = loc + scale·tan(π(p - 1/2)), evaluated as ∓cot(π·min(p, 1 - p)).

    Example: ``fastgan.sample.cauchy(1000)``
    """
    return _parametric("cauchy", size, {"loc": loc, "scale": scale}, generator, device, dtype, validate)


def uniform(*size, low=0.0, high=1.0, generator: _random.Generator | None = None, device=None,
            dtype: torch.dtype = torch.float32, validate: bool = True) -> torch.Tensor:
    """Uniform(low, high): x = low + (high - low)·u, in [low, high) up to the final rounding.

    Example: ``fastgan.sample.uniform(8, 2, low=-1.0, high=1.0)``
    """
    return _parametric("uniform", size, {"low": low, "high": high}, generator, device, dtype, validate)


_LATENTS = ("normal", "uniform")


def latent(batch: int, dim: int, *, distribution: str = "normal", truncation=None,
           generator: _random.Generator | None = None, device=None,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Generator inputs z of shape (batch, dim).

    distribution="normal": N(0, 1), truncated to [-τ, τ] when ``truncation=τ`` (BigGAN's
    truncation trick, exact inverse CDF); "uniform": U(-1, 1) (DCGAN's noise).

    Example::

        z = fastgan.sample.latent(64, 100, truncation=0.5, generator=g, device="cuda")
    """
    for name, v in (("batch", batch), ("dim", dim)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v < 0:
            raise ValueError(f"{name} must be non-negative, got {v}")
    if distribution not in _LATENTS:
        raise ValueError(f"distribution must be one of {_LATENTS}, got {distribution!r}")
    if distribution == "uniform":
        if truncation is not None:
            raise ValueError("truncation applies to distribution='normal' only")
        return uniform(batch, dim, low=-1.0, high=1.0, generator=generator, device=device, dtype=dtype)
    return normal(batch, dim, truncation=truncation, generator=generator, device=device, dtype=dtype)

"""Inverse-CDF samplers: input checks, table preparation, Triton launchers and torch.library ops.

Two registered ops do all the sampling; the public functions in :mod:`fastgan.sample` check their
arguments, reserve counters on the generator and call them:

- ``fastgan::sample_parametric(rows, family, n, seed_lo, seed_hi, off_lo, off_hi, dtype)``:
  an (R, n) sample, row r from the family's F⁻¹ with the float64 parameters ``rows[r]``.
- ``fastgan::sample_tabulated(table, support, row_start, row_len, sup_start, mode, n, steps,
  seed_lo, seed_hi, off_lo, off_hi, dtype)``: binary search in ragged cumulative tables
  (``TabulatedMode.CATEGORICAL``: indices, -1 for a row of total weight 0;
  ``TabulatedMode.INVERSE_CDF``: piecewise-linear inverse CDF).

Family and mode codes are the ``IntEnum`` s of :mod:`fastgan._codes` (``SamplerFamily``,
``TabulatedMode``); the ops take them as ints.

Seeds and offsets travel as int32 bit patterns (``fastgan.random._split``), so the ops are pure
functions of their inputs. Backends: CUDA tensors (and CPU tensors when the Triton backend is
forced, under the interpreter) launch ``fastgan.kernels.inverse_cdf``; other CPU tensors run the
C++ samplers of the extension (``fastgan._C.cpu_sample_parametric`` / ``cpu_sample_tabulated``:
Philox and F⁻¹ fused, the kernels' float64 steps); with ``FASTGAN_BACKEND=torch`` the same
(seed, offset) fills float32 uniforms on the host and the reference F⁻¹ of
``fastgan.reference.sample`` maps them, which is the definition the kernels reproduce.
"""
from __future__ import annotations

import torch

from .. import _backend
from .._backend import cdiv, next_pow2
from .._codes import SamplerFamily, TabulatedMode
from .. import random as _random
from ..reference import sample as _ref

__all__ = ["FAMILIES", "ROW_WIDTH", "sample_parametric", "sample_tabulated", "parametric_rows",
           "categorical_table", "MODE_CATEGORICAL", "MODE_INVERSE_CDF"]

#: family name -> (kernel code, parameter names in row order)
FAMILIES = {
    "uniform": (SamplerFamily.UNIFORM, ("low", "high")),
    "exponential": (SamplerFamily.EXPONENTIAL, ("rate",)),
    "laplace": (SamplerFamily.LAPLACE, ("loc", "scale")),
    "logistic": (SamplerFamily.LOGISTIC, ("loc", "scale")),
    "cauchy": (SamplerFamily.CAUCHY, ("loc", "scale")),
    "normal": (SamplerFamily.NORMAL, ("mean", "std", "a", "b")),
}
#: columns of the parameter rows (the normal family's 4 parameters + 8 derived constants)
ROW_WIDTH = 12
MODE_CATEGORICAL, MODE_INVERSE_CDF = TabulatedMode.CATEGORICAL, TabulatedMode.INVERSE_CDF

# Counters per program: 256 (1024 samples) on a GPU, small in the interpreter so tests with a few
# hundred samples still span several programs.
_CUDA_BLOCK, _INTERP_BLOCK = 256, 32
_MAX_VALUES = 1 << 34  # counter indices are uint32 in the kernels


def _block(device: torch.device) -> int:
    return _CUDA_BLOCK if device.type == "cuda" else _INTERP_BLOCK


def _join(lo: int, hi: int) -> int:
    return ((hi & 0xFFFFFFFF) << 32) | (lo & 0xFFFFFFFF)


_SAMPLE_DTYPES = {torch.float32: 0, torch.float64: 1, torch.int64: 2}  # the extension's SAMPLE_*


def _native(device: torch.device) -> bool:
    """CPU tensors go to the C++ samplers (one fused pass, torch's thread count) unless a
    backend is forced: ``FASTGAN_BACKEND=torch`` keeps the pure-PyTorch reference path,
    ``triton`` the interpreted kernels."""
    return device.type == "cpu" and _backend.current() == "auto"


def table_for(rows) -> torch.Tensor:
    """:func:`categorical_table`, built by the C++ extension in one pass (bit-identical) for a
    dense float32/float64 (R, K) CPU tensor on the default backend."""
    if isinstance(rows, torch.Tensor) and rows.dim() == 2 and rows.shape[1] > 0 \
            and rows.dtype in (torch.float32, torch.float64) and _native(rows.device):
        w = rows.contiguous()
        out = torch.empty(w.shape, dtype=torch.float64)
        _random._C.cpu_categorical_table(w.data_ptr(), _SAMPLE_DTYPES[w.dtype], w.shape[0], w.shape[1],
                                         out.data_ptr(), torch.get_num_threads())
        return out.reshape(-1)
    return categorical_table(rows)


def _host_uniforms(rows: int, n: int, device, seed_lo, seed_hi, off_lo, off_hi) -> torch.Tensor:
    u = torch.empty(rows, n, dtype=torch.float32, device=device)
    impl = "cpp" if u.device.type == "cpu" else "auto"
    return _random._fill(u, _random.FILL_UNIFORM_F32, _join(seed_lo, seed_hi), _join(off_lo, off_hi), impl)


# ------------------------------------------------------------------------------ parametric rows
def parametric_rows(family: str, columns: list[torch.Tensor]) -> torch.Tensor:
    """The (R, ROW_WIDTH) float64 parameter rows of a family from its (R,) parameter columns.

    The normal family appends α, β, log Φ(β), Φ(α)/Φ(β), log Φ(-α), Φ(-β)/Φ(-α) from
    :func:`fastgan.reference.sample.normal_row_constants` and Φ(β), Φ(-α) (computed once per
    row, not per sample).
    """
    cols = [c.to(torch.float64) for c in columns]
    if family == "normal":
        const = list(_ref.normal_row_constants(*cols))
        cols += const + [torch.exp(const[2]), torch.exp(const[4])]
    r = cols[0].shape[0]
    rows = torch.zeros(r, ROW_WIDTH, dtype=torch.float64, device=cols[0].device)
    for i, c in enumerate(cols):
        rows[:, i] = c
    return rows


def _saturated(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """float64 samples clamped in place to ±finfo(dtype).max (as the kernels do before storing),
    so rounding to ``dtype`` never overflows to ±inf (:func:`fastgan.reference.sample.saturate`)."""
    m = torch.finfo(dtype).max
    return x.clamp_(-m, m)


_ICDF = {SamplerFamily.UNIFORM: _ref.uniform_icdf, SamplerFamily.EXPONENTIAL: _ref.exponential_icdf,
         SamplerFamily.LAPLACE: _ref.laplace_icdf, SamplerFamily.LOGISTIC: _ref.logistic_icdf,
         SamplerFamily.CAUCHY: _ref.cauchy_icdf, SamplerFamily.NORMAL: _ref.truncated_normal_icdf}


def _parametric_torch(rows, family, u):
    family = SamplerFamily(family)
    params = [rows[:, i:i + 1] for i in range(len(FAMILIES[family.label][1]))]
    return _ICDF[family](u, *params)


@torch.library.custom_op("fastgan::sample_parametric", mutates_args=())
def sample_parametric(rows: torch.Tensor, family: int, n: int, seed_lo: int, seed_hi: int,
                      off_lo: int, off_hi: int, dtype: torch.dtype) -> torch.Tensor:
    """(R, n) samples: out[r, i] = F⁻¹_family(u_{r·n+i}; rows[r]) on the stream (seed, offset)."""
    r = rows.shape[0]
    out = torch.empty(r, n, dtype=dtype, device=rows.device)
    if out.numel() == 0:
        return out
    if _backend.use_triton(rows.device):
        from ..kernels.inverse_cdf import parametric_kernel

        total = r * n
        block = _block(rows.device)
        grid = (cdiv(-(-total // 4), block),)
        with _backend.on_device(out), _backend.launch_guard(out):
            parametric_kernel[grid](out, rows.contiguous(), N=total, n=n, R=r,
                                    seed_lo=seed_lo, seed_hi=seed_hi, off_lo=off_lo, off_hi=off_hi,
                                    FAMILY=int(family), W=rows.shape[1], BLOCK=block)
        return out
    if _native(rows.device):
        rows = rows.contiguous()
        _random._C.cpu_sample_parametric(int(family), out.data_ptr(), _SAMPLE_DTYPES[out.dtype],
                                         rows.data_ptr(), rows.shape[1], r, n, _join(seed_lo, seed_hi),
                                         _join(off_lo, off_hi), torch.get_num_threads())
        return out
    u = _host_uniforms(r, n, rows.device, seed_lo, seed_hi, off_lo, off_hi)
    return out.copy_(_saturated(_parametric_torch(rows, family, u), dtype))


@sample_parametric.register_fake
def _(rows, family, n, seed_lo, seed_hi, off_lo, off_hi, dtype):
    return rows.new_empty((rows.shape[0], n), dtype=dtype)


# ------------------------------------------------------------------------------ tabulated rows
def categorical_table(rows) -> torch.Tensor:
    """Flat float64 cumulative tables of integer counts (:func:`fastgan.reference.sample.weight_counts`).

    ``rows``: an (R, K) tensor, or a list of 1-D rows (ragged; one cumsum per row). The counts
    make every partial sum an exact float64 integer, so the table is the same on every device.
    """
    if isinstance(rows, torch.Tensor):
        if _backend.use_triton(rows.device) and rows.numel():
            return _categorical_table_triton(rows)
        return _ref.weight_counts(rows).cumsum_(dim=-1).reshape(-1)
    return torch.cat([_ref.weight_counts(t).cumsum_(dim=-1) for t in rows])


def _categorical_table_triton(w: torch.Tensor) -> torch.Tensor:
    """The dense table in one pass of kernels/inverse_cdf.py ``categorical_table_kernel``:
    the row maxima (one read of w) give each row's power-of-two scale on the host side of the
    launch (R values), then one read of w and one write of the float64 table (the float64
    passes of ``weight_counts`` + ``cumsum`` made ≈ 20 bytes of traffic per weight and byte
    of input, this makes ≈ 3 per weight plus the 8-byte table entry)."""
    from ..kernels.inverse_cdf import categorical_table_kernel

    r, k = w.shape
    levels = (k - 1).bit_length()
    _, e = torch.frexp(w.amax(dim=-1).double())
    shift = 53 - levels - e.to(torch.int64)
    half = torch.div(shift, 2, rounding_mode="floor")
    a = _ref._pow2(half).contiguous()
    b = _ref._pow2(shift - half).contiguous()
    out = torch.empty((r, k), dtype=torch.float64, device=w.device)
    block = min(1024, max(16, next_pow2(k)))
    with _backend.on_device(out), _backend.launch_guard(out):
        categorical_table_kernel[(r,)](
            w_ptr=w, a_ptr=a, b_ptr=b, out_ptr=out,
            K=k, stride_wr=w.stride(0), stride_wk=w.stride(1),
            BLOCK=block, num_warps=4,
        )
    return out.reshape(-1)


def _dense(table, row_start, row_len, kmax):
    """Ragged rows as (R, kmax), each padded with its last value."""
    k = torch.arange(kmax, device=table.device)
    idx = row_start[:, None] + torch.minimum(k[None, :], row_len[:, None] - 1)
    return table[idx]


@torch.library.custom_op("fastgan::sample_tabulated", mutates_args=())
def sample_tabulated(table: torch.Tensor, support: torch.Tensor, row_start: torch.Tensor,
                     row_len: torch.Tensor, sup_start: torch.Tensor, mode: int, n: int, steps: int,
                     seed_lo: int, seed_hi: int, off_lo: int, off_hi: int,
                     dtype: torch.dtype) -> torch.Tensor:
    """(R, n) draws from ragged cumulative tables (see the module docstring)."""
    r = row_start.shape[0]
    out = torch.empty(r, n, dtype=dtype, device=table.device)
    if out.numel() == 0:
        return out
    if _backend.use_triton(table.device):
        from ..kernels.inverse_cdf import tabulated_kernel

        total = r * n
        block = _block(table.device)
        grid = (cdiv(-(-total // 4), block),)
        with _backend.on_device(out), _backend.launch_guard(out):
            tabulated_kernel[grid](out, table, support, row_start, row_len, sup_start,
                                   N=total, n=n, R=r, steps=steps,
                                   seed_lo=seed_lo, seed_hi=seed_hi, off_lo=off_lo, off_hi=off_hi,
                                   MODE=int(mode), BLOCK=block)
        return out
    if _native(table.device):
        table, support = table.contiguous(), support.contiguous()
        row_start, row_len, sup_start = (t.contiguous() for t in (row_start, row_len, sup_start))
        _random._C.cpu_sample_tabulated(int(mode), out.data_ptr(), _SAMPLE_DTYPES[out.dtype],
                                        table.data_ptr(), _SAMPLE_DTYPES[table.dtype],
                                        support.data_ptr(), _SAMPLE_DTYPES[support.dtype],
                                        row_start.data_ptr(), row_len.data_ptr(), sup_start.data_ptr(),
                                        r, n, _join(seed_lo, seed_hi), _join(off_lo, off_hi),
                                        torch.get_num_threads())
        return out
    u = _host_uniforms(r, n, table.device, seed_lo, seed_hi, off_lo, off_hi)
    k = int(row_len[0])
    if bool((row_len == k).all()) and table.numel() == r * k and torch.equal(
            row_start, torch.arange(r, device=row_start.device) * k):
        # dense rows: (R, K) views, no gather (the search never passes a row's last entry)
        c = table.view(r, k)
        x = (support[:k] if not bool(sup_start.any()) else
             support.view(r, k) if support.numel() == r * k and torch.equal(sup_start, row_start) else
             _dense(support, sup_start, row_len, k))
    else:
        kmax = 1 << steps  # ≥ every row length; the padding repeats each row's last entry
        c = _dense(table, row_start, row_len, kmax)
        x = _dense(support, sup_start, row_len, kmax)
    if mode == TabulatedMode.CATEGORICAL:
        return out.copy_(_ref.categorical_search(u, c.double()))
    return out.copy_(_saturated(_ref.tabulated_icdf(u, c, x), dtype))


@sample_tabulated.register_fake
def _(table, support, row_start, row_len, sup_start, mode, n, steps, seed_lo, seed_hi, off_lo, off_hi,
      dtype):
    return table.new_empty((row_start.shape[0], n), dtype=dtype)


def check_total(rows: int, n: int) -> None:
    if rows * n >= _MAX_VALUES:
        raise ValueError(f"at most 2**34 samples per call, got {rows} x {n} = {rows * n}")


def seed_args(generator, count: int) -> tuple[int, int, int, int]:
    """Reserve ``count`` values on ``generator``; (seed_lo, seed_hi, off_lo, off_hi) int32 patterns."""
    seed, offset = generator._reserve(count)
    return (*_random._split(seed), *_random._split(offset))


def steps_for(kmax: int) -> int:
    """Binary-search halvings for rows of at most kmax entries: ceil(log2 kmax)."""
    return max(int(kmax) - 1, 0).bit_length()


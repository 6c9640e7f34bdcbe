"""The C++ samplers of CPU tensors (issue 18) against the pure-PyTorch reference.

On CPU tensors ``fastgan.sample`` runs Philox and F⁻¹ fused in the extension
(``fastgan._C.cpu_sample_parametric`` / ``cpu_sample_tabulated``); ``FASTGAN_BACKEND=torch``
keeps the reference path. Integer outputs must be bit-identical to the reference, floats within
a few ulp (float32) or 1e-13 relative (float64): only libm's transcendentals differ. Shapes span
several 256-element tiles, rows that straddle Philox blocks and tiles, and more than one thread.
"""
import math

import pytest
import torch

import fastgan
import fastgan._C as C
import fastgan.sample as fs
from fastgan.reference import sample as ref

from helpers import assert_rel


def gen(seed=1234, offset=0):
    return fastgan.Generator(seed).set_offset(offset)


def ulp32(a, b) -> int:
    ia = a.float().contiguous().view(torch.int32).long()
    ib = b.float().contiguous().view(torch.int32).long()
    ia = torch.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = torch.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return int((ia - ib).abs().max()) if a.numel() else 0


def close(out, expected, what):
    assert out.shape == expected.shape and out.dtype == expected.dtype, what
    assert torch.isfinite(out).all(), what
    if out.dtype == torch.float64:
        assert_rel(out, expected, 1e-13, what)
        assert torch.allclose(out, expected, rtol=1e-13, atol=1e-13), what
    else:
        assert ulp32(out, expected) <= 2, f"{what}: {ulp32(out, expected)} ulp"


R, N = 6, 301  # 1806 samples: 7+ tiles, rows that start mid-block


def rows(values):
    return torch.tensor(values, dtype=torch.float64)


FAMILIES = {
    "uniform": dict(low=rows([-1.0, 0.0, 3.0, 1e3, -2.5, 0.0]), high=rows([1.0, 1e-3, 4.0, 2e3, 2.5, 1.0])),
    "exponential": dict(rate=rows([0.5, 1.0, 2.5, 0.1, 7.0, 1e-3])),
    "laplace": dict(loc=rows([-1.0, 0.0, 3.0, 1e3, -2.5, 0.0]), scale=2.0),
    "logistic": dict(loc=0.5, scale=rows([0.5, 1.0, 2.5, 0.1, 7.0, 1e30])),
    "cauchy": dict(loc=rows([-1.0, 0.0, 3.0, 1e3, -2.5, 0.0]), scale=rows([0.5, 1.0, 2.5, 0.1, 7.0, 1e4])),
    "normal": dict(mean=rows([-1.0, 0.0, 3.0, 1e3, -2.5, 0.0]), std=rows([0.5, 1.0, 2.5, 0.1, 7.0, 1e38])),
}
# Truncations: central, one-sided, far tails on both sides (beyond TAIL_Z), a thin far slab,
# the bench's [-2, 2].
TRUNC_A = [-2.0, 3.0, 35.0, -math.inf, 1e3, -8.0]
TRUNC_B = [2.0, math.inf, 35.5, -60.0, math.inf, -7.0]


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_parametric_families_match_reference(name, dtype):
    kw = FAMILIES[name]
    # an offset just below 2**32 carries into the counter's high word inside the draw
    g1, g2 = gen(11, (1 << 32) - 100), gen(11, (1 << 32) - 100)
    out = getattr(fs, name)(R, N, generator=g1, dtype=dtype, **kw)
    expected = getattr(ref, name)(R, N, generator=g2, dtype=dtype, **kw)
    if dtype == torch.float16:
        assert (out.float() - expected.float()).abs().max() <= expected.float().abs().max() * 2 ** -10
    else:
        close(out, expected, name)
    assert g1.get_offset() == g2.get_offset()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_truncated_normal_including_far_tails_matches_reference(dtype):
    a, b = rows(TRUNC_A), rows(TRUNC_B)
    out = fs.truncated_normal(R, N, a=a, b=b, mean=0.0, std=1.0, generator=gen(5), dtype=dtype)
    expected = ref.truncated_normal(R, N, a=a, b=b, mean=0.0, std=1.0, generator=gen(5), dtype=dtype)
    close(out, expected, "truncated normal")
    assert (out >= a[:, None].to(dtype)).all() and (out <= b[:, None].to(dtype)).all()
    # far rows sit within ~E/A of their bound, inside it
    assert (out[2] - 35.0 < 1.0).all() and (out[4] - 1e3 < 0.1).all() and (-60.0 - out[3] < 1.0).all()


def test_truncation_argument_and_scalars_match_reference():
    close(fs.normal(7, 513, truncation=0.5, mean=1.0, std=2.0, generator=gen(3)),
          ref.normal(7, 513, truncation=0.5, mean=1.0, std=2.0, generator=gen(3)), "truncation")
    close(fs.truncated_normal(4097, a=-2.0, b=2.0, generator=gen(3), dtype=torch.float64),
          ref.truncated_normal(4097, a=-2.0, b=2.0, generator=gen(3), dtype=torch.float64), "scalars")


def test_categorical_is_bit_identical_to_reference():
    w = torch.rand(R, 97, dtype=torch.float64) + 1e-3
    w[:, 5] = 0.0
    w[2, :50] = 0.0
    w[3] = 1e-300 * torch.rand(97, dtype=torch.float64)  # tiny but positive weights
    out = fs.categorical(w, N, generator=gen(8))
    assert out.dtype == torch.int64
    assert torch.equal(out, ref.categorical(w, N, generator=gen(8)))
    assert (w.gather(1, out) > 0).all()
    ragged = [torch.rand(k) for k in (1, 3, 64, 2, 129)]
    pad = torch.zeros(5, 129)
    for i, t in enumerate(ragged):
        pad[i, :t.numel()] = t
    assert torch.equal(fs.categorical(ragged, 37, generator=gen(2)), ref.categorical(pad, 37, generator=gen(2)))


def test_categorical_all_zero_row_gives_minus_one():
    w = torch.ones(3, 5)
    w[1] = 0.0
    out = fs.categorical(w, 40, generator=gen(1), validate=False)
    assert (out[1] == -1).all() and torch.equal(out, ref.categorical(w, 40, generator=gen(1)))


@pytest.mark.parametrize("tab, sup, dtype", [(torch.float32, torch.float32, None),
                                             (torch.float64, torch.float32, None),
                                             (torch.float32, torch.float64, torch.float32),
                                             (torch.float64, torch.float64, torch.float64)])
def test_inverse_cdf_matches_reference(tab, sup, dtype):
    w = torch.rand(R, 33, dtype=torch.float64)
    w[:, 0] = 0.3  # an atom at the first support point
    cdf = w.cumsum(1)
    cdf = (cdf / cdf[:, -1:]).to(tab)
    support = (torch.rand(R, 33, dtype=torch.float64).cumsum(1) - 3.0).to(sup)
    out = fs.inverse_cdf(cdf, N, support=support, generator=gen(4), dtype=dtype)
    close(out, ref.inverse_cdf(cdf, N, support=support, generator=gen(4), dtype=dtype), "inverse_cdf")
    shared = fs.inverse_cdf(cdf, N, support=support[0], generator=gen(4), dtype=dtype)
    close(shared, ref.inverse_cdf(cdf, N, support=support[0], generator=gen(4), dtype=dtype), "shared support")


def test_cpu_draws_take_the_extension(monkeypatch):
    # with the pure-PyTorch path's uniform fill disabled, CPU draws still work (the C++ path
    # draws its own), and forcing FASTGAN_BACKEND=torch reaches the PyTorch path again
    import fastgan.ops.sample as ops

    def boom(*args, **kwargs):
        raise AssertionError("the reference path ran")

    monkeypatch.setattr(ops, "_host_uniforms", boom)
    fs.normal(3, 17, generator=gen())
    fs.exponential(3, 17, generator=gen())
    fs.categorical(torch.ones(4), 9, generator=gen())
    fs.inverse_cdf(torch.tensor([0.0, 0.5, 1.0]), 9, generator=gen())
    with fastgan.backend("torch"), pytest.raises(AssertionError, match="reference path ran"):
        fs.normal(3, 17, generator=gen())


def test_threads_do_not_change_the_samples():
    before = torch.get_num_threads()
    n = 3 * 4096 * 4 + 5  # three threads' worth of blocks
    w = torch.rand(3, 50)
    runs = []
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            runs.append((fs.normal(n, generator=gen(9)), fs.categorical(w, n // 3, generator=gen(9)),
                         fs.inverse_cdf(w.cumsum(1) / w.sum(1, keepdim=True), n // 3, generator=gen(9))))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def test_threads_split_matches_reference():
    before = torch.get_num_threads()
    n = 2 * 4096 * 4 + 3
    w = torch.rand(2, 77)
    try:
        torch.set_num_threads(2)
        out = fs.categorical(w, n, generator=gen(12))
        x = fs.normal(2, n, generator=gen(12), dtype=torch.float64)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(out, ref.categorical(w, n, generator=gen(12)))
    close(x, ref.normal(2, n, generator=gen(12), dtype=torch.float64), "threaded normal")


def test_extension_rejects_bad_codes():
    out = torch.empty(4)
    rows_ = torch.zeros(1, 12, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown sampler family"):
        C.cpu_sample_parametric(99, out.data_ptr(), C.SAMPLE_F32, rows_.data_ptr(), 12, 1, 4, 0, 0)
    with pytest.raises(ValueError, match="normal rows need 12 columns"):
        C.cpu_sample_parametric(5, out.data_ptr(), C.SAMPLE_F32, rows_.data_ptr(), 4, 1, 4, 0, 0)
    idx = torch.zeros(1, dtype=torch.int64)
    with pytest.raises(ValueError, match="categorical draws are int64"):
        C.cpu_sample_tabulated(0, out.data_ptr(), C.SAMPLE_F32, rows_.data_ptr(), C.SAMPLE_F64,
                               rows_.data_ptr(), C.SAMPLE_F64, idx.data_ptr(), idx.data_ptr(),
                               idx.data_ptr(), 1, 4, 0, 0)
    with pytest.raises(ValueError, match="unknown tabulated mode"):
        C.cpu_sample_tabulated(7, out.data_ptr(), C.SAMPLE_F32, rows_.data_ptr(), C.SAMPLE_F64,
                               rows_.data_ptr(), C.SAMPLE_F64, idx.data_ptr(), idx.data_ptr(),
                               idx.data_ptr(), 1, 4, 0, 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [1, 2, 3, 97, 1025])
def test_categorical_tables_are_bit_identical(dtype, k):
    import fastgan.ops.sample as ops

    scale = torch.tensor([1e-30, 1.0, 1e20, 3.0, 0.0], dtype=dtype)[:, None]
    w = torch.rand(5, k, dtype=dtype) * scale
    w[1, 0] = 0.0
    table = ops.table_for(w)
    assert torch.equal(table, ref.weight_counts(w).cumsum_(dim=-1).reshape(-1))
    with fastgan.backend("torch"):
        assert torch.equal(ops.table_for(w), table)
    if k >= 3:  # validate=False lets non-finite weights in: the same table as the reference
        w[0, 1], w[2, 2] = math.nan, math.inf
        expected = ref.weight_counts(w).cumsum_(dim=-1).reshape(-1)
        assert torch.equal(ops.table_for(w).nan_to_num(), expected.nan_to_num())

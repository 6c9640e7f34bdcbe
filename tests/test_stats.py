"""fastgan.stats.mmd_test: the permutation test against the dense reference, calibration under
the null, power, bandwidth selection, precision per dtype, bad input and ``fastgan test``."""
import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

import fastgan
from fastgan import stats as S
from fastgan.reference import kernel_matrix, mmd_permutation_test

KERNELS = ("gaussian", "laplacian", "imq", "polynomial", "energy")


def _data(n, m, d, shift=0.0, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + shift
    return x.to(dtype), y.to(dtype)


def _reference(x, y, b, seed, **kw):
    """The reference test on the permutations mmd_test draws from Generator(seed)."""
    perms = S.permutation_indices(x.shape[0] + y.shape[0], b, generator=fastgan.Generator(seed))
    stat, pvalue, null = mmd_permutation_test(x.double(), y.double(), perms, **kw)
    return stat.item(), pvalue, null


def _null_error(res, null_ref):
    """max |T_b − T_b(float64)| in units of the null's standard deviation."""
    return ((res.null.double().cpu() - null_ref).abs().max() / null_ref.std()).item()


def _count_at_tolerance(null_ref, stat_ref, tol):
    """(lowest, highest) count of T_b >= T consistent with statistics accurate to tol."""
    return int((null_ref >= stat_ref + tol).sum()), int((null_ref >= stat_ref - tol).sum())


# ----------------------------------------------------------------------------------------------
# equality with the reference permutation test
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_cpu_path_equals_reference(kernel, estimator):
    x, y = _data(23, 31, 3, shift=0.3)
    kw = dict(kernel=kernel, estimator=estimator, bandwidth=[0.7, 1.9], coef=0.5)
    res = S.mmd_test(x, y, permutations=60, generator=fastgan.Generator(4), **kw)
    stat, pvalue, null = _reference(x, y, 60, 4, **kw)
    assert res.statistic == pytest.approx(stat, rel=1e-10, abs=1e-13)
    torch.testing.assert_close(res.null, null, rtol=1e-9, atol=1e-13)
    assert res.pvalue == pvalue
    assert res.null.shape == (60,) and res.null.dtype == torch.float64
    assert (res.n, res.m, res.permutations, res.kernel) == (23, 31, 60, kernel)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_non_contiguous_and_tiny_inputs(backend):
    # strided x, transposed y; and N = 1 with the biased estimator, B = 1
    x = torch.randn(20, 6, dtype=torch.float64)[:, ::2]
    y = torch.randn(3, 30, dtype=torch.float64).T
    x1 = torch.randn(1, 3, dtype=torch.float64)
    for a, b, est, perms in ((x, y, "unbiased", 12), (x1, y[:7], "biased", 1)):
        with fastgan.backend(backend):
            res = S.mmd_test(a, b, permutations=perms, bandwidth=1.0, estimator=est,
                             generator=fastgan.Generator(2), precision="ieee")
        stat, pvalue, null = _reference(a, b, perms, 2, bandwidth=1.0, estimator=est)
        assert _null_error(res, null) < 1e-4 if perms > 1 else \
            abs(res.null.item() - null.item()) < 1e-5
        assert res.pvalue == pvalue


def test_statistic_is_fastgan_mmd():
    x, y = _data(40, 25, 4, shift=0.5, dtype=torch.float32)
    for est in ("unbiased", "biased"):
        res = S.mmd_test(x, y, bandwidth=1.5, estimator=est, permutations=5)
        ref = fastgan.reference.mmd(x.double(), y.double(), bandwidth=1.5, estimator=est)
        assert res.statistic == pytest.approx(ref.item(), rel=1e-4)


@pytest.mark.interpreter
@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_triton_kernel_equals_reference(kernel, estimator, monkeypatch):
    # P = 77 rows: two row tiles and two column tiles of 64; B + 1 = 41 columns in three
    # blocks of 16 permutations (the last one partial)
    monkeypatch.setattr(S, "_INTERP_MAX_BLOCK_B", 16)
    x, y = _data(37, 40, 3, shift=0.25, dtype=torch.float32, seed=1)
    kw = dict(kernel=kernel, estimator=estimator, bandwidth=1.1)
    with fastgan.backend("triton"):
        res = S.mmd_test(x, y, permutations=40, generator=fastgan.Generator(9), precision="ieee",
                         **kw)
    stat, pvalue, null = _reference(x, y, 40, 9, **kw)
    assert _null_error(res, null) < 1e-4
    assert abs(res.statistic - stat) < 1e-4 * null.std().item()
    lo, hi = _count_at_tolerance(null, stat, 1e-4 * null.std().item())
    assert (lo + 1) / 41 <= res.pvalue <= (hi + 1) / 41
    assert res.pvalue == pvalue  # no T_b this close to T at this seed


@pytest.mark.interpreter
def test_triton_kernel_large_d_and_cpu_agree():
    # D = 130 > 128: the Gram tile loops over BLOCK_K chunks of features
    x, y = _data(20, 18, 130, shift=0.05, dtype=torch.float32, seed=2)
    with fastgan.backend("triton"):
        res = S.mmd_test(x, y, permutations=30, bandwidth="median", generator=fastgan.Generator(1),
                         precision="ieee")
    cpu = S.mmd_test(x, y, permutations=30, bandwidth="median", generator=fastgan.Generator(1))
    assert res.bandwidth == pytest.approx(cpu.bandwidth)
    torch.testing.assert_close(res.null.double(), cpu.null.double(), rtol=0,
                               atol=1e-4 * cpu.null.std().item())
    assert res.pvalue == cpu.pvalue


@pytest.mark.parametrize("precision, bound", [("ieee", 1e-4), ("tf32", 0.05)])
def test_device_path_equals_reference(device, precision, bound):
    # on a GPU: the compiled kernel, permutations drawn on the GPU (the same as on the CPU for
    # the same state); on a CPU machine the CPU path (precision does not apply there)
    x, y = _data(150, 170, 16, shift=0.1, dtype=torch.float32, seed=8)
    res = S.mmd_test(x.to(device), y.to(device), permutations=200, bandwidth=4.0,
                     generator=fastgan.Generator(6, device=device), precision=precision)
    stat, pvalue, null = _reference(x, y, 200, 6, bandwidth=4.0)
    assert res.null.device.type == device.type
    assert _null_error(res, null) < bound
    lo, hi = _count_at_tolerance(null, stat, bound * null.std().item())
    assert (lo + 1) / 201 <= res.pvalue <= (hi + 1) / 201


# ----------------------------------------------------------------------------------------------
# precision of the null statistics per dtype (documented in fastgan.stats)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, bound", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_cpu_null_precision(dtype, bound):
    x, y = _data(30, 26, 5, dtype=dtype, seed=3)
    res = S.mmd_test(x, y, permutations=50, bandwidth=2.0, generator=fastgan.Generator(0))
    _, _, null = _reference(x, y, 50, 0, bandwidth=2.0)
    assert _null_error(res, null) < bound


@pytest.mark.interpreter
@pytest.mark.parametrize("kernel", ["gaussian", "polynomial", "energy"])
@pytest.mark.parametrize("dtype, bound", [(torch.float64, 1e-4), (torch.float32, 1e-4),
                                          (torch.bfloat16, 0.1), (torch.float16, 0.02)])
def test_triton_null_precision(dtype, bound, kernel):
    # against the float64 statistics of the same (rounded) inputs; fp16 polynomial/energy
    # kernel values stay fp32 on the tensor cores
    x, y = _data(40, 33, 5, dtype=dtype, seed=4)
    with fastgan.backend("triton"):
        res = S.mmd_test(x, y, kernel=kernel, permutations=48, bandwidth=2.0,
                         generator=fastgan.Generator(2), precision="ieee")
    _, _, null = _reference(x, y, 48, 2, kernel=kernel, bandwidth=2.0)
    assert _null_error(res, null) < bound


# ----------------------------------------------------------------------------------------------
# calibration and power
# ----------------------------------------------------------------------------------------------
def test_calibration_under_the_null():
    # 300 tests on samples from one distribution: p-values uniform, rejection rate at 0.05
    # inside its 99.9% binomial interval. B = 199: P(p <= 0.05) = 10/200 exactly.
    reps, b = 300, 199
    gen = fastgan.Generator(123)
    pvals = []
    for r in range(reps):
        x, y = _data(14, 17, 2, dtype=torch.float32, seed=1000 + r)
        pvals.append(S.mmd_test(x, y, permutations=b, generator=gen).pvalue)
    pvals = np.array(pvals)
    assert sps.kstest(pvals, "uniform").pvalue > 0.01
    lo, hi = sps.binom.interval(0.999, reps, 0.05)
    assert lo <= (pvals <= 0.05).sum() <= hi


def test_power_on_a_shift_matches_the_reference():
    reps, b = 30, 99
    ours, ref = [], []
    for r in range(reps):
        x, y = _data(20, 20, 2, shift=0.9, seed=2000 + r)
        ours.append(S.mmd_test(x, y, permutations=b, generator=fastgan.Generator(r)).pvalue)
        ref.append(_reference(x, y, b, r, bandwidth="median")[1])
    assert ours == ref
    power = np.mean(np.array(ours) <= 0.05)
    assert power >= 0.6  # a shift of 0.9σ in 2-D at N = M = 20 is found most of the time


def test_permutations_reproducible_and_uniform():
    a = S.permutation_indices(9, 500, generator=fastgan.Generator(7))
    b = S.permutation_indices(9, 500, generator=fastgan.Generator(7))
    assert torch.equal(a, b) and a.dtype == torch.int64 and a.shape == (500, 9)
    assert torch.equal(a.sort(1).values, torch.arange(9).expand(500, 9))
    # each row lands in each position equally often (chi-square over 9 positions of row 0)
    counts = torch.bincount(a[:, 0], minlength=9).numpy()
    assert sps.chisquare(counts).pvalue > 1e-3
    x, y = _data(5, 4, 2)
    g = fastgan.Generator(3)
    r1 = S.mmd_test(x, y, permutations=20, generator=g)
    r2 = S.mmd_test(x, y, permutations=20, generator=g)  # the generator moved on
    r3 = S.mmd_test(x, y, permutations=20, generator=fastgan.Generator(3))
    assert torch.equal(r1.null, r3.null) and not torch.equal(r1.null, r2.null)


# ----------------------------------------------------------------------------------------------
# bandwidth selection by estimated power
# ----------------------------------------------------------------------------------------------
def _ratio_dense(x, y, sigma):
    """MMD²_u / sqrt(V + 1e-12) in float64 from the dense kernel blocks (power_ratio's
    docstring formulas)."""
    x, y = x.double(), y.double()
    c = torch.cat([x, y]).mean(0)
    kxx = kernel_matrix(x, x, bandwidth=sigma, center=c, same=True).fill_diagonal_(0)
    kyy = kernel_matrix(y, y, bandwidth=sigma, center=c, same=True).fill_diagonal_(0)
    kxy = kernel_matrix(x, y, bandwidth=sigma, center=c)
    n, m = len(x), len(y)
    mmd2 = kxx.sum() / (n * (n - 1)) + kyy.sum() / (m * (m - 1)) - 2 * kxy.sum() / (n * m)
    hx = kxx.sum(1) / (n - 1) - kxy.sum(1) / m
    hy = kyy.sum(1) / (m - 1) - kxy.sum(0) / n
    var = 4 * ((hx - hx.mean()) ** 2).mean() / n + 4 * ((hy - hy.mean()) ** 2).mean() / m
    return (mmd2 / (var + 1e-12).sqrt()).item()


def test_power_ratio_matches_dense_formula():
    x, y = _data(31, 24, 3, shift=0.4)
    for sigma in (0.3, 1.0, 4.0):
        assert S.power_ratio(x, y, bandwidth=sigma) == pytest.approx(_ratio_dense(x, y, sigma),
                                                                      rel=1e-9)


@pytest.mark.interpreter
def test_power_ratio_triton_matches_dense_formula():
    x, y = _data(31, 24, 3, shift=0.4, dtype=torch.float32)
    with fastgan.backend("triton"):
        got = S.power_ratio(x, y, bandwidth=1.0, precision="ieee")
    assert got == pytest.approx(_ratio_dense(x, y, 1.0), rel=1e-4)


def test_select_power_picks_best_and_tests_on_the_other_half():
    # the signal is in a small-scale feature: a small σ has the larger ratio
    x, y = _data(60, 50, 2, seed=5)
    y[:, 0] += 0.6
    cands = [0.05, 1.0, 30.0]
    res = S.mmd_test(x, y, bandwidth=cands, select="power", permutations=99,
                     generator=fastgan.Generator(11))
    # the same draws, by hand: the split, then the permutations of the test half
    g = fastgan.Generator(11)
    ix = torch.argsort(fastgan.rand(60, generator=g), stable=True)
    iy = torch.argsort(fastgan.rand(50, generator=g), stable=True)
    xs, ys, xt, yt = x[ix[:30]], y[iy[:25]], x[ix[30:]], y[iy[25:]]
    ratios = [_ratio_dense(xs, ys, s) for s in cands]
    assert res.selection["ratios"] == pytest.approx(ratios, rel=1e-9)
    assert res.bandwidth == (cands[int(np.argmax(ratios))],)
    assert res.selection["rows"] == (30, 25) and (res.n, res.m) == (30, 25)
    perms = S.permutation_indices(55, 99, generator=g)
    stat, pvalue, _ = mmd_permutation_test(xt, yt, perms, bandwidth=res.bandwidth[0])
    assert res.statistic == pytest.approx(stat.item(), rel=1e-10)
    assert res.pvalue == pvalue


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
_X = torch.randn(6, 3)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((_X.numpy(), _X), {}, TypeError, "x must be a torch.Tensor"),
    ((_X, _X[0]), {}, ValueError, r"y must be 2-D"),
    ((_X.int(), _X.int()), {}, TypeError, "x must be float32"),
    ((_X, _X.double()), {}, TypeError, "x and y must have the same dtype"),
    ((_X, torch.randn(6, 2)), {}, ValueError, "same number of features"),
    ((_X[:1], _X), {}, ValueError, "x needs at least 2 sample\\(s\\)"),
    ((_X, _X[:1]), {}, ValueError, "y needs at least 2 sample\\(s\\)"),
    ((_X[:0], _X), {"estimator": "biased"}, ValueError, "x needs at least 1 sample\\(s\\)"),
    ((_X, _X), {"permutations": 0}, ValueError, "permutations must be >= 1"),
    ((_X, _X), {"permutations": 2.5}, TypeError, "permutations must be an int"),
    ((_X, _X), {"alternative": "two-sided"}, ValueError, "alternative must be \"greater\""),
    ((_X, _X), {"estimator": "u"}, ValueError, "estimator must be one of"),
    ((_X, _X), {"kernel": "rbf"}, ValueError, "unknown kernel 'rbf'"),
    ((_X, _X), {"bandwidth": -1.0}, ValueError, "σ must be positive"),
    ((_X, _X), {"bandwidth": "mean"}, ValueError, "bandwidth must be \"median\""),
    ((_X, _X), {"bandwidth": []}, ValueError, "non-empty sequence"),
    ((_X, _X), {"select": "power", "bandwidth": []}, ValueError, "non-empty list of candidate"),
    ((_X, _X), {"select": "power", "bandwidth": 1.0}, ValueError, "needs bandwidth = a non-empty"),
    ((_X, _X), {"select": "power", "bandwidth": [1.0], "kernel": "energy"}, ValueError,
     "the energy kernel has none"),
    ((_X[:3], _X), {"select": "power", "bandwidth": [1.0]}, ValueError,
     "x needs at least 4 sample\\(s\\)"),
    ((_X, _X), {"select": "max"}, ValueError, "select must be None or \"power\""),
    ((_X, _X), {"generator": torch.Generator()}, TypeError,
     "generator must be a fastgan.Generator"),
    ((_X, _X), {"precision": "fp8"}, ValueError, "precision must be one of"),
    ((_X, _X), {"kernel": "polynomial", "degree": 0}, ValueError, "degree must be an int >= 1"),
])
def test_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        S.mmd_test(*args, **kwargs)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_an_error(bad):
    x, y = _data(10, 12, 3)
    y[3, 1] = bad
    with pytest.raises(ValueError, match="x or y contains NaN or inf"):
        S.mmd_test(x, y, bandwidth=1.0, permutations=10)


def test_select_power_accepts_a_tensor_of_candidates():
    x, y = _data(20, 20, 2, shift=0.5)
    a = S.mmd_test(x, y, bandwidth=torch.tensor([0.5, 2.0]), select="power", permutations=20,
                   generator=fastgan.Generator(1))
    b = S.mmd_test(x, y, bandwidth=[0.5, 2.0], select="power", permutations=20,
                   generator=fastgan.Generator(1))
    assert a.bandwidth == b.bandwidth and a.pvalue == b.pvalue


def test_bench_grid_covers_the_issue():
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])  # bench/ is in the source tree only
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import cases as bench_cases

    mod = bench_cases.load("stats")
    cpu = torch.device("cpu")
    full = {(c.shape["N"], c.shape["D"], c.shape["B"]) for c in mod.cases(cpu, "full")}
    assert {(2000, 64, 1000), (10000, 64, 1000), (16384, 64, 1000)} <= full
    assert {"fastgan", "eager", "alibi", "mmd fwd"} <= set(mod.cases(cpu, "quick")[0].providers)


def test_bad_input_permutation_indices_and_power_ratio():
    with pytest.raises(ValueError, match="permutations must be >= 1"):
        S.permutation_indices(5, 0)
    with pytest.raises(TypeError, match="n_total must be an int"):
        S.permutation_indices(5.0, 3)
    with pytest.raises(ValueError, match="x needs at least 2 sample\\(s\\)"):
        S.power_ratio(_X[:1], _X)


# ----------------------------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------------------------
def _parse(out: str) -> dict:
    vals = {}
    for line in out.splitlines():
        key, _, rest = line.partition(": ")
        vals[key] = rest
    return vals


@pytest.fixture
def _threads():
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def test_cli_prints_the_test(tmp_path, capsys, _threads):
    from fastgan.cli import main

    x, y = _data(40, 30, 3, shift=0.8, dtype=torch.float32, seed=6)
    np.save(tmp_path / "a.npy", x.numpy())
    torch.save(y, tmp_path / "b.pt")
    assert main(["test", str(tmp_path / "a.npy"), str(tmp_path / "b.pt"), "--permutations", "99",
                 "--seed", "5", "--device", "cpu"]) == 0
    vals = _parse(capsys.readouterr().out)
    res = S.mmd_test(x, y, permutations=99, generator=fastgan.Generator(5))
    assert float(vals["p-value"]) == pytest.approx(res.pvalue, rel=1e-5)
    assert float(vals["statistic"]) == pytest.approx(res.statistic, rel=1e-5)
    assert vals["bandwidth"] == f"{res.bandwidth[0]:.6g} (median heuristic)"
    assert float(vals["time"].split()[0]) >= 0.0


def test_cli_npz_select_power_and_errors(tmp_path, capsys, _threads):
    from fastgan.cli import main

    x, y = _data(40, 36, 2, shift=0.5, dtype=torch.float32, seed=7)
    np.savez(tmp_path / "a.npz", feats=x.numpy().reshape(40, 1, 2))  # flattened to (40, 2)
    np.savez(tmp_path / "b.npz", y.numpy())
    a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
    assert main(["test", a, b, "--bandwidth", "0.1,1,10", "--select", "power",
                 "--permutations", "49", "--device", "cpu"]) == 0
    vals = _parse(capsys.readouterr().out)
    res = S.mmd_test(x, y, bandwidth=[0.1, 1.0, 10.0], select="power", permutations=49,
                     generator=fastgan.Generator(0))
    assert float(vals["p-value"]) == pytest.approx(res.pvalue, rel=1e-5)
    assert vals["bandwidth"].endswith("(selected by power)")
    assert main(["test", a, str(tmp_path / "missing.npy")]) == 1
    assert "missing.npy: no such file" in capsys.readouterr().err
    assert main(["test", a, str(tmp_path)]) == 1
    assert "need a feature extractor" in capsys.readouterr().err
    np.savez(tmp_path / "two.npz", p=x.numpy(), q=y.numpy())
    assert main(["test", a, str(tmp_path / "two.npz")]) == 1
    assert "expected one array in the .npz, found 2 (p, q)" in capsys.readouterr().err
    np.save(tmp_path / "d3.npy", np.zeros((5, 3), np.float32))
    assert main(["test", a, str(tmp_path / "d3.npy")]) == 1
    assert "same number of features" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["test", a, b, "--permutations", "0"])
    assert "expected a positive integer" in capsys.readouterr().err

"""fastgan.mmd / kernel_sums / pair_sum against the dense float64 reference, on both backends
(the Triton kernel runs in the interpreter on CPU tensors), plus autograd, compile and errors."""
import math

import pytest
import torch

import fastgan
import fastgan.reference as R
from fastgan.ops import mmd as M
from fastgan.ops.mmd import checks, launch
from fastgan.ops.mmd import op as op_module
from helpers import (TOL, assert_rel, assert_within_terms, check_op_vs_reference,
                     compile_for_gpu, leaf64)

KERNELS = ["gaussian", "laplacian", "imq", "polynomial", "energy"]
ESTIMATORS = ["unbiased", "biased"]
# (N, M, D): the odd sizes of the issue, spread over the parametrisations to keep CI short
SHAPES = [(2, 3, 1), (129, 127, 3), (3, 2, 65)]
# laplacian/energy gradients go through 1/(2√d): close pairs amplify fp32 rounding
GRAD_TOL32 = {"laplacian": 1e-4, "energy": 1e-4}


def _bw(kernel, d):
    # a mixture of σ on the scale of the data's distances (√(2D) for standard normals)
    return [0.5 * math.sqrt(d), 2.0 * math.sqrt(d)] if kernel != "energy" else 1.0


def _data(n, m, d, dtype=torch.float32, device="cpu", shift=0.3):
    x = torch.randn(n, d, dtype=torch.float64)
    y = torch.randn(m, d, dtype=torch.float64) * 1.2 + shift
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _scale(x, y, kernel, bw, estimator):
    """Size of the terms MMD² is a difference of: the value's error is relative to it."""
    sums = R.kernel_sums(x.double().cpu(), y.double().cpu(), kernel=kernel, bandwidth=bw,
                         estimator=estimator)
    n, m = x.shape[0], y.shape[0]
    a = 1 / (n * (n - 1)) if estimator == "unbiased" else 1 / n ** 2
    b = 1 / (m * (m - 1)) if estimator == "unbiased" else 1 / m ** 2
    return abs(a * sums[0].item()) + abs(b * sums[1].item()) + abs(2 * sums[2].item() / (n * m))


def _check_mmd(x, y, kernel, estimator, bw, tol_v, tol_g, gout=-1.7, precision="tf32"):
    def op(a, b):
        out = fastgan.mmd(a, b, kernel=kernel, bandwidth=bw, estimator=estimator,
                          precision=precision)
        assert out.shape == ()
        assert out.dtype == (torch.float64 if x.dtype == torch.float64 else torch.float32)
        return out

    check_op_vs_reference(op, lambda a, b: R.mmd(a, b, kernel=kernel, bandwidth=bw,
                                                 estimator=estimator),
                          (x, y), value_tol=tol_v, grad_tol=tol_g, grad_output=gout,
                          terms=_scale(x, y, kernel, bw, estimator))


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fp32_vs_reference(shape, kernel, estimator, backend, device):
    n, m, d = shape
    x, y = _data(n, m, d, device=device)
    with fastgan.backend(backend):
        _check_mmd(x, y, kernel, estimator, _bw(kernel, d), tol_v=2e-6,
                   tol_g=GRAD_TOL32.get(kernel, 2e-5), precision="ieee")


@pytest.mark.parametrize("kernel", KERNELS)
def test_fp64_torch_path_is_exact(kernel):
    x, y = _data(31, 17, 4, dtype=torch.float64)
    with fastgan.backend("torch"):
        _check_mmd(x, y, kernel, "unbiased", _bw(kernel, 4), tol_v=1e-12, tol_g=1e-10)


@pytest.mark.parametrize("kernel", ["gaussian", "polynomial", "energy"])
def test_large_d_streams_over_feature_chunks(kernel, triton_backend, device):
    # D = 200 > 128: the Gram block loops over D chunks and the gradient takes 2 chunks of 128
    x, y = _data(37, 21, 200, device=device)
    _check_mmd(x, y, kernel, "unbiased", _bw(kernel, 200), tol_v=2e-6,
               tol_g=GRAD_TOL32.get(kernel, 2e-5), precision="ieee")


@pytest.fixture
def two_stage(monkeypatch):
    """Force the two-stage large-D gradient (w chunks + GEMM) with one-row-tile chunks of w
    and 5 column spans per row tile, and count its launches."""
    calls = []
    real = launch.triton_two_stage

    def spy(zc, *args):
        calls.append(zc.shape)
        return real(zc, *args)

    monkeypatch.setattr(launch, "triton_two_stage", spy)  # a spy, not a setting

    # bytes for one row tile of the w pass: 64 rows in the interpreter, 128 on a GPU
    tile = launch.CUDA_BLOCKS[(False, 0)][0] if torch.cuda.is_available() else 64

    def budget(p, itemsize):
        return M.configure(large_d="gemm", w_min_rows=1, target_programs=5,
                           w_budget=tile * p * itemsize)
    return calls, budget


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kernel", KERNELS)
def test_two_stage_large_d_gradient(kernel, dtype, two_stage, triton_backend, device):
    # D = 150 > 128; P = 160 rows in chunks of one row tile of w (3 in the interpreter, 2 on
    # a GPU; the last one partial), each row tile's columns split over 5 programs
    calls, budget = two_stage
    x, y = _data(97, 63, 150, dtype=dtype, device=device)
    tol = 2e-6 if dtype == torch.float32 else TOL[dtype]["rtol"]
    tol_g = GRAD_TOL32.get(kernel, 2e-5) if dtype == torch.float32 else tol
    with budget(160, x.element_size()):
        _check_mmd(x, y, kernel, "unbiased" if kernel != "imq" else "biased", _bw(kernel, 150),
                   tol_v=tol, tol_g=tol_g, precision="ieee")
    assert calls == [(160, 150)]


@pytest.mark.parametrize("kernel", ["gaussian", "polynomial"])
def test_two_stage_pair_sum(kernel, two_stage, triton_backend, device):
    # pair sums visit only cross columns: the rest of each w row must read as 0
    calls, budget = two_stage
    a, b = _data(70, 75, 140, device=device)
    bw = _bw(kernel, 140)
    with budget(145, 4):
        check_op_vs_reference(
            lambda a, b: M.pair_sum(a, b, kernel=kernel, bandwidth=bw, precision="ieee"),
            lambda a, b: R.pair_sum(a, b, kernel=kernel, bandwidth=bw), (a, b),
            value_tol=1e-5, grad_tol=2e-5)
    assert len(calls) == 1


def test_two_stage_choice(monkeypatch):
    monkeypatch.delenv("FASTGAN_MMD_LARGE_D", raising=False)
    # auto: the GEMM from D >= _GEMM_MIN_D, chunks a multiple of the row tile within the
    # budget; too few rows per chunk (huge P) fall back to recomputation
    rows = launch.two_stage_rows
    default = M.LaunchConfig()
    assert rows(32768, 2048, 4, 64) == (1 << 30) // (32768 * 4)
    assert rows(32768, default.gemm_min_d - 1, 4, 64) == 0
    assert rows(100, 4096, 2, 64) == 128        # whole P, rounded up to tiles
    assert rows(4 << 20, 4096, 4, 64) == 0      # 64 rows per GiB: recompute
    assert rows(32768, 2048, 4, 64, M.LaunchConfig(large_d="recompute")) == 0
    with M.configure(large_d="gemm"):
        assert rows(32768, 200, 4, 64) == 8192
    # FASTGAN_MMD_LARGE_D picks the strategy when the configuration leaves it unset
    monkeypatch.setenv("FASTGAN_MMD_LARGE_D", "recompute")
    assert rows(32768, 2048, 4, 64) == 0
    monkeypatch.setenv("FASTGAN_MMD_LARGE_D", "GEMM")
    assert rows(32768, 200, 4, 64) == 8192
    monkeypatch.setenv("FASTGAN_MMD_LARGE_D", "fast")
    with pytest.raises(ValueError, match="FASTGAN_MMD_LARGE_D must be one of"):
        rows(32768, 200, 4, 64)
    with pytest.raises(ValueError, match="LaunchConfig.large_d must be"):
        M.LaunchConfig(large_d="fast")
    with pytest.raises(ValueError, match="LaunchConfig.w_budget must be"):
        M.LaunchConfig(w_budget=0)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kernel", ["gaussian", "polynomial", "energy"])
def test_half_inputs(kernel, dtype, backend, device):
    x, y = _data(45, 38, 9, dtype=dtype, device=device)
    tol = TOL[dtype]["rtol"]
    with fastgan.backend(backend):
        _check_mmd(x, y, kernel, "unbiased", _bw(kernel, 9), tol_v=tol, tol_g=tol)


def test_tf32_default_precision(device):
    # the default precision="tf32" (exact fp32 on CPU/interpreter; tf32 tensor cores on GPU)
    x, y = _data(70, 50, 16, device=device)
    with fastgan.backend("triton"):
        _check_mmd(x, y, "gaussian", "unbiased", _bw("gaussian", 16), tol_v=TOL["tf32"]["rtol"],
                   tol_g=TOL["tf32"]["rtol"])


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_non_contiguous_inputs(backend, device):
    x = torch.randn(40, 14, device=device)[:, ::2]           # (40, 7), column stride 2
    y = (torch.randn(7, 12, device=device) + 0.5).T          # (12, 7), strides (1, 12)
    assert not x.is_contiguous() and not y.is_contiguous()
    x.requires_grad_()
    xc = x.detach().contiguous().requires_grad_()
    with fastgan.backend(backend):
        a = fastgan.mmd(x, y, precision="ieee")
        b = fastgan.mmd(xc, y.contiguous(), precision="ieee")
    assert_rel(a, b, 1e-6)
    assert_rel(a, R.mmd(x.double(), y.double()), 1e-5)
    (ga,) = torch.autograd.grad(a, x)
    (gb,) = torch.autograd.grad(b, xc)
    assert ga.shape == x.shape
    assert_rel(ga, gb, 1e-6)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_sums(kernel, backend, device):
    x, y = _data(33, 20, 5, device=device)
    for est in ESTIMATORS:
        with fastgan.backend(backend):
            sums = fastgan.kernel_sums(x, y, kernel=kernel, bandwidth=_bw(kernel, 5),
                                       estimator=est, precision="ieee")
        ref = R.kernel_sums(x.double(), y.double(), kernel=kernel, bandwidth=_bw(kernel, 5),
                            estimator=est)
        for name, a, b in zip(("xx", "yy", "xy"), sums, ref):
            assert a.dtype == torch.float64
            assert_rel(a, b, 1e-5, f"{est} sum_{name}")


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_pair_sum(kernel, backend, device):
    # the interpreter's 64-row tiles: rows 0-63 only X (Y columns only), 64-127 mixed,
    # 128-144 only Y (X columns only)
    a, b = _data(70, 75, 3, device=device)
    bw = _bw(kernel, 3)
    with fastgan.backend(backend):
        check_op_vs_reference(
            lambda a, b: M.pair_sum(a, b, kernel=kernel, bandwidth=bw, precision="ieee"),
            lambda a, b: R.pair_sum(a, b, kernel=kernel, bandwidth=bw), (a, b),
            value_tol=1e-5, grad_tol=GRAD_TOL32.get(kernel, 2e-5), grad_output=0.5)
        # without gradient only the a×b block runs (Y-only row tiles skip all columns)
        out_ng = M.pair_sum(a, b, kernel=kernel, bandwidth=bw, precision="ieee")
    assert_rel(out_ng, R.pair_sum(a.double(), b.double(), kernel=kernel, bandwidth=bw), 1e-5)


def test_pair_sum_sharded_mmd_and_empty():
    # the trainer's use: MMD² assembled from pair sums of shards equals mmd()
    x, y = _data(20, 14, 3, dtype=torch.float64)
    bw = [1.0, 2.0]
    with fastgan.backend("torch"):
        sxx = sum(M.pair_sum(xs, x, bandwidth=bw) for xs in x.split(7)) - 20
        syy = sum(M.pair_sum(ys, y, bandwidth=bw) for ys in y.split(5)) - 14
        sxy = sum(M.pair_sum(xs, y, bandwidth=bw) for xs in x.split(6))
        full = fastgan.mmd(x, y, bandwidth=bw)
        empty = M.pair_sum(x[:0], y, bandwidth=bw)
    # k(0) = 1 per σ: the diagonal of a mixture of 2 is 2 per row
    sxx, syy = sxx - 20, syy - 14
    assembled = sxx / (20 * 19) + syy / (14 * 13) - 2 * sxy / (20 * 14)
    assert_rel(assembled, full, 1e-12)
    assert empty.item() == 0.0 and empty.shape == ()
    with pytest.raises(ValueError, match="bandwidth"):
        M.pair_sum(x, y, bandwidth="median")


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_median_bandwidth(backend, device):
    x, y = _data(40, 31, 6, device=device)
    sigma = M.median_bandwidth(x, y)
    z = torch.cat([x, y]).double()
    dist = torch.pdist(z)
    assert sigma.item() == pytest.approx(dist.sort().values[(dist.numel() - 1) // 2].item(),
                                         rel=1e-5)
    with fastgan.backend(backend):
        out = fastgan.mmd(x, y, bandwidth="median", precision="ieee")
    ref = R.mmd(x.double(), y.double(), bandwidth=sigma.item())
    assert_rel(out, ref, 1e-5)


def test_median_bandwidth_subsample_is_deterministic(monkeypatch):
    x = torch.randn(130, 2)
    y = torch.randn(170, 2)
    with M.configure(median_cap=100):  # 4096 by default
        a = M.median_bandwidth(x, y)
        b = M.median_bandwidth(x, y)
    assert a.item() == b.item()
    z = torch.cat([x, y])[torch.linspace(0, 299, 100).long()].double()
    d = torch.pdist(z)
    assert a.item() == pytest.approx(d.sort().values[(d.numel() - 1) // 2].item(), rel=1e-5)
    full = torch.pdist(torch.cat([x, y]).double())
    assert a.item() != pytest.approx(full.sort().values[(full.numel() - 1) // 2].item(), rel=1e-7)


def _record_addmm_shapes(monkeypatch) -> list:
    """From now on (until monkeypatch undoes it) the shape of every torch.addmm result is
    appended to the returned list: the PyTorch path's distance block per chunk."""
    seen = []
    orig = torch.addmm

    def spy(*args, **kw):
        out = orig(*args, **kw)
        seen.append(tuple(out.shape))
        return out

    monkeypatch.setattr(torch, "addmm", spy)
    return seen


@pytest.mark.parametrize("budget", [64, 2000])
def test_torch_path_chunks(monkeypatch, budget):
    # a small budget forces row chunks: still the float64 reference, and every temporary is
    # O(chunk·P)
    x, y = _data(50, 41, 3, dtype=torch.float64)
    xr, yr = x.clone().requires_grad_(), y.clone().requires_grad_()
    ref = R.mmd(xr, yr, kernel="imq", bandwidth=[1.5, 0.7])
    gref = torch.autograd.grad(ref, (xr, yr))
    sums_ref = R.kernel_sums(x, y, kernel="laplacian")
    with fastgan.backend("torch"), M.configure(torch_budget=budget):
        seen = _record_addmm_shapes(monkeypatch)  # the distance block of each chunk
        out = fastgan.mmd(xr, yr, kernel="imq", bandwidth=[1.5, 0.7])
        g = torch.autograd.grad(out, (xr, yr))
        sums = fastgan.kernel_sums(x, y, kernel="laplacian")
        monkeypatch.undo()
    assert_rel(out, ref, 1e-12)
    for a, b in zip(g, gref):
        assert_rel(a, b, 1e-12)
    for a, b in zip(sums, sums_ref):
        assert_rel(a, b, 1e-12)
    # the upper triangle: a chunk starting at row r takes the columns r .. 90, as many rows
    # as the budget allows at that width; chunks never straddle the X/Y boundary (row 50)
    one, r = [], 0
    while r < 91:
        h = min((50 if r < 50 else 91) - r, max(1, budget // (91 - r)))
        one.append((h, 91 - r))
        r += h
    assert seen == 2 * one  # mmd, then kernel_sums
    assert sum(h * w for h, w in one) < 0.5 * 91 * 91 + 91 * max(h for h, _ in one)


def test_torch_path_one_chunk_when_small(monkeypatch):
    # (N + M)² within the budget: one distance block per sample: X rows against all N + M
    # columns, Y rows against Y (the triangle at one chunk per block); pair_sum only the
    # cross block
    x, y = _data(30, 20, 2)
    seen = _record_addmm_shapes(monkeypatch)
    with fastgan.backend("torch"):
        fastgan.mmd(x, y)
        M.pair_sum(x, y)
    assert seen == [(30, 50), (20, 20), (30, 20)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", [(129, 127, 3), (70, 75, 4), (2, 3, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_no_grad_triangular_pass(shape, kernel, triton_backend, device):
    # without the gradient each row takes only the columns q >= p (doubling X×X and Y×Y
    # pairs off the diagonal): over several 64-row tiles, one straddling row N
    n, m, d = shape
    x, y = _data(n, m, d, device=device)
    bw = _bw(kernel, d)
    for est in ESTIMATORS:
        sums = fastgan.kernel_sums(x, y, kernel=kernel, bandwidth=bw, estimator=est,
                                   precision="ieee")
        ref = R.kernel_sums(x.double(), y.double(), kernel=kernel, bandwidth=bw,
                            estimator=est)
        for name, a, b in zip(("xx", "yy", "xy"), sums, ref):
            assert_rel(a, b, 1e-5, f"{est} sum_{name}")
        with torch.no_grad():
            v = fastgan.mmd(x, y, kernel=kernel, bandwidth=bw, estimator=est,
                            precision="ieee")
        want = R.mmd(x.double(), y.double(), kernel=kernel, bandwidth=bw, estimator=est)
        assert_within_terms(v, want, _scale(x, y, kernel, bw, est), 2e-6, est)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_deterministic_and_no_grad(backend, device):
    x, y = _data(60, 45, 5, device=device)
    with fastgan.backend(backend):
        a = fastgan.mmd(x, y)
        b = fastgan.mmd(x, y)
        with torch.no_grad():
            xg = x.clone().requires_grad_()
            c = fastgan.mmd(xg, y)
    assert a.item() == b.item() == c.item()
    assert not c.requires_grad


def test_gradient_in_forward_only_when_needed(monkeypatch):
    calls = []
    orig = op_module.torch_fused

    def spy(*args, **kw):
        calls.append(args[-1])
        return orig(*args, **kw)

    monkeypatch.setattr(op_module, "torch_fused", spy)  # a spy on the dispatch
    x, y = _data(10, 12, 2)
    with fastgan.backend("torch"):
        fastgan.mmd(x, y)
        fastgan.mmd(x.requires_grad_(), y)
    assert calls == [False, True]


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_saved_gradient_is_not_scaled_in_place(backend, device):
    # backward scales the gradient saved by the forward: a second backward through the same
    # graph (another grad_output) must see it unchanged
    x, y = _data(12, 9, 3, device=device)
    x.requires_grad_()
    y.requires_grad_()
    with fastgan.backend(backend):
        out = fastgan.mmd(x, y, kernel="imq", bandwidth=1.3, precision="ieee")
    g1 = torch.autograd.grad(out, (x, y), grad_outputs=torch.tensor(3.0, device=out.device),
                             retain_graph=True)
    g2 = torch.autograd.grad(out, (x, y), grad_outputs=torch.tensor(-0.5, device=out.device))
    for a, b in zip(g1, g2):
        assert_rel(a, -6.0 * b, 1e-6)
    xr, yr = leaf64(x), leaf64(y)
    gr = torch.autograd.grad(R.mmd(xr, yr, kernel="imq", bandwidth=1.3), (xr, yr))
    for a, b in zip(g2, gr):
        assert_rel(a, -0.5 * b, 2e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_gradcheck_reference(kernel):
    x, y = _data(5, 4, 3, dtype=torch.float64)
    x.requires_grad_()
    y.requires_grad_()
    for est in ESTIMATORS:
        assert torch.autograd.gradcheck(
            lambda a, b: R.mmd(a, b, kernel=kernel, bandwidth=[0.8, 1.7], estimator=est), (x, y))


def test_gradcheck_fused_torch_path():
    x, y = _data(6, 5, 2, dtype=torch.float64)
    x.requires_grad_()
    y.requires_grad_()
    with fastgan.backend("torch"):
        assert torch.autograd.gradcheck(lambda a, b: fastgan.mmd(a, b, bandwidth=[0.9, 2.0]),
                                        (x, y))


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_torch_compile_fullgraph(backend, device):
    x, y = _data(24, 19, 3, device=device)

    def loss(a, b):
        return fastgan.mmd(a * 1.0, b, bandwidth="median", precision="ieee") \
            + 0.5 * M.pair_sum(a, b, kernel="imq", bandwidth=[1.0, 2.0], precision="ieee")

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    with fastgan.backend(backend):
        xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
        xb, yb = x.clone().requires_grad_(), y.clone().requires_grad_()
        out_c = compiled(xa, ya)
        out_e = loss(xb, yb)
        (out_c * 2).backward()
        (out_e * 2).backward()
    assert_rel(out_c, out_e, 1e-6)
    assert_rel(xa.grad, xb.grad, 1e-6)
    assert_rel(ya.grad, yb.grad, 1e-6)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_nan_policy_propagates(backend, device):
    x, y = _data(20, 15, 3, device=device)
    x[3, 1] = float("nan")
    with fastgan.backend(backend):
        for kernel in ("gaussian", "polynomial"):
            assert math.isnan(fastgan.mmd(x, y, kernel=kernel).item())
        y2 = y.clone()
        y2[0, 0] = float("inf")
        x2 = x.nan_to_num()
        x2[5, 2] = -float("inf")
        for kernel in KERNELS:  # ±inf: NaN too, not ±inf, whatever the kernel
            assert math.isnan(fastgan.mmd(x.nan_to_num(), y2, kernel=kernel).item()), kernel
            assert math.isnan(fastgan.mmd(x2, y, kernel=kernel, estimator="biased").item()), \
                kernel


def test_duplicate_points_zero_gradient_for_singular_kernels():
    x = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    for backend in ("torch", "triton"):
        with fastgan.backend(backend):
            for kernel in ("laplacian", "energy"):
                out = fastgan.mmd(x, y, kernel=kernel, estimator="biased")
                (g,) = torch.autograd.grad(out, x)
                assert torch.isfinite(g).all()
                xr = x.detach().clone().requires_grad_()
                (gr,) = torch.autograd.grad(R.mmd(xr, y, kernel=kernel, estimator="biased"), xr)
                assert_rel(g, gr, 1e-5)


def test_energy_is_energy_distance():
    x, y = _data(30, 25, 2, dtype=torch.float64)
    e = 2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean()
    with fastgan.backend("torch"):
        out = fastgan.mmd(x, y, kernel="energy", estimator="biased")
    assert_rel(out, e, 1e-8)  # √ of expanded distances: ~1e-10 relative, not 1e-16


def test_gaussian_matches_direct_formula():
    # guards the shared reference itself: exp(−‖x−y‖²/(2σ²)) from explicit differences
    x, y = _data(9, 7, 3, dtype=torch.float64)
    s = 1.3
    kxy = torch.exp(-((x[:, None] - y[None]) ** 2).sum(-1) / (2 * s * s))
    kxx = torch.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * s * s))
    kyy = torch.exp(-((y[:, None] - y[None]) ** 2).sum(-1) / (2 * s * s))
    want = (kxx.sum() - 9) / 72 + (kyy.sum() - 7) / 42 - 2 * kxy.mean()
    assert_rel(R.mmd(x, y, bandwidth=s), want, 1e-12)
    with fastgan.backend("torch"):
        assert_rel(fastgan.mmd(x, y, bandwidth=s), want, 1e-12)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
def test_errors():
    x, y = torch.randn(5, 3), torch.randn(4, 3)
    with pytest.raises(ValueError, match="same number of features"):
        fastgan.mmd(x, torch.randn(4, 2))
    with pytest.raises(ValueError, match="x must be 2-D"):
        fastgan.mmd(torch.randn(5), y)
    with pytest.raises(ValueError, match="y must be 2-D"):
        fastgan.mmd(x, torch.randn(2, 2, 3))
    with pytest.raises(ValueError, match="x needs at least 2"):
        fastgan.mmd(x[:1], y)
    with pytest.raises(ValueError, match="y needs at least 2"):
        fastgan.mmd(x, y[:1])
    fastgan.mmd(x[:1], y[:1], estimator="biased")  # N = M = 1 is fine when biased
    with pytest.raises(ValueError, match="σ must be positive"):
        fastgan.mmd(x, y, bandwidth=0.0)
    with pytest.raises(ValueError, match="σ must be positive"):
        fastgan.mmd(x, y, bandwidth=[1.0, -2.0])
    with pytest.raises(ValueError, match="bandwidth"):
        fastgan.mmd(x, y, bandwidth=[])
    with pytest.raises(ValueError, match="bandwidth"):
        fastgan.mmd(x, y, bandwidth="mean")
    with pytest.raises(ValueError, match="unknown kernel 'rbf'"):
        fastgan.mmd(x, y, kernel="rbf")
    with pytest.raises(ValueError, match="estimator"):
        fastgan.mmd(x, y, estimator="linear")
    with pytest.raises(ValueError, match="degree"):
        fastgan.mmd(x, y, kernel="polynomial", degree=0)
    with pytest.raises(ValueError, match="precision"):
        fastgan.mmd(x, y, precision="fp8")
    with pytest.raises(TypeError, match="same dtype"):
        fastgan.mmd(x, y.double())
    with pytest.raises(TypeError, match="x must be float32"):
        fastgan.mmd(x.long(), y.long())
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        fastgan.mmd(x, y.tolist())
    with pytest.raises(ValueError, match="same device"):
        fastgan.mmd(x, y.to("meta"))
    with pytest.raises(ValueError, match="a and b must have the same number of features"):
        M.pair_sum(x, torch.randn(3, 4))
    with pytest.raises(ValueError, match="estimator"):
        fastgan.kernel_sums(x, y, estimator="none")


def test_reference_rejects_unknown_kernel():
    with pytest.raises(ValueError, match="unknown kernel"):
        R.mmd(torch.randn(3, 2), torch.randn(3, 2), kernel="rbf")


@pytest.mark.parametrize("bw", [[1.0, 2.0, 4.0, 8.0], [0.7, 1.9], [3.0, 3.0 / math.sqrt(2)]],
                         ids=["squarings", "exps", "sqrt2"])
def test_gaussian_mixture_paths(bw, triton_backend, device):
    # σ spaced by powers of √2 take one exp2 and squarings; other mixtures one exp2 per σ
    want = {4: 0b1010101, 2: 0 if bw[0] == 0.7 else 0b11}[len(bw)]
    assert checks.square_mask("gaussian", bw) == want
    x, y = _data(40, 35, 2, device=device)
    _check_mmd(x, y, "gaussian", "biased", bw, tol_v=2e-6, tol_g=2e-5, precision="ieee")


_SM90_SCRIPT = r"""
from fastgan.kernels.mmd import mmd_fused_kernel as K, mmd_grad_gemm_kernel as G
sig = {"z_ptr": "*%s", "sq_ptr": "*fp32", "idx_ptr": "*i32", "c_ptr": "*fp32", "rows_ptr": "*fp32",
       "grad_ptr": "*fp32", "wsum_ptr": "*fp32", "N": "i32", "P": "i32", "D": "i32",
       "tile0": "i32", "n_split": "i32", "stride_zp": "i32", "stride_zd": "i32",
       "stride_ib": "i32", "stride_rb": "i32", "stride_gp": "i32", "stride_wr": "i32",
       "wA": "fp32", "wB": "fp32", "wC": "fp32", "gamma": "fp32", "coef": "fp32"}
for dt, kern, grad, single, sqm, cross, idx, ww in [
        ("fp32", 0, True, True, 0b101, False, False, False),
        ("bf16", 4, True, False, 0, True, False, False),
        ("fp32", 3, False, False, 0, False, True, False),
        ("fp16", 1, False, True, 0, True, False, False),
        ("fp32", 0, False, True, 0b11, False, False, False),
        ("fp32", 0, True, False, 0b11, False, False, True),
        ("bf16", 3, True, False, 0, True, False, True),
        ("fp16", 2, True, True, 0, False, False, False),
        ("fp16", 0, True, False, 0b11, False, False, True)]:
    c = dict(KERNEL=kern, NSIG=2, DEGREE=3, SQUARE_MASK=sqm,
             SQUARE_TOP=max(0, sqm.bit_length() - 1),
             EXCLUDE_DIAG=True, CROSS_ONLY=cross, USE_IDX=idx, COMPUTE_GRAD=grad, WRITE_W=ww,
             PRECISION="tf32", BLOCK_M=64, BLOCK_N=32, BLOCK_K=64,
             BLOCK_DV=64 if single else 128, SINGLE_K=single, UPCAST=False)
    types = dict(sig, z_ptr="*" + dt, w_ptr="*" + dt)
    build(K, types.__getitem__, c, cc=90, num_warps=8)
for dt, bk in [("fp32", 32), ("bf16", 64)]:
    types = dict(w_ptr="*" + dt, z_ptr="*" + dt, wsum_ptr="*fp32", grad_ptr="*fp32")
    for poly in (False, True):
        build(G, lambda n: types.get(n, "i32"),
              dict(POLY=poly, PRECISION="tf32", BLOCK_M=128, BLOCK_N=128, BLOCK_K=bk,
                   GROUP_M=8, UPCAST=False), cc=90, num_warps=8)
print("compiled")
"""


def test_kernel_compiles_for_sm90():
    # The interpreter does not run Triton's compiler front end; compile (no GPU needed) for an
    # H100 so a kernel that only the interpreter accepts fails here, not on the GPU machines.
    r = compile_for_gpu(_SM90_SCRIPT)
    assert r.returncode == 0 and "compiled" in r.stdout, r.stderr[-3000:]


@pytest.mark.gpu
def test_gpu_large_batch_streams_in_linear_memory():
    x = torch.randn(20000, 64, device="cuda", requires_grad=True)
    y = torch.randn(20000, 64, device="cuda") + 0.1
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    loss = fastgan.mmd(x, y, bandwidth=[4.0, 8.0, 16.0])
    loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    assert peak < 64 * 2 ** 20, f"peak {peak / 2 ** 20:.0f} MiB; a dense Gram would take 1.6 GiB"
    sub = slice(0, 2000)
    assert torch.isfinite(loss) and torch.isfinite(x.grad[sub]).all()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,precision,tol", [(torch.float32, "tf32", 3e-3),
                                                 (torch.float32, "ieee", 1e-5),
                                                 (torch.bfloat16, "tf32", 2e-2)])
@pytest.mark.parametrize("d", [16, 100, 2048])
def test_gpu_vs_reference(d, dtype, precision, tol):
    x, y = _data(1000, 700, d, dtype=dtype, device="cuda")
    bw = [math.sqrt(d), 2 * math.sqrt(d)]
    _check_mmd(x, y, "gaussian", "unbiased", bw, tol_v=tol, tol_g=tol * 10, precision=precision)


@pytest.mark.gpu
@pytest.mark.parametrize("strategy", ["recompute", "gemm"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 3e-3), (torch.bfloat16, 2e-2)])
def test_gpu_large_d_strategies(strategy, dtype, tol, monkeypatch):
    # both D > 128 gradient paths on the tensor cores, whatever "auto" would pick
    x, y = _data(1500, 1100, 1000, dtype=dtype, device="cuda")
    bw = [math.sqrt(1000), 2 * math.sqrt(1000)]
    with M.configure(large_d=strategy):
        _check_mmd(x, y, "gaussian", "unbiased", bw, tol_v=tol, tol_g=tol * 10)


@pytest.mark.gpu
def test_gpu_two_stage_memory_is_one_chunk_of_w(monkeypatch):
    # P = 40000 rows, D = 512: w comes in chunks of at most w_budget bytes, never P × P
    x = torch.randn(20000, 512, device="cuda", requires_grad=True)
    y = torch.randn(20000, 512, device="cuda") + 0.1
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with M.configure(w_budget=256 << 20):
        loss = fastgan.mmd(x, y, bandwidth=[16.0, 32.0])
        loss.backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    limit = (256 << 20) + 8 * 40000 * 512 * 4
    assert peak < limit, f"peak {peak / 2 ** 20:.0f} MiB > {limit / 2 ** 20:.0f} MiB"
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("d", [9, 150])
@pytest.mark.parametrize("kernel", ["gaussian", "polynomial"])
def test_fp16_tiny_weights_do_not_flush(kernel, d, triton_backend, device):
    # ω ≈ 1/N² is below fp16's smallest subnormal from N ≈ 4000 on: for fp16 rows the
    # gradient weights w = ω·f' stay fp32 (never cast to fp16), in the fused pass and in the
    # two-stage path (D = 150)
    x, y = _data(45, 38, d, dtype=torch.float16, device=device)
    w = (3e-9, 2e-9, -2.5e-9)
    bw = _bw(kernel, d)
    sig = checks.sigma_list(bw, False) if kernel != "polynomial" else None
    consts = checks.kernel_consts(kernel, sig, device)
    g = 1.0 / d
    with M.configure(large_d="gemm", w_min_rows=1):
        _, _, gx, gy = torch.ops.fastgan.mmd_fused(
            x, y, consts, kernel=M.KERNELS[kernel], degree=3, gamma=g, coef=1.0, weights=list(w),
            exclude_diag=True, cross_only=False, compute_grad=True, precision="ieee",
            square_mask=0)
    xr, yr = leaf64(x), leaf64(y)
    sxx, syy, sxy = R.kernel_sums(xr, yr, kernel=kernel, bandwidth=bw, gamma=g)
    ref = w[0] * sxx + w[1] * syy + 2 * w[2] * sxy
    for a, b in zip((gx, gy), torch.autograd.grad(ref, (xr, yr))):
        assert_rel(a, b, TOL[torch.float16]["rtol"], "gradient")


def _max_rel(g, ref):
    return float((g.double().cpu() - ref).abs().max() / ref.abs().max())


@pytest.mark.parametrize("case", ["biased-bf16", "biased-bf16-two-stage", "lopsided-fp16",
                                  "tiny-sigma-fp16"])
def test_half_precision_gradient_edge_cases(case, triton_backend, device, monkeypatch):
    # biased: w_pp = ω f'(0) on the diagonal must not be rounded into the dot and cancelled
    # against an fp32 Σ w (points far apart for σ: 5-14% error before); fp16: ω from 1/N² to
    # 1/M² (N ≪ M) and f' up to 1/(2σ²) (σ tiny) span more than fp16's range, so w stays
    # fp32 for fp16 rows (1.6e-2 and 6e-2 errors before)
    torch.manual_seed(0)
    config = None
    kw, gout = dict(bandwidth=1.5, estimator="biased"), 1.0
    if case.startswith("biased"):
        d = 150 if case.endswith("two-stage") else 100
        if case.endswith("two-stage"):
            config = M.LaunchConfig(large_d="gemm", w_min_rows=1)
        x = torch.randn(2, d) * 3.0 / math.sqrt(d)
        y = torch.randn(2, d) * 3.6 / math.sqrt(d) + 0.3 / math.sqrt(d)
        dtype, tol = torch.bfloat16, 2e-2
    elif case == "lopsided-fp16":
        x, y = torch.randn(2, 8) * 0.8, torch.randn(298, 8) * 0.8 + 0.1
        kw, gout, dtype, tol = dict(bandwidth=10.0, estimator="unbiased"), 1024.0, torch.float16, 1e-2
    else:
        x, y = torch.randn(40, 4) * 0.002, torch.randn(40, 4) * 0.002 + 0.0006
        kw, gout, dtype, tol = dict(bandwidth=0.002), 2.0 ** -10, torch.float16, 1e-2
    x, y = x.to(dtype), y.to(dtype)
    xr, yr = leaf64(x), leaf64(y)
    rgx, rgy = torch.autograd.grad(R.mmd(xr, yr, **kw), (xr, yr))
    xt, yt = x.to(device).requires_grad_(), y.to(device).requires_grad_()
    with M.configure(config):
        out = fastgan.mmd(xt, yt, precision="ieee", **kw)
        gx, gy = torch.autograd.grad(out, (xt, yt), grad_outputs=torch.tensor(
            gout, device=device, dtype=out.dtype))
    assert gx.dtype == dtype
    assert _max_rel(gx.float() / gout, rgx) < tol and _max_rel(gy.float() / gout, rgy) < tol


def test_wide_gaussian_mixtures_skip_the_squarings():
    # each squaring doubles exp2's relative error: at most 8 (σ_max/σ ≤ 16)
    assert checks.square_mask("gaussian", [1.0, 16.0]) == 0b100000001
    assert checks.square_mask("gaussian", [1.0, 32.0]) == 0
    assert checks.square_mask("gaussian", [1.0, 2.0, 64.0]) == 0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the interpreter's numpy
@pytest.mark.parametrize("grad", [False, True])
def test_pair_sum_ignores_overflowing_same_sample_pairs(grad, triton_backend, device):
    # pair sums visit same-sample pairs in the row tiles straddling the samples; their kernel
    # values may overflow (here (γ⟨a, a'⟩ + 1)^12 with ⟨a, a'⟩ = 1800) and have weight 0
    a = torch.randn(70, 2, dtype=torch.float64)
    a[66:68] = 30.0  # in the row tile that straddles the samples (64 or 128 rows)
    b = torch.randn(75, 2, dtype=torch.float64)
    kw = dict(kernel="polynomial", degree=12, gamma=1.0, coef=1.0)
    ref = R.pair_sum(a, b, **kw)
    at = a.float().to(device).requires_grad_(grad)
    out = M.pair_sum(at, b.float().to(device), precision="ieee", **kw)
    assert_rel(out, ref, 1e-5)
    if grad:
        (g,) = torch.autograd.grad(out, at)
        assert torch.isfinite(g).all()


# ----------------------------------------------------------------------------------------------
# second derivatives, extreme scales and small silent cases (each failed before its fix)
# ----------------------------------------------------------------------------------------------
def _penalty_grad(fn, x, y):
    """∂/∂x of ‖∂fn/∂x‖²: what a gradient penalty on an MMD critic backpropagates."""
    (g,) = torch.autograd.grad(fn(x, y), x, create_graph=True)
    (h,) = torch.autograd.grad((g ** 2).sum(), x)
    return h


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_mmd_second_derivative_matches_reference(kernel, estimator, backend, device):
    x, y = _data(23, 17, 3, device=device)
    bw = _bw(kernel, 3)
    xt, xr = x.clone().requires_grad_(), leaf64(x)
    with fastgan.backend(backend):
        h = _penalty_grad(lambda a, b: fastgan.mmd(a, b, kernel=kernel, bandwidth=bw,
                                                   estimator=estimator, precision="ieee"), xt, y)
    href = _penalty_grad(lambda a, b: R.mmd(a, b, kernel=kernel, bandwidth=bw,
                                            estimator=estimator), xr, y.double().cpu())
    assert href.abs().max() > 0
    assert_rel(h, href, 1e-4, "second derivative")


@pytest.mark.parametrize("kernel", KERNELS)
def test_mmd_and_pair_sum_gradgradcheck(kernel):
    x, y = _data(6, 5, 2, dtype=torch.float64)
    x.requires_grad_()
    y.requires_grad_()
    bw = _bw(kernel, 2)
    with fastgan.backend("torch"):
        for est in ESTIMATORS:
            assert torch.autograd.gradgradcheck(
                lambda a, b: fastgan.mmd(a, b, kernel=kernel, bandwidth=bw, estimator=est),
                (x, y))
        assert torch.autograd.gradgradcheck(
            lambda a, b: M.pair_sum(a, b, kernel=kernel, bandwidth=bw), (x, y))


def test_second_derivative_streams_in_chunks():
    # the double-backward graph holds O(P·chunk) per chunk, recomputed under checkpointing:
    # a tiny budget (many chunks) gives the same second derivative
    x, y = _data(30, 20, 3, dtype=torch.float64)
    fn = lambda a, b: fastgan.mmd(a, b, bandwidth=[1.0, 2.0])  # noqa: E731
    with fastgan.backend("torch"):
        whole = _penalty_grad(fn, x.clone().requires_grad_(), y)
        with M.configure(torch_budget=64):
            chunked = _penalty_grad(fn, x.clone().requires_grad_(), y)
    assert_rel(chunked, whole, 1e-12)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_float64_is_centred_before_the_cast(backend, device):
    # offset 1e3, spread 1e-3: casting before centring lost 2.4% of MMD² on the Triton path
    torch.manual_seed(1)
    x = (1e3 + 1e-3 * torch.randn(40, 3, dtype=torch.float64)).to(device)
    y = (1e3 + 1.3e-3 * torch.randn(30, 3, dtype=torch.float64) + 2e-4).to(device)
    with fastgan.backend(backend):
        out = fastgan.mmd(x, y, bandwidth=1e-3)
    ref = R.mmd(x.cpu(), y.cpu(), bandwidth=1e-3)
    assert_within_terms(out, ref, _scale(x, y, "gaussian", 1e-3, "unbiased"), 1e-5)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_polynomial_at_large_scale_is_finite(backend, device):
    # features of size 1e6: (γ⟨x, y⟩ + 1)³ ≈ 1e36 per pair overflowed float32 sums to ±inf
    # although MMD² itself fits; such values now run in float64
    torch.manual_seed(2)
    x = (torch.randn(20, 3, dtype=torch.float64) * 1e6).to(device)
    y = (torch.randn(15, 3, dtype=torch.float64) * 1e6 + 3e5).to(device)
    kw = dict(kernel="polynomial")
    with fastgan.backend(backend):
        check_op_vs_reference(lambda a, b: fastgan.mmd(a, b, **kw),
                              lambda a, b: R.mmd(a, b, **kw), (x.float(), y.float()),
                              value_tol=1e-5, grad_tol=1e-4,
                              terms=_scale(x, y, "polynomial", 1.0, "unbiased"))
        sums = fastgan.kernel_sums(x.float(), y.float(), **kw)
        ix = torch.stack([torch.randperm(20)[:10] for _ in range(3)]).to(device)
        iy = torch.stack([torch.randperm(15)[:10] for _ in range(3)]).to(device)
        sub = M.subset_kernel_sums(x.float(), y.float(), ix, iy, **kw)
    for a, b in zip(sums, R.kernel_sums(x.cpu(), y.cpu(), **kw)):
        assert torch.isfinite(a) and abs(a.item() - b.item()) <= 1e-5 * abs(b.item())
    for s in range(3):
        ref = R.kernel_sums(x[ix[s]].cpu(), y[iy[s]].cpu(), **kw)
        for a, b in zip(sub[s], ref):
            assert abs(a.item() - b.item()) <= 1e-5 * abs(b.item())


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_subset_kernel_sums_match_kernel_sums(backend, device):
    x, y = _data(40, 30, 4, device=device)
    ix = torch.stack([torch.randperm(40)[:12] for _ in range(4)]).to(device)
    iy = torch.stack([torch.randperm(30)[:9] for _ in range(4)]).to(device)
    for kernel in ("polynomial", "gaussian"):
        with fastgan.backend(backend):
            out = M.subset_kernel_sums(x, y, ix, iy, kernel=kernel, bandwidth=2.0)
        assert out.shape == (4, 3) and out.dtype == torch.float64
        for s in range(4):
            ref = R.kernel_sums(x[ix[s]].double().cpu(), y[iy[s]].double().cpu(),
                                kernel=kernel, bandwidth=2.0)
            for a, b in zip(out[s], ref):
                assert_rel(a, b, 1e-5)
    with pytest.raises(ValueError, match="x_idx holds indices outside"):
        M.subset_kernel_sums(x, y, ix + 40, iy)
    with pytest.raises(ValueError, match="same number of subsets"):
        M.subset_kernel_sums(x, y, ix, iy[:2])
    with pytest.raises(ValueError, match="y_idx must be a 2-D int64 tensor"):
        M.subset_kernel_sums(x, y, ix, iy.float())


def test_small_silent_cases_are_explicit():
    x, y = _data(5, 4, 2)
    nan = torch.full((1, 2), float("nan"))
    assert M.pair_sum(x[:0], nan).item() == 0.0  # the documented empty sum, not NaN
    for kernel in ("energy", "polynomial"):  # kernels that do not use σ still validate it
        with pytest.raises(ValueError, match="bandwidth σ must be positive"):
            fastgan.mmd(x, y, kernel=kernel, bandwidth=-1.0)
    np = pytest.importorskip("numpy")
    ref = fastgan.mmd(x, y, bandwidth=[0.5, 2.0])
    for bw in (np.array([0.5, 2.0]), [np.float32(0.5), np.float64(2.0)]):
        assert fastgan.mmd(x, y, bandwidth=bw).item() == ref.item()
    assert fastgan.mmd(x, y, bandwidth=np.float32(2.0)).item() == \
        fastgan.mmd(x, y, bandwidth=2.0).item()
    assert fastgan.mmd(x, y, kernel="polynomial", degree=np.int64(2), gamma=np.float64(0.5),
                       coef=np.float32(1.0)).item() == \
        fastgan.mmd(x, y, kernel="polynomial", degree=2, gamma=0.5, coef=1.0).item()
    meta = torch.empty(5, 2, device="meta")
    with pytest.raises(ValueError, match="meta tensors"):
        fastgan.mmd(meta, meta)
    with pytest.raises(ValueError, match="meta tensors"):
        fastgan.metrics.kid(meta, meta, subsets=2, subset_size=3)


@pytest.mark.interpreter
def test_interpreter_launches_from_threads():
    # Triton's interpreter is not thread-safe: launches are serialised, so threads that call
    # the Triton path at once all get the single-threaded answer
    import concurrent.futures

    x, y = _data(150, 100, 3)

    def run(_):
        with fastgan.backend("triton"):
            xt = x.clone().requires_grad_()
            value = fastgan.mmd(xt, y, bandwidth=[1.0, 2.0])
            value.backward()
            return value.item(), xt.grad.sum().item()

    want = run(0)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(run, range(12))) == [want] * 12

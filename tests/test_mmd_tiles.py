"""kernels/mmd.py's two tile paths: interior tiles (inside one block of ω, off the diagonal,
inside P: no per-pair masks, the gaussian's scale folded into ‖z‖² and the Gram) and masked
tiles (the diagonal, the X/Y boundary, the edges) must give the same MMD, sums and gradient
as the float64 reference. The interpreter's tiles are 64 rows × 32 columns, so N = 128,
M = 96 has interior tiles in every block (X×X, Y×Y, X×Y, Y×X, above and below the diagonal)
beside masked ones, and N = 100 puts the X/Y boundary inside a tile."""
import math

import pytest
import torch

import fastgan
import fastgan.reference as R
from fastgan.ops.mmd import launch
from helpers import assert_rel

pytestmark = pytest.mark.interpreter


def _data(n, m, d, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) * 1.2 + 0.3
    return x.float(), y.float()


CASES = [  # (kernel, bandwidth): one σ, a mixture spaced by 2 (squarings), a wide mixture
    ("gaussian", 2.0), ("gaussian", [1.0, 2.0, 4.0]), ("gaussian", [0.7, 3.1]),
    ("laplacian", 2.0), ("polynomial", None),
]


@pytest.mark.parametrize("kernel,bw", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("n,m", [(128, 96), (100, 96)])
def test_interior_and_masked_tiles_match_reference(kernel, bw, n, m, triton_backend):
    assert launch.INTERPRETER_BLOCKS[:2] == (64, 32)  # the geometry the shapes rely on
    d = 5
    x, y = _data(n, m, d, seed=n + len(str(bw)))
    kw = dict(kernel=kernel) if kernel == "polynomial" else dict(kernel=kernel, bandwidth=bw)
    if kernel == "polynomial":
        kw.update(degree=2, gamma=1.0 / d)
    for est in ("unbiased", "biased"):
        # the forward's triangle (no gradient): every sum
        sums = fastgan.kernel_sums(x, y, estimator=est, precision="ieee", **kw)
        ref = R.kernel_sums(x.double(), y.double(), estimator=est, **kw)
        for name, a, b in zip(("xx", "yy", "xy"), sums, ref):
            assert_rel(a, b, 2e-5, f"{est} sum_{name}")
        # the full pass with the gradient: value and gradient of both inputs
        xl, yl = x.clone().requires_grad_(), y.clone().requires_grad_()
        v = fastgan.mmd(xl, yl, estimator=est, precision="ieee", **kw)
        gx, gy = torch.autograd.grad(v, (xl, yl))
        x64, y64 = x.double().requires_grad_(), y.double().requires_grad_()
        w = R.mmd(x64, y64, estimator=est, **kw)
        wx, wy = torch.autograd.grad(w, (x64, y64))
        scale = sum(abs(float(t)) for t in ref) / min(n, m) ** 2 * 4
        v, w = float(v.detach()), float(w.detach())
        assert abs(v - w) <= 1e-5 * max(scale, abs(w)), (est, v, w)
        tol = 2e-4 if kernel == "laplacian" else 2e-5
        assert_rel(gx, wx, tol, f"{est} grad x")
        assert_rel(gy, wy, tol, f"{est} grad y")


def test_pair_sum_interior_tiles(triton_backend):
    # the cross sum alone (wA = wB = 0): the same-sample tiles have weight 0 and take the
    # masked path with the gradient, the cross tiles the interior one
    a, b = _data(128, 96, 4, seed=7)
    al, bl = a.clone().requires_grad_(), b.clone().requires_grad_()
    s = fastgan.pair_sum(al, bl, bandwidth=1.5, precision="ieee")
    ga, gb = torch.autograd.grad(s, (al, bl))
    a64, b64 = a.double().requires_grad_(), b.double().requires_grad_()
    r = R.pair_sum(a64, b64, bandwidth=1.5)
    ra, rb = torch.autograd.grad(r, (a64, b64))
    assert math.isclose(float(s.detach()), float(r.detach()), rel_tol=1e-5)
    assert_rel(ga, ra, 2e-5, "grad a")
    assert_rel(gb, rb, 2e-5, "grad b")

"""The MMD's CPU path (issue 18): chunk heights from the cache and N, one-sided gradients."""
import pytest
import torch

import fastgan
import fastgan.reference as R
from fastgan.ops import mmd as M
from fastgan.ops.mmd import config as C

from helpers import assert_rel


def test_chunk_rows_rule():
    cfg = C.LaunchConfig()
    cache = C.cpu_cache_elements()
    assert 1 << 16 <= cache <= 1 << 18
    assert C.cpu_chunk_rows(100, cfg) == cache // 100  # cache-sized while that is tall enough
    # at large N the height stops shrinking: each chunk reads all of Z once
    assert C.cpu_chunk_rows(1 << 20, cfg) == cfg.torch_min_rows == 64
    assert C.cpu_chunk_rows(1 << 20, C.LaunchConfig(torch_min_rows=8)) == 8
    # a configured budget fixes the height (what the tests use to force tiny chunks)
    assert C.cpu_chunk_rows(100, C.LaunchConfig(torch_budget=1000)) == 10
    assert C.cpu_chunk_rows(5000, C.LaunchConfig(torch_budget=1000)) == 1
    with M.configure(torch_budget=640):
        assert C.cpu_chunk_rows(64) == 10


@pytest.mark.parametrize("bad, match", [(0, "torch_budget must be None or an int >= 1"),
                                        (True, "torch_budget must be None or an int >= 1")])
def test_bad_budget(bad, match):
    with pytest.raises(ValueError, match=match):
        C.LaunchConfig(torch_budget=bad)
    with pytest.raises(ValueError, match="torch_min_rows must be an int >= 1"):
        C.LaunchConfig(torch_min_rows=0)


def _spy_rows(monkeypatch):
    seen = []
    real = torch.addmm

    def spy(inp, a, b, *args, **kwargs):
        seen.append(a.shape[0])
        return real(inp, a, b, *args, **kwargs)

    monkeypatch.setattr(torch, "addmm", spy)
    return seen


def test_default_chunks_follow_the_rule(monkeypatch):
    x, y = torch.randn(300, 3), torch.randn(200, 3)
    with fastgan.backend("torch"), M.configure(torch_min_rows=16):
        cache = C.cpu_cache_elements()
        monkeypatch.setattr(C, "cpu_cache_elements", lambda: 16 * 100)  # 16 rows at P = 100 columns
        seen = _spy_rows(monkeypatch)
        fastgan.kernel_sums(x, y)
        monkeypatch.undo()
    assert cache >= 1 << 16
    # the first chunk is 500 columns wide: 1600 // 500 = 3 < 16 rows, so 16 rows
    assert seen[0] == 16 and max(seen) <= 300


@pytest.mark.parametrize("kernel", ["gaussian", "polynomial", "laplacian"])
@pytest.mark.parametrize("side", ["x", "y"])
@pytest.mark.parametrize("budget", [None, 96])
def test_one_sided_gradient_matches_reference(kernel, side, budget):
    x = torch.randn(61, 4, dtype=torch.float64)
    y = torch.randn(47, 4, dtype=torch.float64) + 0.5
    xr, yr = x.clone().requires_grad_(side == "x"), y.clone().requires_grad_(side == "y")
    xs, ys = x.clone().requires_grad_(side == "x"), y.clone().requires_grad_(side == "y")
    with fastgan.backend("torch"), M.configure(torch_budget=budget):
        out = fastgan.mmd(xr, yr, kernel=kernel)
    ref = R.mmd(xs, ys, kernel=kernel)
    assert_rel(out, ref, 1e-12)
    (g,) = torch.autograd.grad(out, xr if side == "x" else yr)
    (gr,) = torch.autograd.grad(ref, xs if side == "x" else ys)
    assert_rel(g, gr, 1e-11)


def test_grad_mask_skips_the_other_side():
    x, y = torch.randn(40, 3, dtype=torch.float64), torch.randn(30, 3, dtype=torch.float64)
    consts = torch.tensor([-0.5 / 0.6931471805599453], dtype=torch.float64)
    args = dict(kernel=0, degree=3, gamma=1.0, coef=1.0, weights=[1.0, 1.0, -1.0], exclude_diag=True,
                cross_only=False, compute_grad=True, precision="ieee", square_mask=0)
    with fastgan.backend("torch"):
        _, _, gx, gy = torch.ops.fastgan.mmd_fused(x, y, consts, **args, grad_mask=3)
        _, _, gx1, gy1 = torch.ops.fastgan.mmd_fused(x, y, consts, **args, grad_mask=1)
        _, _, gx2, gy2 = torch.ops.fastgan.mmd_fused(x, y, consts, **args, grad_mask=2)
    assert gx.abs().max() > 0 and gy.abs().max() > 0
    assert torch.allclose(gx1, gx, rtol=1e-12, atol=1e-15) and not gy1.any()
    assert torch.allclose(gy2, gy, rtol=1e-12, atol=1e-15) and not gx2.any()


def test_workspace_is_reused_across_calls():
    from fastgan.ops.mmd.cpu import Workspace

    x, y = torch.randn(90, 6, requires_grad=True), torch.randn(70, 6)
    with fastgan.backend("torch"), M.configure(torch_budget=2000):
        first = fastgan.mmd(x, y, bandwidth=[0.5, 1.0, 2.0])
        (g1,) = torch.autograd.grad(first, x)
        ws = Workspace.get(160, 6, torch.float32, torch.device("cpu"))
        ptrs = {i: b.data_ptr() for i, b in ws._bufs.items()}
        second = fastgan.mmd(x, y, bandwidth=[0.5, 1.0, 2.0])
        (g2,) = torch.autograd.grad(second, x)
    assert set(ptrs) == {0, 1, 2, 3}  # distances, Σk, per-σ term, Σ gradient terms
    assert {i: b.data_ptr() for i, b in ws._bufs.items()} == ptrs  # nothing re-allocated
    assert torch.equal(first, second) and torch.equal(g1, g2)
    ref = R.mmd(x.detach().double().requires_grad_(), y.double(), bandwidth=[0.5, 1.0, 2.0])
    assert_rel(first, ref, 1e-5)

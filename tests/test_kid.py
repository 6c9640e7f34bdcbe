"""fastgan.metrics.kid against the dense reference (torchmetrics' definition) on the same
subsets, on both backends (the batched Triton launch runs in the interpreter on CPU)."""
import pytest
import torch

import fastgan
import fastgan.reference as R
from fastgan.metrics import kid, kid_subset_indices
from helpers import assert_rel


def _features(n_real, n_fake, d, device, dtype=torch.float32):
    real = torch.randn(n_real, d, dtype=torch.float64)
    fake = torch.randn(n_fake, d, dtype=torch.float64) * 1.1 + 0.2
    return real.to(device=device, dtype=dtype), fake.to(device=device, dtype=dtype)


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("shape", [(70, 53, 33, 7, 20), (40, 41, 3, 4, 37), (20, 25, 130, 3, 2)],
                         ids=["d33", "d3", "d130"])
def test_kid_vs_reference(shape, backend, device):
    n_real, n_fake, d, subsets, m = shape
    real, fake = _features(n_real, n_fake, d, device)
    ir, jf = kid_subset_indices(n_real, n_fake, subsets, m, generator=fastgan.Generator(11),
                                device=device)
    ref_mean, ref_std = R.kid(real.double(), fake.double(), ir, jf)
    with fastgan.backend(backend):
        mean, std = kid(real, fake, subsets=subsets, subset_size=m,
                        generator=fastgan.Generator(11))
    assert mean.dtype == std.dtype == torch.float32 and mean.shape == std.shape == ()
    # KID is a difference of kernel means of order 1: errors relative to that scale
    assert abs(mean.item() - ref_mean.item()) < 1e-5
    assert abs(std.item() - ref_std.item()) < 1e-5
    assert ref_std.item() > 0


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_kid_kernel_arguments_and_fp64(backend, device):
    real, fake = _features(30, 30, 5, device, dtype=torch.float64)
    ir, jf = kid_subset_indices(30, 30, 5, 10, generator=fastgan.Generator(3), device=device)
    ref = R.kid(real, fake, ir, jf, degree=2, gamma=0.3, coef=0.5)
    with fastgan.backend(backend):
        out = kid(real, fake, subsets=5, subset_size=10, degree=2, gamma=0.3, coef=0.5,
                  generator=fastgan.Generator(3))
    assert out[0].dtype == torch.float64
    tol = 1e-12 if backend == "torch" else 1e-6
    assert_rel(out[0], ref[0], tol)
    assert_rel(out[1], ref[1], tol)


def test_kid_matches_torchmetrics_formula():
    # the reference KID itself, written out as torchmetrics' poly_kernel + maximum_mean_discrepancy
    real, fake = _features(25, 22, 4, "cpu", dtype=torch.float64)
    ir, jf = kid_subset_indices(25, 22, 3, 9, generator=fastgan.Generator(1))
    scores = []
    for a, b in zip(ir, jf):
        f1, f2 = real[a], fake[b]
        k = lambda u, v: (u @ v.T / 4 + 1.0) ** 3  # noqa: E731
        kxx, kyy, kxy = k(f1, f1), k(f2, f2), k(f1, f2)
        m = 9
        v = ((kxx.sum() - kxx.diag().sum()) + (kyy.sum() - kyy.diag().sum())) / (m * (m - 1))
        scores.append(v - 2 * kxy.sum() / m ** 2)
    s = torch.stack(scores)
    mean, std = R.kid(real, fake, ir, jf)
    assert_rel(mean, s.mean(), 1e-12)
    assert_rel(std, s.std(unbiased=False), 1e-12)
    with fastgan.backend("torch"):
        out = kid(real, fake, subsets=3, subset_size=9, generator=fastgan.Generator(1))
    assert_rel(out[0], s.mean(), 1e-12)


def test_subsets_are_without_replacement_and_reproducible():
    ir, jf = kid_subset_indices(50, 30, 8, 30, generator=fastgan.Generator(5))
    assert ir.shape == jf.shape == (8, 30)
    for row in ir:
        assert row.unique().numel() == 30 and row.max() < 50
    for row in jf:  # subset_size = n_fake: each row is a permutation
        assert torch.equal(row.sort().values, torch.arange(30))
    assert not torch.equal(ir[0], ir[1])
    ir2, jf2 = kid_subset_indices(50, 30, 8, 30, generator=fastgan.Generator(5))
    assert torch.equal(ir, ir2) and torch.equal(jf, jf2)
    real, fake = _features(50, 30, 3, "cpu")
    g = fastgan.Generator(9)
    a = kid(real, fake, subsets=4, subset_size=10, generator=g)
    b = kid(real, fake, subsets=4, subset_size=10, generator=g)  # generator advanced
    c = kid(real, fake, subsets=4, subset_size=10, generator=fastgan.Generator(9))
    assert a[0].item() == c[0].item() and a[0].item() != b[0].item()


def test_kid_same_distribution_near_zero():
    real = torch.randn(400, 8)
    fake = torch.randn(400, 8)
    far = torch.randn(400, 8) + 1.0
    near, _ = kid(real, fake, subsets=10, subset_size=100)
    away, _ = kid(real, far, subsets=10, subset_size=100)
    assert abs(near.item()) < 0.05 < away.item()


def test_kid_is_one_batched_launch(triton_backend, device, monkeypatch):
    # all subsets in one launch of the fused kernel: grid axis 2 runs over the subsets
    import fastgan.kernels.mmd as K

    launches = []
    orig = K.mmd_fused_kernel

    class Spy:
        def __getitem__(self, grid):
            launches.append(grid)
            return orig[grid]

    monkeypatch.setattr(K, "mmd_fused_kernel", Spy())
    real, fake = _features(30, 26, 5, device)
    out = kid(real, fake, subsets=3, subset_size=8, generator=fastgan.Generator(4),
              precision="ieee")
    monkeypatch.undo()
    assert len(launches) == 1 and launches[0][2] == 3
    # the same Philox stream draws the same subsets on every device
    ir, jf = kid_subset_indices(30, 26, 3, 8, generator=fastgan.Generator(4))
    ref = R.kid(real.double().cpu(), fake.double().cpu(), ir, jf)
    assert abs(out[0].item() - ref[0].item()) < 1e-5


def test_kid_errors():
    real, fake = torch.randn(20, 4), torch.randn(15, 4)
    with pytest.raises(ValueError, match=r"subset_size \(16\) must not exceed"):
        kid(real, fake, subsets=2, subset_size=16)
    with pytest.raises(ValueError, match="subset_size must be >= 2"):
        kid(real, fake, subsets=2, subset_size=1)
    with pytest.raises(ValueError, match="subsets must be >= 1"):
        kid(real, fake, subsets=0, subset_size=5)
    with pytest.raises(TypeError, match="subset_size must be an int"):
        kid(real, fake, subsets=2, subset_size=5.0)
    with pytest.raises(ValueError, match="same number of features"):
        kid(real, torch.randn(15, 3), subsets=2, subset_size=5)
    with pytest.raises(ValueError, match="real_features must be 2-D"):
        kid(torch.randn(20), fake, subsets=2, subset_size=5)
    with pytest.raises(TypeError, match="same dtype"):
        kid(real, fake.double(), subsets=2, subset_size=5)
    with pytest.raises(ValueError, match="degree"):
        kid(real, fake, subsets=2, subset_size=5, degree=-1)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 1e-2)])
def test_gpu_kid_inception_size(dtype, tol):
    # Inception-sized features: D = 2048 streams over feature chunks in one batched launch
    real, fake = _features(3000, 2500, 2048, "cuda", dtype=dtype)
    ir, jf = kid_subset_indices(3000, 2500, 10, 1000, generator=fastgan.Generator(2),
                                device="cuda")
    ref_mean, ref_std = R.kid(real.double(), fake.double(), ir, jf)
    mean, std = kid(real, fake, subsets=10, subset_size=1000, generator=fastgan.Generator(2))
    scale = 1.0 + abs(ref_mean.item())
    assert abs(mean.item() - ref_mean.item()) < tol * scale
    assert abs(std.item() - ref_std.item()) < tol * scale

"""The metric classes KID and FID, their feature extractors, and their DDP sync.

KID must give exactly ``fastgan.metrics.kid`` on the same features and subsets; FID must equal
the scipy ``sqrtm`` formula that pytorch-fid and torch-fidelity use (to 1e-6 relative);
batched updates equal one update, and two gloo processes equal one process.
"""
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.linalg
import torch

import fastgan
from fastgan.metrics import FID, KID, InceptionV3Features, Pixels, fid, frechet_distance, kid, load_inception


def _scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    # the formula of pytorch-fid / torch-fidelity, written from its definition
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1 = np.atleast_2d(np.cov(real, rowvar=False))
    s2 = np.atleast_2d(np.cov(fake, rowvar=False))
    root = np.real(scipy.linalg.sqrtm(s1 @ s2))
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


@pytest.mark.parametrize("n,m,d", [(200, 150, 16), (60, 90, 5), (40, 40, 1)])
def test_fid_matches_scipy_sqrtm(n, m, d):
    real = torch.randn(n, d, dtype=torch.float64) @ torch.randn(d, d, dtype=torch.float64)
    fake = torch.randn(m, d, dtype=torch.float64) * 0.7 + 0.3
    ref = _scipy_fid(real.numpy(), fake.numpy())
    got = fid(real, fake)
    assert got.dtype == torch.float64 and got.dim() == 0
    assert abs(float(got) - ref) <= 1e-6 * abs(ref), (float(got), ref)
    got32 = fid(real.float(), fake.float())  # float32 features are accumulated in float64
    assert abs(float(got32) - ref) <= 1e-4 * abs(ref)


def test_fid_batched_updates_equal_one_update_and_moments():
    real = torch.randn(301, 7, dtype=torch.float64) * 3 + 100.0  # a large offset: no cancellation
    fake = torch.randn(157, 7, dtype=torch.float64)
    one = FID()
    one.update(real, real=True)
    one.update(fake, real=False)
    many = FID()
    for part in real.split(37):
        many.update(part, real=True)
    for part in fake.split(1):
        many.update(part, real=False)
    mom = many._moments["real"]
    torch.testing.assert_close(mom.mean, real.mean(0), rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(mom.m2 / (mom.n - 1), torch.cov(real.T), rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(many.compute(), one.compute(), rtol=1e-10, atol=1e-12)
    many.reset()
    with pytest.raises(ValueError, match="no real features yet"):
        many.compute()


def test_frechet_distance_closed_form_and_errors():
    # commuting covariances: Tr((Σ1Σ2)^½) = Σ sqrt(a_i b_i)
    a, b = torch.rand(5, dtype=torch.float64) + 0.1, torch.rand(5, dtype=torch.float64) + 0.1
    mu1, mu2 = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    expect = ((mu1 - mu2) ** 2).sum() + (a + b - 2 * (a * b).sqrt()).sum()
    torch.testing.assert_close(frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b)), expect)
    with pytest.raises(ValueError, match="sigma2 must be a 2-D tensor"):
        frechet_distance(mu1, torch.diag(a), mu2, b)
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(mu1, torch.diag(a), mu2[:3], torch.diag(b))


def test_kid_class_equals_kid_function_on_the_same_subsets():
    real = torch.randn(130, 9) * 1.2
    fake = torch.randn(110, 9) + 0.2
    m = KID(subsets=7, subset_size=40, degree=2, coef=0.5, seed=3)
    for part in real.split(50):
        m.update(part, real=True)
    for part in fake.split(33):
        m.update(part, real=False)
    mean, std = m.compute()
    ref_mean, ref_std = kid(real, fake, subsets=7, subset_size=40, degree=2, coef=0.5,
                            generator=fastgan.Generator(3))
    assert torch.equal(mean, ref_mean) and torch.equal(std, ref_std)
    one = KID(subsets=7, subset_size=40, degree=2, coef=0.5, seed=3)
    one.update(real, real=True)
    one.update(fake, real=False)
    assert torch.equal(torch.stack(one.compute()), torch.stack((mean, std)))


def test_kid_reservoir_is_bounded_uniform_and_of_seen_rows():
    cap, total = 200, 2000
    m = KID(subsets=2, subset_size=10, max_samples=cap, seed=1)
    rows = torch.arange(total, dtype=torch.float64)[:, None]
    for part in rows.split(130):
        m.update(part, real=True)
    kept = m._kept["real"][:, 0]
    assert kept.shape == (cap,)
    assert kept.unique().numel() == cap  # without replacement
    # the mean index of a uniform sample of 200 of 0..1999: 999.5 ± 41 (one σ)
    assert abs(float(kept.mean()) - 999.5) < 4 * 577.0 / cap ** 0.5
    # late rows are as likely as early ones
    assert 0.3 < float((kept >= total / 2).double().mean()) < 0.7
    # the same rows kept whatever the batches
    other = KID(subsets=2, subset_size=10, max_samples=cap, seed=1)
    for part in rows.split(7):
        other.update(part, real=True)
    assert torch.equal(other._kept["real"], m._kept["real"])
    one = KID(subsets=2, subset_size=10, max_samples=cap, seed=1)
    one.update(rows, real=True)
    assert torch.equal(one._kept["real"], m._kept["real"])


def test_metric_errors():
    with pytest.raises(TypeError, match="real must be True or False"):
        KID(subset_size=2).update(torch.randn(3, 2), real=1)
    with pytest.raises(ValueError, match="features must be"):
        FID().update(torch.randn(3, 2, 2), real=True)
    f = FID()
    f.update(torch.randn(4, 3), real=True)
    with pytest.raises(ValueError, match="dimension 2"):
        f.update(torch.randn(4, 2), real=True)
    f.update(torch.randn(1, 3), real=False)
    with pytest.raises(ValueError, match="fake side has 1 sample"):
        f.compute()
    k = KID(subset_size=2)
    k.update(torch.randn(4, 3), real=True)
    with pytest.raises(ValueError, match="earlier updates gave"):
        k.update(torch.randn(4, 3, dtype=torch.float64), real=True)
    with pytest.raises(ValueError, match="no fake features yet"):
        k.compute()
    with pytest.raises(ValueError, match=r"max_samples \(5\) must be >= subset_size \(10\)"):
        KID(subset_size=10, max_samples=5)
    with pytest.raises(TypeError, match="subsets must be an int"):
        KID(subsets=2.0)
    with pytest.raises(ValueError, match="feature_extractor must be"):
        FID("vgg")
    with pytest.raises(TypeError, match="feature_extractor must be"):
        FID(3)


def test_pixels_extractor_and_module_extractor():
    x = torch.rand(6, 3, 8, 8)
    torch.testing.assert_close(Pixels()(x), x.flatten(1))
    pooled = Pixels(size=2)(x)
    torch.testing.assert_close(pooled[:, 0], x[:, 0, :4, :4].mean((1, 2)))
    m = FID(Pixels(size=1))  # the same rows in another order: FID 0
    m.update(x, real=True)
    m.update(x.flip(0), real=False)
    assert float(m.compute()) == pytest.approx(0.0, abs=1e-10)
    m = FID("pixels")
    m.update(x[:, :1, :2, :2], real=True)
    assert m._moments["real"].mean.shape == (4,)
    lin = torch.nn.Linear(4, 3)
    k = KID(lin, subsets=2, subset_size=5)
    z = torch.randn(10, 4)
    k.update(z, real=True)
    k.update(z + 1, real=False)
    with torch.no_grad():
        ref = kid(lin(z), lin(z + 1), subsets=2, subset_size=5, generator=fastgan.Generator(0))
    assert torch.equal(torch.stack(k.compute()), torch.stack(ref))
    with pytest.raises(ValueError, match="Pixels"):
        Pixels(size=2)(torch.rand(4, 5))


def test_inception_architecture_and_weight_files(tmp_path):
    torch.manual_seed(1)
    net = InceptionV3Features()
    n_params = sum(p.numel() for p in net.parameters())
    # torchvision's inception_v3 has 27,161,264 parameters; less its fc (2048·1000 + 1000) and
    # its auxiliary head (98,304 + 256 + 2,457,600 + 1,536 + 769,000) that is 21,785,568
    assert n_params == 21_785_568
    x = torch.rand(2, 3, 40, 40)
    feats = net(x)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    assert net.train().training is False  # batch norm always uses its statistics
    # a state dict with the classifier pytorch-fid's file carries: fc.* is ignored
    state = dict(net.state_dict(), **{"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    torch.save(state, tmp_path / "w.pth")
    loaded = load_inception(tmp_path / "w.pth")
    torch.testing.assert_close(loaded(x), feats)
    (tmp_path / "junk.pth").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.pth.*not a readable torch state dict"):
        load_inception(tmp_path / "junk.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        load_inception(tmp_path / "list.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an Inception-v3 FID state dict"):
        load_inception(tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match="never downloads them.*pt_inception-2015-12-05"):
        load_inception(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net(torch.rand(2, 2, 8, 8))


def test_inception_string_reads_only_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FileNotFoundError, match="hub"):
        KID("inception")


WORKER = textwrap.dedent("""
    import os, sys
    import torch
    torch.set_num_threads(1)
    import torch.distributed as dist
    from fastgan.metrics import FID, KID
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    real, fake = torch.load(sys.argv[2])
    kid_m, fid_m = KID(subsets=5, subset_size=30, seed=2), FID()
    # unequal shares per rank on purpose
    cut_r, cut_f = 47, 21
    mine_r = real[:cut_r] if rank == 0 else real[cut_r:]
    mine_f = fake[:cut_f] if rank == 0 else fake[cut_f:]
    for m in (kid_m, fid_m):
        m.update(mine_r, real=True)
        m.update(mine_f, real=False)
    local = FID(sync=False)  # this rank's rows only, no collective (rank 1 never calls it)
    if rank == 0:
        local.update(mine_r, real=True)
        local.update(mine_f, real=False)
        local = local.compute()
    else:
        local = torch.zeros((), dtype=torch.float64)
    torch.save({"kid": torch.stack(kid_m.compute()), "fid": fid_m.compute(), "local": local},
               f"{sys.argv[1]}/rank{rank}.pt")
    dist.destroy_process_group()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_sync_with_gloo_equals_one_process(tmp_path):
    real = torch.randn(100, 6, dtype=torch.float64)
    fake = torch.randn(80, 6, dtype=torch.float64) + 0.3
    torch.save((real, fake), tmp_path / "data.pt")
    (tmp_path / "worker.py").write_text(WORKER)
    port = _free_port()
    extra = {"GLOO_SOCKET_IFNAME": "lo"} if os.path.exists("/sys/class/net/lo") else {}
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), str(tmp_path),
                               str(tmp_path / "data.pt")],
                              env=dict(os.environ, RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                                       MASTER_PORT=str(port), OMP_NUM_THREADS="1", **extra),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    try:
        outs = [p.communicate(timeout=180) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()  # reap it and close its pipes
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    kid_ref = torch.stack(kid(real, fake, subsets=5, subset_size=30, generator=fastgan.Generator(2)))
    fid_ref = fid(real, fake)
    for r in range(2):
        got = torch.load(tmp_path / f"rank{r}.pt")
        assert torch.equal(got["kid"], kid_ref), (r, got["kid"], kid_ref)
        torch.testing.assert_close(got["fid"], fid_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.load(tmp_path / "rank0.pt")["local"], fid(real[:47], fake[:21]),
                               rtol=1e-10, atol=1e-12)

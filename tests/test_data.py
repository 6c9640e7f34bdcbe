"""Built-in data sets: shapes, reproducible draws through fastgan.Generator, moments, errors."""
import math

import pytest
import torch

import fastgan
from fastgan import data


@pytest.mark.parametrize("name,dim", [("gauss1d", 1), ("ring", 2), ("grid", 2), ("digits", 64)])
def test_sample_shape_and_reproducible(name, dim):
    ds = data.load(name)
    assert ds.dim == dim
    g = fastgan.Generator(11)
    a = ds.sample(37, generator=g)
    b = ds.sample(37, generator=g)
    assert a.shape == (37, dim) and a.dtype == torch.float32
    assert not torch.equal(a, b)  # the stream advanced
    g2 = fastgan.Generator(11)
    assert torch.equal(ds.sample(37, generator=g2), a)
    s = g.get_state()
    c = ds.sample(5, generator=g)
    g.set_state(s)
    assert torch.equal(ds.sample(5, generator=g), c)


def test_gauss1d_moments():
    x = data.gauss1d(mean=-1.5, std=0.7).sample(20000, generator=fastgan.Generator(3)).double()
    assert abs(x.mean().item() + 1.5) < 4 * 0.7 / math.sqrt(20000)
    assert abs(x.std().item() - 0.7) < 0.02


@pytest.mark.parametrize("name,k,std", [("ring", 8, 0.02), ("grid", 25, 0.05)])
def test_mixture_geometry_and_balance(name, k, std):
    ds = data.load(name)
    assert ds.centers.shape == (k, 2) and ds.std == std
    if name == "ring":
        torch.testing.assert_close(ds.centers.norm(dim=1), torch.full((k,), 2.0))
    else:
        assert sorted(set(ds.centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x = ds.sample(8000, generator=fastgan.Generator(5))
    d, idx = torch.cdist(x, ds.centers).min(dim=1)
    assert (d < 5 * std).all()  # every sample is near its own mode
    counts = torch.bincount(idx, minlength=k).double()
    expected = 8000 / k
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    from scipy.stats import chi2 as chi2_dist

    assert chi2_dist.sf(chi2, k - 1) > 1e-4, counts


def test_held_out_fixed_and_distinct_from_training_draws():
    ds = data.ring()
    a, b = ds.held_out(300), ds.held_out(300)
    assert torch.equal(a, b) and a.shape == (300, 2)
    assert not torch.equal(a, ds.sample(300, generator=fastgan.Generator(0)))


def test_digits_split_and_range():
    ds = data.digits()
    assert ds.train.shape == (1497, 64) and ds.held_out().shape == (300, 64)
    assert ds.image_shape == (8, 8)
    assert ds.train.min() >= 0 and ds.train.max() <= 1 and ds.train.max() == 1
    x = ds.sample(50, generator=fastgan.Generator(1))
    # every draw is one of the training images
    assert (torch.cdist(x, ds.train).min(dim=1).values == 0).all()


def test_lazy_module_attribute():
    assert fastgan.data is data
    assert set(data.names()) == {"gauss1d", "ring", "grid", "digits", "shapes"}


def test_load_tensor_and_array():
    np = pytest.importorskip("numpy")
    x = torch.randn(40, 3)
    for src in (x, x.numpy()):
        ds = data.load(src)
        assert ds.dim == 3 and torch.equal(ds.train, x)
        draw = ds.sample(10, generator=fastgan.Generator(2))
        assert (draw[:, None, :] == x[None]).all(-1).any(1).all()  # every draw is a row of x
    assert data.load(np.ones((4, 2), dtype=np.int64)).train.dtype == torch.float32


def test_errors():
    with pytest.raises(ValueError, match="unknown data set 'moons'"):
        data.load("moons")
    with pytest.raises(TypeError, match="source must be a data set name, a tensor or a numpy"):
        data.load(3)
    with pytest.raises(ValueError, match=r"source must be \(N, D\) samples"):
        data.load(torch.zeros(4))
    bad = torch.zeros(5, 2)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="source row 3 is not finite"):
        data.load(bad)
    with pytest.raises(TypeError, match="source must hold real numbers"):
        data.load(torch.zeros(3, 2, dtype=torch.complex64))
    with pytest.raises(ValueError, match="n must be >= 1"):
        data.ring().sample(0)
    with pytest.raises(TypeError, match="n must be an int"):
        data.ring().sample(2.5)
    with pytest.raises(ValueError, match="std must be a positive"):
        data.ring(std=-1.0)
    with pytest.raises(ValueError, match="modes must be >= 1, got 0"):
        data.ring(modes=0)
    with pytest.raises(ValueError, match="size must be >= 1, got 0"):
        data.grid(size=0)
    # a bad value is a ValueError, a wrong type a TypeError (issue 12: NaN gave TypeError)
    with pytest.raises(ValueError, match="mean must be a finite number, got nan"):
        data.gauss1d(mean=float("nan"))
    with pytest.raises(ValueError, match="mean must be a finite number, got inf"):
        data.gauss1d(mean=float("inf"))
    with pytest.raises(TypeError, match="mean must be a number, got str"):
        data.gauss1d(mean="4")
    with pytest.raises(ValueError, match="std must be a positive finite number, got nan"):
        data.gauss1d(std=float("nan"))
    with pytest.raises(TypeError, match="modes must be an int, got float"):
        data.ring(modes=2.5)
    with pytest.raises(TypeError, match="size must be an int, got str"):
        data.grid(size="5")
    with pytest.raises(TypeError, match="radius must be a number, got NoneType"):
        data.ring(radius=None)
    with pytest.raises(ValueError, match="centers must be a non-empty"):
        data.GaussianMixture(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="train must be a non-empty"):
        data.TensorDataset(torch.zeros(4))
    with pytest.raises(ValueError, match=r"test must be a non-empty \(M, 3\) tensor"):
        data.TensorDataset(torch.zeros(4, 3), torch.zeros(2, 2))


def test_complex_data_is_rejected():
    """.float() would keep only the real part (issue 12): complex data is a TypeError."""
    z = torch.randn(4, 3, dtype=torch.complex64)
    with pytest.raises(TypeError, match="train must be a real tensor, got dtype torch.complex64"):
        data.TensorDataset(z)
    with pytest.raises(TypeError, match="test must be a real tensor, got dtype torch.complex128"):
        data.TensorDataset(torch.zeros(4, 3), torch.zeros(2, 3, dtype=torch.complex128))
    with pytest.raises(TypeError, match="train must be a torch.Tensor, got list"):
        data.TensorDataset([[1.0, 2.0]])
    with pytest.raises(TypeError, match="centers must be a real tensor"):
        data.GaussianMixture(z, 1.0)


def test_numpy_scalars_are_numbers():
    np = pytest.importorskip("numpy")
    ds = data.ring(modes=np.int64(4), radius=np.float32(1.5), std=np.float64(0.1))
    assert ds.centers.shape == (4, 2) and ds.std == pytest.approx(0.1)
    torch.testing.assert_close(ds.centers.norm(dim=1), torch.full((4,), 1.5))
    assert data.grid(size=np.int32(3)).centers.shape == (9, 2)
    assert data.gauss1d(mean=np.float32(-1.0)).centers.item() == -1.0
    g = fastgan.Generator(3)
    assert ds.sample(np.int64(7), generator=g).shape == (7, 2)

"""Data from paths: image folders (in memory and streamed), .npy/.npz/.pt arrays, the procedural
``shapes`` set, and a clear error for every bad input."""
import math
import pathlib
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import fastgan
from fastgan import data, datasets
from fastgan.datasets.shapes import COLOURS


def _rgb(rng, h, w):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A few dozen 16×16 images, RGB and grayscale, PNG and JPEG, in nested folders, plus one
    corrupt file; returns (root, {relative path: uint8 array}, corrupt path)."""
    root = tmp_path_factory.mktemp("imgs")
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for i in range(30):
        sub = ("a", "b", "b/deep")[i % 3]
        if i % 2:
            arr = rng.integers(0, 256, size=(16, 16), dtype=np.uint8)
            Image.fromarray(arr, mode="L").save(root / sub / f"g{i:02d}.png")
        else:
            arr = _rgb(rng, 16, 16)
            Image.fromarray(arr).save(root / sub / f"c{i:02d}.png")
        arrays[f"{sub}/{'g' if i % 2 else 'c'}{i:02d}.png"] = arr
    Image.fromarray(_rgb(rng, 16, 16)).save(root / "a" / "photo.jpg", quality=95)
    (root / "a" / "notes.txt").write_text("not an image, and not an image suffix")
    corrupt = root / "b" / "broken.png"
    corrupt.write_bytes(b"\x89PNG but not really" + bytes(range(50)))
    return root, arrays, corrupt


def _load_quiet(root, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.UnreadableImagesWarning)
        return data.load(root, **kw)


def test_image_folder_loads_with_shape_range_and_reports_corrupt_file(folder):
    root, arrays, corrupt = folder
    with pytest.warns(datasets.UnreadableImagesWarning, match=r"1 of 32 image files") as rec:
        ds = data.load(str(root), image_size=16, channels=3)
    assert "broken.png" in str(rec[0].message)
    assert isinstance(ds, data.TensorDataset)
    assert ds.image_shape == (3, 16, 16) and ds.dim == 768
    assert ds.train.shape == (31, 768) and ds.train.dtype == torch.float32
    assert ds.train.min() >= -1 and ds.train.max() <= 1
    assert ds.train.min() < -0.9 and ds.train.max() > 0.9  # the full range is used
    x = ds.sample(10, generator=fastgan.Generator(1))
    assert x.shape == (10, 768)


def test_image_folder_pixels_match_the_files(folder):
    """Files already at the target size: pixel v becomes v/127.5 − 1, grayscale is replicated
    to 3 channels; files are in sorted relative-path order."""
    root, arrays, _ = folder
    ds = _load_quiet(root, image_size=16, channels=3)
    names = sorted([*arrays, "a/photo.jpg"])
    assert len(names) == ds.train.shape[0]
    for row, name in zip(ds.train, names):
        if name not in arrays:
            continue  # JPEG: lossy
        arr = arrays[name].astype(np.float64)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        expected = torch.from_numpy(arr / 127.5 - 1).permute(2, 0, 1).reshape(-1).float()
        torch.testing.assert_close(row, expected, rtol=0, atol=1e-6)


def test_grayscale_output_is_the_luma_of_rgb(tmp_path):
    rng = np.random.default_rng(1)
    arr = _rgb(rng, 16, 16)
    Image.fromarray(arr).save(tmp_path / "x.png")
    ds = data.load(tmp_path, image_size=16, channels=1)
    assert ds.image_shape == (1, 16, 16)
    arr = arr.astype(np.float64)
    luma = (arr[..., 0] * 299 + arr[..., 1] * 587 + arr[..., 2] * 114) / 1000  # ITU-R 601
    expected = torch.from_numpy(luma / 127.5 - 1).reshape(-1).float()
    torch.testing.assert_close(ds.train[0], expected, rtol=0, atol=1 / 127.5 + 1e-6)


def test_centre_crop_and_resize(tmp_path):
    rng = np.random.default_rng(2)
    wide = _rgb(rng, 16, 24)                     # H=16, W=24: the shorter side is already 16
    Image.fromarray(wide).save(tmp_path / "wide.png")
    x = datasets.read_image(tmp_path / "wide.png", image_size=16)
    expected = torch.from_numpy(wide[:, 4:20].astype(np.float64) / 127.5 - 1).permute(2, 0, 1)
    torch.testing.assert_close(x, expected.float(), rtol=0, atol=1e-6)
    # a flat colour survives any resize; a tall 40×20 image becomes 8×8
    flat = np.zeros((40, 20, 3), dtype=np.uint8)
    flat[...] = (200, 10, 90)
    Image.fromarray(flat).save(tmp_path / "tall.png")
    y = datasets.read_image(tmp_path / "tall.png", image_size=8)
    assert y.shape == (3, 8, 8)
    ref = torch.tensor([200, 10, 90], dtype=torch.float32) / 127.5 - 1
    torch.testing.assert_close(y, ref.view(3, 1, 1).expand(3, 8, 8), rtol=0, atol=1e-6)
    assert datasets.read_image(tmp_path / "wide.png", image_size=32).shape == (3, 32, 32)


def test_strict_raises_on_the_first_bad_file(folder):
    root, _, corrupt = folder
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        data.load(root, image_size=16, strict=True)


def test_bad_folders_give_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"no image files \(\.png.*under .*empty"):
        data.load(empty)
    with pytest.raises(ValueError, match="no image files"):
        data.load(empty, stream=True)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"garbage")
    (junk / "b.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"none of the 2 image files under .*junk' could be read "
                                         r"\(the first, .*a\.png"):
        data.load(junk)
    with pytest.raises(ValueError, match="none of the 2 image files"):
        data.load(junk, stream=True)
    with pytest.raises(ValueError, match="unknown data set .*nowhere.*nor an existing file or folder"):
        data.load(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        datasets.from_path(tmp_path / "nowhere")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        datasets.from_path(3)


@pytest.mark.parametrize("kw,exc,msg", [
    ({"image_size": 0}, ValueError, "image_size must be >= 1"),
    ({"image_size": 16.0}, TypeError, "image_size must be an int"),
    ({"channels": 2}, ValueError, r"channels must be 1 \(grayscale\) or 3 \(RGB\), got 2"),
    ({"channels": True}, ValueError, "channels must be 1"),
])
def test_bad_image_arguments(folder, kw, exc, msg):
    root, _, _ = folder
    with pytest.raises(exc, match=msg):
        data.load(root, **kw)
    with pytest.raises(exc, match=msg):
        data.load(root, stream=True, **kw)


def test_truncated_file_is_skipped_in_memory_and_named_when_streamed(tmp_path):
    rng = np.random.default_rng(3)
    Image.fromarray(_rgb(rng, 16, 16)).save(tmp_path / "good.png")
    Image.fromarray(_rgb(rng, 16, 16)).save(tmp_path / "cut.png")
    raw = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])   # the header reads, the pixels do not
    with pytest.warns(datasets.UnreadableImagesWarning, match="1 of 2 .*cut.png"):
        ds = data.load(tmp_path, image_size=16)
    assert ds.train.shape == (1, 768)
    files = datasets.ImageFiles(tmp_path, image_size=16)
    assert [p.name for p in files.files] == ["cut.png", "good.png"]
    with pytest.raises(ValueError, match=r"cannot read image .*cut\.png"):
        files[0]


# Python >= 3.12 warns when a multi-threaded process forks (DataLoader workers on Linux); the
# workers here only decode files
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_streaming_equals_in_memory_for_the_same_generator_state(folder, num_workers):
    root, _, _ = folder
    mem = _load_quiet(root, image_size=16, channels=3)
    with pytest.warns(datasets.UnreadableImagesWarning, match="1 of 32"):
        stream = data.load(root, image_size=16, channels=3, stream=True, num_workers=num_workers)
    assert isinstance(stream, datasets.StreamingImageDataset)
    assert stream.image_shape == mem.image_shape and stream.dim == mem.dim and len(stream) == 31
    g1, g2 = fastgan.Generator(7), fastgan.Generator(7)
    for n in (5, 13, 1):
        a = stream.sample(n, generator=g1)
        b = mem.sample(n, generator=g2)
        assert a.dtype == torch.float32 and a.shape == (n, 768)
        assert torch.equal(a, b)
        assert g1.get_offset() == g2.get_offset()
    # resuming from a saved state gives the same batch again
    state = g1.get_state()
    c = stream.sample(9, generator=g1)
    g1.set_state(state)
    assert torch.equal(stream.sample(9, generator=g1), c)
    held = stream.held_out(4)
    assert held.shape == (4, 768) and torch.equal(held, stream.held_out(4))
    # evenly spaced files: the first and the last of the sorted list
    assert torch.equal(held[0], mem.train[0]) and torch.equal(held[-1], mem.train[-1])
    stream.close()


def test_streaming_rejects_a_file_and_bad_workers(folder, tmp_path):
    root, _, _ = folder
    np.save(tmp_path / "x.npy", np.zeros((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="stream=True needs an image folder"):
        data.load(tmp_path / "x.npy", stream=True)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        datasets.StreamingImageDataset(root, num_workers=-1)
    with pytest.raises(ValueError, match="mp_context must be None, 'fork', 'spawn' or 'forkserver'"):
        datasets.StreamingImageDataset(root, num_workers=1, mp_context="thread")


# ---- arrays ------------------------------------------------------------------------------

def test_npy_samples_and_images(tmp_path):
    rng = np.random.default_rng(4)
    flat = rng.standard_normal((40, 5)).astype(np.float64)
    np.save(tmp_path / "flat.npy", flat)
    ds = data.load(tmp_path / "flat.npy")
    assert ds.image_shape is None and ds.dim == 5 and ds.name == "flat"
    torch.testing.assert_close(ds.train, torch.from_numpy(flat).float(), rtol=0, atol=0)
    imgs = rng.standard_normal((12, 1, 4, 6)).astype(np.float32)
    np.save(tmp_path / "imgs.npy", imgs)
    ds = data.load(str(tmp_path / "imgs.npy"))
    assert ds.image_shape == (1, 4, 6) and ds.train.shape == (12, 24)
    assert torch.equal(ds.train.view(12, 1, 4, 6), torch.from_numpy(imgs))
    ints = rng.integers(0, 255, size=(6, 3), dtype=np.uint8)
    np.save(tmp_path / "ints.npy", ints)
    assert torch.equal(data.load(tmp_path / "ints.npy").train, torch.from_numpy(ints).float())


def test_npz_needs_a_key_when_ambiguous(tmp_path):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((10, 3)), rng.standard_normal((7, 2, 2, 2))
    np.savez(tmp_path / "two.npz", train=a, other=b)
    np.savez(tmp_path / "one.npz", only=a)
    torch.testing.assert_close(data.load(tmp_path / "one.npz").train, torch.from_numpy(a).float())
    with pytest.raises(ValueError, match=r"holds 2 arrays \(other, train\): choose one with key="):
        data.load(tmp_path / "two.npz")
    assert data.load(tmp_path / "two.npz", key="other").image_shape == (2, 2, 2)
    with pytest.raises(KeyError, match="has no array 'nope'; it holds: other, train"):
        data.load(tmp_path / "two.npz", key="nope")
    with pytest.raises(ValueError, match="key= is only for .npz"):
        data.load(_save(tmp_path, "k.npy", a), key="train")


def _save(tmp_path, name, arr):
    np.save(tmp_path / name, arr)
    return tmp_path / name


def test_pt_tensor_and_dict(tmp_path):
    x = torch.randn(9, 3, 2, 2, dtype=torch.float64)
    torch.save(x, tmp_path / "x.pt")
    ds = data.load(tmp_path / "x.pt")
    assert ds.image_shape == (3, 2, 2) and torch.equal(ds.train, x.float().reshape(9, 12))
    torch.save({"train": x[:, 0, 0], "test": x[:3, 0, 0]}, tmp_path / "d.pth")
    assert data.load(tmp_path / "d.pth", key="train").train.shape == (9, 2)
    with pytest.raises(ValueError, match=r"holds 2 arrays \(test, train\)"):
        data.load(tmp_path / "d.pth")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(TypeError, match="holds a list; expected a tensor"):
        data.load(tmp_path / "list.pt")


@pytest.mark.parametrize("suffix", [".npy", ".pt"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_rows_are_rejected_with_their_index(tmp_path, suffix, bad):
    x = np.random.default_rng(6).standard_normal((8, 2, 3, 3)).astype(np.float32)
    x[5, 1, 2, 0] = bad
    x[7, 0, 0, 0] = bad
    path = tmp_path / f"bad{suffix}"
    np.save(path, x) if suffix == ".npy" else torch.save(torch.from_numpy(x), path)
    with pytest.raises(ValueError, match=r"row 5 is not finite \(NaN or inf\)"):
        data.load(path)


def test_float64_beyond_float32_range_is_rejected(tmp_path):
    x = np.ones((4, 2))
    x[2, 1] = 1e300
    with pytest.raises(ValueError, match="row 2 is not finite"):
        data.load(_save(tmp_path, "big.npy", x))


@pytest.mark.parametrize("shape", [(10,), (4, 3, 5), (2, 1, 2, 2, 2), (0, 3), (3, 0)])
def test_wrong_shapes_are_rejected(tmp_path, shape):
    path = _save(tmp_path, "s.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected \(N, D\) samples or \(N, C, H, W\) images"):
        data.load(path)
    if len(shape) == 3:
        with pytest.raises(ValueError, match=r"add a channel axis"):
            data.load(path)


def test_wrong_dtypes_are_rejected(tmp_path):
    with pytest.raises(TypeError, match="complex128 values; expected real numbers"):
        data.load(_save(tmp_path, "c.npy", np.zeros((3, 2), dtype=np.complex128)))
    with pytest.raises(TypeError, match="bool values; expected real numbers"):
        data.load(_save(tmp_path, "b.npy", np.zeros((3, 2), dtype=bool)))
    torch.save(torch.zeros(3, 2, dtype=torch.complex64), tmp_path / "c.pt")
    with pytest.raises(TypeError, match="torch.complex64 values"):
        data.load(tmp_path / "c.pt")
    obj = np.empty((2, 2), dtype=object)
    np.save(tmp_path / "o.npy", obj, allow_pickle=True)
    with pytest.raises(ValueError, match="without pickle"):
        data.load(tmp_path / "o.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match=r"expected an image folder or a file ending in \.npy"):
        data.load(tmp_path / "x.csv")


# ---- shapes ------------------------------------------------------------------------------

def test_shapes_is_builtin_and_deterministic_per_seed():
    ds = data.load("shapes")
    assert "shapes" in data.names()
    assert ds.image_shape == (3, 32, 32) and ds.dim == 3072 and ds.modes == 432
    a = ds.sample(24, generator=fastgan.Generator(5))
    b = ds.sample(24, generator=fastgan.Generator(5))
    c = ds.sample(24, generator=fastgan.Generator(6))
    assert a.shape == (24, 3072) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    g = fastgan.Generator(5)
    ds.sample(24, generator=g)
    assert g.get_offset() == math.ceil(24 / 4) + math.ceil(48 / 4)  # modes, then jitters
    assert torch.equal(ds.held_out(10), ds.held_out(10))


def test_shapes_draws_every_mode_evenly():
    ds = datasets.shapes()
    _, modes = ds.sample_with_modes(432 * 20, generator=fastgan.Generator(0))
    counts = torch.bincount(modes, minlength=432).double()
    from scipy.stats import chisquare

    assert chisquare(counts.numpy()).pvalue > 1e-4


def test_shapes_render_matches_the_geometry():
    """Jitter 0: the centre pixel has the mode's colour, the far corner is background, and a
    circle covers about πr² pixels."""
    ds = datasets.shapes(jitter=0.0)
    modes = torch.arange(432)
    x = ds.render(modes, torch.zeros(432, 2)).view(432, 3, 32, 32)
    attrs = ds.attributes(modes)
    colours = torch.tensor(list(COLOURS.values()), dtype=torch.float32)
    for m in range(0, 432, 7):
        pos = int(attrs["position"][m])
        cy, cx = (8, 16, 24)[pos // 3], (8, 16, 24)[pos % 3]
        # pixel (cy, cx) has its centre 0.5 px from the shape's centre: inside every shape
        torch.testing.assert_close(x[m, :, cy, cx], colours[attrs["colour"][m]])
        far_y, far_x = (31 if cy < 16 else 0), (31 if cx < 16 else 0)
        assert torch.equal(x[m, :, far_y, far_x], torch.full((3,), -1.0))
    circles = (attrs["shape"] == 0).nonzero().flatten()
    for m in circles[:6]:
        r = (4.5, 6.5)[int(attrs["size"][m])]
        area = ((x[m] + 1).amax(0) / 2).sum().item()   # coverage summed over pixels
        assert abs(area - math.pi * r * r) < 0.05 * math.pi * r * r


def test_shapes_bad_jitter():
    with pytest.raises(ValueError, match=r"jitter must be a number of pixels in \[0, 2\]"):
        data.load("shapes", jitter=3)


def test_exif_orientation_and_palette_transparency(tmp_path):
    arr = np.zeros((16, 32, 3), dtype=np.uint8)
    arr[:, :16] = 255                                  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6                                   # "rotate 90° clockwise to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    x = datasets.read_image(tmp_path / "phone.jpg", image_size=16)
    # upright it is 32 high and 16 wide, white on top; the centre crop keeps rows 8..23
    assert x[:, :8].mean() > 0.8 and x[:, 8:].mean() < -0.8
    pal = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), mode="L").convert("P")
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png", transparency=0)
    y = datasets.read_image(tmp_path / "pal.png", image_size=16, channels=3)  # no Pillow warning
    assert y.shape == (3, 16, 16)


def test_builtin_name_wins_over_a_folder_unless_given_as_a_path(tmp_path, monkeypatch):
    (tmp_path / "ring").mkdir()
    Image.fromarray(_rgb(np.random.default_rng(7), 16, 16)).save(tmp_path / "ring" / "a.png")
    monkeypatch.chdir(tmp_path)
    assert data.load("ring").dim == 2
    assert data.load("./ring", image_size=16).dim == 768
    assert data.load(pathlib.Path("ring"), image_size=16).dim == 768

"""Training on the user's data with the toolkit options, through the trainer and the CLI."""
from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import fastgan
from fastgan.cli import main
from fastgan.datasets import UnreadableImagesWarning
from fastgan.train import GANTrainer, MMDTrainer, mlp_discriminator, mlp_generator
from fastgan.train.checkpoint import load_checkpoint

# a few tiny conv models: 16 px, batch 8
TINY = ["--arch", "dcgan", "--width", "4", "--latent-dim", "8", "--batch-size", "8", "--image-size", "16",
        "--quiet", "--lr-schedule", "constant"]
ALL = ["--ema-decay", "0.9", "--spectral-norm", "--r1", "1", "--r1-every", "2", "--gp", "1", "--d-lr", "1e-4",
       "--betas", "0.0,0.99", "--augment", "translation,cutout,color", "--pack", "2", "--accumulate", "2"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """30 PNGs of 16×16 (RGB and grayscale mixed, in two subfolders) plus one corrupt file."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(30):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(exist_ok=True)
        if i % 3 == 0:
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), mode="L").save(sub / f"g{i}.png")
        else:
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(sub / f"c{i}.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def _train(argv):
    with pytest.warns(UnreadableImagesWarning, match="1 of 31"):
        return main(argv)


@pytest.mark.parametrize("option", [[], ["--ema-decay", "0.9"], ["--spectral-norm"], ["--r1", "1", "--r1-every", "2"],
                                    ["--gp", "1"], ["--d-lr", "1e-4", "--betas", "0.0,0.99"],
                                    ["--augment", "translation,cutout,color"], ["--pack", "2"], ["--accumulate", "2"]])
def test_image_folder_trains_with_each_option(images, tmp_path, option):
    out = tmp_path / "run"
    assert _train(["train", "gan", "--data", str(images), "--steps", "2", "--out", str(out)] + TINY + option) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["step"] == 2 and ckpt["config"]["arch"] == "dcgan"
    assert ckpt["config"]["image_shape"] == [3, 16, 16]
    assert ("ema" in ckpt) == ("--ema-decay" in option) and ("r1" in ckpt) == ("--r1" in option)
    assert (out / "samples.png").is_file()
    # the D of a penalised or normalised run has no batch statistics
    d_keys = " ".join(ckpt["models"]["discriminator"])
    assert ("running_mean" in d_keys) == (not {"--r1", "--gp", "--spectral-norm"} & set(option))
    if "--spectral-norm" in option:
        assert "parametrizations.weight.original" in d_keys


def test_resume_is_bit_exact_with_every_option(images, tmp_path):
    common = ["train", "gan", "--data", str(images)] + TINY + ALL
    assert _train(common + ["--steps", "4", "--out", str(tmp_path / "full")]) == 0
    assert _train(common + ["--steps", "2", "--out", str(tmp_path / "part")]) == 0
    assert _train(common + ["--steps", "4", "--out", str(tmp_path / "part"), "--resume"]) == 0
    a, b = (load_checkpoint(tmp_path / r / "checkpoint.pt") for r in ("full", "part"))
    assert b["step"] == 4 and a["history"] == b["history"] and a["r1"] == b["r1"]
    assert set(a["history"]) == {"d_loss", "g_loss", "r1", "gp"}

    def same(x, y, where):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                same(x[k], y[k], f"{where}/{k}")
        elif isinstance(x, (list, tuple)):
            for i, (u, v) in enumerate(zip(x, y)):
                same(u, v, f"{where}/{i}")
        else:
            assert x == y, where

    for key in ("models", "optimizers", "ema", "rng", "torch_rng"):
        same(a[key], b[key], key)
    # the EMA copy moved away from the trained generator (it is a separate average)
    g, e = a["models"]["generator"], a["ema"]["module"]
    assert any(not torch.equal(g[k], e[k]) for k in g if g[k].is_floating_point())


@pytest.mark.parametrize("change,key", [(["--augment", "translation"], "augment"), (["--pack", "1"], "pack"),
                                        (["--ema-decay", "0.5"], "ema_decay"), (["--accumulate", "1"], "accumulate")])
def test_resume_refuses_a_changed_option(images, tmp_path, capsys, change, key):
    common = ["train", "gan", "--data", str(images)] + TINY
    base = ["--ema-decay", "0.9", "--augment", "color", "--pack", "2", "--accumulate", "2"]
    assert _train(common + base + ["--steps", "1", "--out", str(tmp_path / "r")]) == 0
    argv = dict(zip(base[::2], base[1::2]))
    argv.update(dict(zip(change[::2], change[1::2])))
    flat = [x for kv in argv.items() for x in kv]
    capsys.readouterr()
    assert _train(common + flat + ["--steps", "2", "--out", str(tmp_path / "r"), "--resume"]) == 1
    assert re.search(f"--resume: the checkpoint was trained with {key}=", capsys.readouterr().err)


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".pt"])
def test_array_files_train(tmp_path, suffix):
    x = np.random.default_rng(1).normal(size=(64, 3)).astype(np.float32)
    path = tmp_path / f"data{suffix}"
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".npz":
        np.savez(path, x=x)
    else:
        torch.save(torch.from_numpy(x), path)
    out = tmp_path / "run"
    assert main(["train", "gmmn", "--data", str(path), "--steps", "2", "--batch-size", "16", "--quiet",
                 "--width", "8", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["config"]["arch"] == "mlp" and ckpt["config"]["hidden"] == [8, 8]
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 3)


def test_image_array_trains_a_conv_model_and_sample_uses_ema(tmp_path):
    x = np.random.default_rng(2).uniform(-1, 1, size=(32, 1, 16, 16)).astype(np.float32)
    np.save(tmp_path / "imgs.npy", x)
    out = tmp_path / "run"
    assert main(["train", "mmdgan", "--data", str(tmp_path / "imgs.npy"), "--arch", "dcgan", "--width", "4",
                 "--latent-dim", "8", "--batch-size", "8", "--steps", "2", "--quiet", "--ema-decay", "0.5",
                 "--augment", "translation", "--out", str(out)]) == 0
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--n", "6", "--out", str(tmp_path / "s.pt")]) == 0
    got = torch.load(tmp_path / "s.pt")
    assert got.shape == (6, 1, 16, 16)
    # the same latents through the EMA weights, rebuilt independently of sample_checkpoint
    from fastgan.train import conv
    from fastgan.train.trainer import generate, sample_seed

    for weights, equal in ((ckpt["ema"]["module"], True), (ckpt["models"]["generator"], False)):
        g = conv.dcgan_generator(8, (1, 16, 16), 4)
        g.load_state_dict(weights)
        want = generate(g, 6, latent_dim=8, rng=fastgan.Generator(sample_seed(0)))
        assert torch.equal(got, want) == equal
    assert main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0


def test_shapes_is_a_conv_demo(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "gan", "--data", "shapes", "--width", "4", "--latent-dim", "8", "--batch-size", "8",
                 "--steps", "1", "--quiet", "--out", str(out)]) == 0
    cfg = load_checkpoint(out / "checkpoint.pt")["config"]
    assert cfg["arch"] == "dcgan" and cfg["image_shape"] == [3, 32, 32]


@pytest.mark.parametrize("argv,message", [
    (["--data", "nowhere/x.npy"], "argument --data: expected one of .*no such file or folder"),
    (["--data", "ring", "--r1", "1", "--model-gmmn"], "--r1 applies to model 'gan' only, not 'gmmn'"),
    (["--data", "ring", "--augment", "blur"], "argument --augment: expected a comma-separated list of"),
    (["--data", "ring", "--betas", "0.5"], "argument --betas: expected two numbers in \\[0, 1\\)"),
    (["--data", "ring", "--r1-every", "4"], "--r1-every needs --r1"),
    (["--data", "ring", "--pack", "2", "--model-gmmn"], "--pack applies to models with a discriminator"),
    (["--data", "ring", "--channels", "2"], "argument --channels: invalid choice: 2"),
    (["--data", "ring", "--arch", "vgg"], "argument --arch: invalid choice: 'vgg'"),
])
def test_bad_cli_arguments(argv, message, capsys, tmp_path):
    model = "gmmn" if "--model-gmmn" in argv else "gan"
    argv = [a for a in argv if a != "--model-gmmn"]
    with pytest.raises(SystemExit) as exc:
        main(["train", model, "--out", str(tmp_path / "x")] + argv)
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_bad_data_errors(tmp_path, capsys, images):
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "bad.npy", np.array([[0.0, 1.0], [np.nan, 2.0]], dtype=np.float32))
    np.save(tmp_path / "vec.npy", np.zeros((10, 3), dtype=np.float32))
    cases = [
        (["--data", str(tmp_path / "empty")], "no image files"),
        (["--data", str(tmp_path / "bad.npy")], "row 1"),
        (["--data", "ring", "--image-size", "16"], "image_size applies to image folders only"),
        (["--data", str(tmp_path / "vec.npy"), "--arch", "dcgan"], "--arch dcgan needs image data"),
        (["--data", str(tmp_path / "vec.npy"), "--augment", "color"], "augment needs images"),
        (["--data", str(images), "--strict"], "cannot read image .*broken.png"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        code = main(["train", "gan", "--out", str(tmp_path / "x"), "--steps", "1", "--quiet"] + argv)
        err = capsys.readouterr().err
        assert code == 1 and re.search(message, err), (argv, err)


# ---- the trainer's wiring against plain-PyTorch formulas -------------------------------------

def _mlps(seed=0, dim=3, d_in=None):
    torch.manual_seed(seed)
    return mlp_generator(4, dim, (8,)), mlp_discriminator(d_in or dim, (8,))


def _sgd(m):
    return torch.optim.SGD(m.parameters(), lr=0.1)


def test_ema_follows_the_recursion():
    g, d = _mlps()
    t = GANTrainer(g, d, latent_dim=4, ema_decay=0.8, rng=3)
    theta = [copy.deepcopy({k: v.double() for k, v in g.state_dict().items()})]
    t.fit(torch.randn(64, 3), steps=3, batch_size=8, progress=False,
          callback=lambda tr, _: theta.append({k: v.double() for k, v in tr.generator.state_dict().items()}))
    ema = theta[0]
    for th in theta[1:]:
        ema = {k: 0.8 * ema[k] + 0.2 * th[k] for k in ema}
    for k, v in t.ema.module.state_dict().items():
        torch.testing.assert_close(v.double(), ema[k], rtol=1e-6, atol=1e-7)
    # samples and metrics come from the average
    assert t.sampling_generator is t.ema.module
    z_gen = fastgan.Generator(t._sample_seed)
    from fastgan.train.trainer import generate

    assert torch.equal(t.sample(5), generate(t.ema.module, 5, latent_dim=4, rng=z_gen))


def test_accumulation_gives_the_whole_batch_gradient():
    x = torch.randn(16, 3)
    runs = []
    for k in (1, 2, 4):
        g, d = _mlps()
        t = GANTrainer(g, d, latent_dim=4, g_optimizer=_sgd(g), d_optimizer=_sgd(d), accumulate=k, rng=5)
        losses = t.train_step(x)
        runs.append((losses, [p.detach().clone() for p in list(g.parameters()) + list(d.parameters())]))
    for losses, params in runs[1:]:
        assert losses == pytest.approx(runs[0][0], rel=1e-5)
        for p, q in zip(params, runs[0][1]):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_pack_feeds_d_groups_of_m_samples():
    g, d = _mlps(d_in=6)
    seen = []
    d.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    t = GANTrainer(g, d, latent_dim=4, pack=2, rng=1)
    t.train_step(torch.randn(8, 3))
    assert seen and all(s == (4, 6) for s in seen)
    with pytest.raises(ValueError, match="multiple of accumulate·pack = 1·2"):
        t.train_step(torch.randn(7, 3))


def test_r1_value_and_laziness_against_plain_autograd():
    x = torch.randn(8, 3)
    g, d = _mlps()
    d64 = copy.deepcopy(d).double()
    t = GANTrainer(g, d, latent_dim=4, r1=2.0, r1_every=2, rng=0)
    got = t.train_step(x)["r1"]
    xd = x.double().requires_grad_(True)
    (grad,) = torch.autograd.grad(d64(xd).sum(), xd)
    want = 2 * (2.0 / 2) * grad.pow(2).sum(1).mean()  # every · γ/2 · E‖∇D‖²
    assert got == pytest.approx(float(want), rel=1e-5)
    assert t.train_step(x)["r1"] == 0.0  # not due on the second D update
    assert t.r1.calls == 2


def test_gp_is_added_and_drawn_from_the_training_stream():
    x = torch.randn(8, 3)
    g, d = _mlps()
    d64, g64 = copy.deepcopy(d).double(), copy.deepcopy(g).double()
    t = GANTrainer(g, d, latent_dim=4, gp=3.0, rng=7)
    # the same draws as the trainer: the latents of the D step, then the interpolation weights
    rng = fastgan.Generator(7)
    z = fastgan.sample.latent(8, 4, generator=rng)
    eps = fastgan.rand(8, generator=rng).double().view(-1, 1)
    fake = g64(z.double()).detach()
    mixed = (eps * x.double() + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(d64(mixed).sum(), mixed)
    want = 3.0 * (grad.norm(dim=1) - 1).pow(2).mean()
    assert t.train_step(x)["gp"] == pytest.approx(float(want), rel=1e-4)


def test_toolkit_argument_errors():
    g, d = _mlps()
    with pytest.raises(ValueError, match="r1_every applies with r1"):
        GANTrainer(g, d, latent_dim=4, r1_every=2)
    with pytest.raises(ValueError, match="augment needs images"):
        GANTrainer(g, d, latent_dim=4, augment="color")
    with pytest.raises(TypeError, match="accumulate must be an int"):
        GANTrainer(g, d, latent_dim=4, accumulate=1.5)
    with pytest.raises(ValueError, match="spectral_norm re-parametrises"):
        GANTrainer(g, d, latent_dim=4, spectral_norm=True, d_optimizer=_sgd(d))
    with pytest.raises(ValueError, match="pack apply to models with a discriminator|pack applies to models"):
        MMDTrainer(g, latent_dim=4, pack=2)
    with pytest.raises(ValueError, match="ema_decay|decay must be"):
        GANTrainer(g, d, latent_dim=4, ema_decay=1.5)

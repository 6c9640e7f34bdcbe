"""Trainers: learning on built-in data, bit-exact resume, atomic checkpoints, NaN stops, AMP,
metrics, and clear errors. Short CPU runs (small MLPs, a few hundred steps at most)."""
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import fastgan
from fastgan import data
from fastgan.train import (GANTrainer, MMDTrainer, NonFiniteLossError, heldout_mmd, load_checkpoint,
                           mlp_discriminator, mlp_generator, mode_coverage, save_checkpoint)
from fastgan.train.progress import Progress


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny models: extra threads only add contention on a shared CI machine
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _gan(seed=0, **kw):
    torch.manual_seed(seed)
    return GANTrainer(mlp_generator(4, 1, (32, 32)), mlp_discriminator(1, (32, 32)), latent_dim=4,
                      lr=1e-3, rng=seed, **kw)


def _gmmn(seed=0, dim=1, **kw):
    torch.manual_seed(seed)
    kw.setdefault("bandwidth", (0.5, 1.0, 2.0, 4.0))
    return MMDTrainer(mlp_generator(4, dim, (32, 32)), latent_dim=4, lr=3e-3, rng=seed, **kw)


# ---------------------------------------------------------------------------- learning
def test_gmmn_loss_goes_down_and_matches_moments():
    ds = data.gauss1d()
    t = _gmmn()
    hist = t.fit(ds, steps=300, batch_size=128, progress=False)["mmd2"]
    assert len(hist) == 300 and all(math.isfinite(v) for v in hist)
    first, last = sum(hist[:20]) / 20, sum(hist[-50:]) / 50
    assert last < 0.1 * first, (first, last)
    x = t.sample(4000).double()
    assert abs(x.mean().item() - 4.0) < 0.2 and abs(x.std().item() - 1.25) < 0.2


@pytest.mark.parametrize("loss,saturating", [("bce", False), ("bce", True), ("hinge", False)])
def test_gan_moves_generator_to_data(loss, saturating):
    ds = data.gauss1d()
    t = _gan(loss=loss, saturating=saturating, real_label=0.9 if loss == "bce" else 1.0)
    before = t.sample(2000).mean().item()
    t.fit(ds, steps=300, batch_size=128, progress=False)
    after = t.sample(2000).double()
    assert abs(after.mean().item() - 4.0) < 0.5 < abs(before - 4.0), (before, after.mean().item())
    assert set(t.history) == {"d_loss", "g_loss"} and len(t.history["g_loss"]) == 300


def test_wasserstein_with_clipping_and_d_steps():
    t = _gan(loss="wasserstein", d_steps=3, d_clip=0.05)
    t.fit(data.gauss1d(), steps=5, batch_size=16, progress=False)
    assert all(p.abs().max() <= 0.05 for p in t.discriminator.parameters())
    assert t.step == 5 and len(t.history["d_loss"]) == 5


def test_gmmn_ring_covers_modes():
    ds = data.ring()
    torch.manual_seed(0)
    t = MMDTrainer(mlp_generator(2, 2, (128, 128)), latent_dim=2,
                   bandwidth=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0), lr=5e-3, rng=0)
    t.fit(ds, steps=800, batch_size=128, progress=False, lr_schedule="cosine")
    cov = mode_coverage(t.sample(2500), ds.centers, ds.std)
    assert cov["modes_covered"] >= 6, cov
    assert t.history["mmd2"][-1] < 0.1 * t.history["mmd2"][0]


def test_mmd_gan_updates_both_networks():
    torch.manual_seed(0)
    g, d = mlp_generator(4, 2, (16,)), mlp_discriminator(2, (16,), out_dim=8)
    d0 = [p.detach().clone() for p in d.parameters()]
    g0 = [p.detach().clone() for p in g.parameters()]
    t = MMDTrainer(g, latent_dim=4, discriminator=d, d_steps=2, d_clip=0.5, bandwidth=(0.5, 1.0))
    out = t.train_step(data.ring().sample(64, generator=fastgan.Generator(0)))
    assert set(out) == {"d_mmd2", "mmd2"} and all(math.isfinite(v) for v in out.values())
    assert all(not torch.equal(a, b) for a, b in zip(d0, d.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(g0, g.parameters()))
    assert all(p.abs().max() <= 0.5 for p in d.parameters())


def test_data_as_tensor_and_callable():
    x = data.gauss1d().sample(500, generator=fastgan.Generator(2))
    t = _gmmn()
    t.fit(x, steps=3, batch_size=32, progress=False)
    t2 = _gmmn()
    t2.fit(lambda n, g: fastgan.randn(n, 1, generator=g) + 4, steps=3, batch_size=32, progress=False)
    assert t.step == t2.step == 3


# ---------------------------------------------------------------------------- checkpoints
def _same_params(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("kind", ["gan", "gmmn", "gan_fp16"])
def test_resume_is_bit_exact(kind, tmp_path):
    def make(seed):
        if kind == "gan":
            return _gan(seed=seed, d_steps=2, real_label=0.9)
        if kind == "gan_fp16":
            return _gan(seed=seed, amp="fp16")
        return _gmmn(seed=seed)

    ds = data.gauss1d()
    full = make(0)
    full.fit(ds, steps=24, batch_size=32, progress=False, lr_schedule="cosine")

    class Interrupt(Exception):
        pass

    def interrupt(trainer, losses):
        if trainer.step == 12:
            raise Interrupt

    first = make(0)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupt):  # the run dies after step 12; the checkpoint is from step 10
        first.fit(ds, steps=24, batch_size=32, progress=False, lr_schedule="cosine", checkpoint=ckpt,
                  checkpoint_every=5, callback=interrupt)
    resumed = make(123)  # different initial weights and torch seed: all must come from the file
    resumed.load_checkpoint(ckpt)
    assert resumed.step == 10
    resumed.fit(ds, steps=24, batch_size=32, progress=False, lr_schedule="cosine")
    assert resumed.history == full.history
    assert _same_params(resumed.generator, full.generator)
    if kind.startswith("gan"):
        assert _same_params(resumed.discriminator, full.discriminator)
    if kind == "gan_fp16":
        assert resumed.scaler.get_scale() == full.scaler.get_scale()


def test_checkpoint_contents(tmp_path):
    t = _gan(amp="fp16")
    t.fit(data.gauss1d(), steps=3, batch_size=16, progress=False)
    p = t.save_checkpoint(tmp_path / "sub" / "c.pt", extra={"note": "x"})
    state = load_checkpoint(p)
    assert state["step"] == 3 and state["trainer"] == "GANTrainer"
    assert set(state["models"]) == {"generator", "discriminator"}
    assert set(state["optimizers"]) == {"generator", "discriminator"}
    assert state["scaler"] is not None and state["extra"] == {"note": "x"}
    assert torch.equal(state["rng"], t.rng.get_state())
    assert not [f for f in os.listdir(tmp_path / "sub") if f.endswith(".tmp")]
    with pytest.raises(ValueError, match="not a MMDTrainer|from a GANTrainer, not a MMDTrainer"):
        _gmmn().load_checkpoint(p)


def test_atomic_checkpoint_survives_kill_between_write_and_rename(tmp_path):
    path = tmp_path / "ckpt.pt"
    script = textwrap.dedent(f"""
        import os, signal, torch
        from fastgan.train import save_checkpoint
        save_checkpoint({{"step": 1, "w": torch.arange(5.0)}}, {str(path)!r})
        def die(src, dst):  # the write finished; die before the rename
            assert os.path.getsize(src) > 0
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = die
        save_checkpoint({{"step": 2, "w": torch.zeros(5)}}, {str(path)!r})
        print("not reached")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert "not reached" not in proc.stdout
    state = load_checkpoint(path)  # the previous checkpoint, intact
    assert state["step"] == 1 and torch.equal(state["w"], torch.arange(5.0))
    leftovers = [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert len(leftovers) == 1  # the orphaned temp file; never read as a checkpoint
    save_checkpoint({"step": 3}, path)
    assert load_checkpoint(path)["step"] == 3


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"step": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a fastgan checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="state must be a dict"):
        save_checkpoint([1, 2], tmp_path / "x.pt")


# ---------------------------------------------------------------------------- NaN / AMP
def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    t = _gmmn()
    ckpt = tmp_path / "ckpt.pt"

    def poison_at_5(trainer, losses):
        if trainer.step == 5:
            with torch.no_grad():
                trainer.generator[0].weight.fill_(float("nan"))

    with pytest.raises(NonFiniteLossError, match=r"MMD² is nan at step 6.*last good checkpoint.*ckpt\.pt"):
        t.fit(data.gauss1d(), steps=10, batch_size=16, progress=False, checkpoint=ckpt,
              checkpoint_every=2, callback=poison_at_5)
    assert t.step == 5
    state = load_checkpoint(ckpt)
    assert state["step"] == 4
    assert all(torch.isfinite(v).all() for v in state["models"]["generator"].values())


def test_nan_in_gan_names_discriminator_loss():
    t = _gan()
    real = torch.full((8, 1), float("inf"))
    with pytest.raises(NonFiniteLossError, match="discriminator loss is nan at step 1.*no checkpoint"):
        t.train_step(real)
    assert t.step == 0


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_trains(amp):
    t = _gmmn(amp=amp)
    hist = t.fit(data.gauss1d(), steps=60, batch_size=64, progress=False)["mmd2"]
    assert all(math.isfinite(v) for v in hist)
    assert sum(hist[-10:]) < sum(hist[:10])
    assert (t.scaler is not None) == (amp == "fp16")
    g = _gan(amp=amp)
    out = g.train_step(torch.randn(16, 1))
    assert all(math.isfinite(v) for v in out.values())


# ---------------------------------------------------------------------------- sampling / metrics
def test_sample_is_fixed_truncated_and_leaves_training_stream():
    t = _gmmn(dim=3)
    state = t.rng.get_state()
    a, b = t.sample(50), t.sample(50)
    assert torch.equal(a, b) and a.shape == (50, 3)
    assert torch.equal(t.rng.get_state(), state)
    c = t.sample(50, generator=fastgan.Generator(9))
    assert not torch.equal(a, c)
    assert t.generator.training  # restored after eval-mode sampling
    # truncation: latents bounded, so samples differ from untruncated ones
    assert not torch.equal(t.sample(50, truncation=0.1), a)


def test_mode_coverage_definition():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 0.1
    s = torch.cat([torch.zeros(30, 2), torch.full((19, 2), 0.0) + torch.tensor([10.0, 0.29]),
                   torch.tensor([[0.0, 10.31]] * 40), torch.tensor([[5.0, 5.0]] * 11)])
    cov = mode_coverage(s, centers, std)
    # mode 0: 30 high-quality; mode 1: 19 (< 20); mode 2: all 0.31 > 3σ away
    assert cov["counts"] == [30, 19, 0] and cov["modes_covered"] == 1 and cov["modes_total"] == 3
    assert cov["high_quality_share"] == pytest.approx(49 / 100)
    assert mode_coverage(s, centers, std, min_count=19)["modes_covered"] == 2
    with pytest.raises(ValueError, match="centers must be a"):
        mode_coverage(s, centers[:, :1], std)
    with pytest.raises(ValueError, match="min_count must be a positive int"):
        mode_coverage(s, centers, std, min_count=0)


def test_heldout_mmd_orders_models():
    ds = data.ring()
    good = ds.sample(1000, generator=fastgan.Generator(1))
    bad = good[:, :1].repeat(1, 2)
    assert heldout_mmd(good, ds.held_out())["mmd2"] < 0.01 < heldout_mmd(bad, ds.held_out())["mmd2"]


def test_progress_lines_when_not_a_tty():
    import io

    buf = io.StringIO()
    bar = Progress(20, stream=buf, log_every=5)
    for s in range(1, 21):
        bar.update(s, {"loss": 0.5}, 100.0)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("train step 20/20 loss=0.5")
    assert "samples/s" in lines[0]


# ---------------------------------------------------------------------------- errors
def test_trainer_argument_errors():
    g, d = mlp_generator(2, 1), mlp_discriminator(1)
    with pytest.raises(TypeError, match="generator must be a torch.nn.Module"):
        MMDTrainer("net", latent_dim=2)
    with pytest.raises(TypeError, match="discriminator must be a torch.nn.Module"):
        GANTrainer(g, 3, latent_dim=2)
    with pytest.raises(ValueError, match="loss must be one of"):
        GANTrainer(g, d, latent_dim=2, loss="l2")
    with pytest.raises(ValueError, match="apply to loss='bce' only"):
        GANTrainer(g, d, latent_dim=2, loss="hinge", real_label=0.9)
    with pytest.raises(ValueError, match="d_steps must be >= 1"):
        GANTrainer(g, d, latent_dim=2, d_steps=0)
    with pytest.raises(TypeError, match="latent_dim must be an int"):
        MMDTrainer(g, latent_dim=2.0)
    with pytest.raises(ValueError, match="amp must be one of"):
        MMDTrainer(g, latent_dim=2, amp="fp8")
    with pytest.raises(ValueError, match="lr must be positive"):
        MMDTrainer(g, latent_dim=2, lr=0.0)
    with pytest.raises(ValueError, match="bandwidth must be a positive number"):
        MMDTrainer(g, latent_dim=2, bandwidth=())
    with pytest.raises(ValueError, match="bandwidth must be positive"):
        MMDTrainer(g, latent_dim=2, bandwidth=(1.0, -2.0))
    with pytest.raises(ValueError, match="estimator must be"):
        MMDTrainer(g, latent_dim=2, estimator="mle")
    with pytest.raises(ValueError, match="kernel must be one of .*got 'rbf'"):
        MMDTrainer(g, latent_dim=2, kernel="rbf")
    with pytest.raises(TypeError, match="rng must be an int seed or a fastgan.Generator"):
        MMDTrainer(g, latent_dim=2, rng="seed")
    with pytest.raises(ValueError, match="d_steps applies to models with a discriminator.*a GMMN has none"):
        MMDTrainer(g, latent_dim=2, d_steps=3)
    with pytest.raises(ValueError, match="d_clip, d_lr apply to models with a discriminator"):
        MMDTrainer(g, latent_dim=2, d_clip=0.1, d_lr=1e-3)
    # the loss op's label rule, checked when the trainer is built (was: at the first step)
    with pytest.raises(ValueError, match=r"real_label must be in \[0, 1\], got 1.5"):
        GANTrainer(g, d, latent_dim=2, real_label=1.5)
    with pytest.raises(TypeError, match="fake_label must be a float in"):
        GANTrainer(g, d, latent_dim=2, fake_label="0")
    with pytest.raises(ValueError, match="saturating=True applies to loss='bce' only"):
        GANTrainer(g, d, latent_dim=2, loss="hinge", saturating=True)
    with pytest.raises(ValueError, match="latent_distribution must be 'normal' or 'uniform', got 'cauchy'"):
        GANTrainer(g, d, latent_dim=2, latent_distribution="cauchy")
    t = MMDTrainer(g, latent_dim=2)
    with pytest.raises(TypeError, match="data must be"):
        t.fit("ring", steps=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        t.fit(data.gauss1d(), steps=1, batch_size=1, progress=False)
    with pytest.raises(ValueError, match="lr_schedule must be"):
        t.fit(data.gauss1d(), steps=1, batch_size=4, progress=False, lr_schedule="step")
    gt = GANTrainer(g, d, latent_dim=2, d_steps=2)
    with pytest.raises(ValueError, match="must divide into d_steps=2"):
        gt.train_step(torch.randn(5, 1))
    with pytest.raises(ValueError, match="out_activation must be one of"):
        mlp_generator(2, 2, out_activation="relu")


def test_train_builtin_argument_errors(tmp_path):
    from fastgan.train import train_builtin
    from fastgan.train.distributed import init_from_env

    with pytest.raises(ValueError, match="model must be one of"):
        train_builtin("vae", "ring", out=tmp_path)
    with pytest.raises(ValueError, match="data must be one of"):
        train_builtin("gmmn", "moons", out=tmp_path)
    with pytest.raises(ValueError, match="bandwidth applies to models 'gmmn', 'mmdgan' only, not 'gan'"):
        train_builtin("gan", "ring", out=tmp_path, bandwidth=(1.0,))
    # the API used to ignore a GAN loss given to an MMD model
    with pytest.raises(ValueError, match="loss applies to model 'gan' only, not 'gmmn'"):
        train_builtin("gmmn", "ring", out=tmp_path, loss="hinge")
    with pytest.raises(ValueError, match="d_steps applies to models with a discriminator"):
        train_builtin("gmmn", "ring", out=tmp_path, d_steps=2)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        train_builtin("gan", "ring", out=tmp_path, label_smoothing=1.0)
    with pytest.raises(ValueError, match="eval_every must be an int >= 0, got -1"):
        train_builtin("gmmn", "ring", out=tmp_path, eval_every=-1)
    with pytest.raises(ValueError, match="log_every must be an int >= 1, got 0"):
        train_builtin("gmmn", "ring", out=tmp_path, log_every=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda': CUDA is not available"):
            init_from_env("cuda")
    assert not any(tmp_path.iterdir())  # nothing written before the arguments are checked


# ---------------------------------------------------------------------------- examples
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


def _example(name):
    import runpy

    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} is not in this checkout")
    return runpy.run_path(str(path))


def test_example_optimal_discriminator(tmp_path, capsys):
    err, loss, optimum = _example("optimal_discriminator_1d.py")["main"](
        ["--steps", "400", "--out", str(tmp_path)])
    assert err < 0.1  # trained D close to p_d / (p_d + p_g) where the mass is
    assert abs(loss - optimum) < 0.01  # BCE at D* = 2 log 2 − 2 JSD
    assert (tmp_path / "optimal_discriminator.png").is_file()


def test_example_direct_vs_adversarial(tmp_path, capsys):
    _example("direct_vs_adversarial_1d.py")["main"](["--steps", "40", "--eval-every", "20",
                                                     "--batch-size", "64", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "direct (GMMN)      final" in out and "adversarial (GAN)  final" in out
    assert (tmp_path / "direct_vs_adversarial.png").is_file()

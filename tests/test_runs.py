"""Run folders that never lose work, resume rules, the metric log, and ``fastgan sample`` formats.

Every failure is reproduced in a temporary folder: a folder already holding a run, a lock
held by another process, a read-only file system and a full one (real tmpfs mounts where this
machine allows mounting, else a simulated ENOSPC), orphan temporary files, a corrupt or
incomplete checkpoint, a non-finite state. Each must give one clear line and lose nothing.
"""
import contextlib
import errno
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

import fastgan
from fastgan import data
from fastgan.cli import main
from fastgan.train import MMDTrainer, load_checkpoint, mlp_generator
from fastgan.train.checkpoint import CheckpointError
from fastgan.train.logging import MetricsLog
from fastgan.train.runs import RunFolder, RunFolderError, atomic_write, check_resume
from fastgan.train.trainer import NonFiniteStateError

TINY = ["--data", "gauss1d", "--batch-size", "8", "--quiet"]


@contextlib.contextmanager
def tmpfs(path, options):
    """A real tmpfs mounted at ``path`` (yields True), or nothing (yields False) where this
    process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _bytes(p):
    return p.read_bytes()


def test_existing_run_is_refused_then_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "6", "--out", str(out)]) == 0
    before = _bytes(out / "checkpoint.pt")
    capsys.readouterr()
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fastgan train: error: run folder {str(out)!r} is not empty") and "--resume" in err and "--overwrite" in err
    assert err.count("\n") == 1  # one line
    assert _bytes(out / "checkpoint.pt") == before  # the 6-step run is intact
    assert main(["train", "gmmn", *TINY, "--steps", "8", "--out", str(out), "--resume"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 8
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out), "--overwrite", "--resume"]) == 1
    assert "--resume and --overwrite exclude each other" in capsys.readouterr().err
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out), "--overwrite"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]  # the earlier run's log went with --overwrite


HOLDER = textwrap.dedent("""
    import sys, time
    from fastgan.train.runs import RunFolder
    f = RunFolder(sys.argv[1])
    print("locked", flush=True)
    time.sleep(120)
""")


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "busy"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderError, match=rf"in use by another process \(pid {proc.pid}\)"):
            RunFolder(out)
        with pytest.raises(RunFolderError, match="in use by another process"):
            fastgan.train.train_builtin("gmmn", "gauss1d", out=out, steps=2, batch_size=8, progress=False)
        assert not (out / "checkpoint.pt").exists()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # else the pipe's ResourceWarning fails a later test at garbage collection
    with RunFolder(out):  # released when the holder dies
        pass


def test_read_only_folder_fails_before_step_one(tmp_path, monkeypatch):
    mnt = tmp_path / "ro"
    with tmpfs(mnt, "ro,size=1m") as mounted:
        if not mounted:
            pytest.skip("cannot mount a read-only tmpfs here (not root); a parent that is a file is tested "
                        "in test_cli.py::test_runtime_errors_are_reported")
        steps = []
        monkeypatch.setattr(MMDTrainer, "train_step", lambda self, real: steps.append(1))
        with pytest.raises(RunFolderError, match=rf"^cannot write {str(mnt / '.lock')!r}: read-only file system$"):
            fastgan.train.train_builtin("gmmn", "gauss1d", out=mnt, steps=2, batch_size=8, progress=False)
        assert steps == []  # not one step was trained


def test_too_little_free_space_fails_before_step_one(tmp_path):
    mnt = tmp_path / "small"
    with tmpfs(mnt, "size=1m") as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (not root)")
        with pytest.raises(RunFolderError, match=r"MiB free, the run needs about .* MiB"):
            fastgan.train.train_builtin("gmmn", "gauss1d", out=mnt / "run", steps=2, batch_size=8, progress=False)


def _fill(folder):
    # take every free byte (ENOSPC ends the loop)
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


def test_disk_full_during_checkpoint_and_plot_loses_nothing(tmp_path, monkeypatch):
    mnt = tmp_path / "full"
    with tmpfs(mnt, "size=16m") as mounted:
        folder = mnt if mounted else tmp_path / "sim"
        folder.mkdir(exist_ok=True)
        t = MMDTrainer(mlp_generator(2, 1, 16), latent_dim=2, bandwidth=1.0)
        ckpt = folder / "checkpoint.pt"
        t.fit(data.gauss1d(), steps=2, batch_size=8, checkpoint=ckpt, progress=False)
        from fastgan.train.plots import plot_losses
        plot_losses(t.history, folder / "loss.png")
        good, good_png = _bytes(ckpt), _bytes(folder / "loss.png")
        if mounted:
            _fill(folder)
        else:
            def full(fd):
                raise OSError(errno.ENOSPC, "No space left on device")
            monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(RunFolderError, match=rf"cannot write {str(ckpt)!r}: no space left on the device"):
            t.fit(data.gauss1d(), steps=4, batch_size=8, checkpoint=ckpt, progress=False)
        with pytest.raises(RunFolderError, match="loss.png'?: no space left"):
            plot_losses(t.history, folder / "loss.png")
        monkeypatch.undo()
        assert _bytes(ckpt) == good and _bytes(folder / "loss.png") == good_png  # nothing lost
        assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]  # nor left behind
        assert load_checkpoint(ckpt)["step"] == 2


def test_orphan_temp_files_are_cleaned_on_resume(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out)]) == 0
    orphan = out / ".checkpoint.pt.k2j4_x.tmp"
    orphan.write_bytes(b"half a checkpoint")
    keep = out / "notes.tmp"  # not one of ours
    keep.write_text("mine")
    assert main(["train", "gmmn", *TINY, "--steps", "3", "--out", str(out), "--resume"]) == 0
    assert not orphan.exists() and keep.exists()


def test_corrupt_and_incomplete_checkpoints_give_one_line(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out)]) == 0
    ckpt = out / "checkpoint.pt"
    good = _bytes(ckpt)
    capsys.readouterr()
    for garbage in (good[: len(good) // 2], b"\x00garbage" * 10):
        ckpt.write_bytes(garbage)
        assert main(["train", "gmmn", *TINY, "--steps", "3", "--out", str(out), "--resume"]) == 1
        err = capsys.readouterr().err
        assert f"checkpoint {str(ckpt)!r} is unreadable: truncated or not a torch file" in err, err
        assert err.count("\n") == 1
        assert main(["sample", "--checkpoint", str(ckpt), "--out", str(tmp_path / "s.npy")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("fastgan sample: error: checkpoint") and "unreadable" in err and err.count("\n") == 1
    ckpt.write_bytes(good)
    state = load_checkpoint(ckpt)
    del state["config"]["latent_dim"]
    torch.save(state, ckpt)
    assert main(["sample", "--checkpoint", str(ckpt), "--out", str(tmp_path / "s.npy")]) == 1
    assert f"checkpoint {str(ckpt)!r} run config lacks the field 'latent_dim'" in capsys.readouterr().err
    state = load_checkpoint(ckpt)
    del state["optimizers"]
    torch.save(state, ckpt)
    with pytest.raises(CheckpointError, match="lacks the field 'optimizers'"):
        MMDTrainer(mlp_generator(16, 1, (32, 32)), latent_dim=16).load_checkpoint(ckpt)


def test_non_finite_state_is_never_written_and_resume_lowers_lr(tmp_path, capsys):
    t = MMDTrainer(mlp_generator(2, 1, 16), latent_dim=2, bandwidth=1.0)
    ckpt = tmp_path / "c.pt"
    t.fit(data.gauss1d(), steps=2, batch_size=8, checkpoint=ckpt, progress=False)
    good = _bytes(ckpt)
    opt = t._optimizers["generator"]
    next(iter(opt.state.values()))["exp_avg_sq"].fill_(float("inf"))  # what lr 1e6 leaves in Adam
    with pytest.raises(NonFiniteStateError, match=r"not writing .*exp_avg_sq.* holds NaN/inf at step 2; the "
                       r"last good checkpoint is .*c.pt' \(step 2\).*--resume --lr"):
        t.save_checkpoint(ckpt)
    assert _bytes(ckpt) == good
    # the CLI: --resume --lr lowers the rate, recorded in the checkpoint
    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "4", "--out", str(out), "--lr-schedule", "constant"]) == 0
    capsys.readouterr()
    assert main(["train", "gmmn", *TINY[:-1], "--steps", "6", "--out", str(out), "--resume", "--lr", "2.5e-4",
                 "--lr-schedule", "constant"]) == 0
    assert "learning rate lowered from 0.001 to 0.00025 at step 4" in capsys.readouterr().err
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["lr_changes"] == [{"step": 4, "factor": 0.25}]
    assert state["config"]["lr"] == 2.5e-4
    group = state["optimizers"]["generator"]["param_groups"][0]
    assert group["lr"] == pytest.approx(2.5e-4) and group["initial_lr"] == pytest.approx(2.5e-4)
    # a later resume without --lr keeps the lowered rate
    assert main(["train", "gmmn", *TINY, "--steps", "7", "--out", str(out), "--resume",
                 "--lr-schedule", "constant"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")["optimizers"]["generator"]["param_groups"][0]["lr"] == \
        pytest.approx(2.5e-4)


def test_resume_with_more_steps_starts_a_new_cosine_horizon(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    seen = []
    orig = MMDTrainer.train_step

    def spy(self, real):
        seen.append(self._optimizers["generator"].param_groups[0]["lr"])
        return orig(self, real)

    MMDTrainer.train_step = spy
    try:
        assert main(["train", "gmmn", *TINY[:-1], "--steps", "8", "--out", str(out), "--resume"]) == 0
    finally:
        MMDTrainer.train_step = orig
    import math
    assert seen == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(4, 8)])
    assert "starts a new 8-step horizon at step 4" in capsys.readouterr().err
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["lr_schedules"] == [{"step": 0, "schedule": "cosine", "horizon": 4},
                                     {"step": 4, "schedule": "cosine", "horizon": 8}]


def test_check_resume_rule():
    saved = {"model": "gmmn", "lr": 1e-3, "steps": 10, "seed": 0}
    assert check_resume(saved, dict(saved, steps=20)) == {}
    assert check_resume(saved, dict(saved, lr=1e-4)) == {"lr": (1e-3, 1e-4)}
    with pytest.raises(ValueError, match="--lr may only lower"):
        check_resume(saved, dict(saved, lr=1e-2))
    with pytest.raises(ValueError, match="trained with seed=0, this run asks for seed=1"):
        check_resume(saved, dict(saved, seed=1))


def test_eval_every_best_checkpoint_samples_and_report(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "gmmn", "--data", "ring", "--batch-size", "32", "--quiet", "--steps", "6",
                 "--eval-every", "3", "--sample-every", "3", "--log-every", "2", "--out", str(out)]) == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "mmd2" in x] == [2, 4, 6]
    evals = [x for x in lines if "kid" in x]
    assert [x["step"] for x in evals] == [3, 6] and all("fid" in x and "kid_std" in x for x in evals)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 6  # best.pt at step 6 is a side copy
    best = load_checkpoint(out / "best.pt")
    kids = {x["step"]: x["kid"] for x in evals}
    assert best["extra"]["best"]["kid"] == min(kids.values())
    assert best["step"] == min(kids, key=kids.get)
    for name in ("samples/step_000003.png", "samples/step_000006.png", "report.png", "samples.png", "loss.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    m = json.loads((out / "metrics.json").read_text())
    assert m["kid"] == kids[6] and "fid" in m


def test_eval_numbers_are_the_metric_classes_on_the_fixed_stream():
    from fastgan.metrics import FID, KID
    from fastgan.train.metrics import Evaluator

    t = MMDTrainer(mlp_generator(2, 2, 16), latent_dim=2, bandwidth=1.0)
    held = data.load("ring").held_out(300)
    got = Evaluator(held, n=200)(t)
    fake = t.sample(200)
    mu, sd = held.double().mean(0), (held.double() - held.double().mean(0)).std()
    k = KID(subsets=10, subset_size=100)
    f = FID()
    for m in (k, f):
        m.update(((held - mu) / sd).float(), real=True)
        m.update(((fake - mu) / sd).float(), real=False)
    assert got["kid"] == pytest.approx(float(k.compute()[0]), rel=1e-5)
    assert got["fid"] == pytest.approx(float(f.compute()), rel=1e-5)
    assert Evaluator(held, n=200)(t) == got  # a fixed seed: the same numbers every time


def test_metrics_log_resume_tensorboard_and_non_finite(tmp_path):
    class Writer:
        def __init__(self):
            self.calls = []

        def add_scalar(self, tag, value, step):
            self.calls.append((tag, value, step))

        def flush(self):
            pass

        def close(self):
            self.calls.append("closed")

    w = Writer()
    log = MetricsLog(tmp_path / "m.jsonl", tensorboard=w)
    for s in (1, 2, 3):
        log.log(s, loss=0.5 * s, note="x")
    log.log(4, loss=float("nan"))
    log.close()
    assert ("loss", 1.0, 2) in w.calls and w.calls[-1] == "closed"
    assert all(c[0] != "note" for c in w.calls[:-1])
    lines = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert lines[3] == {"step": 4, "loss": "nan"}
    again = MetricsLog(tmp_path / "m.jsonl", resume_step=2)
    assert [x["step"] for x in again.lines] == [1, 2]
    assert again.series("loss") == ([1, 2], [0.5, 1.0])


def test_tensorboard_missing_is_one_clear_line(tmp_path, capsys, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_tb(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *a, **k)

    out = tmp_path / "r"
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out)]) == 0
    before = sorted(os.listdir(out))
    monkeypatch.setattr(builtins, "__import__", no_tb)
    assert main(["train", "gmmn", *TINY, "--steps", "2", "--out", str(out), "--overwrite", "--tensorboard"]) == 1
    assert "--tensorboard needs the tensorboard package: pip install tensorboard" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == before  # the run that --overwrite would replace is still there


def test_sample_formats_by_suffix_and_the_runs_own_stream(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "gmmn", "--data", "ring", "--batch-size", "16", "--quiet", "--steps", "2",
                 "--seed", "3", "--out", str(out)]) == 0
    ckpt = str(out / "checkpoint.pt")
    for suffix in (".npy", ".pt", ".csv", ".png"):
        assert main(["sample", "--checkpoint", ckpt, "--n", "5", "--out", str(tmp_path / f"s{suffix}")]) == 0
    a = np.load(tmp_path / "s.npy")
    b = torch.load(tmp_path / "s.pt")
    c = np.loadtxt(tmp_path / "s.csv", delimiter=",")
    assert a.shape == (5, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_allclose(c, a, rtol=1e-7)
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    # without --seed: the samples the run's own trainer draws (its seed 3), as its samples.png
    from fastgan.train.run import build_trainer
    state = load_checkpoint(ckpt)
    t = build_trainer(state["config"], 2, seed=3)
    t.generator.load_state_dict(state["models"]["generator"])
    np.testing.assert_array_equal(a, t.sample(5).numpy())
    assert main(["sample", "--checkpoint", ckpt, "--n", "5", "--seed", "0", "--out", str(tmp_path / "z.npy")]) == 0
    assert not np.array_equal(np.load(tmp_path / "z.npy"), a)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", ckpt, "--n", "5", "--out", str(tmp_path / "s.txt")]) == 1
    assert "out must end in one of .png, .npy, .pt, .csv" in capsys.readouterr().err


def test_sample_checkpoint_builds_only_the_generator(tmp_path, monkeypatch):
    out = tmp_path / "r"
    assert main(["train", "gan", *TINY, "--steps", "2", "--out", str(out)]) == 0
    import fastgan.train.run as run

    def refuse(*a, **k):
        raise AssertionError("sampling must not build this")

    monkeypatch.setattr(run, "mlp_discriminator", refuse)
    monkeypatch.setattr(run.data if hasattr(run, "data") else run._data, "load", refuse)
    monkeypatch.setattr(torch.optim, "Adam", refuse)
    path = run.sample_checkpoint(out / "checkpoint.pt", 7, tmp_path / "x.npy")
    assert np.load(path).shape == (7, 1)


def test_atomic_write_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write(target, "old\n")

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(RunFolderError, match=rf"cannot write {str(target)!r}: permission denied"):
        atomic_write(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["f.txt"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunFolderError, match="it is a file"):
        RunFolder(blocker)
    with pytest.raises(ValueError, match="--resume and --overwrite exclude each other"):
        RunFolder(tmp_path / "n", resume=True, overwrite=True)
    assert not (tmp_path / "n").exists()


def test_progress_shows_an_eta():
    import io

    from fastgan.train.progress import Progress
    buf = io.StringIO()
    bar = Progress(10, stream=buf, log_every=5)
    time.sleep(0.01)
    bar.update(5, {"loss": 1.0}, 10.0)
    line = buf.getvalue()
    assert "eta 0:0" in line
    assert bar.eta(5) == pytest.approx(time.perf_counter() - bar._t0, rel=0.5)


def test_progress_uses_tqdm_on_a_terminal(monkeypatch):
    import io
    import types

    from fastgan.train.progress import Progress

    class FakeTqdm:
        def __init__(self, total, initial, desc, file, dynamic_ncols):
            self.n, self.total, self.closed, self.postfix = initial, total, False, None

        def set_postfix(self, values, refresh):
            self.postfix = values

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeTqdm))

    class Tty(io.StringIO):
        def isatty(self):
            return True

    bar = Progress(10, start=2, stream=Tty())
    bar.update(7, {"loss": 0.25}, 1.0)
    assert bar._bar.n == 7 and bar._bar.postfix == {"loss": "0.25"}
    bar.close()
    assert bar._bar.closed
    assert Progress(10, stream=Tty(), use_tqdm=False)._bar is None


def test_image_grid_puts_a_real_row_on_top(tmp_path):
    import matplotlib.image

    from fastgan.train.plots import plot_image_grid
    fake = torch.zeros(16, 64)
    plot_image_grid(fake, tmp_path / "a.png")
    plot_image_grid(fake, tmp_path / "b.png", real=torch.ones(20, 64))  # 8 of them, one row
    a, b = matplotlib.image.imread(tmp_path / "a.png"), matplotlib.image.imread(tmp_path / "b.png")
    assert b.shape[0] > a.shape[0] and b.shape[1] == a.shape[1]
    assert oct(os.stat(tmp_path / "a.png").st_mode & 0o777) != oct(0o600)  # umask, not mkstemp's 0600


def test_argument_errors_of_the_run_helpers(tmp_path):
    from fastgan.train.metrics import Evaluator
    from fastgan.train.run import sample_checkpoint
    from fastgan.train.trainer import generate

    with pytest.raises(ValueError, match="held_out must be a tensor of at least 4 rows"):
        Evaluator(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="n must be an int >= 4, got 2"):
        Evaluator(torch.zeros(10, 2), n=2)
    t = MMDTrainer(mlp_generator(2, 1, 8), latent_dim=2)
    with pytest.raises(ValueError, match=r"factor must be in \(0, 1\]"):
        t.lower_learning_rate(2.0)
    with pytest.raises(ValueError, match="factor must be positive"):
        t.lower_learning_rate(0.0)
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        generate(t.generator, 0, latent_dim=2, rng=fastgan.Generator(0))
    with pytest.raises(TypeError, match="generator must be a torch.nn.Module"):
        generate("G", 3, latent_dim=2, rng=fastgan.Generator(0))
    with pytest.raises(ValueError, match=r"out must end in one of .png, .npy, .pt, .csv .*'s.bin'"):
        sample_checkpoint(tmp_path / "c.pt", 3, "s.bin")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sample_checkpoint(tmp_path / "c.pt", 3, tmp_path / "s.npy")

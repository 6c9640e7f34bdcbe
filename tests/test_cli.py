"""The ``fastgan`` command line end to end in a temp folder: train, resume, sample, bench, errors."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgan
from fastgan.cli import main
from fastgan.train import load_checkpoint

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _restore_threads():
    old = torch.get_num_threads()  # the CLI sets 1 thread on CPU
    yield
    torch.set_num_threads(old)


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG and path.stat().st_size > 1000


def test_train_ring_writes_outputs(tmp_path, capsys):
    out = tmp_path / "ring"
    assert main(["train", "gmmn", "--data", "ring", "--steps", "40", "--batch-size", "64", "--out", str(out)]) == 0
    for name in ("loss.png", "samples.png"):
        assert _is_png(out / name), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 40 and m["model"] == "gmmn" and m["data"] == "ring"
    assert m["modes_total"] == 8 and 0 <= m["modes_covered"] <= 8
    assert 0.0 <= m["high_quality_share"] <= 1.0 and len(m["counts"]) == 8
    assert m["heldout_mmd2"] > m["data_floor_mmd2"]
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 40
    captured = capsys.readouterr()
    assert "MMDTrainer step 40/40" in captured.err and "samples/s" in captured.err  # progress lines
    assert "fastgan train: done, 40 steps" in captured.out


def test_train_gan_digits_then_sample(tmp_path):
    out = tmp_path / "digits"
    assert main(["train", "gan", "--data", "digits", "--steps", "6", "--batch-size", "32", "--loss", "hinge",
                 "--d-steps", "2", "--out", str(out), "--quiet"]) == 0
    assert _is_png(out / "samples.png")
    m = json.loads((out / "metrics.json").read_text())
    assert "modes_covered" not in m and m["config"]["loss"] == "hinge" and m["config"]["d_steps"] == 2
    ckpt = out / "checkpoint.pt"
    assert main(["sample", "--checkpoint", str(ckpt), "--n", "10", "--out", str(tmp_path / "s.pt"),
                 "--truncation", "1.0", "--seed", "3"]) == 0
    s = torch.load(tmp_path / "s.pt")
    assert s.shape == (10, 64) and s.min() >= 0 and s.max() <= 1  # sigmoid output, like the data
    assert main(["sample", "--checkpoint", str(ckpt), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert _is_png(tmp_path / "s.png")


def test_resume_equals_uninterrupted(tmp_path):
    common = ["train", "gan", "--data", "gauss1d", "--batch-size", "32", "--quiet", "--label-smoothing", "0.1",
              "--lr-schedule", "constant"]
    assert main(common + ["--steps", "16", "--out", str(tmp_path / "full")]) == 0
    assert main(common + ["--steps", "7", "--out", str(tmp_path / "part")]) == 0
    assert main(common + ["--steps", "16", "--out", str(tmp_path / "part"), "--resume"]) == 0
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoint.pt")
    assert a["history"] == b["history"] and b["step"] == 16
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), (name, k)
    m = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert m["steps_this_run"] == 9


@pytest.mark.parametrize("argv,message", [
    (["train", "gmmn", "--data", "moons", "--out", "x"], "argument --data: expected one of .*got .moons. \\(no such file or folder\\)"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--steps", "0"], "expected a positive integer, got '0'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--batch-size", "abc"], "argument --batch-size: expected an integer >= 2, got .abc."),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--lr", "-1"], "expected a positive number"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--bandwidth", "1,-2"], "comma-separated positive"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--loss", "hinge"], "--loss applies to model 'gan' only, not 'gmmn'"),
    (["train", "gan", "--data", "ring", "--out", "x", "--label-smoothing", "1.5"],
     "fastgan train: error: argument --label-smoothing: expected a number in \\[0, 1\\), got '1.5'"),
    (["train", "gan", "--data", "ring", "--out", "x", "--label-smoothing", "nan"], "in \\[0, 1\\), got 'nan'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--batch-size", "1"],
     "argument --batch-size: expected an integer >= 2, got '1'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--device", "tpu"],
     "argument --device: expected cpu, cuda or cuda:N, got 'tpu'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--device", "cuda:x"], "argument --device: expected cpu"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--d-steps", "2"],
     "fastgan train: error: --d-steps applies to models with a discriminator .* a GMMN has none"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--d-clip", "0.1", "--d-steps", "1"],
     "--d-steps, --d-clip apply to models with a discriminator"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--eval-every", "-1"],
     "argument --eval-every: expected a non-negative integer, got '-1'"),
    (["train", "gan", "--data", "ring", "--out", "x", "--bandwidth", "1,2"],
     "--bandwidth applies to models 'gmmn', 'mmdgan' only, not 'gan'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--threads", "0"], "argument --threads: expected a positive"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--amp", "fp8"], "argument --amp: invalid choice: 'fp8'"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--checkpoint-every", "-1"], "expected a non-negative"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--seed", "1.5"], "argument --seed: expected a non-negative"),
    (["train", "gmmn", "--data", "ring", "--out", "x", "--lr-schedule", "step"], "invalid choice: 'step'"),
    (["sample", "--checkpoint", "c.pt", "--out", "x.png", "--n", "0"], "argument --n: expected a positive integer"),
    (["sample", "--checkpoint", "c.pt", "--out", "x.png", "--truncation", "0"],
     "argument --truncation: expected a positive number"),
    (["train", "gan", "--data", "ring", "--out", "x", "--loss", "hinge", "--label-smoothing", "0.1"],
     "apply to --loss bce only"),
    (["train", "vae", "--data", "ring", "--out", "x"], "invalid choice: 'vae'"),
    (["train", "gmmn", "--out", "x"], "the following arguments are required: --data"),
    (["sample", "--n", "3", "--out", "x.png"], "required: --checkpoint"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_runtime_errors_are_reported(tmp_path, capsys):
    assert main(["train", "gmmn", "--data", "ring", "--out", str(tmp_path / "new"), "--resume", "--quiet"]) == 1
    assert "--resume: no checkpoint at" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "a.png")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "gmmn", "--data", "gauss1d", "--steps", "2", "--batch-size", "8", "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
    assert main(["train", "gan", "--data", "gauss1d", "--steps", "4", "--quiet", "--out", str(tmp_path / "r"),
                 "--resume"]) == 1
    assert "trained with model='gmmn', this run asks for model='gan'" in capsys.readouterr().err
    # a higher learning rate on resume is refused (a lower one is allowed: test_runs.py)
    assert main(["train", "gmmn", "--data", "gauss1d", "--steps", "4", "--batch-size", "8", "--quiet",
                 "--out", str(tmp_path / "r"), "--resume", "--lr", "0.5"]) == 1
    assert "--lr may only lower the checkpoint's lr=0.001, got 0.5" in capsys.readouterr().err
    assert main(["train", "gmmn", "--data", "gauss1d", "--steps", "1", "--batch-size", "8", "--quiet",
                 "--out", str(tmp_path / "r"), "--resume"]) == 1
    assert "--steps 1 is below the checkpoint's step 2" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", "gmmn", "--data", "gauss1d", "--steps", "2", "--quiet", "--out", str(blocker / "run")]) == 1
    assert "fastgan train: error:" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path / "r" / "checkpoint.pt"), "--n", "4",
                 "--out", str(blocker / "s.pt")]) == 1
    assert "fastgan sample: error:" in capsys.readouterr().err


def test_cuda_device_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error is for machines without it")
    with pytest.raises(SystemExit) as exc:
        main(["train", "gmmn", "--data", "ring", "--out", "x", "--device", "cuda"])
    assert exc.value.code == 2
    assert "argument --device: 'cuda': CUDA is not available on this machine" in capsys.readouterr().err


def test_bench_delegates_to_runner(capsys):
    root = Path(fastgan.__file__).resolve().parent.parent
    if not (root / "bench" / "runner.py").is_file():
        pytest.skip("bench/runner.py is not in this checkout (installed wheel)")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_console_script_installed():
    exe = shutil.which("fastgan")
    if exe is None:
        pytest.skip("the `fastgan` console script is not on PATH (package not pip-installed)")
    proc = subprocess.run([exe, "train", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--data DATA" in proc.stdout and "digits" in proc.stdout


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "fastgan.cli", "sample", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--checkpoint" in proc.stdout

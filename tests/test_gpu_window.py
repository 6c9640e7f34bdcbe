"""bench/gpu_window.py, the timing step of scripts/gpu_run.sh, on the CPU: its dry mode checks
each case against its reference before timing it and writes the JSON after every case; bad
arguments and a missing GPU are refused clearly. No timing is asserted."""
import json

import pytest
import torch

from bench import gpu_window


def test_dry_run_checks_then_times_each_case(tmp_path):
    out = tmp_path / "w.json"
    assert gpu_window.main(["--dry-run", "--out", str(out), "--only", "fastgan.rand",
                            "--only", "categorical", "--only", "mmd fwd+bwd N=M=256 D=64 tf32"]) == 0
    doc = json.loads(out.read_text())
    assert doc["mode"] == "dry" and doc["device_type"] == "cpu"
    names = [r["case"] for r in doc["results"]]
    assert any(n.startswith("fastgan.rand ") for n in names) and any("categorical" in n for n in names)
    mmd = [r for r in doc["results"] if r["case"].startswith("mmd")]
    # one row per candidate configuration, the launch table's own first
    from fastgan.ops.mmd import launch
    assert mmd[0]["blocks"] == list(launch.CUDA_BLOCKS[(True, 64)]) and len(mmd) >= 2
    for r in doc["results"]:
        assert r["status"] == "ok", r
        assert 0.0 <= r["check_error"] <= r["tolerance"] and r["median_ms"] > 0


def test_a_failing_case_is_recorded_and_the_next_runs(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(gpu_window, "_random_case", broken)
    out = tmp_path / "w.json"
    assert gpu_window.main(["--dry-run", "--out", str(out), "--only", "fastgan.rand",
                            "--only", "categorical"]) == 0
    rows = {r["case"].split()[0]: r for r in json.loads(out.read_text())["results"]}
    assert rows["fastgan.rand"]["status"] == "error: RuntimeError: planted failure"
    assert rows["categorical"]["status"] == "ok"


def test_bad_arguments_and_no_gpu(capsys):
    with pytest.raises(SystemExit) as e:
        gpu_window.main(["--budget", "0"])
    assert e.value.code == 2 and "--budget must be > 0 seconds, got 0.0" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert gpu_window.main([]) == 2
        assert "no CUDA device (use --dry-run" in capsys.readouterr().err

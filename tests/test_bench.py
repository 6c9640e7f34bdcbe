"""The benchmark machinery on CPU: runner (dry-run), JSON, derived numbers, rendering, the
pytest-benchmark files and the GPU script's CPU dry-run mode. No timing is ever asserted."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ lives in the source tree, not in the installed package

from bench import cases as bench_cases  # noqa: E402
from bench import runner  # noqa: E402
from bench.harness import Case, Skip, measure  # noqa: E402
from bench.render import markdown, render  # noqa: E402
from bench.report import derive  # noqa: E402

CPU = torch.device("cpu")


def _env():
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)  # the benches time the CPU paths, not the interpreter
    env.pop("FASTGAN_BACKEND", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def dry_doc(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "dry.json"
    rc = runner.main(["--dry-run", "--device", "cpu", "--threads", "1", "--ops", "random,gan_loss",
                      "--out", str(out), "--render", "--quiet"])
    assert rc == 0
    return out, json.loads(out.read_text())


def test_dry_run_writes_complete_json(dry_doc):
    out, doc = dry_doc
    assert doc["device_type"] == "cpu" and doc["mode"] == "dry"
    assert doc["device"] == runner.device_name(CPU) and doc["device_slug"].startswith("cpu")
    assert doc["versions"]["torch"] == torch.__version__ and "triton" in doc["versions"]
    assert doc["date"].endswith("Z") and doc["cpu_threads"] == 1
    for key in ("bandwidth_gbs", "bf16_tflops", "tf32_tflops"):
        assert doc["peaks"][key] > 0
    ops = {r["op"] for r in doc["results"]}
    assert "random" in ops
    if "gan_loss" not in doc["skipped_ops"]:
        assert "gan_loss" in ops
    rnd = [r for r in doc["results"] if r["op"] == "random"]
    assert {r["provider"] for r in rnd} == {"fastgan", "torch"}
    assert {r["case"] for r in rnd} == {"rand", "randn"}
    for r in rnd:
        assert r["status"] == "ok", r["message"]
        assert r["median_ms"] > 0 and r["reps"] >= 1 and r["timer"] == "time.perf_counter"
        assert r["p20_ms"] <= r["median_ms"] <= r["p80_ms"]
        assert r["gbs"] == pytest.approx(r["bytes"] / (r["median_ms"] * 1e-3) / 1e9)
        assert r["frac_peak"] == pytest.approx(r["gbs"] / doc["peaks"]["bandwidth_gbs"])
        assert r["peak_mem_bytes"] is None  # not measured on CPU
    for r in rnd:
        if r["provider"] == "fastgan":
            base = next(b for b in rnd if b["provider"] == "torch" and b["case"] == r["case"])
            assert r["speedup"] == pytest.approx(base["median_ms"] / r["median_ms"])
    # --render wrote the table and the plots beside the JSON
    md = out.with_suffix(".md").read_text()
    assert "**CPU: " + doc["device"] in md and "#### random" in md
    png = out.parent / f"{out.stem}_plots" / "random.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _case(providers, **kw):
    args = dict(op="toy", name="toy op", series="toy", size=8, shape={"n": 8}, dtype="float32",
                providers=providers, bytes=32.0, items=8.0, bound="bandwidth", baseline="eager")
    args.update(kw)
    return Case(**args)


def _raise(exc):
    def setup():
        raise exc
    return setup


def test_measure_maps_failures_to_statuses():
    x = torch.randn(8)
    case = _case({
        "eager": lambda: (lambda: x * 2),
        "oom": _raise(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4 TiB")),
        "oom_cpu": _raise(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 1 TB")),
        "broken": _raise(ValueError("bad shape for toy")),
        "missing": _raise(Skip("pykeops not installed")),
        "fails_later": lambda: (lambda: (_ for _ in ()).throw(ZeroDivisionError("late"))),
    })
    res = {p: measure(case, p, CPU, target_s=0.001) for p in case.providers}
    assert res["eager"].status == "ok" and res["eager"].median_ms > 0
    assert res["oom"].status == "OOM" and "out of memory" in res["oom"].message
    assert res["oom_cpu"].status == "OOM"
    assert res["broken"].status == "error" and "ValueError: bad shape for toy" in res["broken"].message
    assert res["missing"].status == "skip" and res["missing"].message == "pykeops not installed"
    assert res["fails_later"].status == "error" and "ZeroDivisionError" in res["fails_later"].message
    assert all(r.median_ms is None for p, r in res.items() if p != "eager")


class _FakeEvent:
    def __init__(self, enable_timing=False):
        pass

    def record(self):
        pass

    def elapsed_time(self, other):
        return 50.0


def test_measure_cuda_paths_with_a_faked_device(monkeypatch):
    """The CUDA branches (do_bench, CUDA events, peak memory) run here against fakes, so a
    slip in them shows up before the one GPU run, not during it."""
    import time as _time

    import triton.testing

    seen = {}

    def fake_do_bench(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None, return_mode="mean"):
        fn()
        seen["do_bench"] = (warmup, rep, quantiles, return_mode)
        if return_mode == "all" and seen.get("old_triton"):
            raise AssertionError("unknown return_mode")
        return [0.8, 1.0, 1.2] if quantiles else [3.0, 1.0, 2.0, 4.0, 5.0]

    for name, value in (("synchronize", lambda *a, **k: None), ("empty_cache", lambda: None),
                        ("memory_allocated", lambda *a, **k: 1000),
                        ("reset_peak_memory_stats", lambda *a, **k: None),
                        ("max_memory_allocated", lambda *a, **k: 1000 + 4096), ("Event", _FakeEvent)):
        monkeypatch.setattr(torch.cuda, name, value)
    monkeypatch.setattr(triton.testing, "do_bench", fake_do_bench)
    cuda = torch.device("cuda")
    fast = _case({"eager": lambda: (lambda: None)})
    r = measure(fast, "eager", cuda, target_s=0.05)
    assert r.status == "ok", r.message
    assert r.timer.startswith("triton.testing.do_bench") and seen["do_bench"][3] == "all"
    assert r.median_ms == 3.0 and r.reps == 5 and r.peak_mem_bytes == 4096
    seen["old_triton"] = True
    r = measure(fast, "eager", cuda, target_s=0.05)
    assert r.status == "ok" and seen["do_bench"][2] == [0.2, 0.5, 0.8]
    assert (r.p20_ms, r.median_ms, r.p80_ms) == (0.8, 1.0, 1.2)
    slow = _case({"eager": lambda: (lambda: _time.sleep(0.03))})
    r = measure(slow, "eager", cuda, target_s=0.05, slow_s=0.01)
    assert r.status == "ok" and r.timer == "CUDA events" and r.median_ms == 50.0 and r.reps == 3
    r = measure(slow, "eager", cuda, max_call_s=0.001)
    assert r.status == "ok" and r.timer == "single call (slow)" and r.reps == 1


def test_derive_rates_fractions_and_speedups():
    doc = {"peaks": {"bandwidth_gbs": 100.0, "bf16_tflops": 10.0, "tf32_tflops": 5.0}, "results": []}
    common = dict(op="x", case="c", series="s", size=4, shape={"n": 4}, dtype="float32",
                  baseline="eager", items_name="items", bytes=2e9, flops=4e12, items=1e6)
    doc["results"] = [
        dict(common, provider="eager", status="ok", median_ms=400.0, bound="tf32"),
        dict(common, provider="fastgan", status="ok", median_ms=100.0, bound="tf32"),
        dict(common, provider="compile", status="OOM", median_ms=None, bound="tf32"),
        dict(common, shape={"n": 8}, provider="fastgan", status="ok", median_ms=50.0, bound="bandwidth"),
    ]
    derive(doc)
    eager, fast, comp, other = doc["results"]
    assert fast["tflops"] == pytest.approx(40.0) and fast["gbs"] == pytest.approx(20.0)
    assert fast["items_per_s"] == pytest.approx(1e7)
    assert fast["frac_peak"] == pytest.approx(8.0)  # 40 TFLOP/s over a 5 TFLOP/s tf32 peak
    assert fast["speedup"] == pytest.approx(4.0) and eager["speedup"] == pytest.approx(1.0)
    assert "speedup" not in comp and "tflops" not in comp
    assert other["frac_peak"] == pytest.approx(0.4)  # 40 GB/s over 100 GB/s
    assert "speedup" not in other  # no baseline at that shape


def test_markdown_labels_device_and_statuses():
    doc = {"device": "Toy GPU 80GB", "device_type": "cuda", "mode": "full", "date": "2026-01-01T00:00:00Z",
           "versions": {"torch": "2.x", "triton": "3.6"}, "peaks": {"bandwidth_gbs": 3000.0},
           "skipped_ops": {"sample": "fastgan.sample missing"}, "results": []}
    common = dict(op="mmd", case="gaussian fwd", series="D=64 fwd", size=16384,
                  shape={"N": 16384, "D": 64}, dtype="float32", baseline="eager",
                  items_name="pairs", bytes=3e9, flops=None, items=None, bound="bandwidth",
                  peak_mem_bytes=3 * 2**20, size_name="N")
    doc["results"] = [dict(common, provider="fastgan", status="ok", median_ms=2.0),
                      dict(common, provider="eager", status="ok", median_ms=50.0),
                      dict(common, provider="keops", status="skip", median_ms=None),
                      dict(common, provider="compile", status="OOM", median_ms=None)]
    md = markdown([doc])
    assert md.startswith("**GPU: Toy GPU 80GB**") and "copy 3000 GB/s" in md
    row = next(line for line in md.splitlines() if line.startswith("| gaussian fwd"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["gaussian fwd", "N=16384 D=64", "float32"]
    assert cells[3:7] == ["2 ms", "50 ms", "skip", "OOM"]
    assert cells[7] == "25.00×" and cells[8] == "1.5e+03 GB/s" and cells[9] == "50.0%"
    assert cells[10] == "3 MiB"
    assert "- sample: not benchmarked (fastgan.sample missing)" in md
    assert "| mmd | D=64 fwd | N=16384 D=64 | 2 ms | eager 50 ms | 25.00× | 1.5e+03 GB/s | 50.0% |" in md
    assert "Targets of the op issues" not in md  # no case carried a target
    for r in doc["results"]:
        r["target"] = ">= 20x eager"
    md = markdown([doc], full=False)
    assert ("| mmd | gaussian fwd | N=16384 D=64 | >= 20x eager | 2 ms | "
            "eager 25.00×, keops: skip, compile: OOM | 50.0% |") in md
    assert "| gaussian fwd |" not in md.replace("| mmd | gaussian fwd |", "")  # no full tables


def test_render_writes_overview_png(tmp_path):
    doc = {"device": "cpu thing", "device_type": "cpu", "mode": "quick", "date": "2026-01-01",
           "versions": {}, "peaks": {}, "results": [
               dict(op="random", case="rand", series="rand", size=n, shape={"n": n}, dtype="float32",
                    provider=p, status="ok", median_ms=n * f, baseline="torch", bound=None,
                    items_name="samples", size_name="n")
               for n in (16, 256, 4096) for p, f in (("fastgan", 1e-3), ("torch", 2e-3))]}
    text = render([doc], markdown=tmp_path / "t.md", overview=tmp_path / "o.png", plots=tmp_path / "p")
    assert (tmp_path / "t.md").read_text() == text and "**CPU: cpu thing**" in text
    assert "CPU numbers" in text
    for png in (tmp_path / "o.png", tmp_path / "p" / "random.png"):
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_missing_or_broken_op_is_skipped_not_fatal(tmp_path, monkeypatch):
    class Missing:
        @staticmethod
        def missing():
            return "fastgan.toy is not written yet"

    class Broken:
        @staticmethod
        def missing():
            return None

        @staticmethod
        def cases(device, mode):
            raise RuntimeError("cases exploded")

    real_load = bench_cases.load
    fakes = {"mmd": Missing, "sample": Broken}
    monkeypatch.setattr(bench_cases, "load", lambda op: fakes.get(op) or real_load(op))
    doc = runner.run(CPU, "dry", ["mmd", "sample", "random"], peaks=False, out=tmp_path / "r.json",
                     log=lambda *a: None)
    assert doc["skipped_ops"]["mmd"] == "fastgan.toy is not written yet"
    assert "RuntimeError: cases exploded" in doc["skipped_ops"]["sample"]
    assert {r["op"] for r in doc["results"]} == {"random"}
    assert json.loads((tmp_path / "r.json").read_text())["skipped_ops"] == doc["skipped_ops"]


def test_time_budget_records_budget_status(tmp_path):
    doc = runner.run(CPU, "dry", ["random"], peaks=False, out=tmp_path / "r.json", time_budget=0.0,
                     log=lambda *a: None)
    assert doc["results"] and all(r["status"] == "budget" for r in doc["results"])
    assert all("time budget" in r["message"] for r in doc["results"])


def test_cli_rejects_bad_arguments(capsys):
    assert runner.main(["--ops", "random,nope", "--device", "cpu"]) == 2
    assert "unknown op(s) nope" in capsys.readouterr().err
    assert runner.main(["--threads", "0", "--device", "cpu", "--dry-run"]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="unsupported device"):
        runner.main(["--device", "meta", "--dry-run"])
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        bench_cases.load("nope")


@pytest.mark.parametrize("op", bench_cases.OPS)
@pytest.mark.parametrize("mode", ["dry", "quick", "full"])
def test_case_grids_are_well_formed(op, mode):
    mod = bench_cases.load(op)
    reason = mod.missing()
    if reason:
        pytest.skip(f"{op}: {reason}")
    cases = mod.cases(CPU, mode)  # builds closures only; nothing is allocated or run
    assert cases
    keys = [c.key for c in cases]
    assert len(set(keys)) == len(keys), "two cases with the same op/name/shape/dtype"
    for c in cases:
        assert c.op == op and "fastgan" in c.providers and c.baseline in c.providers
        assert c.size > 0 and (c.bytes or c.flops or c.items)
        assert c.bound in (None, "bandwidth", "bf16", "tf32")
    if mode == "dry":
        assert len({c.name for c in cases}) == len(cases), "dry mode: one shape per case"


def test_full_grids_cover_the_issue_targets():
    mmd = bench_cases.load("mmd")
    if mmd.missing() is None:
        shapes = {(c.shape["N"], c.shape["D"]) for c in mmd.cases(CPU, "full")}
        assert {(16384, 64), (1 << 20, 64), (1 << 20, 3), (1024, 2048)} <= shapes
        assert {"fastgan", "eager", "compile", "keops"} <= set(mmd.cases(CPU, "full")[0].providers)
    gan = bench_cases.load("gan_loss")
    if gan.missing() is None:
        sizes = {c.shape["B"] for c in gan.cases(CPU, "full")}
        assert {64, 65536, 1 << 26} <= sizes
    rnd = {c.shape["n"] for c in bench_cases.load("random").cases(CPU, "full")}
    assert max(rnd) == 1 << 28


def test_pytest_benchmark_files_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
         "bench/bench_random.py", "bench/bench_train.py"],
        cwd=ROOT, env=dict(_env(), FASTGAN_BENCH_MODE="dry"), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_gpu_script_help_and_bad_argument():
    script = ROOT / "scripts" / "gpu_run.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    h = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "pip install --no-build-isolation --no-deps" in h.stdout
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument '--bogus'" in bad.stderr


def _gpu_script_dry_run(out, ops: str, tests: str, timeout: int):
    """scripts/gpu_run.sh --dry-run writing to ``out``; asserts it exits 0 and returns the
    summary.txt it wrote."""
    env = dict(_env(), OUT=str(out), FASTGAN_GPU_BENCH_OPS=ops, FASTGAN_GPU_TESTS=tests)
    proc = subprocess.run(["bash", "scripts/gpu_run.sh", "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return (out / "summary.txt").read_text()


def test_gpu_script_cpu_dry_run(tmp_path):
    out = tmp_path / "out"
    summary = _gpu_script_dry_run(out, "random", "tests/test_bench.py", timeout=400)
    assert "DRY RUN on CPU" in summary
    assert "install    skipped (dry run)" in summary
    for step in ("tests", "bench", "render"):
        line = next(x for x in summary.splitlines() if x.strip().startswith(step + " "))
        assert " ok " in line, summary
    assert "tests collected" in summary
    files = {p.name for p in out.iterdir()}
    assert {"summary.txt", "run.log", "bench_table.md", "bench_overview.png", "extras.tar.gz"} <= files
    assert len(files) <= 8  # what the device tool returns
    jsons = [p for p in out.iterdir() if p.suffix == ".json" and p.name != "window.json"]
    assert len(jsons) == 1 and jsons[0].stem.startswith("cpu")
    # the window step (bench/gpu_window.py) in its dry mode: checked, then timed, per case
    window = json.loads((out / "window.json").read_text())
    assert window["mode"] == "dry" and window["results"]
    assert all(r["status"] == "ok" and r["check_error"] <= r["tolerance"]
               for r in window["results"]), window["results"]
    for step in ("smoke", "window"):
        line = next(x for x in summary.splitlines() if x.strip().startswith(step + " "))
        assert " ok " in line, summary
    assert "window (median ms, check error):" in summary
    doc = json.loads(jsons[0].read_text())
    assert doc["mode"] == "dry" and {r["op"] for r in doc["results"]} == {"random"}
    assert "**CPU: " in (out / "bench_table.md").read_text()
    assert not math.isnan(sum(r["median_ms"] for r in doc["results"] if r["status"] == "ok"))


def test_gpu_script_goes_on_after_failing_steps(tmp_path):
    out = tmp_path / "out"
    summary = _gpu_script_dry_run(out, "no_such_op", "tests/no_such_file.py", timeout=300)
    steps = {line.split()[0]: line for line in summary.splitlines() if line.startswith("  ")
             and line.split()[0] in ("tests", "bench", "render")}
    assert "FAILED (exit 4)" in steps["tests"]  # pytest: file not found
    assert "FAILED (exit 2)" in steps["bench"]  # runner: unknown op
    assert "skipped: no results JSON" in steps["render"]
    assert "unknown op(s) no_such_op" in (out / "run.log").read_text()


def test_merge_replaces_rerun_op_families(tmp_path):
    from bench.render import main as render_main, merge

    def doc(device, date, rows, skipped=None):
        return {"device": device, "device_type": "cuda", "mode": "full", "date": date,
                "versions": {}, "peaks": {"bandwidth_gbs": 10.0}, "skipped_ops": skipped or {},
                "results": [dict(op=op, case="c", series="s", size=1, shape={"n": 1}, dtype="float32",
                                 provider=p, status="ok", median_ms=ms, baseline="eager",
                                 bound="bandwidth", bytes=1e9) for op, p, ms in rows]}

    first = doc("G", "d1", [("mmd", "fastgan", 1.0), ("mmd", "eager", 2.0), ("random", "fastgan", 5.0)],
                skipped={"sample": "missing"})
    second = doc("G", "d2", [("mmd", "fastgan", 0.5), ("sample", "fastgan", 3.0)])
    m = merge([first, second])
    got = sorted((r["op"], r["provider"], r["median_ms"]) for r in m["results"])
    assert got == [("mmd", "fastgan", 0.5), ("random", "fastgan", 5.0), ("sample", "fastgan", 3.0)]
    assert m["skipped_ops"] == {} and m["merged_from"] == [{"date": "d2", "ops": ["mmd", "sample"]}]
    assert first["results"][0]["median_ms"] == 1.0  # inputs untouched
    with pytest.raises(ValueError, match="cannot merge results of 'H'"):
        merge([first, doc("H", "d3", [])])
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(first))
    b.write_text(json.dumps(second))
    assert render_main([str(a), str(b), "--merge", str(tmp_path / "m.json"),
                        "--markdown", str(tmp_path / "m.md")]) == 0
    assert len(json.loads((tmp_path / "m.json").read_text())["results"]) == 3
    assert "**GPU: G**" in (tmp_path / "m.md").read_text()

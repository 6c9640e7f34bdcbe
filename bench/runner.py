"""The benchmark runner: ``fastgan bench ...`` or ``python -m bench ...``.

Measures the device's peaks once (copy GB/s, bf16 and tf32 matmul TFLOP/s), then times every
op family and provider over its shape grid and writes one JSON file, by default
``bench/results/<device>.json``, rewritten after every case so an interrupted run keeps what it
measured. ``--render`` also writes the Markdown table and PNG plots next to it.

Modes: ``full`` (the issues' grids; the default on CUDA), ``quick`` (small sizes; the default on
CPU, ~1–2 minutes), ``dry`` (one tiny shape per case, a couple of repetitions: checks the
machinery in seconds). On CPU the fastgan ops take their pure-PyTorch / C++ paths and
torch.compile is left out unless ``--compile`` is given (inductor's CPU compiles are slow).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import cases as _cases
from .harness import device_name, measure
from .peaks import measure_peaks
from .report import derive

__all__ = ["main", "run", "default_output", "device_slug"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# share of the time budget per op family (unused time carries over to the next family)
_WEIGHTS = {"random": 0.08, "mmd": 0.35, "gan_loss": 0.13, "sample": 0.17, "train": 0.15, "stats": 0.12}


def device_slug(device: torch.device) -> str:
    name = device_name(device)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or device.type
    if device.type == "cpu" and not slug.startswith("cpu"):
        slug = "cpu-" + slug
    return slug[:80]


def default_output(device: torch.device, mode: str) -> Path:
    if mode == "dry":
        return Path(tempfile.gettempdir()) / f"fastgan-bench-{device_slug(device)}-dry.json"
    return RESULTS_DIR / f"{device_slug(device)}.json"


def _versions() -> dict:
    out = {"torch": torch.__version__, "python": platform.python_version()}
    try:
        import triton

        out["triton"] = triton.__version__
    except Exception:  # noqa: BLE001
        out["triton"] = None
    try:
        import fastgan

        out["fastgan"] = fastgan.__version__
    except Exception:  # noqa: BLE001
        out["fastgan"] = None
    try:
        import subprocess

        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
        out["git"] = rev.stdout.strip() or None
    except Exception:  # noqa: BLE001
        out["git"] = None
    # a copy of the tree without .git (a lent GPU machine) can still name its commit
    out["git"] = os.environ.get("FASTGAN_GIT_REV") or out["git"]
    return out


def _parse(argv):
    p = argparse.ArgumentParser(prog="fastgan bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda or cuda:N")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--mode", choices=("dry", "quick", "full"), default=None,
                   help="shape grid: full (CUDA default), quick (CPU default), dry (tiny, seconds)")
    g.add_argument("--quick", dest="mode", action="store_const", const="quick")
    g.add_argument("--full", dest="mode", action="store_const", const="full")
    g.add_argument("--dry-run", dest="mode", action="store_const", const="dry")
    p.add_argument("--ops", default=",".join(_cases.OPS),
                   help=f"comma-separated op families ({', '.join(_cases.OPS)})")
    p.add_argument("--providers", default=None,
                   help="comma-separated providers to time (default: all that apply)")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile(reference) on CPU (always on for CUDA)")
    p.add_argument("--no-compile", action="store_true", help="never time torch.compile")
    p.add_argument("--no-peaks", action="store_true", help="skip the peak measurements")
    o = p.add_mutually_exclusive_group()
    o.add_argument("--out", default=None, help="JSON output path (default bench/results/<device>.json)")
    o.add_argument("--out-dir", default=None, help="write <dir>/<device>.json instead")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds for the whole run; cases beyond it are recorded as 'budget'")
    p.add_argument("--target-s", type=float, default=None,
                   help="seconds of timing per provider and case (default by mode)")
    p.add_argument("--render", action="store_true",
                   help="also write <out>.md (table) and <out stem>_plots/ (PNG) after the run")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for CPU runs (1 gives steadier numbers on a busy host)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def _resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("fastgan bench: --device cuda requested but no CUDA device is available")
    if dev.type not in ("cpu", "cuda"):
        raise SystemExit(f"fastgan bench: unsupported device {spec!r} (use cpu or cuda)")
    return dev


def _fmt_ms(ms):
    if ms is None:
        return "-"
    return f"{ms * 1e3:.1f} us" if ms < 1 else (f"{ms:.2f} ms" if ms < 1e3 else f"{ms / 1e3:.2f} s")


def run(device: torch.device, mode: str, ops, *, providers=None, with_compile=None,
        peaks=True, out: Path | None = None, time_budget=None, target_s=None, log=print) -> dict:
    """Run the benchmarks and return (and write) the results document."""
    t_start = time.perf_counter()
    cuda = device.type == "cuda"
    if with_compile is None:
        with_compile = cuda
    if target_s is None:
        target_s = {"dry": 0.005, "quick": 0.15, "full": 0.25}[mode]
    if time_budget is None:
        time_budget = {"dry": 60.0, "quick": 150.0, "full": 420.0}[mode]
    out = Path(out) if out is not None else default_output(device, mode)
    doc = {
        "schema": 1,
        "device": device_name(device),
        "device_type": device.type,
        "device_slug": device_slug(device),
        "mode": mode,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": _versions(),
        "host": platform.node(),
        "cpu_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in ("FASTGAN_BACKEND", "TRITON_INTERPRET") if k in os.environ},
        "peaks": {},
        "skipped_ops": {},
        "results": [],
    }
    if cuda:
        doc["cuda"] = torch.version.cuda
    log(f"fastgan bench on {doc['device']} ({device.type}, mode={mode}); torch {torch.__version__}, "
        f"triton {doc['versions']['triton']}")
    if device.type == "cpu":
        log("  CPU numbers: fastgan's CPU paths (PyTorch/C++) vs PyTorch on CPU, not GPU kernels")

    def save():
        doc["elapsed_s"] = round(time.perf_counter() - t_start, 2)
        derive(doc)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1, default=str))
        tmp.replace(out)

    if peaks:
        doc["peaks"] = measure_peaks(device, mode)
        pk = doc["peaks"]
        log(f"  peaks: copy {pk.get('bandwidth_gbs') or 0:.1f} GB/s, bf16 {pk.get('bf16_tflops') or 0:.2f} "
            f"TFLOP/s, tf32 {pk.get('tf32_tflops') or 0:.2f} TFLOP/s")
    save()

    deadline = t_start + time_budget
    weights = {op: _WEIGHTS.get(op, 0.1) for op in ops}
    for i, op in enumerate(ops):
        try:
            mod = _cases.load(op)
            reason = mod.missing()
        except Exception as exc:  # noqa: BLE001 - a broken case module must not stop the others
            mod, reason = None, f"loading its cases failed: {type(exc).__name__}: {exc}"
        if reason is None:
            try:
                op_cases = mod.cases(device, mode)
            except Exception as exc:  # noqa: BLE001 - a broken op module must not stop the others
                reason = f"building the cases failed: {type(exc).__name__}: {exc}"
        if reason is not None:
            doc["skipped_ops"][op] = reason
            log(f"[{op}] skipped: {reason}")
            save()
            continue
        now = time.perf_counter()
        rest = sum(weights[o] for o in ops[i:])
        op_deadline = now + (deadline - now) * weights[op] / rest
        log(f"[{op}] {len(op_cases)} cases, {max(0.0, op_deadline - now):.0f} s budget")
        # Within a priority level: every case's fastgan timings first, then the baselines,
        # then the rest (torch.compile, KeOps): a slow first compilation cannot starve a
        # later fastgan target of its budget.
        tasks = []
        for ci, case in enumerate(op_cases):
            names = [p for p in case.providers if providers is None or p in providers]
            if not with_compile:
                names = [p for p in names if p != "compile"]
            for name in names:
                rank = 0 if name.split(":")[0] == "fastgan" else 1 if name == case.baseline else 2
                tasks.append((case.priority, rank, ci, name, case))
        tasks.sort(key=lambda t: t[:3])
        for *_, name, case in tasks:
            if time.perf_counter() > op_deadline:
                from .harness import Result

                r = Result.of(case, name, "budget",
                              message="time budget exhausted before this case")
            else:
                r = measure(case, name, device, target_s=target_s,
                            min_reps=1 if mode == "dry" else 3,
                            max_call_s={"dry": 10.0, "quick": 3.0, "full": 1.5}[mode])
            doc["results"].append(r.to_dict())
            if r.status != "budget":
                shape = " ".join(f"{k}={v}" for k, v in case.shape.items())
                extra = r.message[:120] if r.status != "ok" else f"{r.reps} reps"
                log(f"  {case.name:<18} {shape:<28} {name:<16} {r.status:<5} "
                    f"{_fmt_ms(r.median_ms):>10}  {extra}")
            save()
    n_budget = sum(r["status"] == "budget" for r in doc["results"])
    if n_budget:
        log(f"  {n_budget} provider timings not run: the time budget ({time_budget:.0f} s) ran out")
    save()
    log(f"wrote {out} ({len(doc['results'])} timings, {doc['elapsed_s']:.0f} s)")
    return doc


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``fastgan bench`` and ``python -m bench``; returns the exit status."""
    args = _parse(argv)
    device = _resolve_device(args.device)
    mode = args.mode or ("full" if device.type == "cuda" else "quick")
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    bad = [o for o in ops if o not in _cases.OPS]
    if bad:
        print(f"fastgan bench: unknown op(s) {', '.join(bad)}; choose from {', '.join(_cases.OPS)}",
              file=sys.stderr)
        return 2
    if args.threads is not None:
        if args.threads < 1:
            print("fastgan bench: --threads must be >= 1", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    providers = None if args.providers is None else {p.strip() for p in args.providers.split(",")}
    with_compile = False if args.no_compile else (True if args.compile else None)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    if args.list:
        for op in ops:
            try:
                mod = _cases.load(op)
                reason = mod.missing()
            except Exception as exc:  # noqa: BLE001
                reason = f"loading its cases failed: {type(exc).__name__}: {exc}"
            if reason:
                print(f"[{op}] skipped: {reason}")
                continue
            for c in mod.cases(device, mode):
                print(f"[{op}] {c.key}  providers={','.join(c.providers)}")
        return 0
    if args.out_dir is not None:
        args.out = str(Path(args.out_dir) / f"{device_slug(device)}.json")
    doc = run(device, mode, ops, providers=providers, with_compile=with_compile,
              peaks=not args.no_peaks, out=args.out, time_budget=args.time_budget,
              target_s=args.target_s, log=log)
    if args.render:
        from .render import render

        out = Path(args.out) if args.out else default_output(device, mode)
        md = out.with_suffix(".md")
        render([doc], markdown=md, plots=out.parent / f"{out.stem}_plots")
        log(f"wrote {md} and {out.parent / (out.stem + '_plots')}/")
    errors = [r for r in doc["results"] if r["status"] == "error"]
    if errors:
        log(f"{len(errors)} provider(s) failed with an error (see 'message' in the JSON)")
    return 0

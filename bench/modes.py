"""``python -m bench.modes``: the mode-collapse benchmark of VEEGAN and PacGAN (issue 16).

A grid of settings × data sets (the ring of 8 and the grid of 25 Gaussians) over seeds. Each
run is one ``fastgan train`` run (:func:`fastgan.train.run.train_builtin`, so the numbers are
those of the command line), on one CPU thread, in a temporary folder; then 2,500 samples of
the run's fixed sample stream are scored by :func:`fastgan.train.mode_coverage`:

- high quality: within 3σ of the nearest mode centre (σ the data's per-mode std);
- modes covered, VEEGAN's rule as fastgan counts it: at least 20 high-quality samples have the
  mode as their nearest centre (20 of 2,500 is fastgan's count);
- modes covered, PacGAN's released code: the mode is the nearest centre of at least one
  high-quality sample;
- reverse KL as PacGAN reports it: KL(p ‖ uniform) in nats, p the histogram of the
  *high-quality* samples' nearest modes normalised to sum to 1, Σ_k p_k·log(p_k·K) with
  0·log 0 = 0 (computed with the log's argument floored at ε = 1e-10, so empty modes add 0).

The data: ``grid`` 5×5 at {−4, −2, 0, 2, 4}², σ = 0.05 (both papers); ``ring`` fastgan's
built-in ring, 8 modes on a circle of radius 2 with σ = 0.02, the ring VEEGAN draws (PacGAN's
text describes another ring; this benchmark uses VEEGAN's).

Per cell: the mean ± standard error (sample std / √n over seeds) of each number (the reverse
KL's mean leaves out runs without any high-quality sample, where it is undefined), and of the
run's wall time and process CPU time (user + system of the process that trained). The
machine may be shared with other work: the wall time then includes waiting for a core, the CPU
time does not, so the CPU time is the one to compare with a budget of CPU-minutes.

Outputs ``bench/results/modes.json`` (every run), ``modes.md`` (the table) and ``modes.png``
(the first seed's samples of each cell against the mode centres).

    python -m bench.modes                          # 10 seeds, gmmn defaults vs --preset modes
    python -m bench.modes --settings modes --seeds 3 --jobs 2
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# setting name -> (model, preset of ``fastgan train``: None for today's per-data defaults)
SETTINGS = {
    "gan": ("gan", None),
    "gmmn": ("gmmn", None),
    "mmdgan": ("mmdgan", None),
    "modes": ("gmmn", "modes"),
}
DATA = ("grid", "ring")
SAMPLES = 2500


def run_one(setting: str, data: str, seed: int, steps: int | None = None) -> dict:
    """One training run of ``setting`` on ``data`` with ``seed``; its scores and times."""
    import numpy as np
    import torch

    import fastgan
    from fastgan.train import mode_coverage
    from fastgan.train.run import sample_checkpoint, train_builtin

    torch.set_num_threads(1)
    model, preset = SETTINGS[setting]
    with tempfile.TemporaryDirectory(prefix="fastgan-modes-") as tmp:
        c0, t0 = time.process_time(), time.perf_counter()
        metrics = train_builtin(model, data, out=Path(tmp) / "run", seed=seed, steps=steps, preset=preset,
                                progress=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        sample_checkpoint(Path(tmp) / "run" / "checkpoint.pt", SAMPLES, Path(tmp) / "samples.npy")
        samples = torch.from_numpy(np.load(Path(tmp) / "samples.npy"))
    ds = fastgan.data.load(data)
    cov = mode_coverage(samples, ds.centers, ds.std)
    return {"setting": setting, "model": model, "preset": preset, "data": data, "seed": seed,
            "steps": metrics["steps"], "batch_size": metrics["batch_size"],
            "modes_covered": cov["modes_covered"], "modes_covered_any": cov["modes_covered_any"],
            "modes_total": cov["modes_total"], "high_quality_share": cov["high_quality_share"],
            "reverse_kl": cov["reverse_kl"], "counts": cov["counts"], "train_seconds": metrics["seconds"],
            "wall_seconds": wall, "cpu_seconds": cpu, "samples": samples[:SAMPLES].tolist()}


def _mean_se(values) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (len(values) - 1)
    return m, math.sqrt(var / len(values))


def summarise(runs: list[dict]) -> list[dict]:
    """Mean ± standard error per (setting, data) cell."""
    cells = {}
    for r in runs:
        cells.setdefault((r["setting"], r["data"]), []).append(r)
    out = []
    for (setting, data), rs in cells.items():
        row = {"setting": setting, "data": data, "seeds": len(rs), "modes_total": rs[0]["modes_total"],
               "steps": rs[0]["steps"], "batch_size": rs[0]["batch_size"]}
        for key in ("modes_covered", "modes_covered_any", "high_quality_share", "reverse_kl", "wall_seconds",
                    "cpu_seconds"):
            row[key], row[key + "_se"] = _mean_se([r[key] for r in rs])
        out.append(row)
    return out


def _fmt(m, se, digits=1, scale=1.0):
    if math.isnan(m):
        return "—"
    if math.isnan(se):
        return f"{m * scale:.{digits}f}"
    return f"{m * scale:.{digits}f} ± {se * scale:.{digits}f}"


def markdown(rows: list[dict], machine: str) -> str:
    lines = [f"**{machine}**, one thread per run, {SAMPLES} samples per run; mean ± standard error over seeds. "
             "Covered (VEEGAN): ≥ 20 high-quality samples nearest the mode; covered (PacGAN code): ≥ 1. "
             "High quality: within 3σ of the nearest mode. Reverse KL: KL(mode histogram of the high-quality "
             "samples ‖ uniform), nats (runs without a high-quality sample left out of its mean). No truncation. Wall time includes waiting for a core on a shared "
             "machine; CPU time is the process's own.", "",
             "| setting | data | seeds | steps × batch | covered (VEEGAN, ≥20) | covered (PacGAN, ≥1) "
             "| high quality % | reverse KL | CPU s / run | wall s / run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['data']} | {r['seeds']} | {r['steps']} × {r['batch_size']} "
            f"| {_fmt(r['modes_covered'], r['modes_covered_se'])}/{r['modes_total']} "
            f"| {_fmt(r['modes_covered_any'], r['modes_covered_any_se'])}/{r['modes_total']} "
            f"| {_fmt(r['high_quality_share'], r['high_quality_share_se'], scale=100)} "
            f"| {_fmt(r['reverse_kl'], r['reverse_kl_se'], digits=3)} "
            f"| {_fmt(r['cpu_seconds'], r['cpu_seconds_se'])} | {_fmt(r['wall_seconds'], r['wall_seconds_se'])} |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import fastgan

    firsts = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        firsts.setdefault((r["setting"], r["data"]), r)
    settings = sorted({k[0] for k in firsts}, key=list(SETTINGS).index)
    datas = sorted({k[1] for k in firsts})
    fig, axes = plt.subplots(len(datas), len(settings), figsize=(3.2 * len(settings), 3.2 * len(datas)),
                             squeeze=False)
    for i, data in enumerate(datas):
        centers = fastgan.data.load(data).centers
        for j, setting in enumerate(settings):
            ax = axes[i][j]
            r = firsts.get((setting, data))
            if r is None:
                ax.axis("off")
                continue
            xs = [p[0] for p in r["samples"]]
            ys = [p[1] for p in r["samples"]]
            ax.scatter(xs, ys, s=1, alpha=0.4)
            ax.scatter(centers[:, 0], centers[:, 1], s=12, c="red", marker="x")
            lim = 5.2 if data == "grid" else 2.6
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(f"{setting} / {data}, seed {r['seed']}\n{r['modes_covered']}/{r['modes_total']} modes, "
                         f"{100 * r['high_quality_share']:.1f}% HQ", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_name() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {cpu} ({os.cpu_count()} cores)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.modes", description=__doc__.splitlines()[0])
    p.add_argument("--settings", default="gmmn,modes",
                   help=f"comma-separated, from {', '.join(SETTINGS)} (default gmmn,modes)")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated: grid, ring")
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per cell (default 10)")
    p.add_argument("--steps", type=int, default=None, help="override the steps of every run (a quick look)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (default 1)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for modes.json/.md/.png")
    p.add_argument("--name", default="modes", help="file name stem (default modes)")
    args = p.parse_args(argv)
    settings = [s for s in args.settings.split(",") if s]
    datas = [d for d in args.data.split(",") if d]
    for s in settings:
        if s not in SETTINGS:
            p.error(f"--settings: unknown setting {s!r}; choose from {', '.join(SETTINGS)}")
    for d in datas:
        if d not in DATA:
            p.error(f"--data: unknown data set {d!r}; choose from {', '.join(DATA)}")
    if args.seeds < 1 or args.jobs < 1:
        p.error("--seeds and --jobs must be >= 1")
    # seed-major order: every cell has results early in a long run
    jobs = [(s, d, seed, args.steps) for seed in range(args.seeds) for s in settings for d in datas]
    runs = []
    if args.jobs == 1:
        for job in jobs:
            runs.append(run_one(*job))
            _progress(runs[-1])
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            for r in pool.map(_star, jobs):
                runs.append(r)
                _progress(r)
    rows = summarise(runs)
    machine = machine_name()
    table = markdown(rows, machine)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    record = {"machine": machine, "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "samples": SAMPLES, "jobs": args.jobs, "summary": rows,
              "runs": [{k: v for k, v in r.items() if k != "samples"} for r in runs]}
    (args.out / f"{args.name}.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(table)
    plot(runs, args.out / f"{args.name}.png")
    print(f"wrote {args.out / args.name}.json, .md, .png")
    return 0


def _star(job):
    return run_one(*job)


def _progress(r: dict) -> None:
    print(f"{r['setting']:>7} {r['data']:>4} seed {r['seed']:>2}: {r['modes_covered']}/{r['modes_total']} "
          f"(≥1: {r['modes_covered_any']}), {100 * r['high_quality_share']:.1f}% HQ, "
          f"cpu {r['cpu_seconds']:.1f} s, wall {r['wall_seconds']:.1f} s", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

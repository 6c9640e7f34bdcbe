"""Turn results JSON into the README's Markdown tables and log-log PNG plots.

    python -m bench.render bench/results/<device>.json [more.json ...] \
        [--markdown table.md] [--plots DIR] [--overview overview.png] [--summary-only] \
        [--merge merged.json]

One table per op family and device: a row per case and shape, the median time of every
provider, fastgan's speedup over the baseline (eager reference / plain PyTorch), its achieved
rate and fraction of the device's measured peak, and its peak memory. The header line names the
device (and says CPU when the numbers come from a CPU). Plots: time vs size per op, one panel
per series (e.g. D=64 fwd), one line per provider, log-log.
"""
from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from pathlib import Path

from .report import case_key, derive

__all__ = ["render", "markdown", "summary", "targets", "plot", "merge", "main"]

_SHORT = {"ok": None, "OOM": "OOM", "skip": "skip", "error": "error", "budget": "—"}


def _fmt_ms(ms):
    if ms is None:
        return "-"
    if ms < 1:
        return f"{ms * 1e3:.3g} µs"
    if ms < 1e3:
        return f"{ms:.3g} ms"
    return f"{ms / 1e3:.3g} s"


def _fmt_rate(r):
    if r.get("tflops") is not None and r.get("bound") in ("bf16", "tf32"):
        return f"{r['tflops']:.3g} TFLOP/s"
    if r.get("gbs") is not None:
        return f"{r['gbs']:.3g} GB/s"
    if r.get("items_per_s") is not None:
        return f"{r['items_per_s']:.3g} {r.get('items_name', 'items')}/s"
    return "-"


def _fmt_bytes(b):
    if b is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024 or unit == "GiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024


def _device_line(doc) -> str:
    kind = "CPU" if doc.get("device_type") == "cpu" else "GPU"
    v = doc.get("versions", {})
    pk = doc.get("peaks") or {}
    peaks = []
    if pk.get("bandwidth_gbs"):
        peaks.append(f"copy {pk['bandwidth_gbs']:.0f} GB/s")
    if pk.get("bf16_tflops"):
        peaks.append(f"bf16 {pk['bf16_tflops']:.3g} TFLOP/s")
    if pk.get("tf32_tflops"):
        peaks.append(f"{'tf32' if kind == 'GPU' else 'fp32'} {pk['tf32_tflops']:.3g} TFLOP/s")
    threads = (f", {doc['cpu_threads']} thread{'s' if doc['cpu_threads'] != 1 else ''}"
               if kind == "CPU" and doc.get("cpu_threads") else "")
    line = (f"**{kind}: {doc['device']}**{threads} — torch {v.get('torch')}, triton {v.get('triton')}, "
            f"{doc.get('date', '')[:10]}, mode `{doc.get('mode')}`")
    if peaks:
        line += "; measured peaks: " + ", ".join(peaks)
    return line


def summary(doc: dict) -> str:
    """The README's short table: per op and series, the largest size at which both fastgan and
    the baseline ran (else the largest fastgan ran), with speedup and fraction of peak."""
    derive(doc)
    groups: "OrderedDict[tuple, dict]" = OrderedDict()
    for r in doc["results"]:
        groups.setdefault((r["op"], r["series"]), {}).setdefault(case_key(r), {})[r["provider"]] = r
    lines = ["| op | case | shape | fastgan | baseline | speedup | fastgan rate | % of peak |",
             "|---|---|---|---|---|---|---|---|"]
    for (op, series), by_case in groups.items():
        ok = [c for c in by_case.values() if c.get("fastgan", {}).get("status") == "ok"]
        if not ok:
            continue
        both = [c for c in ok if c["fastgan"].get("speedup")]
        pick_from = both or ok
        c = max(pick_from, key=lambda c: c["fastgan"]["size"])
        f = c["fastgan"]
        b = c.get(f.get("baseline"))
        base = (f"{f.get('baseline')} {_fmt_ms(b['median_ms'])}" if b and b["status"] == "ok"
                else f"{f.get('baseline')}: {b['status'] if b else 'not run'}")
        lines.append("| " + " | ".join([
            op, series, " ".join(f"{k}={v}" for k, v in f["shape"].items()), _fmt_ms(f["median_ms"]),
            base, f"{f['speedup']:.2f}×" if f.get("speedup") else "-", _fmt_rate(f),
            f"{100 * f['frac_peak']:.1f}%" if f.get("frac_peak") is not None else "-"]) + " |")
    return "\n".join(lines) + "\n"


def targets(doc: dict) -> str:
    """The issues' targets: per target case fastgan's time, its speedup over every other
    provider (their median / fastgan's) and its fraction of peak. Empty when none ran."""
    derive(doc)
    by_case: "OrderedDict[tuple, dict]" = OrderedDict()
    for r in doc["results"]:
        if r.get("target"):
            by_case.setdefault(case_key(r), {})[r["provider"]] = r
    if not by_case:
        return ""
    lines = ["| op | case | shape | target | fastgan | fastgan's speedup over | % of peak |",
             "|---|---|---|---|---|---|---|"]
    for by_p in by_case.values():
        f = by_p.get("fastgan")
        any_r = f or next(iter(by_p.values()))
        ratios = []
        for p, r in by_p.items():
            if p == "fastgan":
                continue
            if r["status"] == "ok" and f is not None and f["status"] == "ok":
                ratios.append(f"{p} {r['median_ms'] / f['median_ms']:.2f}×")
            else:
                ratios.append(f"{p}: {_SHORT.get(r['status']) or r['status']}")
        fast = (_fmt_ms(f["median_ms"]) if f is not None and f["status"] == "ok"
                else (_SHORT.get(f["status"]) or f["status"]) if f is not None else "not run")
        lines.append("| " + " | ".join([
            any_r["op"], any_r["case"], " ".join(f"{k}={v}" for k, v in any_r["shape"].items()),
            any_r["target"], fast, ", ".join(ratios) or "-",
            f"{100 * f['frac_peak']:.1f}%" if f is not None and f.get("frac_peak") is not None else "-",
        ]) + " |")
    return "\n".join(lines) + "\n"


def markdown(docs: list[dict], full: bool = True) -> str:
    """The Markdown for one or more results documents: per document the device line, the
    summary table and (``full``) every op's table."""
    parts = []
    for doc in docs:
        derive(doc)
        parts.append(_device_line(doc))
        if doc.get("device_type") == "cpu":
            parts.append("")
            parts.append("_CPU numbers: fastgan's CPU paths vs PyTorch on the same CPU. "
                         "They say nothing about the GPU kernels._")
        parts.append("")
        parts.append(summary(doc).rstrip())
        tgt = targets(doc) if doc.get("device_type") == "cuda" else ""  # GPU targets only
        if tgt:
            parts.append("")
            parts.append("Targets of the op issues:")
            parts.append("")
            parts.append(tgt.rstrip())
        if not full:
            parts.append("")
            continue
        # one table per op, or per (op, baseline) when an op's cases have different baselines
        baselines: "OrderedDict[str, OrderedDict]" = OrderedDict()
        for r in doc["results"]:
            baselines.setdefault(r["op"], OrderedDict())[r.get("baseline", "eager")] = True
        first_seen: dict = {}
        for r in doc["results"]:
            first_seen.setdefault((r["op"], r["case"]), len(first_seen))
        tables: "OrderedDict[tuple, list]" = OrderedDict()
        for r in sorted(doc["results"], key=lambda r: (first_seen[(r["op"], r["case"])], r["size"],
                                                       str(sorted(r["shape"].items())))):
            tables.setdefault((r["op"], r.get("baseline", "eager")), []).append(r)
        for (op, baseline), rows in tables.items():
            providers = list(OrderedDict.fromkeys(r["provider"] for r in rows))
            cases: "OrderedDict[tuple, dict]" = OrderedDict()
            for r in rows:
                cases.setdefault(case_key(r), {})[r["provider"]] = r
            parts.append("")
            parts.append(f"#### {op}" + (f" (vs {baseline})" if len(baselines[op]) > 1 else ""))
            parts.append("")
            head = ["case", "shape", "dtype", *providers, f"fastgan vs {baseline}",
                    "fastgan rate", "% of peak", "fastgan peak mem"]
            parts.append("| " + " | ".join(head) + " |")
            parts.append("|" + "---|" * len(head))
            for key, by_p in cases.items():
                any_r = next(iter(by_p.values()))
                cells = [any_r["case"], " ".join(f"{k}={v}" for k, v in any_r["shape"].items()),
                         any_r["dtype"]]
                for p in providers:
                    r = by_p.get(p)
                    if r is None:
                        cells.append("")
                    elif r["status"] == "ok":
                        cells.append(_fmt_ms(r["median_ms"]))
                    else:
                        cells.append(_SHORT.get(r["status"], r["status"]))
                f = by_p.get("fastgan")
                if f is not None and f["status"] == "ok":
                    cells.append(f"{f['speedup']:.2f}×" if f.get("speedup") else "-")
                    cells.append(_fmt_rate(f))
                    cells.append(f"{100 * f['frac_peak']:.1f}%" if f.get("frac_peak") is not None else "-")
                    cells.append(_fmt_bytes(f.get("peak_mem_bytes")))
                else:
                    cells += ["-", "-", "-", "-"]
                parts.append("| " + " | ".join(cells) + " |")
        if doc.get("skipped_ops"):
            parts.append("")
            for op, why in doc["skipped_ops"].items():
                parts.append(f"- {op}: not benchmarked ({why})")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _panels(doc):
    """(op, series, size name) -> provider -> [(size, ms)] for ok results."""
    panels: "OrderedDict[tuple, OrderedDict]" = OrderedDict()
    for r in doc["results"]:
        if r["status"] != "ok":
            continue
        lines = panels.setdefault((r["op"], r["series"], r.get("size_name", "size")), OrderedDict())
        lines.setdefault(r["provider"], []).append((r["size"], r["median_ms"]))
    return panels


def plot(doc: dict, outdir: Path | None = None, overview: Path | None = None) -> list[Path]:
    """Log-log time-vs-size PNGs: one per op in ``outdir`` and/or all panels in ``overview``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(doc)
    written = []
    kind = "CPU" if doc.get("device_type") == "cpu" else "GPU"
    title = f"{kind}: {doc['device']} (mode {doc.get('mode')})"

    def draw(ax, op, series, size_name, lines):
        for provider, pts in lines.items():
            pts = sorted(pts)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=provider,
                    lw=2.2 if provider == "fastgan" else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        from matplotlib.ticker import NullFormatter

        for axis in (ax.xaxis, ax.yaxis):  # labelled minor ticks crowd short log ranges
            axis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{op}: {series}", fontsize=9)
        ax.set_xlabel(size_name, fontsize=8)
        ax.set_ylabel("median time (ms)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)

    def figure(items, path, suptitle):
        n = len(items)
        cols = min(4, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
        for ax, ((op, series, size_name), lines) in zip(axes.flat, items):
            draw(ax, op, series, size_name, lines)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        fig.suptitle(suptitle, fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

    if outdir is not None:
        ops = OrderedDict()
        for key, lines in panels.items():
            ops.setdefault(key[0], []).append((key, lines))
        for op, items in ops.items():
            figure(items, Path(outdir) / f"{op}.png", f"{op} — {title}")
    if overview is not None and panels:
        figure(list(panels.items()), Path(overview), title)
    return written


def render(docs: list[dict], markdown: Path | None = None, plots: Path | None = None,
           overview: Path | None = None, full: bool = True) -> str:
    """Write the tables (if ``markdown``) and plots (per op into ``plots``, all into
    ``overview``); returns the Markdown text."""
    text = globals()["markdown"](docs, full=full)
    if markdown is not None:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(text)
    for doc in docs:
        if plots is not None:
            d = Path(plots) if len(docs) == 1 else Path(plots) / doc.get("device_slug", "device")
            plot(doc, outdir=d)
        if overview is not None and len(docs) == 1:
            plot(doc, overview=Path(overview))
    return text


def merge(docs: list[dict]) -> dict:
    """One document from several runs on the same device: each later run's op families
    replace the earlier runs' results for those families (e.g. a second GPU call that re-ran
    only ``mmd``). Peaks and header fields come from the first document."""
    import copy

    out = copy.deepcopy(docs[0])
    for doc in docs[1:]:
        if doc.get("device") != out.get("device"):
            raise ValueError(f"cannot merge results of {doc.get('device')!r} into {out.get('device')!r}")
        ops = {r["op"] for r in doc["results"]}
        out["results"] = [r for r in out["results"] if r["op"] not in ops] + copy.deepcopy(doc["results"])
        for op in ops:
            out.get("skipped_ops", {}).pop(op, None)
        out.setdefault("merged_from", []).append({"date": doc.get("date"), "ops": sorted(ops)})
    return derive(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.split("\n\n")[0])
    p.add_argument("json", nargs="+", help="results files written by the runner")
    p.add_argument("--markdown", default=None, help="write the tables here (default: print them)")
    p.add_argument("--plots", default=None, help="folder for one PNG per op")
    p.add_argument("--overview", default=None, help="one PNG with every panel (single input file)")
    p.add_argument("--summary-only", action="store_true",
                   help="only the device line and the short table (the README's form)")
    p.add_argument("--merge", default=None, metavar="OUT.json",
                   help="merge the inputs (same device; later runs replace earlier runs' op "
                        "families) into OUT.json, then render that")
    args = p.parse_args(argv)
    docs = [json.loads(Path(f).read_text()) for f in args.json]
    if args.merge:
        docs = [merge(docs)]
        Path(args.merge).write_text(json.dumps(docs[0], indent=1, default=str))
    text = render(docs, markdown=args.markdown, plots=args.plots, overview=args.overview,
                  full=not args.summary_only)
    if args.markdown is None:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

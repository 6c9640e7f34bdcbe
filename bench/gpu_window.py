"""The timing step of the 15-minute GPU window (scripts/gpu_run.sh): the headline shapes only,
no torch.compile, each case first checked against a float64 reference (or the CPU path's
bit-exact stream) on a slice, then timed with CUDA events; the JSON is rewritten after every
case, so a run cut off by its time limit still returns what it measured.

    python -m bench.gpu_window --out $OUT/window.json --budget 200
    python -m bench.gpu_window --dry-run --out /tmp/w.json      # CPU check of the machinery
    python -m bench.gpu_window --ncu                             # one MMD fwd+bwd call, for ncu

Cases, in priority order (bench/NOTES.md has each one's floors):
1. MMD, N = M = 16384, D = 64, forward and forward+backward, fp32 inputs (tf32 dots) and
   bf16, for every candidate tile configuration of ``CANDIDATES`` (the launch table's entry
   is swapped for the case and restored after it);
2. MMD forward+backward at D = 2048 (N = M = 16384), recompute vs two-stage GEMM
   (``fastgan.ops.mmd.configure(large_d=...)``);
3. the discriminator's BCE loss and gradient at 2^26 logits per input;
4. ``fastgan.rand`` / ``randn`` of 2^28 values;
5. categorical 4096 × 32768, 256 draws per row; truncated normal of 2^26;
6. a GMMN training step at batch 8192 (bench/cases/train.py's loop).
Each result: median ms (CUDA events around each call, after a warm-up that compiles), the
spread (min, max), the check's error, and the status. Case errors are recorded, never fatal.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch

# (compute_grad, BLOCK_K) -> the configurations the window times at D = 64: the launch
# table's own first (read at run time), then the alternatives the static report ranks next
CANDIDATES = {
    (False, 64): [(128, 128, 8, 3), (128, 64, 8, 2)],
    (True, 64): [(128, 32, 8, 2), (64, 64, 4, 3), (64, 64, 8, 3)],
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device, budget_s: float = 4.0, max_reps: int = 50):
    """(median, min, max) ms of fn() over repeats that fit budget_s after one warm-up call
    (CUDA events around each call on a GPU; a host clock after a synchronize on the CPU)."""
    fn()
    _sync(device)
    times = []
    t_end = time.perf_counter() + budget_s
    while len(times) < max_reps and (len(times) < 3 or time.perf_counter() < t_end):
        if device.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def _rel(out, ref) -> float:
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    den = ref.norm().item()
    return (out - ref).norm().item() / (den if den > 0 else 1.0)


@contextlib.contextmanager
def _blocks(key, blocks):
    """The MMD launch table with ``key`` set to ``blocks`` for a block."""
    from fastgan.ops.mmd import launch

    old = launch.CUDA_BLOCKS[key]
    launch.CUDA_BLOCKS[key] = blocks
    try:
        yield
    finally:
        launch.CUDA_BLOCKS[key] = old


# ------------------------------------------------------------------------------------ cases
def _mmd_inputs(n, d, dtype, device, seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randn(n, d, generator=g) * 1.1 + 0.2
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def _mmd_case(n, d, dtype, grad, device, slice_n, large_d=None):
    """(check, timed callable, work) for fastgan.mmd at N = M = n."""
    import fastgan
    import fastgan.reference as ref
    from fastgan.ops.mmd import configure

    sigma = math.sqrt(2.0 * d)  # k(x, y) of order e^-1 for typical pairs: not all 0 or 1
    def ctx():
        return configure(large_d=large_d) if large_d else contextlib.nullcontext()

    def check():
        xs, ys = _mmd_inputs(slice_n, d, dtype, device, seed=1)
        xs.requires_grad_(grad)
        with ctx():
            v = fastgan.mmd(xs, ys, bandwidth=sigma)
            g = torch.autograd.grad(v, xs)[0] if grad else None
        x64 = xs.detach().double().requires_grad_(grad)
        r = ref.mmd(x64, ys.double(), bandwidth=sigma)
        # MMD² is a difference of sums of size ~1: its error is judged against those terms
        terms = ref.kernel_sums(x64.detach(), ys.double(), bandwidth=sigma)
        scale = sum(abs(float(t)) for t in terms)
        err = abs(float(v.detach()) - float(r.detach())) / scale
        if grad:
            err = max(err, _rel(g, torch.autograd.grad(r, x64)[0]))
        return err

    x, y = _mmd_inputs(n, d, dtype, device)
    if grad:
        x.requires_grad_(True)

    def call():
        with ctx():
            v = fastgan.mmd(x, y, bandwidth=sigma)
            if grad:
                return torch.autograd.grad(v, x)
            return v

    p = 2 * n
    pairs = p * p if grad else p * p / 2
    return check, call, dict(pairs=pairs, flops=pairs * 2 * d * (2 if grad else 1))


def cases(device, dry: bool):
    """[(name, tolerance, builder)]: builder() -> (check, call, work)."""
    from fastgan.ops.mmd import launch

    n = 256 if dry else 16384
    sl = 64 if dry else 2048
    out = []
    for grad in (False, True):
        key = (grad, 64)
        cands = [launch.CUDA_BLOCKS[key]] + [c for c in CANDIDATES[key] if c != launch.CUDA_BLOCKS[key]]
        for dtype, tag, tol in ((torch.float32, "tf32", 3e-3), (torch.bfloat16, "bf16", 3e-2)):
            for i, blocks in enumerate(cands):
                name = f"mmd {'fwd+bwd' if grad else 'fwd'} N=M={n} D=64 {tag} " \
                       f"blocks={'x'.join(map(str, blocks))}{' (table)' if i == 0 else ''}"
                out.append((name, tol, lambda g=grad, dt=dtype, k=key, b=blocks:
                            _with_blocks(k, b, _mmd_case(n, 64, dt, g, device, sl))))
    d_big = 128 if dry else 2048
    for mode in ("gemm", "recompute"):
        out.append((f"mmd fwd+bwd N=M={n} D={d_big} tf32 large_d={mode}", 3e-3,
                    lambda m=mode: _mmd_case(n, d_big, torch.float32, True, device, sl, m)))
    out.append((f"discriminator bce fwd+bwd 2x{'2^12' if dry else '2^26'} logits fp32", 1e-5,
                lambda: _loss_case(1 << 12 if dry else 1 << 26, device)))
    nr = 1 << 12 if dry else 1 << 28
    for what in ("rand", "randn"):
        out.append((f"fastgan.{what} n=2^{int(math.log2(nr))}", 0.0,
                    lambda w=what: _random_case(w, nr, device)))
    r, k, m = (8, 100, 16) if dry else (4096, 32768, 256)
    out.append((f"categorical {r}x{k} n={m}", 0.0, lambda: _categorical_case(r, k, m, device)))
    nt = 1 << 12 if dry else 1 << 26
    out.append((f"truncated_normal n=2^{int(math.log2(nt))}", 1e-5,
                lambda: _truncnorm_case(nt, device)))
    b = 64 if dry else 8192
    out.append((f"GMMN step B={b}", math.inf, lambda: _gmmn_case(b, device, dry)))
    return out


def _with_blocks(key, blocks, built):
    check, call, work = built

    def wrap(f):
        def g():
            with _blocks(key, blocks):
                return f()
        return g
    work = dict(work, blocks=list(blocks))
    return wrap(check), wrap(call), work


def _loss_case(n, device):
    import fastgan.losses as L
    from fastgan.reference.gan_loss import discriminator_loss_reference

    g = torch.Generator(device="cpu").manual_seed(2)
    real = (torch.randn(n, generator=g) * 3).to(device).requires_grad_(True)
    fake = (torch.randn(n, generator=g) * 3).to(device).requires_grad_(True)

    def check():
        s = 1 << 16
        r, f = real[:s].detach().clone().requires_grad_(), fake[:s].detach().clone().requires_grad_()
        v = L.discriminator_loss(r, f)
        gr, gf = torch.autograd.grad(v, (r, f))
        r64, f64 = r.detach().double().requires_grad_(), f.detach().double().requires_grad_()
        w = discriminator_loss_reference(r64, f64)
        wr, wf = torch.autograd.grad(w, (r64, f64))
        return max(_rel(v, w), _rel(gr, wr), _rel(gf, wf))

    def call():
        return torch.autograd.grad(L.discriminator_loss(real, fake), (real, fake))

    return check, call, dict(bytes=4.0 * 4 * n)


def _random_case(what, n, device):
    import fastgan

    fn = getattr(fastgan, what)

    def check():
        # the same stream on the CPU (C++): bit-exact for rand, to rounding for randn
        a = fn(1 << 16, generator=fastgan.Generator(seed=7, device=device), device=device)
        b = fn(1 << 16, generator=fastgan.Generator(seed=7, device="cpu"), device="cpu")
        return _rel(a, b)

    g = fastgan.Generator(seed=7, device=device)
    return check, lambda: fn(n, generator=g, device=device), dict(bytes=4.0 * n)


def _categorical_case(r, k, m, device):
    import fastgan
    import fastgan.sample as fs

    w = torch.rand(r, k, generator=torch.Generator().manual_seed(3)).to(device) + 1e-3

    def check():
        # rows 0..7 of the full call against the CPU path on those rows, same stream
        a = fs.categorical(w[:8], m, generator=fastgan.Generator(seed=3, device=device))
        b = fs.categorical(w[:8].cpu(), m, generator=fastgan.Generator(seed=3, device="cpu"))
        return float((a.cpu() != b).double().mean())

    g = fastgan.Generator(seed=3, device=device)
    return check, lambda: fs.categorical(w, m, generator=g), dict(bytes=4.0 * r * k + 8.0 * r * m)


def _truncnorm_case(n, device):
    import fastgan
    import fastgan.sample as fs

    def check():
        a = fs.truncated_normal(1 << 16, a=-2.0, b=2.0,
                                generator=fastgan.Generator(seed=4, device=device), device=device)
        b = fs.truncated_normal(1 << 16, a=-2.0, b=2.0, dtype=torch.float64,
                                generator=fastgan.Generator(seed=4, device="cpu"), device="cpu")
        return _rel(a, b)

    g = fastgan.Generator(seed=4, device=device)
    return check, lambda: fs.truncated_normal(n, a=-2.0, b=2.0, generator=g, device=device), \
        dict(bytes=4.0 * n)


def _gmmn_case(b, device, dry):
    from bench.cases.train import _step_fn

    step = _step_fn(device, b, True, 32 if dry else 1024)

    def check():
        v = float(step().detach())
        return 0.0 if math.isfinite(v) else math.inf

    return check, step, dict(items=b)


# ------------------------------------------------------------------------------------ run
def _doc(device, args):
    d = dict(script="bench/gpu_window.py", date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             device=torch.cuda.get_device_name(device) if device.type == "cuda" else
             platform.processor() or "cpu", device_type=device.type,
             mode="dry" if args.dry_run else "window", budget_s=args.budget,
             versions=dict(torch=torch.__version__, python=platform.python_version()),
             note="each case checked on a slice (error vs float64 or the CPU stream), then timed",
             results=[])
    try:
        import triton
        d["versions"]["triton"] = triton.__version__
    except ImportError:
        pass
    return d


def run(args) -> dict:
    device = torch.device("cpu" if args.dry_run else "cuda")
    doc = _doc(device, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_end = time.perf_counter() + args.budget
    for name, tol, build in cases(device, args.dry_run):
        if args.only and not any(s in name for s in args.only):
            continue
        row = dict(case=name, tolerance=tol)
        left = t_end - time.perf_counter()
        if left < 5:
            row["status"] = "not run: time budget"
        else:
            t0 = time.perf_counter()
            try:
                check, call, work = build()
                row.update(work)
                err = check()
                row["check_error"] = err
                # a failed check is reported, and the case still timed: the window is scarce
                ok = err <= tol  # NaN fails too
                med, lo, hi = time_ms(call, device, budget_s=0.0 if args.dry_run else
                                      min(4.0, left / 4))
                row.update(median_ms=med, min_ms=lo, max_ms=hi,
                           status="ok" if ok else f"check failed: error {err:.3g} > {tol:g}")
                if "flops" in work:
                    row["tflops"] = work["flops"] / med / 1e9
                if "bytes" in work:
                    row["gbs"] = work["bytes"] / med / 1e6
            except Exception as exc:  # noqa: BLE001 - record, go on with the next case
                row["status"] = f"error: {type(exc).__name__}: {exc}"[:500]
                row["traceback"] = traceback.format_exc()[-2000:]
            row["seconds"] = round(time.perf_counter() - t0, 2)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        doc["results"].append(row)
        out.write_text(json.dumps(doc, indent=1) + "\n")  # after every case
        print(f"[{row['status'][:40]:<40}] {name}: "
              + (f"{row['median_ms']:.3f} ms" if "median_ms" in row else "—"), flush=True)
    return doc


def ncu_target():
    """One MMD forward+backward at the headline shape (the kernel ncu profiles)."""
    import fastgan

    x, y = _mmd_inputs(16384, 64, torch.float32, torch.device("cuda"))
    x.requires_grad_(True)
    for _ in range(2):  # the first call compiles; ncu skips it with --launch-skip
        torch.autograd.grad(fastgan.mmd(x, y, bandwidth=math.sqrt(128.0)), x)
    torch.cuda.synchronize()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_window", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="window.json", help="JSON written after every case")
    ap.add_argument("--budget", type=float, default=200.0, help="seconds for all cases")
    ap.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU")
    ap.add_argument("--only", action="append", help="run cases whose name contains this")
    ap.add_argument("--ncu", action="store_true", help="one MMD fwd+bwd call for ncu")
    args = ap.parse_args(argv)
    if args.budget <= 0:
        ap.error(f"--budget must be > 0 seconds, got {args.budget}")
    if args.ncu:
        ncu_target()
        return 0
    if not args.dry_run and not torch.cuda.is_available():
        print("bench.gpu_window: no CUDA device (use --dry-run on a CPU machine)", file=sys.stderr)
        return 2
    doc = run(args)
    bad = [r for r in doc["results"] if r["status"] != "ok" and not r["status"].startswith("not run")]
    print(f"wrote {args.out}: {sum(r['status'] == 'ok' for r in doc['results'])} ok, "
          f"{len(bad)} failed or errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())

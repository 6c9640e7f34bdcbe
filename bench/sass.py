"""Static performance report of fastgan's Triton kernels on Hopper (sm_90a), read off the
compiled machine code: no GPU needed, every time in it is a prediction.

    python -m bench.sass                       # all kernels; writes bench/results/sass-sm90.json
    python -m bench.sass --markdown t.md       # also the Markdown table (bench/NOTES.md has one)
    python -m bench.sass --only mmd --jobs 2   # one op family, two compiler processes

How. Each launcher (fastgan.ops.mmd.launch, fastgan.ops.gan_loss, fastgan.random,
fastgan.ops.sample) is called at the issue's headline shapes on *fake* CUDA tensors
(``torch._subclasses.fake_tensor.FakeTensorMode``: shapes, strides and dtypes, no memory)
while ``JITFunction.run`` is replaced by a recorder, so the launch arguments, constexprs,
``num_warps`` and ``num_stages`` are the launcher's own, never a copy of its tables. Triton's
own binder then turns them into the signature, constants and divisibility attributes a real
launch would get (integers equal to 1 become constants, pointers and integers divisible by 16
get ``tt.divisibility``; pointers are taken 16-byte aligned, as fresh PyTorch allocations
are). The kernel is compiled for sm_90a, ptxas's ``-v`` log gives registers, stack and
spills, ``cuobjdump -res-usage`` and Triton's metadata the shared memory, and ``nvdisasm``
the SASS, in which the loops are found from the backward branches.

Definitions (per thread, static counts of the SASS):
- MMD *instructions per pair*: the instructions of the column loop's body (the outermost
  loop that holds the Gram's tensor-core instructions; a nested loop over D chunks counts
  its body ``ceil(D / BLOCK_K)`` times) divided by the pairs one thread owns in one
  iteration, ``BLOCK_M · BLOCK_N / (32 · num_warps)``. Tensor-core and MUFU counts per pair
  are taken the same way. When the body branches (kernels/mmd.py's interior tiles and masked
  tiles), the cheapest path that issues all the Gram's tensor-core instructions and the
  dearest path are counted, and ``instr_per_pair`` weights them by the share of tiles that
  take each at the headline shape (``_interior_share``); MUFU counts are the larger of the
  two paths'. Programs on grid axis 1 (the recompute scheme's feature chunks) each do the
  whole pass, so the floors multiply by that axis.
- *Instructions per element* (losses, fills, samplers): all instructions of the kernel
  (loops counted their trip count: the categorical search ``steps`` times) divided by the
  elements one thread produces (``TILES · BLOCK`` logits of each input for the losses,
  4 · BLOCK values for the Philox kernels, per 32 · num_warps threads).
- *Gram work ratio*: the multiply-adds the tensor-core instructions of one iteration do, over
  all warpgroups (HGMMA, m64nNkK each) or warps (HMMA, mMnNkK each), divided by the
  multiply-adds the tile needs (``BLOCK_M · BLOCK_N · BLOCK_K``, plus
  ``BLOCK_M · BLOCK_N · BLOCK_DV`` for the gradient's second dot). 1.0 means no duplicated
  work; 2.0 means every product is computed twice (two warpgroups on the same rows).

Floors at the headline shapes (H100/H200 SXM, rates below; the largest is the prediction):
issue = instructions / (132 SMs · 4 schedulers · 32 lanes · clock); MUFU = MUFU
instructions / (132 · 16 · clock); tensor = flops / the dense datasheet rate; bytes = the
fewest bytes (each input read once, each output written once) / HBM bandwidth.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "sass-sm90.json"

# Hopper SXM (H100 and H200 share the chip; the H200 has faster HBM). Datasheet rates are
# the floors' denominators, so the floors stay lower bounds; measured ceilings in NOTES.md.
DEVICE = dict(
    name="H100/H200 SXM (sm_90a), predicted",
    sms=132,
    clock_hz=1.98e9,             # the SM clock reported under load on a lent H200 (device notes)
    issue_per_sm_clk=4 * 32,     # 4 schedulers, one warp instruction each per clock
    mufu_per_sm_clk=16,          # MUFU.EX2 / LG2 / RSQ / SIN / COS lanes per SM per clock
    tf32_flops=494.7e12,         # dense, datasheet
    bf16_flops=989.4e12,         # dense, datasheet (measured 770-800 on random data)
    hbm_bytes_s=4.8e12,          # H200 datasheet (measured copy ≈ 4.3 TB/s)
)
HEADLINE = dict(n=16384, m=16384, d=64, logits=1 << 26, fill=1 << 28, sample=1 << 26,
                cat_rows=4096, cat_k=32768, cat_n=256)


def _rates():
    c = DEVICE["clock_hz"] * DEVICE["sms"]
    return dict(issue=c * DEVICE["issue_per_sm_clk"], mufu=c * DEVICE["mufu_per_sm_clk"])


# ---------------------------------------------------------------------------------- capture
@dataclass
class Launch:
    """One kernel launch as a launcher made it (fake tensors stand for the buffers)."""
    fn: object
    grid: tuple
    args: tuple
    kwargs: dict


@dataclass
class Case:
    """A kernel and configuration to compile, with what its per-unit counts divide by."""
    name: str
    family: str          # mmd | gan_loss | random | sample
    launch: Launch
    unit: str            # "pair", "element" or "iteration"
    work: dict = field(default_factory=dict)   # headline: units, flops, bytes, dtype
    trips: dict = field(default_factory=dict)  # "inner": trips of a nested loop; "loop": of a top loop


@contextlib.contextmanager
def _recording():
    """Replace JITFunction.run by a recorder and CUDA device guards by no-ops."""
    from triton.runtime import jit as _jit

    from fastgan import _backend

    calls: list[Launch] = []

    def record(self, *args, grid, warmup, **kwargs):
        calls.append(Launch(self, tuple(grid), args, dict(kwargs)))

    import torch

    real_sum = torch.sum

    def fake_sum(*args, out=None, **kwargs):
        # reductions with out= do not run on fake CUDA tensors in a CPU-only PyTorch
        res = real_sum(*args, **kwargs)
        return res if out is None else out  # fake tensors hold no values to copy

    real_getitem = torch.Tensor.__getitem__

    def fake_getitem(self, index):
        # Python indexing takes a CUDA device guard, which a CPU-only PyTorch lacks: basic
        # indexing (ints and slices) through the aten view ops instead
        if not isinstance(index, tuple):
            index = (index,)
        out, dim = self, 0
        for i in index:
            if isinstance(i, int):
                out = torch.ops.aten.select.int(out, dim, i)
            elif isinstance(i, slice):
                out = torch.ops.aten.slice.Tensor(out, dim, i.start, i.stop, i.step or 1)
                dim += 1
            else:
                return real_getitem(self, index)
        return out

    saved = (_jit.JITFunction.run, _backend.on_device)
    _jit.JITFunction.run = record
    _backend.on_device = lambda t: contextlib.nullcontext()
    torch.sum = fake_sum
    torch.Tensor.__getitem__ = fake_getitem
    try:
        from torch._subclasses.fake_tensor import FakeTensorMode

        with FakeTensorMode(allow_non_fake_inputs=True):
            yield calls
    finally:
        _jit.JITFunction.run, _backend.on_device = saved
        torch.sum = real_sum
        torch.Tensor.__getitem__ = real_getitem


def _mmd_cases() -> list[Case]:
    import torch

    from fastgan._codes import MMDKernel
    from fastgan.ops.mmd import configure, launch

    n = m = HEADLINE["n"]
    p = n + m
    weights = (1.0 / (n * (n - 1)), 1.0 / (m * (m - 1)), -1.0 / (n * m))  # unbiased
    cases = []
    # one D per row of CUDA_BLOCKS (block_config picks BLOCK_K from D), the large-D schemes,
    # KID's batched subsets (USE_IDX) and the pair sums (CROSS_ONLY)
    variants = [(d, grad, "auto", False, False) for grad in (False, True)
                for d in (16, 32, 64, 128)]
    variants += [(2048, False, "auto", False, False), (256, True, "recompute", False, False),
                 (2048, True, "recompute", False, False), (2048, True, "gemm", False, False),
                 (2048, False, "auto", True, False), (64, True, "auto", False, True)]
    for dtype, tag in ((torch.float32, "tf32"), (torch.bfloat16, "bf16")):
        for d, grad, large_d, kid, cross in variants:
            with _recording() as calls, configure(large_d=large_d, target_programs=4 * 132):
                zc = torch.empty(p, d, dtype=dtype, device="cuda")
                sq = torch.empty(p, device="cuda")
                idx = torch.empty(100, 2000, dtype=torch.int64, device="cuda") if kid else None
                consts = torch.tensor([-0.5 / d])
                w = (0.0, 0.0, 1.0) if cross else weights
                launch.triton_fused(zc, sq, n if not kid else 1000, consts, MMDKernel.GAUSSIAN, 1,
                                    1.0, 0.0, w, not cross, cross, grad, "tf32", idx=idx,
                                    p=2000 if kid else None)
            what = ("fwd+bwd" if grad else "fwd") + (" KID subsets" if kid else "") + \
                (" pair sums" if cross else "")
            if grad and d > 128:
                what += f" ({large_d})"
            seen = set()
            for lc in calls:
                # the two-stage path launches both kernels once per chunk of rows: the first
                # chunk's launches stand for all (the same constexprs and tiles)
                if lc.fn.__name__ in seen:
                    continue
                seen.add(lc.fn.__name__)
                kw = lc.kwargs
                name = f"{lc.fn.__name__} {what} D={d} {tag}"
                if lc.fn.__name__ == "mmd_grad_gemm_kernel":
                    flops = 2.0 * p * p * d
                    cases.append(Case(name, "mmd", lc, "iteration",
                                      dict(flops=flops, dtype=tag, bytes=p * p * dtype.itemsize)))
                    continue
                if kw["WRITE_W"]:
                    name = f"{lc.fn.__name__} w pass D={d} {tag}"
                pairs = _visited_pairs(kw, kw["P"]) * (idx.shape[0] if kid else 1)
                gram = 2.0 * d
                flops = pairs * (gram + (2.0 * d if grad and not kw["WRITE_W"] else 0.0))
                # grid axis 1: the recompute scheme's feature chunks each redo the whole pass;
                # the w pass's column spans split it
                passes = 1 if kw["WRITE_W"] else lc.grid[1]
                flops *= passes
                if grad and not kw["WRITE_W"] and not kw["SINGLE_K"]:
                    flops = pairs * passes * (2.0 * d + 2.0 * kw["BLOCK_DV"])
                nbytes = p * d * dtype.itemsize + (p * d * 4 if grad and not kw["WRITE_W"] else 0)
                if kw["WRITE_W"]:
                    nbytes += p * p * dtype.itemsize
                trips = {} if kw["SINGLE_K"] else {"inner": math.ceil(d / kw["BLOCK_K"])}
                cases.append(Case(name, "mmd", lc, "pair",
                                  dict(units=pairs, passes=passes, flops=flops, dtype=tag,
                                       bytes=nbytes, d=d, grad=grad), trips))
    return cases


def _visited_pairs(kw, p: int) -> int:
    """Pairs the programs of one launch visit (whole tiles): all P² with the gradient, the
    tiled upper triangle (row tile from r0 takes the columns r0 .. P − 1) without it."""
    bm, bn = kw["BLOCK_M"], kw["BLOCK_N"]
    tiles = math.ceil(p / bm)
    if kw["COMPUTE_GRAD"] or kw["CROSS_ONLY"]:
        return tiles * bm * math.ceil(p / bn) * bn
    return sum(bm * math.ceil((p - t * bm) / bn) * bn for t in range(tiles))


def _gan_loss_cases() -> list[Case]:
    import torch

    from fastgan.ops import gan_loss as G

    cases = []
    # the tile counts the launcher can pick: one program up to single_max logits (1, 2, 4
    # tiles), then 2, 4, 8 tiles per program as the input grows
    sizes = [1024, 2048, 4096, 1 << 20, 1 << 21, HEADLINE["logits"]]
    variants = [("bce", torch.float32, s, True) for s in sizes]
    variants += [("hinge", torch.float32, HEADLINE["logits"], True),
                 ("wasserstein", torch.float32, HEADLINE["logits"], True),
                 ("bce", torch.bfloat16, HEADLINE["logits"], True),
                 ("bce", torch.float32, HEADLINE["logits"], False)]
    for loss, dtype, size, contig in variants:
        with _recording() as calls:
            def logits():
                if contig:
                    return torch.empty(size, dtype=dtype, device="cuda")
                return torch.empty(size // 1024, 2048, dtype=dtype, device="cuda")[:, ::2]
            pr, pf = G._discriminator_parts(1.0, 0.0, loss)
            G._triton_forward([(logits(), *pr, True), (logits(), *pf, True)], "mean")
        for lc in calls:
            kw = lc.kwargs
            tag = {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
            if lc.fn.__name__ == "sum_partials_kernel":
                if size != HEADLINE["logits"] or loss != "bce" or dtype != torch.float32 \
                        or not contig:
                    continue
                threads = 32 * kw.get("num_warps", 4)
                parts = kw["n"] if "n" in kw else lc.args[2]  # the launch names it (or not)
                cases.append(Case(f"sum_partials_kernel {parts} partials", "gan_loss", lc,
                                  "element", dict(units=parts, per_thread=kw["BLOCK"] *
                                                  kw["ITERS"] / threads, bytes=4 * parts)))
                continue
            threads = 32 * kw.get("num_warps", 4)
            per_thread = 2 * kw["TILES"] * kw["BLOCK"] / threads
            name = f"gan_loss_fwd_kernel D {loss} {tag} n={size} TILES={kw['TILES']}" + \
                ("" if contig else " strided")
            cases.append(Case(name, "gan_loss", lc, "element",
                              dict(units=2 * size, per_thread=per_thread,
                                   bytes=2 * size * (dtype.itemsize + dtype.itemsize))))
    return cases


def _random_cases() -> list[Case]:
    import torch

    from fastgan import random as R

    cases = []
    n = HEADLINE["fill"]
    for kind, dtype in R._KIND_DTYPES.items():
        dt = dtype[0]
        with _recording() as calls:
            R._fill(torch.empty(n, dtype=dt, device="cuda"), kind, 12345, 0, impl="triton")
        (lc,) = calls
        threads = 32 * lc.kwargs.get("num_warps", 4)
        cases.append(Case(f"fill_kernel KIND={kind} {str(dt).replace('torch.', '')} n=2^28",
                          "random", lc, "element",
                          dict(units=n, per_thread=4 * lc.kwargs["BLOCK"] / threads,
                               bytes=n * dt.itemsize)))
    return cases


def _sample_cases() -> list[Case]:
    import torch

    from fastgan.ops import sample as S

    cases = []
    n = HEADLINE["sample"]
    for name, (code, _) in S.FAMILIES.items():
        for dt in (torch.float32, torch.float64):
            with _recording() as calls:
                rows = torch.empty(1, S.ROW_WIDTH, dtype=torch.float64, device="cuda")
                S.sample_parametric._init_fn(rows, code, n, 1, 2, 3, 4, dt)
            (lc,) = calls
            threads = 32 * lc.kwargs.get("num_warps", 4)
            cases.append(Case(f"parametric_kernel {name} {str(dt).replace('torch.', '')} n=2^26",
                              "sample", lc, "element",
                              dict(units=n, per_thread=4 * lc.kwargs["BLOCK"] / threads,
                                   bytes=n * dt.itemsize)))
    r, k, n_cat = HEADLINE["cat_rows"], HEADLINE["cat_k"], HEADLINE["cat_n"]
    steps = S.steps_for(k)
    for mode, dt in ((S.MODE_CATEGORICAL, torch.int64), (S.MODE_INVERSE_CDF, torch.float32)):
        with _recording() as calls:
            table = torch.empty(r * k, dtype=torch.float64, device="cuda")
            support = torch.empty(r * k, dtype=torch.float32, device="cuda")
            start = torch.empty(r, dtype=torch.int64, device="cuda")
            S.sample_tabulated._init_fn(table, support, start, start, start, mode, n_cat, steps,
                                        1, 2, 3, 4, dt)
        (lc,) = calls
        threads = 32 * lc.kwargs.get("num_warps", 4)
        what = "categorical" if mode == S.MODE_CATEGORICAL else "inverse_cdf"
        # each draw probes `steps` table entries (a 32-byte sector each) and writes one value
        cases.append(Case(f"tabulated_kernel {what} {r}x{k} n={n_cat}", "sample", lc, "element",
                          dict(units=r * n_cat, per_thread=4 * lc.kwargs["BLOCK"] / threads,
                               bytes=r * n_cat * (dt.itemsize + 32 * steps)),
                          {"loop": steps}))
    return cases


FAMILIES = {"mmd": _mmd_cases, "gan_loss": _gan_loss_cases, "random": _random_cases,
            "sample": _sample_cases}


def cases(only=None) -> list[Case]:
    """Every (kernel, configuration) the launchers choose at the headline shapes."""
    out = []
    for fam, make in FAMILIES.items():
        if only is None or fam in only:
            out.extend(make())
    return out


# ---------------------------------------------------------------------------------- compile
def _tool(name: str) -> str:
    import triton

    p = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / name
    return str(p) if p.exists() else name


def compile_case(case: Case) -> dict:
    """Compile for sm_90a with the launch's specialisation; returns resources and the SASS."""
    import torch
    import triton
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime import jit as _jit

    lc = case.launch
    fn = lc.fn
    target = GPUTarget("cuda", 90, 32)
    backend = make_backend(target)
    binder = _jit.create_function_from_signature(fn.signature, fn.params, backend)

    def mock(v):
        return _jit.MockTensor(v.dtype, list(v.shape)) if isinstance(v, torch.Tensor) else v

    args = [mock(a) for a in lc.args]
    kw = {k: mock(v) for k, v in lc.kwargs.items()}
    # what JITFunction.run adds before binding (names differ between Triton versions)
    kw["debug"] = kw.get("debug", fn.debug) or knobs.runtime.debug
    for name in ("instrumentation_mode", "fpsan_homomorphic_casts"):
        if hasattr(knobs.compilation, name):
            kw[name] = getattr(knobs.compilation, name)
    bound, spec, opts = binder(*args, **kw)
    options, signature, constexprs, attrs = fn._pack_args(backend, kw, bound, spec, opts)
    knobs.nvidia.dump_ptxas_log = True
    log = io.StringIO()
    # a fresh cache per compilation, so ptxas runs: its -v log has the spill counts
    saved = os.environ.get("TRITON_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="fastgan-sass-") as cache, \
            contextlib.redirect_stdout(log):
        os.environ["TRITON_CACHE_DIR"] = cache
        try:
            ck = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=target,
                                options=options.__dict__)
        finally:
            if saved is None:
                os.environ.pop("TRITON_CACHE_DIR", None)
            else:
                os.environ["TRITON_CACHE_DIR"] = saved
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "k.cubin"
        cubin.write_bytes(ck.asm["cubin"])
        sass = subprocess.run([_tool("nvdisasm"), "-c", str(cubin)], capture_output=True,
                              text=True, check=True).stdout
        res = subprocess.run([_tool("cuobjdump"), "-res-usage", str(cubin)], capture_output=True,
                             text=True, check=True).stdout
    ptx = log.getvalue()
    if os.environ.get("FASTGAN_SASS_LOG"):
        print(ptx, file=sys.stderr)
    out = dict(ptxas_log_seen="spill" in ptx, shared=int(ck.metadata.shared),
               num_warps=int(ck.metadata.num_warps), num_stages=int(ck.metadata.num_stages))
    m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", ptx)
    if m:
        out.update(stack=int(m[1]), spill_stores=int(m[2]), spill_loads=int(m[3]))
    m = re.search(r"Used (\d+) registers", ptx)
    r = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", res)
    out["registers"] = int(m[1]) if m else int(r[1]) if r else None
    if r and "stack" not in out:  # cached compilation (no ptxas log): the resource table
        out.update(stack=int(r[2]), spill_stores=None, spill_loads=None)
    out["static_shared"] = int(r[3]) if r else None
    out["sass"] = sass
    return out


# ---------------------------------------------------------------------------------- SASS
_INSTR = re.compile(r"^\s*/\*[0-9a-f]+\*/\s+(.*?)\s*;")
_LABEL = re.compile(r"^(\.L_x_\d+):")
_TARGET = re.compile(r"BRA\s+`?\(?(\.L_x_\d+)\)?")
_PRED = re.compile(r"^@!?U?P[T\d]+\s+")


def parse_sass(text: str, with_branches: bool = False):
    """(instructions, loops): instruction texts without predicates (NOPs and the trailing
    self-branch left out), and loops as (first, last) instruction indices, inclusive, from the
    backward branches. With ``with_branches`` also the branches, as (index, target index,
    conditional)."""
    instrs, labels, branches, conds = [], {}, [], []
    for line in text.splitlines():
        lm = _LABEL.match(line.strip())
        if lm:
            labels[lm[1]] = len(instrs)
            continue
        im = _INSTR.match(line)
        if not im:
            continue
        ins = _PRED.sub("", im[1])
        op = ins.split()[0] if ins else ""
        if op == "NOP":
            continue
        tm = _TARGET.search(ins)
        if op == "BRA" and tm and labels.get(tm[1]) == len(instrs):
            continue  # `.L: BRA .L`, the trap after the last EXIT
        if op == "BRA" and tm:
            branches.append((len(instrs), tm[1]))
            conds.append(bool(_PRED.match(im[1])))
        instrs.append(ins)
    loops = sorted({(labels[t], b) for b, t in branches if t in labels and labels[t] <= b})
    if with_branches:
        return instrs, loops, [(b, labels[t], c) for (b, t), c in zip(branches, conds)
                               if t in labels]
    return instrs, loops


def loop_paths(instrs, branches, lo: int, hi: int, weight):
    """The cheapest and the dearest path through the loop body [lo, hi] (its forward branches:
    an if/else inside the loop is two paths), as (cost, [instruction indices]) each, where
    weight(i) is what instruction i costs (1, or a nested loop's trip count). Back edges and
    branches out of the body are not followed."""
    fwd = {b: (t, c) for b, t, c in branches if lo <= b <= hi and b < t <= hi + 1}
    starts = sorted({lo} | {t for t, _ in fwd.values() if t <= hi}
                    | {b + 1 for b in fwd if b + 1 <= hi})
    ends = {a: (starts[i + 1] - 1 if i + 1 < len(starts) else hi) for i, a in enumerate(starts)}
    best = {lo: ((0.0, []), (0.0, []))}  # block start -> (min, max) path reaching it
    out = {}
    for a in starts:
        if a not in best:
            continue
        (cmin, pmin), (cmax, pmax) = best[a]
        e = ends[a]
        block = list(range(a, e + 1))
        w = sum(weight(i) for i in block)
        reach = (cmin + w, pmin + block), (cmax + w, pmax + block)
        nxt = []
        if e in fwd:
            t, cond = fwd[e]
            nxt.append(t)
            if cond:
                nxt.append(e + 1)
        else:
            nxt.append(e + 1)
        for t in nxt:
            if t > hi:
                out.setdefault("end", []).append(reach)
                continue
            if t not in best:
                best[t] = reach
            else:
                (m0, q0), (x0, r0) = best[t]
                best[t] = (min((m0, q0), reach[0], key=lambda v: v[0]),
                           max((x0, r0), reach[1], key=lambda v: v[0]))
    ends_ = out.get("end", [])
    if not ends_:  # the body ends in the back edge: its last block is the end
        ends_ = [best[max(best)]]
        (m, q), (x, r) = ends_[0]
        last = [i for i in range(max(best), hi + 1)]
        w = sum(weight(i) for i in last)
        ends_ = [((m + w, q + last), (x + w, r + last))]
    return (min((v[0] for v in ends_), key=lambda v: v[0]),
            max((v[1] for v in ends_), key=lambda v: v[0]))


def _children(loop, loops):
    inner = [l for l in loops if l != loop and loop[0] <= l[0] and l[1] <= loop[1]]
    return [l for l in inner if not any(o != l and o[0] <= l[0] and l[1] <= o[1] for o in inner)]


def _count(instrs, lo, hi, loops, trips_of, pred=lambda s: True):
    """Executed count of instructions [lo, hi] satisfying pred, each nested loop counted
    trips_of(loop) times."""
    own = [l for l in loops if lo <= l[0] and l[1] <= hi and (l[0], l[1]) != (lo, hi)]
    top = [l for l in own if not any(o != l and o[0] <= l[0] and l[1] <= o[1] for o in own)]
    total = sum(1 for s in instrs[lo:hi + 1] if pred(s))
    for l in top:
        body = _count(instrs, l[0], l[1], loops, trips_of, pred)
        flat = sum(1 for s in instrs[l[0]:l[1] + 1] if pred(s))
        total += body * trips_of(l) - flat
    return total


def _op(s):
    return s.split()[0]


_TC = re.compile(r"^(HGMMA|HMMA|QGMMA)\.(\d+)x?(\d+)?x?(\d+)?")


def _tc_macs(s: str) -> int:
    """Multiply-adds of one tensor-core instruction (per warpgroup for GMMA, per warp for
    HMMA)."""
    op = _op(s)
    if op.startswith(("HGMMA", "QGMMA")):
        m = re.match(r"^[HQ]GMMA\.(\d+)x(\d+)x(\d+)", op)
        return int(m[1]) * int(m[2]) * int(m[3])
    m = re.match(r"^HMMA\.(\d\d)(\d)(\d+)", op)  # HMMA.16816 = m16 n8 k16, HMMA.1684 = m16 n8 k4
    return int(m[1]) * int(m[2]) * int(m[3])


def _interior_share(kw) -> float:
    """The share of the tiles one launch visits at the headline shape that take the kernel's
    unmasked path (kernels/mmd.py: inside one block of ω, off the diagonal, inside P)."""
    n, p, bm, bn = kw["N"], kw["P"], kw["BLOCK_M"], kw["BLOCK_N"]
    tri = not kw["COMPUTE_GRAD"] and not kw["CROSS_ONLY"]
    inner = total = 0
    for r0 in range(0, p, bm):
        rows_ok = r0 + bm <= p and (r0 + bm <= n or r0 >= n)
        for c0 in range(r0 if tri else 0, p, bn):
            total += 1
            inner += rows_ok and c0 + bn <= p and (c0 + bn <= n or c0 >= n) \
                and (c0 >= r0 + bm or c0 + bn <= r0)
    return inner / total if total else 0.0


# sm_90 limits per SM: 65536 registers (allocated per warp in units of 256), 228 KiB of
# shared memory of which a block may use 227 KiB (1 KiB is reserved per block), 64 warps,
# 32 blocks
SM_LIMITS = dict(regs=65536, smem=228 * 1024, smem_block=227 * 1024, warps=64, blocks=32)


def programs_per_sm(regs: int, warps: int, shared: int) -> int:
    """Programs of this kernel one SM holds at once (0: the launch would fail, its shared
    memory is over the per-block limit)."""
    if shared > SM_LIMITS["smem_block"]:
        return 0
    per_warp = math.ceil(max(regs, 1) * 32 / 256) * 256
    by_regs = SM_LIMITS["regs"] // (per_warp * warps)
    by_smem = SM_LIMITS["smem"] // (shared + 1024)
    return min(by_regs, by_smem, SM_LIMITS["warps"] // warps, SM_LIMITS["blocks"])


def analyse(case: Case, comp: dict) -> dict:
    """The report row of one case from its compilation."""
    instrs, loops, branches = parse_sass(comp["sass"], with_branches=True)
    kw = case.launch.kwargs
    warps = comp["num_warps"]
    threads = 32 * warps
    is_tc = lambda s: _op(s).startswith(("HGMMA", "HMMA", "QGMMA"))
    is_mufu = lambda s: _op(s).startswith("MUFU")
    is_ex2 = lambda s: _op(s).startswith("MUFU.EX2")
    is_local = lambda s: _op(s).startswith(("LDL", "STL"))
    row = dict(name=case.name, family=case.family, kernel=case.launch.fn.__name__,
               unit=case.unit, grid=list(case.launch.grid),
               config={k: v for k, v in kw.items() if k.isupper() or k.startswith("num_")},
               registers=comp["registers"], stack=comp.get("stack"),
               spill_stores=comp.get("spill_stores"), spill_loads=comp.get("spill_loads"),
               local_ldst=sum(1 for s in instrs if is_local(s)), shared=comp["shared"],
               num_warps=warps, num_stages=comp["num_stages"], instructions=len(instrs),
               loops=len(loops))
    row["programs_per_sm"] = programs_per_sm(comp["registers"] or 0, warps, comp["shared"])
    kinds = sorted({_op(s).split(".")[0] for s in instrs if is_tc(s)})
    row["tc_kind"] = "/".join(kinds) if kinds else None
    row["tc_shapes"] = sorted({_op(s) for s in instrs if is_tc(s)})
    rates = _rates()
    floors = {}
    if case.unit == "pair":
        col = [l for l in loops if any(is_tc(s) for s in instrs[l[0]:l[1] + 1])]
        col = [l for l in col if not any(o != l and o[0] <= l[0] and l[1] <= o[1] for o in col)]
        if not col:
            raise RuntimeError(f"{case.name}: no loop with tensor-core instructions in the SASS")
        lo, hi = max(col, key=lambda l: l[1] - l[0])
        per_thread = kw["BLOCK_M"] * kw["BLOCK_N"] / threads
        inner = _children((lo, hi), loops)
        trips = case.trips.get("inner", 1)

        def weight(i):  # a nested loop (over D chunks) runs `trips` times
            return trips if any(a <= i <= b for a, b in inner) else 1

        # an if/else in the body is two paths: the cheapest is the interior tiles', the
        # dearest the masked tiles'; the headline mix weights them by their tile counts
        # the cheapest path among those that do all the Gram's tensor-core instructions (not
        # one that skips a guarded nested loop)
        (_, pmin), _ = loop_paths(instrs, branches, lo, hi,
                                  lambda i: weight(i) - (1e6 if is_tc(instrs[i]) else 0))
        _, (cmax, pmax) = loop_paths(instrs, branches, lo, hi, weight)
        cmin = sum(weight(i) for i in pmin)
        share = _interior_share(kw) if cmin != cmax else 1.0

        def per_pair(path, pred):
            return sum(weight(i) for i in path if pred(instrs[i])) / per_thread

        row["loop_instructions"] = _count(instrs, lo, hi, loops, lambda l: trips)
        row["instr_per_pair_interior"] = cmin / per_thread
        row["instr_per_pair_masked"] = cmax / per_thread
        row["interior_share"] = share
        row["instr_per_pair"] = (share * cmin + (1 - share) * cmax) / per_thread
        row["tc_per_iteration"] = sum(weight(i) for i in pmin if is_tc(instrs[i]))
        row["mufu_per_pair"] = max(per_pair(pmin, is_mufu), per_pair(pmax, is_mufu))
        row["ex2_per_pair"] = max(per_pair(pmin, is_ex2), per_pair(pmax, is_ex2))
        row["ex2_per_pair_paths"] = [per_pair(pmin, is_ex2), per_pair(pmax, is_ex2)]
        macs = sum(_tc_macs(instrs[i]) * weight(i) for i in pmin if is_tc(instrs[i]))
        groups = warps // 4 if row["tc_kind"] and "GMMA" in row["tc_kind"] else warps
        need = kw["BLOCK_M"] * kw["BLOCK_N"] * (kw["BLOCK_K"] * case.trips.get("inner", 1))
        if kw["COMPUTE_GRAD"] and not kw["WRITE_W"]:
            need += kw["BLOCK_M"] * kw["BLOCK_N"] * kw["BLOCK_DV"]
        row["gram_work_ratio"] = macs * groups / need
        # a loop that waits for every wgmma before it touches the result cannot overlap the
        # tensor cores with the transform (issue 13, finding 3)
        row["waits_all_wgmma"] = sum(1 for s in instrs[lo:hi + 1]
                                     if re.match(r"WARPGROUP\.DEPBAR\.LE gsb0, 0x0", s))
        units = case.work["units"] * case.work["passes"]
        floors["issue_ms"] = row["instr_per_pair"] * units / rates["issue"] * 1e3
        floors["mufu_ms"] = row["mufu_per_pair"] * units / rates["mufu"] * 1e3
    elif case.unit == "element":
        trips = lambda l: case.trips.get("loop", 1)
        total = _count(instrs, 0, len(instrs) - 1, loops, trips)
        per = case.work["per_thread"]
        row["instr_per_element"] = total / per
        row["mufu_per_element"] = _count(instrs, 0, len(instrs) - 1, loops, trips, is_mufu) / per
        floors["issue_ms"] = row["instr_per_element"] * case.work["units"] / rates["issue"] * 1e3
        floors["mufu_ms"] = row["mufu_per_element"] * case.work["units"] / rates["mufu"] * 1e3
    else:  # the two-stage GEMM: one K step per iteration
        col = [l for l in loops if any(is_tc(s) for s in instrs[l[0]:l[1] + 1])]
        if col:
            lo, hi = max(col, key=lambda l: l[1] - l[0])
            row["loop_instructions"] = hi - lo + 1
            row["tc_per_iteration"] = sum(1 for s in instrs[lo:hi + 1] if is_tc(s))
    if "flops" in case.work:
        rate = DEVICE["bf16_flops"] if case.work["dtype"] == "bf16" else DEVICE["tf32_flops"]
        floors["tensor_ms"] = case.work["flops"] / rate * 1e3
    if "bytes" in case.work:
        floors["bytes_ms"] = case.work["bytes"] / DEVICE["hbm_bytes_s"] * 1e3
    row["floors"] = floors
    if floors:
        bound = max(floors, key=floors.get)
        row["predicted_ms"] = floors[bound]
        row["bound"] = bound.replace("_ms", "")
    row["headline"] = {k: v for k, v in case.work.items() if k != "per_thread"}
    return row


# ---------------------------------------------------------------------------------- run
_CASES: list[Case] = []


def _work(i: int) -> dict:
    case = _CASES[i]
    try:
        return analyse(case, compile_case(case))
    except Exception as exc:  # one failing compilation must not hide the others
        return dict(name=case.name, family=case.family, kernel=case.launch.fn.__name__,
                    error=f"{type(exc).__name__}: {exc}"[:2000])


def run(only=None, jobs: int = 1) -> dict:
    """Compile every case (in ``jobs`` processes) and return the report document."""
    import multiprocessing

    import triton

    global _CASES
    _CASES = cases(only)
    idx = list(range(len(_CASES)))
    if jobs > 1 and len(idx) > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            rows = pool.map(_work, idx, chunksize=1)
    else:
        rows = [_work(i) for i in idx]
    return dict(device=DEVICE, headline=HEADLINE, target="sm_90a", triton=triton.__version__,
                rates=_rates(), results=rows,
                note="static counts from the SASS; every time is a prediction (floors)")


def _fmt(v, nd=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}" if abs(v) >= 10 ** -nd or v == 0 else f"{v:.2g}"
    return str(v)


def markdown(doc: dict) -> str:
    """The table for bench/NOTES.md."""
    lines = [f"Static report, Triton {doc['triton']}, {doc['target']} "
             f"(`python -m bench.sass`; floors are predictions at the headline shapes).", "",
             "| kernel / configuration | tiles, warps, stages, programs per SM | regs | spill B (st/ld) | smem KiB "
             "| TC | Gram work | instr / unit | EX2 (MUFU) / unit | floors ms: issue · MUFU · TC "
             "· bytes | bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        if "error" in r:
            lines.append(f"| {r['name']} | compile error: {r['error'][:80]} |||||||||")
            continue
        c = r["config"]
        if r["family"] == "mmd":
            tiles = "×".join(str(c.get(k)) for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K") if k in c)
        elif "TILES" in c:
            tiles = f"{c['TILES']}×{c['BLOCK']}"
        else:
            tiles = str(c.get("BLOCK", ""))
        tiles += f", {r['num_warps']}w, {r['num_stages']}s, {r.get('programs_per_sm', '?')}/SM"
        f = r.get("floors", {})
        unit = r["unit"]
        paths = ""
        if r.get("instr_per_pair_masked", r.get("instr_per_pair")) != r.get("instr_per_pair"):
            paths = (f" (interior {_fmt(r['instr_per_pair_interior'])}, masked "
                     f"{_fmt(r['instr_per_pair_masked'])})")
        ipu = r.get("instr_per_pair", r.get("instr_per_element"))
        ex2 = r.get("ex2_per_pair")
        mufu = r.get("mufu_per_pair", r.get("mufu_per_element"))
        ex = f"{_fmt(ex2, 2)} ({_fmt(mufu, 2)})" if ex2 is not None else _fmt(mufu, 2)
        spill = f"{_fmt(r['spill_stores'])}/{_fmt(r['spill_loads'])}"
        if r.get("stack"):
            spill += f", stack {r['stack']}"
        tc = r["tc_kind"] or "—"
        if r.get("tc_per_iteration"):
            tc += f" ×{r['tc_per_iteration']}"
        lines.append(
            f"| {r['name']} | {tiles} | {r['registers']} | {spill} | {r['shared'] / 1024:.0f} | "
            f"{tc} | {_fmt(r.get('gram_work_ratio'), 2)} | "
            f"{_fmt(ipu)} / {unit if ipu is not None else '—'}{paths} | {ex} | "
            + " · ".join(_fmt(f.get(k), 3) for k in ("issue_ms", "mufu_ms", "tensor_ms",
                                                      "bytes_ms"))
            + f" | {r.get('bound', '—')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sass", description=__doc__.split("\n")[0])
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only print the Markdown table of an existing report")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON report path")
    ap.add_argument("--markdown", type=Path, help="also write the Markdown table here")
    ap.add_argument("--only", help=f"comma-separated op families of {sorted(FAMILIES)}")
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                    help="compiler processes (default: min(4, CPUs))")
    a = ap.parse_args(argv)
    if a.render:
        table = markdown(json.loads(a.render.read_text()))
        if a.markdown:
            a.markdown.write_text(table)
        print(table)
        return 0
    only = None
    if a.only:
        only = [s.strip() for s in a.only.split(",") if s.strip()]
        bad = sorted(set(only) - set(FAMILIES))
        if bad:
            ap.error(f"unknown op famil(ies) {', '.join(bad)}; choose from {sorted(FAMILIES)}")
    if a.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {a.jobs}")
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("bench.sass: TRITON_INTERPRET is set; the kernels must be compiled, not "
              "interpreted: run without it", file=sys.stderr)
        return 2
    doc = run(only, a.jobs)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    table = markdown(doc)
    if a.markdown:
        a.markdown.write_text(table)
    print(table)
    errors = [r for r in doc["results"] if "error" in r]
    print(f"wrote {a.out}: {len(doc['results'])} kernels/configurations, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

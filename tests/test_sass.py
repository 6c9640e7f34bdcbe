"""The static sm_90a report (bench/sass.py) as a regression gate: every configuration the
launchers choose compiles without spills, every tl.dot runs on the tensor cores, one exp per
pair, no Gram product computed twice, and the MMD loop's instruction count stays in budget.

One compilation run (a subprocess without TRITON_INTERPRET, ≈ 1 minute on 2 cores) is shared
by the tests through a module-scoped fixture. No GPU is needed."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spills in kernels this gate does not own yet (their files are edited elsewhere); each is a
# known finding recorded in bench/NOTES.md. Anything else that spills fails.
KNOWN_SPILLS = {
    r"^fill_kernel KIND=[34] ": "Box-Muller normals (fp64 for KIND=4) in kernels/random.py",
    r"^parametric_kernel cauchy ": "tan() of the Cauchy inverse CDF in kernels/inverse_cdf.py",
}

# instructions per pair of the MMD column loop at D = 64, fp32 inputs with tf32 dots (the
# issue's headline; interior and masked tiles in their headline mix): issue 13's targets.
# Before the interior-tile path: ≈ 25 and 28-30 (68 before the tiles of finding 1).
BUDGET = {"fwd": 15.0, "fwd+bwd": 30.0}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import triton.backends

    if "nvidia" not in getattr(triton.backends, "backends", {}):
        pytest.skip("this triton build has no NVIDIA backend to compile with")
    out = tmp_path_factory.mktemp("sass") / "sass.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "bench.sass", "--jobs", "2", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert "| kernel / configuration |" in proc.stdout  # the Markdown table
    return doc


def _rows(doc, family=None):
    return [r for r in doc["results"] if family is None or r["family"] == family]


def test_every_launch_configuration_is_compiled(report):
    from fastgan.ops import gan_loss
    from fastgan.ops.mmd import launch

    assert not [r for r in report["results"] if "error" in r]
    mmd = _rows(report, "mmd")
    seen = {(r["config"]["BLOCK_M"], r["config"]["BLOCK_N"], r["num_warps"], r["num_stages"],
             r["name"].split()[-1]) for r in mmd if r["kernel"] == "mmd_fused_kernel"}
    for key, blocks in launch.CUDA_BLOCKS.items():
        for tag in ("tf32", "bf16"):
            assert (*blocks, tag) in seen, (key, blocks, tag)
    gemm = {(r["config"]["BLOCK_M"], r["config"]["BLOCK_N"], r["config"]["BLOCK_K"],
             r["num_warps"]) for r in mmd if r["kernel"] == "mmd_grad_gemm_kernel"}
    assert {v[:4] for v in launch.CUDA_GEMM.values()} <= gemm
    cfg = gan_loss._CUDA_CONFIG
    tiles = {r["config"]["TILES"] for r in _rows(report, "gan_loss")
             if r["kernel"] == "gan_loss_fwd_kernel" and r["num_warps"] == cfg["warps"]}
    assert cfg["tiles"] in tiles and 1 in tiles
    assert {r["kernel"] for r in report["results"]} >= {
        "mmd_fused_kernel", "mmd_grad_gemm_kernel", "gan_loss_fwd_kernel", "sum_partials_kernel",
        "fill_kernel", "parametric_kernel", "tabulated_kernel"}


def test_no_spills(report):
    spilled = []
    for r in report["results"]:
        if any(re.search(p, r["name"]) for p in KNOWN_SPILLS):
            continue
        if r["spill_stores"] or r["spill_loads"] or r["stack"] or r["local_ldst"]:
            spilled.append((r["name"], r["registers"], r["spill_stores"], r["stack"]))
    assert not spilled, spilled
    assert all(r["spill_stores"] is not None for r in report["results"]), "no ptxas log read"


def test_every_configuration_fits_an_sm(report):
    # shared memory under the per-block limit (else the launch fails) and at least one program
    # resident; the MMD's tiles keep two when registers and shared memory allow
    for r in report["results"]:
        assert r["shared"] <= 227 * 1024 and r["programs_per_sm"] >= 1, \
            (r["name"], r["shared"], r["registers"])


def test_programs_per_sm_arithmetic():
    from bench import sass

    # 128 registers × 256 threads = 32768: two programs by registers; 80 KiB + 1 KiB: two by
    # shared memory
    assert sass.programs_per_sm(128, 8, 80 * 1024) == 2
    assert sass.programs_per_sm(129, 8, 0) == 1  # 136 (a multiple of 8) × 256 > 32768
    assert sass.programs_per_sm(32, 4, 0) == 16  # 64 warps / 4
    assert sass.programs_per_sm(64, 8, 160 * 1024) == 1
    assert sass.programs_per_sm(64, 8, 228 * 1024) == 0  # over the 227 KiB block limit


def test_every_dot_runs_on_the_tensor_cores(report):
    for r in _rows(report, "mmd"):
        assert r["tc_kind"] == "HGMMA", (r["name"], r["tc_kind"])  # wgmma, sm_90a
        want = ".TF32" if r["name"].endswith("tf32") else ".BF16"
        assert r["tc_shapes"] and all(want in s for s in r["tc_shapes"]), (r["name"], r["tc_shapes"])
    for r in report["results"]:
        if r["family"] != "mmd":
            assert r["tc_kind"] is None, r["name"]


def test_one_exp_per_pair(report):
    # one gaussian bandwidth: exactly one MUFU.EX2 per pair and pass, and no other MUFU op
    for r in _rows(report, "mmd"):
        if r["unit"] != "pair":
            continue
        # on both paths of the loop: interior tiles and masked tiles
        assert r["ex2_per_pair_paths"] == [1.0, 1.0], (r["name"], r["ex2_per_pair_paths"])
        assert r["mufu_per_pair"] == 1.0, (r["name"], r["mufu_per_pair"])


def test_no_duplicated_gram_work(report):
    # the tensor-core multiply-adds of one iteration, over all warpgroups, equal what the tile
    # needs (2.0 where two warpgroups share 64 rows: issue 13, finding 1)
    for r in _rows(report, "mmd"):
        if r["unit"] == "pair":
            assert r["gram_work_ratio"] == 1.0, (r["name"], r["gram_work_ratio"])


def test_mmd_instruction_budget_at_the_headline_shape(report):
    for what, budget in BUDGET.items():
        (r,) = [r for r in _rows(report, "mmd") if r["name"] == f"mmd_fused_kernel {what} D=64 tf32"]
        assert r["instr_per_pair"] <= budget, (what, r["instr_per_pair"])
        f = r["floors"]
        assert set(f) == {"issue_ms", "mufu_ms", "tensor_ms", "bytes_ms"} and min(f.values()) > 0
        assert r["predicted_ms"] == max(f.values())


# ------------------------------------------------------------------ the SASS reader itself
_SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
        /*0010*/                   NOP ;
.L_x_0:
        /*0020*/                   HGMMA.64x64x8.F32.TF32 R24, gdesc[UR4], RZ, !UPT ;
.L_x_1:
        /*0030*/                   MUFU.EX2 R3, R3 ;
        /*0040*/                   FADD R4, R4, R3 ;
        /*0050*/              @!P1 BRA `(.L_x_1) ;
        /*0060*/                   HMMA.16816.F32.BF16 R8, R12, R16, R8 ;
        /*0070*/               @P0 BRA `(.L_x_0) ;
        /*0080*/                   EXIT ;
.L_x_2:
        /*0090*/                   BRA `(.L_x_2);
"""


def test_sass_parser_loops_and_counts():
    from bench import sass

    instrs, loops = sass.parse_sass(_SASS)
    assert [s.split()[0] for s in instrs] == ["MOV", "HGMMA.64x64x8.F32.TF32", "MUFU.EX2",
                                              "FADD", "BRA", "HMMA.16816.F32.BF16", "BRA", "EXIT"]
    assert loops == [(1, 6), (2, 4)]  # the trap after EXIT and the NOP are left out
    trips = {(1, 6): 1, (2, 4): 5}
    # outer body: 3 own instructions + the inner loop's 3 counted 5 times
    assert sass._count(instrs, 1, 6, loops, trips.get) == 3 + 3 * 5
    assert sass._count(instrs, 1, 6, loops, trips.get, lambda s: s.startswith("MUFU")) == 5
    assert sass._tc_macs(instrs[1]) == 64 * 64 * 8 and sass._tc_macs(instrs[5]) == 16 * 8 * 16


_BRANCHY = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   HGMMA.64x64x8.F32.TF32 R24, gdesc[UR4], RZ, !UPT ;
        /*0020*/               @P1 BRA `(.L_x_1) ;
        /*0030*/                   FADD R4, R4, R3 ;
        /*0040*/                   BRA `(.L_x_2) ;
.L_x_1:
        /*0050*/                   FSEL R4, R4, RZ, P2 ;
        /*0060*/                   FSEL R5, R5, RZ, P2 ;
        /*0070*/                   FADD R4, R4, R5 ;
.L_x_2:
        /*0080*/                   MUFU.EX2 R3, R3 ;
        /*0090*/               @P0 BRA `(.L_x_0) ;
        /*00a0*/                   EXIT ;
"""


def test_sass_paths_through_an_if_else_in_the_loop():
    from bench import sass

    instrs, loops, branches = sass.parse_sass(_BRANCHY, with_branches=True)
    assert loops == [(1, 9)]
    (cmin, pmin), (cmax, pmax) = sass.loop_paths(instrs, branches, 1, 9, lambda i: 1)
    # head (HGMMA, BRA) + then (FADD, BRA) + tail (MUFU, BRA) / head + else (3) + tail
    assert (cmin, cmax) == (6, 7)
    assert [instrs[i].split()[0] for i in pmin] == ["HGMMA.64x64x8.F32.TF32", "BRA", "FADD",
                                                    "BRA", "MUFU.EX2", "BRA"]
    assert sum(instrs[i].startswith("FSEL") for i in pmax) == 2


def test_interior_share_counts_the_masked_tiles():
    from bench import sass

    # P = 8 rows, N = 4, tiles 2×2: the gradient visits all 16 tiles; the 4 on the diagonal
    # are masked, and with N = 4 on a tile edge no tile straddles X and Y
    kw = dict(N=4, P=8, BLOCK_M=2, BLOCK_N=2, COMPUTE_GRAD=True, CROSS_ONLY=False)
    assert sass._interior_share(kw) == 12 / 16
    # the triangle: 10 tiles from the diagonal on, 4 of them on it
    assert sass._interior_share(dict(kw, COMPUTE_GRAD=False)) == 6 / 10
    # N = 3 splits the tiles of rows/columns 2..3 between X and Y: those are masked too,
    # leaving rows {0, 4, 6} × columns {0, 4, 6} less their 3 diagonal tiles
    assert sass._interior_share(dict(kw, N=3)) == 6 / 16


def test_cli_rejects_bad_arguments(capsys):
    from bench import sass

    with pytest.raises(SystemExit) as e:
        sass.main(["--only", "mmd,nope"])
    assert e.value.code == 2 and "unknown op famil(ies) nope" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        sass.main(["--jobs", "0"])
    assert e.value.code == 2 and "--jobs must be >= 1, got 0" in capsys.readouterr().err
    # this test process interprets kernels (tests/conftest.py): the report refuses to run
    assert os.environ.get("TRITON_INTERPRET") == "1"
    assert sass.main(["--only", "mmd"]) == 2
    assert "TRITON_INTERPRET is set" in capsys.readouterr().err

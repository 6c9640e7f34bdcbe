#!/usr/bin/env bash
# One-call GPU verification of fastgan for a 15-minute window (machine start included; one
# command of at most 10 minutes): ≤ 9 minutes of work, the headline numbers first.
#   1. facts      nvidia-smi, nvcc, Python headers, python/torch/triton versions
#   2. install    pip install --no-build-isolation --no-deps --no-index -e . with the CUDA
#                 fills for arch 90 only; if that fails, again without the CUDA fills
#                 (-DFASTGAN_NO_CUDA=ON); if `import fastgan` still fails: stop and report
#   3. smoke      the GPU tests (pytest -m gpu; both large-D gradient strategies)
#   4. window     python -m bench.gpu_window: the target shapes, each checked on a slice
#                 against float64 then timed, no torch.compile; JSON after every case
#   5. ncu        hardware counters of one MMD fwd+bwd launch, when ncu works (guarded)
#   6. tests      the device test files, spread over workers with pytest-xdist
#   7. bench      python -m bench --quick --no-compile in what time is left, then render
# Every step has its own limit (timeout), a failing step does not stop the next one (except
# a failed import), and $OUT/summary.txt is rewritten after each step.
#
# Files under $OUT (at most 8, as the device tool returns them, none in folders):
#   summary.txt   facts, steps (status, seconds), window results, test counts
#   run.log       every step's output, in order
#   window.json   the window's results (copy into bench/results/ with the device's name)
#   ncu.txt       ncu's report of the MMD kernel (when ncu ran)
#   <device>.json bench_table.md bench_overview.png   the bench run and its rendering
#   extras.tar.gz per-op plots, the pytest junit XML, pip's build log
#
# Usage:
#   bash scripts/gpu_run.sh            # on the GPU machine (OUT set by the device tool)
#   bash scripts/gpu_run.sh --dry-run  # CPU check of the script itself: no install, tests
#                                      # only collected, window and bench in their dry modes
# Time limits (seconds; env overrides): FASTGAN_GPU_TOTAL_S=540 for the whole script,
# FASTGAN_GPU_INSTALL_S=150 (the retry gets what is left of it, at least 90),
# FASTGAN_GPU_SMOKE_S=75, FASTGAN_GPU_WINDOW_S=200, FASTGAN_GPU_NCU_S=45,
# FASTGAN_GPU_TEST_S=120; the bench gets what is left less 25 s for rendering and packing.
# FASTGAN_GPU_TESTS="tests/test_mmd.py ..." the device test files (default: the five that
# run kernels); FASTGAN_GPU_WINDOW_ONLY="mmd fwd,rand" limits the window's cases by name;
# FASTGAN_GPU_BENCH_OPS=random,mmd,... the bench's op families (default: all);
# FASTGAN_GIT_REV=<commit> records the commit when .git does not travel with the tree;
# FASTGAN_GPU_SKIP_INSTALL=1 skips step 2 (already installed).
# Wheels in .whl/ (or FASTGAN_GPU_WHEELS) are installed into a private folder on PYTHONPATH
# first: carry pykeops + keopscore that way for the KeOps baseline (not on the machine's image).
set -u

DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,38p' "$0" | cut -c3-; exit 0 ;;
        *) echo "gpu_run.sh: unknown argument '$arg' (use --dry-run or --help)" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
if [ -z "${OUT:-}" ]; then
    OUT="$(mktemp -d /tmp/fastgan-gpu-run.XXXXXX)"
    echo "OUT was not set; writing to $OUT"
fi
mkdir -p "$OUT"
WORK="$(mktemp -d /tmp/fastgan-gpu-work.XXXXXX)"
mkdir -p "$WORK/plots"
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || PY=python
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# compiled kernels on the GPU: neither the interpreter nor a forced backend
unset TRITON_INTERPRET FASTGAN_BACKEND

TOTAL_S="${FASTGAN_GPU_TOTAL_S:-540}"
INSTALL_S="${FASTGAN_GPU_INSTALL_S:-150}"
SMOKE_S="${FASTGAN_GPU_SMOKE_S:-75}"
WINDOW_S="${FASTGAN_GPU_WINDOW_S:-200}"
NCU_S="${FASTGAN_GPU_NCU_S:-45}"
TEST_S="${FASTGAN_GPU_TEST_S:-120}"
BENCH_OPS="${FASTGAN_GPU_BENCH_OPS:-random,mmd,gan_loss,sample,train,stats}"
read -r -a TESTS <<<"${FASTGAN_GPU_TESTS:-tests/test_mmd.py tests/test_losses.py tests/test_random.py tests/test_sample.py tests/test_kid.py}"
read -r -a SMOKE <<<"tests/test_mmd.py tests/test_losses.py tests/test_random.py tests/test_sample.py tests/test_kid.py"
START=$(date +%s)
LOG="$OUT/run.log"
SUMMARY="$OUT/summary.txt"
: >"$LOG"
STEPS=""
STOPPED=""
LAST_RC=0

elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( TOTAL_S - $(date +%s) + START )); }
cap() { local a="$1" b; b=$(left); echo $(( a < b ? a : b )); }  # min(limit, time left)

write_summary() {
    {
        echo "fastgan GPU verification ($( [ $DRY = 1 ] && echo 'DRY RUN on CPU' || echo 'GPU run' ))"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   elapsed: $(elapsed) s of $TOTAL_S s"
        echo "git: ${FASTGAN_GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
        [ -n "$STOPPED" ] && echo "STOPPED: $STOPPED"
        [ -f "$WORK/device.txt" ] && cat "$WORK/device.txt"
        echo
        echo "steps:"
        printf '%b' "$STEPS"
        if [ -f "$OUT/window.json" ]; then
            echo
            echo "window (median ms, check error):"
            "$PY" - "$OUT/window.json" <<'PYEOF' 2>&1 | tail -n 40
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as exc:
    print("  window.json unreadable:", exc)
    sys.exit(0)
for r in doc.get("results", []):
    ms = "%10.3f" % r["median_ms"] if "median_ms" in r else "%10s" % "-"
    err = "%.1e" % r["check_error"] if isinstance(r.get("check_error"), float) else "-"
    print("  %s  %-8s %-28s %s" % (ms, err, r["status"][:28], r["case"]))
PYEOF
        fi
        for part in smoke tests bench; do
            if [ -f "$WORK/${part}_tail.txt" ]; then
                echo
                echo "$part:"
                cat "$WORK/${part}_tail.txt"
            fi
        done
    } >"$SUMMARY"
}

# step NAME LIMIT_S CMD...: run with a time limit, log, record status; never exits the script
step() {
    local name="$1" limit="$2"
    shift 2
    local t0 rc status
    t0=$(date +%s)
    if [ "$limit" -le 0 ]; then
        STEPS+="  $(printf '%-10s' "$name") SKIPPED (time limit ${limit} s)\n"
        LAST_RC=124
        write_summary
        return 0
    fi
    echo "===== [$name] limit ${limit}s: $* =====" | tee -a "$LOG"
    timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
    rc=$?
    case $rc in
        0) status="ok" ;;
        124|137) status="TIMEOUT after ${limit}s" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    LAST_RC=$rc
    STEPS+="  $(printf '%-10s' "$name") $(printf '%-26s' "$status") $(( $(date +%s) - t0 )) s\n"
    echo "===== [$name] $status in $(( $(date +%s) - t0 )) s =====" | tee -a "$LOG"
    write_summary
    return 0
}

# pytest_tail NAME FIRST_LOG_LINE: the pytest summary (or, when cut off, the counts so far)
pytest_tail() {
    local name="$1" first="$2"
    tail -n +"$first" "$LOG" >"$WORK/$name.log"
    if grep -qE "[0-9]+ (passed|failed|deselected)|tests? collected|no tests ran" "$WORK/$name.log"; then
        grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed|deselected)|tests? collected|no tests ran|error" \
            "$WORK/$name.log" | tail -n 25 >"$WORK/${name}_tail.txt"
    else
        {
            echo "no pytest summary (cut off?): $(grep -c ' PASSED' "$WORK/$name.log") passed," \
                "$(grep -c ' SKIPPED' "$WORK/$name.log") skipped, $(grep -c ' FAILED' "$WORK/$name.log") failed so far"
            grep -E " (FAILED|ERROR) " "$WORK/$name.log" | sed -E 's/^.*(FAILED|ERROR) /\1 /' | tail -n 20
        } >"$WORK/${name}_tail.txt"
    fi
}

facts() {
    echo "host: $(hostname)  kernel: $(uname -r)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.limit \
            --format=csv 2>&1 || true
    else
        echo "nvidia-smi: not found"
    fi
    command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -n 2 || echo "nvcc: not found"
    command -v ncu >/dev/null 2>&1 && echo "ncu: $(ncu --version 2>/dev/null | tail -n 1)" || echo "ncu: not found"
    "$PY" - <<'PYEOF'
import os, platform, sysconfig
inc = sysconfig.get_paths()["include"]
print("python", platform.python_version(), "headers:",
      "ok" if os.path.exists(os.path.join(inc, "Python.h")) else "MISSING", inc)
try:
    import torch
    print("torch", torch.__version__, "cuda", torch.version.cuda)
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print("device:", torch.cuda.get_device_name(0), "| SMs", p.multi_processor_count,
              "| memory %.1f GiB" % (p.total_memory / 2**30),
              "| L2 %.0f MB" % (getattr(p, "L2_cache_size", 0) / 1e6))
    else:
        print("device: no CUDA device visible to torch")
except Exception as exc:
    print("torch: not importable:", exc)
for mod in ("triton", "pybind11", "scikit_build_core", "xdist", "pytest"):
    try:
        m = __import__(mod)
        print(mod, getattr(m, "__version__", "present"))
    except Exception as exc:
        print(mod + ": not importable:", type(exc).__name__)
PYEOF
}

pack() {
    cp "$LOG" "$WORK/run.log" 2>/dev/null
    tar czf "$OUT/extras.tar.gz" -C "$WORK" plots $(cd "$WORK" && ls junit.xml pip.log 2>/dev/null) \
        run.log 2>/dev/null
    write_summary
    if [ -f "$OUT/bench_table.md" ]; then
        echo
        awk '/^#### /{exit} {print}' "$OUT/bench_table.md"
    fi
    echo
    cat "$SUMMARY"  # last: the device tool returns the tail of the output
    rm -rf "$WORK"
}

# 1. facts ---------------------------------------------------------------------------------
timeout -k 5 30 bash -c "$(declare -f facts); PY='$PY' facts" >"$WORK/device.txt" 2>&1
cat "$WORK/device.txt" >>"$LOG"
if [ "$DRY" = 0 ] && ! grep -q "^device: .*| SMs" "$WORK/device.txt"; then
    echo "WARNING: no CUDA device visible; tests and timings ran on CPU" >>"$WORK/device.txt"
fi
write_summary

# extra wheels carried along (e.g. pykeops + keopscore for the KeOps baseline)
WHEELS_DIR="${FASTGAN_GPU_WHEELS:-$ROOT/.whl}"
if ls "$WHEELS_DIR"/*.whl >/dev/null 2>&1; then
    step wheels 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$WORK/site" "$WHEELS_DIR"/*.whl
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi

# 2. install -------------------------------------------------------------------------------
PIP=("$PY" -m pip install --no-build-isolation --no-deps --no-index -v -e .)
if [ "$DRY" = 1 ] || [ "${FASTGAN_GPU_SKIP_INSTALL:-0}" = 1 ]; then
    STEPS+="  install    skipped ($( [ $DRY = 1 ] && echo 'dry run' || echo 'FASTGAN_GPU_SKIP_INSTALL=1' )): ${PIP[*]}\n"
    write_summary
else
    # the CUDA fills for Hopper only (one arch: half the nvcc time); scikit-build-core
    # passes CMAKE_ARGS to CMake
    T0=$(date +%s)
    CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=90" step install "$(cap "$INSTALL_S")" "${PIP[@]}"
    if [ "$LAST_RC" != 0 ]; then
        RETRY_S=$(( INSTALL_S - $(date +%s) + T0 ))
        [ "$RETRY_S" -lt 90 ] && RETRY_S=90
        CMAKE_ARGS="-DFASTGAN_NO_CUDA=ON" step install-cpu "$(cap "$RETRY_S")" "${PIP[@]}"
    fi
    step import 30 "$PY" -c "import fastgan, fastgan._C as c; print('fastgan', fastgan.__file__, '_C has_cuda =', c.has_cuda)"
    grep -E "_C has_cuda|Error" "$LOG" | tail -n 2 >>"$WORK/device.txt"
    if [ "$LAST_RC" != 0 ]; then
        STOPPED="import fastgan failed after the install (see run.log); nothing else ran"
        grep -vE "^ +(Running|Building|copying|adding)" "$LOG" | tail -n 60 >"$WORK/pip.log"
        pack
        exit 0
    fi
fi

# 3. smoke: the GPU tests ------------------------------------------------------------------
PER_TEST=()
if "$PY" -c "import pytest_timeout" >/dev/null 2>&1; then PER_TEST=(--timeout=60); fi
FIRST=$(( $(wc -l <"$LOG") + 1 ))
if [ "$DRY" = 1 ]; then
    step smoke "$(cap 60)" "$PY" -m pytest -q --collect-only -p no:cacheprovider -m gpu "${SMOKE[@]}"
else
    step smoke "$(cap "$SMOKE_S")" "$PY" -m pytest -v -rfEs -p no:cacheprovider -m gpu \
        ${PER_TEST[@]+"${PER_TEST[@]}"} "${SMOKE[@]}"
fi
pytest_tail smoke "$FIRST"
write_summary

# 4. window: the headline timings ----------------------------------------------------------
WONLY=()
IFS=',' read -r -a _W <<<"${FASTGAN_GPU_WINDOW_ONLY:-$( [ $DRY = 1 ] && echo '(table),rand' )}"
for w in ${_W[@]+"${_W[@]}"}; do [ -n "$w" ] && WONLY+=(--only "$w"); done
if [ "$DRY" = 1 ]; then
    step window "$(cap 120)" "$PY" -m bench.gpu_window --dry-run --out "$OUT/window.json" \
        --budget 100 ${WONLY[@]+"${WONLY[@]}"}
else
    W_S=$(cap "$WINDOW_S")
    # the script stops starting cases 5 s before its budget; the limit is the backstop
    step window "$W_S" "$PY" -m bench.gpu_window --out "$OUT/window.json" \
        --budget "$(( W_S > 15 ? W_S - 10 : 5 ))" ${WONLY[@]+"${WONLY[@]}"}
fi

# 5. ncu: hardware counters of the MMD kernel ----------------------------------------------
if [ "$DRY" = 0 ] && command -v ncu >/dev/null 2>&1; then
    # --clock-control none: the card's clocks as found (never changed); the first launch of
    # the kernel compiles, so ncu profiles the next one
    step ncu "$(cap "$NCU_S")" ncu --clock-control none --target-processes all \
        -k regex:mmd_fused_kernel --launch-skip 1 --launch-count 1 \
        --section SpeedOfLight --section ComputeWorkloadAnalysis --section Occupancy \
        --section LaunchStats --section WarpStateStats --section InstructionStats \
        --log-file "$OUT/ncu.txt" "$PY" -m bench.gpu_window --ncu
else
    STEPS+="  ncu        skipped ($( [ $DRY = 1 ] && echo 'dry run' || echo 'ncu not found' ))\n"
    write_summary
fi

# 6. the device test files ---------------------------------------------------------------
FIRST=$(( $(wc -l <"$LOG") + 1 ))
if [ "$DRY" = 1 ]; then
    step tests "$(cap 120)" "$PY" -m pytest -q --collect-only -p no:cacheprovider "${TESTS[@]}"
else
    # Triton compiles each kernel specialisation on first use (CPU-bound): spread the files
    # over worker processes when pytest-xdist is there (it is on the lent machines' image)
    XDIST=()
    if "$PY" -c "import xdist" >/dev/null 2>&1; then XDIST=(-n "${FASTGAN_GPU_TEST_WORKERS:-12}"); fi
    step tests "$(cap $(( TEST_S < $(left) - 60 ? TEST_S : $(left) - 60 )))" \
        "$PY" -m pytest -v -rfEs -p no:cacheprovider --durations=10 ${XDIST[@]+"${XDIST[@]}"} \
        ${PER_TEST[@]+"${PER_TEST[@]}"} --junitxml="$WORK/junit.xml" "${TESTS[@]}"
fi
pytest_tail tests "$FIRST"
write_summary

# 7. bench in the time left, then its rendering --------------------------------------------
REMAIN=$(( $(left) - 25 ))
if [ "$DRY" = 1 ]; then
    step bench "$(( 120 < REMAIN ? 120 : REMAIN ))" \
        "$PY" -m bench --dry-run --device cpu --threads 1 --ops "$BENCH_OPS" --out-dir "$OUT" --time-budget 60
elif [ "$REMAIN" -ge 45 ]; then
    # the runner spends its budget on timings and stops cleanly; the limit is the backstop
    step bench "$REMAIN" "$PY" -m bench --mode quick --no-compile --ops "$BENCH_OPS" \
        --out-dir "$OUT" --time-budget "$(( REMAIN - 15 ))"
else
    STEPS+="  bench      skipped: ${REMAIN} s left\n"
fi
awk '/^===== \[bench\]/{on=1} on && /^\[|^  peaks|^wrote|skipped|not run/' "$LOG" | tail -n 20 >"$WORK/bench_tail.txt"
write_summary
JSON="$(ls "$OUT"/*.json 2>/dev/null | grep -v '/window.json$' | head -n 1)"
if [ -n "$JSON" ] && [ -f "$JSON" ]; then
    step render "$(cap 30)" \
        "$PY" -m bench.render "$JSON" --markdown "$OUT/bench_table.md" \
        --overview "$OUT/bench_overview.png" --plots "$WORK/plots"
else
    STEPS+="  render     skipped: no results JSON\n"
fi

pack
exit 0

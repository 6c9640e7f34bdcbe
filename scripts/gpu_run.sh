#!/usr/bin/env bash
# One-call GPU verification of fastgan, made for a lent GPU machine (10 minutes a call):
#   1. environment report (nvidia-smi, python, torch, triton, nvcc)
#   2. offline install:  pip install --no-build-isolation --no-deps --no-index -e .
#   3. the whole test suite on CUDA (compiled kernels, not the Triton interpreter)
#   4. the full benchmark run (python -m bench --full), then the README table and plots
# Every step has its own time limit, a failing step does not stop the next one, and
# $OUT/summary.txt is rewritten after each step, so whatever happens there is a summary.
#
# Files under $OUT (at most 8, as the device tool returns them):
#   summary.txt          steps, status, seconds; test counts; device
#   run.log              every step's output, in order
#   <device>.json        the benchmark results (copy it into bench/results/)
#   bench_table.md       the Markdown table for the README
#   bench_overview.png   all time-vs-size plots in one figure
#   extras.tar.gz        per-op plots, the pytest junit XML, pip's build log
#
# Usage:
#   bash scripts/gpu_run.sh            # on the GPU machine (OUT set by the device tool)
#   bash scripts/gpu_run.sh --dry-run  # CPU check of the script itself: no install, the
#                                      # test suite only collected, the bench in --dry-run mode
# Time limits (seconds; env overrides): FASTGAN_GPU_TOTAL_S=570 for the whole script,
# FASTGAN_GPU_INSTALL_S=170, FASTGAN_GPU_TEST_S=170; the bench gets what is left (at most
# FASTGAN_GPU_BENCH_S=300) less 35 s kept for rendering and packing.
# FASTGAN_GPU_BENCH_OPS=random,mmd,... limits the bench to some op families (default: all);
# FASTGAN_GPU_TESTS="tests/test_mmd.py ..." limits the tests (default: tests);
# FASTGAN_GPU_BENCH_MODE=quick|dry shrinks the bench grid (default: full);
# FASTGAN_GIT_REV=<commit> records the commit when .git does not travel with the tree.
# Wheels in .whl/ (or FASTGAN_GPU_WHEELS) are installed into a private folder on PYTHONPATH
# first: carry pykeops + keopscore that way for the KeOps baseline (not on the machine's image).
# FASTGAN_GPU_SKIP_INSTALL=1 skips step 2 (the package is already installed), and
# FASTGAN_GPU_TEST_S=0 skips the tests: e.g. a second call on a still-warm machine that only
# benches more op families (merge its JSON: python -m bench.render a.json b.json --merge m.json).
set -u

DRY=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) DRY=1 ;;
        -h|--help) sed -n '2,33p' "$0" | cut -c3-; exit 0 ;;
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

TOTAL_S="${FASTGAN_GPU_TOTAL_S:-570}"
INSTALL_S="${FASTGAN_GPU_INSTALL_S:-170}"
TEST_S="${FASTGAN_GPU_TEST_S:-170}"
BENCH_S="${FASTGAN_GPU_BENCH_S:-300}"
BENCH_OPS="${FASTGAN_GPU_BENCH_OPS:-random,mmd,gan_loss,sample,train}"
BENCH_MODE="${FASTGAN_GPU_BENCH_MODE:-full}"
read -r -a TESTS <<<"${FASTGAN_GPU_TESTS:-tests}"
START=$(date +%s)
LOG="$OUT/run.log"
SUMMARY="$OUT/summary.txt"
: >"$LOG"
STEPS=""

elapsed() { echo $(( $(date +%s) - START )); }
left() { echo $(( TOTAL_S - $(date +%s) + START )); }

write_summary() {
    {
        echo "fastgan GPU verification ($( [ $DRY = 1 ] && echo 'DRY RUN on CPU' || echo 'GPU run' ))"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   elapsed: $(elapsed) s of $TOTAL_S s"
        echo "git: ${FASTGAN_GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
        [ -f "$WORK/device.txt" ] && cat "$WORK/device.txt"
        echo
        echo "steps:"
        printf '%b' "$STEPS"
        if [ -f "$WORK/tests_tail.txt" ]; then
            echo
            echo "tests:"
            cat "$WORK/tests_tail.txt"
        fi
        if [ -f "$WORK/bench_tail.txt" ]; then
            echo
            echo "bench:"
            cat "$WORK/bench_tail.txt"
        fi
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
    STEPS+="  $(printf '%-10s' "$name") $(printf '%-26s' "$status") $(( $(date +%s) - t0 )) s\n"
    echo "===== [$name] $status in $(( $(date +%s) - t0 )) s =====" | tee -a "$LOG"
    write_summary
    return 0
}

env_report() {
    echo "host: $(hostname)  kernel: $(uname -r)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem,temperature.gpu \
            --format=csv 2>&1 || true
    else
        echo "nvidia-smi: not found"
    fi
    command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -n 2 || echo "nvcc: not found"
    "$PY" - <<'PYEOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda)
try:
    import triton
    print("triton", triton.__version__)
except Exception as exc:
    print("triton: not importable:", exc)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device:", torch.cuda.get_device_name(0), "| SMs", p.multi_processor_count,
          "| memory %.1f GiB" % (p.total_memory / 2**30),
          "| L2 %.0f MB" % (getattr(p, "L2_cache_size", 0) / 1e6))
else:
    print("device: no CUDA device visible to torch")
PYEOF
}

# 1. environment ---------------------------------------------------------------------------
env_report >"$WORK/device.txt" 2>&1
cat "$WORK/device.txt" | tee -a "$LOG"
if [ "$DRY" = 0 ] && ! grep -q "^device: .*| SMs" "$WORK/device.txt"; then
    echo "WARNING: no CUDA device visible; the tests and the bench run on CPU" | tee -a "$LOG"
    echo "WARNING: no CUDA device visible; tests and bench ran on CPU" >>"$WORK/device.txt"
fi
write_summary

# 1b. extra wheels carried along (e.g. pykeops + keopscore for the KeOps baseline) ----------
WHEELS_DIR="${FASTGAN_GPU_WHEELS:-$ROOT/.whl}"
if ls "$WHEELS_DIR"/*.whl >/dev/null 2>&1; then
    step wheels 90 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target "$WORK/site" "$WHEELS_DIR"/*.whl
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi

# 2. install -------------------------------------------------------------------------------
if [ "$DRY" = 1 ] || [ "${FASTGAN_GPU_SKIP_INSTALL:-0}" = 1 ]; then
    STEPS+="  install    skipped ($( [ $DRY = 1 ] && echo 'dry run' || echo 'FASTGAN_GPU_SKIP_INSTALL=1' )): $PY -m pip install --no-build-isolation --no-deps --no-index -e .\n"
    write_summary
else
    step install "$(( INSTALL_S < $(left) ? INSTALL_S : $(left) ))" \
        "$PY" -m pip install --no-build-isolation --no-deps --no-index -v -e .
    "$PY" -c "import fastgan._C as c; print('fastgan._C has_cuda =', c.has_cuda)" 2>&1 \
        | tee -a "$LOG" >>"$WORK/device.txt"
fi

# 3. tests ---------------------------------------------------------------------------------
if [ "$DRY" = 1 ]; then
    step tests "$(( 120 < $(left) ? 120 : $(left) ))" \
        "$PY" -m pytest -q --collect-only -p no:cacheprovider "${TESTS[@]}"
    grep -E "tests? collected|error" "$LOG" | tail -n 3 >"$WORK/tests_tail.txt"
else
    # Triton compiles each kernel specialization on first use (CPU-bound): spread the suite
    # over worker processes when pytest-xdist is there (it is on the lent machines' image)
    XDIST=()
    if "$PY" -c "import xdist" >/dev/null 2>&1; then XDIST=(-n "${FASTGAN_GPU_TEST_WORKERS:-6}"); fi
    # one line per test (-v), so a run cut off by the step's limit still says which tests
    # passed and failed; a per-test limit when pytest-timeout is there
    PER_TEST=()
    if "$PY" -c "import pytest_timeout" >/dev/null 2>&1; then PER_TEST=(--timeout=150); fi
    T0_LINE=$(wc -l <"$LOG")
    step tests "$(( TEST_S < $(left) ? TEST_S : $(left) ))" \
        "$PY" -m pytest -v -rfEs -p no:cacheprovider --durations=10 ${XDIST[@]+"${XDIST[@]}"} \
        ${PER_TEST[@]+"${PER_TEST[@]}"} --junitxml="$WORK/junit.xml" "${TESTS[@]}"
    # the pytest summary line ("N passed, M skipped in T s") and failures; without a summary
    # (the step was cut off) the per-test counts and failed tests seen so far
    tail -n +"$(( T0_LINE + 1 ))" "$LOG" >"$WORK/tests.log"
    if grep -qE "[0-9]+ (passed|failed)|no tests ran" "$WORK/tests.log"; then
        grep -E "^(FAILED|ERROR)|[0-9]+ (passed|failed)|no tests ran" "$WORK/tests.log" \
            | tail -n 25 >"$WORK/tests_tail.txt"
    else
        {
            echo "no pytest summary (cut off?): $(grep -c ' PASSED' "$WORK/tests.log") passed," \
                "$(grep -c ' SKIPPED' "$WORK/tests.log") skipped, $(grep -c ' FAILED' "$WORK/tests.log") failed so far"
            grep -E " (FAILED|ERROR) " "$WORK/tests.log" | sed -E 's/^.*(FAILED|ERROR) /\1 /' | tail -n 20
        } >"$WORK/tests_tail.txt"
    fi
fi
write_summary

# 4. bench ---------------------------------------------------------------------------------
REMAIN=$(( $(left) - 35 ))
BUDGET=$(( BENCH_S < REMAIN ? BENCH_S : REMAIN ))
if [ "$DRY" = 1 ]; then
    step bench "$(( 120 < REMAIN ? 120 : REMAIN ))" \
        "$PY" -m bench --dry-run --device cpu --threads 1 --ops "$BENCH_OPS" --out-dir "$OUT" --time-budget 60
else
    # the runner spends BUDGET-20 s on timings and stops cleanly; the limit is the backstop
    step bench "$BUDGET" "$PY" -m bench --mode "$BENCH_MODE" --ops "$BENCH_OPS" --out-dir "$OUT" --time-budget "$(( BUDGET - 20 ))"
fi
awk '/^===== \[bench\]/{on=1} on && /^\[|^  peaks|^wrote|skipped|not run/' "$LOG" | tail -n 30 >"$WORK/bench_tail.txt"
write_summary

# 5. render --------------------------------------------------------------------------------
JSON="$(ls "$OUT"/*.json 2>/dev/null | head -n 1)"
if [ -n "$JSON" ] && [ -f "$JSON" ]; then
    step render 30 \
        "$PY" -m bench.render "$JSON" --markdown "$OUT/bench_table.md" \
        --overview "$OUT/bench_overview.png" --plots "$WORK/plots"
else
    STEPS+="  render     skipped: no results JSON\n"
fi

# 6. pack ----------------------------------------------------------------------------------
cp "$LOG" "$WORK/run.log" 2>/dev/null
tar czf "$OUT/extras.tar.gz" -C "$WORK" plots $(cd "$WORK" && ls junit.xml 2>/dev/null) run.log 2>/dev/null
write_summary
# the short tables (summary, targets) then the summary last: the device tool returns the tail
if [ -f "$OUT/bench_table.md" ]; then
    echo
    awk '/^#### /{exit} {print}' "$OUT/bench_table.md"
fi
echo
cat "$SUMMARY"
rm -rf "$WORK"
exit 0

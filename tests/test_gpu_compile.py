"""The RNG and sampler kernels compile for sm_80/sm_90 (no GPU needed; see helpers.compile_for_gpu)."""
from helpers import compile_for_gpu

_BODY = '''
from fastgan._codes import FillKind, SamplerFamily, TabulatedMode
from fastgan.kernels import random as R, inverse_cdf as S

def types(dtype):
    def t(n):
        if n == "out_ptr":
            return "*" + dtype
        if n.endswith("_ptr"):
            return {"rows_ptr": "*fp64", "cdf_ptr": "*fp64", "sup_ptr": "*fp32"}.get(n, "*i64")
        return "i64" if n in ("n", "N") else "i32"
    return t

count = 0
fill_dtypes = {FillKind.BITS: "i32", FillKind.UNIFORM_F32: "fp32", FillKind.UNIFORM_F64: "fp64",
               FillKind.NORMAL_F32: "fp32", FillKind.NORMAL_F64: "fp64"}
for kind in FillKind:
    build(R.fill_kernel, types(fill_dtypes[kind]), dict(KIND=int(kind), BLOCK=1024))
    count += 1
for family in SamplerFamily:
    build(S.parametric_kernel, types("fp32" if family % 2 else "fp64"),
          dict(FAMILY=int(family), W=12, BLOCK=256), cc=80 if family % 2 else 90)
    count += 1
for mode, dtype in [(TabulatedMode.CATEGORICAL, "i64"), (TabulatedMode.INVERSE_CDF, "fp32")]:
    build(S.tabulated_kernel, types(dtype), dict(MODE=int(mode), BLOCK=256))
    count += 1
for wdtype in ("fp32", "bf16", "fp64"):  # the categorical table's one-pass build
    build(S.categorical_table_kernel,
          lambda n: {"w_ptr": "*" + wdtype}.get(n, "*fp64" if n.endswith("_ptr") else "i32"),
          dict(BLOCK=1024))
    count += 1
# Triton turns integer arguments equal to 1 into constants unless told not to; the seed and
# offset words are marked do_not_specialize, and the kernels compile as constants anyway
words = ["seed_lo", "seed_hi", "off_lo", "off_hi"]
for fn, c in [(R.fill_kernel, dict(KIND=int(FillKind.NORMAL_F32), BLOCK=1024)),
              (S.parametric_kernel, dict(FAMILY=int(SamplerFamily.NORMAL), W=12, BLOCK=256)),
              (S.tabulated_kernel, dict(MODE=int(TabulatedMode.INVERSE_CDF), BLOCK=256))]:
    assert set(words) <= set(fn.do_not_specialize), fn.__name__
    for w in words:
        build(fn, types("fp32"), dict(c, **{w: 1}))
        count += 1
print("compiled", count)
'''


def test_random_and_sampler_kernels_compile_for_gpus():
    proc = compile_for_gpu(_BODY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compiled" in proc.stdout and int(proc.stdout.split()[-1]) == 28, proc.stdout


_STATS_BODY = '''
from fastgan.kernels import stats as T

def types(zdtype):
    def t(n):
        if n == "z_ptr":
            return "*" + zdtype
        if n == "sign_ptr":
            return "*i8"
        if n.endswith("_ptr"):
            return "*fp32"
        return "fp32" if n in ("half_h", "g", "gamma", "coef") else "i32"
    return t

base = dict(NSIG=1, DEGREE=3, EXCLUDE_DIAG=True, WRITE_V=False, PRECISION="tf32", UPCAST=False,
            BLOCK_M=128, BLOCK_N=64, BLOCK_K=64, BLOCK_B=128, SINGLE_K=True)
count = 0
# fastgan.stats' launch configurations: fp32 (tf32 and ieee), bf16 and fp16 tiles, every kernel,
# the large-D loop, the power selection's WRITE_V, the small-B block
for zdtype, k_dot, kernel, extra in [
        ("fp32", 0, 0, {}), ("fp32", 0, 0, dict(PRECISION="ieee")), ("bf16", 1, 0, {}),
        ("fp16", 2, 0, {}), ("fp16", 0, 3, {}), ("bf16", 1, 1, {}), ("fp32", 0, 2, dict(NSIG=3)),
        ("fp32", 0, 4, dict(EXCLUDE_DIAG=False)), ("bf16", 1, 0, dict(BLOCK_K=64, SINGLE_K=False)),
        ("fp32", 0, 0, dict(WRITE_V=True, BLOCK_B=64))]:
    build(T.mmd_perm_kernel, types(zdtype), dict(base, KERNEL=kernel, K_DOT=k_dot, **extra),
          num_warps=8)
    count += 1
print("compiled", count)
'''


def test_stats_kernel_compiles_for_sm90():
    proc = compile_for_gpu(_STATS_BODY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "compiled" in proc.stdout and int(proc.stdout.split()[-1]) == 10, proc.stdout

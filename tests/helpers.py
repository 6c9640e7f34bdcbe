"""Shared test helpers: one dtype -> tolerance table, float64 leaves, relative-error checks
(against the norm, and against the size of the terms a sum cancels), an op-vs-reference
checker for value and gradient, output poisoning, and compilation for real GPU targets."""
import torch

# Relative tolerances by the precision of the arithmetic under test (docs/benchmarks.md
# explains the method): fp32 elementwise ~1e-5; tf32 dots ~3e-4 (use "tf32"); bf16/fp16
# operands ~1e-2.
# fp32 elementwise ~1e-5; tf32 dots ~3e-4 (use "tf32"); bf16/fp16 operands ~1e-2.
TOL = {
    torch.float64: dict(rtol=1e-10, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    "tf32": dict(rtol=3e-3, atol=1e-4),
    torch.float16: dict(rtol=1e-2, atol=1e-3),
    torch.bfloat16: dict(rtol=2e-2, atol=1e-2),
}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖ / ‖ref‖ in float64 (NaN in out gives NaN, which never passes a < check)."""
    out = out.detach().double().cpu()
    ref = ref.detach().double().cpu()
    den = ref.norm().item()
    num = (out - ref).norm().item()
    return num / den if den > 0 else num


def assert_rel(out, ref, tol: float, what: str = "value"):
    err = rel_err(out, ref)
    assert err == err and err <= tol, f"{what}: relative error {err:.3e} > {tol:.1e}"


def leaf64(t: torch.Tensor) -> torch.Tensor:
    """A float64 CPU copy of t that is a fresh autograd leaf (for the reference side)."""
    return t.detach().double().cpu().requires_grad_()


def assert_within_terms(out, ref, terms: float, tol: float, what: str = "value"):
    """|out − ref| <= tol · terms, where terms = Σ|terms| of the sum ref is (a difference of
    large sums, such as MMD², carries rounding relative to its terms, not to itself)."""
    diff = abs(float(out.detach()) - float(ref.detach()))
    err = diff / terms if terms > 0 else diff
    assert err == err and err <= tol, \
        f"{what} {float(out)} vs {float(ref)}: error {err:.2e} of Σ|terms| > {tol:.1e}"


def check_op_vs_reference(op, ref, inputs, *, value_tol: float, grad_tol: float,
                          grad_output: float = 1.0, terms: float | None = None):
    """op(*inputs) against ref(*float64 leaves): the value (relative, or relative to
    ``terms`` = Σ|terms| when given) and the gradient of every input (relative), with
    ``grad_output`` as the upstream gradient. Returns the op's output."""
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    refs = [leaf64(t) for t in inputs]
    want = ref(*refs)
    out = op(*leaves)
    if terms is None:
        assert_rel(out, want, value_tol)
    else:
        assert_within_terms(out, want, terms, value_tol)
    g_ref = torch.autograd.grad(want, refs)
    g = torch.autograd.grad(out, leaves, grad_outputs=torch.full_like(out, grad_output))
    for i, (a, b) in enumerate(zip(g, g_ref)):
        assert a.dtype == inputs[i].dtype and a.shape == b.shape
        assert_rel(a, grad_output * b, grad_tol, f"gradient of input {i}")
    return out


def poison(t: torch.Tensor) -> torch.Tensor:
    """Fill with NaN (floats) or a sentinel (ints) so unwritten outputs fail the checks."""
    if t.is_floating_point():
        return t.fill_(float("nan"))
    return t.fill_(-123456789 if t.dtype in (torch.int32, torch.int64) else 0)


# Triton's interpreter accepts code its compiler rejects (e.g. globals written
# ``X: tl.constexpr = 0``), so kernels are also compiled, without a GPU, for real targets.
_COMPILE_PRELUDE = '''
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

def build(fn, types, constexprs, cc=90, num_warps=4):
    """Compile fn for sm_<cc>; types maps an argument name to a Triton type string."""
    names = fn.arg_names
    sig = {n: "constexpr" if n in constexprs else types(n) for n in names}
    cst = {(names.index(k),): v for k, v in constexprs.items()}
    triton.compile(ASTSource(fn=fn, signature=sig, constexprs=cst),
                   target=GPUTarget("cuda", cc, 32), options=dict(num_warps=num_warps))
'''


def compile_for_gpu(body: str):
    """Run ``body`` (which may call ``build(...)``) in a fresh process without TRITON_INTERPRET.

    Skips when the installed triton has no NVIDIA backend. Returns the CompletedProcess.
    """
    import os
    import subprocess
    import sys

    import pytest
    import triton.backends

    if "nvidia" not in getattr(triton.backends, "backends", {}):
        pytest.skip("this triton build has no NVIDIA backend to compile with")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-c", _COMPILE_PRELUDE + body], env=env,
                          capture_output=True, text=True, timeout=600)

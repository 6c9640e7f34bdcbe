"""Shared test helpers: one dtype -> tolerance table, relative-error checks, output poisoning."""
import torch

# Relative tolerances by the precision of the arithmetic under test (see METHOD.md):
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


def poison(t: torch.Tensor) -> torch.Tensor:
    """Fill with NaN (floats) or a sentinel (ints) so unwritten outputs fail the checks."""
    if t.is_floating_point():
        return t.fill_(float("nan"))
    return t.fill_(-123456789 if t.dtype in (torch.int32, torch.int64) else 0)

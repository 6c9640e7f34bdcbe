"""The MMD as one registered op: preparation of Z, the backend dispatch, and autograd.

``torch.ops.fastgan.mmd_fused`` is what torch.compile sees (one opaque node). Its forward
computes the weighted sum L = wA·Sxx + wB·Syy + 2wC·Sxy of the kernel sums and, when asked,
the whole gradient in the same pass ("gradient in forward"); backward only scales that saved
gradient by grad_output. When backward itself must be differentiable (``create_graph=True``,
e.g. a gradient penalty on an MMD critic), the gradient is rebuilt from the saved inputs with
differentiable PyTorch ops instead (:func:`grad_graph`), in checkpointed row chunks so that
memory stays O((N + M)·chunk).
"""
from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from ... import _backend
from ..._codes import MMDKernel
from . import config as _config
from .cpu import torch_fused
from .launch import triton_fused

__all__ = ["prepare", "prepare_for", "fused", "grad_graph", "OP_ARGS"]

_LN2 = 0.6931471805599453


def prepare(x, y, kernel, use_triton):
    """Z = [x; y] centred by its mean (distance kernels) in the compute dtype, and ‖z_p‖².

    Centring runs in the inputs' precision (float64 stays float64 until after the mean is
    removed), then Z is cast to the dot dtype: float32 for the Triton path's float32 and
    float64 inputs, the input dtype for fp16/bf16; float64 or float32 on the CPU path."""
    if use_triton:
        dot_dtype = x.dtype if x.dtype in (torch.float16, torch.bfloat16) else torch.float32
        acc_dtype = torch.float32
    else:
        dot_dtype = acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    centre_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    z = torch.cat([x.detach(), y.detach()]).to(centre_dtype)
    if kernel != MMDKernel.POLYNOMIAL:
        z = z - z.mean(0)
    zc = z.to(dot_dtype).contiguous()
    zf = zc.to(acc_dtype)
    sq = (zf * zf).sum(1).contiguous()
    return zc, sq


def poly_overflows(sq, gamma, coef, degree) -> bool:
    """Whether polynomial kernel values (γ⟨z_p, z_q⟩ + coef)^degree may leave float32's range
    (with room for sums of P² of them): |γ⟨z_p, z_q⟩ + coef| <= γ·max‖z‖² + |coef| =: α, and
    the test is α^degree > 2^100. One host read of max ‖z‖²."""
    bound = abs(gamma) * float(sq.max()) + abs(coef) if sq.numel() else abs(coef)
    return math.isfinite(bound) and bound > 0.0 and degree * math.log2(bound) > 100.0


def prepare_for(x, y, kernel, gamma, coef, degree, use_triton):
    """:func:`prepare`, and the backend that can represent the result: polynomial kernels
    whose values could overflow float32 run the PyTorch path in float64 on x's device (a
    finite MMD² is then returned finite, and so is a gradient that fits its dtype)."""
    zc, sq = prepare(x, y, kernel, use_triton)
    if kernel == MMDKernel.POLYNOMIAL and zc.dtype != torch.float64 \
            and poly_overflows(sq, gamma, coef, degree):
        use_triton = False
        zc, sq = prepare(x.double(), y.double(), kernel, False)
    return zc, sq, use_triton


def fused(x, y, consts, kernel, degree, gamma, coef, weights, exclude_diag, cross_only,
          compute_grad, precision, square_mask, grad_mask=3):
    """(value (fp64), the three sums (fp64), dL/dx, dL/dy) on the backend for x's device."""
    kernel = MMDKernel(kernel)
    wA, wB, wC = weights
    n = x.shape[0]
    use_triton = _backend.use_triton(x.device)
    zc, sq, use_triton = prepare_for(x, y, kernel, gamma, coef, degree, use_triton)
    args = (zc, sq, n, consts, kernel, degree, gamma, coef, (wA, wB, wC), exclude_diag,
            cross_only, compute_grad)
    if use_triton:
        prec = "ieee" if x.dtype == torch.float64 else precision
        rows, grad = triton_fused(*args, prec, square_mask=square_mask)
    else:
        # no squarings on the CPU: repeated squaring walks through denormals, which x86
        # handles in microcode (≈5× slower overall); GPUs square denormals at full speed
        rows, grad = torch_fused(*args, grad_rows=(bool(grad_mask & 1), bool(grad_mask & 2)))
    r = rows[0].double()
    sums = torch.stack([r[0, :n].sum(), r[1, n:].sum(), r[1, :n].sum()])
    # zero-weight sums are left out, not multiplied by 0: pair sums (wA = wB = 0) also
    # visit same-sample pairs, whose kernel values may overflow to inf (0·inf = NaN)
    terms = [c * t for c, t in zip((wA, wB, 2.0 * wC), sums) if c != 0.0]
    value = sum(terms[1:], terms[0]) if terms else sums.new_zeros(())
    if compute_grad:
        gx = grad[:n].to(saved_dtype(x.dtype), copy=True)
        gy = grad[n:].to(saved_dtype(y.dtype), copy=True)
    else:
        gx = x.new_empty(0)
        gy = y.new_empty(0)
    return value, sums, gx, gy


def saved_dtype(dtype: torch.dtype) -> torch.dtype:
    # The gradient is computed in the forward pass and multiplied by grad_output in backward:
    # fp16 gradients stay fp32 until then, so a GradScaler's 2^16 (or any grad_output) meets
    # them unrounded; an fp16 MMD gradient (≈ 1/N² per pair) would otherwise flush to 0.
    return torch.float32 if dtype == torch.float16 else dtype


# ----------------------------------------------------------------------------------------------
# the differentiable gradient, for double backward
# ----------------------------------------------------------------------------------------------
def _dk(d, consts, kernel):
    """dk/dd for a distance kernel, by differentiable ops; 0 where d = 0 for the laplacian
    and energy kernels (singular there, as in the forward pass)."""
    if kernel in (MMDKernel.LAPLACIAN, MMDKernel.ENERGY):
        pos = d > 0
        r = torch.where(pos, d, torch.ones_like(d)).sqrt()  # no 1/√0 in either branch
        if kernel == MMDKernel.ENERGY:
            return torch.where(pos, -0.5 / r, torch.zeros_like(d))
        g = sum((c * _LN2) * torch.exp2(c * r) for c in consts) / (2.0 * r)
        return torch.where(pos, g, torch.zeros_like(d))
    if kernel == MMDKernel.GAUSSIAN:
        return sum((c * _LN2) * torch.exp2(c * d) for c in consts)
    # imq: d/dd (1 + c d)^(-1/2)
    return sum((-0.5 * c) * (1.0 + c * d).pow(-1.5) for c in consts)


def _chunk_grad(zr, z, r0, n, consts, kernel, degree, gamma, coef, weights, exclude_diag):
    """Rows r0 .. r0 + len(zr) − 1 of ∂L/∂z against all columns (differentiable)."""
    wA, wB, wC = weights
    rows = torch.arange(r0, r0 + zr.shape[0], device=z.device)
    cols = torch.arange(z.shape[0], device=z.device)
    rx = (rows < n)[:, None]
    cx = (cols < n)[None, :]
    same = rx == cx
    om = torch.where(same, torch.where(rx, wA, wB), torch.full_like(same, wC, dtype=z.dtype)
                     ).to(z.dtype)
    diag = rows[:, None] == cols[None, :]
    keep = om != 0.0
    if exclude_diag or kernel != MMDKernel.POLYNOMIAL:
        keep = keep & ~diag
    if kernel == MMDKernel.POLYNOMIAL:
        t = gamma * (zr @ z.T) + coef
        w = om * (degree * gamma) * t.pow(degree - 1)
        w = torch.where(keep, w, torch.zeros_like(w))
        return 2.0 * (w @ z)
    sq_r = (zr * zr).sum(1, keepdim=True)
    sq = (z * z).sum(1)[None, :]
    d = (sq_r + sq - 2.0 * (zr @ z.T)).clamp_min(0.0)
    w = om * _dk(d, consts, kernel)
    w = torch.where(keep, w, torch.zeros_like(w))
    return 4.0 * (zr * w.sum(1, keepdim=True) - w @ z)


def grad_graph(x, y, consts, kernel, degree, gamma, coef, weights, exclude_diag):
    """(∂L/∂x, ∂L/∂y) as a differentiable function of x and y (the double-backward path).

    The same formula as the fused pass (docs/mmd.md): ∂L/∂z_p = 4 (z_p Σ_q w_pq − Σ_q w_pq z_q)
    with w_pq = ω(p, q) f'(d_pq) for distance kernels, 2 Σ_q w_pq z_q with
    w_pq = ω(p, q) m γ (γ⟨z_p, z_q⟩ + c)^(m−1) for the polynomial. Z is centred by its
    (detached) mean for distance kernels: d is translation invariant. Row chunks of
    :func:`~fastgan.ops.mmd.config.cpu_chunk_rows` (P) rows run under activation checkpointing, so the graph
    holds O(P·D) and a chunk is recomputed when the second backward reaches it. Computed in
    float64 for float64 inputs, else float32."""
    kernel = MMDKernel(kernel)
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    z = torch.cat([x, y]).to(dt)
    if kernel != MMDKernel.POLYNOMIAL:
        z = z - z.detach().mean(0)
    cs = [float(c) for c in consts.tolist()] if kernel != MMDKernel.POLYNOMIAL else []
    p, n = z.shape[0], x.shape[0]
    step = _config.cpu_chunk_rows(p)
    parts = []
    for r0 in range(0, p, step):
        zr = z[r0:r0 + step]
        parts.append(checkpoint(_chunk_grad, zr, z, r0, n, cs, kernel, degree, gamma, coef,
                                weights, exclude_diag, use_reentrant=False))
    g = torch.cat(parts)
    return g[:n], g[n:]


# ----------------------------------------------------------------------------------------------
# the registered op and its autograd
# ----------------------------------------------------------------------------------------------
@torch.library.custom_op("fastgan::mmd_fused", mutates_args=())
def mmd_fused(x: torch.Tensor, y: torch.Tensor, consts: torch.Tensor, kernel: int, degree: int,
              gamma: float, coef: float, weights: list[float], exclude_diag: bool,
              cross_only: bool, compute_grad: bool, precision: str, square_mask: int,
              grad_mask: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(value = wA·Sxx + wB·Syy + 2wC·Sxy (fp64), sums (3,) fp64, dvalue/dx, dvalue/dy);
    weights = (wA, wB, wC). grad_mask (bit 0: x, bit 1: y) names the gradients the CPU path
    computes with compute_grad; the other one comes back as zeros (the Triton path computes
    both)."""
    return fused(x, y, consts, kernel, degree, gamma, coef, tuple(weights), exclude_diag,
                 cross_only, compute_grad, precision, square_mask, grad_mask)


# the op's argument names in schema order: setup_context receives the inputs as a tuple
OP_ARGS = tuple(a.name for a in torch.ops.fastgan.mmd_fused.default._schema.arguments)


@mmd_fused.register_fake
def _(x, y, consts, kernel, degree, gamma, coef, weights, exclude_diag, cross_only,
      compute_grad, precision, square_mask, grad_mask=3):
    value = x.new_empty((), dtype=torch.float64)
    sums = x.new_empty((3,), dtype=torch.float64)
    if compute_grad:
        return value, sums, \
            torch.empty_like(x, dtype=saved_dtype(x.dtype), memory_format=torch.contiguous_format), \
            torch.empty_like(y, dtype=saved_dtype(y.dtype), memory_format=torch.contiguous_format)
    return value, sums, x.new_empty(0), y.new_empty(0)


def _setup_context(ctx, inputs, output):
    args = dict(zip(OP_ARGS, inputs))
    ctx.compute_grad = args["compute_grad"]
    ctx.dtypes = (args["x"].dtype, args["y"].dtype)
    # what grad_graph needs if the backward must itself be differentiable
    ctx.graph_args = {k: args[k] for k in ("kernel", "degree", "gamma", "coef", "weights",
                                           "exclude_diag")}
    ctx.save_for_backward(output[2], output[3], args["x"], args["y"], args["consts"])


def _backward(ctx, grad_value, grad_sums, grad_gx, grad_gy):
    if not ctx.compute_grad:
        raise RuntimeError("fastgan.mmd: the forward ran without gradient tracking; its "
                           "gradient was not computed")
    gx, gy, x, y, consts = ctx.saved_tensors
    if torch.is_grad_enabled():
        # create_graph=True: a gradient that autograd can differentiate again
        gx, gy = grad_graph(x, y, consts, **ctx.graph_args)
    # The gradient was computed in the forward pass; scale it by grad_output (a multiply of
    # N·D elements, new tensors: the saved ones are never written in place).
    gx_out = (gx * grad_value.to(gx.dtype)).to(ctx.dtypes[0])
    gy_out = (gy * grad_value.to(gy.dtype)).to(ctx.dtypes[1])
    return (gx_out, gy_out) + (None,) * (len(OP_ARGS) - 2)


torch.library.register_autograd("fastgan::mmd_fused", _backward, setup_context=_setup_context)

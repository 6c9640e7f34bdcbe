"""GAN losses from logits: input checks, the fused-kernel launcher, autograd and the public ops.

One pass reads the logits once and writes the loss and the gradient (scaled for the reduction)
into fresh buffers (never into the inputs: Liger#272). Backward only multiplies the saved
gradient by grad_output, and returns the saved gradient itself when grad_output is 1 (checked
on CPU always, on CUDA from 1M elements up, where skipping a pass outweighs a host sync); a
tensor hook that edits that gradient in place is then caught by autograd's version check on a
second backward through a retained graph. fp16 gradients are saved in fp32 until backward.
The saved gradient is a constant to autograd, so a backward with ``create_graph=True`` through
``loss="bce"`` rebuilds the gradient from the saved logits with autograd ops (σ'(l) then reaches
the second backward); hinge and Wasserstein gradients are piecewise constant, so their saved
gradient is exact to any order.
Both ops are registered with ``torch.library`` (``fastgan::discriminator_loss`` and
``fastgan::generator_loss``), which ``torch.compile(fullgraph=True)`` traces; eager calls use an
equivalent ``torch.autograd.Function`` with less dispatch overhead.

Backends: CUDA tensors run the Triton kernels of ``fastgan.kernels.gan_loss``; CPU tensors run
the same math in PyTorch unless the Triton backend is forced (then the kernels run in Triton's
interpreter). float64 logits always take the PyTorch path (the kernels compute in fp32), and so
do meta tensors (which have shapes but no data: the result is a meta tensor of the right shape).
"""
from __future__ import annotations

import numbers

import torch

from .. import _backend
from .._backend import cdiv, next_pow2
from .._checks import same_dtype_and_device
from .._codes import LossPart

__all__ = ["discriminator_loss", "generator_loss", "LOSSES", "REDUCTIONS"]

LOSSES = ("bce", "hinge", "wasserstein")
REDUCTIONS = ("mean", "sum", "none")
_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

# Part kinds (fastgan._codes.LossPart, the kernels' PART_*): f(l) of one logits tensor.
_BCE, _HINGE_POS, _HINGE_NEG, _LINEAR = LossPart.BCE, LossPart.HINGE_POS, LossPart.HINGE_NEG, LossPart.LINEAR

# Launch shapes: ``block`` elements per tile; up to ``single_max`` elements per tensor go to one
# program that loops over the tiles and writes the final loss (a single launch, for the small
# batches GANs train with). Larger inputs get one fp32 partial per program, each program
# covering up to ``tiles`` tiles (fewer while that leaves under ``min_programs`` programs), and
# a second one-program kernel sums the partials in a fixed order. The launch depends only on
# the sizes, hence so does the summation order: results are reproducible bit for bit.
# Tiles per program and the chunks of the partial sum are compile-time constants (powers of
# two, so few variants compile). The interpreter gets small tiles and chunks so that tests with
# a few hundred elements cover every path.
_CUDA_CONFIG = dict(block=1024, single_max=4096, tiles=4, min_programs=512, warps=8,
                    sum_block=1024)
_INTERP_CONFIG = dict(block=64, single_max=256, tiles=2, min_programs=4, warps=1, sum_block=4)


# --------------------------------------------------------------------------------- checks
def _check_logits(t, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in _DTYPES:
        raise TypeError(f"{name} must be float32, float16, bfloat16 or float64 logits, got {t.dtype}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); a loss needs at least one logit")


def _check_label(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _check_options(loss, reduction) -> None:
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _check_discriminator_options(real_label, fake_label, loss, reduction) -> tuple[float, float]:
    _check_options(loss, reduction)
    real_label = _check_label(real_label, "real_label")
    fake_label = _check_label(fake_label, "fake_label")
    if loss != "bce" and (real_label != 1.0 or fake_label != 0.0):
        raise ValueError(f"real_label and fake_label apply to loss='bce' only, not loss={loss!r}")
    return real_label, fake_label


def _check_generator_options(saturating, loss, reduction) -> None:
    _check_options(loss, reduction)
    if not isinstance(saturating, bool):
        raise TypeError(f"saturating must be a bool, got {type(saturating).__name__}")
    if saturating and loss != "bce":
        raise ValueError(f"saturating=True applies to loss='bce' only, not loss={loss!r}")


def _discriminator_parts(real_label, fake_label, loss):
    # (kind, label, sign) of the real part and of the fake part
    if loss == "bce":
        return (_BCE, real_label, 1.0), (_BCE, fake_label, 1.0)
    if loss == "hinge":
        return (_HINGE_POS, 0.0, 1.0), (_HINGE_NEG, 0.0, 1.0)
    return (_LINEAR, 0.0, -1.0), (_LINEAR, 0.0, 1.0)


def _generator_part(saturating, loss):
    if loss == "bce":
        # softplus(-l) = BCE(l, 1);  -softplus(l) = -BCE(l, 0)
        return (_BCE, 0.0, -1.0) if saturating else (_BCE, 1.0, 1.0)
    return (_LINEAR, 0.0, -1.0)


def _grad_dtype(dtype: torch.dtype) -> torch.dtype:
    # fp16 gradients are kept in fp32 until backward: mean-scaled values (1/B · σ) underflow
    # fp16's range, and grad_output (e.g. a GradScaler's 2**16) must multiply them unrounded.
    return torch.float32 if dtype == torch.float16 else dtype


def _coef(sign: float, n: int, reduction: str) -> float:
    return sign / n if reduction == "mean" else sign


# ------------------------------------------------------------------------------ PyTorch path
def _softplus(x: torch.Tensor) -> torch.Tensor:
    # log(1 + e^x); x itself past the threshold, where the rest is below fp64's resolution of x
    return torch.nn.functional.softplus(x, threshold=40.0)


def _torch_part(x: torch.Tensor, kind: int, label: float, coef: float, need_grad: bool):
    """(f(x), coef·f'(x) or None) in fp32 (fp64 for fp64 input), the kernel's math in few passes.

    BCE: f = y·softplus(-x) + (1 - y)·softplus(x), f' = σ(x) - y; for y ∈ {0, 1} the gradient
    is ±σ(±x), which keeps the tails (σ(-88) ≈ 6e-39) exact instead of rounding 1 - σ to 0.
    """
    x = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    g = None
    if kind == _BCE:
        if label == 1.0:
            nx = -x
            f = _softplus(nx)
            if need_grad:
                g = torch.sigmoid(nx).mul_(-coef)
        elif label == 0.0:
            f = _softplus(x)
            if need_grad:
                g = torch.sigmoid(x).mul_(coef)
        else:
            f = _softplus(-x).mul_(label).add_(_softplus(x), alpha=1.0 - label)
            if need_grad:
                g = torch.sigmoid(x).sub_(label).mul_(coef)
    elif kind == _HINGE_POS:
        f = (1 - x).clamp_min_(0)
        if need_grad:
            # the coefficient as a tensor of x's dtype: a Python scalar would make torch.where
            # build the gradient in the default dtype (float32) and round a float64 -1/3
            g = torch.where(x < 1, x.new_full((), -coef), 0.0)
    elif kind == _HINGE_NEG:
        f = (1 + x).clamp_min_(0)
        if need_grad:
            g = torch.where(x > -1, x.new_full((), coef), 0.0)
    else:
        f = x
        if need_grad:
            g = torch.full_like(x, coef)
    return f, g


def _torch_forward(parts, reduction):
    """parts: [(tensor, kind, label, sign, need_grad)] -> (outputs list, grads list)."""
    total, outs, grads = None, [], []
    for x, kind, label, sign, need_grad in parts:
        coef = _coef(sign, x.numel(), reduction)
        f, g = _torch_part(x, kind, label, coef, need_grad)
        if reduction == "none":
            outs.append((f if sign == 1.0 else -f).to(x.dtype).contiguous())
        else:
            term = f.sum() * coef
            if reduction == "mean" and (f.device.type != "cpu" or not torch.isfinite(term)):
                # (Σ f)/n overflows for logits near the float32 maximum although the mean
                # fits: then scale before summing, as the kernels do (Σ f/n stays within the
                # range of f). On the CPU only when needed (the check costs no sync there,
                # and the common case keeps one pass); elsewhere always, without a sync.
                term = (f * coef).sum()
            total = term if total is None else total + term
        gdt = _grad_dtype(x.dtype)
        grads.append(g.to(gdt).contiguous() if need_grad else x.new_empty((0,), dtype=gdt))
    if reduction != "none":
        outs.append(total.to(parts[0][0].dtype))
    return outs, grads


# ------------------------------------------------------------------------------- Triton path
def _layout(t: torch.Tensor):
    """(tensor, contiguous?, (s1, s2, s3), (t0, t1, t2, t3)) for the kernel's index math."""
    if t.is_contiguous():
        return t, True, (1, 1, 1), (0, 0, 0, 0)
    if t.dim() > 4:
        return t.contiguous(), True, (1, 1, 1), (0, 0, 0, 0)
    pad = 4 - t.dim()
    sizes = (1,) * pad + tuple(t.shape)
    strides = (0,) * pad + tuple(t.stride())
    return t, False, sizes[1:], strides


# Output allocator of the Triton path (tests swap in one that fills with NaN, so any element a
# kernel fails to write shows up).
_alloc = torch.empty


def _triton_forward(parts, reduction):
    from ..kernels import gan_loss as _k

    x_a = parts[0][0]
    cfg = _CUDA_CONFIG if x_a.device.type == "cuda" else _INTERP_CONFIG
    block = cfg["block"]
    n_max = max(p[0].numel() for p in parts)
    if n_max <= cfg["single_max"]:
        tiles = next_pow2(cdiv(n_max, block))
    else:
        tiles = _pow2_floor(max(1, min(cfg["tiles"], n_max // (block * cfg["min_programs"]))))
    grid = cdiv(n_max, block * tiles)

    args, flags, outs, grads = [], {}, [], []
    for slot, (x, kind, label, sign, need_grad) in zip("AB", parts):
        x, contig, sizes, strides = _layout(x)
        g = (_alloc(x.shape, dtype=_grad_dtype(x.dtype), device=x.device) if need_grad
             else x.new_empty((0,), dtype=_grad_dtype(x.dtype)))
        loss_buf = _alloc(x.shape, dtype=x.dtype, device=x.device) if reduction == "none" else x
        grads.append(g)
        if reduction == "none":
            outs.append(loss_buf)
        args.append(dict(x=x, g=g if need_grad else x, l=loss_buf, n=x.numel(), sizes=sizes,
                         strides=strides, label=float(label),
                         coef=float(_coef(sign, x.numel(), reduction))))
        flags[f"KIND_{slot}"] = int(kind)
        flags[f"CONTIG_{slot}"] = contig
        flags[f"GRAD_{slot}"] = need_grad
    has_b = len(parts) == 2
    a = args[0]
    b = args[1] if has_b else dict(a, g=a["x"])
    if not has_b:
        flags.update(KIND_B=int(_LINEAR), CONTIG_B=True, GRAD_B=False)

    dtype = x_a.dtype
    if reduction == "none":
        out = None
        out_ptr = x_a
    elif grid == 1:
        out = out_ptr = _alloc((), dtype=dtype, device=x_a.device)
    else:
        out_ptr = _alloc((grid,), dtype=torch.float32, device=x_a.device)
        out = _alloc((), dtype=dtype, device=x_a.device)

    layout = {}
    for slot, d in (("a", a), ("b", b)):
        layout.update({f"{slot}_s{i + 1}": v for i, v in enumerate(d["sizes"])})
        layout.update({f"{slot}_t{i}": v for i, v in enumerate(d["strides"])})
    with _backend.on_device(x_a), _backend.launch_guard(x_a):
        _k.gan_loss_fwd_kernel[(grid,)](
            a["x"], b["x"], a["g"], b["g"], a["l"], b["l"], out_ptr,
            n_a=a["n"], n_b=b["n"], **layout,
            label_a=a["label"], label_b=b["label"], coef_a=a["coef"], coef_b=b["coef"],
            HAS_B=has_b, STORE_LOSS=reduction == "none", BLOCK=block, TILES=tiles,
            num_warps=cfg["warps"], **flags,
        )
        if out is not None and grid > 1:
            sum_block = min(next_pow2(grid), cfg["sum_block"])
            _k.sum_partials_kernel[(1,)](out_ptr, out, n=grid, BLOCK=sum_block,
                                         ITERS=next_pow2(cdiv(grid, sum_block)),
                                         num_warps=cfg["warps"])
    if out is not None:
        outs.append(out)
    return outs, grads


def _pow2_floor(v: int) -> int:
    return 1 << (v.bit_length() - 1)


def _forward(parts, reduction):
    x = parts[0][0]
    # Meta tensors (shapes only) take the PyTorch path on every backend: it propagates the
    # shapes and dtypes, where a kernel launch would need data.
    if x.dtype != torch.float64 and x.device.type != "meta" and _backend.use_triton(x.device):
        return _triton_forward(parts, reduction)
    return _torch_forward(parts, reduction)


# --------------------------------------------------------------------------- custom ops
def _empty_grad(x: torch.Tensor, need: bool) -> torch.Tensor:
    dt = _grad_dtype(x.dtype)
    return x.new_empty(x.shape, dtype=dt) if need else x.new_empty((0,), dtype=dt)


def _discriminator_impl(real, fake, real_label, fake_label, loss, reduction, grad_real, grad_fake):
    # Returns (loss or per-element real losses, per-element fake losses or an empty tensor,
    # saved gradient of real, saved gradient of fake); the gradients are empty when not needed.
    pr, pf = _discriminator_parts(real_label, fake_label, loss)
    outs, grads = _forward([(real, *pr, grad_real), (fake, *pf, grad_fake)], reduction)
    if reduction != "none":
        outs = [outs[0], real.new_empty((0,))]
    return outs[0], outs[1], grads[0], grads[1]


def _generator_impl(fake, saturating, loss, reduction, grad_fake):
    # Returns (loss or per-element losses, saved gradient or an empty tensor).
    outs, grads = _forward([(fake, *_generator_part(saturating, loss), grad_fake)], reduction)
    return outs[0], grads[0]


# Two doors to the same implementation: torch.compile traces the torch.library custom ops
# (opaque to the compiler, with fake-tensor shapes); eager calls go through a plain
# autograd.Function, which costs a fraction of the custom-op dispatch — that overhead would
# otherwise dominate the small batches GANs use.
@torch.library.custom_op("fastgan::discriminator_loss", mutates_args=())
def _discriminator_op(real: torch.Tensor, fake: torch.Tensor, real_label: float, fake_label: float,
                      loss: str, reduction: str, grad_real: bool, grad_fake: bool
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return _discriminator_impl(real, fake, real_label, fake_label, loss, reduction, grad_real,
                               grad_fake)


@_discriminator_op.register_fake
def _(real, fake, real_label, fake_label, loss, reduction, grad_real, grad_fake):
    if reduction == "none":
        o1, o2 = real.new_empty(real.shape), fake.new_empty(fake.shape)
    else:
        o1, o2 = real.new_empty(()), real.new_empty((0,))
    return o1, o2, _empty_grad(real, grad_real), _empty_grad(fake, grad_fake)


@torch.library.custom_op("fastgan::generator_loss", mutates_args=())
def _generator_op(fake: torch.Tensor, saturating: bool, loss: str, reduction: str,
                  grad_fake: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return _generator_impl(fake, saturating, loss, reduction, grad_fake)


@_generator_op.register_fake
def _(fake, saturating, loss, reduction, grad_fake):
    out = fake.new_empty(fake.shape) if reduction == "none" else fake.new_empty(())
    return out, _empty_grad(fake, grad_fake)


# Reading grad_output on a GPU costs a host sync; it pays only when the multiply it may skip
# moves more memory than a sync costs (≈ 1M elements on current GPUs). Smaller CUDA gradients
# are always multiplied (asynchronously); CPU values are always checked.
_CUDA_CHECK_ONE_MIN = 1 << 20


def _is_one(g: torch.Tensor, numel: int) -> bool:
    # Only a plain tensor can be inspected; under tracing (fake / functional tensors) the
    # multiply is always recorded. A grad_output that requires grad (create_graph=True with
    # differentiable grad_outputs) is multiplied too, so its own gradient is not lost.
    if type(g) is not torch.Tensor or g.numel() != 1 or g.requires_grad:
        return False
    if g.device.type != "cpu" and numel < _CUDA_CHECK_ONE_MIN:
        return False
    return bool(g == 1)


def _scale(saved: torch.Tensor, g, dtype: torch.dtype, reduced: bool):
    """grad_output · saved gradient, in the logits dtype. Never writes into ``saved``; when
    grad_output is 1 the saved gradient itself is the result (no copy, no extra pass)."""
    if g is None or saved.numel() == 0:
        return None
    if reduced and _is_one(g, saved.numel()):
        return saved if saved.dtype == dtype else saved.to(dtype)
    return (g * saved).to(dtype)


def _create_graph(loss: str, grads) -> bool:
    """True for a backward with ``create_graph=True`` through a BCE loss. The saved gradient
    σ(l) - y is a constant to autograd, so there the gradient is rebuilt from the saved logits
    as a differentiable expression (σ'(l) = σ(l)(1 - σ(l)) then reaches a second backward,
    e.g. a gradient penalty taken on the loss). Hinge and Wasserstein gradients are piecewise
    constant: their saved gradient is exact to any order. Only plain tensors take this path:
    under torch.compile's tracing the backward is a traced graph."""
    return loss == "bce" and torch.is_grad_enabled() and any(
        type(g) is torch.Tensor for g in grads)


def _bce_grad_graph(x: torch.Tensor, label: float, sign: float, reduction: str, g):
    """grad_output · coef · (σ(x) − y) as autograd ops on x and grad_output, in the kernel's
    tail-exact form (±σ(±x) for y ∈ {0, 1}); in x's dtype."""
    if g is None:
        return None
    xf = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    coef = _coef(sign, x.numel(), reduction)
    if label == 1.0:
        d = torch.sigmoid(-xf) * (-coef)
    elif label == 0.0:
        d = torch.sigmoid(xf) * coef
    else:
        d = (torch.sigmoid(xf) - label) * coef
    return (g * d).to(x.dtype)


def _setup_discriminator(ctx, inputs, output):
    real, fake, real_label, fake_label, loss, reduction, _, _ = inputs
    ctx.save_for_backward(output[2], output[3], real, fake)
    ctx.loss = loss
    ctx.labels = (real_label, fake_label)
    ctx.reduction = reduction
    ctx.dtypes = (real.dtype, fake.dtype)
    ctx.mark_non_differentiable(output[2], output[3])


def _backward_discriminator(ctx, g_a, g_b, _g_ga, _g_gb):
    saved_r, saved_f, real, fake = ctx.saved_tensors
    g_fake = g_b if ctx.reduction == "none" else g_a
    if _create_graph(ctx.loss, (g_a, g_b)):
        pr, pf = _discriminator_parts(*ctx.labels, "bce")
        gr = _bce_grad_graph(real, pr[1], pr[2], ctx.reduction, g_a) \
            if ctx.needs_input_grad[0] else None
        gf = _bce_grad_graph(fake, pf[1], pf[2], ctx.reduction, g_fake) \
            if ctx.needs_input_grad[1] else None
        return gr, gf, None, None, None, None, None, None
    reduced = ctx.reduction != "none"
    gr = _scale(saved_r, g_a, ctx.dtypes[0], reduced)
    gf = _scale(saved_f, g_fake, ctx.dtypes[1], reduced)
    return gr, gf, None, None, None, None, None, None


def _setup_generator(ctx, inputs, output):
    fake, saturating, loss, reduction, _ = inputs
    ctx.save_for_backward(output[1], fake)
    ctx.loss = loss
    ctx.saturating = saturating
    ctx.reduction = reduction
    ctx.dtype = fake.dtype
    ctx.mark_non_differentiable(output[1])


def _backward_generator(ctx, g_out, _g_grad):
    saved, fake = ctx.saved_tensors
    if _create_graph(ctx.loss, (g_out,)):
        _, label, sign = _generator_part(ctx.saturating, "bce")
        return _bce_grad_graph(fake, label, sign, ctx.reduction, g_out), None, None, None, None
    return _scale(saved, g_out, ctx.dtype, ctx.reduction != "none"), None, None, None, None


_discriminator_op.register_autograd(_backward_discriminator, setup_context=_setup_discriminator)
_generator_op.register_autograd(_backward_generator, setup_context=_setup_generator)


class _DiscriminatorFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, *inputs):
        out = _discriminator_impl(*inputs)
        _setup_discriminator(ctx, inputs, out)
        return out

    backward = staticmethod(_backward_discriminator)


class _GeneratorFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, *inputs):
        out = _generator_impl(*inputs)
        _setup_generator(ctx, inputs, out)
        return out

    backward = staticmethod(_backward_generator)


def _dispatch(op, fn, impl, args, need_grad: bool):
    if torch.compiler.is_compiling():
        return op(*args)
    if need_grad:
        return fn.apply(*args)
    return impl(*args)


# ------------------------------------------------------------------------------ public API
def _needs_grad(t: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and t.requires_grad


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *,
                       real_label: float = 1.0, fake_label: float = 0.0, loss: str = "bce",
                       reduction: str = "mean"):
    r"""Discriminator loss from logits, fused: one pass gives the loss and its gradient.

    With :math:`r` the real logits (:math:`n_r` of them) and :math:`f` the fake ones (:math:`n_f`):

    - ``"bce"``: :math:`\frac{1}{n_r}\sum \ell(r_i, y_r) + \frac{1}{n_f}\sum \ell(f_j, y_f)` with
      the BCE-with-logits :math:`\ell(l, y) = \mathrm{softplus}(l) - y\,l`,
      :math:`y_r` = ``real_label`` (e.g. 0.9 for one-sided label smoothing), :math:`y_f` = ``fake_label``;
    - ``"hinge"``: :math:`\mathrm{mean}\,\mathrm{relu}(1 - r) + \mathrm{mean}\,\mathrm{relu}(1 + f)`;
    - ``"wasserstein"``: :math:`\mathrm{mean}\,f - \mathrm{mean}\,r` (the critic's loss).

    Each part is reduced over its own elements: ``"mean"`` averages each part over its own count
    and adds the two; ``"sum"`` adds the two sums; ``"none"`` returns the pair
    ``(real_losses, fake_losses)`` of per-element losses shaped like the inputs (for
    ``"wasserstein"``: ``-r`` and ``f``). Labels apply to ``"bce"`` only.

    Args:
        real_logits, fake_logits: logits of any shape ((B,), (B, 1), (B, 1, H, W), ...; the two
            may differ), float32/float16/bfloat16 (float64 runs the PyTorch path), same dtype and
            device, non-empty; non-contiguous inputs are fine. Stable for any finite logit
            (|l| up to 1e4 and beyond): the math is in fp32 from the softplus form.
        real_label, fake_label: BCE targets in [0, 1].
        loss: ``"bce"``, ``"hinge"`` or ``"wasserstein"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A 0-d tensor in the logits dtype, or for ``reduction="none"`` the tuple
        ``(real_losses, fake_losses)``. Differentiable in both logits; the reduction is
        deterministic (same inputs, same bits). Twice differentiable: a backward with
        ``create_graph=True`` (e.g. a gradient penalty taken on this loss) is exact.

    Example::

        >>> real, fake = torch.randn(64, 1), torch.randn(64, 1)
        >>> fastgan.losses.discriminator_loss(real, fake, real_label=0.9)
    """
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    same_dtype_and_device(real_logits, fake_logits, ("real_logits", "fake_logits"))
    real_label, fake_label = _check_discriminator_options(real_label, fake_label, loss, reduction)
    grad_real, grad_fake = _needs_grad(real_logits), _needs_grad(fake_logits)
    out_a, out_b, _, _ = _dispatch(
        torch.ops.fastgan.discriminator_loss, _DiscriminatorFn, _discriminator_impl,
        (real_logits, fake_logits, real_label, fake_label, loss, reduction, grad_real, grad_fake),
        grad_real or grad_fake)
    return (out_a, out_b) if reduction == "none" else out_a


def generator_loss(fake_logits: torch.Tensor, *, saturating: bool = False, loss: str = "bce",
                   reduction: str = "mean") -> torch.Tensor:
    r"""Generator loss from the discriminator's logits on generated data, fused with its gradient.

    - ``"bce"``, non-saturating (default): :math:`\mathrm{mean}\,\mathrm{softplus}(-l) =
      -\mathrm{mean}\log D(G(z))`; gradient :math:`\sigma(l) - 1`.
    - ``"bce"``, ``saturating=True`` (the minimax form): :math:`-\mathrm{mean}\,\mathrm{softplus}(l)
      = \mathrm{mean}\log(1 - D(G(z)))`; gradient :math:`-\sigma(l)`.
    - ``"hinge"`` and ``"wasserstein"``: :math:`-\mathrm{mean}\,l` (the standard generator
      loss of both); ``saturating`` applies to ``"bce"`` only.

    Args:
        fake_logits: logits of any shape, float32/float16/bfloat16 (float64 runs the PyTorch
            path), non-empty, possibly non-contiguous.
        saturating: the minimax form log(1 - D) instead of -log D.
        loss: ``"bce"``, ``"hinge"`` or ``"wasserstein"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-element losses shaped like the input).

    Returns:
        A 0-d tensor in the logits dtype (shaped like ``fake_logits`` for ``"none"``).
        Deterministic; twice differentiable (``create_graph=True`` is exact).

    Example::

        >>> fake = torch.randn(64, 1, requires_grad=True)
        >>> fastgan.losses.generator_loss(fake).backward()
    """
    _check_logits(fake_logits, "fake_logits")
    _check_generator_options(saturating, loss, reduction)
    grad_fake = _needs_grad(fake_logits)
    out, _ = _dispatch(torch.ops.fastgan.generator_loss, _GeneratorFn, _generator_impl,
                       (fake_logits, saturating, loss, reduction, grad_fake), grad_fake)
    return out

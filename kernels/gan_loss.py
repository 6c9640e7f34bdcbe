"""Fused GAN losses: one pass over the logits gives the loss and its gradient.

Every GAN loss here is a sum of at most two "parts", each a pointwise function f of one logits
tensor, weighted by a coefficient c (the sign of the term times 1/count for a mean):

    loss = c_a · Σ f_a(a_i) + c_b · Σ f_b(b_j)         dloss/da_i = c_a · f_a'(a_i)

The discriminator uses both parts (a = real, b = fake logits); the generator one (a = fake).
Part kinds (``fastgan._codes.LossPart``, as the PART_* constexprs below): BCE with a label y,
relu(1 - l), relu(1 + l), and l itself.

Reductions are two-stage and deterministic: stage 1 writes one fp32 partial per program (or, when
a single program covers everything, the final value directly); stage 2 sums the partials in a
fixed order in one program. No atomics, so the same inputs give the same bits every run.
"""
import triton
import triton.language as tl

from .._codes import LossPart
from ._math import log1p

PART_BCE = tl.constexpr(int(LossPart.BCE))  # softplus(l) - y·l, the BCE-with-logits against label y
PART_HINGE_POS = tl.constexpr(int(LossPart.HINGE_POS))  # relu(1 - l): hinge on real logits
PART_HINGE_NEG = tl.constexpr(int(LossPart.HINGE_NEG))  # relu(1 + l): hinge on fake logits
PART_LINEAR = tl.constexpr(int(LossPart.LINEAR))  # l: Wasserstein critics and the hinge generator


@triton.jit
def _part(x, label, KIND: tl.constexpr):
    # (f(x), f'(x)) in fp32 (x is fp32 whatever the input dtype).
    # BCE: f = y·softplus(-x) + (1 - y)·softplus(x)
    #        = (1 - y)·max(x, 0) + y·max(-x, 0) + log1p(e^-|x|)   (no overflow, no cancellation),
    #      f' = σ(x) - y, formed as (1 - y) - e/(1 + e) for x ≥ 0 and e/(1 + e) - y for x < 0
    #      so the tiny tail of σ is not lost to 1 - σ cancellation.
    #      The linear term w·|x| (w = 1 - y for x ≥ 0, y for x < 0) is 0 where w is 0, so an
    #      infinite logit on the side its label predicts (x = +inf, y = 1) costs 0, not 0·inf = NaN.
    if KIND == PART_BCE:
        e = tl.exp(-tl.abs(x))
        pos = x >= 0.0
        w = tl.where(pos, 1.0 - label, label)
        f = w * tl.where(w == 0.0, 0.0, tl.abs(x)) + log1p(e)
        s = e / (1.0 + e)
        g = tl.where(pos, (1.0 - label) - s, s - label)
    elif KIND == PART_HINGE_POS:
        f = tl.maximum(1.0 - x, 0.0, propagate_nan=tl.PropagateNan.ALL)  # NaN stays NaN on GPUs
        g = tl.where(x < 1.0, -1.0, 0.0).to(x.dtype)
    elif KIND == PART_HINGE_NEG:
        f = tl.maximum(1.0 + x, 0.0, propagate_nan=tl.PropagateNan.ALL)
        g = tl.where(x > -1.0, 1.0, 0.0).to(x.dtype)
    else:
        f = x
        g = tl.zeros_like(x) + 1.0  # not x·0 + 1, which is NaN for an infinite logit
    return f, g


@triton.jit
def _offsets(idx, s1, s2, s3, t0, t1, t2, t3, CONTIG: tl.constexpr):
    # Memory offset of flat (row-major) index idx in a tensor of up to 4 dims with sizes
    # (·, s1, s2, s3) and strides (t0, t1, t2, t3); identity for contiguous inputs.
    if CONTIG:
        return idx
    else:
        i3 = idx % s3
        r = idx // s3
        i2 = r % s2
        r = r // s2
        i1 = r % s1
        i0 = r // s1
        return i0 * t0 + i1 * t1 + i2 * t2 + i3 * t3


@triton.jit
def _do_part(x_ptr, g_ptr, l_ptr, idx, n, s1, s2, s3, t0, t1, t2, t3, label, coef, acc,
             KIND: tl.constexpr, CONTIG: tl.constexpr, WRITE_GRAD: tl.constexpr,
             STORE_LOSS: tl.constexpr):
    mask = idx < n
    off = _offsets(idx, s1, s2, s3, t0, t1, t2, t3, CONTIG)
    x = tl.load(x_ptr + off, mask=mask, other=0.0).to(tl.float32)
    f, g = _part(x, label, KIND)
    if WRITE_GRAD:
        tl.store(g_ptr + idx, (coef * g).to(g_ptr.dtype.element_ty), mask=mask)
    if STORE_LOSS:
        # reduction="none": coef is the sign only; the per-element loss in the output dtype
        tl.store(l_ptr + idx, (coef * f).to(l_ptr.dtype.element_ty), mask=mask)
    else:
        acc += tl.where(mask, coef * f, 0.0)
    return acc


@triton.jit
def gan_loss_fwd_kernel(
    # pointers: logits a, b; gradients ga, gb; per-element losses la, lb (reduction="none");
    # the loss or the per-program partials
    a_ptr, b_ptr, ga_ptr, gb_ptr, la_ptr, lb_ptr, out_ptr,
    # sizes: elements of a and of b
    n_a, n_b,
    # strides: sizes (·, s1, s2, s3) and strides (t0..t3) of a, then of b (non-contiguous input)
    a_s1, a_s2, a_s3, a_t0, a_t1, a_t2, a_t3,
    b_s1, b_s2, b_s3, b_t0, b_t1, b_t2, b_t3,
    # scalars: BCE labels and the coefficients c (sign, times 1/count for a mean)
    label_a, label_b, coef_a, coef_b,
    # constexpr flags: part kinds (LossPart), a second part?, layouts, which gradients, the
    # per-element output; tile shape
    KIND_A: tl.constexpr, KIND_B: tl.constexpr, HAS_B: tl.constexpr,
    CONTIG_A: tl.constexpr, CONTIG_B: tl.constexpr,
    GRAD_A: tl.constexpr, GRAD_B: tl.constexpr,
    STORE_LOSS: tl.constexpr, BLOCK: tl.constexpr, TILES: tl.constexpr,
):
    # Program p covers flat indices [p·TILES·BLOCK, (p+1)·TILES·BLOCK) of a and of b, writing
    # ga = c_a·f_a'(a), gb = c_b·f_b'(b) and out[p] = c_a·Σ f_a + c_b·Σ f_b over its range
    # (the final loss when the grid is one program, an fp32 partial otherwise).
    # Indices are int64 so tensors past 2**31 elements (and large strides) are safe. The tile
    # loop is unrolled (TILES is a small power of two) so the loads of all tiles are in flight
    # together.
    pid = tl.program_id(0).to(tl.int64)
    base = pid * (TILES * BLOCK)
    lanes = tl.arange(0, BLOCK).to(tl.int64)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for t in tl.static_range(TILES):
        idx = base + t * BLOCK + lanes
        acc = _do_part(a_ptr, ga_ptr, la_ptr, idx, n_a, a_s1, a_s2, a_s3, a_t0, a_t1, a_t2, a_t3,
                       label_a, coef_a, acc, KIND_A, CONTIG_A, GRAD_A, STORE_LOSS)
        if HAS_B:
            acc = _do_part(b_ptr, gb_ptr, lb_ptr, idx, n_b, b_s1, b_s2, b_s3,
                           b_t0, b_t1, b_t2, b_t3, label_b, coef_b, acc,
                           KIND_B, CONTIG_B, GRAD_B, STORE_LOSS)
    if not STORE_LOSS:
        tl.store(out_ptr + pid, tl.sum(acc, axis=0).to(out_ptr.dtype.element_ty))


@triton.jit
def sum_partials_kernel(
    p_ptr, out_ptr,  # pointers: the fp32 partials, the 0-d loss
    n,  # size: partials
    BLOCK: tl.constexpr, ITERS: tl.constexpr,  # constexpr: lanes, chunks
):
    # out = Σ p[i], i < n ≤ ITERS·BLOCK, in a fixed order (one program, lane-wise accumulation
    # over ITERS chunks, then a tree sum).
    lanes = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for it in tl.static_range(ITERS):
        idx = it * BLOCK + lanes
        acc += tl.load(p_ptr + idx, mask=idx < n, other=0.0)
    tl.store(out_ptr, tl.sum(acc, axis=0).to(out_ptr.dtype.element_ty))

"""The MMD's CPU path: a chunked PyTorch loop over the upper triangle of Z × Z.

Same contract as the Triton launcher (fastgan.ops.mmd.launch): per-row kernel sums over the
X and the Y columns, shape (1, 2, P) float64, and optionally the gradient of the weighted
sum L = Σ_p Σ_q ω(p, q) k(z_p, z_q) (docs/mmd.md derives it), (P, D) in the rows' dtype.
"""
from __future__ import annotations

import threading

import torch

from ..._codes import MMDKernel
from . import config as _config

__all__ = ["torch_transform", "torch_fused", "Workspace"]

_LN2 = 0.6931471805599453

_local = threading.local()


class Workspace:
    """Reusable chunk temporaries of the CPU path, one set per thread and problem shape.

    A training loop calls the MMD with the same shapes every step; allocating the chunk's
    (rows × columns) temporaries afresh each time (several MiB, so the allocator maps and
    unmaps them) cost thousands of minor page faults and ~30% system time per GMMN step.
    ``buf(i, shape)`` is a view of the i-th flat buffer (allocated on first use and grown when
    a chunk needs more, so after one call of a shape nothing is allocated); the buffers live
    in a thread-local dict keyed by (P, D, dtype, device), which keeps the last few shapes.
    A buffer's contents never outlive the chunk that wrote them.
    """

    _KEEP = 4  # shapes kept per thread (a GAN step uses one or two)

    def __init__(self, dtype: torch.dtype, device: torch.device):
        self.dtype, self.device = dtype, device
        self._bufs: dict[int, torch.Tensor] = {}

    def buf(self, i: int, shape) -> torch.Tensor:
        numel = shape[0] * shape[1]
        b = self._bufs.get(i)
        if b is None or b.numel() < numel:
            b = self._bufs[i] = torch.empty(numel, dtype=self.dtype, device=self.device)
        return b[:numel].view(shape)

    @classmethod
    def get(cls, p: int, d: int, dtype: torch.dtype, device: torch.device) -> "Workspace":
        cache = getattr(_local, "workspaces", None)
        if cache is None:
            cache = _local.workspaces = {}
        key = (p, d, dtype, device)
        ws = cache.pop(key, None)
        if ws is None:
            ws = cls(dtype, device)
        cache[key] = ws  # most recently used last
        while len(cache) > cls._KEEP:
            cache.pop(next(iter(cache)))
        return ws


def torch_transform(d, s, cs, kernel, degree, gamma, coef, grad, ws=None):
    """(k, dk/dd or dk/ds) elementwise, as kernels/mmd.py's ``_transform``; d and s are scratch
    (overwritten). ``ws`` (a :class:`Workspace`, buffers 1-3) holds the gaussian and IMQ
    temporaries instead of fresh tensors (the same values)."""
    def out(i):
        return ws.buf(i, d.shape) if ws is not None else None

    if kernel == MMDKernel.POLYNOMIAL:
        t = s.mul_(gamma).add_(coef)
        tm1 = t.pow(degree - 1) if degree > 1 else torch.ones_like(t)
        g = tm1 * (degree * gamma) if grad else None
        return tm1.mul_(t), g
    if kernel == MMDKernel.ENERGY:
        r = d.sqrt_()
        g = torch.where(r > 0, r.reciprocal().mul_(-0.5), 0.0) if grad else None
        return r.neg_(), g
    if kernel == MMDKernel.LAPLACIAN:
        d = d.sqrt_()  # r = √d
        inv2r = torch.where(d > 0, d.reciprocal().mul_(0.5), 0.0) if grad else None
    k = g = None
    last = len(cs) - 1
    for j, c in enumerate(cs):
        # the last σ reuses d's storage: a single σ costs no extra temporary
        # buffer 1 holds the sum of k over σ, 2 the per-σ gradient term, 3 the sum of those
        t = d.mul_(c) if j == last else torch.mul(d, c, out=out(1) if j == 0 else out(2))
        if kernel == MMDKernel.IMQ:
            kj = t.add_(1.0).rsqrt_()
            gj = torch.pow(kj, 3, out=out(3) if j == 0 else out(2) if j == last else None).mul_(-0.5 * c) \
                if grad else None
        else:  # gaussian 2^(c d), laplacian 2^(c √d)
            kj = t.exp2_()
            gj = None
            if grad:
                gj = torch.mul(kj, c * _LN2, out=out(3) if j == 0 else out(2) if j == last else None)
                if kernel == MMDKernel.LAPLACIAN:
                    gj.mul_(inv2r)
        if k is None:
            k, g = kj, gj
        else:
            k.add_(kj)
            if grad:
                g.add_(gj)
    return k, g


def torch_fused(zc, sq, n, consts, kernel, degree, gamma, coef, weights, exclude_diag,
                cross_only, compute_grad, budget=None, rows_for=None, grad_rows=(True, True)):
    """Chunked PyTorch over the upper triangle of Z×Z (k and ω are symmetric).

    A row chunk [r0, r1) (never straddling row n) runs against the columns [r0, P) (only
    the Y columns with ``cross_only``; Y chunks then have nothing to do): its own square
    [r0, r1)² is computed whole, and the rectangle [r0, r1) × [r1, P) once, serving both
    its rows and, transposed, the rows r1 .. P − 1: their row sums get the rectangle's
    column sums, their gradient wᵀ·z_rows and their Σ w the column sums of w. Each
    unordered pair is transformed once ((P² + P·chunk)/2 pairs instead of P²), and
    per-row sums and gradients come out exact. One distance block, one transform and two
    row sums serve the X and the Y columns of a chunk at once.

    The chunk height is ``rows_for(columns)`` (:func:`fastgan.ops.mmd.config.cpu_chunk_rows`
    by default): a few temporaries of chunk × columns elements live at once, O(P·chunk)
    memory whatever P, and a small problem runs as one chunk per block of rows.
    ``budget`` (an int) instead fixes the height at ``budget // columns`` (at least 1).
    ``grad_rows`` = (x rows, y rows): with ``compute_grad``, the gradient of the rows left out
    stays 0 and its work is skipped (a Y chunk then transforms without the derivative).
    """
    need_x, need_y = grad_rows
    ws = Workspace.get(zc.shape[0], zc.shape[1], zc.dtype, zc.device)
    if rows_for is None:
        rows_for = ((lambda cols: max(1, budget // cols)) if budget is not None
                    else _config.cpu_chunk_rows)
    p = zc.shape[0]
    wA, wB, wC = weights
    cs = consts.tolist()  # host floats (one sync on CUDA, none on CPU)
    rows = torch.zeros(2, p, dtype=torch.float64, device=zc.device)
    grad = torch.zeros_like(zc) if compute_grad else None
    wcol = torch.zeros(p, dtype=zc.dtype, device=zc.device) if compute_grad else None
    poly = kernel == MMDKernel.POLYNOMIAL
    r0 = 0
    while r0 < p:
        in_x = r0 < n
        if not in_x and cross_only:
            break  # the cross block and its transpose are done
        c_lo = n if cross_only else r0
        width = p - c_lo
        r1 = min(n if in_x else p, r0 + rows_for(width))
        zr = zc[r0:r1]
        zcol = zc[c_lo:]
        split = max(0, n - c_lo)  # columns [0, split) of the block are X, the rest Y
        rect = r1 - c_lo if not cross_only else 0  # columns [rect, width) are below the chunk
        d = s = None
        blk_shape = (r1 - r0, width)
        if poly:
            s = torch.mm(zr, zcol.T, out=ws.buf(0, blk_shape))
        else:  # d = ‖z_r‖² + ‖z_c‖² − 2⟨z_r, z_c⟩, clamped at 0 (NaN stays NaN)
            d = torch.addmm(sq[None, c_lo:], zr, zcol.T, alpha=-2.0, out=ws.buf(0, blk_shape))
            d.add_(sq[r0:r1, None]).clamp_min_(0.0)
            if not cross_only:
                d.diagonal(0).fill_(0.0)  # exactly 0 whatever the dot's rounding
        # a Y chunk's gradients all go to Y rows; an X chunk's to X rows and (transposed) Y rows
        chunk_grad = compute_grad and ((need_x or need_y) if in_x else need_y)
        k, g = torch_transform(d, s, cs, kernel, degree, gamma, coef, chunk_grad, ws)
        if exclude_diag and not cross_only:
            k.diagonal(0).fill_(0.0)
            if g is not None:
                g.diagonal(0).fill_(0.0)
        blk = 0 if in_x else 1  # the rows' block: the rectangle's columns get these sums
        if split > 0:
            rows[0, r0:r1] += k[:, :split].sum(1, dtype=torch.float64)
        if split < width:
            rows[1, r0:r1] += k[:, split:].sum(1, dtype=torch.float64)
        if rect < width:
            rows[blk, c_lo + rect:] += k[:, rect:].sum(0, dtype=torch.float64)
        if g is not None:
            # ω along the columns: the chunk's own block, then (X chunks) the cross block
            if in_x:
                w = g
                w[:, :split].mul_(wA)
                w[:, split:].mul_(wC)
            else:
                w = g.mul_(wB)
            if need_x if in_x else need_y:
                gc = grad[r0:r1]
                gc.addmm_(w, zcol, alpha=2.0 if poly else -4.0)
                if not poly:
                    gc.add_(zr * w.sum(1, keepdim=True), alpha=4.0)
            # the rows below the chunk: columns [rect, split) are X rows, [split, width) Y rows
            lo = rect if need_x else max(rect, split)
            hi = width if need_y else min(width, max(rect, split))
            if lo < hi:  # wᵀ·z_rows and Σ over the chunk
                wr = w[:, lo:hi]
                grad[c_lo + lo:c_lo + hi].addmm_(wr.T, zr, alpha=2.0 if poly else -4.0)
                if not poly:
                    wcol[c_lo + lo:c_lo + hi] += wr.sum(0)
        r0 = r1
    if compute_grad and not poly:
        grad.add_(zc * wcol[:, None], alpha=4.0)
    return rows[None], grad

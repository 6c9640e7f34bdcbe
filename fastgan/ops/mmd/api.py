"""The public MMD functions: :func:`mmd`, :func:`kernel_sums`, :func:`pair_sum`, and
:func:`subset_kernel_sums` (KID's batched subsets), over the op of fastgan.ops.mmd.op."""
from __future__ import annotations

import torch

from ... import _backend
from .checks import check_estimator, check_kernel, check_pair, resolve
from .cpu import torch_fused
from .launch import triton_fused
from .op import mmd_fused, prepare_for

__all__ = ["mmd", "kernel_sums", "pair_sum", "subset_kernel_sums"]


def _needs_grad(x, y) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)


def _result_dtype(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _run(x, y, spec, weights, exclude_diag, cross_only, compute_grad, precision):
    return mmd_fused(x, y, spec.consts, kernel=int(spec.kernel), degree=spec.degree,
                     gamma=spec.gamma, coef=spec.coef, weights=list(weights),
                     exclude_diag=exclude_diag, cross_only=cross_only,
                     compute_grad=compute_grad, precision=precision,
                     square_mask=spec.square_mask,
                     # which gradients the CPU path computes (bit 0: x, bit 1: y); both while
                     # autograd may need them, so only a side that cannot be asked for is left out
                     grad_mask=int(x.requires_grad) | (int(y.requires_grad) << 1) if compute_grad else 3)
def kernel_sums(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
                estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
                coef: float = 1.0, precision: str = "tf32"):
    """The three raw kernel sums (Σ_{i≠i'} k(x_i, x_i'), Σ_{j≠j'} k(y_j, y_j'), Σ_{i,j} k(x_i, y_j)).

    x: (N, D), y: (M, D), as for :func:`mmd` (any N, M >= 1). With ``estimator="biased"`` the
    first two include the diagonal (i = i'). Same kernels and arguments as :func:`mmd`;
    float64 0-d tensors; not differentiable (use :func:`mmd` or :func:`pair_sum`). One fused
    pass, no N×M buffer.

    >>> sxx, syy, sxy = fastgan.kernel_sums(torch.randn(100, 3), torch.randn(80, 3))
    """
    unbiased = check_estimator(estimator)
    check_pair(x, y)
    spec = resolve(x, kernel, bandwidth, degree, gamma, coef, precision, True, y=y)
    _, sums, _, _ = _run(x.detach(), y.detach(), spec, (0.0, 0.0, 0.0), unbiased, False, False,
                         precision)
    return sums[0], sums[1], sums[2]


def mmd(x: torch.Tensor, y: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
        estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
        coef: float = 1.0, precision: str = "tf32") -> torch.Tensor:
    """Squared maximum mean discrepancy between the samples x and y, fused forward + gradient.

    MMD² = A·Σ_{i,i'} k(x_i, x_i') + B·Σ_{j,j'} k(y_j, y_j') − 2/(N·M)·Σ_{i,j} k(x_i, y_j) with
    ``estimator="unbiased"`` (U-statistic): diagonals left out, A = 1/(N(N−1)), B = 1/(M(M−1));
    may be slightly negative. ``"biased"`` (V-statistic): diagonals kept, A = 1/N², B = 1/M².

    Kernels, with d = ‖x − y‖² (computed as ‖a‖² + ‖b‖² − 2⟨a, b⟩ after centring both samples
    by their pooled mean, clamped at 0):

    - ``"gaussian"``: Σ_σ exp(−d / (2σ²)); ``bandwidth`` a float σ, a sequence of σ (a mixture,
      as in GMMN / MMD-GAN) or ``"median"`` (:func:`median_bandwidth`). Note: GMMN's code
      passes σ as a *variance* (exp(−d / (2s))); use ``bandwidth=math.sqrt(s)`` to match.
    - ``"laplacian"``: Σ_σ exp(−√d / σ);  ``"imq"``: Σ_σ (1 + d / (2σ²))^(−½).
    - ``"polynomial"``: (γ⟨x, y⟩ + coef)^degree, γ = 1/D by default (KID's kernel; not centred).
    - ``"energy"``: −√d, so MMD² (biased) is the energy distance 2E‖x−y‖ − E‖x−x'‖ − E‖y−y'‖
      (GeomLoss's ``"energy"`` reports half of this).

    laplacian and energy are not differentiable at d = 0 (the diagonal, duplicated points):
    their gradient is taken as 0 there. Away from the diagonal d comes from the expansion, so
    near-duplicate points carry a rounding error of about ε·‖z‖² in d (ε ≈ 1e-3 for tf32 dots,
    6e-8 for "ieee"); for these two kernels prefer ``precision="ieee"`` when points nearly
    coincide.

    Args:
        x: (N, D), y: (M, D); float32, float64, float16 or bfloat16 (same dtype and device);
            any strides. N, M >= 2 for the unbiased estimator, >= 1 for the biased one.
        precision: ``"tf32"`` (default: float32 Gram blocks on tensor cores in tf32, ~1e-3
            relative error on the dots) or ``"ieee"`` (full float32). float16/bfloat16 go to the
            tensor cores as they are, with float32 accumulation; float64 inputs are centred in
            float64 and then run the GPU kernels in float32 "ieee" (the CPU path stays in
            float64). Polynomial kernels whose values could overflow float32 (γ·max‖z‖² +
            |coef| above 2^(100/degree)) run the PyTorch path in float64 instead, so a finite
            MMD² comes back finite.

    Returns:
        0-d tensor, float64 for float64 inputs else float32; differentiable in x and y, twice:
        the gradient is computed in the forward pass when x or y requires grad, and backward
        only scales it by grad_output; with ``create_graph=True`` (gradient penalties) the
        gradient is rebuilt from the saved inputs by differentiable PyTorch ops, in
        checkpointed row chunks (memory O((N+M)·chunk), slower than the fused pass). Not
        differentiable in ``bandwidth``.

    NaN policy: inputs are not scanned (that would need a host sync): a NaN or inf anywhere
    in x or y makes the result NaN.

    Backends: CUDA tensors run the Triton kernel, one pass with memory O((N+M)·D): over
    the (N+M)² pairs with the gradient, triangular (N²/2 + M²/2 + N·M pairs) without it.
    With a gradient and D > 128 the accumulator does not fit in registers: for D < 385 the
    pass recomputes the Gram block once per 128 features; from D = 385 (or as
    ``fastgan.ops.mmd.configure(large_d=...)`` / ``FASTGAN_MMD_LARGE_D`` say) a two-stage
    path writes the gradient weights w for a chunk of rows (at most 1 GiB) and a Triton GEMM
    multiplies them by Z (docs/mmd.md). CPU tensors run a chunked PyTorch loop over the same N² + M² + N·M pairs
    (the gradient of the Y rows' cross pairs comes from the X×Y blocks) in row chunks of
    at most 2^18 elements per temporary (at least one row), memory O((N+M)·chunk), one
    chunk per sample when (N+M)² <= 2^18. ``fastgan.backend("triton")`` forces the
    Triton kernel on CPU tensors (the interpreter).

    >>> x, y = torch.randn(500, 2, requires_grad=True), torch.randn(400, 2) + 1
    >>> loss = fastgan.mmd(x, y, bandwidth=[0.5, 1.0, 2.0]); loss.backward()
    """
    unbiased = check_estimator(estimator)
    check_pair(x, y, min_rows=(2, 2) if unbiased else (1, 1))
    spec = resolve(x, kernel, bandwidth, degree, gamma, coef, precision, True, y=y)
    n, m = x.shape[0], y.shape[0]
    if unbiased:
        wA, wB = 1.0 / (n * (n - 1)), 1.0 / (m * (m - 1))
    else:
        wA, wB = 1.0 / (n * n), 1.0 / (m * m)
    wC = -1.0 / (n * m)
    value, _, _, _ = _run(x, y, spec, (wA, wB, wC), unbiased, False, _needs_grad(x, y),
                          precision)
    return value.to(_result_dtype(x.dtype))


def pair_sum(a: torch.Tensor, b: torch.Tensor, *, kernel: str = "gaussian", bandwidth=1.0,
             degree: int = 3, gamma: float | None = None, coef: float = 1.0,
             precision: str = "tf32") -> torch.Tensor:
    """Σ_i Σ_j k(a_i, b_j) over all pairs (diagonal included when a is b), differentiable.

    The building block of a sharded MMD: each process sums its shard against the gathered
    batches and the pieces are combined with the 1/(N(N−1)), 1/(M(M−1)), −2/(NM) weights.
    For the unbiased estimator subtract the diagonal Σ_i k(x_i, x_i): N·(number of σ) for
    gaussian/laplacian/imq, 0 for energy, Σ_i (γ‖x_i‖² + coef)^degree for polynomial.
    Same kernels as :func:`mmd`, but ``bandwidth`` must be concrete (a float or a sequence of
    σ, no "median", so that every shard uses the same kernel); distances are centred by the
    mean of [a; b]. Only the a×b block is computed (N·M pairs; with a gradient, also b×a
    for the gradient of b). Identical rows of a and b (a is b, or a shard of b) are not
    recognised as such: their d is the rounding of the expansion (≈ ε·‖z‖², ε ≈ 1e-3 for
    tf32 dots), so their k equals k(0) only up to that error (for energy −√d ≈ −√ε‖z‖, not 0).

    Args: a (N, D), b (M, D), same dtype and device; N or M may be 0 (the sum is then 0).
    Returns: 0-d tensor, float64 for float64 inputs else float32; gradients flow to a and b.

    >>> s = fastgan.ops.mmd.pair_sum(torch.randn(64, 8), torch.randn(256, 8), bandwidth=2.0)
    """
    check_pair(a, b, names=("a", "b"), min_rows=(0, 0))
    spec = resolve(a, kernel, bandwidth, degree, gamma, coef, precision, False)
    if a.shape[0] == 0 or b.shape[0] == 0:
        # exactly 0 whatever the other input holds (NaN included), still connected to both
        # inputs so that autograd gives zero gradients
        zero = (a.sum() + b.sum()).to(_result_dtype(a.dtype))
        return torch.where(torch.isfinite(zero), zero, torch.zeros_like(zero)) * 0.0
    value, _, _, _ = _run(a, b, spec, (0.0, 0.0, 0.5), False, True, _needs_grad(a, b),
                          precision)
    return value.to(_result_dtype(a.dtype))


def subset_kernel_sums(x: torch.Tensor, y: torch.Tensor, x_idx: torch.Tensor,
                       y_idx: torch.Tensor, *, kernel: str = "polynomial", bandwidth=1.0,
                       estimator: str = "unbiased", degree: int = 3, gamma: float | None = None,
                       coef: float = 1.0, precision: str = "ieee") -> torch.Tensor:
    """The kernel sums of many subset pairs at once: row s is (Sxx, Syy, Sxy) of x[x_idx[s]]
    against y[y_idx[s]], as :func:`kernel_sums` would give for that pair.

    The entry point of KID (fastgan.metrics): on CUDA every subset runs in one Triton launch
    over (row tile, subset) programs that gather rows through the index tensors (no dense
    m×m matrices, nothing copied per subset); on CPU a chunked PyTorch loop over the subsets.
    x: (N, D), y: (M, D); x_idx: (S, m) and y_idx: (S, m') int64 row indices (within each
    row distinct, as drawn without replacement). Same kernels and arguments as
    :func:`kernel_sums` (γ = 1/D by default). Returns (S, 3) float64; not differentiable.

    >>> ix, iy = torch.randint(0, 100, (4, 10)), torch.randint(0, 80, (4, 10))
    >>> s = fastgan.ops.mmd.subset_kernel_sums(torch.randn(100, 3), torch.randn(80, 3), ix, iy)
    """
    unbiased = check_estimator(estimator)
    check_pair(x, y)
    for name, idx, rows in (("x_idx", x_idx, x.shape[0]), ("y_idx", y_idx, y.shape[0])):
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.dtype not in (
                torch.int64, torch.int32):
            raise ValueError(f"{name} must be a 2-D int64 tensor (subsets, subset size)")
        if idx.shape[1] < 1:
            raise ValueError(f"{name} needs at least one index per subset")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= rows):
            raise ValueError(f"{name} holds indices outside [0, {rows})")
    if x_idx.shape[0] != y_idx.shape[0]:
        raise ValueError(f"x_idx and y_idx must have the same number of subsets, got "
                         f"{x_idx.shape[0]} and {y_idx.shape[0]}")
    spec = resolve(x, kernel, bandwidth, degree, gamma, coef, precision, True, y=y)
    n_x = x.shape[0]
    m, m2 = x_idx.shape[1], y_idx.shape[1]
    use_triton = _backend.use_triton(x.device)
    with torch.no_grad():
        zc, sq, use_triton = prepare_for(x, y, spec.kernel, spec.gamma, spec.coef, spec.degree,
                                         use_triton)
        args = (spec.consts, spec.kernel, spec.degree, spec.gamma, spec.coef, (0.0, 0.0, 0.0),
                unbiased, False, False)
        idx = torch.cat([x_idx.to(x.device), y_idx.to(x.device) + n_x], dim=1)
        if use_triton:
            prec = "ieee" if x.dtype == torch.float64 else precision
            rows, _ = triton_fused(zc, sq, m, *args, prec, idx=idx.to(torch.int32).contiguous(),
                                   p=m + m2, square_mask=spec.square_mask)
        else:
            rows = torch.stack([torch_fused(zc[i], sq[i], m, *args)[0][0]
                                for i in idx])
        r = rows.double()
        out = torch.stack([r[:, 0, :m].sum(1), r[:, 1, m:].sum(1), r[:, 1, :m].sum(1)], dim=1)
        return out

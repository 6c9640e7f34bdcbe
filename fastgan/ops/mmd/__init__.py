"""Kernel MMD: the public functions and the pieces behind them, one job per module.

- :mod:`.api` — :func:`mmd`, :func:`kernel_sums`, :func:`pair_sum`, :func:`subset_kernel_sums`
- :mod:`.checks` — input checks, bandwidths, the kernel constants (:class:`KernelSpec`)
- :mod:`.op` — Z's preparation, the registered op ``fastgan::mmd_fused`` and its autograd
- :mod:`.cpu` — the chunked PyTorch path (CPU tensors)
- :mod:`.launch` — the Triton launchers and their launch tables (CUDA, or the interpreter)
- :mod:`.config` — :class:`LaunchConfig` and :func:`configure` (the tunables of both paths)

Both backends compute the same thing: with Z = [X; Y] centred by its mean, per-row kernel
sums over the X columns and over the Y columns, and optionally the gradient of the weighted
sum L = Σ_p Σ_q ω(p, q) k(z_p, z_q) in the same pass (docs/mmd.md derives it). Row sums are
added in float64 on the host, in a fixed order, so results are deterministic.
"""
from .api import kernel_sums, mmd, pair_sum, subset_kernel_sums
from .checks import ESTIMATORS, KERNELS, median_bandwidth
from .config import LaunchConfig, configure

__all__ = ["mmd", "kernel_sums", "pair_sum", "subset_kernel_sums", "median_bandwidth",
           "KERNELS", "ESTIMATORS", "LaunchConfig", "configure"]

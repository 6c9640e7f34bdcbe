"""fastgan: a custom-kernel training engine for generative models.

Fused Triton kernels (kernel MMD with its gradient, GAN losses, inverse-CDF samplers) on a
counter-based Philox RNG shared by C++, CUDA and Triton, with thin PyTorch APIs and trainers.

Submodules load on first use (``fastgan.losses``, ``fastgan.sample``, ``fastgan.metrics``,
``fastgan.nn``, ``fastgan.train``, ``fastgan.reference``), so ``import fastgan`` stays light
and never imports triton before ``TRITON_INTERPRET`` has its final value.
"""
from importlib import import_module as _import_module

from . import random
from ._backend import backend
from .random import Generator, manual_seed, rand, randn

__version__ = "0.1.0"

# public name -> (module, attribute or None for the module itself)
_LAZY = {
    "mmd": ("fastgan.ops.mmd", "mmd"),
    "kernel_sums": ("fastgan.ops.mmd", "kernel_sums"),
    "pair_sum": ("fastgan.ops.mmd", "pair_sum"),
    "losses": ("fastgan.losses", None),
    "sample": ("fastgan.sample", None),
    "metrics": ("fastgan.metrics", None),
    "nn": ("fastgan.nn", None),
    "train": ("fastgan.train", None),
    "reference": ("fastgan.reference", None),
    "data": ("fastgan.data", None),
    "stats": ("fastgan.stats", None),
}

__all__ = ["Generator", "manual_seed", "rand", "randn", "random", "backend", "__version__", *_LAZY]


def __getattr__(name):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'fastgan' has no attribute {name!r}")
    module = _import_module(target[0])
    value = module if target[1] is None else getattr(module, target[1])
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

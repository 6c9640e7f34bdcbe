"""fastgan: a custom-kernel training engine for generative models.

Fused Triton kernels (kernel MMD with its gradient, GAN losses, inverse-CDF samplers) on a
counter-based Philox RNG shared by C++, CUDA and Triton, with thin PyTorch APIs and trainers.
"""
from . import random
from ._backend import backend
from .random import Generator, manual_seed, rand, randn

__version__ = "0.1.0"

__all__ = ["Generator", "manual_seed", "rand", "randn", "random", "backend", "__version__"]

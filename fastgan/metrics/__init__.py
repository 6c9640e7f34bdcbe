"""Sample-quality metrics: KID and FID as functions and as streaming, DDP-aware classes.

- :func:`kid` / :class:`KID`: Kernel Inception Distance over random subsets, every subset in
  one fused launch on the GPU; the class keeps a bounded reservoir of features.
- :func:`fid` / :class:`FID`: Fréchet Inception Distance from float64 running moments.
- :mod:`fastgan.metrics.features`: feature extractors (pixels, Inception-v3 pool3).
"""
from . import features
from .features import InceptionV3Features, Pixels, load_inception
from .fid import FID, fid, frechet_distance
from .kid import KID, kid, kid_subset_indices

__all__ = ["kid", "kid_subset_indices", "KID", "FID", "fid", "frechet_distance", "features",
           "InceptionV3Features", "Pixels", "load_inception"]

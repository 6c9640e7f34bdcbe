"""Plain-PyTorch (and pure-Python) reference implementations of every fastgan op.

Written for clarity, not speed: the tests compare the kernels with these in float64 and the
benchmarks time them as the eager baseline. One module per op family; all names are
re-exported here, so ``fastgan.reference.<name>`` is the one reference for each op.
"""
from importlib import import_module as _import_module

from .random import *  # noqa: F401,F403

# Op families register here as they land; each module defines __all__.
for _name in ("mmd", "gan_loss", "sample", "stats"):
    try:
        _mod = _import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # that op family is not in this tree
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    globals().update({k: getattr(_mod, k) for k in getattr(_mod, "__all__", ())})
del _name, _import_module

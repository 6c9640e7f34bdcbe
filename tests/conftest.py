"""Test set-up: without a CUDA device, Triton kernels run in the interpreter on CPU tensors.

TRITON_INTERPRET must be set before triton is imported (triton.jit reads it at decoration
time), so it is set here, before anything imports fastgan's kernels. With a GPU the real
compiled path runs instead. Tests that force the kernels use the ``triton_backend`` fixture;
those that do so on CPU tensors are skipped on a GPU machine (see _forces_triton_on_cpu).
"""
import os

import pytest

try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except Exception:  # pragma: no cover
    HAS_CUDA = False

if not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch  # noqa: E402

import fastgan  # noqa: E402


def pytest_report_header(config):
    mode = "CUDA " + torch.cuda.get_device_name() if HAS_CUDA else "CPU (Triton interpreter)"
    return f"fastgan tests on {mode}; torch {torch.__version__}"


def _forces_triton_on_cpu(item) -> bool:
    """A test that runs the Triton kernels on CPU tensors (the interpreter): it uses the
    ``triton_backend`` fixture or a ``backend="triton"`` parameter without the ``device``
    fixture, or carries the ``interpreter`` marker."""
    if item.get_closest_marker("interpreter"):
        return True
    names = getattr(item, "fixturenames", ())
    if "device" in names:
        return False
    params = getattr(getattr(item, "callspec", None), "params", {})
    return "triton_backend" in names or params.get("backend") == "triton"


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        # TRITON_INTERPRET stays off with a GPU, so Triton cannot run on CPU tensors; the same
        # kernels run compiled in the tests that take the ``device`` fixture
        interp = pytest.mark.skip(reason="interpreter test (Triton on CPU tensors); with a GPU "
                                         "the kernels run compiled in the device tests")
        for item in items:
            if _forces_triton_on_cpu(item):
                item.add_marker(interp)
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; this machine has none")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def device():
    """Where kernel tests run: the GPU when there is one, else CPU tensors (interpreter)."""
    return torch.device("cuda") if HAS_CUDA else torch.device("cpu")


@pytest.fixture
def triton_backend():
    """Force the Triton kernels (interpreted on CPU tensors) for the duration of a test."""
    with fastgan.backend("triton"):
        yield


@pytest.fixture
def torch_backend():
    """Force the pure-PyTorch path for the duration of a test."""
    with fastgan.backend("torch"):
        yield


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    fastgan.manual_seed(0)
    yield

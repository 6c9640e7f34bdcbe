"""Counter-based Philox4x32-10 random numbers, identical on CPU, CUDA and in Triton kernels.

A :class:`Generator` is a (seed, offset) pair. Every draw of ``n`` values reserves
``ceil(n / 4)`` 128-bit counters starting at ``offset`` and advances the offset past them,
so a draw's values depend only on (seed, offset, n) — never on the device, thread or kernel
that computes them. Value ``j`` of a draw is word ``j % 4`` of
``philox4x32_10(counter=(lo32(offset + j//4), hi32(offset + j//4), 0, 0), key=(lo32(seed), hi32(seed)))``,
which is Triton's ``tl.randint4x(seed, offset + j // 4)`` and cuRAND's Philox after
``curand_init(seed, 0, 4 * offset)``.

Float conversions follow Triton: a uniform is ``fold(int32(bits)) * 4.6566127342e-10`` in
float32 (31 random bits, in [0, 1)); float64 uniforms are those float32 values widened exactly.
Normals use Triton's Box-Muller on the words (0, 1) and (2, 3) of each block.
"""
from __future__ import annotations

import copy
import math
import numbers
import threading
from typing import Sequence

import torch

from . import _backend
from ._backend import cdiv
from ._checks import reject_meta
from ._codes import FillKind

try:
    from . import _C
except ImportError as exc:  # pragma: no cover - a broken install, not a code path
    raise ImportError(
        "fastgan._C (the compiled extension) is missing: install fastgan with "
        "`pip install -e .` (or `pip install .`) so the extension is built"
    ) from exc

__all__ = [
    "Generator", "manual_seed", "default_generator", "philox4x32", "rand", "randn", "randbits",
    "uniform_", "normal_", "bits_",
]

_U64 = 1 << 64
_U32 = 1 << 32

# The fill kinds (fastgan._codes.FillKind; the C++ extension declares the same codes as FILL_*).
FILL_BITS = FillKind.BITS
FILL_UNIFORM_F32 = FillKind.UNIFORM_F32
FILL_UNIFORM_F64 = FillKind.UNIFORM_F64
FILL_NORMAL_F32 = FillKind.NORMAL_F32
FILL_NORMAL_F64 = FillKind.NORMAL_F64


def _check_u64(value, name: str) -> int:
    # numbers.Integral: Python and numpy integers (np.int64(5), np.uint64(5)), not bool
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point() \
                and value.dtype != torch.bool and value.device.type != "meta":
            value = int(value.item())
        else:
            raise TypeError(f"{name} must be an int in [0, 2**64), got {type(value).__name__}")
    value = int(value)
    if not 0 <= value < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {value}")
    return value


def _normalize_device(device) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


class Generator:
    """Philox4x32-10 state: a 64-bit seed and a 64-bit offset counted in 128-bit blocks.

    Mirrors :class:`torch.Generator`: ``manual_seed``, ``seed``, ``initial_seed``,
    ``get_offset``/``set_offset``, ``get_state``/``set_state`` (a 16-byte uint8 tensor:
    seed then offset, little-endian). The device only chooses where samples go by default:
    the stream itself is the same on every device. Offset reservation is atomic, so one
    generator can be shared by several threads (each draw gets its own counters).

    Example::

        g = fastgan.Generator(seed=1234)
        x = fastgan.rand(4, generator=g)   # counters 0..0
        s = g.get_state(); y = fastgan.rand(4, generator=g)
        g.set_state(s); assert torch.equal(fastgan.rand(4, generator=g), y)
    """

    def __init__(self, seed: int = 0, device: str | torch.device = "cpu"):
        self._lock = threading.Lock()
        self._seed = _check_u64(seed, "seed")
        self._offset = 0
        self.device = torch.device(device)

    # torch.Generator-like API -------------------------------------------------------------
    def manual_seed(self, seed: int) -> "Generator":
        """Set the seed and reset the offset to 0; returns self."""
        seed = _check_u64(seed, "seed")
        with self._lock:
            self._seed, self._offset = seed, 0
        return self

    def seed(self) -> int:
        """Seed from a non-deterministic source (os.urandom), reset the offset; returns the seed."""
        import os

        s = int.from_bytes(os.urandom(8), "little")
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_offset(self) -> int:
        return self._offset

    def set_offset(self, offset: int) -> "Generator":
        offset = _check_u64(offset, "offset")
        with self._lock:
            self._offset = offset
        return self

    def get_state(self) -> torch.Tensor:
        """The state as a uint8 tensor of 16 bytes (seed, offset; little-endian uint64s)."""
        with self._lock:
            raw = self._seed.to_bytes(8, "little") + self._offset.to_bytes(8, "little")
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone()

    def set_state(self, state: torch.Tensor) -> "Generator":
        """Restore a state from :meth:`get_state`: a uint8 tensor of shape (16,)."""
        if not isinstance(state, torch.Tensor):
            raise TypeError(f"state must be a uint8 tensor of 16 bytes, as returned by get_state(), "
                            f"got {type(state).__name__}")
        reject_meta(state, "state")
        if state.dtype != torch.uint8 or state.shape != (16,):
            raise ValueError("state must be a uint8 tensor of 16 bytes (shape (16,)), as returned by "
                             f"get_state(), got dtype {state.dtype} and shape {tuple(state.shape)}")
        raw = bytes(state.detach().cpu().contiguous().tolist())
        with self._lock:
            self._seed = int.from_bytes(raw[:8], "little")
            self._offset = int.from_bytes(raw[8:], "little")
        return self

    # internals ----------------------------------------------------------------------------
    def _reserve(self, n_values: int) -> tuple[int, int]:
        """Atomically take ceil(n_values / 4) counters; returns (seed, first counter)."""
        blocks = -(-int(n_values) // 4)
        return self._reserve_blocks(blocks)

    def _reserve_blocks(self, blocks: int) -> tuple[int, int]:
        if blocks < 0:
            raise ValueError("cannot reserve a negative number of counters")
        with self._lock:
            start = self._offset
            self._offset = (start + blocks) % _U64
            return self._seed, start

    # pickling / copying: the lock is not state -----------------------------------------------
    def __getstate__(self):
        return {"seed": self._seed, "offset": self._offset, "device": str(self.device)}

    def __setstate__(self, d):
        self._lock = threading.Lock()
        self._seed, self._offset = d["seed"], d["offset"]
        self.device = torch.device(d["device"])

    def __deepcopy__(self, memo):
        g = Generator.__new__(Generator)
        g.__setstate__(copy.deepcopy(self.__getstate__(), memo))
        return g

    def __repr__(self) -> str:
        return f"fastgan.Generator(seed={self._seed}, offset={self._offset}, device='{self.device}')"


_defaults: dict[str, Generator] = {}
_defaults_lock = threading.Lock()
_default_seed = 0


def default_generator(device=None) -> Generator:
    """The default generator of ``device`` (one per device, seeded by :func:`manual_seed`)."""
    device = _normalize_device(device if device is not None else "cpu")
    key = str(device)
    with _defaults_lock:
        g = _defaults.get(key)
        if g is None:
            g = _defaults[key] = Generator(_default_seed, device)
        return g


def manual_seed(seed: int) -> None:
    """Seed the default generators of all devices (and those created later); offsets reset to 0."""
    global _default_seed
    seed = _check_u64(seed, "seed")
    with _defaults_lock:
        _default_seed = seed
        for g in _defaults.values():
            g.manual_seed(seed)


def philox4x32(counter: Sequence[int], key: Sequence[int]) -> tuple[int, int, int, int]:
    """One raw Philox4x32-10 block: 4 counter words and 2 key words (uint32) -> 4 uint32 words."""
    counter, key = list(counter), list(key)
    if len(counter) != 4 or len(key) != 2:
        raise ValueError(f"counter needs 4 words and key 2 words, got {len(counter)} and {len(key)}")
    for name, words in (("counter", counter), ("key", key)):
        for w in words:
            if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < _U32:
                raise ValueError(f"{name} words must be ints in [0, 2**32), got {w!r}")
    return tuple(_C.philox4x32(counter, key))


def _split(v: int) -> tuple[int, int]:
    """A uint64 as (lo, hi) int32 bit patterns, the form the Triton kernels take."""
    lo, hi = v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF
    return (lo - _U32 if lo >= 1 << 31 else lo), (hi - _U32 if hi >= 1 << 31 else hi)


_KIND_DTYPES = {
    FILL_BITS: (torch.int32,),
    FILL_UNIFORM_F32: (torch.float32,),
    FILL_UNIFORM_F64: (torch.float64,),
    FILL_NORMAL_F32: (torch.float32,),
    FILL_NORMAL_F64: (torch.float64,),
}


def _fill(out: torch.Tensor, kind: int, seed: int, offset: int, impl: str = "auto") -> torch.Tensor:
    """Write the stream (seed, offset) into the contiguous tensor ``out``.

    impl: "auto" (C++ on CPU, C++ CUDA when built with nvcc else Triton on CUDA; Triton
    under the interpreter when FASTGAN_BACKEND=triton), "cpp" or "triton".
    """
    if out.dtype not in _KIND_DTYPES[kind]:  # keyed by FillKind; plain ints hash the same
        raise TypeError(f"out has dtype {out.dtype}; this fill writes {_KIND_DTYPES[kind][0]}")
    if not out.is_contiguous():
        raise ValueError("out must be contiguous (the stream is laid out in memory order)")
    n = out.numel()
    if n == 0:
        return out
    if impl == "auto":
        if out.device.type == "cuda":
            impl = "triton" if (_backend.current() == "triton" or not _C.has_cuda) else "cpp"
        else:
            impl = "triton" if _backend.use_triton(out.device) else "cpp"
    if impl == "cpp":
        if out.device.type == "cpu":
            _C.cpu_fill(kind, out.data_ptr(), n, seed, offset, 0)
        elif out.device.type == "cuda":
            if not _C.has_cuda:
                raise RuntimeError("fastgan._C was built without CUDA (nvcc was not found at build time)")
            stream = torch.cuda.current_stream(out.device).cuda_stream
            _C.cuda_fill(kind, out.data_ptr(), n, seed, offset, stream, out.device.index)
        else:
            raise ValueError(f"unsupported device {out.device}")
    elif impl == "triton":
        from .kernels.random import fill_kernel

        block = 1024 if out.device.type == "cuda" else 256
        blocks = -(-n // 4)
        if blocks >= _U32:
            raise ValueError("a single Triton fill is limited to 2**34 values")
        slo, shi = _split(seed)
        olo, ohi = _split(offset)
        grid = (cdiv(blocks, block),)
        with _backend.on_device(out), _backend.launch_guard(out):
            fill_kernel[grid](out, n=n, seed_lo=slo, seed_hi=shi, off_lo=olo, off_hi=ohi,
                              KIND=int(kind), BLOCK=block)
    else:
        raise ValueError(f"impl must be 'auto', 'cpp' or 'triton', got {impl!r}")
    return out


def _parse_size(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):  # numpy ints are fine
            if isinstance(s, torch.Tensor) and s.numel() == 1 and s.device.type != "meta":
                s = int(s)
            else:
                raise TypeError(f"size must be ints, got {s!r}")
        if s < 0:
            raise ValueError(f"size must be non-negative, got {tuple(size)}")
        out.append(int(s))
    return tuple(out)


def _resolve(generator, device):
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a fastgan.Generator, got {type(generator).__name__}")
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    device = _normalize_device(device)
    _check_device(device)
    if generator is None:
        generator = default_generator(device)
    return generator, device


def _check_device(device: torch.device) -> None:
    """Draws go to the CPU or a CUDA device; checked before any counter is reserved, so a
    draw that cannot run leaves the generator as it was."""
    if device.type == "meta":
        raise ValueError("device is meta; meta tensors are not supported here (random numbers are "
                         "drawn into real memory on the CPU or a CUDA device)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device}; fastgan draws on the CPU or a CUDA device")


_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _draw(kind32: int, kind64: int, size, generator, device, dtype) -> torch.Tensor:
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be a floating dtype {_FLOAT_DTYPES}, got {dtype}")
    shape = _parse_size(size)
    generator, device = _resolve(generator, device)
    n = math.prod(shape)
    seed, offset = generator._reserve(n)
    if dtype == torch.float64:
        return _fill(torch.empty(shape, dtype=torch.float64, device=device), kind64, seed, offset)
    out = _fill(torch.empty(shape, dtype=torch.float32, device=device), kind32, seed, offset)
    return out if dtype == torch.float32 else out.to(dtype)


def rand(*size, generator: Generator | None = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Uniform samples in [0, 1) from the Philox stream (Triton's uint32 -> float mapping).

    Bit-identical on CPU (C++), CUDA (C++ or Triton) and in Triton kernels for the same
    generator state; advances the generator by ceil(numel / 4) counters. float16/bfloat16
    results are the float32 values rounded.

    >>> g = fastgan.Generator(7); u = fastgan.rand(2, 3, generator=g)
    """
    return _draw(FILL_UNIFORM_F32, FILL_UNIFORM_F64, size, generator, device, dtype)


def randn(*size, generator: Generator | None = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal samples by Triton's Box-Muller on the Philox stream.

    Value j is word j % 4 of ``tl.randn4x(seed, offset + j // 4)``: bit-exact between C++
    CPU builds, within a few ulp of the GPU's (whose log/sin/cos differ slightly).
    float64 output applies Box-Muller in float64 to the same float32 uniforms.
    """
    return _draw(FILL_NORMAL_F32, FILL_NORMAL_F64, size, generator, device, dtype)


def randbits(*size, generator: Generator | None = None, device=None) -> torch.Tensor:
    """Raw 32-bit Philox words as an int32 tensor (bit patterns; ``t & 0xffffffff`` in int64
    recovers the unsigned values)."""
    shape = _parse_size(size)
    generator, device = _resolve(generator, device)
    seed, offset = generator._reserve(math.prod(shape))
    return _fill(torch.empty(shape, dtype=torch.int32, device=device), FILL_BITS, seed, offset)


def _fill_inplace(t: torch.Tensor, kinds: dict, generator) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in kinds:
        raise TypeError(f"tensor has dtype {t.dtype}; supported: {tuple(kinds)}")
    reject_meta(t, "tensor")
    if not t.is_contiguous():
        raise ValueError("tensor must be contiguous to be filled in place")
    generator, _ = _resolve(generator, t.device)
    seed, offset = generator._reserve(t.numel())
    with torch.no_grad():
        return _fill(t, kinds[t.dtype], seed, offset)


def uniform_(tensor: torch.Tensor, generator: Generator | None = None) -> torch.Tensor:
    """Fill a contiguous float32/float64 tensor in place with :func:`rand`'s stream."""
    return _fill_inplace(tensor, {torch.float32: FILL_UNIFORM_F32, torch.float64: FILL_UNIFORM_F64},
                         generator)


def normal_(tensor: torch.Tensor, generator: Generator | None = None) -> torch.Tensor:
    """Fill a contiguous float32/float64 tensor in place with :func:`randn`'s stream."""
    return _fill_inplace(tensor, {torch.float32: FILL_NORMAL_F32, torch.float64: FILL_NORMAL_F64},
                         generator)


def bits_(tensor: torch.Tensor, generator: Generator | None = None) -> torch.Tensor:
    """Fill a contiguous int32 tensor in place with raw Philox words."""
    return _fill_inplace(tensor, {torch.int32: FILL_BITS}, generator)

"""Reference Philox4x32-10 and the fastgan stream in pure Python / NumPy (no C++, no Triton)."""
from __future__ import annotations

import numpy as np

__all__ = ["philox4x32_reference", "stream_bits_reference", "uniform_from_bits_reference"]

_M32 = 0xFFFFFFFF


def philox4x32_reference(counter, key, rounds: int = 10) -> tuple[int, int, int, int]:
    """Philox4x32 (Salmon et al. 2011) on Python ints, straight from the paper's definition."""
    c0, c1, c2, c3 = (int(c) & _M32 for c in counter)
    k0, k1 = (int(k) & _M32 for k in key)
    for _ in range(rounds):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & _M32, p1 & _M32, ((p0 >> 32) ^ c3 ^ k1) & _M32, p0 & _M32
        k0 = (k0 + 0x9E3779B9) & _M32
        k1 = (k1 + 0xBB67AE85) & _M32
    return c0, c1, c2, c3


def stream_bits_reference(seed: int, offset: int, n: int) -> np.ndarray:
    """Values 0..n-1 of the stream (seed, offset) as uint32: word j % 4 of block offset + j // 4."""
    out = np.empty(n, dtype=np.uint32)
    for b in range((n + 3) // 4):
        ctr = (offset + b) % (1 << 64)
        words = philox4x32_reference((ctr & _M32, ctr >> 32, 0, 0), (seed & _M32, seed >> 32))
        for w in range(min(4, n - 4 * b)):
            out[4 * b + w] = words[w]
    return out


def uniform_from_bits_reference(bits: np.ndarray) -> np.ndarray:
    """Triton's uint32 -> float32 map: fold the int32 view (x < 0 -> -x - 1), times 4.6566127342e-10."""
    x = np.asarray(bits, dtype=np.uint32).view(np.int32).astype(np.int64)
    x = np.where(x < 0, -x - 1, x)
    return x.astype(np.float32) * np.float32(4.6566127342e-10)

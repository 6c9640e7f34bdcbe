"""Philox4x32-10 in Triton, on the fastgan stream convention, and the fill kernel.

The stream (docs/random.md): value j of a draw starting at counter ``offset`` is word j % 4 of
philox(c0 = lo32(offset + j // 4), c1 = hi32(offset + j // 4), c2 = c3 = 0,
key = (lo32(seed), hi32(seed))). The 64-bit counter is carried as two uint32 words so the
kernels behave the same on every Triton version (3.6 treats a 64-bit offset differently from
3.9) and for every seed and offset up to 2**64 - 1. Scalars cross the launch boundary as
int32 bit patterns (see ``fastgan.random._split``), which Triton never re-types.
"""
import triton
import triton.language as tl

from .._codes import FillKind

# What fill_kernel writes (fastgan._codes.FillKind, the C++ extension's FILL_* codes).
KIND_BITS = tl.constexpr(int(FillKind.BITS))
KIND_UNIFORM_F32 = tl.constexpr(int(FillKind.UNIFORM_F32))
KIND_UNIFORM_F64 = tl.constexpr(int(FillKind.UNIFORM_F64))
KIND_NORMAL_F32 = tl.constexpr(int(FillKind.NORMAL_F32))

PHILOX_KEY_A = tl.constexpr(0x9E3779B9)
PHILOX_KEY_B = tl.constexpr(0xBB67AE85)
PHILOX_ROUND_A = tl.constexpr(0xD2511F53)
PHILOX_ROUND_B = tl.constexpr(0xCD9E8D57)


@triton.jit
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    # Ten rounds of Philox4x32; all operands uint32 (wrapping arithmetic).
    for _ in tl.static_range(10):
        p0 = c0
        p2 = c2
        c0 = tl.umulhi(p2, PHILOX_ROUND_B) ^ c1 ^ k0
        c2 = tl.umulhi(p0, PHILOX_ROUND_A) ^ c3 ^ k1
        c1 = p2 * PHILOX_ROUND_B
        c3 = p0 * PHILOX_ROUND_A
        k0 = k0 + PHILOX_KEY_A
        k1 = k1 + PHILOX_KEY_B
    return c0, c1, c2, c3


@triton.jit
def stream_block(seed_lo, seed_hi, off_lo, off_hi, idx):
    """Four uint32 blocks of the stream at counters offset + idx (idx >= 0, < 2**32)."""
    # The four words arrive as int32 bit patterns. Added to an int32 zero block first, so a
    # word that the launcher specialised into the constant 1 (Triton does that to integer
    # arguments equal to 1 unless told not to; the kernels here say do_not_specialize) is a
    # tensor too, and .to(bitcast=True) applies either way.
    zero32 = (idx * 0).to(tl.int32)
    k0 = (zero32 + seed_lo).to(tl.uint32, bitcast=True)
    k1 = (zero32 + seed_hi).to(tl.uint32, bitcast=True)
    base_lo = (zero32 + off_lo).to(tl.uint32, bitcast=True)
    base_hi = (zero32 + off_hi).to(tl.uint32, bitcast=True)
    i = idx.to(tl.uint32)
    lo = base_lo + i
    hi = base_hi + (lo < base_lo).to(tl.uint32)  # carry of the 64-bit add
    zero = lo * 0
    return philox4x32_10(lo, hi, zero, zero, k0, k1)


@triton.jit
def uint_to_uniform(bits):
    # Triton's mapping (tl.rand): int32 view, fold negatives, scale so INT32_MAX maps below 1.
    x = bits.to(tl.int32, bitcast=True)
    x = tl.where(x < 0, -x - 1, x)
    return x.to(tl.float32) * 4.6566127342e-10


@triton.jit
def normal_pair(u1, u2):
    # Box-Muller as tl.randn (u1 clamped at 1e-7 so log never sees 0).
    u1 = tl.maximum(1.0e-7, u1)
    th = 6.283185307179586 * u2
    r = tl.sqrt(-2.0 * tl.log(u1))
    return r * tl.cos(th), r * tl.sin(th)


@triton.jit
def _store4(out_ptr, base, n, v0, v1, v2, v3):
    tl.store(out_ptr + base, v0, mask=base < n)
    tl.store(out_ptr + base + 1, v1, mask=base + 1 < n)
    tl.store(out_ptr + base + 2, v2, mask=base + 2 < n)
    tl.store(out_ptr + base + 3, v3, mask=base + 3 < n)


@triton.jit(do_not_specialize=["seed_lo", "seed_hi", "off_lo", "off_hi"])
def fill_kernel(
    # pointer: the contiguous output
    out_ptr,
    # size: values to write
    n,
    # the Philox seed and first counter, as int32 bit patterns (lo, hi)
    seed_lo, seed_hi, off_lo, off_hi,
    # constexpr: what to write (FillKind), counters per program
    KIND: tl.constexpr, BLOCK: tl.constexpr,
):
    # out[4b + w] = transform(word w of stream block b); KIND: raw bits (int32 view), uniform
    # (fp32 / fp32 widened to fp64), normal (Box-Muller in fp32 / in fp64 on the same fp32
    # uniforms).
    pid = tl.program_id(0).to(tl.int64)
    b = pid * BLOCK + tl.arange(0, BLOCK)
    r0, r1, r2, r3 = stream_block(seed_lo, seed_hi, off_lo, off_hi, b)
    base = b * 4
    if KIND == KIND_BITS:
        _store4(out_ptr, base, n, r0.to(tl.int32, bitcast=True), r1.to(tl.int32, bitcast=True),
                r2.to(tl.int32, bitcast=True), r3.to(tl.int32, bitcast=True))
    else:
        u0 = uint_to_uniform(r0)
        u1 = uint_to_uniform(r1)
        u2 = uint_to_uniform(r2)
        u3 = uint_to_uniform(r3)
        if KIND == KIND_UNIFORM_F32:
            _store4(out_ptr, base, n, u0, u1, u2, u3)
        elif KIND == KIND_UNIFORM_F64:
            _store4(out_ptr, base, n, u0.to(tl.float64), u1.to(tl.float64), u2.to(tl.float64),
                    u3.to(tl.float64))
        elif KIND == KIND_NORMAL_F32:
            z0, z1 = normal_pair(u0, u1)
            z2, z3 = normal_pair(u2, u3)
            _store4(out_ptr, base, n, z0, z1, z2, z3)
        else:  # KIND_NORMAL_F64
            z0, z1 = normal_pair(u0.to(tl.float64), u1.to(tl.float64))
            z2, z3 = normal_pair(u2.to(tl.float64), u3.to(tl.float64))
            _store4(out_ptr, base, n, z0, z1, z2, z3)

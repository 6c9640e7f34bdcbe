"""Philox RNG: known answers, C++ == Triton == pure-Python reference, generator state, statistics."""
import copy
import pickle
import threading

import numpy as np
import pytest
import torch
from scipy import stats

import fastgan
from fastgan import random as fr
from fastgan.reference import philox4x32_reference, stream_bits_reference, uniform_from_bits_reference

from helpers import poison

# Random123 kat_vectors for philox4x32_10: (counter, key, expected).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]

# (seed, offset) pairs: small, above 2**32, above 2**63, near the 64-bit wrap of the counter.
PAIRS = [
    (0, 0), (1, 1), (42, 12345), (0xFFFFFFFF, 0xFFFFFFFE), (1 << 32, (1 << 32) - 3),
    ((1 << 63) + 12345, (1 << 40) + 7), ((1 << 64) - 1, (1 << 64) - 5), (0x9E3779B97F4A7C15, 1 << 63),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_known_answers(counter, key, expected):
    assert fr.philox4x32(counter, key) == expected
    assert philox4x32_reference(counter, key) == expected


def test_cpp_block_matches_python_reference():
    rng = np.random.default_rng(1)
    for _ in range(200):
        c = [int(v) for v in rng.integers(0, 2**32, size=4)]
        k = [int(v) for v in rng.integers(0, 2**32, size=2)]
        assert fr.philox4x32(c, k) == philox4x32_reference(c, k)


@pytest.mark.parametrize("seed,offset", PAIRS)
def test_cpp_stream_matches_reference(seed, offset):
    n = 37
    out = poison(torch.empty(n, dtype=torch.int32))
    fr._fill(out, fr.FILL_BITS, seed, offset, impl="cpp")
    ref = stream_bits_reference(seed, offset, n)
    assert np.array_equal(out.numpy().view(np.uint32), ref)
    u = poison(torch.empty(n))
    fr._fill(u, fr.FILL_UNIFORM_F32, seed, offset, impl="cpp")
    assert np.array_equal(u.numpy(), uniform_from_bits_reference(ref))


@pytest.mark.parametrize("kind,dtype", [(fr.FILL_BITS, torch.int32), (fr.FILL_UNIFORM_F32, torch.float32),
                                        (fr.FILL_UNIFORM_F64, torch.float64), (fr.FILL_NORMAL_F32, torch.float32),
                                        (fr.FILL_NORMAL_F64, torch.float64)])
def test_triton_kernel_matches_cpp(kind, dtype, device):
    for seed, offset in PAIRS:
        n = 1030  # not a multiple of 4 or of the kernel block
        a = poison(torch.empty(n, dtype=dtype))
        b = poison(torch.empty(n, dtype=dtype, device=device))
        fr._fill(a, kind, seed, offset, impl="cpp")
        fr._fill(b, kind, seed, offset, impl="triton")
        b = b.cpu()
        if kind in (fr.FILL_NORMAL_F32, fr.FILL_NORMAL_F64) and device.type == "cuda":
            # the GPU's fast log/sin/cos: a few ulp of r ~ 5 (absolute ~1e-6)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=2e-5)
        elif kind in (fr.FILL_NORMAL_F32,):
            # numpy's float32 log/cos/sin in the interpreter vs libm: a few ulp at most.
            torch.testing.assert_close(b, a, rtol=4e-7, atol=4e-7)
        elif kind == fr.FILL_NORMAL_F64:
            torch.testing.assert_close(b, a, rtol=1e-14, atol=1e-14)
        else:
            assert torch.equal(a, b), (seed, offset)


def test_stream_equals_tl_randint4x(device):
    """Our stream is Triton's own tl.randint4x / tl.rand for offsets below 2**31."""
    import triton
    import triton.language as tl

    @triton.jit
    def k(out_bits, out_u, seed, base, n, BLOCK: tl.constexpr):
        j = tl.arange(0, BLOCK)
        r0, r1, r2, r3 = tl.randint4x(seed, base + j // 4)
        w = j % 4
        bits = tl.where(w == 0, r0, tl.where(w == 1, r1, tl.where(w == 2, r2, r3)))
        tl.store(out_bits + j, bits.to(tl.int32, bitcast=True), mask=j < n)
        tl.store(out_u + j, tl.rand(seed, base + j // 4) * 0 + tl.where(w == 0, tl.rand(seed, base + j // 4), 0.0),
                 mask=j < n)

    for seed, offset in [(0, 0), (7, 100), (123456789, (1 << 31) - 100), ((1 << 63) + 9, 5)]:
        n = 64
        bits = poison(torch.empty(n, dtype=torch.int32, device=device))
        u = poison(torch.empty(n, device=device))
        k[(1,)](bits, u, seed, offset, n, BLOCK=64)
        ours = torch.empty(n, dtype=torch.int32)
        fr._fill(ours, fr.FILL_BITS, seed, offset, impl="cpp")
        assert torch.equal(bits.cpu(), ours)
        ours_u = torch.empty(n)
        fr._fill(ours_u, fr.FILL_UNIFORM_F32, seed, offset, impl="cpp")
        first = torch.arange(n) % 4 == 0
        assert torch.equal(u.cpu()[first], ours_u[first])


@pytest.mark.gpu
def test_cuda_fill_matches_cpu_and_curand():
    from fastgan import _C

    if not _C.has_cuda:
        pytest.skip("fastgan._C was built without nvcc: no C++ CUDA fill or cuRAND check to run "
                    "(the Triton fill on CUDA is covered by test_triton_kernel_matches_cpp)")
    if not _C.has_curand:
        print("cuRAND headers were missing at build time: checking the CUDA fill only")
    for seed, offset in PAIRS:
        n = 4099
        for kind, dtype in [(fr.FILL_BITS, torch.int32), (fr.FILL_UNIFORM_F32, torch.float32),
                            (fr.FILL_NORMAL_F32, torch.float32)]:
            a = torch.empty(n, dtype=dtype)
            fr._fill(a, kind, seed, offset, impl="cpp")
            b = poison(torch.empty(n, dtype=dtype, device="cuda"))
            fr._fill(b, kind, seed, offset, impl="cpp")
            if kind == fr.FILL_NORMAL_F32:
                torch.testing.assert_close(b.cpu(), a, rtol=2e-6, atol=2e-6)
            else:
                assert torch.equal(b.cpu(), a)
        # cuRAND's skip-ahead takes 4·offset subsequence steps in 64 bits and carries the
        # counter into its third word: the same stream only while 4·(offset + 16) < 2**64
        if _C.has_curand and offset + 16 < 1 << 62:
            c = poison(torch.empty(64, dtype=torch.int32, device="cuda"))
            _C.curand_reference(c.data_ptr(), 64, seed, offset, torch.cuda.current_stream().cuda_stream)
            a = torch.empty(64, dtype=torch.int32)
            fr._fill(a, fr.FILL_BITS, seed, offset, impl="cpp")
            assert torch.equal(c.cpu(), a)


def test_public_draws_advance_offset_and_match_stream():
    g = fastgan.Generator(seed=99)
    x = fastgan.rand(3, 5, generator=g)
    assert x.shape == (3, 5) and x.dtype == torch.float32
    assert g.get_offset() == 4  # ceil(15 / 4)
    ref = uniform_from_bits_reference(stream_bits_reference(99, 0, 15)).reshape(3, 5)
    assert np.array_equal(x.numpy(), ref)
    y = fastgan.rand(2, generator=g)
    ref2 = uniform_from_bits_reference(stream_bits_reference(99, 4, 2))
    assert np.array_equal(y.numpy(), ref2)
    z = fastgan.randn(9, generator=g, dtype=torch.float64)
    assert g.get_offset() == 4 + 1 + 3 and z.dtype == torch.float64
    b = fr.randbits(4, generator=g)
    assert np.array_equal(b.numpy().view(np.uint32), stream_bits_reference(99, 8, 4))
    h = fastgan.rand(6, generator=g, dtype=torch.bfloat16)
    assert h.dtype == torch.bfloat16


def test_uniform_range_and_float64_widening():
    g = fastgan.Generator(5)
    u32 = fastgan.rand(100_000, generator=g)
    g.set_offset(0)
    u64 = fastgan.rand(100_000, generator=g, dtype=torch.float64)
    assert torch.equal(u64, u32.double())
    assert u32.min() >= 0 and u32.max() < 1


def test_state_save_restore_continues_stream():
    g = fastgan.Generator(2**63 + 11)
    fastgan.rand(10, generator=g)
    state = g.get_state()
    assert state.dtype == torch.uint8 and state.numel() == 16
    a = fastgan.randn(33, generator=g)
    g2 = fastgan.Generator(0).set_state(state)
    assert torch.equal(fastgan.randn(33, generator=g2), a)
    g.set_state(state)
    assert torch.equal(fastgan.randn(33, generator=g), a)
    assert g.initial_seed() == 2**63 + 11


def test_pickle_and_deepcopy():
    g = fastgan.Generator(31337)
    fastgan.rand(17, generator=g)
    for g2 in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert g2.get_offset() == g.get_offset() and g2.initial_seed() == 31337
        assert torch.equal(fastgan.rand(8, generator=g2), fastgan.rand(8, generator=copy.deepcopy(g)))
    g3 = copy.deepcopy(g)
    fastgan.rand(100, generator=g3)
    assert g3.get_offset() != g.get_offset()  # independent copies


def test_manual_seed_and_default_generator():
    fastgan.manual_seed(1234)
    a = fastgan.rand(10)
    fastgan.manual_seed(1234)
    b = fastgan.rand(10)
    assert torch.equal(a, b)
    assert torch.equal(a, fastgan.rand(10, generator=fastgan.Generator(1234)))
    assert fastgan.random.default_generator("cpu").get_offset() == 3


def test_thread_safe_reservation():
    g = fastgan.Generator(3)
    starts = []
    lock = threading.Lock()

    def work():
        for _ in range(200):
            s = g._reserve(10)[1]
            with lock:
                starts.append(s)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(starts) == list(range(0, 8 * 200 * 3, 3))  # disjoint, no counter lost
    assert g.get_offset() == 8 * 200 * 3


def test_multithreaded_cpu_fill_equals_single_thread():
    from fastgan import _C

    n = (1 << 20) + 3
    a = torch.empty(n)
    b = torch.empty(n)
    _C.cpu_fill(fr.FILL_UNIFORM_F32, a.data_ptr(), n, 77, (1 << 33) + 1, 1)
    _C.cpu_fill(fr.FILL_UNIFORM_F32, b.data_ptr(), n, 77, (1 << 33) + 1, 4)
    assert torch.equal(a, b)


def test_uniformity_ks_and_chisquare():
    u = fastgan.rand(200_000, generator=fastgan.Generator(2024)).double().numpy()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    counts = np.bincount((u * 64).astype(int), minlength=64)
    assert stats.chisquare(counts).pvalue > 1e-3
    bits = fr.randbits(200_000, generator=fastgan.Generator(7)).numpy().view(np.uint32)
    for shift in (0, 8, 16, 24):  # every byte of the raw words is uniform
        c = np.bincount((bits >> shift) & 0xFF, minlength=256)
        assert stats.chisquare(c).pvalue > 1e-3


def test_normal_distribution():
    z = fastgan.randn(200_000, generator=fastgan.Generator(11), dtype=torch.float64).numpy()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert np.isfinite(z).all()


@pytest.mark.parametrize("bad,exc,msg", [
    (lambda: fastgan.rand(-1), ValueError, "non-negative"),
    (lambda: fastgan.rand(2.5), TypeError, "size"),
    (lambda: fastgan.rand(3, dtype=torch.int64), TypeError, "dtype"),
    (lambda: fastgan.Generator(-1), ValueError, "seed"),
    (lambda: fastgan.Generator(2**64), ValueError, "seed"),
    (lambda: fastgan.Generator(1.5), TypeError, "seed"),
    (lambda: fastgan.manual_seed(-3), ValueError, "seed"),
    (lambda: fastgan.Generator().set_offset(-1), ValueError, "offset"),
    (lambda: fastgan.Generator().set_state(torch.zeros(3, dtype=torch.uint8)), ValueError, "16 bytes"),
    (lambda: fastgan.rand(3, generator=torch.Generator()), TypeError, "fastgan.Generator"),
    (lambda: fr.uniform_(torch.empty(4, 4).t()), ValueError, "contiguous"),
    (lambda: fr.uniform_(torch.empty(4, dtype=torch.int32)), TypeError, "dtype"),
    (lambda: fr.bits_(torch.empty(4)), TypeError, "dtype"),
    (lambda: fr.philox4x32([0, 0, 0], [0, 0]), ValueError, "4 words"),
    (lambda: fr.philox4x32([0, 0, 0, 2**32], [0, 0]), ValueError, "2\\*\\*32"),
])
def test_bad_input(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        bad()


def test_set_state_errors_name_the_problem():
    g = fastgan.Generator(4)
    state = g.get_state()
    with pytest.raises(ValueError, match=r"shape \(16,\).*got dtype torch.uint8 and shape \(4, 4\)"):
        g.set_state(state.reshape(4, 4))  # issue 12: "'list' object cannot be interpreted ..."
    with pytest.raises(ValueError, match="got dtype torch.int64 and shape"):
        g.set_state(state.long())
    with pytest.raises(TypeError, match="state must be a uint8 tensor .* got bytes"):
        g.set_state(bytes(16))
    with pytest.raises(ValueError, match="state is a meta tensor.*not supported"):
        g.set_state(torch.empty(16, dtype=torch.uint8, device="meta"))
    assert torch.equal(g.get_state(), state)  # untouched by the failed calls


def test_fill_kinds_match_the_extension():
    from fastgan import _C
    from fastgan._codes import FillKind

    assert {k.name: int(k) for k in FillKind} == {
        "BITS": _C.FILL_BITS, "UNIFORM_F32": _C.FILL_UNIFORM_F32, "UNIFORM_F64": _C.FILL_UNIFORM_F64,
        "NORMAL_F32": _C.FILL_NORMAL_F32, "NORMAL_F64": _C.FILL_NORMAL_F64}


@pytest.mark.interpreter
def test_interpreter_launches_from_four_threads():
    """Triton's interpreter is not thread-safe (issue 12: InterpreterError from concurrent
    launches); fastgan serialises interpreted launches, so four threads drawing, sampling and
    taking losses at once all succeed and give the single-threaded results."""
    import fastgan.sample as fs
    from fastgan.losses import generator_loss

    logits = torch.randn(300)

    def work(i):
        with fastgan.backend("triton"):
            return (fastgan.rand(1000, generator=fastgan.Generator(i)),
                    fs.normal(2, 300, generator=fastgan.Generator(i)),
                    fs.categorical(torch.ones(2, 5), 200, generator=fastgan.Generator(i)),
                    generator_loss(logits))

    barrier = threading.Barrier(4)
    results, errors = [None] * 4, []

    def run(i):
        barrier.wait()  # start together
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    for i in range(4):
        for got, expected in zip(results[i], work(i)):
            assert torch.equal(got, expected)


def test_inplace_fills_match_functional():
    g = fastgan.Generator(8)
    t = poison(torch.empty(3, 7))
    fr.normal_(t, generator=g)
    assert torch.equal(t, fastgan.randn(3, 7, generator=fastgan.Generator(8)))
    bits = fr.bits_(torch.empty(5, dtype=torch.int32), generator=fastgan.Generator(8))
    assert torch.equal(bits, fr.randbits(5, generator=fastgan.Generator(8)))


def test_backend_environment_variable(monkeypatch):
    from fastgan import _backend

    monkeypatch.setenv("FASTGAN_BACKEND", " Torch ")
    assert _backend.current() == "torch"
    monkeypatch.setenv("FASTGAN_BACKEND", "")
    assert _backend.current() == "auto"
    with fastgan.backend("triton"):  # the block wins over the variable
        assert _backend.current() == "triton"
    monkeypatch.setenv("FASTGAN_BACKEND", "gpu")
    with pytest.raises(ValueError, match="FASTGAN_BACKEND must be one of"):
        _backend.current()

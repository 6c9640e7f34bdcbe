// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// One header for host and device code so the CPU fill, the CUDA fill and the Triton
// kernels cannot drift apart. The stream convention (docs/random.md): value j of a draw that
// starts at counter `offset` is word (j % 4) of philox(counter = offset + j / 4 split into
// c0 = low 32 bits, c1 = high 32 bits, c2 = c3 = 0; key = (seed low, seed high)).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define FASTGAN_HD __host__ __device__ __forceinline__
#else
#define FASTGAN_HD inline
#endif

namespace fastgan {

struct U32x4 {
  uint32_t v[4];
};

constexpr uint32_t kPhiloxKeyA = 0x9E3779B9u;
constexpr uint32_t kPhiloxKeyB = 0xBB67AE85u;
constexpr uint32_t kPhiloxRoundA = 0xD2511F53u;
constexpr uint32_t kPhiloxRoundB = 0xCD9E8D57u;

FASTGAN_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Ten rounds of Philox4x32 on counter (c0..c3) with key (k0, k1).
FASTGAN_HD U32x4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                               uint32_t k0, uint32_t k1) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int r = 0; r < 10; ++r) {
    const uint32_t p0 = c0, p2 = c2;
    c0 = mulhi32(kPhiloxRoundB, p2) ^ c1 ^ k0;
    c2 = mulhi32(kPhiloxRoundA, p0) ^ c3 ^ k1;
    c1 = kPhiloxRoundB * p2;
    c3 = kPhiloxRoundA * p0;
    k0 += kPhiloxKeyA;
    k1 += kPhiloxKeyB;
  }
  return U32x4{{c0, c1, c2, c3}};
}

// Blocks counter0 .. counter0 + L - 1 of the stream for `seed`, word w of block i in c[w][i]:
// the same rounds as philox4x32_10, written lane by lane so that a CPU compiler vectorises the
// 32x32 -> 64-bit products across blocks (the host samplers' tiles).
template <int L>
inline void philox_lanes(uint64_t seed, uint64_t counter0, uint32_t (&c)[4][L]) {
  for (int i = 0; i < L; ++i) {
    const uint64_t ctr = counter0 + static_cast<uint64_t>(i);
    c[0][i] = static_cast<uint32_t>(ctr);
    c[1][i] = static_cast<uint32_t>(ctr >> 32);
    c[2][i] = 0u;
    c[3][i] = 0u;
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    for (int i = 0; i < L; ++i) {
      const uint64_t pa = static_cast<uint64_t>(kPhiloxRoundA) * c[0][i];
      const uint64_t pb = static_cast<uint64_t>(kPhiloxRoundB) * c[2][i];
      const uint32_t n0 = static_cast<uint32_t>(pb >> 32) ^ c[1][i] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(pa >> 32) ^ c[3][i] ^ k1;
      c[1][i] = static_cast<uint32_t>(pb);
      c[3][i] = static_cast<uint32_t>(pa);
      c[0][i] = n0;
      c[2][i] = n2;
    }
    k0 += kPhiloxKeyA;
    k1 += kPhiloxKeyB;
  }
}

// Block `counter` of the stream for `seed`.
FASTGAN_HD U32x4 philox_block(uint64_t seed, uint64_t counter) {
  return philox4x32_10(static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u,
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Triton's uint32 -> float mapping (triton.language.random.uint_to_uniform_float):
// reinterpret as int32, fold negatives with -x-1, multiply by the largest scale that keeps
// INT32_MAX * scale < 1 in float32. Both operands are float32, as in Triton.
FASTGAN_HD float uint_to_uniform(uint32_t bits) {
  int32_t x = static_cast<int32_t>(bits);
  x = x < 0 ? -x - 1 : x;
  return static_cast<float>(x) * 4.6566127342e-10f;
}

}  // namespace fastgan

// CPU fills: split the stream's blocks over std::threads (each block is independent).
#include <algorithm>
#include <stdexcept>
#include <thread>
#include <vector>

#include "fill.h"
#include "fastgan.h"
#include "parallel.h"

namespace fastgan {

namespace {

template <int Kind>
void fill_range(void* out, int64_t n, uint64_t seed, uint64_t offset, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) fill_block<Kind>(out, n, seed, offset, b);
}

template <int Kind>
void fill_threads(void* out, int64_t n, uint64_t seed, uint64_t offset, int num_threads) {
  // Threads only pay above ~64k blocks (a thread start costs ~20 us, a block ~10 ns).
  parallel_blocks((n + 3) / 4, num_threads, int64_t{1} << 16,
                  [&](int64_t b0, int64_t b1) { fill_range<Kind>(out, n, seed, offset, b0, b1); });
}

}  // namespace

void cpu_fill(int kind, void* out, int64_t n, uint64_t seed, uint64_t offset, int num_threads) {
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  if (n == 0) return;
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  switch (kind) {
    case kBits: return fill_threads<kBits>(out, n, seed, offset, num_threads);
    case kUniformF32: return fill_threads<kUniformF32>(out, n, seed, offset, num_threads);
    case kUniformF64: return fill_threads<kUniformF64>(out, n, seed, offset, num_threads);
    case kNormalF32: return fill_threads<kNormalF32>(out, n, seed, offset, num_threads);
    case kNormalF64: return fill_threads<kNormalF64>(out, n, seed, offset, num_threads);
    default: throw std::invalid_argument("unknown fill kind");
  }
}

}  // namespace fastgan

// Splitting a stream's blocks over std::threads, shared by the fills and the samplers.
#pragma once
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace fastgan {

// Calls fn(b0, b1) on disjoint ranges covering [0, blocks): on the calling thread alone when
// the work is small (a thread start costs ~20 us), else on up to num_threads threads (0 = all
// cores). min_per_thread is the smallest range worth a thread.
template <class Fn>
void parallel_blocks(int64_t blocks, int num_threads, int64_t min_per_thread, Fn&& fn) {
  if (blocks <= 0) return;
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int t = static_cast<int>(
      std::min<int64_t>(num_threads, std::max<int64_t>(1, blocks / std::max<int64_t>(1, min_per_thread))));
  if (t <= 1) {
    fn(int64_t{0}, blocks);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(t - 1);
  const int64_t chunk = (blocks + t - 1) / t;
  for (int i = 1; i < t; ++i) {
    const int64_t b0 = i * chunk, b1 = std::min(blocks, b0 + chunk);
    if (b0 >= b1) break;
    pool.emplace_back([&fn, b0, b1] { fn(b0, b1); });
  }
  fn(int64_t{0}, std::min(blocks, chunk));  // the caller takes the first range
  for (auto& th : pool) th.join();
}

}  // namespace fastgan

// Entry points of the fastgan._C extension (raw pointers; no libtorch linkage).
#pragma once
#include <cstdint>
#include <string>

namespace fastgan {

void cpu_fill(int kind, void* out, int64_t n, uint64_t seed, uint64_t offset, int num_threads);

#ifdef FASTGAN_WITH_CUDA
// Launches on `stream` (a cudaStream_t passed as an integer) of device `device`;
// returns an empty string on success, else the CUDA error text.
std::string cuda_fill(int kind, void* out, int64_t n, uint64_t seed, uint64_t offset,
                      uintptr_t stream, int device);
// cuRAND Philox reference stream (tests only): curand_init(seed, 0, 4 * offset), n x curand().
std::string curand_reference(void* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream);
bool has_curand();
#endif

}  // namespace fastgan

// CUDA fills: one thread per stream block (four outputs), grid-stride, on the caller's stream.
#include <cuda_runtime.h>

#include <string>

#include "fill.h"
#include "fastgan.h"

namespace fastgan {

namespace {

template <int Kind>
__global__ void fill_kernel(void* out, int64_t n, uint64_t seed, uint64_t offset) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    fill_block<Kind>(out, n, seed, offset, b);
  }
}

template <int Kind>
cudaError_t launch(void* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = (n + 3) / 4;
  int64_t grid = (blocks + threads - 1) / threads;
  if (grid > 65535 * 8) grid = 65535 * 8;
  fill_kernel<Kind><<<static_cast<unsigned>(grid), threads, 0, stream>>>(out, n, seed, offset);
  return cudaGetLastError();
}

}  // namespace

std::string cuda_fill(int kind, void* out, int64_t n, uint64_t seed, uint64_t offset,
                      uintptr_t stream_handle, int device) {
  if (n <= 0) return "";
  int prev = 0;
  cudaError_t err = cudaGetDevice(&prev);
  if (err != cudaSuccess) return cudaGetErrorString(err);
  if (prev != device && (err = cudaSetDevice(device)) != cudaSuccess) return cudaGetErrorString(err);
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(stream_handle);
  switch (kind) {
    case kBits: err = launch<kBits>(out, n, seed, offset, stream); break;
    case kUniformF32: err = launch<kUniformF32>(out, n, seed, offset, stream); break;
    case kUniformF64: err = launch<kUniformF64>(out, n, seed, offset, stream); break;
    case kNormalF32: err = launch<kNormalF32>(out, n, seed, offset, stream); break;
    case kNormalF64: err = launch<kNormalF64>(out, n, seed, offset, stream); break;
    default: err = cudaErrorInvalidValue;
  }
  if (prev != device) cudaSetDevice(prev);
  return err == cudaSuccess ? "" : cudaGetErrorString(err);
}

}  // namespace fastgan

// cuRAND's own Philox device API, for the test that our stream equals
// curand_init(seed, 0, 4 * offset) followed by curand() calls. Test-only; one thread.
#if __has_include(<curand_kernel.h>)
#include <curand_kernel.h>
#define FASTGAN_HAS_CURAND 1
#endif

namespace fastgan {
#ifdef FASTGAN_HAS_CURAND
namespace {
__global__ void curand_reference_kernel(uint32_t* out, int64_t n, uint64_t seed, uint64_t offset) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  curandStatePhilox4_32_10_t state;
  curand_init(seed, 0, 4 * offset, &state);
  for (int64_t i = 0; i < n; ++i) out[i] = curand(&state);
}
}  // namespace

std::string curand_reference(void* out, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream) {
  curand_reference_kernel<<<1, 1, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      static_cast<uint32_t*>(out), n, seed, offset);
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? "" : cudaGetErrorString(err);
}
bool has_curand() { return true; }
#else
std::string curand_reference(void*, int64_t, uint64_t, uint64_t, uintptr_t) {
  return "cuRAND headers were not found when fastgan was built";
}
bool has_curand() { return false; }
#endif
}  // namespace fastgan

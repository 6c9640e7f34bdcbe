// Entry points of the fastgan._C extension (raw pointers; no libtorch linkage).
#pragma once
#include <cstdint>
#include <string>

namespace fastgan {

void cpu_fill(int kind, void* out, int64_t n, uint64_t seed, uint64_t offset, int num_threads);

// Element dtypes of the samplers' buffers.
enum SampleDtype : int { kOutF32 = 0, kOutF64 = 1, kOutI64 = 2 };

// out (R, n) row-major, out_dtype kOutF32/kOutF64: out[r, i] = F⁻¹_family(u_{r·n+i}; rows[r]),
// rows (R, w) float64 parameter rows (fastgan.ops.sample.parametric_rows).
void cpu_sample_parametric(int family, void* out, int out_dtype, const double* rows, int64_t w,
                           int64_t r, int64_t n, uint64_t seed, uint64_t offset, int num_threads);
// out (R, K) float64: row-wise prefix sums of the weights as exact integer counts
// (fastgan.reference.sample.weight_counts, then cumsum); w (R, K) float32/float64.
void cpu_categorical_table(const void* w, int w_dtype, int64_t r, int64_t k, double* out, int num_threads);
// Ragged cumulative tables: row r is table[start[r] : start[r] + lens[r]], its support points
// sup[sstart[r] : ...] (mode 1 only). Mode 0 (categorical) writes int64 bin indices, mode 1
// (inverse CDF) float32/float64 interpolated points. table_dtype, sup_dtype: kOutF32/kOutF64.
void cpu_sample_tabulated(int mode, void* out, int out_dtype, const void* table, int table_dtype,
                          const void* sup, int sup_dtype, const int64_t* start, const int64_t* lens,
                          const int64_t* sstart, int64_t r, int64_t n, uint64_t seed, uint64_t offset,
                          int num_threads);

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

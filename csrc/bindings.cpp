// pybind11 module fastgan._C: Philox blocks and stream fills on raw pointers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <stdexcept>

#include "fastgan.h"
#include "fill.h"
#include "philox.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastgan native extension: Philox4x32-10 counter-based RNG (CPU and, when built "
            "with nvcc, CUDA fills). Takes raw data pointers; does not link against libtorch.";

  m.def(
      "philox4x32",
      [](std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
        const fastgan::U32x4 r = fastgan::philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1]);
        return std::array<uint32_t, 4>{r.v[0], r.v[1], r.v[2], r.v[3]};
      },
      py::arg("counter"), py::arg("key"),
      "One Philox4x32-10 block: counter (4 uint32 words), key (2 uint32 words) -> 4 uint32 words.");

  m.def(
      "cpu_fill",
      [](int kind, uintptr_t ptr, int64_t n, uint64_t seed, uint64_t offset, int num_threads) {
        py::gil_scoped_release nogil;
        fastgan::cpu_fill(kind, reinterpret_cast<void*>(ptr), n, seed, offset, num_threads);
      },
      py::arg("kind"), py::arg("ptr"), py::arg("n"), py::arg("seed"), py::arg("offset"),
      py::arg("num_threads") = 0,
      "Fill n elements at ptr with the Philox stream (seed, offset). kind: 0 uint32 bits, 1 uniform "
      "float32, 2 uniform float64, 3 normal float32, 4 normal float64. num_threads 0 = all cores.");

  m.def(
      "cpu_sample_parametric",
      [](int family, uintptr_t out, int out_dtype, uintptr_t rows, int64_t w, int64_t r, int64_t n,
         uint64_t seed, uint64_t offset, int num_threads) {
        py::gil_scoped_release nogil;
        fastgan::cpu_sample_parametric(family, reinterpret_cast<void*>(out), out_dtype,
                                       reinterpret_cast<const double*>(rows), w, r, n, seed, offset,
                                       num_threads);
      },
      py::arg("family"), py::arg("out"), py::arg("out_dtype"), py::arg("rows"), py::arg("w"),
      py::arg("r"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("num_threads") = 0,
      "(R, n) samples of a parametric family (SamplerFamily code) into out (SAMPLE_F32/F64) from "
      "the (R, w) float64 parameter rows, on the Philox stream (seed, offset).");
  m.def(
      "cpu_sample_tabulated",
      [](int mode, uintptr_t out, int out_dtype, uintptr_t table, int table_dtype, uintptr_t sup,
         int sup_dtype, uintptr_t start, uintptr_t lens, uintptr_t sstart, int64_t r, int64_t n,
         uint64_t seed, uint64_t offset, int num_threads) {
        py::gil_scoped_release nogil;
        fastgan::cpu_sample_tabulated(mode, reinterpret_cast<void*>(out), out_dtype,
                                      reinterpret_cast<const void*>(table), table_dtype,
                                      reinterpret_cast<const void*>(sup), sup_dtype,
                                      reinterpret_cast<const int64_t*>(start),
                                      reinterpret_cast<const int64_t*>(lens),
                                      reinterpret_cast<const int64_t*>(sstart), r, n, seed, offset,
                                      num_threads);
      },
      py::arg("mode"), py::arg("out"), py::arg("out_dtype"), py::arg("table"), py::arg("table_dtype"),
      py::arg("sup"), py::arg("sup_dtype"), py::arg("start"), py::arg("lens"), py::arg("sstart"),
      py::arg("r"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("num_threads") = 0,
      "(R, n) draws from ragged cumulative tables (TabulatedMode code): int64 indices "
      "(categorical) or float32/float64 interpolated points (inverse CDF).");
  m.def(
      "cpu_categorical_table",
      [](uintptr_t w, int w_dtype, int64_t r, int64_t k, uintptr_t out, int num_threads) {
        py::gil_scoped_release nogil;
        fastgan::cpu_categorical_table(reinterpret_cast<const void*>(w), w_dtype, r, k,
                                       reinterpret_cast<double*>(out), num_threads);
      },
      py::arg("w"), py::arg("w_dtype"), py::arg("r"), py::arg("k"), py::arg("out"),
      py::arg("num_threads") = 0,
      "Categorical tables: out (R, K) float64 = cumsum(weight_counts(w)) row by row, w (R, K) "
      "float32 (SAMPLE_F32) or float64 (SAMPLE_F64).");
  m.attr("SAMPLE_F32") = static_cast<int>(fastgan::kOutF32);
  m.attr("SAMPLE_F64") = static_cast<int>(fastgan::kOutF64);
  m.attr("SAMPLE_I64") = static_cast<int>(fastgan::kOutI64);

#ifdef FASTGAN_WITH_CUDA
  m.attr("has_cuda") = true;
  m.attr("has_curand") = fastgan::has_curand();
  m.def(
      "cuda_fill",
      [](int kind, uintptr_t ptr, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream,
         int device) {
        const std::string err =
            fastgan::cuda_fill(kind, reinterpret_cast<void*>(ptr), n, seed, offset, stream, device);
        if (!err.empty()) throw std::runtime_error("fastgan._C.cuda_fill: " + err);
      },
      py::arg("kind"), py::arg("ptr"), py::arg("n"), py::arg("seed"), py::arg("offset"),
      py::arg("stream"), py::arg("device"),
      "Same as cpu_fill for a CUDA pointer, launched on the given cudaStream_t (as an integer).");
  m.def(
      "curand_reference",
      [](uintptr_t ptr, int64_t n, uint64_t seed, uint64_t offset, uintptr_t stream) {
        const std::string err =
            fastgan::curand_reference(reinterpret_cast<void*>(ptr), n, seed, offset, stream);
        if (!err.empty()) throw std::runtime_error("fastgan._C.curand_reference: " + err);
      },
      py::arg("ptr"), py::arg("n"), py::arg("seed"), py::arg("offset"), py::arg("stream"),
      "Test helper: n words of cuRAND's Philox4_32_10 after curand_init(seed, 0, 4*offset).");
#else
  m.attr("has_cuda") = false;
  m.attr("has_curand") = false;
#endif
  m.attr("FILL_BITS") = static_cast<int>(fastgan::kBits);
  m.attr("FILL_UNIFORM_F32") = static_cast<int>(fastgan::kUniformF32);
  m.attr("FILL_UNIFORM_F64") = static_cast<int>(fastgan::kUniformF64);
  m.attr("FILL_NORMAL_F32") = static_cast<int>(fastgan::kNormalF32);
  m.attr("FILL_NORMAL_F64") = static_cast<int>(fastgan::kNormalF64);
}

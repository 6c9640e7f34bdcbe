// Element-wise fills of the Philox stream, shared by the CPU and CUDA back ends.
#pragma once
#include <cmath>
#include <cstdint>

#include "philox.h"

namespace fastgan {

enum FillKind : int { kBits = 0, kUniformF32 = 1, kUniformF64 = 2, kNormalF32 = 3, kNormalF64 = 4 };

// Box-Muller exactly as triton.language.random.pair_uniform_to_normal, in float32.
FASTGAN_HD void normal_pair_f32(float u1, float u2, float* n1, float* n2) {
  u1 = u1 > 1.0e-7f ? u1 : 1.0e-7f;
  const float th = 6.283185307179586f * u2;
  const float r = sqrtf(-2.0f * logf(u1));
  *n1 = r * cosf(th);
  *n2 = r * sinf(th);
}

// The same transform carried out in float64 on the same float32 uniforms.
FASTGAN_HD void normal_pair_f64(float u1f, float u2f, double* n1, double* n2) {
  const double u1 = static_cast<double>(u1f) > 1.0e-7 ? static_cast<double>(u1f) : 1.0e-7;
  const double th = 6.283185307179586 * static_cast<double>(u2f);
  const double r = sqrt(-2.0 * log(u1));
  *n1 = r * cos(th);
  *n2 = r * sin(th);
}

// Writes the (up to) four outputs of stream block `b` (b counted from the draw's start) into
// out[4b .. 4b+3], clipped at n.
template <int Kind>
FASTGAN_HD void fill_block(void* out, int64_t n, uint64_t seed, uint64_t offset, int64_t b) {
  const U32x4 r = philox_block(seed, offset + static_cast<uint64_t>(b));
  const int64_t base = 4 * b;
  const int64_t cnt = (n - base) < 4 ? (n - base) : 4;
  if (Kind == kBits) {
    uint32_t* o = static_cast<uint32_t*>(out) + base;
    for (int i = 0; i < cnt; ++i) o[i] = r.v[i];
  } else if (Kind == kUniformF32 || Kind == kUniformF64) {
    for (int i = 0; i < cnt; ++i) {
      const float u = uint_to_uniform(r.v[i]);
      if (Kind == kUniformF32) static_cast<float*>(out)[base + i] = u;
      else static_cast<double*>(out)[base + i] = static_cast<double>(u);
    }
  } else {
    float u[4];
    for (int i = 0; i < 4; ++i) u[i] = uint_to_uniform(r.v[i]);
    if (Kind == kNormalF32) {
      float z[4];
      normal_pair_f32(u[0], u[1], &z[0], &z[1]);
      normal_pair_f32(u[2], u[3], &z[2], &z[3]);
      for (int i = 0; i < cnt; ++i) static_cast<float*>(out)[base + i] = z[i];
    } else {
      double z[4];
      normal_pair_f64(u[0], u[1], &z[0], &z[1]);
      normal_pair_f64(u[2], u[3], &z[2], &z[3]);
      for (int i = 0; i < cnt; ++i) static_cast<double*>(out)[base + i] = z[i];
    }
  }
}

}  // namespace fastgan

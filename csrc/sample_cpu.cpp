// Inverse-CDF samplers on CPU tensors: Philox uniforms and F⁻¹ fused in one pass over the output.
//
// The same steps as kernels/inverse_cdf.py and fastgan/reference/sample.py, in the same order of
// float64 operations, so integer outputs (categorical) are bit-identical to the reference and
// floats agree to a few float64 ulp (only the libm transcendental functions differ). Element j of
// an (R, n) output takes word j % 4 of stream counter offset + j / 4 (docs/random.md).
//
// The output is walked in tiles of kTile elements: one pass fills the tile's uniforms, then each
// run of elements that share a parameter row goes through a tight per-family loop (no per-element
// row division, no per-element family switch).
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "fastgan.h"
#include "parallel.h"
#include "philox.h"

namespace fastgan {

namespace {

constexpr int kTileBlocks = 64;
constexpr int kTile = 4 * kTileBlocks;
// A thread is worth ~4k blocks (16k samples, ~0.1-0.5 ms of work).
constexpr int64_t kMinBlocksPerThread = 4096;
constexpr double kPMin = 2.3283064365386963e-10;  // 2**-32: u = 0 where F⁻¹(0) = -inf
constexpr double kPi = 3.141592653589793;
constexpr double kTailZ = 30.0;
constexpr int kTailNewton = 3;

// AVX2 clones of the hot loops where the CPU has it (chosen once at load time); AVX2 alone
// brings no fused multiply-add, so both clones compute the same values.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FASTGAN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FASTGAN_CLONES
#endif

enum Family : int { kUniform = 0, kExponential = 1, kLaplace = 2, kLogistic = 3, kCauchy = 4, kNormal = 5 };
enum Mode : int { kCategorical = 0, kInverseCdf = 1 };

// Clamp that lets NaN through (as torch.clamp does).
inline double clampd(double x, double lo, double hi) { return x < lo ? lo : (x > hi ? hi : x); }

// Uniforms of elements [j0, j0 + cnt), j0 a multiple of 4, as float64 (widened float32 values).
FASTGAN_CLONES void tile_uniforms(uint64_t seed, uint64_t offset, int64_t j0, int cnt, double* u) {
  uint32_t c[4][kTileBlocks];
  philox_lanes<kTileBlocks>(seed, offset + static_cast<uint64_t>(j0 / 4), c);
  const int nb = (cnt + 3) / 4;
  for (int i = 0; i < nb; ++i) {
    for (int w = 0; w < 4; ++w) u[4 * i + w] = static_cast<double>(uint_to_uniform(c[w][i]));
  }
}

// Wichura's AS 241 (PPND16), constant term first, as in the reference.
constexpr double kA[8] = {3.3871328727963666080e+0, 1.3314166789178437745e+2, 1.9715909503065514427e+3,
                          1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
                          3.3430575583588128105e+4, 2.5090809287301226727e+3};
constexpr double kB[8] = {1.0, 4.2313330701600911252e+1, 6.8718700749205790830e+2, 5.3941960214247511077e+3,
                          2.1213794301586595867e+4, 3.9307895800092710610e+4, 2.8729085735721942674e+4,
                          5.2264952788528545610e+3};
constexpr double kC[8] = {1.42343711074968357734e+0, 4.63033784615654529590e+0, 5.76949722146069140550e+0,
                          3.64784832476320460504e+0, 1.27045825245236838258e+0, 2.41780725177450611770e-1,
                          2.27238449892691845833e-2, 7.74545014278341407640e-4};
constexpr double kD[8] = {1.0, 2.05319162663775882187e+0, 1.67638483018380384940e+0, 6.89767334985100004550e-1,
                          1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
                          1.05075007164441684324e-9};
constexpr double kE[8] = {6.65790464350110377720e+0, 5.46378491116411436990e+0, 1.78482653991729133580e+0,
                          2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                          2.71155556874348757815e-5, 2.01033439929228813265e-7};
constexpr double kF[8] = {1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
                          7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
                          2.04426310338993978564e-15};

// num(x)/den(x) by Horner's rule, written out so that loops calling it vectorise.
inline double rational(const double* num, const double* den, double x) {
  const double a = ((((((num[7] * x + num[6]) * x + num[5]) * x + num[4]) * x + num[3]) * x + num[2]) * x +
                    num[1]) * x + num[0];
  const double b = ((((((den[7] * x + den[6]) * x + den[5]) * x + den[4]) * x + den[3]) * x + den[2]) * x +
                    den[1]) * x + den[0];
  return a / b;
}

// Φ⁻¹ of a probability p ≤ ~1/2 whose log is logp (reference: ndtri_log), tail branches only.
inline double ndtri_tail(double logp) {
  const double s = std::sqrt(-std::min(logp, 0.0));
  return s <= 5.0 ? -rational(kC, kD, s - 1.6) : -rational(kE, kF, s - 5.0);
}

// M(x) - 1, M(x) = x·Φ(-x)/φ(x), for x ≥ kTailZ (reference: _mills_m1).
inline double mills_m1(double x) {
  const double r = 1.0 / x;
  const double w = r * r;
  constexpr double kMills[8] = {-1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0, 2027025.0};
  double acc = kMills[7];
  for (int i = 6; i >= 0; --i) acc = acc * w + kMills[i];
  return acc * w;
}

// δ ≥ 0 with Φ(-(A + δ)) = Φ(-A)·exp(-E) (reference: tail_offset).
inline double tail_offset(double a, double e) {
  double d = e * 2.0 / (a + std::sqrt(a * a + 2.0 * e));
  const double log_ma = std::log1p(mills_m1(a));
  for (int i = 0; i < kTailNewton; ++i) {
    const double x = a + d;
    const double mx = mills_m1(x);
    const double h = d * (a + 0.5 * d) + std::log1p(d / a) - (std::log1p(mx) - log_ma) - e;
    d = d - h * (1.0 + mx) / x;
  }
  return std::max(d, 0.0);
}

// x[i] = F⁻¹(u[i]) for one run of elements of the parameter row `row`. Three passes so the
// common case vectorises: every element as if central (AS 241's central rational, no log), then
// the ~15% in the tails (log and the tail rationals, scalar), then sign, clamps and scale.
FASTGAN_CLONES void normal_run(const double* u, int len, const double* row, double* x) {
  const double mean = row[0], std_ = row[1], a = row[2], b = row[3], alpha = row[4], beta = row[5];
  const double log_lo = row[6], r_lo = row[7], log_hi = row[8], r_hi = row[9];
  const double phi_lo = row[10], phi_hi = row[11];
  const double one_m_rlo = 1.0 - r_lo, one_m_rhi = 1.0 - r_hi;
  const bool far_hi = alpha >= kTailZ, far_lo = beta <= -kTailZ;
  double t[kTile], q[kTile], sgn[kTile];
  for (int i = 0; i < len; ++i) {
    const double p = u[i] > kPMin ? u[i] : kPMin;
    const double t_lo = p * one_m_rlo + r_lo;
    const double t_hi = (1.0 - p) * one_m_rhi + r_hi;
    const bool lower = (t_lo * phi_lo) <= (t_hi * phi_hi);  // invert whichever of P, Q is <= 1/2
    const double ti = lower ? t_lo : t_hi;
    const double qi = ti * (lower ? phi_lo : phi_hi) - 0.5;
    t[i] = ti;
    q[i] = qi;
    sgn[i] = lower ? 1.0 : -1.0;  // z or -z: multiplying by ±1 is exact
    x[i] = qi * rational(kA, kB, 0.180625 - qi * qi);
  }
  for (int i = 0; i < len; ++i) {
    if (q[i] < -0.425) x[i] = ndtri_tail((sgn[i] > 0.0 ? log_lo : log_hi) + std::log(t[i]));
  }
  for (int i = 0; i < len; ++i) x[i] = clampd(x[i] * sgn[i], alpha, beta) * std_ + mean;
  if (far_hi || far_lo) {
    // Far tails: the nearer bound moved inwards by σ·δ (the lower/upper choice above picked
    // that bound's tail, so t is that tail's t).
    const double anchor = far_hi ? alpha : -beta;
    for (int i = 0; i < len; ++i) {
      const double delta = tail_offset(anchor, -std::log(t[i]));
      x[i] = far_hi ? a + std_ * delta : b - std_ * delta;
    }
  }
  for (int i = 0; i < len; ++i) x[i] = clampd(x[i], a, b);
}

void parametric_run(int family, const double* u, int len, const double* row, double* x) {
  switch (family) {
    case kUniform: {
      const double low = row[0], width = row[1] - row[0];
      for (int i = 0; i < len; ++i) x[i] = u[i] * width + low;
      return;
    }
    case kExponential: {
      const double rate = row[0];
      for (int i = 0; i < len; ++i) x[i] = -std::log(1.0 - u[i]) / rate;
      return;
    }
    case kLaplace: {
      const double loc = row[0], scale = row[1];
      for (int i = 0; i < len; ++i) {
        const double p = std::max(u[i], kPMin);
        const bool lower = p < 0.5;
        const double z = std::log(lower ? 2.0 * p : 2.0 - 2.0 * p);
        x[i] = (lower ? z : -z) * scale + loc;
      }
      return;
    }
    case kLogistic: {
      const double loc = row[0], scale = row[1];
      for (int i = 0; i < len; ++i) {
        const double p = std::max(u[i], kPMin);
        x[i] = (std::log(p) - std::log(1.0 - p)) * scale + loc;
      }
      return;
    }
    case kCauchy: {
      const double loc = row[0], scale = row[1];
      for (int i = 0; i < len; ++i) {
        const double p = std::max(u[i], kPMin);
        const double m = std::min(p, 1.0 - p) * kPi;
        const double cot = std::cos(m) / std::sin(m);
        x[i] = (p < 0.5 ? -cot : cot) * scale + loc;
      }
      return;
    }
    case kNormal:
      normal_run(u, len, row, x);
      return;
    default:
      throw std::invalid_argument("unknown sampler family");
  }
}

template <class Out>
void store_saturated(const double* x, int len, Out* out) {
  const double m = static_cast<double>(std::numeric_limits<Out>::max());
  for (int i = 0; i < len; ++i) out[i] = static_cast<Out>(clampd(x[i], -m, m));
}

template <class Out>
void parametric_range(int family, Out* out, const double* rows, int64_t w, int64_t n, int64_t total,
                      uint64_t seed, uint64_t offset, int64_t b0, int64_t b1) {
  double u[kTile], x[kTile];
  for (int64_t tb = b0; tb < b1; tb += kTileBlocks) {
    const int64_t j0 = 4 * tb;
    const int cnt = static_cast<int>(std::min<int64_t>(4 * std::min<int64_t>(kTileBlocks, b1 - tb), total - j0));
    tile_uniforms(seed, offset, j0, cnt, u);
    for (int i = 0; i < cnt;) {
      const int64_t j = j0 + i;
      const int64_t r = j / n;
      const int len = static_cast<int>(std::min<int64_t>(cnt - i, (r + 1) * n - j));
      parametric_run(family, u + i, len, rows + r * w, x + i);
      i += len;
    }
    store_saturated(x, cnt, out + j0);
  }
}

template <class T>
inline double ld(const void* p, int64_t i) {
  return static_cast<double>(static_cast<const T*>(p)[i]);
}

// First k in [0, len - 1] with c[k] > t, by the kernel's bisection (a NaN entry stops it there).
template <class Tab>
inline int64_t search(const void* row, int64_t len, double t) {
  int64_t lo = 0, hi = len - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    const double c = ld<Tab>(row, mid);
    if (c > t) hi = mid;
    else if (c <= t) lo = mid + 1;
    else break;
  }
  return lo;
}

template <class Tab, class Sup, class Out>
void tabulated_range(int mode, Out* out, const Tab* table, const Sup* sup, const int64_t* start,
                     const int64_t* lens, const int64_t* sstart, int64_t n, int64_t total, uint64_t seed,
                     uint64_t offset, int64_t b0, int64_t b1) {
  double u[kTile];
  for (int64_t tb = b0; tb < b1; tb += kTileBlocks) {
    const int64_t j0 = 4 * tb;
    const int cnt = static_cast<int>(std::min<int64_t>(4 * std::min<int64_t>(kTileBlocks, b1 - tb), total - j0));
    tile_uniforms(seed, offset, j0, cnt, u);
    for (int i = 0; i < cnt;) {
      const int64_t j = j0 + i;
      const int64_t r = j / n;
      const int len = static_cast<int>(std::min<int64_t>(cnt - i, (r + 1) * n - j));
      const Tab* row = table + start[r];
      const int64_t k = lens[r];
      const double last = static_cast<double>(row[k - 1]);
      if (mode == kCategorical) {
        for (int e = i; e < i + len; ++e) {
          const int64_t idx = search<Tab>(row, k, u[e] * last);
          out[j0 + e] = static_cast<Out>(last > 0.0 ? idx : -1);
        }
      } else {
        const Sup* srow = sup + sstart[r];
        const double m = static_cast<double>(std::numeric_limits<Out>::max());
        for (int e = i; e < i + len; ++e) {
          const double t = u[e] * last;
          const int64_t lo = search<Tab>(row, k, t);
          const int64_t km1 = lo > 0 ? lo - 1 : 0;
          const double c1 = static_cast<double>(row[lo]), c0 = static_cast<double>(row[km1]);
          const double x1 = static_cast<double>(srow[lo]), x0 = static_cast<double>(srow[km1]);
          const double v = lo == 0 ? x0 : x0 + (t - c0) / (c1 - c0) * (x1 - x0);
          out[j0 + e] = static_cast<Out>(clampd(v, -m, m));
        }
      }
      i += len;
    }
  }
}

template <class Tab, class Sup, class Out>
void tabulated_threads(int mode, void* out, const void* table, const void* sup, const int64_t* start,
                       const int64_t* lens, const int64_t* sstart, int64_t n, int64_t total,
                       uint64_t seed, uint64_t offset, int num_threads) {
  parallel_blocks((total + 3) / 4, num_threads, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
    tabulated_range<Tab, Sup, Out>(mode, static_cast<Out*>(out), static_cast<const Tab*>(table),
                                   static_cast<const Sup*>(sup), start, lens, sstart, n, total, seed,
                                   offset, b0, b1);
  });
}

}  // namespace

void cpu_sample_parametric(int family, void* out, int out_dtype, const double* rows, int64_t w,
                           int64_t r, int64_t n, uint64_t seed, uint64_t offset, int num_threads) {
  if (family < kUniform || family > kNormal) throw std::invalid_argument("unknown sampler family");
  if (family == kNormal && w < 12) throw std::invalid_argument("normal rows need 12 columns");
  if (r < 0 || n < 0) throw std::invalid_argument("rows and n must be >= 0");
  const int64_t total = r * n;
  if (total == 0) return;
  const int64_t blocks = (total + 3) / 4;
  parallel_blocks(blocks, num_threads, kMinBlocksPerThread, [&](int64_t b0, int64_t b1) {
    if (out_dtype == kOutF64)
      parametric_range(family, static_cast<double*>(out), rows, w, n, total, seed, offset, b0, b1);
    else
      parametric_range(family, static_cast<float*>(out), rows, w, n, total, seed, offset, b0, b1);
  });
}

namespace {

// One categorical table row: count = floor(w · 2^(53 - L - e)) with max ≤ 2^e (frexp), as two
// exact power-of-two scalings (reference: weight_counts), then the running sum (exact integers).
template <class W>
inline void table_row(const W* w, int64_t k, int levels, double* o) {
  double m = static_cast<double>(w[0]);
  bool nan = m != m;
  for (int64_t j = 1; j < k; ++j) {
    const double v = static_cast<double>(w[j]);
    nan |= v != v;
    m = v > m ? v : m;
  }
  int e = 0;
  // a NaN or infinite maximum: exponent 0, as torch.frexp gives (only validate=False lets one in)
  if (!nan && std::isfinite(m)) std::frexp(m, &e);
  const int shift = 53 - levels - e;
  const int half = shift >= 0 ? shift / 2 : -((-shift + 1) / 2);  // floor(shift / 2)
  const double s1 = std::ldexp(1.0, half), s2 = std::ldexp(1.0, shift - half);
  for (int64_t j = 0; j < k; ++j) o[j] = std::floor((static_cast<double>(w[j]) * s1) * s2);
  double acc = 0.0;
  for (int64_t j = 0; j < k; ++j) o[j] = (acc += o[j]);
}

// x86-64's baseline has no rounding instruction (floor is a libm call); the AVX2 clone has one.
FASTGAN_CLONES void table_row_f32(const float* w, int64_t k, int levels, double* o) { table_row(w, k, levels, o); }
FASTGAN_CLONES void table_row_f64(const double* w, int64_t k, int levels, double* o) { table_row(w, k, levels, o); }

}  // namespace

void cpu_categorical_table(const void* w, int w_dtype, int64_t r, int64_t k, double* out, int num_threads) {
  if (r < 0 || k < 1) throw std::invalid_argument("weights need rows >= 0 and columns >= 1");
  if (w_dtype != kOutF32 && w_dtype != kOutF64) throw std::invalid_argument("weights must be float32 or float64");
  int levels = 0;  // ceil(log2 K) = bit length of K - 1
  for (int64_t v = k - 1; v > 0; v >>= 1) ++levels;
  parallel_blocks(r, num_threads, std::max<int64_t>(1, (int64_t{1} << 16) / k), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      if (w_dtype == kOutF64) table_row_f64(static_cast<const double*>(w) + i * k, k, levels, out + i * k);
      else table_row_f32(static_cast<const float*>(w) + i * k, k, levels, out + i * k);
    }
  });
}

void cpu_sample_tabulated(int mode, void* out, int out_dtype, const void* table, int table_dtype,
                          const void* sup, int sup_dtype, const int64_t* start, const int64_t* lens,
                          const int64_t* sstart, int64_t r, int64_t n, uint64_t seed, uint64_t offset,
                          int num_threads) {
  if (r < 0 || n < 0) throw std::invalid_argument("rows and n must be >= 0");
  const int64_t total = r * n;
  if (total == 0) return;
  if (mode == kCategorical) {
    if (out_dtype != kOutI64) throw std::invalid_argument("categorical draws are int64");
    if (table_dtype == kOutF64)
      return tabulated_threads<double, double, int64_t>(mode, out, table, sup, start, lens, sstart, n, total,
                                                        seed, offset, num_threads);
    return tabulated_threads<float, double, int64_t>(mode, out, table, sup, start, lens, sstart, n, total,
                                                     seed, offset, num_threads);
  }
  if (mode != kInverseCdf) throw std::invalid_argument("unknown tabulated mode");
  // float32/float64 tables and support points, float32/float64 samples: eight instantiations.
#define FASTGAN_TAB(T, S, O)                                                                        \
  return tabulated_threads<T, S, O>(mode, out, table, sup, start, lens, sstart, n, total, seed, offset, \
                                    num_threads)
  const bool t64 = table_dtype == kOutF64, s64 = sup_dtype == kOutF64, o64 = out_dtype == kOutF64;
  if (t64 && s64 && o64) FASTGAN_TAB(double, double, double);
  if (t64 && s64) FASTGAN_TAB(double, double, float);
  if (t64 && o64) FASTGAN_TAB(double, float, double);
  if (t64) FASTGAN_TAB(double, float, float);
  if (s64 && o64) FASTGAN_TAB(float, double, double);
  if (s64) FASTGAN_TAB(float, double, float);
  if (o64) FASTGAN_TAB(float, float, double);
  FASTGAN_TAB(float, float, float);
#undef FASTGAN_TAB
}

}  // namespace fastgan

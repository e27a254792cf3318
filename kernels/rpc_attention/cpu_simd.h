// Vectorized elementwise leaves of the fused CPU RPC-Attention kernel (rpc_attention_cpu.cpp).
//
// The project is compiled for the baseline x86-64 ISA (SSE2) so that one binary runs everywhere. These
// loops are the kernel's non-GEMM work (softmax rows, the ADMM updates and their adjoints). Each is a
// struct with an always-inline `run`; `dispatch<Kernel>(args...)` calls it through a wrapper compiled for
// AVX-512, AVX2+FMA or the baseline, chosen once from the running CPU's features. (GCC 12's
// target_clones("arch=x86-64-v4") resolver picked the baseline on an AVX-512 Xeon, so the choice is made
// here with __builtin_cpu_supports.) Only plain loops over raw pointers are compiled per ISA, no LibTorch
// code, so no ISA-specific copy of a shared inline function can leak into the rest of the program.
// Reductions use `#pragma omp simd reduction` (the project compiles with -fopenmp), which lets the compiler
// vectorize them without -ffast-math.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#define RPCT_ALWAYS_INLINE __attribute__((always_inline)) inline

// No trapping math for this header's functions only: with FP exceptions considered observable, GCC does not
// if-convert the float clamps and selects below into vector blends, and the loops stay scalar. Nothing in
// the program reads FP exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

namespace rpct::cpu_simd {

// Builtins, not std:: wrappers: a function outside this header's optimize region is not inlined into it,
// and a call leaves the loop scalar.
RPCT_ALWAYS_INLINE float abs_(float x) { return __builtin_fabsf(x); }
RPCT_ALWAYS_INLINE double abs_(double x) { return __builtin_fabs(x); }
RPCT_ALWAYS_INLINE float copysign_(float m, float s) { return __builtin_copysignf(m, s); }
RPCT_ALWAYS_INLINE double copysign_(double m, double s) { return __builtin_copysign(m, s); }

// Softmax arguments are clamped from below at the smallest value whose exp is still a normal number
// (+1 for rounding margin). Below that, exp would underflow into denormals: VML's exp takes a slow path
// for those and every FMA that reads a denormal takes a microcode assist. A clamped entry contributes
// e * FLT_MIN ~ 3.2e-38 instead of a smaller number or 0 to a softmax row whose largest term is 1, which
// changes nothing representable.
template <typename T>
constexpr T kExpLo = std::is_same_v<T, float> ? T(-86.3) : T(-707.4);

// exp(x) for float, x clamped to [kExpLo, 0] (every softmax argument here is s - max or s - lse <= 0, up
// to rounding): Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2, and the Cephes expf minimax
// polynomial (max relative error ~2 ulp), scaled by 2^k built in the exponent bits (k in [-125, 0], so
// the result is always a normal float). Branch-free, so it vectorizes.
RPCT_ALWAYS_INLINE float exp_clamped(float x) {
  // Value ternaries, not std::min/max (which select references and leave branches the vectorizer rejects).
  x = x < kExpLo<float> ? kExpLo<float> : x;
  x = x > 0.0f ? 0.0f : x;
  const float k = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  return y * __builtin_bit_cast(float, bits);
}
// float64 (tests and reference-grade runs): the library exp.
RPCT_ALWAYS_INLINE double exp_clamped(double x) {
  x = x < kExpLo<double> ? kExpLo<double> : x;
  return __builtin_exp(x > 0.0 ? 0.0 : x);
}

// Row-wise softmax of an (r, N) tile in place; m[i] = max_j s_ij, inv[i] = 1 / sum_j exp(s_ij - m[i]).
struct SoftmaxRows {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(T* tile, int64_t r, int64_t N, T* m_out, T* inv_out) {
    for (int64_t i = 0; i < r; ++i) {
      T* s = tile + i * N;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t j = 0; j < N; ++j) m = s[j] > m ? s[j] : m;
      T l = 0;
#pragma omp simd reduction(+ : l)
      for (int64_t j = 0; j < N; ++j) {
        const T e = exp_clamped(s[j] - m);
        s[j] = e;
        l += e;
      }
      const T inv = T(1) / l;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) s[j] *= inv;
      m_out[i] = m;
      inv_out[i] = inv;
    }
  }
};

// dS = scale * P * (dP - delta_i) over an (r, N) tile, in place in dp, with delta_i = sum_j P_ij dP_ij taken
// from the same tile (the softmax backward as LibTorch computes it). Flash attention's delta_i = dO_i . O_i is
// the same number in exact arithmetic, but when a softmax row is saturated dS is a tiny difference of large
// terms, and only a delta from these very P and dP values keeps sum_j dS_ij at rounding level: with
// dO . O the float32 key gradient at the DeiT-Tiny benchmark shape was ~100x further from float64 than
// LibTorch's float32 reference.
struct SoftmaxGradRows {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(const T* p, T* dp, int64_t r, int64_t N, T scale) {
    for (int64_t i = 0; i < r; ++i) {
      const T* pi = p + i * N;
      T* di = dp + i * N;
      T d = 0;
#pragma omp simd reduction(+ : d)
      for (int64_t j = 0; j < N; ++j) d += pi[j] * di[j];
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) di[j] = scale * pi[j] * (di[j] - d);
    }
  }
};

// sum |x| accumulated in double.
struct SumAbs {
  template <typename T>
  RPCT_ALWAYS_INLINE static double run(const T* x, int64_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t e = 0; e < n; ++e) s += abs_(static_cast<double>(x[e]));
    return s;
  }
};

// One ADMM step's elementwise part: X = K - L + Y; S = shrink(X, thresh); K2 = K - S - Y. The forward and
// the backward's recomputation both call this function (the same clone), so the shrink masks agree.
struct AdmmPrepare {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(const T* K, const T* L, const T* Y, T thresh, T* X, T* S, T* K2, int64_t n) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) {
      const T x = K[e] - L[e] + Y[e];
      const T shrunk = abs_(x) - thresh;
      const T s = shrunk > T(0) ? copysign_(shrunk, x) : T(0);
      X[e] = x;
      S[e] = s;
      K2[e] = K[e] - s - Y[e];
    }
  }
};

// Y += K - L - S (the scaled dual update).
struct AdmmDual {
  template <typename T>
  RPCT_ALWAYS_INLINE static void run(const T* K, const T* L, const T* S, T* Y, int64_t n) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) Y[e] += K[e] - L[e] - S[e];
  }
};

// The adjoint of one ADMM step's elementwise part, given dK2 (the attention backward's input gradient):
// K2 = K - S - Y_prev, S = shrink(X, thresh), X = K - L_prev + Y_prev. Updates GK, and overwrites gL with
// the adjoint of L_prev and gY with that of Y_prev. Returns d(loss)/d(thresh) of this step.
struct AdmmBackward {
  template <typename T>
  RPCT_ALWAYS_INLINE static double run(const T* X, T thresh, const T* dK2, T* gY, T* gL, T* GK, int64_t n) {
    double g_thresh = 0;
#pragma omp simd reduction(+ : g_thresh)
    for (int64_t e = 0; e < n; ++e) {
      const T gs = -gY[e] - dK2[e];
      const bool on = abs_(X[e]) - thresh > T(0);
      const T gx = on ? gs : T(0);
      g_thresh -= on ? static_cast<double>(X[e] > T(0) ? gs : -gs) : 0.0;
      GK[e] += gY[e] + dK2[e] + gx;
      gL[e] = -gx;
      gY[e] = gY[e] - dK2[e] + gx;
    }
    return g_thresh;
  }
};

// float -> bfloat16 bits, rounded to nearest even (the bf16 GEMM operands of the kernel's bf16 path): the upper
// 16 bits of x after adding 0x7FFF plus the lowest kept bit; a NaN stays a (quiet) NaN. Integer ops and a
// select, so it vectorizes (c10::BFloat16's constructor does the same per element through a call).
struct ToBf16 {
  RPCT_ALWAYS_INLINE static void run(const float* x, uint16_t* out, int64_t n) {
#pragma omp simd
    for (int64_t e = 0; e < n; ++e) {
      uint32_t u = __builtin_bit_cast(uint32_t, x[e]);
      const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
      out[e] = static_cast<uint16_t>(x[e] != x[e] ? 0x7FC0u : rounded);
    }
  }
};

// The ISA variants. An always-inline body inlines into a caller whose target is a superset of its own.
#if defined(__GNUC__) && defined(__x86_64__)
#define RPCT_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c")))
#define RPCT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))

enum class Isa { kBaseline, kAvx2, kAvx512 };
inline Isa detect_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Isa::kAvx2;
  return Isa::kBaseline;
}
inline Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}
template <typename Kernel, typename... Args>
RPCT_TARGET_AVX512 auto run_avx512(Args... args) {
  return Kernel::run(args...);
}
template <typename Kernel, typename... Args>
RPCT_TARGET_AVX2 auto run_avx2(Args... args) {
  return Kernel::run(args...);
}
template <typename Kernel, typename... Args>
auto run_baseline(Args... args) {
  return Kernel::run(args...);
}
template <typename Kernel, typename... Args>
auto dispatch(Args... args) {
  switch (isa()) {
    case Isa::kAvx512: return run_avx512<Kernel>(args...);
    case Isa::kAvx2: return run_avx2<Kernel>(args...);
    default: return run_baseline<Kernel>(args...);
  }
}
#else
template <typename Kernel, typename... Args>
auto dispatch(Args... args) {
  return Kernel::run(args...);
}
#endif

}  // namespace rpct::cpu_simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

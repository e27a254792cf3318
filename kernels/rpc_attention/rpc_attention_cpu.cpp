// The fused CPU kernel of RPC-Attention (n_iter >= 1) and of symmetric softmax attention (n_iter == 0).
//
// One task per (batch, head) (at::parallel_for over B*H). A task runs all iterations; each iteration's
// attention goes over row tiles of `rows` x N scores (sized to stay in L2), so at most one row tile of an
// N x N matrix exists per thread at any time. Forward keeps per iteration only L_t = A_t V (N x D);
// backward recomputes the elementwise ADMM states (X_t, S_t, K2_t, Y_t) from K and the saved L_t, and each
// attention tile as a full softmax (row max, exp, row sum) of the scores it recomputes from K2_t, so that
// every recomputed row of P sums to 1 to rounding (see sym_attention_backward; flash-attention style
// recomputation, without its saved log-sum-exp).
// GEMMs go straight to the BLAS that LibTorch carries (MKL's sgemm_/dgemm_), looked up as weak symbols with a
// plain fallback, so a LibTorch without them still works (slower).
// bfloat16 (the path CPU bf16 autocast takes): the kernel runs in float32 (PCP state, softmax statistics, score
// tiles, accumulators, the saved L_t) and only the GEMM operands are rounded to bfloat16: K2_t and V, the
// probability tile P, dO and the score-gradient tile dS, multiplied by MKL's cblas_gemm_bf16bf16f32 (float32
// accumulation and output; AMX / AVX512-BF16 where the CPU has them) -- the split that flash-attention kernels
// make on tensor cores. Inputs and outputs are bfloat16 tensors. The elementwise work (softmax rows with an
// inlined exp, the ADMM updates and their adjoints) is in cpu_simd.h, vectorized per ISA.
// Each task runs with flush-to-zero (core/ftz.h): the softmax of the later ADMM iterations is sharply
// peaked, exp(s - max) underflows into denormals for a large share of the scores (36% at the 4th iteration
// of the DeiT-Tiny benchmark), and MKL's sgemm ran ~10x slower on such tiles; values below FLT_MIN add
// nothing measurable to a row that sums to 1.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/ftz.h"
#include "kernels/rpc_attention/cpu_simd.h"
#include "kernels/rpc_attention/rpc_attention.h"

extern "C" {
void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc) __attribute__((weak));
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const double* alpha,
            const double* a, const int* lda, const double* b, const int* ldb, const double* beta, double* c,
            const int* ldc) __attribute__((weak));
// MKL's per-thread thread count.
// The Fortran entry (argument by pointer). The C entry MKL_Set_Num_Threads_Local(int) was seen to bind
// to this same address in some link orders, which then dereferenced the value 1 as a pointer.
int mkl_set_num_threads_local_(const int* n) __attribute__((weak));
// MKL's bf16 GEMM (CBLAS, LP64): C (float) = alpha op(A) op(B) + beta C, A and B bfloat16 bit patterns.
void cblas_gemm_bf16bf16f32(int layout, int transa, int transb, int m, int n, int k, float alpha, const uint16_t* a,
                            int lda, const uint16_t* b, int ldb, float beta, float* c, int ldc) __attribute__((weak));
}
namespace {
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;  // mkl_cblas.h's enum values
}

// Inside an at::parallel_for task MKL must run single-threaded (else it opens a nested OpenMP team per
// GEMM and the threads spin against each other). Sets MKL's thread-local count for the scope.
struct MklSingleThread {
  int prev = 0;
  MklSingleThread() {
    const int one = 1;
    if (mkl_set_num_threads_local_ != nullptr) prev = mkl_set_num_threads_local_(&one);
  }
  ~MklSingleThread() {
    if (mkl_set_num_threads_local_ != nullptr) mkl_set_num_threads_local_(&prev);
  }
};


namespace rpct {
namespace {

// Row-major C (M x N) = alpha * op(A) * op(B) + beta * C, with op(A) (M x K) and op(B) (K x N).
// Column-major BLAS sees the transposes: C^T = op(B)^T op(A)^T.
template <typename T>
void gemm_rm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
             int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const char ca = ta ? 'T' : 'N', cb = tb ? 'T' : 'N';
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int la = static_cast<int>(lda), lb = static_cast<int>(ldb), lc = static_cast<int>(ldc);
  if constexpr (std::is_same_v<T, float>) {
    if (sgemm_ != nullptr) return sgemm_(&cb, &ca, &m, &n, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
  } else {
    if (dgemm_ != nullptr) return dgemm_(&cb, &ca, &m, &n, &k, &alpha, B, &lb, A, &la, &beta, C, &lc);
  }
  // Fallback: plain loops (correct, slow). Only used when the BLAS symbols are absent.
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t p = 0; p < K; ++p) {
        const T a = ta ? A[p * lda + i] : A[i * lda + p];
        const T b = tb ? B[j * ldb + p] : B[p * ldb + j];
        acc += a * b;
      }
      C[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * ldc + j]);
    }
}

// The same product with bfloat16 operands (bit patterns) and a float32 result.
void gemm_rm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A, int64_t lda,
             const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (cblas_gemm_bf16bf16f32 != nullptr)
    return cblas_gemm_bf16bf16f32(kCblasRowMajor, ta ? kCblasTrans : kCblasNoTrans, tb ? kCblasTrans : kCblasNoTrans,
                                  static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A,
                                  static_cast<int>(lda), B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  auto f = [](uint16_t b) { return __builtin_bit_cast(float, static_cast<uint32_t>(b) << 16); };
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0;
      for (int64_t p = 0; p < K; ++p) acc += f(ta ? A[p * lda + i] : A[i * lda + p]) * f(tb ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
    }
}

// The GEMM operand type G of element type T: T itself, or bfloat16 (uint16_t bit patterns) for float's bf16 path.
// operand(x, n, scratch): x as G -- x itself, or its rounding written to scratch.
template <typename T, typename G>
const G* operand(const T* x, int64_t n, G* scratch) {
  if constexpr (std::is_same_v<T, G>) {
    return x;
  } else {
    cpu_simd::dispatch<cpu_simd::ToBf16>(x, scratch, n);
    return scratch;
  }
}
template <typename T, typename G>
constexpr bool kRounds = !std::is_same_v<T, G>;

// Rows per score tile: rows * N elements of T within ~256 KiB (an L2 share), at least 8, at most N.
template <typename T>
int64_t tile_rows(int64_t N) {
  const int64_t budget = (256 * 1024) / static_cast<int64_t>(sizeof(T));
  return std::max<int64_t>(1, std::min<int64_t>(N, std::max<int64_t>(8, budget / std::max<int64_t>(N, 1))));
}

// O = softmax(scale * Q Q^T) V over row tiles.
// Q, V, O: (N, D); tile: rows * N workspace; rowstat: 2 * rows scratch (a tile's row max and 1/rowsum).
// G: the GEMM operand type (T, or bfloat16 bits for float). Vg: V as G (the caller rounds it once per (batch,
// head), not once per iteration); g16: N D + rows N of G scratch when G != T (Q's and a tile's roundings).
template <typename T, typename G = T>
void sym_attention_forward(const T* Q, const G* Vg, T* O, int64_t N, int64_t D, T scale, T* tile, T* rowstat,
                           int64_t rows, G* g16 = nullptr) {
  const G* Qg = operand<T, G>(Q, N * D, g16);
  G* tile_g = g16 + (kRounds<T, G> ? N * D : 0);
  for (int64_t i0 = 0; i0 < N; i0 += rows) {
    const int64_t r = std::min(rows, N - i0);
    gemm_rm(false, true, r, N, D, scale, Qg + i0 * D, D, Qg, D, T(0), tile, N);  // (r, N)
    cpu_simd::dispatch<cpu_simd::SoftmaxRows>(tile, r, N, rowstat, rowstat + rows);
    gemm_rm(false, false, r, D, N, T(1), operand<T, G>(tile, r * N, tile_g), N, Vg, D, T(0), O + i0 * D, D);  // (r, D)
  }
}

// Backward of O = softmax(scale * Q Q^T) V given dO: dQ = (dQ overwritten), dV += .
// P is recomputed tile by tile as the full softmax of the recomputed scores, not as exp(s - m) / l with the
// forward's row max m and sum l: MKL's sgemm does not round the same product the same way at every call
// (its code path depends on the operands' addresses; the forward's K2 and the backward's copy lie at
// different offsets), and recomputed scores 1-2 ulp off the forward's (~4e-6 at scores ~50) made a
// saturated row's P_ii = exp(s_ii - m) ~ 1 +- 4e-6. Such a row no longer sums to 1, and dS_ii = P_ii (dP_ii -
// rowsum(P dP)), which must cancel to ~0 there, kept ~4e-6 |dP_ii|: the float32 key gradient was 10-400x
// further from float64 than LibTorch's float32 autograd on ~9% of random draws (README.md "Fused CPU
// kernel"). A softmax of the backward's own scores sums to 1 (its max entry is exp(0) = 1 exactly).
// Q, V, dO, dQ, dV: (N, D); tile_p, tile_dp: rows * N workspace; rowstat: 2 * rows scratch.
// G and Vg as in sym_attention_forward; g16 then holds 2 N D + rows N of scratch (Q, dO and a tile rounded).
template <typename T, typename G = T>
void sym_attention_backward(const T* Q, const G* Vg, const T* dO, T* dQ, T* dV, int64_t N, int64_t D, T scale,
                            T* tile_p, T* tile_dp, T* rowstat, int64_t rows, G* g16 = nullptr) {
  const int64_t ND = kRounds<T, G> ? N * D : 0;
  const G* Qg = operand<T, G>(Q, N * D, g16);
  const G* dOg = operand<T, G>(dO, N * D, g16 + ND);
  G* tile_g = g16 + 2 * ND;
  std::fill(dQ, dQ + N * D, T(0));
  for (int64_t i0 = 0; i0 < N; i0 += rows) {
    const int64_t r = std::min(rows, N - i0);
    gemm_rm(false, true, r, N, D, scale, Qg + i0 * D, D, Qg, D, T(0), tile_p, N);  // scores (r, N)
    cpu_simd::dispatch<cpu_simd::SoftmaxRows>(tile_p, r, N, rowstat, rowstat + rows);  // P (r, N)
    gemm_rm(true, false, N, D, r, T(1), operand<T, G>(tile_p, r * N, tile_g), N, dOg + i0 * D, D, T(1), dV,
            D);                                                                       // dV += P^T dO
    gemm_rm(false, true, r, N, D, T(1), dOg + i0 * D, D, Vg, D, T(0), tile_dp, N);  // dP = dO V^T
    cpu_simd::dispatch<cpu_simd::SoftmaxGradRows>(tile_p, tile_dp, r, N, scale);  // d(scores) * scale
    // scores_ij = scale q_i . q_j: dQ_i += dS_i: Q, dQ_j += dS_:j^T Q_i
    const G* dSg = operand<T, G>(tile_dp, r * N, tile_g);
    gemm_rm(false, false, r, D, N, T(1), dSg, N, Qg, D, T(1), dQ + i0 * D, D);
    gemm_rm(true, false, N, D, r, T(1), dSg, N, Qg + i0 * D, D, T(1), dQ, D);
  }
}

// The bf16 GEMM scratch of one task (G != T): `elems` bfloat16 values, else none.
template <typename T, typename G>
torch::Tensor g16_scratch(int64_t elems) {
  return torch::empty({kRounds<T, G> ? elems : 0}, torch::kBFloat16);
}
template <typename T, typename G>
G* g16_ptr(torch::Tensor& t) {
  if constexpr (kRounds<T, G>) return reinterpret_cast<G*>(t.data_ptr<at::BFloat16>());
  return nullptr;
}

template <typename T, typename G = T>
void forward_impl(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda, int64_t model_dim,
                  torch::Tensor& out, torch::Tensor& Ls, torch::Tensor& stats) {
  const int64_t BH = k.size(0) * k.size(1), N = k.size(2), D = k.size(3), T_ = std::max<int64_t>(n_iter, 1);
  const int64_t ND = N * D, rows = tile_rows<T>(N);
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  T* op = out.data_ptr<T>();
  T* lp = Ls.data_ptr<T>();
  T* stp = stats.data_ptr<T>();
  at::parallel_for(0, BH, 1, [&](int64_t begin, int64_t end) {
    MklSingleThread mkl_single;
    ScopedFlushDenormal ftz;  // see core/ftz.h: saturated softmax rows underflow into denormals
    // Workspace as one tensor (through c10's CPU allocator, so memory accounting sees it).
    auto ws = at::zeros({rows * N + 2 * rows + 5 * ND}, k.options());
    auto ws16 = g16_scratch<T, G>(2 * ND + rows * N);  // V rounded, then sym_attention_forward's scratch
    G* v16 = g16_ptr<T, G>(ws16);
    G* g16 = v16 + (kRounds<T, G> ? ND : 0);
    T* tile = ws.data_ptr<T>();
    T* rowstat = tile + rows * N;
    T* Y = rowstat + 2 * rows;
    T* X = Y + ND;
    T* S = X + ND;
    T* K2 = S + ND;
    const T* zeros = K2 + ND;  // stays 0
    for (int64_t bh = begin; bh < end; ++bh) {
      const T* K = kp + bh * ND;
      const G* V = operand<T, G>(vp + bh * ND, ND, v16);
      T* Lb = lp + bh * T_ * ND;
      const double sum_abs = cpu_simd::dispatch<cpu_simd::SumAbs>(K, ND);
      double thresh = 0;
      if (sum_abs > 0) thresh = lambda * static_cast<double>(N * model_dim) / (4.0 * sum_abs);
      else if (lambda > 0) thresh = std::numeric_limits<double>::infinity();
      stp[bh * 2] = static_cast<T>(sum_abs);
      stp[bh * 2 + 1] = static_cast<T>(thresh);
      if (n_iter == 0) {
        sym_attention_forward<T, G>(K, V, Lb, N, D, scale, tile, rowstat, rows, g16);
      } else {
        std::fill(Y, Y + ND, T(0));
        const T th = static_cast<T>(thresh);
        for (int64_t t = 0; t < n_iter; ++t) {
          const T* Lprev = t == 0 ? zeros : Lb + (t - 1) * ND;
          cpu_simd::dispatch<cpu_simd::AdmmPrepare>(K, Lprev, Y, th, X, S, K2, ND);
          sym_attention_forward<T, G>(K2, V, Lb + t * ND, N, D, scale, tile, rowstat, rows, g16);
          cpu_simd::dispatch<cpu_simd::AdmmDual>(K, Lb + t * ND, S, Y, ND);
        }
      }
      std::copy(Lb + (T_ - 1) * ND, Lb + T_ * ND, op + bh * ND);
    }
  });
}

template <typename T, typename G = T>
void backward_impl(const torch::Tensor& g, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& Ls,
                   const torch::Tensor& stats, int64_t n_iter, double lambda,
                   int64_t model_dim, torch::Tensor& gk, torch::Tensor& gv) {
  const int64_t BH = k.size(0) * k.size(1), N = k.size(2), D = k.size(3), T_ = std::max<int64_t>(n_iter, 1);
  const int64_t ND = N * D, rows = tile_rows<T>(N);
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(D)));
  const T* gp = g.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  const T* lp = Ls.data_ptr<T>();
  const T* stp = stats.data_ptr<T>();
  T* gkp = gk.data_ptr<T>();
  T* gvp = gv.data_ptr<T>();
  at::parallel_for(0, BH, 1, [&](int64_t begin, int64_t end) {
    MklSingleThread mkl_single;
    ScopedFlushDenormal ftz;  // see core/ftz.h: saturated softmax rows underflow into denormals
    // Workspace as one tensor (see forward): score tiles and their row statistics, per-iteration recomputed
    // states X_t and K2_t (this task only; O(n_iter N D)), adjoints.
    auto ws = at::zeros({2 * rows * N + 6 * ND + 2 * n_iter * ND + 2 * rows}, k.options());
    auto ws16 = g16_scratch<T, G>(3 * ND + rows * N);  // V rounded, then sym_attention_backward's scratch
    G* v16 = g16_ptr<T, G>(ws16);
    G* g16 = v16 + (kRounds<T, G> ? ND : 0);
    T* tile_p = ws.data_ptr<T>();
    T* tile_dp = tile_p + rows * N;
    T* gL = tile_dp + rows * N;
    T* gY = gL + ND;
    T* dK2 = gY + ND;
    T* Y = dK2 + ND;
    T* S = Y + ND;
    const T* zeros = S + ND;  // stays 0
    T* Xs = S + 2 * ND;
    T* K2s = Xs + n_iter * ND;
    T* rowstat = K2s + n_iter * ND;
    for (int64_t bh = begin; bh < end; ++bh) {
      const T* Gout = gp + bh * ND;
      const T* K = kp + bh * ND;
      const G* V = operand<T, G>(vp + bh * ND, ND, v16);
      const T* Lb = lp + bh * T_ * ND;
      T* GK = gkp + bh * ND;
      T* GV = gvp + bh * ND;
      std::fill(GV, GV + ND, T(0));
      if (n_iter == 0) {
        sym_attention_backward<T, G>(K, V, Gout, GK, GV, N, D, scale, tile_p, tile_dp, rowstat, rows, g16);
        continue;
      }
      const double sum_abs = static_cast<double>(stp[bh * 2]);
      const T th = stp[bh * 2 + 1];
      // Recompute the elementwise ADMM states of every iteration (bit-identical to the forward).
      std::fill(Y, Y + ND, T(0));
      for (int64_t t = 0; t < n_iter; ++t) {
        const T* Lprev = t == 0 ? zeros : Lb + (t - 1) * ND;
        cpu_simd::dispatch<cpu_simd::AdmmPrepare>(K, Lprev, Y, th, Xs + t * ND, S, K2s + t * ND, ND);
        cpu_simd::dispatch<cpu_simd::AdmmDual>(K, Lb + t * ND, S, Y, ND);
      }
      // Reverse sweep. gL: adjoint of L_t; gY: adjoint of Y_t (Y_T is unused: 0).
      std::copy(Gout, Gout + ND, gL);
      std::fill(gY, gY + ND, T(0));
      std::fill(GK, GK + ND, T(0));
      double g_thresh = 0;
      for (int64_t t = n_iter - 1; t >= 0; --t) {
        // Y_t = Y_{t-1} + K - L_t - S_t
        for (int64_t e = 0; e < ND; ++e) gL[e] -= gY[e];
        // L_t = softmax(scale K2_t K2_t^T) V
        sym_attention_backward<T, G>(K2s + t * ND, V, gL, dK2, GV, N, D, scale, tile_p, tile_dp, rowstat, rows, g16);
        // K2_t = K - S_t - Y_{t-1};  S_t = shrink(X_t, thresh);  X_t = K - L_{t-1} + Y_{t-1}
        g_thresh += cpu_simd::dispatch<cpu_simd::AdmmBackward>(Xs + t * ND, th, dK2, gY, gL, GK, ND);
      }
      // thresh = lambda * mu, mu = N * C / (4 sum|K|): d thresh / dK = -thresh / sum|K| * sign(K).
      if (sum_abs > 0 && lambda != 0.0) {
        const T c = static_cast<T>(-g_thresh * static_cast<double>(th) / sum_abs);
        for (int64_t e = 0; e < ND; ++e) GK[e] += K[e] > T(0) ? c : (K[e] < T(0) ? -c : T(0));
      }
    }
  });
}

}  // namespace

// Inputs checked by the op entry (rpc_attention_check_inputs, kCpu) and contiguous.
std::vector<torch::Tensor> rpc_attention_cpu_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                     double lambda, int64_t model_dim) {
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3), T_ = std::max<int64_t>(n_iter, 1);
  // bfloat16: float32 inside with bf16 GEMM operands; L_t and stats are saved in float32.
  const bool bf16 = k.scalar_type() == torch::kBFloat16;
  const auto kc = bf16 ? k.to(torch::kFloat) : k, vc = bf16 ? v.to(torch::kFloat) : v;
  auto out = torch::empty_like(kc);                                  // (B, H, N, D)
  auto Ls = torch::empty({B, H, T_, N, D}, kc.options());            // every iteration's L
  auto stats = torch::empty({B, H, 2}, kc.options());                // {sum|K|, thresh}
  if (bf16) {
    forward_impl<float, uint16_t>(kc, vc, n_iter, lambda, model_dim, out, Ls, stats);
  } else {
    AT_DISPATCH_FLOATING_TYPES(kc.scalar_type(), "rpc_attention_cpu_forward", [&] {
      forward_impl<scalar_t>(kc, vc, n_iter, lambda, model_dim, out, Ls, stats);
    });
  }
  return {bf16 ? out.to(torch::kBFloat16) : out, Ls, stats};
}

std::vector<torch::Tensor> rpc_attention_cpu_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                      const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                      int64_t n_iter, double lambda, int64_t model_dim) {
  TORCH_INTERNAL_ASSERT(saved.size() == 2, "rpc_attention_cpu_backward: saved is not what the forward returned");
  const bool bf16 = k.scalar_type() == torch::kBFloat16;  // as the forward: float32 inside
  const auto kc = bf16 ? k.to(torch::kFloat) : k, vc = bf16 ? v.to(torch::kFloat) : v;
  const auto gc = bf16 ? grad_out.to(torch::kFloat) : grad_out;
  auto gk = torch::empty_like(kc), gv = torch::empty_like(vc);
  if (bf16) {
    backward_impl<float, uint16_t>(gc, kc, vc, saved[0], saved[1], n_iter, lambda, model_dim, gk, gv);
    return {gk.to(torch::kBFloat16), gv.to(torch::kBFloat16)};
  }
  AT_DISPATCH_FLOATING_TYPES(k.scalar_type(), "rpc_attention_cpu_backward", [&] {
    backward_impl<scalar_t>(grad_out, k, v, saved[0], saved[1], n_iter, lambda, model_dim, gk, gv);
  });
  return {gk, gv};
}

}  // namespace rpct

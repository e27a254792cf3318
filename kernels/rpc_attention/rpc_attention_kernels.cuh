// Device code of the CUDA RPC-Attention / symmetric softmax attention kernels, and the host-side
// orchestration (which kernels, in which order, on which buffers) on raw pointers.
//
// Compiles two ways:
//   - under nvcc (__CUDACC__): real CUDA; rpc_attention_launch.cu instantiates it;
//   - under a host compiler: with kernels/cuda_emu/cuda_emu.h, which emulates the CUDA execution
//     model; the emu tests (tests/kernels/test_emu_*.cpp) run this exact source on the CPU.
// The only differences are three macros: RPCT_SHARED (a __shared__ array), RPCT_LAUNCH (kernel<<<>>>
// or emu::launch) and RPCT_CUDA_CHECK.
//
// Math: docs/rpc-attention.md#the-iteration, in the scaled-dual form Z = Y / mu
// (docs/rpc-attention.md#scaled-dual: mu is constant over the iterations, so the lines below are that
// iteration exactly and mu enters only through thresh = lambda * mu):
//   Z_0 = 0, L_0 = 0; for t = 1..T:
//     X_t = K - L_{t-1} + Z_{t-1};  S_t = shrink(X_t, thresh);  K2_t = K - S_t - Z_{t-1}
//     L_t = softmax(K2_t K2_t^T * scale) V;  Z_t = Z_{t-1} + K - L_t - S_t
//   out = L_T.
// Kernels (see README_cuda.md for the data flow and the cost model):
//   forward:  rpc_mu_kernel (sum|K| per (b,h), one pass) -> T x attn_fwd_kernel. Iteration t's
//             epilogue (its own rows) finishes the elementwise work: Z_t, and S_{t+1}, K2_{t+1} for
//             the next iteration; iteration 1's prologue computes K2_1 = K - shrink(K) while loading.
//   backward: per iteration t = T..1: rpc_bwd_rows_kernel (finishes the elementwise backward of
//             iteration t+1 and prepares dO_t of iteration t) -> attn_bwd_delta_kernel (delta_t =
//             rowsum(P dP)) -> attn_bwd_kernel (flash backward, dK2 by atomics); then
//             rpc_bwd_rows_kernel (iteration 1's elementwise part, d thresh) -> rpc_bwd_finish_kernel
//             (d mu term, casts).
// Numerics: inputs float32 or bfloat16; everything else (scores, softmax, accumulators, mu, the
// saved K2/S) in float32. Outputs (out, grad_k, grad_v) in the input dtype. The forward saves
// each row's max and 1/rowsum (not one log-sum-exp), the backward recomputes P from them and the scores of
// its own dot-product loop, bit-identical to the forward's (the fused CPU op recomputes the whole softmax,
// MKL's scores are not bit-reproducible; README.md "Fused CPU kernel"),
// and uses delta = rowsum(P * dP) (not rowsum(dO * L)); see BwdOperands::prob and attn_bwd_delta_kernel.
//
// Deliberately broken variants, for the emu tests that prove the emulator catches them:
//   RPCT_EMU_BREAK_SYNC        drops the __syncthreads after the K/V tile load (forward and backward);
//   RPCT_EMU_BREAK_TILE_BOUND  off-by-one in the forward's key mask (c < N becomes c <= N).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/rpc_attention/rpc_attention_cuda_params.h"
#include "kernels/rpc_attention/rpc_pcp_step.h"

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#define RPCT_SHARED(type, name, dims) __shared__ type name dims
#define RPCT_CUDA_CHECK(expr)                                                                             \
  do {                                                                                                    \
    const cudaError_t rpct_err_ = (expr);                                                                 \
    if (rpct_err_ != cudaSuccess)                                                                         \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " #expr ": " + \
                               cudaGetErrorString(rpct_err_));                                            \
  } while (0)
#define RPCT_LAUNCH(kernel, grid, block, stream, ...)   \
  do {                                                  \
    kernel<<<grid, block, 0, stream>>>(__VA_ARGS__);    \
    RPCT_CUDA_CHECK(cudaGetLastError());                \
  } while (0)
namespace rpct {
using gpu_stream_t = cudaStream_t;
}
#else
#include "kernels/cuda_emu/cuda_emu.h"
#define RPCT_SHARED(type, name, dims) RPCT_EMU_SHARED(type, name, dims)
#define RPCT_CUDA_CHECK(expr) (void)(expr)
#define RPCT_LAUNCH(kernel, grid, block, stream, ...) ::rpct::emu::launch(kernel, grid, block, __VA_ARGS__)
namespace rpct {
using gpu_stream_t = void*;
}
#endif

// Every kernel lives in this namespace; a test translation unit that builds a broken variant
// renames it (e.g. -DRPCT_KERNELS_NS=kernels_broken_sync), so that the variants do not collide (ODR).
#ifndef RPCT_KERNELS_NS
#define RPCT_KERNELS_NS kernels_v1
#endif

namespace rpct {
namespace RPCT_KERNELS_NS {

using bf16_t = __nv_bfloat16;

constexpr int kThreads = 128;  // 4 warps per block, every kernel
constexpr int kWarps = kThreads / 32;
constexpr int kBC = 32;  // keys per tile: one key per lane
constexpr unsigned kFullMask = 0xffffffffu;

// ---- small device helpers ----
__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16_t x) { return __bfloat162float(x); }
__device__ __forceinline__ double to_f(double x) { return x; }  // the emulator's float64 PCP kernels
template <class T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }
template <>
__device__ __forceinline__ bf16_t from_f<bf16_t>(float x) { return __float2bfloat16(x); }

// sign(x) * max(|x| - thresh, 0); thresh may be +inf (then 0). The PCP steps' one definition.
__device__ __forceinline__ float shrink(float x, float thresh) { return pcp::shrink(x, thresh); }

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(kFullMask, x, o);
  return x;
}

// Tile shapes per head dim (static shared memory stays under 48 KiB; the emulator enforces it).
template <int D>
struct Tiles {
  static_assert(D == 32 || D == 64 || D == 128, "head dim must be 32, 64 or 128");
  static constexpr int kFwdBR = D == 128 ? 16 : 32;  // query rows per forward block
  static constexpr int kBwdBR = D == 128 ? 8 : 32;   // query rows per step of the backward
  static constexpr int kDeltaBR = D == 128 ? 8 : 32;  // query rows per block of the delta kernel
  static constexpr int kPerLane = D / 32;            // head-dim elements per lane
};

// ============================== forward ==============================

// sum|K| per (b,h) in one pass, then thresh = lambda * mu, mu = N * model_dim / (4 sum|K|).
// sum|K| == 0: thresh = +inf when lambda > 0 (S = 0, the limit), 0 when lambda == 0.
// grid (BH), block kThreads.
template <class T>
__global__ void __launch_bounds__(kThreads) rpc_mu_kernel(RpcFwdArgs p) {
  const int bh = blockIdx.x;
  const T* k = static_cast<const T*>(p.k) + bh * p.dims.bh_stride;
  const int n = p.dims.N * p.dims.D;
  float acc = 0.f;
  for (int e = threadIdx.x; e < n; e += kThreads) {
    const int r = e / p.dims.D, d = e % p.dims.D;
    acc += fabsf(to_f(k[r * p.dims.row_stride + d]));
  }
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(kFullMask, acc, o);
  RPCT_SHARED(float, warp_part, [kWarps]);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_part[warp] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int w = 0; w < kWarps; ++w) s += warp_part[w];
    p.abs_sum[bh] = s;
    float th;
    if (s > 0.f) {
      th = p.lambda * (static_cast<float>(p.dims.N) * p.model_dim / (4.f * s));
    } else {
      th = p.lambda > 0.f ? INFINITY : 0.f;
    }
    p.thresh[bh] = th;
  }
}

enum class KeySrc { kInput, kInputShrunk, kK2 };  // keys: K, K - shrink(K) (RPC iteration 1), K2_t (fp32)
enum class Epi { kPlain, kRpc };                   // epilogue: write out + row stats, or the RPC step

struct AttnFwdIter {
  int t;  // 1-based iteration (0 for plain attention)
};

template <class T, KeySrc kSrc>
__device__ __forceinline__ float load_key(const RpcFwdArgs& p, const float* k2, int bh, int r, int d, float thresh) {
  if (kSrc == KeySrc::kK2) return k2[(static_cast<long long>(bh) * p.dims.N + r) * p.dims.D + d];
  const float kv = to_f(static_cast<const T*>(p.k)[bh * p.dims.bh_stride + r * p.dims.row_stride + d]);
  return kSrc == KeySrc::kInputShrunk ? kv - shrink(kv, thresh) : kv;
}

// One block: BR query rows of one (b,h) against all keys, 32 keys per tile; flash-attention online
// softmax. Warp w owns rows [w*BR/4, (w+1)*BR/4); for scores, lane = key; for the output, lane owns
// head-dim elements lane + 32*i. grid (ceil(N/BR), BH), block kThreads.
template <class T, int D, KeySrc kSrc, Epi kEpi>
__global__ void __launch_bounds__(kThreads) attn_fwd_kernel(RpcFwdArgs p, AttnFwdIter it) {
  constexpr int BR = Tiles<D>::kFwdBR, kRows = BR / kWarps, kPL = Tiles<D>::kPerLane;
  const int N = p.dims.N;
  const int bh = blockIdx.y, row0 = blockIdx.x * BR;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const long long nd = static_cast<long long>(N) * D;
  const float scale = 1.f / sqrtf(static_cast<float>(D));
  const float thresh = kEpi == Epi::kRpc ? p.thresh[bh] : 0.f;
  const float* k2_in = kSrc == KeySrc::kK2 ? p.k2s + (it.t - 1) * p.dims.BH * nd : nullptr;

  RPCT_SHARED(float, sQ, [BR][D + 1]);   // +1: no bank conflicts when lanes walk rows
  RPCT_SHARED(float, sK, [kBC][D + 1]);
  RPCT_SHARED(float, sV, [kBC][D]);
  RPCT_SHARED(float, sP, [BR][kBC + 1]);

  for (int e = tid; e < BR * D; e += kThreads) {  // prologue: the query tile (= keys of these rows)
    const int r = e / D, d = e % D, gr = row0 + r;
    sQ[r][d] = gr < N ? load_key<T, kSrc>(p, k2_in, bh, gr, d, thresh) : 0.f;
  }

  float o[kRows][kPL];
  float m[kRows], l[kRows];
  for (int i = 0; i < kRows; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
    for (int j = 0; j < kPL; ++j) o[i][j] = 0.f;
  }

  const T* v = static_cast<const T*>(p.v) + bh * p.dims.bh_stride;
  for (int c0 = 0; c0 < N; c0 += kBC) {
    __syncthreads();  // the previous tile is consumed (and the query tile is loaded)
    for (int e = tid; e < kBC * D; e += kThreads) {
      const int c = e / D, d = e % D, gc = c0 + c;
      const bool ok = gc < N;
      sK[c][d] = ok ? load_key<T, kSrc>(p, k2_in, bh, gc, d, thresh) : 0.f;
      sV[c][d] = ok ? to_f(v[gc * p.dims.row_stride + d]) : 0.f;
    }
#ifndef RPCT_EMU_BREAK_SYNC
    __syncthreads();  // the tile is loaded
#endif
#ifdef RPCT_EMU_BREAK_TILE_BOUND
    const bool key_ok = c0 + lane <= N;
#else
    const bool key_ok = c0 + lane < N;
#endif
    for (int i = 0; i < kRows; ++i) {
      const int r = warp * kRows + i;
      float s = 0.f;
      for (int d = 0; d < D; ++d) s += sQ[r][d] * sK[lane][d];
      s = key_ok ? s * scale : -INFINITY;
      const float m_new = fmaxf(m[i], warp_max(s));  // finite: key c0 < N is always valid
      const float pr = expf(s - m_new);
      const float corr = expf(m[i] - m_new);        // 0 on the first tile (m = -inf)
      l[i] = l[i] * corr + warp_sum(pr);
      m[i] = m_new;
      for (int j = 0; j < kPL; ++j) o[i][j] *= corr;
      sP[r][lane] = pr;
    }
    __syncwarp();  // sP rows of this warp are written
    for (int i = 0; i < kRows; ++i) {
      const int r = warp * kRows + i;
      for (int c = 0; c < kBC; ++c) {
        const float pr = sP[r][c];
        for (int j = 0; j < kPL; ++j) o[i][j] += pr * sV[c][lane + 32 * j];
      }
    }
  }

  // ---- epilogue (own rows) ----
  const long long io_base = bh * p.dims.bh_stride;
  const long long f_base = bh * nd;
  const int T_ = p.n_iter;
  for (int i = 0; i < kRows; ++i) {
    const int r = warp * kRows + i, gr = row0 + r;
    if (gr >= N) continue;
    const float inv_l = 1.f / l[i];
    const int stats_iter = kEpi == Epi::kRpc ? it.t - 1 : 0;
    if (lane == 0) {  // row max and 1/rowsum, not one log-sum-exp: see row_stats in rpc_attention_cuda_params.h
      float* stats = p.row_stats + static_cast<long long>(stats_iter) * 2 * p.dims.BH * N + static_cast<long long>(bh) * N;
      stats[gr] = m[i];
      stats[static_cast<long long>(p.dims.BH) * N + gr] = inv_l;
    }
    for (int j = 0; j < kPL; ++j) {
      const int d = lane + 32 * j;
      const float Lv = o[i][j] * inv_l;
      const long long io = io_base + gr * p.dims.row_stride + d;
      if (kEpi == Epi::kPlain) {
        static_cast<T*>(p.out)[io] = from_f<T>(Lv);
        continue;
      }
      const long long fi = f_base + static_cast<long long>(gr) * D + d;
      const long long cur = static_cast<long long>(it.t - 1) * p.dims.BH * nd + fi;  // iteration t's slot
      const float kv = to_f(static_cast<const T*>(p.k)[io]);
      float s_t, z_prev;
      if (it.t == 1) {  // S_1, K2_1 of these rows, exactly as the prologue computed them
        s_t = shrink(kv, thresh);
        z_prev = 0.f;
        p.ss[cur] = s_t;
        p.k2s[cur] = sQ[r][d];
      } else {
        s_t = p.ss[cur];
        z_prev = p.z[fi];
      }
      if (it.t < T_) {  // the PCP step between iterations t and t+1 (rpc_pcp_step.h)
        float z_t, s_next, k2_next;
        pcp::forward(false, kv, Lv, z_prev, s_t, thresh, z_t, s_next, k2_next);
        const long long nxt = cur + p.dims.BH * nd;
        p.z[fi] = z_t;
        p.ss[nxt] = s_next;
        p.k2s[nxt] = k2_next;
      } else {
        static_cast<T*>(p.out)[io] = from_f<T>(Lv);
      }
    }
  }
}

// ============================== backward ==============================

struct AttnBwdIter {
  int t;  // 1-based iteration (0: plain attention)
};

// The operands of iteration t's attention backward, as float: keys (= queries) K2_t (or K for plain
// attention, t == 0), the output gradient dO_t (or grad_out), and the forward's softmax row statistics.
template <class T>
struct BwdOperands {
  const float* k2;        // (N, D) K2_t of this (b,h), t >= 1
  const float* dout;      // (N, D) dO_t, t >= 1
  const T* kin;           // this (b,h)'s K, t == 0
  const T* gout;          // this (b,h)'s grad_out, t == 0
  const float* row_max;   // (N) max_c s_rc
  const float* inv_sum;   // (N) 1 / sum_c exp(s_rc - max)
  long long row_stride;
  int D;
  bool rpc;
  __device__ __forceinline__ float key(int r, int d) const {
    return rpc ? k2[static_cast<long long>(r) * D + d] : to_f(kin[r * row_stride + d]);
  }
  __device__ __forceinline__ float dout_at(int r, int d) const {
    return rpc ? dout[static_cast<long long>(r) * D + d] : to_f(gout[r * row_stride + d]);
  }
  // P_rc recomputed with the forward's operations: exp(s * scale - max) * (1 / sum). No log-sum-exp: in
  // saturated rows (scores ~150 from the second RPC iteration on) a float32 lse carries ~ulp(150) ~ 1e-5
  // absolute error into every exponent, which the nearly cancelling key gradient amplifies ~100x.
  __device__ __forceinline__ float prob(float dot, float scale, int r) const {
    return expf(dot * scale - row_max[r]) * inv_sum[r];
  }
};

template <class T>
__device__ __forceinline__ BwdOperands<T> bwd_operands(const RpcBwdArgs& p, int t, int bh, int D) {
  const int N = p.dims.N;
  const long long nd = static_cast<long long>(N) * D, f_base = bh * nd, io_base = bh * p.dims.bh_stride;
  const long long slice = static_cast<long long>(p.dims.BH) * N;
  const float* stats = p.row_stats + static_cast<long long>(t > 0 ? t - 1 : 0) * 2 * slice + static_cast<long long>(bh) * N;
  BwdOperands<T> o;
  o.k2 = t > 0 ? p.k2s + (t - 1) * p.dims.BH * nd + f_base : nullptr;
  o.dout = p.dout + f_base;
  o.kin = static_cast<const T*>(p.k) + io_base;
  o.gout = static_cast<const T*>(p.grad_out) + io_base;
  o.row_max = stats;
  o.inv_sum = stats + slice;
  o.row_stride = p.dims.row_stride;
  o.D = D;
  o.rpc = t > 0;
  return o;
}

// delta_r = rowsum_c(P_rc dP_rc), dP = dO V^T, of iteration t's attention, with P recomputed exactly as
// attn_bwd_kernel recomputes it. Not rowsum(dO_r . L_r) (equal in exact arithmetic): in a saturated row
// dS = P (dP - delta) is a tiny difference of large terms, and only a delta summed from the very P and dP
// that dS uses cancels with them (as the fused CPU op does; README.md "Fused CPU kernel").
// One block: BR query rows of one (b,h), all keys in 32-key tiles; warp w owns rows [w*BR/4, (w+1)*BR/4),
// lane = key. grid (ceil(N/BR), BH).
template <class T, int D>
__global__ void __launch_bounds__(kThreads) attn_bwd_delta_kernel(RpcBwdArgs p, AttnBwdIter it) {
  constexpr int BR = Tiles<D>::kDeltaBR, kRows = BR / kWarps;
  const int N = p.dims.N;
  const int bh = blockIdx.y, row0 = blockIdx.x * BR;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const float scale = 1.f / sqrtf(static_cast<float>(D));
  const BwdOperands<T> op = bwd_operands<T>(p, it.t, bh, D);
  const T* vin = static_cast<const T*>(p.v) + bh * p.dims.bh_stride;

  RPCT_SHARED(float, sQ, [BR][D + 1]);
  RPCT_SHARED(float, sdO, [BR][D + 1]);
  RPCT_SHARED(float, sK, [kBC][D + 1]);
  RPCT_SHARED(float, sV, [kBC][D + 1]);
  for (int e = tid; e < BR * D; e += kThreads) {
    const int r = e / D, d = e % D, gr = row0 + r;
    sQ[r][d] = gr < N ? op.key(gr, d) : 0.f;
    sdO[r][d] = gr < N ? op.dout_at(gr, d) : 0.f;
  }
  float acc[kRows];
  for (int i = 0; i < kRows; ++i) acc[i] = 0.f;
  for (int c0 = 0; c0 < N; c0 += kBC) {
    __syncthreads();  // the previous key tile is consumed (and the query rows are loaded)
    for (int e = tid; e < kBC * D; e += kThreads) {
      const int c = e / D, d = e % D, gc = c0 + c;
      sK[c][d] = gc < N ? op.key(gc, d) : 0.f;
      sV[c][d] = gc < N ? to_f(vin[gc * p.dims.row_stride + d]) : 0.f;
    }
    __syncthreads();  // the key tile is loaded
    const bool key_ok = c0 + lane < N;
    for (int i = 0; i < kRows; ++i) {
      const int r = warp * kRows + i;
      if (!key_ok || row0 + r >= N) continue;
      float s = 0.f, dp = 0.f;
      for (int d = 0; d < D; ++d) {  // the same order as attn_bwd_kernel: the same P
        s += sQ[r][d] * sK[lane][d];
        dp += sdO[r][d] * sV[lane][d];
      }
      acc[i] += op.prob(s, scale, row0 + r) * dp;
    }
  }
  for (int i = 0; i < kRows; ++i) {
    const float total = warp_sum(acc[i]);
    const int gr = row0 + warp * kRows + i;
    if (lane == 0 && gr < N) p.delta[static_cast<long long>(bh) * N + gr] = total;
  }
}

// Flash-attention backward of L = softmax(Q K^T * scale) V with Q = K = K2_t (or K): one block per
// tile of 32 keys; it loops over all query tiles. dV_c, and the key part of dK, accumulate in
// registers; the query part dQ_r goes to gk2 by atomicAdd (as does the key part at the end, since
// other blocks add to the same rows). gv += dV (this block owns the rows). grid (ceil(N/32), BH).
template <class T, int D>
__global__ void __launch_bounds__(kThreads) attn_bwd_kernel(RpcBwdArgs p, AttnBwdIter it) {
  constexpr int BR = Tiles<D>::kBwdBR, kPL = Tiles<D>::kPerLane, kKeyRows = kBC / kWarps;
  constexpr int kQRows = BR / kWarps;
  const int N = p.dims.N;
  const int bh = blockIdx.y, c0 = blockIdx.x * kBC;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const long long nd = static_cast<long long>(N) * D;
  const float scale = 1.f / sqrtf(static_cast<float>(D));
  const long long f_base = bh * nd;
  const float* delta = p.delta + static_cast<long long>(bh) * N;
  const BwdOperands<T> op = bwd_operands<T>(p, it.t, bh, D);
  const T* vin = static_cast<const T*>(p.v) + bh * p.dims.bh_stride;

  RPCT_SHARED(float, sK, [kBC][D + 1]);
  RPCT_SHARED(float, sV, [kBC][D + 1]);
  RPCT_SHARED(float, sQ, [BR][D + 1]);
  RPCT_SHARED(float, sdO, [BR][D + 1]);
  RPCT_SHARED(float, sP, [BR][kBC + 1]);
  RPCT_SHARED(float, sdS, [BR][kBC + 1]);
  RPCT_SHARED(float, sDelta, [BR]);

  for (int e = tid; e < kBC * D; e += kThreads) {
    const int c = e / D, d = e % D, gc = c0 + c;
    sK[c][d] = gc < N ? op.key(gc, d) : 0.f;
    sV[c][d] = gc < N ? to_f(vin[gc * p.dims.row_stride + d]) : 0.f;
  }
  float dv[kKeyRows][kPL], dk[kKeyRows][kPL];
  for (int i = 0; i < kKeyRows; ++i)
    for (int j = 0; j < kPL; ++j) dv[i][j] = dk[i][j] = 0.f;
  const bool key_ok = c0 + lane < N;

  for (int r0 = 0; r0 < N; r0 += BR) {
    __syncthreads();  // previous query tile consumed (and the key tile loaded)
    for (int e = tid; e < BR * D; e += kThreads) {
      const int r = e / D, d = e % D, gr = r0 + r;
      const bool ok = gr < N;
      sQ[r][d] = ok ? op.key(gr, d) : 0.f;
      sdO[r][d] = ok ? op.dout_at(gr, d) : 0.f;
    }
    for (int r = tid; r < BR; r += kThreads) sDelta[r] = r0 + r < N ? delta[r0 + r] : 0.f;
#ifndef RPCT_EMU_BREAK_SYNC
    __syncthreads();  // the query tile is loaded
#endif
    // P and dS: lane = key c, warp owns query rows
    for (int i = 0; i < kQRows; ++i) {
      const int r = warp * kQRows + i;
      const bool ok = key_ok && r0 + r < N;
      float s = 0.f, dp = 0.f;
      for (int d = 0; d < D; ++d) {
        s += sQ[r][d] * sK[lane][d];
        dp += sdO[r][d] * sV[lane][d];
      }
      const float pr = ok ? op.prob(s, scale, r0 + r) : 0.f;
      sP[r][lane] = pr;
      sdS[r][lane] = pr * (dp - sDelta[r]);
    }
    __syncthreads();  // P, dS complete
    // dV_c += sum_r P_rc dO_r ; dK_c += scale sum_r dS_rc Q_r   (warp owns key rows, lane owns d)
    for (int i = 0; i < kKeyRows; ++i) {
      const int c = warp * kKeyRows + i;
      for (int r = 0; r < BR; ++r) {
        const float pr = sP[r][c], ds = sdS[r][c];
        for (int j = 0; j < kPL; ++j) {
          dv[i][j] += pr * sdO[r][lane + 32 * j];
          dk[i][j] += ds * sQ[r][lane + 32 * j];
        }
      }
    }
    // dQ_r += scale sum_c dS_rc K_c  (warp owns query rows)
    for (int i = 0; i < kQRows; ++i) {
      const int r = warp * kQRows + i, gr = r0 + r;
      if (gr >= N) continue;
      for (int j = 0; j < kPL; ++j) {
        const int d = lane + 32 * j;
        float acc = 0.f;
        for (int c = 0; c < kBC; ++c) acc += sdS[r][c] * sK[c][d];
        atomicAdd(&p.gk2[f_base + static_cast<long long>(gr) * D + d], acc * scale);
      }
    }
  }
  for (int i = 0; i < kKeyRows; ++i) {
    const int gc = c0 + warp * kKeyRows + i;
    if (gc >= N) continue;
    for (int j = 0; j < kPL; ++j) {
      const long long fi = f_base + static_cast<long long>(gc) * D + lane + 32 * j;
      atomicAdd(&p.gk2[fi], dk[i][j] * scale);
      p.gv[fi] += dv[i][j];
    }
  }
}

struct RowsStage {
  int finish;   // iteration u whose elementwise backward to finish (needs gk2 = dL/dK2_u), 0: none
  int prepare;  // iteration t = u - 1 whose attention backward comes next: write dO_t, 0: none
  int plain;    // plain attention (rpc_bwd_finish_kernel only): grad_k = gk2
};

// The elementwise backward, one warp per row (lane owns head-dim elements lane + 32 j): the PCP step
// between iterations u - 1 and u (rpc_pcp_step.h, pcp::backward with G = gz):
//  finish u, prepare u-1: gK += gK2_u + gX + gZ; dO_{u-1} = dL/dL_{u-1}; gz := dL/dZ_{u-2}; gk2 := 0;
//  finish 1:              gK += gK2_1 + gX (gz = dL/dZ_1 gives dL/dS_1 = -gz, as in pcp::backward);
//  prepare T only:        dO_T = grad_out (gz = 0).
// d thresh (-sign(S_u) gX) summed per (b,h) into gtheta. grid (ceil(N/kWarps), BH), block kThreads.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) rpc_bwd_rows_kernel(RpcBwdArgs p, RowsStage st) {
  constexpr int kPL = Tiles<D>::kPerLane;
  const int N = p.dims.N;
  const int bh = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = blockIdx.x * kWarps + warp;
  const long long nd = static_cast<long long>(N) * D, f_base = bh * nd, io_base = bh * p.dims.bh_stride;
  const long long slice = static_cast<long long>(p.dims.BH) * nd;
  float dtheta = 0.f;
  if (r < N) {  // warp-uniform
    for (int j = 0; j < kPL; ++j) {
      const int d = lane + 32 * j;
      const long long fi = f_base + static_cast<long long>(r) * D + d, io = io_base + r * p.dims.row_stride + d;
      if (st.finish == 0) {  // prepare T: the loss sees out = L_T only
        p.dout[fi] = to_f(static_cast<const T*>(p.grad_out)[io]);
        continue;
      }
      const bool first = st.finish == 1;
      float g = p.gz[fi], gk = p.gk[fi], gl = 0.f;
      dtheta += pcp::backward(first, p.gk2[fi], p.ss[(st.finish - 1) * slice + fi], g, gk, gl);
      p.gk2[fi] = 0.f;
      p.gk[fi] = gk;
      if (!first) {
        p.gz[fi] = g;
        p.dout[fi] = gl;
      }
    }
  }
  if (st.finish > 0) {
    dtheta = warp_sum(dtheta);
    if (lane == 0 && dtheta != 0.f) atomicAdd(&p.gtheta[bh], dtheta);
  }
}

// grad_k = gk (+ d thresh / dK: lambda * d mu/dK = -thresh / sum|K| * sign(K), when sum|K| > 0),
// grad_v = gv, cast to T. plain: gk is gk2. grid (ceil(N*D / kThreads), BH).
template <class T, int D>
__global__ void __launch_bounds__(kThreads) rpc_bwd_finish_kernel(RpcBwdArgs p, RowsStage st) {
  const int N = p.dims.N, bh = blockIdx.y;
  const int e = blockIdx.x * kThreads + threadIdx.x;
  if (e >= N * D) return;
  const int r = e / D, d = e % D;
  const long long fi = static_cast<long long>(bh) * N * D + e, io = bh * p.dims.bh_stride + r * p.dims.row_stride + d;
  float gk;
  if (st.plain) {
    gk = p.gk2[fi];
  } else {
    gk = p.gk[fi];
    const float s = p.abs_sum[bh];
    const float kv = to_f(static_cast<const T*>(p.k)[io]);
    if (s > 0.f && kv != 0.f) gk += p.gtheta[bh] * (-p.thresh[bh] / s) * (kv > 0.f ? 1.f : -1.f);
  }
  static_cast<T*>(p.grad_k)[io] = from_f<T>(gk);
  static_cast<T*>(p.grad_v)[io] = from_f<T>(p.gv[fi]);
}

// ============================== host orchestration ==============================

inline unsigned ceil_div(int a, int b) { return static_cast<unsigned>((a + b - 1) / b); }

template <class T, int D>
void rpc_forward_run_d(const RpcFwdArgs& p, gpu_stream_t stream) {
  const dim3 block(kThreads);
  const dim3 grid(ceil_div(p.dims.N, Tiles<D>::kFwdBR), p.dims.BH);
  if (p.n_iter == 0) {
    auto kern = attn_fwd_kernel<T, D, KeySrc::kInput, Epi::kPlain>;
    RPCT_LAUNCH(kern, grid, block, stream, p, AttnFwdIter{0});
    return;
  }
  auto mu = rpc_mu_kernel<T>;
  RPCT_LAUNCH(mu, dim3(p.dims.BH), block, stream, p);
  for (int t = 1; t <= p.n_iter; ++t) {
    if (t == 1) {
      auto kern = attn_fwd_kernel<T, D, KeySrc::kInputShrunk, Epi::kRpc>;
      RPCT_LAUNCH(kern, grid, block, stream, p, AttnFwdIter{t});
    } else {
      auto kern = attn_fwd_kernel<T, D, KeySrc::kK2, Epi::kRpc>;
      RPCT_LAUNCH(kern, grid, block, stream, p, AttnFwdIter{t});
    }
  }
}

template <class T, int D>
void rpc_backward_run_d(const RpcBwdArgs& p, gpu_stream_t stream) {
  const dim3 block(kThreads);
  const dim3 grid_rows(ceil_div(p.dims.N, kWarps), p.dims.BH);
  const dim3 grid_keys(ceil_div(p.dims.N, kBC), p.dims.BH);
  const dim3 grid_delta(ceil_div(p.dims.N, Tiles<D>::kDeltaBR), p.dims.BH);
  const dim3 grid_elems(ceil_div(p.dims.N * D, kThreads), p.dims.BH);
  auto rows = rpc_bwd_rows_kernel<T, D>;
  auto delta = attn_bwd_delta_kernel<T, D>;
  auto attn = attn_bwd_kernel<T, D>;
  auto finish = rpc_bwd_finish_kernel<T, D>;
  if (p.n_iter == 0) {
    RPCT_LAUNCH(delta, grid_delta, block, stream, p, AttnBwdIter{0});
    RPCT_LAUNCH(attn, grid_keys, block, stream, p, AttnBwdIter{0});
    RPCT_LAUNCH(finish, grid_elems, block, stream, p, RowsStage{0, 0, 1});
    return;
  }
  for (int t = p.n_iter; t >= 1; --t) {
    RPCT_LAUNCH(rows, grid_rows, block, stream, p, RowsStage{t == p.n_iter ? 0 : t + 1, t, 0});
    RPCT_LAUNCH(delta, grid_delta, block, stream, p, AttnBwdIter{t});
    RPCT_LAUNCH(attn, grid_keys, block, stream, p, AttnBwdIter{t});
  }
  RPCT_LAUNCH(rows, grid_rows, block, stream, p, RowsStage{1, 0, 0});
  RPCT_LAUNCH(finish, grid_elems, block, stream, p, RowsStage{0, 0, 0});
}

// ============================== dispatch ==============================
// The one (element type, head dim) dispatch of the CUDA kernels, used by the nvcc build
// (rpc_attention_launch.cu) and the emulator alike: calls run(Type<T>{}, HeadDim<D>{}). The op entry
// (rpc_attention_op.cpp) has already accepted only float32/bfloat16 and rpc_cuda_supports_head_dim.
template <class T>
struct Type {
  using type = T;
};
template <int D>
using HeadDim = std::integral_constant<int, D>;

template <class Run>
void dispatch_dtype_and_head_dim(const RpcDims& dims, Run&& run) {
  auto by_head_dim = [&](auto type) {
    switch (dims.D) {
      case 32: return run(type, HeadDim<32>{});
      case 64: return run(type, HeadDim<64>{});
      case 128: return run(type, HeadDim<128>{});
      default:
        throw std::invalid_argument("rpc_attention CUDA kernels: no kernel for head dim " + std::to_string(dims.D) +
                                    " (the op entry admits 32, 64, 128 only)");
    }
  };
  if (dims.bf16)
    by_head_dim(Type<bf16_t>{});
  else
    by_head_dim(Type<float>{});
}

// Forward / backward of the kernels for p.dims' element type and head dim, enqueued on `stream`.
inline void rpc_forward(const RpcFwdArgs& p, gpu_stream_t stream) {
  dispatch_dtype_and_head_dim(p.dims, [&](auto type, auto head_dim) {
    rpc_forward_run_d<typename decltype(type)::type, decltype(head_dim)::value>(p, stream);
  });
}

inline void rpc_backward(const RpcBwdArgs& p, gpu_stream_t stream) {
  dispatch_dtype_and_head_dim(p.dims, [&](auto type, auto head_dim) {
    rpc_backward_run_d<typename decltype(type)::type, decltype(head_dim)::value>(p, stream);
  });
}

}  // namespace RPCT_KERNELS_NS
}  // namespace rpct

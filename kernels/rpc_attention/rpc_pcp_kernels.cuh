// Device code of the composed RPC-Attention's elementwise PCP steps (rpc_pcp_step.h): ONE kernel per
// step forward and ONE per step backward, between the attention calls (SDPA) of the composed op
// (rpc_attention_composed.cpp). Compiles under nvcc (rpc_attention_launch.cu instantiates it for
// float32 and bfloat16) and under the emulator kernels/cuda_emu (tests/kernels/test_emu_composed.cpp
// runs it on the CPU, float64 included), like rpc_attention_kernels.cuh whose helpers it reuses.
//
// Geometry: grid (ceil(N*D / (kThreads * kPcpPerThread)), B*H), block kThreads; thread i of block x
// handles elements (x * kPcpPerThread + j) * kThreads + i of its (b,h) slice, j < kPcpPerThread
// (consecutive threads, consecutive elements: coalesced). Backward: each block sums its elements'
// d thresh (warp shuffle, then shared memory) and adds it to gthresh[bh] with one atomicAdd.
// Deliberately broken variant, for the emu test that proves the composed tests catch it:
//   RPCT_EMU_BREAK_PCP_THRESH_GRAD  the backward drops d thresh (no gradient through mu).
// Traffic per element and step (e = element bytes, a = accumulation bytes): forward reads k, l_prev,
// z, s_prev (2e + 2a), writes z, s, k2 (2a + e); backward reads gk2, s, g, gk (e + 3a), writes g, gk,
// gl_prev (2a + e).
#pragma once

#include "kernels/rpc_attention/rpc_attention_kernels.cuh"
#include "kernels/rpc_attention/rpc_pcp_step.h"

namespace rpct {
namespace RPCT_KERNELS_NS {

constexpr int kPcpPerThread = 4;  // elements per thread: fewer blocks, one atomic per 512 elements

// Accumulation type of an element type: double for double, else float.
template <class T>
using AccumOf = std::conditional_t<std::is_same<T, double>::value, double, float>;

// Stores an accumulation-type value as element type T (bfloat16: round to nearest even).
__device__ __forceinline__ void store_elem(float* p, float x) { *p = x; }
__device__ __forceinline__ void store_elem(bf16_t* p, float x) { *p = __float2bfloat16(x); }
__device__ __forceinline__ void store_elem(double* p, double x) { *p = x; }

__device__ __forceinline__ long long pcp_offset(const RpcPcpStrides& st, const RpcPcpDims& dm, int bh, int r, int d) {
  return static_cast<long long>(bh / dm.H) * st.b + static_cast<long long>(bh % dm.H) * st.h +
         static_cast<long long>(r) * st.n + d;
}

template <class T>
__global__ void __launch_bounds__(kThreads) rpc_pcp_fwd_kernel(RpcPcpFwdArgs p) {
  using A = AccumOf<T>;
  const RpcPcpDims dm = p.dims;
  const int bh = blockIdx.y, nd = dm.N * dm.D;
  const long long base = static_cast<long long>(bh) * nd;  // contiguous tensors
  const A thresh = static_cast<const A*>(p.thresh)[bh];
  const T* k = static_cast<const T*>(p.k);
  const T* l_prev = static_cast<const T*>(p.l_prev);
  const A* s_prev = static_cast<const A*>(p.s_prev);
  A* z = static_cast<A*>(p.z);
  A* s = static_cast<A*>(p.s);
  T* k2 = static_cast<T*>(p.k2);
  for (int j = 0; j < kPcpPerThread; ++j) {
    const int e = (blockIdx.x * kPcpPerThread + j) * kThreads + threadIdx.x;
    if (e >= nd) break;
    const int r = e / dm.D, d = e % dm.D;
    const A kv = static_cast<A>(to_f(k[pcp_offset(p.k_st, dm, bh, r, d)]));
    const A lv = p.first ? A(0) : static_cast<A>(to_f(l_prev[pcp_offset(p.l_st, dm, bh, r, d)]));
    const A zp = p.first ? A(0) : z[base + e];
    const A sp = p.first ? A(0) : s_prev[base + e];
    A z_out, s_out, k2_out;
    pcp::forward(p.first, kv, lv, zp, sp, thresh, z_out, s_out, k2_out);
    z[base + e] = z_out;
    s[base + e] = s_out;
    store_elem(&k2[base + e], k2_out);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) rpc_pcp_bwd_kernel(RpcPcpBwdArgs p) {
  using A = AccumOf<T>;
  const RpcPcpDims dm = p.dims;
  const int bh = blockIdx.y, nd = dm.N * dm.D;
  const long long base = static_cast<long long>(bh) * nd;
  const T* gk2 = static_cast<const T*>(p.gk2);
  const A* s = static_cast<const A*>(p.s);
  A* g = static_cast<A*>(p.g);
  A* gk = static_cast<A*>(p.gk);
  T* gl_prev = static_cast<T*>(p.gl_prev);
  A dthresh = A(0);
  for (int j = 0; j < kPcpPerThread; ++j) {
    const int e = (blockIdx.x * kPcpPerThread + j) * kThreads + threadIdx.x;
    if (e >= nd) break;
    const int r = e / dm.D, d = e % dm.D;
    const A gk2v = static_cast<A>(to_f(gk2[pcp_offset(p.gk2_st, dm, bh, r, d)]));
    A gv = g[base + e];  // dLoss/dZ_{t-1}; also step 1's: dLoss/dS_1 = -dLoss/dZ_1
    A gkv = gk[base + e];
    A glv = A(0);
    dthresh += pcp::backward(p.first, gk2v, s[base + e], gv, gkv, glv);
    gk[base + e] = gkv;
    if (!p.first) {
      g[base + e] = gv;
      store_elem(&gl_prev[base + e], glv);
    }
  }
  // Block sum of d thresh: every thread reaches the shuffles (the loop above only breaks out of itself).
  for (int o = 16; o > 0; o >>= 1) dthresh += __shfl_xor_sync(kFullMask, dthresh, o);
  RPCT_SHARED(A, warp_part, [kWarps]);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_part[warp] = dthresh;
  __syncthreads();
  if (threadIdx.x == 0) {
    A sum = A(0);
    for (int w = 0; w < kWarps; ++w) sum += warp_part[w];
#ifndef RPCT_EMU_BREAK_PCP_THRESH_GRAD
    if (sum != A(0)) atomicAdd(&static_cast<A*>(p.gthresh)[bh], sum);
#endif
  }
}

// The one element-type dispatch of the PCP kernels (nvcc and emulator alike). double: the emulator
// only (the nvcc build instantiates float and bfloat16, see rpc_attention_launch.cu).
template <class Run>
void pcp_dispatch(const RpcPcpDims& dims, Run&& run) {
  switch (dims.type) {
    case RpcPcpType::kF32: return run(Type<float>{});
    case RpcPcpType::kBF16: return run(Type<bf16_t>{});
    case RpcPcpType::kF64:
#if defined(__CUDACC__)
      throw std::invalid_argument("rpc_pcp CUDA kernels: no float64 kernel (the composed op admits float32, bfloat16)");
#else
      return run(Type<double>{});
#endif
  }
}

inline dim3 pcp_grid(const RpcPcpDims& d) {
  return dim3(ceil_div(d.N * d.D, kThreads * kPcpPerThread), static_cast<unsigned>(d.B * d.H));
}

inline void rpc_pcp_forward(const RpcPcpFwdArgs& p, gpu_stream_t stream) {
  pcp_dispatch(p.dims, [&](auto type) {
    auto kern = rpc_pcp_fwd_kernel<typename decltype(type)::type>;
    RPCT_LAUNCH(kern, pcp_grid(p.dims), dim3(kThreads), stream, p);
  });
}

inline void rpc_pcp_backward(const RpcPcpBwdArgs& p, gpu_stream_t stream) {
  pcp_dispatch(p.dims, [&](auto type) {
    auto kern = rpc_pcp_bwd_kernel<typename decltype(type)::type>;
    RPCT_LAUNCH(kern, pcp_grid(p.dims), dim3(kThreads), stream, p);
  });
}

}  // namespace RPCT_KERNELS_NS
}  // namespace rpct

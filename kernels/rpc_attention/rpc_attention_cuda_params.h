// The plain parameter structs of the CUDA RPC-Attention kernels (pointers, strides, sizes, element
// type) and the raw-pointer launchers that take them: shared by the device code
// (rpc_attention_kernels.cuh, nvcc or the emulator), the launch file (rpc_attention_launch.cu) and the
// tensor-facing entry (rpc_attention_cuda_entry.h, g++). No CUDA, no torch. The kernels trust these
// params: the op entry (rpc_attention_op.cpp) has checked the tensors they point to.
#pragma once

namespace rpct {

// The head dims the CUDA kernels are compiled for (rpc_attention_kernels.cuh instantiates each one);
// the op entry accepts no other for CUDA.
constexpr bool rpc_cuda_supports_head_dim(long long D) { return D == 32 || D == 64 || D == 128; }

// ---- parameters: plain structs of pointers and sizes. Tensors are (B, H, N, D) row-major with
// element strides bh_stride (between (b, h) slices) and row_stride (between tokens); the fp32
// per-iteration tensors are (T, B, H, N, D) contiguous. ----
struct RpcDims {
  int BH, N, D;               // B*H slices of N rows of D
  long long bh_stride, row_stride;  // of the input/output tensors (elements)
  bool bf16;                  // element type T of the input/output tensors: bfloat16, else float32
};

struct RpcFwdArgs {
  const void* k;  // (B,H,N,D) T
  const void* v;  // (B,H,N,D) T
  void* out;      // (B,H,N,D) T
  // (max(T,1),2,B,H,N) per iteration, per row: [0] max of the scaled scores, [1] 1 / sum exp(score - max).
  // Two floats, not one log-sum-exp: the backward recomputes P = exp(score - max) * (1/sum) with the
  // forward's operations; a float32 lse of saturated rows (scores ~150) loses ~ulp(150) in every exponent.
  float* row_stats;
  float* k2s;     // (T,B,H,N,D) K2_t           (T = n_iter; unused when n_iter == 0)
  float* ss;      // (T,B,H,N,D) S_t
  float* thresh;  // (B,H) lambda * mu
  float* abs_sum; // (B,H) sum|K|
  float* z;       // (B,H,N,D) workspace: Z_t, updated in place
  RpcDims dims;
  int n_iter;
  float lambda;
  float model_dim;
};

struct RpcBwdArgs {
  const void* grad_out;  // (B,H,N,D) T
  const void* k;         // (B,H,N,D) T
  const void* v;         // (B,H,N,D) T
  const float* row_stats;  // as in RpcFwdArgs
  const float* k2s;
  const float* ss;
  const float* thresh;
  const float* abs_sum;
  void* grad_k;  // (B,H,N,D) T
  void* grad_v;  // (B,H,N,D) T
  // fp32 workspaces, ALL ZERO on entry: (B,H,N,D) each, delta (B,H,N), gtheta (B,H)
  float* gk;     // running dL/dK (everything but the attention's own dK2 of the current iteration)
  float* gv;     // running dL/dV
  float* gk2;    // dL/dK2_t of the attention backward (atomics); re-zeroed by the rows kernel
  float* dout;   // dO_t of the current iteration's attention
  float* gz;     // dL/dZ_t
  float* delta;  // rowsum(P_t * dP_t) of the current iteration's attention (attn_bwd_delta_kernel)
  float* gtheta; // dL/dthresh per (b,h)
  RpcDims dims;
  int n_iter;
  float lambda;
  float model_dim;
};

// ---- the elementwise PCP steps of the composed op (rpc_pcp_step.h, rpc_pcp_kernels.cuh) ----
// Element types of the tensors the attention calls read and write (k, l_prev, k2, gk2, gl_prev); the
// PCP state (z, s, gk, g, thresh, gthresh) is in the accumulation type: double for kF64, else float.
enum class RpcPcpType { kF32, kF64, kBF16 };

// Element strides of a (B, H, N, D) tensor with unit stride over D (SDPA's outputs and gradients need
// not be contiguous: its CPU kernel returns (B, N, H, D) memory viewed as (B, H, N, D)).
struct RpcPcpStrides {
  long long b, h, n;
};

struct RpcPcpDims {
  int B, H, N, D;
  RpcPcpType type;
};

// Step t forward (rpc_pcp_step.h): every element of (B, H, N, D).
struct RpcPcpFwdArgs {
  const void* k;       // (B,H,N,D) element type, strides k_st
  const void* l_prev;  // (B,H,N,D) element type, strides l_st: L_{t-1} (t >= 2)
  void* z;             // (B,H,N,D) accum, contiguous, in Z_{t-2} / out Z_{t-1} (t == 1: out 0)
  const void* s_prev;  // (B,H,N,D) accum, contiguous: S_{t-1} (t >= 2)
  void* s;             // (B,H,N,D) accum, contiguous, out S_t
  void* k2;            // (B,H,N,D) element type, contiguous, out K2_t
  const void* thresh;  // (B,H) accum
  RpcPcpStrides k_st, l_st;
  RpcPcpDims dims;
  bool first;  // t == 1
};

// Step t backward: every element; d thresh summed per (b,h) into gthresh.
struct RpcPcpBwdArgs {
  const void* gk2;  // (B,H,N,D) element type, strides gk2_st: dLoss/dK2_t
  const void* s;    // (B,H,N,D) accum, contiguous: S_t
  void* g;          // (B,H,N,D) accum, contiguous, in dLoss/dZ_{t-1} (zero for t = T) / out dLoss/dZ_{t-2}
  void* gk;         // (B,H,N,D) accum, contiguous, dLoss/dK accumulated in place
  void* gl_prev;    // (B,H,N,D) element type, contiguous, out dLoss/dL_{t-1} (t >= 2)
  void* gthresh;    // (B,H) accum, accumulated in place
  RpcPcpStrides gk2_st;
  RpcPcpDims dims;
  bool first;
};

// The raw-pointer launchers (rpc_attention_launch.cu, nvcc; only with RPCT_WITH_CUDA): enqueue the
// kernels for args.dims' element type and head dim on `stream` (a cudaStream_t). Throw
// std::runtime_error on a CUDA error (file:line).
void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, void* stream);
void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, void* stream);
void rpc_pcp_cuda_forward_launch(const RpcPcpFwdArgs& args, void* stream);
void rpc_pcp_cuda_backward_launch(const RpcPcpBwdArgs& args, void* stream);

}  // namespace rpct

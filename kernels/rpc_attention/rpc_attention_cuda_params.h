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
  float* lse;     // (max(T,1),B,H,N) softmax row log-sum-exp per iteration
  float* k2s;     // (T,B,H,N,D) K2_t           (T = n_iter; unused when n_iter == 0)
  float* ss;      // (T,B,H,N,D) S_t
  float* ls;      // (T,B,H,N,D) L_t (L_T is out in fp32)
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
  const void* out;       // (B,H,N,D) T   (n_iter == 0: delta = rowsum(dO * out))
  const float* lse;      // as in RpcFwdArgs
  const float* k2s;
  const float* ss;
  const float* ls;
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
  float* delta;  // rowsum(dO_t * L_t)
  float* gtheta; // dL/dthresh per (b,h)
  RpcDims dims;
  int n_iter;
  float lambda;
  float model_dim;
};

// The raw-pointer launchers (rpc_attention_launch.cu, nvcc; only with RPCT_WITH_CUDA): enqueue the
// kernels for args.dims' element type and head dim on `stream` (a cudaStream_t). Throw
// std::runtime_error on a CUDA error (file:line).
void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, void* stream);
void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, void* stream);

}  // namespace rpct

// Grid setup and dispatch of the CUDA RPC-Attention kernels (rpc_attention_kernels.cuh) for float32
// and bfloat16, on raw pointers: no torch here, so nvcc only sees CUDA. The tensor-facing entry is
// rpc_attention_cuda.cpp. Every CUDA call is checked (RPCT_CUDA_CHECK: file, line, error string).
#include "kernels/rpc_attention/rpc_attention_kernels.cuh"

namespace rpct {

// Declared in rpc_attention_cuda.h (not included: it pulls in torch).
void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, bool bf16, void* stream);
void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, bool bf16, void* stream);

void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, bool bf16, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (bf16)
    kernels_v1::rpc_forward_run<__nv_bfloat16>(args, s);
  else
    kernels_v1::rpc_forward_run<float>(args, s);
}

void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, bool bf16, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  if (bf16)
    kernels_v1::rpc_backward_run<__nv_bfloat16>(args, s);
  else
    kernels_v1::rpc_backward_run<float>(args, s);
}

}  // namespace rpct

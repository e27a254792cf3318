// The nvcc translation unit of the CUDA RPC-Attention kernels: instantiates rpc_attention_kernels.cuh
// (its dispatch on element type and head dim) behind the raw-pointer launchers declared in
// rpc_attention_cuda_params.h. No torch here, so nvcc only sees CUDA; the tensor-facing entry is
// rpc_attention_cuda.cpp. Every CUDA call is checked (RPCT_CUDA_CHECK: file, line, error string).
#include "kernels/rpc_attention/rpc_attention_kernels.cuh"

namespace rpct {

void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, void* stream) {
  kernels_v1::rpc_forward(args, static_cast<cudaStream_t>(stream));
}

void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, void* stream) {
  kernels_v1::rpc_backward(args, static_cast<cudaStream_t>(stream));
}

}  // namespace rpct

// The nvcc translation unit of the CUDA RPC-Attention kernels: instantiates rpc_attention_kernels.cuh
// (its dispatch on element type and head dim) and the composed op's PCP kernels (rpc_pcp_kernels.cuh),
// behind the raw-pointer launchers declared in rpc_attention_cuda_params.h. No torch here, so nvcc only sees CUDA; the tensor-facing entry is
// rpc_attention_cuda.cpp. Every CUDA call is checked (RPCT_CUDA_CHECK: file, line, error string).
#include "kernels/rpc_attention/rpc_attention_kernels.cuh"
#include "kernels/rpc_attention/rpc_pcp_kernels.cuh"

namespace rpct {

void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, void* stream) {
  kernels_v1::rpc_forward(args, static_cast<cudaStream_t>(stream));
}

void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, void* stream) {
  kernels_v1::rpc_backward(args, static_cast<cudaStream_t>(stream));
}

void rpc_pcp_cuda_forward_launch(const RpcPcpFwdArgs& args, void* stream) {
  kernels_v1::rpc_pcp_forward(args, static_cast<cudaStream_t>(stream));
}

void rpc_pcp_cuda_backward_launch(const RpcPcpBwdArgs& args, void* stream) {
  kernels_v1::rpc_pcp_backward(args, static_cast<cudaStream_t>(stream));
}

}  // namespace rpct

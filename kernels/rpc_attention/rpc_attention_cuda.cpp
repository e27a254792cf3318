// The CUDA entry points of RPC-Attention (declared in rpc_attention.h): allocation and params
// (rpc_attention_cuda_entry.h), then the raw-pointer launchers of rpc_attention_launch.cu on the
// current stream of k's device; and the composed op's CUDA PCP backend (same launch file). The inputs were checked by the op entry (rpc_attention_op.cpp).
// Compiled by g++ into rpct_core, only with RPCT_WITH_CUDA.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/rpc_attention/rpc_attention.h"
#include "kernels/rpc_attention/rpc_attention_cuda_entry.h"

namespace rpct {
namespace {

struct CudaBackend {
  void forward(const RpcFwdArgs& a) const {
    rpc_attention_cuda_forward_launch(a, at::cuda::getCurrentCUDAStream().stream());
  }
  void backward(const RpcBwdArgs& a) const {
    rpc_attention_cuda_backward_launch(a, at::cuda::getCurrentCUDAStream().stream());
  }
};

// The composed op's PCP kernels (rpc_pcp_kernels.cuh) on the current stream.
struct CudaPcpBackend final : RpcPcpBackend {
  void forward(const RpcPcpFwdArgs& a) const override {
    rpc_pcp_cuda_forward_launch(a, at::cuda::getCurrentCUDAStream().stream());
  }
  void backward(const RpcPcpBwdArgs& a) const override {
    rpc_pcp_cuda_backward_launch(a, at::cuda::getCurrentCUDAStream().stream());
  }
};

}  // namespace

const RpcPcpBackend& rpc_pcp_cuda_backend() {
  static const CudaPcpBackend backend;
  return backend;
}

std::vector<torch::Tensor> rpc_attention_cuda_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                      double lambda, int64_t model_dim) {
  const c10::cuda::CUDAGuard guard(k.device());
  return cuda_entry::forward(k, v, n_iter, lambda, model_dim, CudaBackend{});
}

std::vector<torch::Tensor> rpc_attention_cuda_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                       const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                       int64_t n_iter, double lambda, int64_t model_dim) {
  const c10::cuda::CUDAGuard guard(k.device());
  return cuda_entry::backward(grad_out, k, v, saved, n_iter, lambda, model_dim, CudaBackend{});
}

}  // namespace rpct

// The CUDA entry points of RPC-Attention (declared in rpc_attention_cuda.h): tensor checks and
// allocation (rpc_attention_cuda_entry.h), then the raw-pointer launchers of rpc_attention_launch.cu
// on the current stream of k's device. Compiled by g++ into rpct_core, only with RPCT_WITH_CUDA.
#include "kernels/rpc_attention/rpc_attention_cuda.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/rpc_attention/rpc_attention_cuda_entry.h"

namespace rpct {
namespace {

struct CudaBackend {
  void check_device(const torch::Tensor& t, const char* what) const {
    TORCH_CHECK(t.is_cuda(), "rpc_attention_cuda: ", what, " must be a CUDA tensor, got ", t.device());
  }
  void forward(const RpcFwdArgs& a, bool bf16) const {
    rpc_attention_cuda_forward_launch(a, bf16, at::cuda::getCurrentCUDAStream().stream());
  }
  void backward(const RpcBwdArgs& a, bool bf16) const {
    rpc_attention_cuda_backward_launch(a, bf16, at::cuda::getCurrentCUDAStream().stream());
  }
};

}  // namespace

std::vector<torch::Tensor> rpc_attention_cuda_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                      double lambda, int64_t model_dim) {
  TORCH_CHECK(k.is_cuda(), "rpc_attention_cuda_forward: k must be a CUDA tensor, got ", k.device());
  const c10::cuda::CUDAGuard guard(k.device());
  return cuda_entry::forward(k, v, n_iter, lambda, model_dim, CudaBackend{});
}

std::vector<torch::Tensor> rpc_attention_cuda_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                       const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                       int64_t n_iter, double lambda, int64_t model_dim) {
  TORCH_CHECK(k.is_cuda(), "rpc_attention_cuda_backward: k must be a CUDA tensor, got ", k.device());
  const c10::cuda::CUDAGuard guard(k.device());
  return cuda_entry::backward(grad_out, k, v, saved, n_iter, lambda, model_dim, CudaBackend{});
}

}  // namespace rpct

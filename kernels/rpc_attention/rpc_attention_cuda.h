// CUDA RPC-Attention: the tensor-facing entry points (implemented in rpc_attention_cuda.cpp, built
// only with RPCT_WITH_CUDA) and the raw-pointer launchers behind them (rpc_attention_launch.cu).
// Kernels: rpc_attention_kernels.cuh; cost model and status: README_cuda.md.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "kernels/rpc_attention/rpc_attention_cuda_params.h"

namespace rpct {

// k, v: (B, H, N, D) contiguous CUDA tensors, same dtype (float32 or bfloat16). n_iter == 0 means plain
// symmetric softmax attention softmax(K K^T * D^-0.5) V; n_iter >= 1 is RPC-Attention per the spec, with
// mu = N * model_dim / (4 * sum|K|) per (batch, head). Returns {out (B,H,N,D), saved tensors...}.
//   saved, n_iter == 0: {lse (1,B,H,N) f32, out (B,H,N,D)}
//   saved, n_iter >= 1: {lse (T,B,H,N), K2 (T,B,H,N,D), S (T,B,H,N,D), L (T,B,H,N,D),
//                        thresh = lambda*mu (B,H), sum|K| (B,H)}, all float32, T = n_iter.
// Head dim D must be 32, 64 or 128; any N >= 1. sum|K| == 0: thresh = +inf (lambda > 0) or 0, no
// gradient through mu (as rpc_threshold_reference).
std::vector<torch::Tensor> rpc_attention_cuda_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                      double lambda, int64_t model_dim);
// Returns {grad_k, grad_v}. `saved` is what forward returned after `out`. grad_out (B,H,N,D) in k's dtype
// (made contiguous here).
std::vector<torch::Tensor> rpc_attention_cuda_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                       const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                       int64_t n_iter, double lambda, int64_t model_dim);

// Raw-pointer launchers (rpc_attention_launch.cu): enqueue the kernels on `stream` (a cudaStream_t).
// bf16: the T tensors are bfloat16, else float32. Throw std::runtime_error on a CUDA error (file:line).
void rpc_attention_cuda_forward_launch(const RpcFwdArgs& args, bool bf16, void* stream);
void rpc_attention_cuda_backward_launch(const RpcBwdArgs& args, bool bf16, void* stream);

}  // namespace rpct

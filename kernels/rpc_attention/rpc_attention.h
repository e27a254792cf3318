// RPC-Attention (and symmetric softmax attention, its inner step): the LibTorch-ops reference, the
// fused CPU kernel, the CUDA entry points and the torch op with its autograd function.
// Math: ../shared/spec/attention.md section 4; kernels/rpc_attention/README.md for the details.
//
// Convention shared by every entry point: n_iter == 0 is plain symmetric softmax attention
// softmax(K K^T * D^-0.5) V; n_iter >= 1 is RPC-Attention with mu = N * model_dim / (4 * sum|K|)
// per (batch, head), thresh = lambda * mu. If sum|K| == 0 the division is guarded: thresh = +inf
// when lambda > 0 (S = 0, the limit as sum|K| -> 0) and 0 when lambda == 0; no gradient flows
// through mu there.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace rpct {

// ---- the torch op (custom autograd function; CPU: fused kernel, CUDA: rpc_attention_cuda_*) ----
// k, v: (B, H, N, D) -> (B, H, N, D). CPU: float32 or float64. CUDA: whatever the CUDA kernels take.
torch::Tensor rpc_attention(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                            int64_t model_dim);
// True when rpc_attention has a kernel for tensors like `t` (device and dtype) in this build.
bool rpc_attention_fused_supports(const torch::Tensor& t);

// ---- the reference (the specification; autograd gives its gradients) ----
// k, v: (B, H, N, D) -> (B, H, N, D). attn_drop is applied to the LAST iteration's attention matrix
// only (to the only one when n_iter == 0), and only when `training`.
torch::Tensor rpc_attention_reference(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                      double lambda, int64_t model_dim, double attn_drop = 0.0,
                                      bool training = false);
// softmax(Q K^T * D^-0.5 + bias) V from LibTorch ops. q, k, v: (B, H, N, D); bias: undefined or
// broadcastable to (B, H, N, N). Used for the softmax, sym and kvpos references.
torch::Tensor softmax_attention_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                          const torch::Tensor& bias = {}, double attn_drop = 0.0,
                                          bool training = false);
// The RPC threshold lambda * mu per (batch, head), guarded as above: (B, H, N, D) -> (B, H, 1, 1).
torch::Tensor rpc_threshold_reference(const torch::Tensor& k, double lambda, int64_t model_dim);

// ---- the fused CPU kernel (float32, float64; contiguous (B, H, N, D) inputs) ----
// Returns {out (B,H,N,D), L (B,H,T,N,D) every iteration's output, lse (B,H,T,N) softmax row
// log-sum-exp of every iteration, stats (B,H,2) = {sum|K|, thresh}} with T = max(n_iter, 1).
std::vector<torch::Tensor> rpc_attention_cpu_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                     double lambda, int64_t model_dim);
// Returns {grad_k, grad_v}. `saved` is what the forward returned after `out`.
std::vector<torch::Tensor> rpc_attention_cpu_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                      const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                      int64_t n_iter, double lambda, int64_t model_dim);

// ---- CUDA kernels (kernels/rpc_attention/rpc_attention_launch.cu, only with RPCT_WITH_CUDA) ----
// k, v: (B, H, N, D) contiguous CUDA tensors, same dtype (float32 or bfloat16). n_iter == 0 means plain
// symmetric softmax attention softmax(K K^T * D^-0.5) V; n_iter >= 1 is RPC-Attention per the spec, with
// mu = N * model_dim / (4 * sum|K|) per (batch, head). Returns {out (B,H,N,D), saved tensors...}.
std::vector<torch::Tensor> rpc_attention_cuda_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                      double lambda, int64_t model_dim);
// Returns {grad_k, grad_v}. `saved` is what forward returned after `out`.
std::vector<torch::Tensor> rpc_attention_cuda_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                       const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                       int64_t n_iter, double lambda, int64_t model_dim);

}  // namespace rpct

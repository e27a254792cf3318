// RPC-Attention (and symmetric softmax attention, its inner step): the one declaration header of the
// op's entry points: the torch op with its input check and kernel choice, the LibTorch-ops reference,
// the fused CPU kernel and the CUDA kernels (whose raw-pointer launchers and params structs are in the
// torch-free rpc_attention_cuda_params.h, for nvcc).
// Math: docs/rpc-attention.md#rpc-attention; kernels/rpc_attention/README.md for the details.
//
// Convention shared by every entry point: n_iter == 0 is plain symmetric softmax attention
// softmax(K K^T * D^-0.5) V; n_iter >= 1 is RPC-Attention with mu = N * model_dim / (4 * sum|K|)
// per (batch, head), thresh = lambda * mu. If sum|K| == 0 the division is guarded: thresh = +inf
// when lambda > 0 (S = 0, the limit as sum|K| -> 0) and 0 when lambda == 0; no gradient flows
// through mu there.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "kernels/rpc_attention/rpc_attention_cuda_params.h"

namespace rpct {

// ---- the torch op (custom autograd function; CPU: fused kernel, CUDA: rpc_attention_cuda_*) ----
// k, v: (B, H, N, D), any strides -> (B, H, N, D). Checks its inputs once (rpc_attention_check_inputs
// for the backend of k's device) and runs that backend's kernels on contiguous copies.
torch::Tensor rpc_attention(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                            int64_t model_dim);
// True when rpc_attention runs k, v like `t` ((B, H, N, D): device, dtype, head dim and sizes) in this
// build, i.e. when rpc_attention_check_inputs accepts it for the backend of its device; the model falls
// back to the reference otherwise (e.g. head dim 16 on CUDA).
bool rpc_attention_fused_supports(const torch::Tensor& t);

// The kernel families of the op; rpc_attention picks one from the tensors' device (CUDA only in a
// build with RPCT_WITH_CUDA).
enum class RpcAttentionBackend { kCpu, kCuda };
// The op's one input check, for the kernels of `backend` (throws c10::Error naming what failed):
//   both:  k, v (B, H, N, D) of one shape, dtype and device; n_iter >= 0; for n_iter >= 1 lambda
//          finite and >= 0, model_dim >= 1;
//   kCpu:  float32, float64 or bfloat16 (float32 inside, bf16 GEMM operands); N < 2^20 and N * D < 2^31;
//   kCuda: float32 or bfloat16; D in {32, 64, 128}; B, H, N >= 1; B * H * N * D < 2^31 - 1 and
//          B * H < 65536 (int indexing, grid y).
// The kernel entry points below trust that it passed. Public so that the tests check the CUDA rules on
// CPU tensors (which the emulator runs) without a GPU.
void rpc_attention_check_inputs(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                int64_t model_dim, RpcAttentionBackend backend);

// ---- the composed op (rpc_attention_composed.cpp) ----
// The same math as rpc_attention, composed of one LibTorch scaled_dot_product_attention(K2, K2, V) call
// per RPC iteration (FlashAttention / cuDNN / memory-efficient kernels on CUDA, the flash kernel on CPU)
// and one fused elementwise PCP kernel per iteration between them (rpc_pcp_step.h), forward and
// backward; one autograd node that keeps per iteration what SDPA's backward needs (K2_t, out L_t, its
// log-sum-exp; V once) plus S_t: O(n_iter N D), never N x N. n_iter == 0 is one SDPA(k, k, v) call.
// k, v: (B, H, N, D), any strides -> (B, H, N, D). Dtypes: CPU float32, float64, bfloat16; CUDA float32,
// bfloat16 (rpc_attention_composed_check_inputs). Not twice differentiable.
torch::Tensor rpc_attention_composed(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                     int64_t model_dim);
// Where the elementwise PCP steps run: rpc_pcp_cpu_backend() (a CPU loop over the same per-element
// functions), rpc_pcp_cuda_backend() (the CUDA kernels), or the emulated CUDA kernels in the tests.
class RpcPcpBackend {
 public:
  virtual ~RpcPcpBackend() = default;
  virtual void forward(const RpcPcpFwdArgs& args) const = 0;
  virtual void backward(const RpcPcpBwdArgs& args) const = 0;
};
// As above with the PCP steps on `pcp`, which must outlive the backward of the result.
torch::Tensor rpc_attention_composed(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                     int64_t model_dim, const RpcPcpBackend& pcp);
const RpcPcpBackend& rpc_pcp_cpu_backend();
const RpcPcpBackend& rpc_pcp_cuda_backend();  // defined only with RPCT_WITH_CUDA
// The composed op's input check (rpc_attention_op.cpp): the rules shared with rpc_attention (shape,
// device, dtype, n_iter, lambda, model_dim) and its dtypes per device. Throws c10::Error.
void rpc_attention_composed_check_inputs(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                         double lambda, int64_t model_dim);
// True when rpc_attention_composed runs tensors like `t` (device, dtype) in this build.
bool rpc_attention_composed_supports(const torch::Tensor& t);

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

// ---- the kernels: inputs as rpc_attention_check_inputs accepts them for their backend, k, v (and
// grad_out) contiguous in one dtype; they check nothing themselves ----

// The fused CPU kernel (rpc_attention_cpu.cpp; float32, float64).
// Returns {out (B,H,N,D), L (B,H,T,N,D) every iteration's output, stats (B,H,2) = {sum|K|, thresh}} with
// T = max(n_iter, 1). (No softmax row statistics: the backward recomputes each softmax in full.)
std::vector<torch::Tensor> rpc_attention_cpu_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                     double lambda, int64_t model_dim);
// Returns {grad_k, grad_v}. `saved` is what the forward returned after `out`.
std::vector<torch::Tensor> rpc_attention_cpu_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                      const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                      int64_t n_iter, double lambda, int64_t model_dim);

// The CUDA kernels (rpc_attention_cuda.cpp -> rpc_attention_launch.cu; defined only with RPCT_WITH_CUDA).
// k, v: CUDA tensors, float32 or bfloat16. Returns {out (B,H,N,D), saved...}:
//   saved, n_iter == 0: {row stats (1,2,B,H,N) f32: row max and 1/rowsum of the scaled scores}
//   saved, n_iter >= 1: {row stats (T,2,B,H,N), K2 (T,B,H,N,D), S (T,B,H,N,D),
//                        thresh = lambda*mu (B,H), sum|K| (B,H)}, all float32, T = n_iter.
std::vector<torch::Tensor> rpc_attention_cuda_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                                      double lambda, int64_t model_dim);
// Returns {grad_k, grad_v} in k's dtype. `saved` is what forward returned after `out`.
std::vector<torch::Tensor> rpc_attention_cuda_backward(const torch::Tensor& grad_out, const torch::Tensor& k,
                                                       const torch::Tensor& v, const std::vector<torch::Tensor>& saved,
                                                       int64_t n_iter, double lambda, int64_t model_dim);

}  // namespace rpct

// The torch op: entry checks, CPU/CUDA dispatch, the custom autograd function, and the registration
// as torch.ops.rpct.rpc_attention.
#include <torch/library.h>

#include "kernels/rpc_attention/rpc_attention.h"

// RPCT_RPC_ATTENTION_CUDA is set by kernels/sources.cmake when RPCT_WITH_CUDA is on AND
// rpc_attention_launch.cu exists, so the tree links while the CUDA kernels are not written yet.

namespace rpct {
namespace {

std::vector<torch::Tensor> dispatch_forward(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                            double lambda, int64_t model_dim) {
  if (k.is_cuda()) {
#if defined(RPCT_WITH_CUDA) && defined(RPCT_RPC_ATTENTION_CUDA)
    return rpc_attention_cuda_forward(k.contiguous(), v.contiguous(), n_iter, lambda, model_dim);
#else
    TORCH_CHECK(false, "rpc_attention: got CUDA tensors but this build has no RPC-Attention CUDA kernels "
                       "(RPCT_WITH_CUDA off or rpc_attention_launch.cu absent); "
                       "use attention.impl: reference");
#endif
  }
  return rpc_attention_cpu_forward(k, v, n_iter, lambda, model_dim);
}

std::vector<torch::Tensor> dispatch_backward(const torch::Tensor& g, const torch::Tensor& k, const torch::Tensor& v,
                                             const std::vector<torch::Tensor>& saved, int64_t n_iter, double lambda,
                                             int64_t model_dim) {
  if (k.is_cuda()) {
#if defined(RPCT_WITH_CUDA) && defined(RPCT_RPC_ATTENTION_CUDA)
    return rpc_attention_cuda_backward(g.contiguous(), k, v, saved, n_iter, lambda, model_dim);
#else
    TORCH_CHECK(false, "rpc_attention: CUDA backward without CUDA kernels");
#endif
  }
  return rpc_attention_cpu_backward(g, k, v, saved, n_iter, lambda, model_dim);
}

class RpcAttentionFunction : public torch::autograd::Function<RpcAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, int64_t n_iter, double lambda, int64_t model_dim) {
    auto k = k_in.contiguous(), v = v_in.contiguous();
    auto res = dispatch_forward(k, v, n_iter, lambda, model_dim);
    std::vector<torch::Tensor> to_save{k, v};
    to_save.insert(to_save.end(), res.begin() + 1, res.end());
    ctx->save_for_backward(to_save);
    ctx->saved_data["n_iter"] = n_iter;
    ctx->saved_data["lambda"] = lambda;
    ctx->saved_data["model_dim"] = model_dim;
    return res[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    std::vector<torch::Tensor> rest(saved.begin() + 2, saved.end());
    auto grads = dispatch_backward(grad_outputs[0], saved[0], saved[1], rest, ctx->saved_data["n_iter"].toInt(),
                                   ctx->saved_data["lambda"].toDouble(), ctx->saved_data["model_dim"].toInt());
    return {grads[0], grads[1], torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor rpc_attention(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                            int64_t model_dim) {
  TORCH_CHECK(k.dim() == 4 && v.sizes() == k.sizes(), "rpc_attention: k and v must both be (B, H, N, D), got ",
              k.sizes(), " and ", v.sizes());
  TORCH_CHECK(k.device() == v.device() && k.scalar_type() == v.scalar_type(),
              "rpc_attention: k and v differ in device or dtype");
  TORCH_CHECK(n_iter >= 0, "rpc_attention: n_iter must be >= 0, got ", n_iter);
  return RpcAttentionFunction::apply(k, v, n_iter, lambda, model_dim);
}

bool rpc_attention_fused_supports(const torch::Tensor& t) {
  if (t.device().is_cpu()) return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble;
#if defined(RPCT_WITH_CUDA) && defined(RPCT_RPC_ATTENTION_CUDA)
  if (t.is_cuda()) return t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16;
#endif
  return false;
}

}  // namespace rpct

// torch.ops.rpct.rpc_attention(k, v, n_iter, lambda, model_dim): the autograd function above, usable
// from TorchScript / Python (after loading a library that links this object).
TORCH_LIBRARY_FRAGMENT(rpct, m) {
  m.def("rpc_attention(Tensor k, Tensor v, int n_iter, float lambda, int model_dim) -> Tensor");
}
TORCH_LIBRARY_IMPL(rpct, CompositeImplicitAutograd, m) {
  m.impl("rpc_attention", [](const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                             int64_t model_dim) { return rpct::rpc_attention(k, v, n_iter, lambda, model_dim); });
}

// The torch op: its one input check (rpc_attention_check_inputs), the one place that picks a kernel
// (the backend from the device; each backend's dtypes and head dims), the custom autograd function,
// and the registration as torch.ops.rpct.rpc_attention.
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "kernels/rpc_attention/rpc_attention.h"
#include "kernels/rpc_attention/rpc_attention_cuda_params.h"

namespace rpct {
namespace {

// The backend whose kernels run tensors on `device` in this build; none for CUDA without RPCT_WITH_CUDA.
std::optional<RpcAttentionBackend> backend_for(const torch::Device& device) {
  if (device.is_cpu()) return RpcAttentionBackend::kCpu;
#ifdef RPCT_WITH_CUDA
  if (device.is_cuda()) return RpcAttentionBackend::kCuda;
#endif
  return std::nullopt;
}

bool backend_supports_dtype(RpcAttentionBackend backend, torch::ScalarType dtype) {
  switch (backend) {
    case RpcAttentionBackend::kCpu: return dtype == torch::kFloat || dtype == torch::kDouble || dtype == torch::kBFloat16;
    case RpcAttentionBackend::kCuda: return dtype == torch::kFloat || dtype == torch::kBFloat16;
  }
  return false;
}

const char* backend_name(RpcAttentionBackend backend) {
  return backend == RpcAttentionBackend::kCpu ? "CPU kernel" : "CUDA kernels";
}

// k, v, grad_out: contiguous in k's dtype, as the kernels take them.
std::vector<torch::Tensor> run_forward(RpcAttentionBackend backend, const torch::Tensor& k, const torch::Tensor& v,
                                       int64_t n_iter, double lambda, int64_t model_dim) {
  switch (backend) {
    case RpcAttentionBackend::kCpu: return rpc_attention_cpu_forward(k, v, n_iter, lambda, model_dim);
    case RpcAttentionBackend::kCuda:
#ifdef RPCT_WITH_CUDA
      return rpc_attention_cuda_forward(k, v, n_iter, lambda, model_dim);
#else
      break;  // backend_for never picks it in this build
#endif
  }
  TORCH_INTERNAL_ASSERT(false, "rpc_attention: no ", backend_name(backend), " in this build");
}

std::vector<torch::Tensor> run_backward(RpcAttentionBackend backend, const torch::Tensor& g, const torch::Tensor& k,
                                        const torch::Tensor& v, const std::vector<torch::Tensor>& saved, int64_t n_iter,
                                        double lambda, int64_t model_dim) {
  switch (backend) {
    case RpcAttentionBackend::kCpu: return rpc_attention_cpu_backward(g, k, v, saved, n_iter, lambda, model_dim);
    case RpcAttentionBackend::kCuda:
#ifdef RPCT_WITH_CUDA
      return rpc_attention_cuda_backward(g, k, v, saved, n_iter, lambda, model_dim);
#else
      break;  // backend_for never picks it in this build
#endif
  }
  TORCH_INTERNAL_ASSERT(false, "rpc_attention: no ", backend_name(backend), " in this build");
}

class RpcAttentionFunction : public torch::autograd::Function<RpcAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& k_in,
                               const torch::Tensor& v_in, int64_t n_iter, double lambda, int64_t model_dim,
                               RpcAttentionBackend backend) {
    auto k = k_in.contiguous(), v = v_in.contiguous();  // (B, H, N, D)
    auto res = run_forward(backend, k, v, n_iter, lambda, model_dim);
    std::vector<torch::Tensor> to_save{k, v};
    to_save.insert(to_save.end(), res.begin() + 1, res.end());
    ctx->save_for_backward(to_save);
    ctx->saved_data["n_iter"] = n_iter;
    ctx->saved_data["lambda"] = lambda;
    ctx->saved_data["model_dim"] = model_dim;
    ctx->saved_data["backend"] = static_cast<int64_t>(backend);
    return res[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const auto& k = saved[0];
    std::vector<torch::Tensor> rest(saved.begin() + 2, saved.end());
    auto g = grad_outputs[0].to(k.scalar_type()).contiguous();  // (B, H, N, D)
    auto grads = run_backward(static_cast<RpcAttentionBackend>(ctx->saved_data["backend"].toInt()), g, k, saved[1],
                              rest, ctx->saved_data["n_iter"].toInt(), ctx->saved_data["lambda"].toDouble(),
                              ctx->saved_data["model_dim"].toInt());
    return {grads[0], grads[1], torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

namespace {

// The rules every entry shares: k, v (B, H, N, D) of one shape, device and dtype; n_iter, lambda, model_dim.
void check_shared_rules(const char* op, const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                        double lambda, int64_t model_dim) {
  TORCH_CHECK(k.dim() == 4 && v.sizes() == k.sizes(), op, ": k and v must both be (B, H, N, D), got ", k.sizes(),
              " and ", v.sizes());
  TORCH_CHECK(k.device() == v.device(), op, ": k and v on different devices, ", k.device(), " and ", v.device());
  TORCH_CHECK(k.scalar_type() == v.scalar_type(), op, ": k and v dtypes differ, ", k.scalar_type(), " and ",
              v.scalar_type());
  TORCH_CHECK(n_iter >= 0, op, ": n_iter must be >= 0, got ", n_iter);
  TORCH_CHECK(n_iter == 0 || (std::isfinite(lambda) && lambda >= 0.0), op, ": lambda must be finite and >= 0, got ",
              lambda);
  TORCH_CHECK(n_iter == 0 || model_dim >= 1, op, ": model_dim must be >= 1, got ", model_dim);
}

// What `backend`'s kernels cannot run among tensors of k's dtype and sizes (B, H, N, D): a message, or
// empty when they can. One table for the input check (which throws it) and rpc_attention_fused_supports.
std::string backend_rejects(RpcAttentionBackend backend, const torch::Tensor& k) {
  std::ostringstream why;
  if (!backend_supports_dtype(backend, k.scalar_type())) {
    why << "the " << backend_name(backend) << " take "
        << (backend == RpcAttentionBackend::kCpu ? "float32, float64 or bfloat16" : "float32 or bfloat16") << ", got "
        << k.scalar_type();
    return why.str();
  }
  if (k.dim() != 4) return "";  // the shared rules name it
  const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3);
  switch (backend) {
    case RpcAttentionBackend::kCpu:
      // BLAS takes int sizes and leading dimensions; the workspaces hold rows x N score tiles.
      if (!(N < (int64_t(1) << 20) && N * D < (int64_t(1) << 31)))
        why << "N or N*D too large for the CPU kernel, got " << k.sizes();
      break;
    case RpcAttentionBackend::kCuda:
      if (!rpc_cuda_supports_head_dim(D)) {
        why << "the CUDA kernels take head dim 32, 64 or 128, got " << D;
      } else if (!(B >= 1 && H >= 1 && N >= 1)) {
        why << "empty input " << k.sizes() << " for the CUDA kernels";
      } else if (!(B * H * N * D < std::numeric_limits<int>::max() && B * H < 65536)) {
        // Element offsets are int; B * H is the grid's y dimension (at most 65535).
        why << "input too large for the CUDA kernels " << k.sizes();
      }
      break;
  }
  return why.str();
}

}  // namespace

void rpc_attention_check_inputs(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                int64_t model_dim, RpcAttentionBackend backend) {
  check_shared_rules("rpc_attention", k, v, n_iter, lambda, model_dim);
  const std::string why = backend_rejects(backend, k);
  TORCH_CHECK(why.empty(), "rpc_attention: ", why);
}

void rpc_attention_composed_check_inputs(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter,
                                         double lambda, int64_t model_dim) {
  check_shared_rules("rpc_attention_composed", k, v, n_iter, lambda, model_dim);
  TORCH_CHECK(rpc_attention_composed_supports(k), "rpc_attention_composed: no kernels for ", k.scalar_type(),
              " tensors on ", k.device(), " in this build (CPU: float32, float64, bfloat16; CUDA, with RPCT_WITH_CUDA: "
              "float32, bfloat16)");
  // The PCP kernels index a (b, h) slice with int; on CUDA, B * H is their grid's y dimension.
  TORCH_CHECK(k.size(2) * k.size(3) < std::numeric_limits<int>::max() &&
                  (k.device().is_cpu() || k.size(0) * k.size(1) < 65536),
              "rpc_attention_composed: input too large for the PCP kernels ", k.sizes());
}

bool rpc_attention_composed_supports(const torch::Tensor& t) {
  const auto dtype = t.scalar_type();
  if (t.device().is_cpu()) return dtype == torch::kFloat || dtype == torch::kDouble || dtype == torch::kBFloat16;
#ifdef RPCT_WITH_CUDA
  if (t.device().is_cuda()) return dtype == torch::kFloat || dtype == torch::kBFloat16;
#endif
  return false;
}

torch::Tensor rpc_attention(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                            int64_t model_dim) {
  const auto backend = backend_for(k.device());
  TORCH_CHECK(backend.has_value(), "rpc_attention: this build has no kernels for tensors on ", k.device(),
              " (the CUDA kernels need RPCT_WITH_CUDA=ON); use attention.impl: reference");
  rpc_attention_check_inputs(k, v, n_iter, lambda, model_dim, *backend);
  return RpcAttentionFunction::apply(k, v, n_iter, lambda, model_dim, *backend);
}

bool rpc_attention_fused_supports(const torch::Tensor& t) {
  const auto backend = backend_for(t.device());
  return backend.has_value() && t.dim() == 4 && backend_rejects(*backend, t).empty();
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

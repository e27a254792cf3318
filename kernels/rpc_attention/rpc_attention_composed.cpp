// The composed RPC-Attention op: per RPC iteration one LibTorch scaled_dot_product_attention(K2, K2, V)
// (on CUDA FlashAttention / cuDNN / memory-efficient kernels on tensor cores; on CPU LibTorch's flash
// kernel) and one fused elementwise PCP kernel between iterations (rpc_pcp_step.h), forward and
// backward, in one autograd node. Also the CPU loop backend of the PCP steps. Math:
// docs/rpc-attention.md#the-iteration in the scaled-dual form (docs/rpc-attention.md#scaled-dual).
//
// Backward through SDPA: the forward records each iteration's SDPA call with autograd on (detached
// leaves K2_t and V), keeps those small graphs in the node, and the backward runs
// torch::autograd::grad on one of them per iteration, in reverse. Why this rather than calling
// at::_scaled_dot_product_*_backward: (1) each SDPA backend (flash, cuDNN, efficient on CUDA; flash on CPU)
// saves only q, k, v, out and the row log-sum-exp (O(N D), checked by a test on CPU) and has its own
// backward op with its own saved outputs; autograd picks the one matching the forward, with no copy of
// the backend choice here; (2) nothing is recomputed: re-running SDPA forward in the backward (activation
// checkpointing) would add one attention forward per iteration, ~30% of forward+backward. Saved per
// iteration: K2_t, L_t (element type), the log-sum-exp (N floats per row), S_t (accumulation type); V once.
#include <ATen/Parallel.h>

#include <cstdint>

#include "kernels/rpc_attention/rpc_attention.h"
#include "kernels/rpc_attention/rpc_pcp_step.h"

namespace rpct {
namespace {

RpcPcpType pcp_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return RpcPcpType::kF32;
    case torch::kDouble: return RpcPcpType::kF64;
    case torch::kBFloat16: return RpcPcpType::kBF16;
    default: TORCH_CHECK(false, "rpc_attention_composed: no PCP kernel for ", t);
  }
}

torch::ScalarType accum_type(torch::ScalarType t) { return t == torch::kDouble ? torch::kDouble : torch::kFloat; }

RpcPcpStrides strides_of(const torch::Tensor& t) {  // (B, H, N, D) with unit stride over D
  TORCH_INTERNAL_ASSERT(t.dim() == 4 && (t.size(3) == 1 || t.stride(3) == 1), "rpc_attention_composed: ", t.sizes(),
                        " needs unit stride over D");
  return {t.stride(0), t.stride(1), t.stride(2)};
}

torch::Tensor unit_d_stride(const torch::Tensor& t) { return t.size(3) == 1 || t.stride(3) == 1 ? t : t.contiguous(); }

RpcPcpDims dims_of(const torch::Tensor& k) {
  return {static_cast<int>(k.size(0)), static_cast<int>(k.size(1)), static_cast<int>(k.size(2)),
          static_cast<int>(k.size(3)), pcp_type(k.scalar_type())};
}

class ComposedRpcFunction : public torch::autograd::Function<ComposedRpcFunction> {
 public:
  // k, v: (B, H, N, D), n_iter >= 1 -> (B, H, N, D).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& k_in,
                               const torch::Tensor& v, int64_t n_iter, double lambda, int64_t model_dim,
                               const RpcPcpBackend* pcp) {
    const auto k = unit_d_stride(k_in);
    const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3);
    const auto acc = k.options().dtype(accum_type(k.scalar_type()));
    const auto k_acc = k.to(acc.dtype());
    const auto abs_sum = k_acc.abs().sum({2, 3});                                                    // (B, H)
    const auto thresh = rpc_threshold_reference(k_acc, lambda, model_dim).reshape({B, H}).contiguous();  // (B, H)
    auto z = torch::empty({B, H, N, D}, acc);  // Z_{t-1}, updated in place by every step
    auto v_leaf = v.detach().requires_grad_(true);
    std::vector<torch::Tensor> to_save{k, thresh, abs_sum};  // + S_1..S_T
    std::vector<torch::Tensor> graphs;                       // K2_1, L_1, ..., K2_T, L_T, V
    torch::Tensor l_prev, s_prev;
    for (int64_t t = 1; t <= n_iter; ++t) {
      auto s = torch::empty({B, H, N, D}, acc);        // S_t
      auto k2 = torch::empty({B, H, N, D}, k.options());  // K2_t
      RpcPcpFwdArgs a{};
      a.k = k.data_ptr();
      a.k_st = strides_of(k);
      if (t > 1) {
        a.l_prev = l_prev.data_ptr();
        a.l_st = strides_of(l_prev);
        a.s_prev = s_prev.data_ptr();
      }
      a.z = z.data_ptr();
      a.s = s.data_ptr();
      a.k2 = k2.data_ptr();
      a.thresh = thresh.data_ptr();
      a.dims = dims_of(k);
      a.first = t == 1;
      pcp->forward(a);
      k2.requires_grad_(true);
      torch::Tensor l;  // L_t (B, H, N, D), SDPA's layout
      {
        torch::AutoGradMode record(true);  // the forward runs with grad off; record this call's backward
        l = at::scaled_dot_product_attention(k2, k2, v_leaf);
      }
      l_prev = unit_d_stride(l);  // SDPA's outputs have it (no copy); the PCP kernels read any other strides
      graphs.push_back(k2);
      graphs.push_back(l);
      to_save.push_back(s);
      s_prev = s;
    }
    graphs.push_back(v_leaf);
    ctx->save_for_backward(to_save);
    ctx->saved_data["graphs"] = graphs;
    ctx->saved_data["pcp"] = reinterpret_cast<int64_t>(pcp);
    return l_prev.detach();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& k = saved[0];
    const auto& thresh = saved[1];
    const auto& abs_sum = saved[2];
    auto graphs = ctx->saved_data["graphs"].toTensorVector();
    ctx->saved_data.erase("graphs");  // the SDPA graphs are freed as their backward runs
    const auto* pcp = reinterpret_cast<const RpcPcpBackend*>(ctx->saved_data["pcp"].toInt());
    const int64_t B = k.size(0), H = k.size(1), N = k.size(2), D = k.size(3);
    const int64_t n_iter = static_cast<int64_t>(saved.size()) - 3;
    const auto acc = k.options().dtype(accum_type(k.scalar_type()));
    auto v_leaf = graphs.back();
    auto gl = grad_outputs[0].to(k.scalar_type()).contiguous();  // dLoss/dL_t, (B, H, N, D)
    auto g = torch::zeros({B, H, N, D}, acc);                   // dLoss/dZ_{t-1}
    auto gk = torch::zeros({B, H, N, D}, acc);                  // dLoss/dK, accumulated
    auto gv = torch::zeros({B, H, N, D}, acc);                  // dLoss/dV, accumulated
    auto gthresh = torch::zeros({B, H}, acc);                   // dLoss/dthresh
    for (int64_t t = n_iter; t >= 1; --t) {
      auto k2 = graphs[2 * (t - 1)], l = graphs[2 * (t - 1) + 1];
      torch::autograd::variable_list gr;
      {
        torch::AutoGradMode record(true);
        gr = torch::autograd::grad({l}, {k2, v_leaf}, {gl}, /*retain_graph=*/false);
      }
      graphs[2 * (t - 1)] = graphs[2 * (t - 1) + 1] = torch::Tensor();
      gv.add_(gr[1]);
      const auto gk2 = unit_d_stride(gr[0]);
      auto gl_prev = t > 1 ? torch::empty({B, H, N, D}, k.options()) : torch::Tensor();
      RpcPcpBwdArgs a{};
      a.gk2 = gk2.data_ptr();
      a.gk2_st = strides_of(gk2);
      a.s = saved[2 + t].data_ptr();
      a.g = g.data_ptr();
      a.gk = gk.data_ptr();
      a.gl_prev = t > 1 ? gl_prev.data_ptr() : nullptr;
      a.gthresh = gthresh.data_ptr();
      a.dims = dims_of(k);
      a.first = t == 1;
      pcp->backward(a);
      gl = gl_prev;
    }
    // thresh = lambda * N * C / (4 sum|K|): d thresh / dK = -thresh / sum|K| * sign(K) where sum|K| > 0.
    const auto coef = torch::where(abs_sum > 0, -gthresh * thresh / abs_sum, torch::zeros_like(abs_sum));  // (B, H)
    gk.add_(coef.view({B, H, 1, 1}) * k.to(acc.dtype()).sign());
    return {gk.to(k.scalar_type()), gv.to(k.scalar_type()), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

// The CPU loop backend: the per-element functions of rpc_pcp_step.h over (b, h) slices in parallel.
template <class T>
using CpuAccum = std::conditional_t<std::is_same<T, double>::value, double, float>;

// Runs slice(bh, b, h, base) for every (b, h) slice in parallel; base = bh * N * D (contiguous tensors).
template <class Slice>
void for_each_slice(const RpcPcpDims& dm, const Slice& slice) {
  const int64_t nd = static_cast<int64_t>(dm.N) * dm.D;
  at::parallel_for(0, static_cast<int64_t>(dm.B) * dm.H, 1, [&](int64_t bh0, int64_t bh1) {
    for (int64_t bh = bh0; bh < bh1; ++bh) slice(bh, bh / dm.H, bh % dm.H, bh * nd);
  });
}

template <class T>
void pcp_forward_cpu(const RpcPcpFwdArgs& p) {
  using A = CpuAccum<T>;
  const RpcPcpDims dm = p.dims;
  for_each_slice(dm, [&](int64_t bh, int64_t b, int64_t h, int64_t base) {
    const A thresh = static_cast<const A*>(p.thresh)[bh];
    const T* k = static_cast<const T*>(p.k) + b * p.k_st.b + h * p.k_st.h;
    const T* l_prev = p.first ? nullptr : static_cast<const T*>(p.l_prev) + b * p.l_st.b + h * p.l_st.h;
    const A* s_prev = p.first ? nullptr : static_cast<const A*>(p.s_prev) + base;
    A* z = static_cast<A*>(p.z) + base;
    A* s = static_cast<A*>(p.s) + base;
    T* k2 = static_cast<T*>(p.k2) + base;
    for (int64_t r = 0; r < dm.N; ++r)
      for (int64_t d = 0; d < dm.D; ++d) {
        const int64_t e = r * dm.D + d;
        const A lv = p.first ? A(0) : static_cast<A>(l_prev[r * p.l_st.n + d]);
        A k2v;
        pcp::forward<A>(p.first, static_cast<A>(k[r * p.k_st.n + d]), lv, p.first ? A(0) : z[e],
                        p.first ? A(0) : s_prev[e], thresh, z[e], s[e], k2v);
        k2[e] = static_cast<T>(k2v);
      }
  });
}

template <class T>
void pcp_backward_cpu(const RpcPcpBwdArgs& p) {
  using A = CpuAccum<T>;
  const RpcPcpDims dm = p.dims;
  for_each_slice(dm, [&](int64_t bh, int64_t b, int64_t h, int64_t base) {
    const T* gk2 = static_cast<const T*>(p.gk2) + b * p.gk2_st.b + h * p.gk2_st.h;
    const A* s = static_cast<const A*>(p.s) + base;
    A* g = static_cast<A*>(p.g) + base;
    A* gk = static_cast<A*>(p.gk) + base;
    T* gl_prev = p.first ? nullptr : static_cast<T*>(p.gl_prev) + base;
    A dthresh = A(0);
    for (int64_t r = 0; r < dm.N; ++r)
      for (int64_t d = 0; d < dm.D; ++d) {
        const int64_t e = r * dm.D + d;
        A gv = g[e], glv = A(0);  // dLoss/dZ_{t-1}; also step 1's: dLoss/dS_1 = -dLoss/dZ_1
        dthresh += pcp::backward<A>(p.first, static_cast<A>(gk2[r * p.gk2_st.n + d]), s[e], gv, gk[e], glv);
        if (!p.first) {
          g[e] = gv;
          gl_prev[e] = static_cast<T>(glv);
        }
      }
    static_cast<A*>(p.gthresh)[bh] += dthresh;  // one task per (b, h): no race
  });
}

template <class Run>
void cpu_pcp_dispatch(RpcPcpType type, Run&& run) {
  switch (type) {
    case RpcPcpType::kF32: return run(float{});
    case RpcPcpType::kF64: return run(double{});
    case RpcPcpType::kBF16: return run(c10::BFloat16{});
  }
}

class CpuPcpBackend final : public RpcPcpBackend {
 public:
  void forward(const RpcPcpFwdArgs& a) const override {
    cpu_pcp_dispatch(a.dims.type, [&](auto tag) { pcp_forward_cpu<decltype(tag)>(a); });
  }
  void backward(const RpcPcpBwdArgs& a) const override {
    cpu_pcp_dispatch(a.dims.type, [&](auto tag) { pcp_backward_cpu<decltype(tag)>(a); });
  }
};

}  // namespace

const RpcPcpBackend& rpc_pcp_cpu_backend() {
  static const CpuPcpBackend backend;
  return backend;
}

torch::Tensor rpc_attention_composed(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                     int64_t model_dim, const RpcPcpBackend& pcp) {
  rpc_attention_composed_check_inputs(k, v, n_iter, lambda, model_dim);
  if (n_iter == 0) return at::scaled_dot_product_attention(k, k, v);  // (B, H, N, D)
  return ComposedRpcFunction::apply(k, v, n_iter, lambda, model_dim, &pcp);
}

torch::Tensor rpc_attention_composed(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                     int64_t model_dim) {
#ifdef RPCT_WITH_CUDA
  if (k.is_cuda()) return rpc_attention_composed(k, v, n_iter, lambda, model_dim, rpc_pcp_cuda_backend());
#endif
  return rpc_attention_composed(k, v, n_iter, lambda, model_dim, rpc_pcp_cpu_backend());
}

}  // namespace rpct

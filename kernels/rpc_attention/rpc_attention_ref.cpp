// The reference implementations, built from LibTorch ops: the specification the kernels are tested
// against (autograd differentiates them). Math: docs/rpc-attention.md (#softmax-attention,
// #symmetric-kv-attention, #kvpos-attention, #rpc-attention); README.md here for the kernels.
#include <cmath>
#include <limits>

#include "kernels/rpc_attention/rpc_attention.h"

namespace rpct {

torch::Tensor softmax_attention_reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                          const torch::Tensor& bias, double attn_drop, bool training) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;  // (B, H, N, N)
  if (bias.defined()) scores = scores + bias;
  auto a = torch::softmax(scores, -1);
  if (training && attn_drop > 0.0) a = torch::dropout(a, attn_drop, /*train=*/true);
  return torch::matmul(a, v);  // (B, H, N, D)
}

torch::Tensor rpc_threshold_reference(const torch::Tensor& k, double lambda, int64_t model_dim) {
  const int64_t N = k.size(-2);
  auto sum_abs = k.abs().sum({-2, -1}, /*keepdim=*/true);  // (B, H, 1, 1)
  auto nonzero = sum_abs > 0;
  // Guard: where sum|K| == 0 divide by 1 instead (that branch is not selected, so its value and its
  // gradient do not matter), and use the limit thresh -> +inf (lambda > 0) or 0 (lambda == 0).
  auto safe = torch::where(nonzero, sum_abs, torch::ones_like(sum_abs));
  auto mu = static_cast<double>(N * model_dim) / (4.0 * safe);
  const double limit = lambda > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
  return torch::where(nonzero, lambda * mu, torch::full_like(sum_abs, limit));
}

torch::Tensor rpc_attention_reference(const torch::Tensor& k, const torch::Tensor& v, int64_t n_iter, double lambda,
                                      int64_t model_dim, double attn_drop, bool training) {
  TORCH_CHECK(k.dim() == 4 && v.sizes() == k.sizes(), "rpc_attention_reference: k and v must both be (B, H, N, D), got ",
              k.sizes(), " and ", v.sizes());
  TORCH_CHECK(n_iter >= 0, "rpc_attention_reference: n_iter must be >= 0");
  if (n_iter == 0) return softmax_attention_reference(k, k, v, {}, attn_drop, training);
  // The loop of docs/rpc-attention.md#the-iteration with the scaled dual Yt = Y / mu
  // (docs/rpc-attention.md#scaled-dual: mu is constant over the iterations, so
  // S = shrink(K - L + Y/mu), K2 = K - S - Y/mu and Y += mu (K - L - S) become the lines below exactly;
  // mu then enters only through thresh). This also keeps all-zero keys finite: Y itself would be inf.
  auto thresh = rpc_threshold_reference(k, lambda, model_dim);  // (B, H, 1, 1)
  auto L = torch::zeros_like(k);
  auto Yt = torch::zeros_like(k);
  for (int64_t it = 0; it < n_iter; ++it) {
    auto x = k - L + Yt;
    auto S = torch::sign(x) * torch::relu(x.abs() - thresh);  // soft threshold
    auto K2 = k - S - Yt;
    const bool last = it == n_iter - 1;
    L = softmax_attention_reference(K2, K2, v, {}, last ? attn_drop : 0.0, training);
    if (!last) Yt = Yt + (k - L - S);
  }
  return L;
}

}  // namespace rpct

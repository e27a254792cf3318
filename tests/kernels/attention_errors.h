// Error measures shared by the attention tests (fused op, reference, modules).
#pragma once
#include <torch/torch.h>

#include <algorithm>

namespace rpct::test {

// max |a - b| / max(1, max |b|): an error relative to the tensor's scale.
inline double scaled_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  return (ad - bd).abs().max().item<double>() / std::max(1.0, bd.abs().max().item<double>());
}

// ||a - b|| / ||b|| (Frobenius).
inline double rel_norm_err(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
  return (ad - bd).norm().item<double>() / std::max(1e-30, bd.norm().item<double>());
}

}  // namespace rpct::test

// The CUDA RPC-Attention kernels on a real GPU (rpct::rpc_attention_cuda_forward/backward) and the
// composed op (rpct::rpc_attention_composed) against the float64 spec reference on the CPU, forward and
// backward. Skips with a reason without a CUDA build or without a device. The same cases as the emulator tests plus ViT-sized ones (N = 197).
#include <gtest/gtest.h>

#include "kernels/rpc_attention/rpc_attention.h"
#include "tests/kernels/composed_check.h"
#include "tests/kernels/test_emu_reference.h"

namespace {

using rpct::test::Case;

class GpuAttention : public ::testing::TestWithParam<Case> {};

TEST_P(GpuAttention, MatchesSpecForwardAndBackward) {
#ifndef RPCT_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (RPCT_WITH_CUDA=OFF)";
#else
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible (torch::cuda::is_available() is false)";
  const Case c = GetParam();
  const auto e = rpct::test::compare_with_spec(
      c, torch::kCUDA,
      [&](const torch::Tensor& k, const torch::Tensor& v) {
        return rpct::rpc_attention_cuda_forward(k, v, c.n_iter, c.lambda, c.H * c.D);
      },
      [&](const torch::Tensor& go, const torch::Tensor& k, const torch::Tensor& v, const std::vector<torch::Tensor>& s) {
        return rpct::rpc_attention_cuda_backward(go, k, v, s, c.n_iter, c.lambda, c.H * c.D);
      });
  const double tol = rpct::test::tolerance(c.dtype);
  std::cout << "[gpu] " << c.str() << ": " << e.str() << " (tol " << tol << ")\n";
  EXPECT_LE(e.max(), tol) << c.str() << ": " << e.str();
#endif
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (auto dt : {torch::kFloat32, torch::kBFloat16})
    for (int64_t d : {32, 64, 128})
      for (int64_t it : {0, 1, 2, 4}) {
        cs.push_back({2, 3, 45, d, it, 0.3, dt});
        cs.push_back({2, 3, 197, d, it, 0.3, dt});
      }
  cs.push_back({4, 3, 197, 64, 4, 4.0, torch::kFloat32});
  cs.push_back({1, 2, 1, 64, 2, 0.3, torch::kFloat32});
  cs.push_back({1, 2, 300, 64, 2, 0.3, torch::kBFloat16});
  return cs;
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuAttention, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return rpct::test::test_name(i.param); });

// The composed op (SDPA + the PCP CUDA kernels; attention.impl auto on CUDA) on the device against the
// float64 spec, forward and gradients by autograd (float32: kTolF32 of test_emu_reference.h; bf16: no worse
// than LibTorch's all-bf16 reference, composed_check.h).
class GpuComposed : public ::testing::TestWithParam<Case> {};

TEST_P(GpuComposed, MatchesSpecForwardAndBackward) {
#ifndef RPCT_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (RPCT_WITH_CUDA=OFF)";
#else
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible (torch::cuda::is_available() is false)";
  const Case c = GetParam();
  auto composed = [&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D);
  };
  if (c.dtype == torch::kBFloat16) {  // no fixed tolerance in bf16: see composed_check.h
    rpct::test::expect_bf16_no_worse_than_torch_bf16(c, torch::kCUDA, composed, 1);
    return;
  }
  const auto e = rpct::test::compare_autograd_with_spec(c, torch::kCUDA, composed);
  std::cout << "[gpu composed] " << c.str() << ": " << e.str() << " (tol " << rpct::test::kTolF32 << ")\n";
  EXPECT_LE(e.max(), rpct::test::kTolF32) << c.str() << ": " << e.str();
#endif
}

std::vector<Case> composed_cases() {
  std::vector<Case> cs;
  for (auto dt : {torch::kFloat32, torch::kBFloat16})
    for (int64_t it : {0, 1, 4}) {
      cs.push_back({2, 3, 197, 64, it, 0.3, dt});
      cs.push_back({1, 3, 1025, 64, it, 4.0, dt});
    }
  cs.push_back({2, 3, 45, 16, 2, 0.3, torch::kFloat32});  // head dim 16: the composed path has no head-dim limit
  return cs;
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuComposed, ::testing::ValuesIn(composed_cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return rpct::test::test_name(i.param); });

}  // namespace

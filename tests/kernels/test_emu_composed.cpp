// The composed RPC-Attention op with its elementwise PCP steps on the CUDA kernels
// (kernels/rpc_attention/rpc_pcp_kernels.cuh) run on the CPU by the emulator (kernels/cuda_emu), SDPA on
// LibTorch's CPU kernel: float64 against the float64 reference at the DeiT-Tiny and Segmenter shapes
// (forward and gradients), and the emulated kernels against the CPU loop backend (the same per-element
// functions) in float32 and bfloat16.
#include <gtest/gtest.h>

#include "tests/kernels/composed_check.h"
#include "tests/kernels/test_emu_backend.h"
#include "tests/test_seed.h"

using rpct::test::ComposedCase;

namespace {

// float64: as test_rpc_attention_composed.cpp (SDPA's blocked softmax vs the reference's, a few ulp through
// up to 4 unrolled iterations; 1e-9 of the tensor scale leaves ~1e5 ulp).
constexpr double kFp64Tol = 1e-9;
// Emulated kernels vs the CPU loop: the same per-element functions, so the forward (S, K2, Z, SDPA) is
// bit-identical; the gradients differ only in the summation order of d thresh per (b, h) (per block then
// atomics, vs one sequential sum), which reaches dK through d thresh * thresh / sum|K|: float32 rounding
// of a sum over N*D terms, relative 1e-5 of the gradient scale with margin. In bfloat16 that difference
// can move dK across a rounding boundary: one bfloat16 step, 2^-8 relative.
constexpr double kGradOrderTolF32 = 1e-5;
constexpr double kGradOrderTolBf16 = 1.0 / 256;
constexpr double kLambdaMixed = 0.3;  // thresh near the middle of |K|: both shrink branches
constexpr double kLambdaDefault = 4.0;

rpct::test::OutAndGrads run_composed(const ComposedCase& c, const rpct::RpcPcpBackend& pcp, const torch::Tensor& k0,
                                     const torch::Tensor& v0, const torch::Tensor& w, torch::ScalarType dtype) {
  return rpct::test::run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D, pcp);
  }, k0, v0, w, dtype);
}

void expect_emu_matches_reference(const ComposedCase& c) {
  SCOPED_TRACE(c.str());
  auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
  const auto ref = rpct::test::reference_float64(c, k0, v0, w);
  const auto emu = run_composed(c, EmuPcpBackend{}, k0, v0, w, torch::kDouble);
  std::string detail;
  const double err = rpct::test::max_scaled_err(emu, ref, &detail);
  std::cout << "[emu composed] " << c.str() << " float64: " << detail << "\n";
  EXPECT_LE(err, kFp64Tol) << detail;
}

}  // namespace

TEST(EmuComposed, Float64MatchesReferenceAtModelShapes) {
  torch::manual_seed(rpct::test::test_seed());
  expect_emu_matches_reference({1, 3, 197, 64, 4, kLambdaMixed});    // DeiT-Tiny, batch 1
  expect_emu_matches_reference({1, 1, 1025, 64, 4, kLambdaDefault});  // Segmenter, one head
}

TEST(EmuComposed, Float64MatchesReferenceAtOddShapes) {
  torch::manual_seed(rpct::test::test_seed());
  for (int64_t n_iter : {1, 2, 5}) expect_emu_matches_reference({2, 3, 37, 5, n_iter, kLambdaMixed});
  expect_emu_matches_reference({1, 2, 1, 3, 2, 0.0});
}

// The emulated CUDA kernels and the CPU loop run the same per-element functions: bit-identical forward,
// gradients up to the order of the d thresh sum.
TEST(EmuComposed, KernelsMatchTheCpuLoop) {
  torch::manual_seed(rpct::test::test_seed());
  const ComposedCase c{2, 3, 45, 32, 3, kLambdaMixed};
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(dtype == torch::kFloat ? "float32" : "bfloat16");
    auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
    const auto emu = run_composed(c, EmuPcpBackend{}, k0, v0, w, dtype);
    const auto cpu = run_composed(c, rpct::rpc_pcp_cpu_backend(), k0, v0, w, dtype);
    EXPECT_TRUE(torch::equal(emu.out, cpu.out));
    EXPECT_TRUE(torch::equal(emu.dv, cpu.dv));  // dV does not see d thresh
    EXPECT_LE(rpct::test::scaled_err(emu.dk, cpu.dk), dtype == torch::kFloat ? kGradOrderTolF32 : kGradOrderTolBf16);
  }
}

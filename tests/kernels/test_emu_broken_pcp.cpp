// A deliberately broken variant of the composed op's PCP kernels: RPCT_EMU_BREAK_PCP_THRESH_GRAD (see
// rpc_pcp_kernels.cuh: the backward loses d thresh, i.e. the gradient through mu). The test passes when
// the composed op on these kernels misses the float64 reference by far more than the tolerance the
// correct kernels meet (test_emu_composed).
#define RPCT_EMU_BREAK_PCP_THRESH_GRAD
#define RPCT_KERNELS_NS kernels_broken_pcp
#include <gtest/gtest.h>

#include "tests/kernels/composed_check.h"
#include "tests/kernels/test_emu_backend.h"

TEST(EmuBroken_pcp_thresh_grad, IsDetected) {
  constexpr double kFp64Tol = 1e-9;      // what test_emu_composed holds the correct kernels to
  constexpr double kLambdaMixed = 0.3;   // thresh inside the range of |K|: d thresh is not zero
  const rpct::test::ComposedCase c{1, 2, 37, 8, 2, kLambdaMixed};
  torch::manual_seed(kBrokenVariantSeed);  // fixed: this known defect must be seen on every run
  auto k0 = torch::randn({c.B, c.H, c.N, c.D}, torch::kDouble), v0 = torch::randn_like(k0), w = torch::randn_like(k0);
  const auto ref = rpct::test::reference_float64(c, k0, v0, w);
  const EmuPcpBackend pcp;  // outlives the backward
  const auto broken = rpct::test::run_with_grads([&](const torch::Tensor& k, const torch::Tensor& v) {
    return rpct::rpc_attention_composed(k, v, c.n_iter, c.lambda, c.H * c.D, pcp);
  }, k0, v0, w, torch::kDouble);
  std::string detail;
  const double err = rpct::test::max_scaled_err(broken, ref, &detail);
  std::cout << "[broken pcp thresh grad] " << c.str() << ": " << detail << "\n";
  EXPECT_GT(err, 1e3 * kFp64Tol) << "the dropped threshold gradient was NOT detected: " << detail;
}

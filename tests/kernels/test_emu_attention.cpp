// The CUDA RPC-Attention kernels (kernels/rpc_attention/rpc_attention_kernels.cuh), run on the CPU by
// the CUDA emulator (kernels/cuda_emu), forward and backward, against a float64 reference written
// from docs/rpc-attention.md with autograd gradients. Small sizes; N not a multiple of the 32-key tile nor of the
// 16/32-row query tiles; head dims 32, 64, 128; n_iter 0 (plain symmetric attention) to 4; float32
// and bfloat16 (bf16 rounding of inputs and outputs is real: the kernels read/write __nv_bfloat16).
// Inputs: new every run (the seed of tests/test_seed.h, printed; RPCT_TEST_SEED=N replays a run), several draws per
// case, as the CPU kernel's tests do (test_rpc_attention.cpp).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/kernels/test_emu_backend.h"
#include "tests/test_seed.h"

namespace {

using rpct::test::Case;

// Input draws per case and run. A defect that shows on a fraction p of the inputs (a data-dependent branch, one
// row's running max, one element's soft-threshold side) is missed by a run with probability (1 - p)^draws per
// case, and cases of one shape share the defect: 3 draws keep the emu label's time about the same (the cases
// cost ~0.5 CPU s per draw in all, the label ~10 s) while over runs the per-run seed covers new inputs.
constexpr int kDraws = 3;

// The seeds of the draws of one test: a stream from the run's seed, so each draw has its own inputs and a
// failure names the run seed that replays it.
class DrawSeeds {
 public:
  DrawSeeds() : run_seed_(rpct::test::test_seed()), stream_(run_seed_) {}
  uint64_t next() { return stream_(); }
  std::string where(int draw) const {
    return "draw " + std::to_string(draw) + " (RPCT_TEST_SEED=" + std::to_string(run_seed_) + ")";
  }

 private:
  uint64_t run_seed_;
  std::mt19937_64 stream_;
};

// lambda = 0.3 puts thresh = lambda * mu near the middle of |K| for these inputs (model_dim = H*D),
// so both branches of the soft threshold (and its gradient) are exercised; lambda = 4 (the authors'
// default) mostly zeroes S.
constexpr double kLambdaMixed = 0.3;
constexpr double kLambdaDefault = 4.0;

class EmuAttention : public ::testing::TestWithParam<Case> {};

TEST_P(EmuAttention, MatchesSpecForwardAndBackward) {
  const Case c = GetParam();
  const double tol = rpct::test::tolerance(c.dtype);
  DrawSeeds seeds;
  for (int draw = 0; draw < kDraws; ++draw) {
    const auto e = emu_errors(c, seeds.next());
    std::cout << "[emu] " << c.str() << " " << seeds.where(draw) << ": " << e.str() << " (tol " << tol << ")\n";
    EXPECT_LE(e.max(), tol) << c.str() << " " << seeds.where(draw) << ": " << e.str();
  }
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  for (int64_t it = 0; it <= 4; ++it) cs.push_back({1, 2, 45, 32, it, kLambdaMixed, torch::kFloat32});
  cs.push_back({2, 1, 70, 32, 2, kLambdaMixed, torch::kFloat32});  // several key and query tiles, B > 1
  cs.push_back({1, 2, 37, 64, 0, kLambdaMixed, torch::kFloat32});
  cs.push_back({1, 2, 37, 64, 1, kLambdaMixed, torch::kFloat32});
  cs.push_back({1, 2, 37, 64, 3, kLambdaDefault, torch::kFloat32});
  cs.push_back({1, 1, 19, 128, 0, kLambdaMixed, torch::kFloat32});  // N smaller than one tile
  cs.push_back({1, 2, 19, 128, 2, kLambdaMixed, torch::kFloat32});
  cs.push_back({1, 1, 1, 32, 2, kLambdaMixed, torch::kFloat32});  // a single token
  cs.push_back({1, 2, 45, 32, 0, kLambdaMixed, torch::kBFloat16});
  cs.push_back({1, 2, 45, 32, 4, kLambdaMixed, torch::kBFloat16});
  cs.push_back({1, 2, 37, 64, 2, kLambdaMixed, torch::kBFloat16});
  cs.push_back({1, 1, 19, 128, 1, kLambdaMixed, torch::kBFloat16});
  return cs;
}

INSTANTIATE_TEST_SUITE_P(Cases, EmuAttention, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return rpct::test::test_name(i.param); });

// The same kernels give the same answer under the other schedules: all threads of a block free
// (OS interleaving) and warps in descending order.
TEST(EmuAttentionSchedules, FreeAndDescendingOrdersAlsoMatch) {
  const Case c{1, 2, 45, 32, 2, kLambdaMixed, torch::kFloat32};
  DrawSeeds seeds;
  {
    rpct::emu::Options o;
    o.schedule = rpct::emu::Schedule::kFree;
    rpct::emu::ScopedOptions s(o);
    const auto e = emu_errors(c, seeds.next());
    EXPECT_LE(e.max(), rpct::test::kTolF32) << "free schedule, " << seeds.where(0) << ": " << e.str();
  }
  {
    rpct::emu::Options o;
    o.warp_order = rpct::emu::WarpOrder::kDescending;
    rpct::emu::ScopedOptions s(o);
    const auto e = emu_errors(c, seeds.next());
    EXPECT_LE(e.max(), rpct::test::kTolF32) << "descending warps, " << seeds.where(1) << ": " << e.str();
  }
}

// All-zero keys: sum|K| = 0, thresh = +inf, S = 0 (the guarded limit); the result must be finite
// and equal to the scaled-dual iteration with S = 0 (K2_1 = 0: uniform attention, L_1 = mean V).
TEST(EmuAttentionEntry, ZeroKeysAreFinite) {
  torch::manual_seed(rpct::test::test_seed());
  auto k = torch::zeros({1, 1, 21, 32});
  auto v = torch::randn({1, 1, 21, 32});
  auto r = rpct::cuda_entry::forward(k, v, 2, 0.3, 32, EmuBackend{});
  ASSERT_TRUE(r[0].isfinite().all().item<bool>());
  // iteration 1: K2 = 0 -> L1 = mean(V); Z1 = -L1; iteration 2: K2 = -Z1 = L1 (every row the same) -> L2 = mean(V)
  auto mean_v = v.mean(2, true).expand_as(v);
  EXPECT_LE((r[0] - mean_v).abs().max().item<double>(), 1e-5);
  auto g = rpct::cuda_entry::backward(torch::ones_like(v), k, v, {r.begin() + 1, r.end()}, 2, 0.3, 32, EmuBackend{});
  EXPECT_TRUE(g[0].isfinite().all().item<bool>());
  EXPECT_TRUE(g[1].isfinite().all().item<bool>());
}

}  // namespace

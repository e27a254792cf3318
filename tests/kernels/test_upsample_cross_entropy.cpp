// The fused upsample + cross-entropy op (kernels/seg_loss) against the composed LibTorch ops
// (F::interpolate bilinear + F::cross_entropy): loss and gradient w.r.t. the low-resolution logits, in
// float64 and float32, for the Segmenter's patch-16 upsampling, ratios that are not integers, identity and
// shrinking sizes, ignored pixels, token-major and contiguous logits; plus thread-count independence, no
// labelled pixel, and bad labels.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <string>

#include "kernels/seg_loss/upsample_cross_entropy.h"
#include "tests/expect_error.h"
#include "tests/test_seed.h"

using rpct::test::expect_error_naming;

namespace {

constexpr int64_t kIgnore = 255;
// float64: the same interpolation weights and the same formula; only the summation order and exp's argument
// clamp (log(DBL_MIN) + 1: cpu_simd.h) differ, so a few ulp of the loss scale; 1e-11 leaves ~1e4 ulp.
constexpr double kFp64Tol = 1e-11;
// float32: each pixel's loss and softmax in float32 (rounding ~6e-8) and the sums over up to 10^5 pixels in
// different orders (the fused loss sums in double, LibTorch in float32); observed up to 5e-7. 2e-5 of the
// loss / gradient scale catches a wrong weight or index (those give >1e-2) but not order-of-summation noise.
constexpr double kFp32Tol = 2e-5;

struct Case {
  int64_t B, K, h, w, H, W;
  double ignored_fraction;
  bool token_major;  // logits as (B, h*w, K) tokens reshaped to (B, K, h, w), as the decoders make them
};

std::string name(const Case& c) {
  return "B" + std::to_string(c.B) + " K" + std::to_string(c.K) + " " + std::to_string(c.h) + "x" +
         std::to_string(c.w) + "->" + std::to_string(c.H) + "x" + std::to_string(c.W) +
         (c.token_major ? " token-major" : " contiguous");
}

torch::Tensor make_logits(const Case& c, torch::ScalarType dtype) {
  if (c.token_major)
    return (3 * torch::randn({c.B, c.h * c.w, c.K}, dtype)).transpose(1, 2).reshape({c.B, c.K, c.h, c.w});
  return 3 * torch::randn({c.B, c.K, c.h, c.w}, dtype);
}

torch::Tensor make_labels(const Case& c) {
  auto y = torch::randint(0, c.K, {c.B, c.H, c.W}, torch::kLong);
  y.masked_fill_(torch::rand({c.B, c.H, c.W}) < c.ignored_fraction, kIgnore);
  return y;
}

// Max abs difference over the reference's max abs value (1 where that is 0).
double scaled_diff(const torch::Tensor& a, const torch::Tensor& ref) {
  const double scale = std::max(ref.abs().max().item<double>(), 1e-30);
  return (a.to(torch::kDouble) - ref.to(torch::kDouble)).abs().max().item<double>() / scale;
}

void expect_matches_reference(const Case& c, torch::ScalarType dtype, double tol) {
  SCOPED_TRACE(name(c) + (dtype == torch::kDouble ? " float64" : " float32"));
  const auto labels = make_labels(c);
  const auto base = make_logits(c, dtype);
  auto a = base.detach().clone().requires_grad_(true);
  auto b = base.detach().clone().requires_grad_(true);
  ASSERT_TRUE(rpct::upsample_cross_entropy_fused_supports(a));
  const auto fused = rpct::upsample_cross_entropy(a, labels, kIgnore);
  const auto ref = rpct::upsample_cross_entropy_reference(b, labels, kIgnore);
  EXPECT_EQ(fused.scalar_type(), dtype);
  EXPECT_EQ(fused.dim(), 0);
  EXPECT_LE(scaled_diff(fused, ref), tol) << "loss " << fused.item<double>() << " vs " << ref.item<double>();
  const double g = 0.7;  // an upstream gradient other than 1
  (fused * g).backward();
  (ref * g).backward();
  ASSERT_TRUE(a.grad().defined());
  EXPECT_EQ(a.grad().sizes(), a.sizes());
  EXPECT_LE(scaled_diff(a.grad(), b.grad()), tol);
}

const Case kCases[] = {
    {2, 150, 4, 5, 64, 80, 0.05, true},     // patch 16, the Segmenter's case
    {2, 11, 8, 8, 56, 56, 0.0, true},       // patch 7 (configs/fmnist_seg.yaml), nothing ignored
    {1, 7, 7, 5, 50, 23, 0.3, false},       // ratios 50/7 and 23/5: not integers
    {3, 5, 6, 6, 6, 6, 0.1, true},          // identity: no interpolation
    {1, 9, 12, 10, 5, 7, 0.1, false},       // shrinking (bilinear without antialias, as F::interpolate)
    {2, 3, 1, 1, 9, 4, 0.2, false},         // a single source pixel
};

}  // namespace

TEST(UpsampleCrossEntropy, MatchesComposedOpsFloat64) {
  torch::manual_seed(rpct::test::test_seed());
  for (const auto& c : kCases) expect_matches_reference(c, torch::kDouble, kFp64Tol);
}

TEST(UpsampleCrossEntropy, MatchesComposedOpsFloat32) {
  torch::manual_seed(rpct::test::test_seed());
  for (const auto& c : kCases) expect_matches_reference(c, torch::kFloat, kFp32Tol);
}

// Rows are split into even and odd tasks so no two threads add into one gradient row, and each element is
// summed in one order: the results are bitwise the same for any thread count.
TEST(UpsampleCrossEntropy, SameBitsForAnyThreadCount) {
  torch::manual_seed(rpct::test::test_seed());
  const Case c{3, 20, 9, 7, 100, 60, 0.1, true};
  const auto labels = make_labels(c);
  const auto base = make_logits(c, torch::kFloat);
  const int threads_before = at::get_num_threads();
  torch::Tensor loss[2], grad[2];
  const int threads[2] = {1, 3};
  for (int i = 0; i < 2; ++i) {
    at::set_num_threads(threads[i]);
    auto x = base.detach().clone().requires_grad_(true);
    loss[i] = rpct::upsample_cross_entropy(x, labels, kIgnore);
    loss[i].backward();
    grad[i] = x.grad();
  }
  at::set_num_threads(threads_before);
  EXPECT_TRUE(torch::equal(loss[0], loss[1]));
  EXPECT_TRUE(torch::equal(grad[0], grad[1]));
}

// Every pixel ignored: NaN like F::cross_entropy (0 / 0), and a zero gradient rather than NaN.
TEST(UpsampleCrossEntropy, NoLabelledPixelGivesNan) {
  auto x = torch::randn({1, 4, 2, 2}).requires_grad_(true);
  const auto labels = torch::full({1, 8, 8}, kIgnore, torch::kLong);
  const auto loss = rpct::upsample_cross_entropy(x, labels, kIgnore);
  EXPECT_TRUE(std::isnan(loss.item<double>()));
  EXPECT_TRUE(std::isnan(rpct::upsample_cross_entropy_reference(x, labels, kIgnore).item<double>()));
  loss.backward();
  EXPECT_EQ(x.grad().abs().sum().item<double>(), 0.0);
}

TEST(UpsampleCrossEntropy, RejectsBadInput) {
  const auto x = torch::randn({1, 4, 2, 2});
  auto labels = torch::zeros({1, 8, 8}, torch::kLong);
  labels[0][3][5] = 4;  // K = 4 classes: 0..3
  expect_error_naming([&] { rpct::upsample_cross_entropy(x, labels, kIgnore); }, {"label 4 is out of range for 4 classes"});
  labels[0][3][5] = -1;
  expect_error_naming([&] { rpct::upsample_cross_entropy(x, labels, kIgnore); }, {"label -1 is out of range"});
  expect_error_naming([&] { rpct::upsample_cross_entropy(x, torch::zeros({1, 8, 8}, torch::kInt), kIgnore); }, {"labels must be int64"});
  expect_error_naming([&] { rpct::upsample_cross_entropy(x, torch::zeros({2, 8, 8}, torch::kLong), kIgnore); }, {"are not (B, K, h, w) and (B, H, W)"});
}

// Other dtypes take the composed ops (and keep autograd).
TEST(UpsampleCrossEntropy, OtherDtypesUseComposedOps) {
  auto x = torch::randn({1, 4, 2, 2}, torch::kBFloat16).requires_grad_(true);
  EXPECT_FALSE(rpct::upsample_cross_entropy_fused_supports(x));
  const auto labels = torch::randint(0, 4, {1, 8, 8}, torch::kLong);
  const auto loss = rpct::upsample_cross_entropy(x, labels, kIgnore);
  EXPECT_TRUE(torch::equal(loss, rpct::upsample_cross_entropy_reference(x, labels, kIgnore)));
  loss.backward();
  EXPECT_TRUE(x.grad().defined());
}

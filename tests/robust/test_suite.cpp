// The suite's evaluation sources (robust/suite.h): corruptions applied to the 8-bit image before
// normalisation (RGB and gray Fashion-MNIST), keyed by the image's slot; non-8-bit inputs refused;
// SuiteSource's subset, label map and slot indices; image_corruption (bench segment's per-image edit), keyed by
// the image's dataset index.
#include <gtest/gtest.h>

#include <vector>

#include "datasets/fashion_mnist.h"
#include "datasets/transforms.h"
#include "robust/suite.h"
#include "tests/expect_error.h"
#include "tests/test_seed.h"

namespace {

using namespace rpct::robust;

// Normalized float32 values map back to 8-bit pixels within float rounding.
constexpr double kPixelTolerance = 1e-3;

const InputNormalization kRgb = {{rpct::kImagenetMean[0], rpct::kImagenetMean[1], rpct::kImagenetMean[2]},
                                 {rpct::kImagenetStd[0], rpct::kImagenetStd[1], rpct::kImagenetStd[2]}};
const InputNormalization kGray = {{rpct::kFashionMnistMean}, {rpct::kFashionMnistStd}};

torch::Tensor normalize(const torch::Tensor& u8, const InputNormalization& n) {  // (B, C, H, W) uint8
  const int64_t C = u8.size(1);
  auto mean = torch::tensor(n.mean, torch::kFloat64).view({1, C, 1, 1});
  auto std = torch::tensor(n.std, torch::kFloat64).view({1, C, 1, 1});
  return ((u8.to(torch::kFloat64) / 255.0 - mean) / std).to(torch::kFloat32);
}

torch::Tensor pixels(const torch::Tensor& x, const InputNormalization& n) {  // back to (B, C, H, W) float pixels
  const int64_t C = x.size(1);
  auto mean = torch::tensor(n.mean, torch::kFloat64).view({1, C, 1, 1});
  auto std = torch::tensor(n.std, torch::kFloat64).view({1, C, 1, 1});
  return (x.to(torch::kFloat64) * std + mean) * 255.0;
}

class SuiteTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(static_cast<int64_t>(rpct::test::test_seed() % (1ull << 62))); }
};

TEST_F(SuiteTest, RgbBatchIsCorruptedAsItsEightBitImages) {
  auto u8 = torch::randint(0, 256, {3, 3, 9, 7}, torch::kUInt8);  // (B, C, H, W), odd sizes
  auto x = normalize(u8, kRgb);
  const CorruptionSpec spec{Corruption::kGaussianNoise, 3, 11};
  const std::vector<int64_t> slots = {40, 41, 42};
  corrupt_normalized_batch(x, kRgb, spec, slots, "test set");
  for (int64_t i = 0; i < 3; ++i) {
    auto expect = corrupt(u8[i].permute({1, 2, 0}).contiguous(), spec.corruption, spec.severity,
                          corruption_seed(spec.seed, slots[i], spec.corruption, spec.severity));  // (H, W, 3)
    auto got = pixels(x, kRgb)[i].permute({1, 2, 0});
    EXPECT_LT((got - expect.to(torch::kFloat64)).abs().max().item<double>(), kPixelTolerance) << "image " << i;
  }
}

TEST_F(SuiteTest, GrayImagesAreReplicatedCorruptedAndAveraged) {
  auto u8 = torch::randint(0, 256, {2, 1, 28, 28}, torch::kUInt8);
  auto x = normalize(u8, kGray);
  // Gaussian noise: independent per channel, so the mean of the 3 channels is not any one of them.
  const CorruptionSpec spec{Corruption::kGaussianNoise, 2, 5};
  corrupt_normalized_batch(x, kGray, spec, {0, 1}, "fashion-mnist");
  for (int64_t i = 0; i < 2; ++i) {
    auto rgb = corrupt(u8[i][0].unsqueeze(2).expand({28, 28, 3}).contiguous(), spec.corruption, spec.severity,
                       corruption_seed(spec.seed, i, spec.corruption, spec.severity));  // (28, 28, 3)
    auto expect = rgb.to(torch::kFloat64).mean(2).round();                                // (28, 28)
    EXPECT_LT((pixels(x, kGray)[i][0] - expect).abs().max().item<double>(), kPixelTolerance) << "image " << i;
  }
}

TEST_F(SuiteTest, AnImagesCorruptionDependsOnItsSlotOnly) {
  auto u8 = torch::randint(0, 256, {1, 3, 16, 16}, torch::kUInt8);
  auto once = normalize(u8, kRgb), again = normalize(u8, kRgb), elsewhere = normalize(u8, kRgb);
  const CorruptionSpec spec{Corruption::kGaussianNoise, 5, 3};
  corrupt_normalized_batch(once, kRgb, spec, {7}, "t");
  corrupt_normalized_batch(again, kRgb, spec, {7}, "t");
  corrupt_normalized_batch(elsewhere, kRgb, spec, {8}, "t");
  EXPECT_TRUE(torch::equal(once, again));
  EXPECT_FALSE(torch::equal(once, elsewhere));
  EXPECT_NE(corruption_seed(3, 7, Corruption::kGaussianNoise, 5), corruption_seed(3, 7, Corruption::kGaussianNoise, 4));
  EXPECT_NE(corruption_seed(3, 7, Corruption::kGaussianNoise, 5), corruption_seed(3, 7, Corruption::kShotNoise, 5));
}

// image_corruption: the edit bench segment hands the ADE20K evaluation source, keyed by the dataset index.
TEST_F(SuiteTest, ImageCorruptionEditsAnImageKeyedByItsIndex) {
  auto u8 = torch::randint(0, 256, {9, 11, 3}, torch::kUInt8);  // (H, W, 3), odd sizes
  auto image_of = [&] {
    rpct::Image im;
    im.width = 11, im.height = 9, im.channels = 3;
    im.pixels.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
    return im;
  };
  const CorruptionSpec spec{Corruption::kGaussianNoise, 4, 21};
  const auto edit = image_corruption(spec);
  auto at5 = image_of(), again = image_of(), at6 = image_of();
  edit(at5, 5);
  edit(again, 5);
  edit(at6, 6);
  const auto expect = corrupt(u8, spec.corruption, spec.severity,
                              corruption_seed(spec.seed, 5, spec.corruption, spec.severity));  // (H, W, 3)
  EXPECT_EQ(at5.pixels, std::vector<uint8_t>(expect.data_ptr<uint8_t>(), expect.data_ptr<uint8_t>() + expect.numel()));
  EXPECT_EQ(at5.pixels, again.pixels);
  EXPECT_NE(at5.pixels, at6.pixels);
  EXPECT_NE(at5.pixels, image_of().pixels);
  rpct::Image gray;
  gray.width = gray.height = 4, gray.channels = 1;
  gray.pixels.assign(16, 0);
  rpct::test::expect_error_naming([&] { edit(gray, 0); }, {"8-bit RGB", "1 channels"});
}

TEST_F(SuiteTest, InputsThatAreNotEightBitImagesAreRefused) {
  auto x = torch::randn({2, 3, 8, 8});  // an augmented / arbitrary float batch
  rpct::test::expect_error_naming(
      [&] { corrupt_normalized_batch(x, kRgb, {Corruption::kContrast, 1, 0}, {0, 1}, "configs/x.yaml (c/contrast/1)"); },
      {"configs/x.yaml (c/contrast/1)", "not normalized 8-bit pixels"});
}

TEST_F(SuiteTest, SuiteSourceSubsetLabelsAndSlots) {
  rpct::ImageSet set;
  set.images = torch::randint(0, 256, {10, 28, 28}, torch::kUInt8);
  set.labels = torch::arange(10, torch::kInt64) % 3;
  auto inner = std::make_shared<rpct::FashionMnistSource>(set, /*augment=*/false, 0);
  SuiteSource source(inner, std::vector<int64_t>{9, 4, 2}, /*label_map=*/{20, 21, 22});
  ASSERT_EQ(source.size(), 3);
  auto b = source.make_batch(0, {1, 2});
  EXPECT_EQ(b.indices, (std::vector<int64_t>{1, 2}));  // slots, not the inner indices
  EXPECT_TRUE(torch::equal(b.y, torch::tensor({21, 22}, torch::kInt64)));  // inner labels 4 % 3, 2 % 3 mapped
  EXPECT_TRUE(torch::equal(b.x, inner->make_batch(0, {4, 2}).x));
  SuiteSource limited(inner, /*limit=*/5);
  EXPECT_EQ(limited.size(), 5);
  rpct::test::expect_error_naming([&] { source.make_batch(0, {3}); }, {"slot 3", "[0, 3)"});
}

}  // namespace

// robust/corruptions: properties of corrupt() that do not need the Python package (the pixel-level
// comparison with it is compare_corruptions.py): names, input checks, every corruption and severity at
// small and odd sizes (the package refuses < 32x32), determinism per seed, seeds that differ give
// different images for the random corruptions, and the frost error naming its missing folder.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "robust/corruptions.h"

namespace rb = rpct::robust;

namespace {

// A textured RGB test image (gradients + stripes + a bright square), so that every corruption changes it.
torch::Tensor textured_image(int64_t h, int64_t w) {
  auto y = torch::arange(h, torch::kFloat32).view({h, 1, 1});
  auto x = torch::arange(w, torch::kFloat32).view({1, w, 1});
  auto c = torch::arange(3, torch::kFloat32).view({1, 1, 3});
  auto img = 128 + 60 * torch::sin(x * 0.9 + c) * torch::cos(y * 0.7) + 40 * torch::sin((x + y) * 0.3 + 2 * c);
  img = img.clamp(0, 255).to(torch::kUInt8);
  if (h > 6 && w > 6) img.slice(0, h / 4, h / 2).slice(1, w / 4, w / 2).fill_(250);
  return img.contiguous();
}

const std::set<rb::Corruption> kRandom = {
    rb::Corruption::kGaussianNoise, rb::Corruption::kShotNoise,   rb::Corruption::kImpulseNoise,
    rb::Corruption::kSpeckleNoise,  rb::Corruption::kGlassBlur,   rb::Corruption::kMotionBlur,
    rb::Corruption::kSnow,          rb::Corruption::kFrost,       rb::Corruption::kFog,
    rb::Corruption::kElasticTransform, rb::Corruption::kSpatter};

std::string what(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST(Corruptions, NamesMatchThePackageOrder) {
  const auto& names = rb::corruption_names();
  ASSERT_EQ(names.size(), static_cast<size_t>(rb::kNumCorruptions));
  EXPECT_EQ(names.front(), "gaussian_noise");
  EXPECT_EQ(names[rb::kNumBenchmarkCorruptions - 1], "jpeg_compression");
  EXPECT_EQ(names.back(), "saturate");
  for (int i = 0; i < rb::kNumCorruptions; ++i) EXPECT_EQ(static_cast<int>(rb::corruption_from_name(names[i])), i);
  const std::string msg = what([] { rb::corruption_from_name("blurr"); });
  EXPECT_NE(msg.find("'blurr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("zoom_blur"), std::string::npos) << msg;
}

TEST(Corruptions, RejectsBadInput) {
  const auto img = textured_image(28, 28);
  const auto c = rb::Corruption::kGaussianNoise;
  EXPECT_THROW(rb::corrupt(img.to(torch::kFloat32), c, 1, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(img.select(2, 0), c, 1, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(torch::zeros({28, 28, 4}, torch::kUInt8), c, 1, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(torch::zeros({0, 28, 3}, torch::kUInt8), c, 1, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(img, c, 0, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(img, c, 6, 0), std::invalid_argument);
  EXPECT_THROW(rb::corrupt(img, static_cast<rb::Corruption>(19), 1, 0), std::invalid_argument);
  const std::string msg = what([&] { rb::corrupt(img, rb::Corruption::kFog, 7, 0); });
  EXPECT_NE(msg.find("severity"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fog"), std::string::npos) << msg;
  EXPECT_NE(what([&] { rb::corrupt(img.to(torch::kInt32), c, 1, 0); }).find("uint8"), std::string::npos);
}

// Every corruption at every severity, at Fashion-MNIST's 28x28 and at odd small sizes: same shape and
// dtype out, deterministic per seed, the image changed (at 28x28).
TEST(Corruptions, AllCorruptionsAllSeveritiesAnySize) {
  for (auto [h, w] : {std::pair<int64_t, int64_t>{28, 28}, {5, 7}, {1, 1}}) {
    const auto img = textured_image(h, w);
    for (int i = 0; i < rb::kNumCorruptions; ++i) {
      const auto c = static_cast<rb::Corruption>(i);
      for (int s = 1; s <= rb::kNumSeverities; ++s) {
        SCOPED_TRACE(rb::corruption_names()[i] + " severity " + std::to_string(s) + " size " + std::to_string(h) +
                     "x" + std::to_string(w));
        const auto a = rb::corrupt(img, c, s, 42);
        ASSERT_EQ(a.sizes(), img.sizes());
        ASSERT_EQ(a.scalar_type(), torch::kUInt8);
        EXPECT_TRUE(torch::equal(a, rb::corrupt(img, c, s, 42)));
        if (h == 28) {
          EXPECT_FALSE(torch::equal(a, img));
        }
      }
    }
  }
}

TEST(Corruptions, SeedsChangeRandomCorruptionsOnly) {
  const auto img = textured_image(28, 28);
  for (int i = 0; i < rb::kNumCorruptions; ++i) {
    const auto c = static_cast<rb::Corruption>(i);
    SCOPED_TRACE(rb::corruption_names()[i]);
    // Frost picks one of 6 images and a crop: two seeds can coincide on neither with tiny probability; a
    // third seed makes a coincidence of all three negligible.
    const auto a = rb::corrupt(img, c, 3, 1), b = rb::corrupt(img, c, 3, 2), d = rb::corrupt(img, c, 3, 3);
    if (kRandom.count(c)) EXPECT_FALSE(torch::equal(a, b) && torch::equal(a, d));
    else EXPECT_TRUE(torch::equal(a, b) && torch::equal(a, d));
  }
}

TEST(Corruptions, NonContiguousInputSameAsContiguous) {
  const auto img = textured_image(30, 20);
  const auto view = img.transpose(0, 1).contiguous().transpose(0, 1);  // same values, transposed strides
  ASSERT_FALSE(view.is_contiguous());
  for (auto c : {rb::Corruption::kZoomBlur, rb::Corruption::kSnow, rb::Corruption::kSpatter})
    EXPECT_TRUE(torch::equal(rb::corrupt(view, c, 2, 9), rb::corrupt(img, c, 2, 9)));
}

TEST(Corruptions, FrostNamesTheMissingImage) {
  const char* old = std::getenv("RPCT_FROST_DIR");
  const std::string saved = old ? old : "";
  setenv("RPCT_FROST_DIR", "/nonexistent/frost_dir", 1);
  const std::string msg = what([] { rb::corrupt(textured_image(28, 28), rb::Corruption::kFrost, 1, 0); });
  if (old) setenv("RPCT_FROST_DIR", saved.c_str(), 1);
  else unsetenv("RPCT_FROST_DIR");
  EXPECT_NE(msg.find("/nonexistent/frost_dir/frost"), std::string::npos) << msg;
  EXPECT_NE(msg.find("RPCT_FROST_DIR"), std::string::npos) << msg;
}

#include <gtest/gtest.h>

#include <cmath>

#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/sampler.h"
#include "datasets/transforms.h"
#include "tests/datasets/fixtures.h"

using namespace rpct;
using rpct::test::TempDir;

namespace {

// Float32 accumulation of at most a few hundred products of values in [0, 255] x weights summing to 1:
// rounding to uint8 leaves at most one level of difference.
constexpr int kResampleLevelTol = 1;
// Normalized pixel of a flat colour after JPEG q95 + bicubic (which preserves constants): a few levels
// of JPEG error divided by std ~0.225 * 255.
constexpr float kFlatColourTol = 0.06f;

ImageFolderDataset make_set(const TempDir& d, int per_class = 4) {
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < per_class; ++i)
      test::write_jpeg(d.sub("train/n0" + std::to_string(c) + "/img_" + std::to_string(i) + ".JPEG"),
                       test::make_rgb(90 + 17 * i, 70 + 11 * c, c * 7 + i));
  return ImageFolderDataset::open({d.path, "train"});
}

}  // namespace

TEST(Transforms, ResampleIdentityAndConstant) {
  const Image src = test::make_rgb(33, 21, 4);
  for (Filter f : {Filter::kBicubic, Filter::kBilinear}) {
    const Image same = resample_box(src, 0, 0, 33, 21, 33, 21, f);
    EXPECT_EQ(same.pixels, src.pixels);
    // integer crop at scale 1 is a copy of the sub-rectangle
    const Image crop = resample_box(src, 5, 3, 25, 13, 20, 10, f);
    for (int y = 0; y < 10; ++y)
      for (int x = 0; x < 20; ++x)
        for (int c = 0; c < 3; ++c) EXPECT_EQ(crop.row(y)[x * 3 + c], src.row(y + 3)[(x + 5) * 3 + c]);
  }
  const Image flat = test::make_solid(101, 77, 3, {10, 200, 77});
  for (auto [w, h] : {std::pair{13, 9}, std::pair{224, 224}, std::pair{50, 150}}) {
    const Image out = resample_box(flat, 3.5, 2.25, 90.5, 70, w, h, Filter::kBicubic);
    for (size_t i = 0; i < out.pixels.size(); ++i)
      EXPECT_NEAR(out.pixels[i], flat.pixels[i % 3], kResampleLevelTol);
  }
}

TEST(Transforms, RandomResizedCropBoxIsInside) {
  for (int64_t i = 0; i < 2000; ++i) {
    SampleRng rng(1, 0, i);
    const int W = 50 + i % 400, H = 30 + (i * 7) % 500;
    const CropBox b = random_resized_crop_box(W, H, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng);
    ASSERT_GT(b.w, 0);
    ASSERT_GT(b.h, 0);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_LE(b.x + b.w, W);
    ASSERT_LE(b.y + b.h, H);
  }
}

TEST(Transforms, EvalIsResizeShortSideThenCenterCrop) {
  // 400 x 200 image: left quarter red, middle half green, right quarter blue. Resize(256) -> 512 x 256;
  // CenterCrop(224) keeps x in [144, 368) of 512, i.e. only the green middle half.
  Image img = test::make_solid(400, 200, 3, {0, 0, 0});
  for (int y = 0; y < 200; ++y)
    for (int x = 0; x < 400; ++x) {
      uint8_t* p = img.row(y) + 3 * x;
      p[0] = x < 100 ? 255 : 0;
      p[1] = (x >= 100 && x < 300) ? 255 : 0;
      p[2] = x >= 300 ? 255 : 0;
    }
  ClassificationTransformOptions o;
  o.train = false;
  std::vector<float> out(3 * 224 * 224);
  classification_transform(encode_jpeg(img, 95), "e.jpg", o, 0, 0, 0, out.data());
  const float g = (1.f - kImagenetMean[1]) / kImagenetStd[1], r = (0.f - kImagenetMean[0]) / kImagenetStd[0];
  for (int x : {0, 50, 112, 223}) {
    EXPECT_NEAR(out[0 * 224 * 224 + 112 * 224 + x], r, kFlatColourTol) << x;
    EXPECT_NEAR(out[1 * 224 * 224 + 112 * 224 + x], g, kFlatColourTol) << x;
  }
  // the same with and without DCT scaling (the image is not shrunk by 2x: no difference expected)
  std::vector<float> out2(out.size());
  o.dct_scaling = false;
  classification_transform(encode_jpeg(img, 95), "e.jpg", o, 0, 0, 0, out2.data());
  EXPECT_EQ(out, out2);
}

TEST(Transforms, TrainTransformIsDeterministicPerSeedEpochIndex) {
  const auto bytes = encode_jpeg(test::make_rgb(160, 120, 9), 92);
  ClassificationTransformOptions o;
  o.img_size = 64;
  std::vector<float> a(3 * 64 * 64), b(a.size()), c(a.size()), e(a.size());
  classification_transform(bytes, "t.jpg", o, 7, 2, 11, a.data());
  classification_transform(bytes, "t.jpg", o, 7, 2, 11, b.data());
  classification_transform(bytes, "t.jpg", o, 7, 3, 11, c.data());
  classification_transform(bytes, "t.jpg", o, 8, 2, 11, e.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, e);
}

TEST(Transforms, RandAugmentOpsKeepShapeAndVary) {
  // Many indices exercise all 15 ops (2 per image); every output keeps its size, and the ops change
  // pixels for most images.
  const Image src = test::make_rgb(48, 40, 2);
  int changed = 0;
  for (int64_t i = 0; i < 300; ++i) {
    Image img = src;
    SampleRng rng(0, 0, i);
    rand_augment(img, 2, 9, 0.5, 0.5, rng);
    ASSERT_EQ(img.width, 48);
    ASSERT_EQ(img.pixels.size(), src.pixels.size());
    changed += img.pixels != src.pixels;
  }
  EXPECT_GT(changed, 150);   // P(no op applied) = 1/4, and a few ops can be no-ops
  EXPECT_LT(changed, 300);
}

TEST(Transforms, SameSampleSameTensorAcrossBatchesRanksAndWorkers) {
  TempDir d;
  const auto ds = make_set(d);
  ClassificationSourceOptions o;
  o.transform.img_size = 48;
  o.mixup_on = false;  // mixing depends on the batch by design; the per-sample part must not
  o.seed = 3;
  auto src = std::make_shared<ImageFolderSource>(ds, o);
  // 1 rank x batch 4 vs 2 ranks x batch 2 over the same epoch: the same samples, the same tensors.
  DistributedSampler one(ds.size(), 4, 1, 0, 3), r0(ds.size(), 2, 2, 0, 3), r1(ds.size(), 2, 2, 1, 3);
  const int64_t epoch = 1;
  std::vector<std::vector<int64_t>> s_one, s_r0, s_r1;
  for (int64_t s = 0; s < one.steps_per_epoch(); ++s) {
    s_one.push_back(one.batch(epoch, s));
    s_r0.push_back(r0.batch(epoch, s));
    s_r1.push_back(r1.batch(epoch, s));
  }
  DataLoader l_one(src, 0, 1), l0(src, 2, 3), l1(src, 1, 1);
  l_one.start_epoch(epoch, s_one);
  l0.start_epoch(epoch, s_r0);
  l1.start_epoch(epoch, s_r1);
  int64_t compared = 0;
  while (l_one.has_next()) {
    Batch a = l_one.next(), b0 = l0.next(), b1 = l1.next();
    auto joined = torch::cat({b0.x, b1.x});
    EXPECT_TRUE(torch::equal(a.x, joined));
    EXPECT_TRUE(torch::equal(a.y, torch::cat({b0.y, b1.y})));
    compared += a.x.size(0);
  }
  EXPECT_EQ(compared, 12);
  // a different batch composition
  Batch x = src->make_batch(epoch, {5, 2, 9});
  Batch y = src->make_batch(epoch, {9});
  EXPECT_TRUE(torch::equal(x.x[2], y.x[0]));
}

TEST(Transforms, RepeatedAugmentationCopiesLoadOneImageAugmentedDifferently) {
  TempDir d;
  const auto ds = make_set(d);
  ClassificationSourceOptions o;
  o.transform.img_size = 48;
  o.mixup_on = false;
  o.seed = 3;
  auto src = std::make_shared<ImageFolderSource>(ds, o);
  const int64_t n = ds.size();
  // Codes 4, 4 + n, 4 + 2n: sample 4 three times (the sampler's repeated-augmentation encoding).
  Batch b = src->make_batch(0, {4, 4 + n, 4 + 2 * n});
  EXPECT_EQ(b.indices, (std::vector<int64_t>{4, 4, 4}));
  EXPECT_TRUE(b.y.eq(ds.label(4)).all().item<bool>());
  EXPECT_FALSE(torch::equal(b.x[0], b.x[1]));  // random crops of a 48 px output: never equal here
  EXPECT_FALSE(torch::equal(b.x[1], b.x[2]));
  EXPECT_TRUE(torch::equal(b.x[1], src->make_batch(0, {4 + n}).x[0]));  // and still deterministic
}

TEST(Transforms, MixupCutmixTargetsAndPairs) {
  const int64_t B = 6, C = 5;
  auto labels = torch::tensor({0, 1, 2, 3, 4, 0}, torch::kInt64);
  MixupOptions o;
  o.num_classes = C;
  int cutmix_seen = 0, mixup_seen = 0;
  for (int64_t e = 0; e < 40; ++e) {
    auto x = torch::arange(B, torch::kFloat32).view({B, 1, 1, 1}).expand({B, 3, 8, 8}).contiguous();
    const auto orig = x.clone();
    auto t = mixup_cutmix(x, labels, o, 0, e, {10, 11, 12, 13, 14, 15});
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{B, C}));
    EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({B})));
    // every value of sample i is x_i or x_{B-1-i} (cutmix) or their lam-mix (mixup)
    const auto lam_row = t[1];  // label 1 paired with label 4 (index 4)
    const float on = 1 - 0.1f + 0.1f / C, off = 0.1f / C;
    const float lam = (lam_row[1].item<float>() - off) / (on - off);
    const auto expect_mix = orig[1] * lam + orig[4] * (1 - lam);
    const bool is_mix = torch::allclose(x[1], expect_mix, 1e-4, 1e-4);
    const bool is_cut = ((x[1] == 1) | (x[1] == 4)).all().item<bool>() && !torch::equal(x[1], orig[1]);
    EXPECT_TRUE(is_mix || is_cut || lam > 0.9999f) << "epoch " << e << " lam " << lam;
    if (is_cut) {
      ++cutmix_seen;
      // lam is the area kept
      EXPECT_NEAR((x[1][0] == 1).to(torch::kFloat32).mean().item<float>(), lam, 1e-5);
    } else if (is_mix) {
      ++mixup_seen;
    }
  }
  EXPECT_GT(cutmix_seen, 5);
  EXPECT_GT(mixup_seen, 5);
  // same batch indices -> same mixing, regardless of who calls
  auto x1 = torch::rand({4, 3, 8, 8}), x2 = x1.clone();
  auto l4 = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  auto t1 = mixup_cutmix(x1, l4, o, 9, 1, {1, 2, 3, 4});
  auto t2 = mixup_cutmix(x2, l4, o, 9, 1, {1, 2, 3, 4});
  EXPECT_TRUE(torch::equal(x1, x2));
  EXPECT_TRUE(torch::equal(t1, t2));
}

TEST(Transforms, SampleRngDistributions) {
  SampleRng rng(1, 2, 3);
  double s = 0, s2 = 0, b = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    s += z;
    s2 += z * z;
    b += rng.beta(0.8, 0.8);
  }
  // Standard errors at n = 20000: mean 0.007, variance 0.01, Beta(0.8, 0.8) mean (sd 0.38) 0.003;
  // tolerances are ~5 standard errors.
  EXPECT_NEAR(s / n, 0.0, 0.035);
  EXPECT_NEAR(s2 / n, 1.0, 0.05);
  EXPECT_NEAR(b / n, 0.5, 0.015);
}

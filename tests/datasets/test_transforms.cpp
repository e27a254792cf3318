#include <gtest/gtest.h>

#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/gamma.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "datasets/ade20k.h"
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

// ---------------------------------------------------------------------------------------------------
// Distributions: the per-sample random stream's samplers, Mixup / CutMix, the photometric distortion and the
// segmentation crop's cat_max_ratio. The statistical checks run on fixed SampleRng streams (deterministic: no
// flaky reruns); a correct implementation passes each at level kKsAlpha / kMomentZ for all but a tiny share of
// streams, a wrong parameter (swapped, off by a factor, another range) fails by far.
namespace {

// Kolmogorov-Smirnov checks at level alpha = 0.001: the critical value for n draws is
// sqrt(-ln(alpha / 2) / 2) / sqrt(n) = 1.95 / sqrt(n) (the asymptotic Kolmogorov distribution; n >= 2000 here).
// Against a discrete distribution the same value is conservative (the true level is below alpha).
constexpr double kKsAlpha = 0.001;
double ks_critical(size_t n) { return std::sqrt(-0.5 * std::log(kKsAlpha / 2)) / std::sqrt(double(n)); }

// sup |F_n - F| of the draws `xs` against the continuous CDF `cdf`.
template <class Cdf>
double ks_statistic(std::vector<double> xs, Cdf cdf) {
  std::sort(xs.begin(), xs.end());
  const double n = double(xs.size());
  double d = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double f = cdf(xs[i]);
    d = std::max({d, (i + 1) / n - f, f - i / n});
  }
  return d;
}

// Means and variances must lie within kMomentZ standard errors (estimated from the draws themselves:
// sd / sqrt(n) for the mean, sqrt((m4 - var^2) / n) for the variance) of the closed form; two-sided
// p = 6e-7 per check for a correct sampler.
constexpr double kMomentZ = 5.0;
struct Moments {
  double mean, var, mean_se, var_se;
};
Moments moments(const std::vector<double>& xs) {
  const double n = double(xs.size());
  double m = 0;
  for (double x : xs) m += x;
  m /= n;
  double v = 0, m4 = 0;
  for (double x : xs) {
    const double d2 = (x - m) * (x - m);
    v += d2;
    m4 += d2 * d2;
  }
  v /= n - 1;
  m4 /= n;
  return {m, v, std::sqrt(v / n), std::sqrt(std::max(m4 - v * v, 0.0) / n)};
}

std::string test_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

// A share of `n` Bernoulli(p) trials must lie within kMomentZ binomial standard errors of p.
double share_tol(double p, double n) { return kMomentZ * std::sqrt(p * (1 - p) / n); }

}  // namespace

// SampleRng's Beta (Mixup 0.8, CutMix 1.0, and asymmetric ones that a swap of the parameters fails), Gamma with
// shape < 1 (Marsaglia-Tsang's boost) and > 1, and the normal: mean, variance and a KS test against the
// closed-form CDF (regularized incomplete beta / gamma, boost::math).
TEST(Transforms, SampleRngBetaGammaNormalMatchTheirDistributions) {
  constexpr size_t kDraws = 20000;
  const double crit = ks_critical(kDraws);  // 0.0138
  int64_t stream = 0;
  auto check = [&](const std::string& name, auto draw, auto cdf, double mean, double var) {
    SampleRng rng(11, 0, ++stream);
    std::vector<double> xs(kDraws);
    for (auto& x : xs) x = draw(rng);
    const Moments m = moments(xs);
    const double d = ks_statistic(xs, cdf);
    std::printf("%-12s mean %.4f (%.4f)  variance %.4f (%.4f)  KS %.4f (critical %.4f)\n", name.c_str(), m.mean, mean,
                m.var, var, d, crit);
    EXPECT_NEAR(m.mean, mean, kMomentZ * m.mean_se) << name << ": mean";
    EXPECT_NEAR(m.var, var, kMomentZ * m.var_se) << name << ": variance";
    EXPECT_LT(d, crit) << name << ": KS statistic against the closed-form CDF";
  };
  for (auto [a, b] : {std::pair{0.8, 0.8}, std::pair{1.0, 1.0}, std::pair{2.0, 5.0}, std::pair{5.0, 2.0}, std::pair{0.5, 3.0}}) {
    const double mean = a / (a + b), var = a * b / ((a + b) * (a + b) * (a + b + 1));
    check("Beta(" + test_num(a) + ", " + test_num(b) + ")", [a = a, b = b](SampleRng& r) { return r.beta(a, b); },
          [a = a, b = b](double x) { return boost::math::ibeta(a, b, std::min(std::max(x, 0.0), 1.0)); }, mean, var);
  }
  for (double k : {0.3, 0.5, 1.0, 2.5, 9.0})
    check("Gamma(" + test_num(k) + ")", [k](SampleRng& r) { return r.gamma(k); },
          [k](double x) { return x <= 0 ? 0.0 : boost::math::gamma_p(k, x); }, k, k);
  check("Normal", [](SampleRng& r) { return r.normal(); }, [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }, 0, 1);
}

// Every batch: one lambda (read from the targets) explains the images exactly, either as Mixup (each sample
// the blend lam x_i + (1 - lam) x_{B-1-i}) or as CutMix (one box, the same in every sample and channel, holding
// the mirror sample's pixels at their own places, lam = the area kept); images are left unmixed exactly when
// lam is 1; every target row is lam y_i + (1 - lam) y_{B-1-i}.
TEST(Transforms, MixupCutmixTargetsAndPairs) {
  const int64_t B = 6, C = 3, H = 8, W = 8, K = 5;
  // lam from float32 targets whose on and off values are 0.9 apart: a few ulps of 1.
  constexpr double kLamTol = 1e-5;
  // A float32 blend of values up to ~6300 (ulp 5e-4) with that lam: a few dozen ulps.
  constexpr float kMixAbsTol = 0.02f;
  auto labels = torch::tensor({0, 1, 2, 3, 4, 0}, torch::kInt64);
  MixupOptions o;
  o.num_classes = K;
  // Every value names its sample, channel and place: a blend is no original value, a moved pixel is seen.
  auto orig = torch::empty({B, C, H, W});
  {
    auto a = orig.accessor<float, 4>();
    for (int64_t i = 0; i < B; ++i)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) a[i][c][y][x] = float(1000 * (i + 1) + 100 * c + y * W + x);
  }
  const auto partner = orig.flip({0});
  const auto y1 = smooth_one_hot(labels, K, o.label_smoothing);
  const double on = 1 - o.label_smoothing + o.label_smoothing / K, off = o.label_smoothing / K;
  // The smoothed one-hot targets: `on` at the label, `off` elsewhere (each row sums to 1).
  for (int64_t i = 0; i < B; ++i)
    for (int64_t k = 0; k < K; ++k)
      EXPECT_NEAR(y1[i][k].item<double>(), k == labels[i].item<int64_t>() ? on : off, 1e-7) << "row " << i << " class " << k;
  int cutmix_seen = 0, mixup_seen = 0, unmixed = 0;
  for (int64_t e = 0; e < 200; ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e));
    auto x = orig.clone();
    const auto t = mixup_cutmix(x, labels, o, 0, e, {10, 11, 12, 13, 14, 15});
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{B, K}));
    const double lam = (t[1][1].item<double>() - off) / (on - off);  // row 1: label 1 mixed with label 4
    ASSERT_GE(lam, -kLamTol);
    ASSERT_LE(lam, 1 + kLamTol);
    EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({B}), 0, kLamTol)) << "target rows sum to 1";
    EXPECT_TRUE(torch::allclose(t, y1 * lam + y1.flip({0}) * (1 - lam), 0, kLamTol)) << "targets, lam " << lam;
    const bool is_mix = (x - (orig * lam + partner * (1 - lam))).abs().max().item<float>() <= kMixAbsTol;
    const auto changed = x != orig;
    bool is_cut = (changed.logical_not() | (x == partner)).all().item<bool>();  // own or the mirror's, in place
    if (is_cut) {
      const auto box = changed.any(0).any(0);  // (H, W)
      EXPECT_TRUE(torch::equal(changed, box.expand({B, C, H, W}))) << "one box for every sample and channel";
      const int64_t rows = box.any(1).sum().item<int64_t>(), cols = box.any(0).sum().item<int64_t>();
      EXPECT_EQ(box.sum().item<int64_t>(), rows * cols) << "the CutMix region is a rectangle";
      EXPECT_NEAR(lam, 1.0 - double(rows * cols) / double(H * W), kLamTol) << "lam is the area kept";
    }
    EXPECT_TRUE(is_mix || is_cut) << "lam " << lam << ": neither a Mixup nor a CutMix of the mirrored batch";
    const bool unchanged = torch::equal(x, orig);
    EXPECT_EQ(unchanged, std::abs(lam - 1) <= kLamTol) << "lam " << lam << ": images unmixed exactly when lam is 1";
    (unchanged ? unmixed : is_cut ? cutmix_seen : mixup_seen) += 1;
  }
  EXPECT_GT(cutmix_seen, 50);  // switch_prob 0.5 over 200 batches: ~100 each (a few of CutMix's cut nothing)
  EXPECT_GT(mixup_seen, 50);
  std::printf("200 batches: %d Mixup, %d CutMix, %d unmixed (lam 1)\n", mixup_seen, cutmix_seen, unmixed);
  // same batch indices -> same mixing, regardless of who calls
  auto x1 = torch::rand({4, 3, 8, 8}), x2 = x1.clone();
  auto l4 = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  auto t1 = mixup_cutmix(x1, l4, o, 9, 1, {1, 2, 3, 4});
  auto t2 = mixup_cutmix(x2, l4, o, 9, 1, {1, 2, 3, 4});
  EXPECT_TRUE(torch::equal(x1, x2));
  EXPECT_TRUE(torch::equal(t1, t2));
}

// Over many batches: CutMix is chosen with switch_prob; Mixup's lambda follows Beta(0.8, 0.8) (KS); CutMix's
// area-corrected lambda follows the exact distribution of timm's rand_bbox + correct_lam with lambda ~ Beta(1, 1):
// cut = int(H sqrt(1 - lambda)), a uniform centre, the box clipped to the image, enumerated here over the cut
// sizes and centres (KS on the discrete CDF).
TEST(Transforms, MixupCutmixLambdaDistributions) {
  const int64_t H = 16, W = 16;
  constexpr int kBatches = 16000;
  MixupOptions o;
  o.num_classes = 2;
  const auto labels = torch::tensor({0, 1}, torch::kInt64);
  const double on = 1 - o.label_smoothing + o.label_smoothing / 2, off = o.label_smoothing / 2;
  std::vector<double> mix_lams, cut_lams;
  for (int64_t e = 0; e < kBatches; ++e) {
    auto x = torch::cat({torch::zeros({1, 1, H, W}), torch::ones({1, 1, H, W})});  // sample 0 black, 1 white
    const auto t = mixup_cutmix(x, labels, o, 5, e, {0, 1});
    const float* p = x.data_ptr<float>();
    int64_t zeros = 0, ones = 0;
    for (int64_t k = 0; k < H * W; ++k) {
      zeros += p[k] == 0.f;
      ones += p[k] == 1.f;
    }
    if (zeros + ones == H * W) cut_lams.push_back(1.0 - double(ones) / double(H * W));  // (lam 1: nothing cut)
    else mix_lams.push_back((t[0][0].item<double>() - off) / (on - off));
  }
  const double n = kBatches, cut_share = cut_lams.size() / n;
  EXPECT_NEAR(cut_share, o.switch_prob, share_tol(o.switch_prob, n)) << "CutMix share";
  const double d_mix = ks_statistic(mix_lams, [&](double x) {
    return boost::math::ibeta(o.mixup_alpha, o.mixup_alpha, std::min(std::max(x, 0.0), 1.0));
  });
  EXPECT_LT(d_mix, ks_critical(mix_lams.size())) << "Mixup lambda vs Beta(0.8, 0.8)";
  // CutMix: P(cut = k) = P((k / H)^2 <= 1 - lambda < ((k + 1) / H)^2) under Beta(cutmix_alpha, cutmix_alpha), then
  // every centre (cy, cx) in [0, H) x [0, W) equally likely; H = W, so one cut for both sides.
  std::map<double, double> pmf;  // corrected lambda -> probability
  auto beta_cdf = [&](double x) { return boost::math::ibeta(o.cutmix_alpha, o.cutmix_alpha, std::min(std::max(x, 0.0), 1.0)); };
  for (int64_t k = 0; k <= H; ++k) {
    const double pk = beta_cdf(1 - double(k * k) / (H * H)) - beta_cdf(1 - double((k + 1) * (k + 1)) / (H * H));
    for (int64_t cy = 0; cy < H; ++cy)
      for (int64_t cx = 0; cx < W; ++cx) {
        const int64_t hh = std::clamp<int64_t>(cy + k / 2, 0, H) - std::clamp<int64_t>(cy - k / 2, 0, H);
        const int64_t ww = std::clamp<int64_t>(cx + k / 2, 0, W) - std::clamp<int64_t>(cx - k / 2, 0, W);
        pmf[1.0 - double(hh * ww) / double(H * W)] += pk / double(H * W);
      }
  }
  std::sort(cut_lams.begin(), cut_lams.end());
  double cdf = 0, d_cut = 0;
  for (const auto& [lam, p] : pmf) {
    cdf += p;
    const double emp = double(std::upper_bound(cut_lams.begin(), cut_lams.end(), lam + 1e-9) - cut_lams.begin()) / cut_lams.size();
    d_cut = std::max(d_cut, std::abs(emp - cdf));
  }
  EXPECT_LT(d_cut, ks_critical(cut_lams.size())) << "CutMix corrected lambda vs timm's rand_bbox with Beta(1, 1)";
  std::printf("CutMix share %.4f; Mixup KS %.4f (critical %.4f, n %zu); CutMix KS %.4f (critical %.4f, n %zu)\n", cut_share,
              d_mix, ks_critical(mix_lams.size()), mix_lams.size(), d_cut, ks_critical(cut_lams.size()), cut_lams.size());
}

// mmseg's PhotoMetricDistortion (mmseg/datasets/pipelines/transforms.py, read with datasets/image_ops.cpp): a
// brightness delta U(-32, 32), a contrast factor U(0.5, 1.5) (before or after the HSV part), a saturation factor
// U(0.5, 1.5) on HSV's S and a hue delta randint(-18, 18), i.e. -18..17 in OpenCV's 0..180 hue units, each applied
// with probability 1/2, independently. Read back from a probe image over many draws:
// - grey pixels 32..138 (no saturation or hue; no clipping at any delta and factor): out = floor((g + floor(b)) a),
//   a pure shift by floor(b) when the contrast is off, else a line of slope a;
// - colour pixels (max channel 110..138, chroma 40..52, every hue sector): the mean hue change is the hue delta
//   (brightness and contrast keep hues), and the mean S over the S after the brightness is the saturation factor
//   (contrast keeps S; S x 1.5 stays below 255, so no clipping).
TEST(Transforms, PhotometricDistortionMatchesMmsegRangesAndProbabilities) {
  constexpr int kDraws = 4000;
  constexpr int kGreyLo = 32, kGreyHi = 138;
  // Truncation moves each grey output by < 1 level: over a ramp of >= 53 levels (106 x the smallest factor) the
  // fitted slope is within 1 / 53 / 2 of the factor; in practice far closer (least squares averages 107 values).
  constexpr double kSlopeTol = 0.01;
  // S and hue are read from 8-bit RGB with chroma down to ~10 levels: averaged over the 180 colour pixels, the
  // factor is within 0.03 of the truth and the hue delta within 0.35 units (measured over the 4000 draws: the
  // factor's extremes 0.4994 and 1.4977, hue deltas at most 0.22 from a whole unit).
  constexpr double kSatTol = 0.03, kHueTol = 0.35;
  // Coverage of the ranges: with ~2000 applied draws, the extremes come within 0.02 of the range's ends unless the
  // range is wrong ((1 - 0.02)^2000 ~ 3e-18).
  constexpr double kCoverTol = 0.02;
  Image probe;
  std::vector<std::array<int, 3>> colours;
  for (int mx : {110, 117, 124, 131, 138})
    for (int chroma : {40, 46, 52})
      for (double mid : {0.3, 0.7})
        for (auto perm : {std::array<int, 3>{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}) {
          std::array<int, 3> c;
          c[perm[0]] = mx;
          c[perm[1]] = mx - chroma + static_cast<int>(std::lround(mid * chroma));
          c[perm[2]] = mx - chroma;
          colours.push_back(c);
        }
  const int n_grey = kGreyHi - kGreyLo + 1, n_colour = static_cast<int>(colours.size());
  probe = test::make_solid(n_grey + n_colour, 1, 3, {0, 0, 0});
  for (int g = kGreyLo; g <= kGreyHi; ++g)
    for (int c = 0; c < 3; ++c) probe.pixels[(g - kGreyLo) * 3 + c] = static_cast<uint8_t>(g);
  for (int i = 0; i < n_colour; ++i)
    for (int c = 0; c < 3; ++c) probe.pixels[(n_grey + i) * 3 + c] = static_cast<uint8_t>(colours[i][c]);
  auto hue = [](double r, double g, double b) {  // OpenCV hue (0..180), unrounded
    const double v = std::max({r, g, b}), d = v - std::min({r, g, b});
    double h = v == r ? 60 * (g - b) / d : v == g ? 120 + 60 * (b - r) / d : 240 + 60 * (r - g) / d;
    return (h < 0 ? h + 360 : h) / 2;
  };

  struct Draw {
    bool bright, contrast, sat, hue;
    int delta;         // floor(brightness delta)
    double a, s, h;    // contrast factor, saturation factor, hue delta
  };
  std::vector<Draw> draws;
  for (int64_t i = 0; i < kDraws; ++i) {
    Image img = probe;
    SampleRng rng(21, 0, i);
    photometric_distortion(img, rng);
    Draw d{};
    const uint8_t* p = img.pixels.data();
    bool shift = true;
    for (int g = 0; g < n_grey; ++g) shift = shift && p[g * 3] - p[0] == g;
    double sg = 0, sv = 0, sgg = 0, sgv = 0;
    for (int g = 0; g < n_grey; ++g) {
      sg += g + kGreyLo;
      sv += p[g * 3];
      sgg += double(g + kGreyLo) * (g + kGreyLo);
      sgv += double(g + kGreyLo) * p[g * 3];
    }
    d.contrast = !shift;
    d.a = shift ? 1.0 : (n_grey * sgv - sg * sv) / (n_grey * sgg - sg * sg);
    const double intercept = (sv - d.a * sg) / n_grey;  // = a floor(b) - 0.5 on average (truncation)
    d.delta = shift ? p[0] - kGreyLo : static_cast<int>(std::lround((intercept + 0.5) / d.a));
    d.bright = d.delta != 0;
    double s_in = 0, s_out = 0, dh = 0;
    for (int i2 = 0; i2 < n_colour; ++i2) {
      const auto& c = colours[i2];
      const uint8_t* q = p + (n_grey + i2) * 3;
      const int mx = std::max({c[0], c[1], c[2]}) + d.delta, mn = std::min({c[0], c[1], c[2]}) + d.delta;
      s_in += std::floor(double(mx - mn) / mx * 255 + 0.5);  // OpenCV's 8-bit S after the brightness
      const double omx = std::max({q[0], q[1], q[2]}), omn = std::min({q[0], q[1], q[2]});
      s_out += (omx - omn) / omx * 255;
      double delta_h = hue(q[0], q[1], q[2]) - hue(c[0], c[1], c[2]);
      dh += delta_h - 180 * std::round(delta_h / 180);  // wrapped to [-90, 90]
    }
    d.s = s_out / s_in;
    d.h = dh / n_colour;
    d.sat = std::abs(d.s - 1) > kSatTol;
    d.hue = std::abs(d.h) > 0.5;  // a hue delta is a whole number of units
    draws.push_back(d);
  }
  // Probabilities: each 1/2, less the draws that change nothing visible here (brightness delta in [0, 1): 1/64;
  // contrast within ~1/140 of 1, which shifts the ramp without changing its slope; saturation within kSatTol of 1;
  // hue delta 0: 1/36); independent of each other.
  const double p_on[4] = {0.5 * 63 / 64, 0.5 * (1 - 2.0 / 140), 0.5 * (1 - 2 * kSatTol), 0.5 * 35 / 36};
  const char* names[4] = {"brightness", "contrast", "saturation", "hue"};
  auto flag = [](const Draw& d, int k) { return k == 0 ? d.bright : k == 1 ? d.contrast : k == 2 ? d.sat : d.hue; };
  for (int k = 0; k < 4; ++k) {
    double share = 0;
    for (const auto& d : draws) share += flag(d, k);
    share /= kDraws;
    EXPECT_NEAR(share, p_on[k], share_tol(0.5, kDraws)) << names[k] << " applied in this share of draws";
    for (int l = 0; l < k; ++l) {
      double both = 0;
      for (const auto& d : draws) both += flag(d, k) && flag(d, l);
      both /= kDraws;
      EXPECT_NEAR(both, p_on[k] * p_on[l], share_tol(0.25, kDraws)) << names[k] << " and " << names[l] << " together";
    }
  }
  // Ranges. Brightness, read exactly where the contrast is off: floor(U(-32, 32)) covers -32..31.
  int dmin = 0, dmax = 0;
  double amin = 1, amax = 1, smin = 1, smax = 1, hmin = 0, hmax = 0, h_off_int = 0;
  for (const auto& d : draws) {
    if (!d.contrast) dmin = std::min(dmin, d.delta), dmax = std::max(dmax, d.delta);
    if (d.contrast) amin = std::min(amin, d.a), amax = std::max(amax, d.a);
    if (d.sat) smin = std::min(smin, d.s), smax = std::max(smax, d.s);
    if (d.hue) hmin = std::min(hmin, d.h), hmax = std::max(hmax, d.h);
    h_off_int = std::max(h_off_int, std::abs(d.h - std::round(d.h)));
  }
  std::printf("brightness %d..%d, contrast %.4f..%.4f, saturation %.4f..%.4f, hue %.3f..%.3f (max distance to a whole unit %.3f)\n",
              dmin, dmax, amin, amax, smin, smax, hmin, hmax, h_off_int);
  EXPECT_EQ(dmin, -32);
  EXPECT_EQ(dmax, 31);
  EXPECT_GE(amin, 0.5 - kSlopeTol);
  EXPECT_LE(amin, 0.5 + kCoverTol);
  EXPECT_GE(amax, 1.5 - kCoverTol);
  EXPECT_LE(amax, 1.5 + kSlopeTol);
  EXPECT_GE(smin, 0.5 - kSatTol);
  EXPECT_LE(smin, 0.5 + kCoverTol + kSatTol);
  EXPECT_GE(smax, 1.5 - kCoverTol - kSatTol);
  EXPECT_LE(smax, 1.5 + kSatTol);
  EXPECT_NEAR(hmin, -18, kHueTol);
  EXPECT_NEAR(hmax, 17, kHueTol);
  EXPECT_LE(h_off_int, kHueTol) << "hue deltas are whole OpenCV hue units";
}

// RandomCrop(cat_max_ratio = 0.75) as mmseg: the crop is re-drawn while one class covers >= 0.75 of its labelled
// (non-ignore) pixels or it holds a single class, checking at most 10 crops (the 11th is kept unchecked). A
// 200 x 32 label map, 32 x 32 crops: class 0 everywhere but a 16-column band of class 1, the top 8 rows ignore
// (which must not count). Only crops overlapping the band by more than 8 columns pass (31 of the 169 offsets);
// the chosen crops pass with probability 1 - (1 - p)^11 (0.89), against p (0.18) without the rule.
TEST(Transforms, SegmentationCropRedrawnWhileOneClassDominates) {
  constexpr int W = 200, H = 32, S = 32, kBand0 = 100, kBand1 = 116, kIgnoreRows = 8;
  constexpr int kTries = 10 + 1;  // mmseg checks 10 draws; the 11th is kept unchecked
  constexpr int kSamples = 1500;
  Image lab = test::make_solid(W, H, 1, {1});  // raw 1 -> class 0
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      if (y < kIgnoreRows) lab.row(y)[x] = 0;                 // raw 0 -> ignore (255)
      else if (x >= kBand0 && x < kBand1) lab.row(y)[x] = 2;  // raw 2 -> class 1
    }
  const auto image_bytes = encode_png(test::make_rgb(W, H)), label_bytes = encode_png(lab);
  SegmentationTransformOptions o;
  o.crop = S;
  o.scale_long = W;
  o.scale_short = H;
  o.ratio_min = o.ratio_max = 1.0;  // 200 x 32 kept
  o.photometric = false;
  // mmseg's test on a crop's labels: more than one class and the largest below 0.75 of the labelled pixels.
  constexpr double kCatMaxRatio = 0.75;
  auto passes = [&](auto label_at) {
    std::map<int64_t, int64_t> counts;
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        if (const int64_t v = label_at(y, x); v != kIgnoreLabel) ++counts[v];
    int64_t total = 0, mx = 0;
    for (const auto& [v, n] : counts) total += n, mx = std::max(mx, n);
    return counts.size() > 1 && double(mx) / double(total) < kCatMaxRatio;
  };
  int good_offsets = 0;
  for (int ox = 0; ox <= W - S; ++ox)
    good_offsets += passes([&](int y, int x) {
      const uint8_t raw = lab.row(y)[ox + x];
      return raw == 0 ? int64_t{kIgnoreLabel} : int64_t{raw - 1};
    });
  const double p = double(good_offsets) / (W - S + 1);
  ASSERT_EQ(good_offsets, 31);
  std::vector<float> x(3 * S * S);
  std::vector<int64_t> y(S * S);
  for (double ratio : {kCatMaxRatio, 1.0}) {  // the rule, and without it (1.0: no re-draw)
    o.cat_max_ratio = ratio;
    int good = 0;
    for (int64_t i = 0; i < kSamples; ++i) {
      segmentation_train_transform(image_bytes, "i.png", label_bytes, "l.png", o, 3, 0, i, x.data(), y.data());
      good += passes([&](int yy, int xx) { return y[yy * S + xx]; });
    }
    const double expected = ratio < 1 ? 1 - std::pow(1 - p, kTries) : p;
    EXPECT_NEAR(double(good) / kSamples, expected, share_tol(expected, kSamples))
        << "cat_max_ratio " << ratio << ": share of crops that pass the rule";
    std::printf("cat_max_ratio %.2f: %d of %d crops pass (expected share %.3f)\n", ratio, good, kSamples, expected);
  }
}

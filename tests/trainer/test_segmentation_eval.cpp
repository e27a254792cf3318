// trainer/segmentation_eval: the confusion matrix (ignore pixels excluded, out-of-range values named), mIoU /
// mAcc / aAcc against values worked out by hand from a written-out confusion matrix (mmsegmentation's
// convention: a class in neither labels nor predictions is left out of the means, a class only predicted
// counts with IoU 0), sliding-window inference against window positions worked out by hand and a pure loop
// over pixels, the per-class tables (Markdown, JSON), the test-time scores (crops padded to the patch, one
// view = the plain path, views averaged as probabilities, flip) and the stacking of same-size samples.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tests/expect_error.h"
#include "tests/test_seed.h"
#include "models/vit.h"
#include "trainer/segmentation_eval.h"

using rpct::test::expect_error_naming;
using torch::indexing::Slice;

namespace {

// Metrics are a handful of float64 divisions and sums of at most 5 terms: a few ulps of values <= 1.
constexpr double kMetricTol = 1e-14;
// Sliding-window means: float64 sums of at most 4 window values of magnitude < 1e4, possibly added in
// another order than the reference loop's, then one division: far below 1e-9 relative.
constexpr double kWindowMeanRelTol = 1e-12;

// The 3-class confusion matrix [label][pred] the metric tests start from (20 labelled pixels):
//   label 0: 5 predicted 0, 1 predicted 1
//   label 1: 2 predicted 0, 3 predicted 1, 1 predicted 2
//   label 2: 1 predicted 1, 7 predicted 2
// TP = (5, 3, 7); label areas (row sums) = (6, 6, 8); predicted areas (column sums) = (7, 5, 8);
// unions = label + pred - TP = (8, 8, 9).
torch::Tensor hand_confusion_3() { return torch::tensor({5, 1, 0, 2, 3, 1, 0, 1, 7}, torch::kLong).view({3, 3}); }

// The same matrix embedded top-left in an n x n zero matrix (classes 3.. absent).
torch::Tensor embedded(const torch::Tensor& small, int64_t n) {
  torch::Tensor big = torch::zeros({n, n}, torch::kLong);
  big.index_put_({Slice(0, small.size(0)), Slice(0, small.size(1))}, small);
  return big;
}

TEST(ConfusionMatrix, CountsLabelPredPairsAndExcludesIgnorePixels) {
  // 22 pixels as a (2, 11) map: the 20 labelled ones give hand_confusion_3(); the last two are ignore (255)
  // with predictions 2 and 0, which must count nowhere.
  const torch::Tensor label =
      torch::tensor({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 255, 255}, torch::kUInt8)
          .view({2, 11});
  const torch::Tensor pred =
      torch::tensor({0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 0}, torch::kLong).view({2, 11});
  const torch::Tensor cm = rpct::confusion_matrix(pred, label, 3);
  EXPECT_EQ(cm.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(cm, hand_confusion_3())) << cm;
}

TEST(ConfusionMatrix, AnotherIgnoreIndexDropsThatLabel) {
  // ignore_index 2: the label-2 pixels leave, their row is zero; the rest is unchanged.
  const torch::Tensor label = torch::tensor({0, 0, 1, 2, 2}, torch::kLong);
  const torch::Tensor pred = torch::tensor({0, 1, 1, 0, 2}, torch::kLong);
  const torch::Tensor expected = torch::tensor({1, 1, 0, 0, 1, 0, 0, 0, 0}, torch::kLong).view({3, 3});
  EXPECT_TRUE(torch::equal(rpct::confusion_matrix(pred, label, 3, /*ignore_index=*/2), expected));
}

TEST(ConfusionMatrix, RandomMapsMatchAPixelLoop) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const int64_t n_cls = 5;
  torch::Tensor label = torch::randint(0, n_cls, {2, 13, 17}, torch::kLong);
  label.masked_fill_(torch::rand({2, 13, 17}) < 0.2, rpct::kSegmentationIgnoreIndex);
  const torch::Tensor pred = torch::randint(0, n_cls, {2, 13, 17}, torch::kLong);
  std::vector<int64_t> counts(n_cls * n_cls, 0);
  const torch::Tensor label_flat = label.flatten(), pred_flat = pred.flatten();  // (P,)
  const auto l = label_flat.accessor<int64_t, 1>();
  const auto p = pred_flat.accessor<int64_t, 1>();
  for (int64_t i = 0; i < l.size(0); ++i)
    if (l[i] != rpct::kSegmentationIgnoreIndex) ++counts[l[i] * n_cls + p[i]];
  EXPECT_TRUE(torch::equal(rpct::confusion_matrix(pred, label, n_cls), torch::tensor(counts).view({n_cls, n_cls})));
}

TEST(ConfusionMatrix, OutOfRangeValuesAreNamed) {
  const torch::Tensor pred = torch::zeros({4}, torch::kLong);
  expect_error_naming([&] { rpct::confusion_matrix(pred, torch::tensor({0, 1, 200, 255}), 3); }, {"label", "200"});
  expect_error_naming([&] { rpct::confusion_matrix(pred, torch::tensor({0, 3, 1, 1}), 3); }, {"label", "3"});
  expect_error_naming([&] { rpct::confusion_matrix(torch::tensor({0, 7, 0, 0}), torch::zeros({4}, torch::kLong), 3); },
                      {"prediction", "7"});
  const torch::Tensor three = torch::zeros({3}, torch::kLong), four = torch::zeros({4}, torch::kLong);
  expect_error_naming([&] { rpct::confusion_matrix(three, four, 3); }, {"shape", "[3]", "[4]"});
}

TEST(SegmentationMetrics, HandComputedThreeClasses) {
  const rpct::SegmentationMetrics m = rpct::segmentation_metrics(hand_confusion_3());
  // IoU = TP / union = (5/8, 3/8, 7/9); Acc = TP / label area = (5/6, 3/6, 7/8).
  const std::vector<double> iou{5.0 / 8, 3.0 / 8, 7.0 / 9}, acc{5.0 / 6, 3.0 / 6, 7.0 / 8};
  ASSERT_EQ(m.iou.size(), 3u);
  ASSERT_EQ(m.acc.size(), 3u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(m.iou[c], iou[c], kMetricTol) << "class " << c;
    EXPECT_NEAR(m.acc[c], acc[c], kMetricTol) << "class " << c;
    EXPECT_TRUE(m.present[c]);
  }
  EXPECT_NEAR(m.miou, 16.0 / 27, kMetricTol);  // (5/8 + 3/8 + 7/9) / 3 = (1 + 7/9) / 3
  EXPECT_NEAR(m.macc, 53.0 / 72, kMetricTol);  // (20/24 + 12/24 + 21/24) / 3
  EXPECT_NEAR(m.aacc, 15.0 / 20, kMetricTol);  // (5 + 3 + 7) / 20
}

TEST(SegmentationMetrics, ClassAbsentFromLabelsAndPredictionsIsLeftOutOfTheMeans) {
  // Classes 3 and 4 have no pixel at all: NaN IoU and Acc, not present, and the means are the 3-class ones
  // (a plain mean over 5 classes would give 16/45 and 53/120 instead).
  const rpct::SegmentationMetrics m = rpct::segmentation_metrics(embedded(hand_confusion_3(), 5));
  for (size_t c : {3u, 4u}) {
    EXPECT_TRUE(std::isnan(m.iou[c])) << "class " << c;
    EXPECT_TRUE(std::isnan(m.acc[c])) << "class " << c;
    EXPECT_FALSE(m.present[c]) << "class " << c;
  }
  EXPECT_NEAR(m.miou, 16.0 / 27, kMetricTol);
  EXPECT_NEAR(m.macc, 53.0 / 72, kMetricTol);
  EXPECT_NEAR(m.aacc, 15.0 / 20, kMetricTol);
}

TEST(SegmentationMetrics, ClassOnlyPredictedCountsWithIoUZero) {
  // hand_confusion_3() plus 2 label-0 pixels predicted as class 3, which has no label pixel:
  //   class 0: TP 5, label 8, pred 7, union 10 -> IoU 1/2, Acc 5/8
  //   class 1: IoU 3/8, Acc 1/2; class 2: IoU 7/9, Acc 7/8 (unchanged)
  //   class 3: TP 0, label 0, pred 2, union 2 -> IoU 0 (counts in mIoU), Acc NaN (left out of mAcc)
  torch::Tensor cm = embedded(hand_confusion_3(), 4);
  cm[0][3] = 2;
  const rpct::SegmentationMetrics m = rpct::segmentation_metrics(cm);
  EXPECT_NEAR(m.iou[0], 0.5, kMetricTol);
  EXPECT_NEAR(m.acc[0], 5.0 / 8, kMetricTol);
  EXPECT_EQ(m.iou[3], 0.0);
  EXPECT_TRUE(std::isnan(m.acc[3]));
  EXPECT_TRUE(m.present[3]);
  EXPECT_NEAR(m.miou, 119.0 / 288, kMetricTol);  // (1/2 + 3/8 + 7/9 + 0) / 4 = (119/72) / 4
  EXPECT_NEAR(m.macc, 2.0 / 3, kMetricTol);      // (5/8 + 1/2 + 7/8) / 3
  EXPECT_NEAR(m.aacc, 15.0 / 22, kMetricTol);
}

TEST(SegmentationMetrics, Float64CountsGiveTheSameMetricsAndTheShapeIsChecked) {
  // The Task all-reduces float64 sums: the metrics of the float64 matrix are those of the int64 one.
  const rpct::SegmentationMetrics a = rpct::segmentation_metrics(hand_confusion_3());
  const rpct::SegmentationMetrics b = rpct::segmentation_metrics(hand_confusion_3().to(torch::kDouble));
  EXPECT_EQ(a.miou, b.miou);
  EXPECT_EQ(a.macc, b.macc);
  EXPECT_EQ(a.aacc, b.aacc);
  expect_error_naming([] { rpct::segmentation_metrics(torch::zeros({2, 3})); }, {"[2, 3]"});
}

TEST(PerClassTable, MarkdownWithDashesForMissingValues) {
  // Classes: a, b, c from hand_confusion_3(), d only predicted (as above), e absent.
  torch::Tensor cm = embedded(hand_confusion_3(), 5);
  cm[0][3] = 2;
  const std::string table =
      rpct::per_class_table_markdown(rpct::segmentation_metrics(cm), {"a", "b", "c", "d", "e"});
  EXPECT_EQ(table,
            "| class | IoU (%) | Acc (%) |\n"
            "| --- | ---: | ---: |\n"
            "| a | 50.00 | 62.50 |\n"
            "| b | 37.50 | 50.00 |\n"
            "| c | 77.78 | 87.50 |\n"
            "| d | 0.00 | - |\n"
            "| e | - | - |\n");
  expect_error_naming([&] { rpct::per_class_table_markdown(rpct::segmentation_metrics(cm), {"a", "b"}); },
                      {"2 class names", "5 classes"});
}

TEST(PerClassTable, JsonHasTheMetricsEveryClassAndTheConfusionMatrix) {
  torch::Tensor cm = embedded(hand_confusion_3(), 5);
  cm[0][3] = 2;
  const auto m = rpct::segmentation_metrics(cm);
  const auto j = nlohmann::json::parse(rpct::per_class_table_json(m, {"a", "b", "c", "d", "e"}, cm));
  EXPECT_EQ(j.at("miou").get<double>(), m.miou);
  EXPECT_EQ(j.at("macc").get<double>(), m.macc);
  EXPECT_EQ(j.at("aacc").get<double>(), m.aacc);
  ASSERT_EQ(j.at("classes").size(), 5u);
  EXPECT_EQ(j["classes"][2].at("name"), "c");
  EXPECT_EQ(j["classes"][2].at("id"), 2);
  EXPECT_NEAR(j["classes"][2].at("iou").get<double>(), 7.0 / 9, kMetricTol);
  EXPECT_NEAR(j["classes"][2].at("acc").get<double>(), 7.0 / 8, kMetricTol);
  EXPECT_EQ(j["classes"][3].at("iou").get<double>(), 0.0);  // only predicted: IoU 0, no Acc
  EXPECT_TRUE(j["classes"][3].at("acc").is_null());
  EXPECT_TRUE(j["classes"][4].at("iou").is_null());          // absent
  const auto rows = j.at("confusion").get<std::vector<std::vector<int64_t>>>();
  ASSERT_EQ(rows.size(), 5u);
  for (int64_t l = 0; l < 5; ++l)
    for (int64_t p = 0; p < 5; ++p) EXPECT_EQ(rows[l][p], cm[l][p].item<int64_t>()) << l << ", " << p;
  expect_error_naming([&] { rpct::per_class_table_json(m, {"a"}, cm); }, {"1 class names", "5 classes"});
}

// ---- sliding window ----

// An image whose pixels say where they are: channel 0 = row y, channel 1 = column x, channel 2 = batch
// index b; (B, 3, H, W) float64.
torch::Tensor position_image(int64_t batch, int64_t height, int64_t width) {
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor y = torch::arange(height, opts).view({1, 1, height, 1}).expand({batch, 1, height, width});
  const torch::Tensor x = torch::arange(width, opts).view({1, 1, 1, width}).expand({batch, 1, height, width});
  const torch::Tensor b = torch::arange(batch, opts).view({batch, 1, 1, 1}).expand({batch, 1, height, width});
  return torch::cat({y, x, b}, 1);
}

// Logit of class k at pixel (u, v) of a window whose top-left pixel is (y0, x0), image b: depends on the
// window (so overlapping windows disagree and the mean matters) and on the place inside it.
double window_logit(int64_t b, int64_t k, int64_t y0, int64_t x0, int64_t u, int64_t v) {
  return 1000.0 * k + 37.0 * y0 + 5.0 * x0 + 0.5 * b + 0.125 * u * v;
}

// The same as a forward over a crop of position_image(): reads (y0, x0, b) from the crop's first pixel.
// Records each window's top-left corner. (B, 3, h, w) -> (B, n_cls, h, w).
struct PositionModel {
  int64_t n_cls;
  std::vector<std::pair<int64_t, int64_t>> corners;

  torch::Tensor operator()(const torch::Tensor& crop) {
    const int64_t h = crop.size(2), w = crop.size(3);
    const torch::Tensor first = crop.index({Slice(), Slice(), 0, 0});  // (B, 3)
    corners.emplace_back(first[0][0].item<int64_t>(), first[0][1].item<int64_t>());
    const auto opts = crop.options();
    const torch::Tensor y0 = first.select(1, 0).view({-1, 1, 1, 1}), x0 = first.select(1, 1).view({-1, 1, 1, 1});
    const torch::Tensor b = first.select(1, 2).view({-1, 1, 1, 1});
    const torch::Tensor k = torch::arange(n_cls, opts).view({1, n_cls, 1, 1});
    const torch::Tensor uv = torch::arange(h, opts).view({h, 1}) * torch::arange(w, opts).view({1, w});  // (h, w)
    return 1000.0 * k + 37.0 * y0 + 5.0 * x0 + 0.5 * b + 0.125 * uv.view({1, 1, h, w});
  }
};

// Window geometry worked out by hand from mmseg's rule (count = max(size - window + stride - 1, 0) / stride + 1;
// window i ends at min(i * stride + window, size) and starts `window` before, not before 0).
struct Geometry {
  int64_t height, width, window, stride;
  std::vector<int64_t> row_starts, col_starts;
};

// Runs sliding_window_logits with PositionModel and checks the windows it used and every pixel against the
// mean, over the windows covering it, of window_logit (a pure loop over pixels and windows).
void expect_window_means(const Geometry& g) {
  const int64_t batch = 2, n_cls = 3;
  const int64_t crop_h = std::min(g.window, g.height), crop_w = std::min(g.window, g.width);
  PositionModel model{n_cls, {}};
  const torch::Tensor out = rpct::sliding_window_logits(std::ref(model), position_image(batch, g.height, g.width),
                                                        n_cls, g.window, g.stride);
  ASSERT_EQ(out.sizes(), c10::IntArrayRef({batch, n_cls, g.height, g.width}));

  std::vector<std::pair<int64_t, int64_t>> corners;
  for (int64_t r : g.row_starts)
    for (int64_t c : g.col_starts) corners.emplace_back(r, c);
  using Corners = std::multiset<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Corners(model.corners.begin(), model.corners.end()), Corners(corners.begin(), corners.end()));

  const auto got = out.accessor<double, 4>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t k = 0; k < n_cls; ++k)
      for (int64_t y = 0; y < g.height; ++y)
        for (int64_t x = 0; x < g.width; ++x) {
          double sum = 0;
          int covering = 0;
          for (const auto& [r, c] : corners) {
            if (y < r || y >= r + crop_h || x < c || x >= c + crop_w) continue;
            sum += window_logit(b, k, r, c, y - r, x - c);
            ++covering;
          }
          ASSERT_GT(covering, 0) << "pixel (" << y << ", " << x << ") in no window";
          const double expected = sum / covering;
          ASSERT_NEAR(got[b][k][y][x], expected, kWindowMeanRelTol * std::abs(expected))
              << "b " << b << " k " << k << " pixel (" << y << ", " << x << "), " << covering << " windows";
        }
}

TEST(SlidingWindow, OverlapsAreAveragedOnANonSquareImage) {
  // H = 11: count (11 - 4 + 2) / 3 + 1 = 4; ends 4, 7, 10, min(13, 11) = 11 -> starts 0, 3, 6, 7.
  // W = 8:  count (8 - 4 + 2) / 3 + 1 = 3;  ends 4, 7, min(10, 8) = 8      -> starts 0, 3, 4.
  expect_window_means({11, 8, 4, 3, {0, 3, 6, 7}, {0, 3, 4}});
}

TEST(SlidingWindow, SideShorterThanTheWindowIsOneWindowOfThatSide) {
  // H = 3 < 4: one window of height 3 at 0. W = 10: count (10 - 4 + 2) / 3 + 1 = 3; ends 4, 7, 10 -> 0, 3, 6.
  expect_window_means({3, 10, 4, 3, {0}, {0, 3, 6}});
}

TEST(SlidingWindow, StrideEqualToWindowTilesWithoutOverlapButTheLast) {
  // H = W = 10, window 4, stride 4: count (10 - 4 + 3) / 4 + 1 = 3; ends 4, 8, min(12, 10) = 10 -> 0, 4, 6.
  expect_window_means({10, 10, 4, 4, {0, 4, 6}, {0, 4, 6}});
}

// A position-dependent model with random weights: a 1x1 convolution plus a nonlinearity.
struct RandomPixelModel {
  torch::Tensor weight;  // (n_cls, C)
  torch::Tensor operator()(const torch::Tensor& crop) const {
    return torch::tanh(torch::einsum("kc,bchw->bkhw", {weight, crop})) + crop.select(1, 0).unsqueeze(1);
  }
};

TEST(SlidingWindow, OneWindowGivesExactlyTheSinglePassLogits) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const int64_t n_cls = 4;
  const RandomPixelModel model{torch::randn({n_cls, 3})};
  // A window as large as the image, and an image smaller than the window (5 x 7 under 8; one window of
  // 5 x 7, no padding): the result is the forward of the whole image, to the bit.
  for (const auto& [height, width, window] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{8, 8, 8}, {5, 7, 8}}) {
    const torch::Tensor image = torch::randn({2, 3, height, width});
    const torch::Tensor out = rpct::sliding_window_logits(model, image, n_cls, window, /*stride=*/6);
    EXPECT_TRUE(torch::equal(out, model(image))) << height << " x " << width << " under window " << window;
  }
}

TEST(SlidingWindow, ConstantModelGivesAConstantMap) {
  // Per-class constants that are exact binary fractions: a sum of up to 4 of them and the division by the
  // count are exact in float32, so the map must equal the constants to the bit.
  const torch::Tensor constants = torch::tensor({-1.5f, 0.25f, 3.0f});  // (n_cls,)
  const auto model = [&](const torch::Tensor& crop) {
    return constants.view({1, 3, 1, 1}).expand({crop.size(0), 3, crop.size(2), crop.size(3)}).contiguous();
  };
  const torch::Tensor out = rpct::sliding_window_logits(model, torch::randn({2, 3, 11, 8}), 3, 4, 3);
  EXPECT_TRUE(torch::equal(out, constants.view({1, 3, 1, 1}).expand({2, 3, 11, 8}))) << out;
}

TEST(SlidingWindow, BadArgumentsAreNamed) {
  const auto model = [](const torch::Tensor& crop) { return torch::zeros({crop.size(0), 2, 1, 1}); };
  const torch::Tensor image = torch::zeros({1, 3, 8, 8});
  expect_error_naming([&] { rpct::sliding_window_logits(model, image, 2, 4, 3); },
                      {"forward returned", "[1, 2, 1, 1]"});
  expect_error_naming([&] { rpct::sliding_window_logits(model, image, 2, 4, 5); }, {"stride 5", "window 4"});
  expect_error_naming([&] { rpct::sliding_window_logits(model, torch::zeros({3, 8, 8}), 2, 4, 3); }, {"[3, 8, 8]"});
}


// ---- test-time scores: padding, views, flip ----

// Float64 bilinear resizes and softmaxes of the same values taken in mirrored order (flip) or summed
// in another order: a few ulps of probabilities <= 1.
constexpr double kTestTimeTol = 1e-12;

TEST(PaddedToMultiple, PadsToThePatchAndCropsBack) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const RandomPixelModel model{torch::randn({4, 3}, torch::kDouble)};
  std::vector<std::vector<int64_t>> seen;
  const auto forward = rpct::padded_to_multiple(
      [&](const torch::Tensor& crop) {
        seen.push_back(crop.sizes().vec());
        return model(crop);
      },
      4);
  const torch::Tensor crop = torch::randn({2, 3, 5, 7}, torch::kDouble);
  // A pixel-wise model: the padded pixels change nothing in the crop's own (up to the einsum's summation
  // order, which may differ for the larger padded input).
  EXPECT_TRUE(torch::allclose(forward(crop), model(crop), 0, kTestTimeTol));
  const torch::Tensor fits = torch::randn({1, 3, 8, 4}, torch::kDouble);
  EXPECT_TRUE(torch::equal(forward(fits), model(fits)));
  EXPECT_EQ(seen, (std::vector<std::vector<int64_t>>{{2, 3, 8, 8}, {1, 3, 8, 4}}));
  // The padding is zeros at the bottom and right (Segmenter's), the crop top-left.
  const auto echo = rpct::padded_to_multiple([](const torch::Tensor& c) { return c; }, 4);
  EXPECT_TRUE(torch::equal(echo(crop), crop)) << "cropped back";
  const auto probe = rpct::padded_to_multiple(
      [&](const torch::Tensor& c) {
        EXPECT_TRUE(torch::equal(c.index({Slice(), Slice(), Slice(0, 5), Slice(0, 7)}), crop));
        EXPECT_EQ(c.index({Slice(), Slice(), Slice(5, 8)}).abs().sum().item<double>(), 0.0);
        EXPECT_EQ(c.index({Slice(), Slice(), Slice(), Slice(7, 8)}).abs().sum().item<double>(), 0.0);
        return c;
      },
      4);
  probe(crop);
}

TEST(TestTimeScores, OneViewWithoutFlipIsThePlainSlidingWindowPath) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const int64_t n_cls = 4;
  const RandomPixelModel pixelwise{torch::randn({n_cls, 3}, torch::kDouble)};
  PositionModel positional{n_cls, {}};
  const torch::Tensor image = torch::randn({2, 3, 10, 12}, torch::kDouble);
  const torch::Tensor positions = position_image(2, 10, 12);
  for (const auto& [h, w] : std::vector<std::pair<int64_t, int64_t>>{{10, 12}, {7, 17}}) {
    SCOPED_TRACE("labels " + std::to_string(h) + " x " + std::to_string(w));
    auto plain = rpct::sliding_window_logits(pixelwise, image, n_cls, 4, 3);
    if (h != 10 || w != 12) plain = rpct::bilinear_resize(plain, h, w);
    EXPECT_TRUE(torch::equal(rpct::test_time_scores(pixelwise, {image}, n_cls, 4, 3, h, w, false), plain));
    auto plain_pos = rpct::sliding_window_logits(std::ref(positional), positions, n_cls, 4, 3);
    if (h != 10 || w != 12) plain_pos = rpct::bilinear_resize(plain_pos, h, w);
    EXPECT_TRUE(torch::equal(rpct::test_time_scores(std::ref(positional), {positions}, n_cls, 4, 3, h, w, false),
                             plain_pos));
  }
}

TEST(TestTimeScores, FlipOfAMirrorSymmetricModelEqualsNoFlip) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const int64_t n_cls = 3;
  // A pixel-wise model commutes with mirroring: the mirrored view, mirrored back, gives the same scores
  // (windows sit elsewhere on the mirrored image, which a pixel-wise model does not notice).
  const RandomPixelModel pixelwise{torch::randn({n_cls, 3}, torch::kDouble)};
  const torch::Tensor image = torch::randn({2, 3, 9, 11}, torch::kDouble);
  const torch::Tensor no_flip = rpct::test_time_scores(pixelwise, {image}, n_cls, 4, 3, 13, 15, false).softmax(1);
  const torch::Tensor flip = rpct::test_time_scores(pixelwise, {image}, n_cls, 4, 3, 13, 15, true);
  EXPECT_TRUE(torch::allclose(flip, no_flip, /*rtol=*/0, /*atol=*/kTestTimeTol)) << (flip - no_flip).abs().max();
  // A model that is not mirror-symmetric: class 0's logit is 0.3 x the column inside the crop, class 1's 0.
  // One window covers the 9 x 11 image, so at column j the flip test averages the probabilities of the
  // image (logit 0.3 j) and of the mirror image mirrored back (logit 0.3 (10 - j)): a flip not done, or
  // not undone, fails this.
  const auto ramp = [](const torch::Tensor& crop) {  // (B, C, h, w) -> (B, 2, h, w)
    const int64_t b = crop.size(0), h = crop.size(2), w = crop.size(3);
    const auto col = torch::arange(w, crop.options()).mul(0.3).view({1, 1, 1, w}).expand({b, 1, h, w});
    return torch::cat({col, torch::zeros_like(col)}, 1);
  };
  const torch::Tensor ramp_flip = rpct::test_time_scores(ramp, {image}, 2, 16, 16, 9, 11, true);
  for (int64_t j = 0; j < 11; ++j) {
    const double expected = 0.5 * (1 / (1 + std::exp(-0.3 * j)) + 1 / (1 + std::exp(-0.3 * (10 - j))));
    EXPECT_NEAR(ramp_flip[1][0][4][j].item<double>(), expected, kTestTimeTol) << "column " << j;
  }
  const torch::Tensor ramp_plain = rpct::test_time_scores(ramp, {image}, 2, 16, 16, 9, 11, false).softmax(1);
  EXPECT_GT((ramp_flip - ramp_plain).abs().max().item<double>(), 0.1) << "the ramp is not symmetric";
}

TEST(TestTimeScores, ViewsAreAveragedAsProbabilitiesAtTheLabelSize) {
  const uint64_t seed = rpct::test::test_seed();
  torch::manual_seed(seed);
  const int64_t n_cls = 3, h = 12, w = 10;
  const RandomPixelModel model{torch::randn({n_cls, 3}, torch::kDouble)};
  const std::vector<torch::Tensor> views = {torch::randn({2, 3, 6, 5}, torch::kDouble),
                                            torch::randn({2, 3, 12, 10}, torch::kDouble),
                                            torch::randn({2, 3, 18, 15}, torch::kDouble)};
  // Windows of 32 cover each view in one pass: the view's logits are the model's, resized to h x w.
  torch::Tensor expected = torch::zeros({2, n_cls, h, w}, torch::kDouble);
  for (const auto& v : views) {
    auto logits = model(v);
    if (v.size(2) != h) logits = rpct::bilinear_resize(logits, h, w);
    expected += logits.softmax(1) / 3.0;
  }
  const torch::Tensor got = rpct::test_time_scores(model, views, n_cls, 32, 32, h, w, false);
  EXPECT_TRUE(torch::allclose(got, expected, 0, kTestTimeTol)) << (got - expected).abs().max();
  EXPECT_NEAR(got.sum(1).mean().item<double>(), 1.0, kTestTimeTol) << "probabilities";
  expect_error_naming([&] { rpct::test_time_scores(model, {}, n_cls, 4, 4, h, w, false); }, {"no view"});
}

TEST(StackSameSizeRuns, ConsecutiveSamplesOfOneSizeAreStacked) {
  auto sample = [](int64_t h, int64_t w, double v) {
    return std::make_pair(std::vector<torch::Tensor>{torch::full({3, h, w}, v), torch::full({3, 2 * h, 2 * w}, v)},
                          torch::full({h + 1, w + 1}, static_cast<int64_t>(v), torch::kLong));
  };
  std::vector<std::vector<torch::Tensor>> views;
  std::vector<torch::Tensor> labels;
  for (const auto& [h, w, v] : std::vector<std::tuple<int64_t, int64_t, double>>{{4, 6, 0}, {4, 6, 1}, {6, 4, 2}, {4, 6, 3}}) {
    auto [vs, l] = sample(h, w, v);
    views.push_back(vs);
    labels.push_back(l);
  }
  const auto runs = rpct::stack_same_size_runs(views, labels);
  ASSERT_EQ(runs.size(), 3u);
  const std::vector<std::vector<int64_t>> run_samples = {{0, 1}, {2}, {3}};
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    ASSERT_EQ(runs[r].views.size(), 2u);
    ASSERT_EQ(runs[r].labels.size(0), static_cast<int64_t>(run_samples[r].size()));
    for (size_t i = 0; i < run_samples[r].size(); ++i) {
      const int64_t s = run_samples[r][i];
      EXPECT_TRUE(torch::equal(runs[r].views[0][i], views[s][0]));
      EXPECT_TRUE(torch::equal(runs[r].views[1][i], views[s][1]));
      EXPECT_TRUE(torch::equal(runs[r].labels[i], labels[s]));
    }
  }
  expect_error_naming([&] { rpct::stack_same_size_runs(views, {}); }, {"4 samples", "0 labels"});
}

}  // namespace

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <set>
#include <tuple>

#include "core/file_io.h"
#include "datasets/ade20k.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "tests/datasets/fixtures.h"
#include "tools/prepare_data.h"

using namespace rpct;
using rpct::test::TempDir;

using rpct::test::expect_throw_with;

namespace {

// One pair with labels 0, 1, 150 in known places.
void write_pair(const TempDir& d, const std::string& split, const std::string& stem, int w, int h) {
  test::write_jpeg(d.sub("ADEChallengeData2016/images/" + split + "/" + stem + ".jpg"), test::make_rgb(w, h));
  Image lab = test::make_solid(w, h, 1, {1});
  for (int x = 0; x < w; ++x) lab.row(0)[x] = 0;          // top row: "other"
  for (int y = 0; y < h; ++y) lab.row(y)[w - 1] = 150;    // right column: the last class
  write_file_bytes(d.sub("ADEChallengeData2016/annotations/" + split + "/" + stem + ".png"), encode_png(lab));
}

}  // namespace

TEST(Ade20k, LayoutPairsAndReduceZeroLabel) {
  TempDir d;
  write_pair(d, "training", "ADE_train_00000002", 40, 30);
  write_pair(d, "training", "ADE_train_00000001", 40, 30);
  write_pair(d, "validation", "ADE_val_00000001", 40, 30);
  const auto tr = Ade20kDataset::open({d.path, "training"});  // parent of ADEChallengeData2016 accepted
  ASSERT_EQ(tr.size(), 2);
  EXPECT_NE(tr.image_path(0).find("images/training/ADE_train_00000001.jpg"), std::string::npos);
  EXPECT_NE(tr.label_path(0).find("annotations/training/ADE_train_00000001.png"), std::string::npos);
  const auto va = Ade20kDataset::open({d.path + "/ADEChallengeData2016", "val"});
  ASSERT_EQ(va.size(), 1);

  uint8_t v[5] = {0, 1, 2, 150, 255};
  reduce_zero_label(v, 5);
  EXPECT_EQ(v[0], 255);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], 1);
  EXPECT_EQ(v[3], 149);
  EXPECT_EQ(v[4], 255);

  // Eval: label at original resolution, reduced; image rescaled to fit 2048 x 512 (short side 512 here).
  SegmentationTransformOptions o;
  const auto s = segmentation_eval_transform(read_file_bytes(va.image_path(0)), va.image_path(0),
                                             read_file_bytes(va.label_path(0)), va.label_path(0), o);
  ASSERT_EQ(s.images.size(), 1u);
  EXPECT_EQ(s.images[0].sizes(), (std::vector<int64_t>{3, 512, 683}));
  ASSERT_EQ(s.label.sizes(), (std::vector<int64_t>{30, 40}));
  EXPECT_EQ(s.label[0][5].item<int64_t>(), 255);   // 0 -> ignore
  EXPECT_EQ(s.label[10][5].item<int64_t>(), 0);    // 1 -> 0
  EXPECT_EQ(s.label[10][39].item<int64_t>(), 149); // 150 -> 149
}

// Bad pairs are bad samples: with on_bad_sample skip each is replaced by the next good one, counted and
// named once; with error the first one stops the batch naming its file. Four kinds: an image without its
// annotation, an annotation without its image, an annotation of another size, a label value above the
// class count, and a colour (3-channel) annotation.
TEST(Ade20k, BadPairsAreSkippedOrNamed) {
  TempDir d;
  const std::string img = "ADEChallengeData2016/images/training/", ann = "ADEChallengeData2016/annotations/training/";
  write_pair(d, "training", "ADE_train_00000001", 16, 16);
  test::write_jpeg(d.sub(img + "ADE_train_00000002.jpg"), test::make_rgb(16, 16));  // no annotation
  write_file_bytes(d.sub(ann + "ADE_train_00000003.png"), encode_png(test::make_solid(16, 16, 1, {3})));  // no image
  test::write_jpeg(d.sub(img + "ADE_train_00000004.jpg"), test::make_rgb(16, 16));  // annotation 12 x 16
  write_file_bytes(d.sub(ann + "ADE_train_00000004.png"), encode_png(test::make_solid(12, 16, 1, {3})));
  test::write_jpeg(d.sub(img + "ADE_train_00000005.jpg"), test::make_rgb(16, 16));  // label 151 > 150 classes
  write_file_bytes(d.sub(ann + "ADE_train_00000005.png"), encode_png(test::make_solid(16, 16, 1, {151})));
  test::write_jpeg(d.sub(img + "ADE_train_00000006.jpg"), test::make_rgb(16, 16));  // colour annotation
  write_file_bytes(d.sub(ann + "ADE_train_00000006.png"), encode_png(test::make_rgb(16, 16)));
  write_pair(d, "training", "ADE_train_00000007", 16, 16);
  const auto ds = Ade20kDataset::open({d.path, "training"});
  ASSERT_EQ(ds.size(), 7);  // every stem is a sample
  EXPECT_EQ(ds.pair_problem(0), "");
  EXPECT_NE(ds.pair_problem(1).find("annotations/training/ADE_train_00000002.png is missing"), std::string::npos);
  EXPECT_NE(ds.pair_problem(2).find("images/training/ADE_train_00000003.jpg is missing"), std::string::npos);

  SegmentationSourceOptions o;
  o.transform.crop = 16;
  o.transform.scale_long = 64;
  o.transform.scale_short = 16;
  const std::vector<std::pair<int64_t, std::vector<std::string>>> bad = {
      {1, {"ADE_train_00000002.jpg", "annotation", "missing", "on_bad_sample"}},
      {2, {"ADE_train_00000003.png", "image", "missing"}},
      {3, {"ADE_train_00000004.png", "12x16"}},
      {4, {"ADE_train_00000005.png", "label value 151", "150 classes"}},
      {5, {"ADE_train_00000006.png", "grayscale"}}};
  o.on_bad_sample = BadSamplePolicy::kError;
  Ade20kSource strict(ds, o);
  for (const auto& [index, words] : bad) {
    SCOPED_TRACE("sample " + std::to_string(index));
    expect_throw_with([&, index = index] { strict.make_batch(0, {index}); }, words);
  }
  o.on_bad_sample = BadSamplePolicy::kSkip;
  Ade20kSource lenient(ds, o);
  Batch b = lenient.make_batch(0, {0, 1, 2, 3, 4, 5, 6});
  EXPECT_EQ(b.skipped, 5);
  EXPECT_EQ(b.indices, (std::vector<int64_t>{0, 6, 6, 6, 6, 6, 6}));  // each replaced by the next good one
  EXPECT_EQ(lenient.bad_samples().count(), 5);
  // The whole split missing is still an error at open.
  expect_throw_with([&] { Ade20kDataset::open({d.path, "validation"}); }, {"validation", "not found"});
}

TEST(Ade20k, TrainTransformCropsPadsAndKeepsLabelsValid) {
  TempDir d;
  SyntheticAde20kOptions so;
  so.out = d.path;
  so.train = 6;
  so.val = 2;
  so.width = 120;
  so.height = 90;
  const auto r = prepare_synthetic_ade20k(so);
  const auto ds = Ade20kDataset::open({r.root, "training"});
  ASSERT_EQ(ds.size(), 6);
  SegmentationSourceOptions o;
  o.transform.crop = 64;
  o.transform.scale_long = 256;
  o.transform.scale_short = 64;  // rescaled short side 32..128: small ones need padding
  o.seed = 5;
  auto src = std::make_shared<Ade20kSource>(ds, o);
  DataLoader loader(src, 2, 2);
  loader.start_epoch(0, {{0, 1, 2}, {3, 4, 5}});
  int64_t ignore = 0, labelled = 0;
  while (loader.has_next()) {
    Batch b = loader.next();
    ASSERT_EQ(b.x.sizes(), (std::vector<int64_t>{3, 3, 64, 64}));
    ASSERT_EQ(b.y.sizes(), (std::vector<int64_t>{3, 64, 64}));
    EXPECT_EQ(b.skipped, 0);
    const auto y = b.y;
    EXPECT_TRUE(((y >= 0) & ((y < kAde20kClasses) | (y == kIgnoreLabel))).all().item<bool>());
    ignore += (y == kIgnoreLabel).sum().item<int64_t>();
    labelled += (y != kIgnoreLabel).sum().item<int64_t>();
    EXPECT_TRUE(torch::isfinite(b.x).all().item<bool>());  // padding and alignment: TrainAndEvalKeepImageAndLabelAligned
  }
  EXPECT_GT(ignore, 0);    // label-0 shapes and/or padding
  EXPECT_GT(labelled, 0);
  // deterministic per (seed, epoch, index), whatever the batch
  Batch a = src->make_batch(3, {4, 1});
  Batch c = src->make_batch(3, {1});
  EXPECT_TRUE(torch::equal(a.x[1], c.x[0]));
  EXPECT_TRUE(torch::equal(a.y[1], c.y[0]));
  Batch e = src->make_batch(4, {1});
  EXPECT_FALSE(torch::equal(e.x[0], c.x[0]));
}

// The image and its label stay aligned pixel for pixel through every train step (random rescale, crop with
// cat_max_ratio, flip, pad) and in the eval transform. The 60 x 45 source encodes its coordinates (R = 4x, G = 5y,
// B mixed) and its label is a function of them ((x + 3y) mod 150, every pixel labelled). Train, photometric
// distortion off: the output image (de-normalized) must be found exactly as a crop, flipped or not, of the
// source rescaled by one of the sizes the ratio range allows (resample_box, bilinear); the output label must then
// be the same crop of the label rescaled by nearest neighbour (mmcv's imrescale of the map), and the padding
// exactly the pad values (mmseg pads after Normalize: image 0, label 255). With the distortion on, the label and
// the padding are the same (the distortion changes colours only). Eval: each scale's image samples the source at
// its pixel centres ((X + 0.5) W / w - 0.5, read back from the R and G ramps), and the label is the source's.
TEST(Ade20k, TrainAndEvalKeepImageAndLabelAligned) {
  constexpr int W = 60, H = 45, S = 48, kSamples = 40;
  // A de-normalized value is an 8-bit level up to float32 rounding of (v / 255 - mean) / std.
  constexpr double kLevelTol = 1e-3;
  // Eval: a bilinear resample of a linear ramp is the ramp at the pixel centre, up to the 8-bit rounding of each
  // pass (0.5 level each): 1 level, i.e. 1/4 px on R (4 levels per px) and 1/5 px on G; a pixel off is 4 or 5.
  constexpr double kEvalLevelTol = 1.0;
  TempDir d;
  Image src = test::make_solid(W, H, 3, {0, 0, 0});
  Image raw_label = test::make_solid(W, H, 1, {0});
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      uint8_t* p = src.row(y) + 3 * x;
      p[0] = static_cast<uint8_t>(4 * x);
      p[1] = static_cast<uint8_t>(5 * y);
      p[2] = static_cast<uint8_t>((7 * x + 13 * y) % 256);
      raw_label.row(y)[x] = static_cast<uint8_t>(1 + (x + 3 * y) % 150);  // reduced: (x + 3y) % 150
    }
  const auto image_bytes = encode_png(src), label_bytes = encode_png(raw_label);
  Image label = raw_label;
  reduce_zero_label(label.pixels.data(), label.pixels.size());
  SegmentationTransformOptions o;
  o.crop = S;
  o.scale_long = W;  // rescaled size = ratio x (60, 45), ratio in [0.5, 2]: 30 x 23 (padded) .. 120 x 90 (cropped)
  o.scale_short = H;
  o.photometric = false;

  // Every size a ratio in [ratio_min, ratio_max] can give, with the source and the label rescaled to it.
  struct Scaled {
    int w, h;
    Image img, lab;
  };
  std::vector<Scaled> sizes;
  for (int k = 0; k <= 15000; ++k) {
    const auto [w, h] = rescaled_size(W, H, o.scale_long * (o.ratio_min + k * 1e-4), o.scale_short * (o.ratio_min + k * 1e-4));
    if (sizes.empty() || sizes.back().w != w || sizes.back().h != h)
      sizes.push_back({w, h, resample_box(src, 0, 0, W, H, w, h, Filter::kBilinear), resize_nearest(label, w, h)});
  }
  auto level = [&](float v, int c) {  // the 8-bit value normalize_into wrote as v
    const double u = (double(v) * o.std[c] + o.mean[c]) * 255;
    EXPECT_NEAR(u, std::round(u), kLevelTol) << "not a normalized 8-bit value";
    return static_cast<int>(std::lround(u));
  };
  const size_t plane = size_t(S) * S;
  std::vector<float> x(3 * plane), x_photo(3 * plane);
  std::vector<int64_t> y(plane), y_photo(plane);
  std::set<bool> flips;
  int padded = 0, cropped = 0;
  std::set<std::pair<int, int>> sizes_seen;
  for (int64_t i = 0; i < kSamples; ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    o.photometric = false;
    segmentation_train_transform(image_bytes, "s.png", label_bytes, "s_label.png", o, 7, 1, i, x.data(), y.data());
    // The labelled area is the top-left cw x ch rectangle (the label has no ignore pixel); the rest is padding.
    int cw = 0, ch = 0;
    while (cw < S && y[cw] != kIgnoreLabel) ++cw;
    while (ch < S && y[size_t(ch) * S] != kIgnoreLabel) ++ch;
    ASSERT_GT(cw, 0);
    ASSERT_GT(ch, 0);
    for (int yy = 0; yy < S; ++yy)
      for (int xx = 0; xx < S; ++xx) {
        const bool inside = yy < ch && xx < cw;
        ASSERT_EQ(y[size_t(yy) * S + xx] != kIgnoreLabel, inside) << "label at (" << xx << ", " << yy << ")";
        if (!inside) {
          for (int c = 0; c < 3; ++c) ASSERT_EQ(x[c * plane + size_t(yy) * S + xx], 0.f) << "image padding at (" << xx << ", " << yy << ")";
        }
      }
    std::vector<uint8_t> out(size_t(cw) * ch * 3);
    for (int yy = 0; yy < ch; ++yy)
      for (int xx = 0; xx < cw; ++xx)
        for (int c = 0; c < 3; ++c) out[(size_t(yy) * cw + xx) * 3 + c] = static_cast<uint8_t>(level(x[c * plane + size_t(yy) * S + xx], c));
    // Find the output image as a crop (flipped or not) of a rescaled source; its label crop must be the output's.
    int matches = 0;
    for (const auto& sc : sizes) {
      if ((cw < S && sc.w != cw) || (cw == S && sc.w < S) || (ch < S && sc.h != ch) || (ch == S && sc.h < S)) continue;
      for (int flip = 0; flip < 2; ++flip)
        for (int oy = 0; oy + ch <= sc.h; ++oy)
          for (int ox = 0; ox + cw <= sc.w; ++ox) {
            auto src_x = [&](int xx) { return ox + (flip ? cw - 1 - xx : xx); };
            bool same = true;
            for (int yy = 0; yy < ch && same; ++yy)
              for (int xx = 0; xx < cw && same; ++xx)
                same = std::memcmp(&out[(size_t(yy) * cw + xx) * 3], sc.img.row(oy + yy) + 3 * src_x(xx), 3) == 0;
            if (!same) continue;
            ++matches;
            flips.insert(flip != 0);
            sizes_seen.insert({sc.w, sc.h});
            padded += cw < S || ch < S;
            cropped += sc.w > S || sc.h > S;
            for (int yy = 0; yy < ch; ++yy)
              for (int xx = 0; xx < cw; ++xx)
                ASSERT_EQ(y[size_t(yy) * S + xx], int64_t{sc.lab.row(oy + yy)[src_x(xx)]})
                    << "label at (" << xx << ", " << yy << ") vs the image's crop at (" << ox << ", " << oy << ") of the "
                    << sc.w << "x" << sc.h << " rescale, " << (flip ? "flipped" : "not flipped");
          }
    }
    ASSERT_GE(matches, 1) << "the output image is no crop of the rescaled source";
    // The photometric distortion changes colours only: the same label, and the image padding still 0.
    o.photometric = true;
    segmentation_train_transform(image_bytes, "s.png", label_bytes, "s_label.png", o, 7, 1, i, x_photo.data(), y_photo.data());
    EXPECT_EQ(y_photo, y);
    for (int yy = 0; yy < S; ++yy)
      for (int xx = 0; xx < S; ++xx)
        if (yy >= ch || xx >= cw) {
          for (int c = 0; c < 3; ++c) ASSERT_EQ(x_photo[c * plane + size_t(yy) * S + xx], 0.f);
        }
  }
  // The draws covered what the checks are about: both flips, padding, cropping, many scales.
  std::printf("%d samples: flips %zu kinds, %d padded, %d cropped, %zu rescaled sizes\n", kSamples, flips.size(), padded,
              cropped, sizes_seen.size());
  EXPECT_EQ(flips.size(), 2u);
  EXPECT_GT(padded, 3);
  EXPECT_GT(cropped, 3);
  EXPECT_GT(sizes_seen.size(), 10u);

  // Eval, at three scales: each view samples the source at its pixel centres; the label is the source's.
  o.eval_scales = {0.5, 1.0, 1.75};
  const auto s = segmentation_eval_transform(image_bytes, "s.png", label_bytes, "s_label.png", o);
  ASSERT_EQ(s.label.sizes(), (std::vector<int64_t>{H, W}));
  for (int yy = 0; yy < H; ++yy)
    for (int xx = 0; xx < W; ++xx) ASSERT_EQ(s.label[yy][xx].item<int64_t>(), label.row(yy)[xx]) << "eval label at (" << xx << ", " << yy << ")";
  ASSERT_EQ(s.images.size(), 3u);
  for (size_t k = 0; k < s.images.size(); ++k) {
    SCOPED_TRACE("eval scale " + std::to_string(o.eval_scales[k]));
    const auto img = s.images[k].contiguous();
    const int h = static_cast<int>(img.size(1)), w = static_cast<int>(img.size(2));
    const auto [ew, eh] = rescaled_size(W, H, static_cast<int>(o.scale_long * o.eval_scales[k]),
                                        static_cast<int>(o.scale_short * o.eval_scales[k]));
    ASSERT_EQ(w, ew);
    ASSERT_EQ(h, eh);
    const float* p = img.data_ptr<float>();
    const double sx = double(W) / w, sy = double(H) / h;
    const double support_x = std::max(sx, 1.0), support_y = std::max(sy, 1.0);  // bilinear's, in source pixels
    int checked = 0, off = 0;
    std::string first_off;
    for (int yy = 0; yy < h; ++yy)
      for (int xx = 0; xx < w; ++xx) {
        const double u = (xx + 0.5) * sx - 0.5, v = (yy + 0.5) * sy - 0.5;  // the source point of this pixel
        if (u - support_x < 0 || u + support_x > W - 1 || v - support_y < 0 || v + support_y > H - 1) continue;  // edge
        const size_t at = size_t(yy) * w + xx;
        const int r = level(p[at], 0), g = level(p[size_t(h) * w + at], 1);
        ++checked;
        if (std::abs(r - 4 * u) <= kEvalLevelTol && std::abs(g - 5 * v) <= kEvalLevelTol) continue;
        if (off++ == 0)
          first_off = "(" + std::to_string(xx) + ", " + std::to_string(yy) + "): R " + std::to_string(r) + " vs 4x = " +
                      std::to_string(4 * u) + ", G " + std::to_string(g) + " vs 5y = " + std::to_string(5 * v);
      }
    EXPECT_EQ(off, 0) << off << " of " << checked << " pixels do not sample the source at their centre, first at " << first_off;
    EXPECT_GT(checked, w * h / 3);
  }
}

TEST(Ade20k, SmallImageIsPaddedWithIgnore) {
  TempDir d;
  write_pair(d, "training", "ADE_train_00000001", 40, 30);
  const auto ds = Ade20kDataset::open({d.path, "training"});
  SegmentationTransformOptions o;
  o.crop = 64;
  o.scale_long = 40;
  o.scale_short = 30;
  o.ratio_min = o.ratio_max = 1.0;  // keep 40 x 30
  o.photometric = false;
  std::vector<float> x(3 * 64 * 64);
  std::vector<int64_t> y(64 * 64);
  segmentation_train_transform(read_file_bytes(ds.image_path(0)), ds.image_path(0), read_file_bytes(ds.label_path(0)),
                               ds.label_path(0), o, 0, 0, 0, x.data(), y.data());
  EXPECT_EQ(y[0 * 64 + 10], 255);       // top row "other"
  EXPECT_EQ(y[10 * 64 + 45], 255);      // padding (x >= 40)
  EXPECT_EQ(y[35 * 64 + 10], 255);      // padding (y >= 30)
  EXPECT_EQ(x[35 * 64 + 10], 0.f);      // padded image is 0
  const int64_t row10_left = y[10 * 64 + 0], row10_right = y[10 * 64 + 39];
  EXPECT_TRUE((row10_left == 0 && row10_right == 149) || (row10_left == 149 && row10_right == 0));  // maybe flipped
}

TEST(Ade20k, SlidingWindowsCoverTheImage) {
  auto w = sliding_windows(512, 683, 512, 512);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].x0, 0);
  EXPECT_EQ(w[1].x1, 683);
  EXPECT_EQ(w[1].x0, 683 - 512);
  w = sliding_windows(300, 200, 512, 512);  // smaller than a window: one, clipped
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].y1, 300);
  EXPECT_EQ(w[0].x1, 200);
  w = sliding_windows(1100, 1024, 512, 512);
  EXPECT_EQ(w.size(), 3u * 2u);
}

// The evaluation source keeps every image whole: per sample one rescaled image per test scale (mmseg:
// fit int(r * 2048) x int(r * 512), keep ratio) and the label at the image's ORIGINAL size, for images of
// different sizes in one batch; a bad pair follows on_bad_sample.
TEST(Ade20k, EvalSourceKeepsOriginalLabelSizesPerSample) {
  TempDir d;
  const std::vector<std::pair<int, int>> sizes = {{40, 30}, {24, 48}, {50, 50}};  // (w, h)
  for (size_t i = 0; i < sizes.size(); ++i)
    write_pair(d, "validation", "ADE_val_0000000" + std::to_string(i + 1), sizes[i].first, sizes[i].second);
  test::write_jpeg(d.sub("ADEChallengeData2016/images/validation/ADE_val_00000009.jpg"), test::make_rgb(16, 16));
  const auto ds = Ade20kDataset::open({d.path, "validation"});
  ASSERT_EQ(ds.size(), 4);  // the last one lacks its annotation
  SegmentationSourceOptions o;
  o.transform.scale_long = 128;
  o.transform.scale_short = 32;
  o.transform.eval_scales = {0.5, 1.0, 1.5};
  Ade20kEvalSource src(ds, o);
  const Batch b = src.make_batch(0, {0, 1, 2});
  EXPECT_FALSE(b.x.defined());
  EXPECT_FALSE(b.y.defined());
  ASSERT_EQ(b.sample_views.size(), 3u);
  ASSERT_EQ(b.sample_labels.size(), 3u);
  // Expected view sizes, worked by hand from the mmseg rule: factor = min(long / max(w, h), short / min(w, h)).
  const std::vector<std::vector<std::vector<int64_t>>> views = {
      {{3, 16, 21}, {3, 32, 43}, {3, 48, 64}},  // 40 x 30: short side 30 -> 16, 32, 48
      {{3, 32, 16}, {3, 64, 32}, {3, 96, 48}},  // 24 x 48: short side 24 -> 16, 32, 48
      {{3, 16, 16}, {3, 32, 32}, {3, 48, 48}}};
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    ASSERT_EQ(b.sample_views[i].size(), 3u);
    for (size_t v = 0; v < 3; ++v) EXPECT_EQ(b.sample_views[i][v].sizes(), views[i][v]) << "scale " << v;
    const auto& y = b.sample_labels[i];
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{sizes[i].second, sizes[i].first}));  // (H, W) as in the file
    EXPECT_EQ(y.scalar_type(), torch::kInt64);
    EXPECT_EQ(y[0][1].item<int64_t>(), kIgnoreLabel);           // 0 -> ignore
    EXPECT_EQ(y[5][1].item<int64_t>(), 0);                      // 1 -> 0
    EXPECT_EQ(y[5][sizes[i].first - 1].item<int64_t>(), 149);   // 150 -> 149
  }
  // The scale-1 view is the single-scale transform's image.
  SegmentationSourceOptions one = o;
  one.transform.eval_scales = {1.0};
  const Batch single = Ade20kEvalSource(ds, one).make_batch(0, {1});
  EXPECT_TRUE(torch::equal(single.sample_views[0][0], b.sample_views[1][1]));
  // Bad pair: skipped (replaced by the next good index, 3 -> 0) or named.
  const Batch skipped = src.make_batch(0, {3});
  EXPECT_EQ(skipped.skipped, 1);
  EXPECT_EQ(skipped.indices, (std::vector<int64_t>{0}));
  o.on_bad_sample = BadSamplePolicy::kError;
  expect_throw_with([&] { Ade20kEvalSource(ds, o).make_batch(0, {3}); }, {"ADE_val_00000009", "missing"});
}

// SegmentationSourceOptions::eval_image_edit (the robustness benchmark's corruptions): it sees each image at
// its stored size with its dataset index, before the rescale and normalisation; the labels stay as they were.
TEST(Ade20k, EvalImageEditSeesTheFullImageBeforeTheTransformAndNotTheLabels) {
  TempDir d;
  write_pair(d, "validation", "ADE_val_00000001", 40, 30);
  write_pair(d, "validation", "ADE_val_00000002", 24, 48);
  const auto ds = Ade20kDataset::open({d.path, "validation"});
  SegmentationSourceOptions o;
  o.transform.scale_long = 32;
  o.transform.scale_short = 6;  // views under half the stored size: a JPEG decode would be DCT-scaled to half
  o.transform.eval_scales = {1.0, 1.5};
  const Batch plain = Ade20kEvalSource(ds, o).make_batch(0, {0, 1});
  std::mutex mu;
  std::set<std::tuple<int64_t, int, int>> seen;  // (index, width, height)
  o.eval_image_edit = [&](Image& image, int64_t index) {
    std::lock_guard<std::mutex> lock(mu);
    seen.insert({index, image.width, image.height});
    std::fill(image.pixels.begin(), image.pixels.end(), uint8_t{255});  // white
  };
  const Batch edited = Ade20kEvalSource(ds, o).make_batch(0, {1, 0});
  EXPECT_EQ(seen, (std::set<std::tuple<int64_t, int, int>>{{0, 40, 30}, {1, 24, 48}}));
  ASSERT_EQ(edited.sample_views.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE("sample " + std::to_string(i));
    const size_t same_in_plain = 1 - i;  // edited asked for {1, 0}
    EXPECT_TRUE(torch::equal(edited.sample_labels[i], plain.sample_labels[same_in_plain]));
    for (size_t v = 0; v < 2; ++v) {
      const auto& view = edited.sample_views[i][v];  // (3, h, w)
      EXPECT_EQ(view.sizes(), plain.sample_views[same_in_plain][v].sizes());
      for (int c = 0; c < 3; ++c)  // white, normalized: exactly (1 - mean) / std as normalize_into's table
        EXPECT_TRUE(torch::all(view[c] == (1.f - o.transform.mean[c]) / o.transform.std[c]).item<bool>()) << "channel " << c;
    }
  }
  // An edit must keep the image's size; one that does not is an error naming the image.
  o.eval_image_edit = [](Image& image, int64_t) { image.width -= 1; };
  o.on_bad_sample = BadSamplePolicy::kError;
  expect_throw_with([&] { Ade20kEvalSource(ds, o).make_batch(0, {0}); }, {"ADE_val_00000001.jpg", "changed the image's size"});
}

TEST(Ade20k, ClassNamesFromTheDataSetOrDefaults) {
  TempDir d;
  write_pair(d, "validation", "ADE_val_00000001", 16, 16);
  // No class_names.txt: the ADE20K names for 150 classes, generic ones otherwise.
  EXPECT_EQ(ade20k_layout_class_names(d.path, 150), ade20k_class_names());
  EXPECT_EQ(ade20k_layout_class_names(d.path, 3), (std::vector<std::string>{"class_0", "class_1", "class_2"}));
  EXPECT_EQ(ade20k_layout_class_names("", 2), (std::vector<std::string>{"class_0", "class_1"}));
  write_file_bytes(d.sub(std::string("ADEChallengeData2016/") + kClassNamesFile),
                   std::vector<uint8_t>{'s', 'k', 'y', '\n', 'r', 'o', 'a', 'd', '\n'});
  EXPECT_EQ(ade20k_layout_class_names(d.path, 2), (std::vector<std::string>{"sky", "road"}));
  EXPECT_EQ(ade20k_layout_class_names(d.path + "/ADEChallengeData2016", 2), (std::vector<std::string>{"sky", "road"}));
  expect_throw_with([&] { ade20k_layout_class_names(d.path, 3); }, {kClassNamesFile, "2 classes", "num_classes is 3"});
}

TEST(Ade20kClassNames, ObjectInfo150Order) {
  const auto& names = ade20k_class_names();
  ASSERT_EQ(names.size(), 150u);
  const std::vector<std::pair<size_t, std::string>> spots{
      {0, "wall"}, {1, "building"}, {2, "sky"}, {3, "floor"}, {4, "tree"}, {7, "bed"}, {12, "person"},
      {44, "chest of drawers"}, {89, "television receiver"}, {149, "flag"}};
  for (const auto& [i, name] : spots) EXPECT_EQ(names[i], name) << "index " << i;
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size()) << "duplicate names";
  for (const auto& n : names) EXPECT_TRUE(!n.empty() && n.front() != ' ' && n.back() != ' ') << "'" << n << "'";
}

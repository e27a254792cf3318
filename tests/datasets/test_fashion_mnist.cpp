// datasets/fashion_mnist and the distributed sampler: the installed real data, IDX parsing and its errors,
// augmentation keyed on (seed, epoch, sample) (same per sample, new per epoch and per repeated copy), and
// sampler shards that are disjoint and independent of the world size (also with repeated augmentation).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <boost/filesystem.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <set>

#include "datasets/fashion_mnist.h"
#include "datasets/sampler.h"

namespace fs = boost::filesystem;

namespace {

const std::string kRoot = "/usr/share/datasets/fashion-mnist";

void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_header(uint32_t magic, std::vector<uint32_t> dims) {
  std::vector<uint8_t> b;
  for (uint32_t v : std::vector<uint32_t>{magic}) dims.insert(dims.begin(), v);
  for (uint32_t v : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  return b;
}

}  // namespace

TEST(FashionMnist, ReadsTheInstalledRealData) {
  auto train = rpct::load_fashion_mnist(kRoot, "train");
  auto test = rpct::load_fashion_mnist(kRoot, "test");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{60000, 28, 28}));
  // Balanced classes: 6000 per class in train, 1000 in test (the published split).
  auto counts = torch::bincount(train.labels);
  EXPECT_EQ(counts.size(0), 10);
  EXPECT_TRUE(counts.eq(6000).all().item<bool>());
  EXPECT_TRUE(torch::bincount(test.labels).eq(1000).all().item<bool>());
  // Mean pixel matches the normalization constant to 3 decimals (it was computed from this data).
  const double mean = train.images.to(torch::kFloat64).mean().item<double>() / 255.0;
  EXPECT_NEAR(mean, rpct::kFashionMnistMean, 5e-4);
}

TEST(FashionMnist, ParsesIdxBytesExactly) {
  auto dir = fs::temp_directory_path() / "rpct_idx_test";
  fs::create_directories(dir);
  auto img = idx_header(0x803, {2, 2, 3});
  for (int i = 0; i < 12; ++i) img.push_back(static_cast<uint8_t>(i * 20));
  write_gz((dir / "a.gz").string(), img);
  auto t = rpct::read_idx_images((dir / "a.gz").string());
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(t[1][1][2].item<int>(), 11 * 20);
  // Truncated content and wrong magic are errors naming the file.
  img.pop_back();
  write_gz((dir / "b.gz").string(), img);
  try {
    rpct::read_idx_images((dir / "b.gz").string());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.gz"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
  EXPECT_THROW(rpct::read_idx_labels((dir / "a.gz").string()), std::runtime_error);
  fs::remove_all(dir);
}

TEST(FashionMnist, MissingDataNamesThePackage) {
  try {
    rpct::load_fashion_mnist("/nonexistent/fmnist", "train");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/fmnist"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos);
  }
}

TEST(FashionMnist, AugmentationIsDeterministicPerSample) {
  auto set = rpct::load_fashion_mnist(kRoot, "test", 64);
  auto [a, ya] = rpct::make_batch(set, {3, 7, 9}, true, 42, 5);
  auto [b, yb] = rpct::make_batch(set, {9, 3}, true, 42, 5);  // other batch composition, same samples
  EXPECT_TRUE(a[0].equal(b[1]));
  EXPECT_TRUE(a[2].equal(b[0]));
  // Another epoch draws another augmentation: two epochs over all 64 samples. One draw has 50 shift/flip
  // outcomes, so a sample repeats its augmentation by chance with probability ~1/50 (~1.3 of 64 expected);
  // epochs that ignore the epoch (every sample repeated) fail this by far.
  std::vector<int64_t> all(set.size());
  std::iota(all.begin(), all.end(), 0);
  auto [e5, y5] = rpct::make_batch(set, all, true, 42, 5);  // (64, 1, 28, 28)
  auto [e6, y6] = rpct::make_batch(set, all, true, 42, 6);
  const int64_t same = (e5 == e6).flatten(1).all(1).sum().item<int64_t>();
  constexpr int64_t kMaxSameAcrossEpochs = 64 / 4;
  EXPECT_LE(same, kMaxSameAcrossEpochs) << same << " of 64 samples augmented identically in epochs 5 and 6";
  auto [plain, yp] = rpct::make_batch(set, {3}, false, 0, 0);
  EXPECT_NEAR(plain.mean().item<double>(),
              (set.images[3].to(torch::kFloat64).mean().item<double>() / 255.0 - rpct::kFashionMnistMean) /
                  rpct::kFashionMnistStd,
              1e-5);
  EXPECT_EQ(ya[0].item<int64_t>(), set.labels[3].item<int64_t>());
}

// data.canvas: the item, unchanged, on a zero background: centered in evaluation; in training at a random offset
// (and scale) per sample, covering every offset, keyed on (seed, epoch, sample) like the augmentation.
TEST(FashionMnist, CanvasPlacesTheItemCenteredOrAnywhere) {
  auto set = rpct::load_fashion_mnist(kRoot, "test", 256);
  // a 0 pixel normalized as make_batch does it (float32, in its order), so background compares exactly
  const float zero = torch::zeros({1}).div_(255.0).sub_(rpct::kFashionMnistMean).div_(rpct::kFashionMnistStd).item<float>();
  auto [item, yi] = rpct::make_batch(set, {5}, false, 0, 0);                  // (1, 1, 28, 28)
  auto [centered, yc] = rpct::make_batch(set, {5}, false, 0, 0, {35, /*random=*/false});
  ASSERT_EQ(centered.sizes(), (std::vector<int64_t>{1, 1, 35, 35}));
  EXPECT_TRUE(centered[0][0].narrow(0, 3, 28).narrow(1, 3, 28).equal(item[0][0])) << "offset (35 - 28) / 2 = 3";
  auto outside = centered.clone();
  outside[0][0].narrow(0, 3, 28).narrow(1, 3, 28).fill_(zero);
  EXPECT_TRUE(outside.eq(zero).all().item<bool>()) << "the rest of the canvas is background";
  EXPECT_EQ(yc[0].item<int64_t>(), set.labels[5].item<int64_t>());

  // Random placement at scale 1: each sample is the item at some offset (found by search), and over 256
  // samples every one of the 8 x 8 offsets of a 35-px canvas occurs (each has probability 1/64, so a missing
  // one has chance 64 (63/64)^256 ~ 1.1% (union bound); a fixed or few-valued offset fails at once).
  std::vector<int64_t> all(set.size());
  std::iota(all.begin(), all.end(), 0);
  auto [plain, yp] = rpct::make_batch(set, all, false, 0, 0);
  auto [placed, yr] = rpct::make_batch(set, all, false, 42, 3, {35, /*random=*/true});
  std::set<std::pair<int, int>> offsets;
  for (int64_t i = 0; i < set.size(); ++i)
    for (int oy = 0; oy <= 7; ++oy)
      for (int ox = 0; ox <= 7; ++ox)
        if (placed[i][0].narrow(0, oy, 28).narrow(1, ox, 28).equal(plain[i][0])) offsets.insert({oy, ox});
  constexpr size_t kAllOffsets = 8 * 8;
  EXPECT_EQ(offsets.size(), kAllOffsets);
  auto [again, ya] = rpct::make_batch(set, {7, 2}, false, 42, 3, {35, /*random=*/true});
  EXPECT_TRUE(again[0].equal(placed[7]) && again[1].equal(placed[2])) << "the draw is keyed on the sample";
  auto [next, yn] = rpct::make_batch(set, all, false, 42, 4, {35, /*random=*/true});
  EXPECT_FALSE(next.equal(placed)) << "another epoch draws other offsets";

  // Scales: a 42-px canvas with items scaled by [1, 1.5] holds foreground boxes of 28..42 px, the largest
  // near 42 and the smallest near 28 (256 uniform draws: the extremes within 2 px with overwhelming odds).
  auto [scaled, ys] = rpct::make_batch(set, all, false, 1, 0, {42, /*random=*/true, 1.0, 1.5});
  int64_t lo = 1000, hi = 0;
  for (int64_t i = 0; i < set.size(); ++i) {
    const auto fg = scaled[i][0].ne(zero);
    const auto rows = fg.any(1).nonzero();
    const auto item_fg = plain[i][0].ne(zero);
    const int64_t item_extent = item_fg.any(1).nonzero().size(0), extent = rows.size(0);
    ASSERT_GT(item_extent, 0);
    const double ratio = static_cast<double>(extent) / static_cast<double>(item_extent);
    lo = std::min<int64_t>(lo, std::lround(28 * ratio));
    hi = std::max<int64_t>(hi, std::lround(28 * ratio));
  }
  constexpr int64_t kExtremeSlackPx = 2;  // nearest-neighbour rounding and an item's rows that are not all drawn
  EXPECT_LE(lo, 28 + kExtremeSlackPx);
  EXPECT_GE(hi, 42 - kExtremeSlackPx);
  EXPECT_THROW(rpct::make_batch(set, {0}, false, 0, 0, {42, true, 1.0, 1.6}), c10::Error) << "1.6 x 28 > 42";
}

TEST(Sampler, ShardsAreDisjointAndMatchOneRankWithDoubleBatch) {
  const int64_t n = 1003, b = 10;
  rpct::DistributedSampler one(n, 2 * b, 1, 0, 7);
  rpct::DistributedSampler r0(n, b, 2, 0, 7), r1(n, b, 2, 1, 7);
  EXPECT_EQ(one.steps_per_epoch(), r0.steps_per_epoch());
  std::set<int64_t> seen;
  for (int64_t s = 0; s < r0.steps_per_epoch(); ++s) {
    auto a = r0.batch(3, s), c = r1.batch(3, s), whole = one.batch(3, s);
    std::vector<int64_t> joined(a);
    joined.insert(joined.end(), c.begin(), c.end());
    EXPECT_EQ(joined, whole);
    for (auto i : joined) EXPECT_TRUE(seen.insert(i).second) << "sample " << i << " seen twice";
  }
  EXPECT_EQ(static_cast<int64_t>(seen.size()), (n / (2 * b)) * 2 * b);
  EXPECT_NE(r0.batch(3, 0), r0.batch(4, 0));  // a new permutation each epoch
}

TEST(Sampler, RepeatedAugmentationListsEachSampleKTimesAsDistinctCodes) {
  const int64_t n = 999, b = 9;
  const int k = 3;
  rpct::DistributedSampler one(n, 2 * b, 1, 0, 5, true, k);
  rpct::DistributedSampler r0(n, b, 2, 0, 5, true, k), r1(n, b, 2, 1, 5, true, k);
  std::map<int64_t, std::set<int64_t>> copies;  // image -> its codes this epoch
  for (int64_t s = 0; s < one.steps_per_epoch(); ++s) {
    auto whole = one.batch(2, s), a = r0.batch(2, s), c = r1.batch(2, s);
    std::vector<int64_t> joined(a);
    joined.insert(joined.end(), c.begin(), c.end());
    EXPECT_EQ(joined, whole);  // the global batch is the same at any world size
    for (auto code : whole) {
      ASSERT_LT(code, k * n);
      EXPECT_TRUE(copies[rpct::repeat_source_index(code, n)].insert(code).second) << "code " << code << " twice";
    }
  }
  // 999 entries hold 333 images x 3; the 55 full global batches of 18 take the first 990 = 330 x 3.
  EXPECT_EQ(static_cast<int64_t>(copies.size()), one.steps_per_epoch() * 2 * b / k);
  for (const auto& [img, codes] : copies) {
    EXPECT_EQ(static_cast<int>(codes.size()), k) << "image " << img;
    for (auto code : codes) EXPECT_EQ(code % n, img);
  }
}

TEST(FashionMnist, RepeatedCopiesAreAugmentedDifferently) {
  auto set = rpct::load_fashion_mnist(kRoot, "test", 64);
  const int64_t n = set.size();
  auto [plain, yp] = rpct::make_batch(set, {5, 5 + n, 5 + 2 * n}, false, 1, 0);
  EXPECT_TRUE(plain[0].equal(plain[1]) && plain[0].equal(plain[2]));  // same image
  EXPECT_EQ(yp[1].item<int64_t>(), set.labels[5].item<int64_t>());
  auto [aug, ya] = rpct::make_batch(set, {5, 5 + n, 5 + 2 * n}, true, 1, 0);
  // Keyed on the code: at least two of the three copies differ (each draw has 50 shift/flip outcomes).
  EXPECT_FALSE(aug[0].equal(aug[1]) && aug[1].equal(aug[2]));
}

// The shift/flip augmentation (datasets/fashion_mnist.cpp augment_shift_flip, max_shift 2): every augmented
// sample is one of the 5 x 5 x 2 candidates built here from the raw image (the image shifted by dx, dy in -2..2
// with zero fill, mirrored or not), and over many draws every candidate occurs.
TEST(FashionMnist, ShiftFlipIsOneOfTheFiftyCandidatesAndCoversThemAll) {
  constexpr int kMaxShift = 2, kSide = rpct::kFashionMnistSide;
  constexpr int kCandidates = (2 * kMaxShift + 1) * (2 * kMaxShift + 1) * 2;
  // Draws per image: a candidate has probability 1/50, so one is missing with chance <= 50 (49/50)^1000 ~ 9e-8;
  // the draws are keyed on (seed, epoch, code) with fixed values here, so the run is deterministic.
  constexpr int kDrawsPerImage = 1000;
  // A de-normalized value is an 8-bit level up to float32 rounding of (v / 255 - mean) / std.
  constexpr double kLevelTol = 1e-3;
  auto set = rpct::load_fashion_mnist(kRoot, "test", 200);
  const int64_t n = set.size();
  auto candidates = [&](int64_t idx) {
    const auto img = set.images[idx].contiguous();
    const uint8_t* src = img.data_ptr<uint8_t>();
    std::vector<std::vector<uint8_t>> out;
    for (int flip = 0; flip < 2; ++flip)
      for (int dy = -kMaxShift; dy <= kMaxShift; ++dy)
        for (int dx = -kMaxShift; dx <= kMaxShift; ++dx) {
          std::vector<uint8_t> c(kSide * kSide, 0);
          for (int y = 0; y < kSide; ++y)
            for (int x = 0; x < kSide; ++x) {
              const int sy = y + dy, sx = x + dx;  // shift with zero fill ...
              if (sy < 0 || sy >= kSide || sx < 0 || sx >= kSide) continue;
              c[y * kSide + (flip ? kSide - 1 - x : x)] = src[sy * kSide + sx];  // ... then mirror
            }
          out.push_back(std::move(c));
        }
    return out;
  };
  // Two items whose 50 candidates are all different (a symmetric or empty-edged item could make two equal).
  std::vector<int64_t> items;
  for (int64_t i = 0; i < n && items.size() < 2; ++i) {
    auto c = candidates(i);
    std::sort(c.begin(), c.end());
    if (std::adjacent_find(c.begin(), c.end()) == c.end()) items.push_back(i);
  }
  ASSERT_EQ(items.size(), 2u);
  for (int64_t item : items) {
    SCOPED_TRACE("item " + std::to_string(item));
    const auto cands = candidates(item);
    std::vector<int64_t> codes(kDrawsPerImage);  // repeated-augmentation codes of this item: item + k n
    for (int k = 0; k < kDrawsPerImage; ++k) codes[k] = item + k * n;
    auto [x, labels] = rpct::make_batch(set, codes, /*augment=*/true, /*seed=*/17, /*epoch=*/2);
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{kDrawsPerImage, 1, kSide, kSide}));
    const auto u = x.to(torch::kFloat64).mul(rpct::kFashionMnistStd).add(rpct::kFashionMnistMean).mul(255);  // levels
    ASSERT_LT((u - u.round()).abs().max().item<double>(), kLevelTol) << "not normalized 8-bit values";
    const auto levels = u.round().to(torch::kUInt8).contiguous();
    const uint8_t* p = levels.data_ptr<uint8_t>();
    std::vector<int> seen(kCandidates, 0);
    for (int k = 0; k < kDrawsPerImage; ++k) {
      const std::vector<uint8_t> got(p + k * kSide * kSide, p + (k + 1) * kSide * kSide);
      const auto it = std::find(cands.begin(), cands.end(), got);
      ASSERT_NE(it, cands.end()) << "draw " << k << " (code " << codes[k] << ") is no shift by -2..2 (zero fill) with or without a flip";
      ++seen[it - cands.begin()];
    }
    const int missing = static_cast<int>(std::count(seen.begin(), seen.end(), 0));
    EXPECT_EQ(missing, 0) << "of the " << kCandidates << " shift/flip candidates, " << missing << " never occur in "
                          << kDrawsPerImage << " draws";
    std::printf("item %ld: %d draws, candidate counts %d..%d\n", static_cast<long>(item), kDrawsPerImage,
                *std::min_element(seen.begin(), seen.end()), *std::max_element(seen.begin(), seen.end()));
  }
}

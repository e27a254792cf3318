#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>

#include "core/file_io.h"
#include "datasets/ade20k.h"
#include "datasets/decode.h"
#include "datasets/fashion_mnist.h"
#include "datasets/image_folder.h"
#include "tests/datasets/fixtures.h"
#include "launch/prepare_data_cli.h"
#include "tools/prepare_data.h"

using namespace rpct;
using rpct::test::TempDir;

namespace {

constexpr const char* kFmnist = "/usr/share/datasets/fashion-mnist";
// Debian's dataset-fashion-mnist, which scripts/setup.sh always installs: missing is a broken setup, not a skip.
constexpr const char* kFmnistMissing = " missing: scripts/setup.sh installs it (Debian package dataset-fashion-mnist)";
// 28x28 grayscale JPEG at quality 95: mean absolute error per pixel stays well under 2 levels.
constexpr double kGrayJpegMeanAbsTol = 2.0;

int run_main(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return prepare_data_main(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(PrepareData, FashionMnistAsImagenetLayout) {
  ASSERT_TRUE(boost::filesystem::exists(kFmnist)) << kFmnist << kFmnistMissing;
  TempDir d;
  ASSERT_EQ(run_main({"fashion-mnist-imagenet", "--out", d.path, "--limit-train", "200", "--limit-val", "50"}), 0);
  const auto train = ImageFolderDataset::open({d.path, "train"});
  const auto val = ImageFolderDataset::open({d.path, "val"});
  ASSERT_EQ(train.size(), 200);
  ASSERT_EQ(val.size(), 50);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(train.class_names()[9], "Ankle boot");
  // Every file's label and pixels match the IDX sample it came from (its number is in the name).
  const ImageSet src = load_fashion_mnist(kFmnist, "train", 200);
  for (int64_t i = 0; i < train.size(); i += 13) {
    const std::string& p = train.path(i);
    const int64_t k = std::stoll(p.substr(p.rfind('_') + 1));
    EXPECT_EQ(train.label(i), src.labels[k].item<int64_t>()) << p;
    const Image img = decode_rgb(read_file_bytes(p), p);
    ASSERT_EQ(img.width, 28);
    double err = 0;
    for (int j = 0; j < 28 * 28; ++j) err += std::abs(int(img.pixels[3 * j]) - int(src.images[k].view({-1})[j].item<uint8_t>()));
    EXPECT_LT(err / (28 * 28), kGrayJpegMeanAbsTol) << p;
  }
  // flat val + LOC_val_solution.csv gives the same labels as the folder layout
  TempDir f;
  ASSERT_EQ(run_main({"fashion-mnist-imagenet", "--out", f.path, "--limit-train", "20", "--limit-val", "30", "--flat-val"}), 0);
  const auto flat = ImageFolderDataset::open({f.path, "val"});
  EXPECT_TRUE(flat.flat());
  const ImageSet tsrc = load_fashion_mnist(kFmnist, "test", 30);
  ASSERT_EQ(flat.size(), 30);
  for (int64_t i = 0; i < 30; ++i) EXPECT_EQ(flat.label(i), tsrc.labels[i].item<int64_t>());
}

TEST(PrepareData, SyntheticAde20kAndCli) {
  TempDir d;
  ASSERT_EQ(run_main({"ade20k-synthetic", "--out", d.path, "--train", "3", "--val", "2", "--width", "64", "--height", "48"}), 0);
  const auto ds = Ade20kDataset::open({d.path, "training"});
  ASSERT_EQ(ds.size(), 3);
  int classes = 0;
  for (int64_t i = 0; i < ds.size(); ++i) {
    const Image lab = decode_label_png(read_file_bytes(ds.label_path(i)), ds.label_path(i));
    EXPECT_EQ(lab.width, 64);
    for (auto v : lab.pixels) {
      EXPECT_LE(v, kAde20kClasses);
      classes += v > 0;
    }
  }
  EXPECT_GT(classes, 0);
  EXPECT_EQ(Ade20kDataset::open({d.path, "validation"}).size(), 2);
  EXPECT_EQ(run_main({"--help"}), 0);
  EXPECT_EQ(run_main({"ade20k-synthetic", "--bogus"}), 2);
  EXPECT_EQ(run_main({"nope"}), 2);
  EXPECT_EQ(run_main({"ade20k-synthetic", "--out", d.path, "--train", "x"}), 2);
}

// fashion-mnist-segmentation: scenes in the ADE20K layout whose annotations follow the items' pixels:
// item pixels (label >= 2) are bright Fashion-MNIST foreground, background pixels (label 1) faint noise.
TEST(PrepareData, FashionMnistSegmentationScenes) {
  ASSERT_TRUE(boost::filesystem::exists(kFmnist)) << kFmnist << kFmnistMissing;
  // Items are pasted where the source pixel is >= 40 (the default foreground threshold), the background is
  // noise in [0, 20]; JPEG (quality 95) moves means by a few levels, so the two means stay far apart.
  constexpr double kMinItemMean = 60, kMaxBackgroundMean = 30;
  TempDir d, again;
  const std::vector<std::string> args = {"--train", "8", "--val", "4", "--size", "64", "--seed", "3"};
  auto with_out = [&](const std::string& out) {
    std::vector<std::string> a = {"fashion-mnist-segmentation", "--out", out};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  };
  ASSERT_EQ(run_main(with_out(d.path)), 0);
  const auto train = Ade20kDataset::open({d.path, "training"});
  ASSERT_EQ(train.size(), 8);
  EXPECT_EQ(Ade20kDataset::open({d.path, "validation"}).size(), 4);
  std::set<int> item_classes;
  for (int64_t i = 0; i < train.size(); ++i) {
    const Image img = decode_rgb(read_file_bytes(train.image_path(i)), train.image_path(i));
    const Image lab = decode_label_png(read_file_bytes(train.label_path(i)), train.label_path(i));
    ASSERT_EQ(img.width, 64);
    ASSERT_EQ(lab.width, 64);
    ASSERT_EQ(lab.height, 64);
    double item_sum = 0, bg_sum = 0;
    int64_t items = 0, bg = 0;
    for (size_t p = 0; p < lab.pixels.size(); ++p) {
      const int v = lab.pixels[p];
      ASSERT_GE(v, 1) << train.label_path(i);
      ASSERT_LE(v, 11) << train.label_path(i);
      if (v >= 2) {
        item_classes.insert(v);
        item_sum += img.pixels[3 * p];
        ++items;
      } else {
        bg_sum += img.pixels[3 * p];
        ++bg;
      }
    }
    ASSERT_GT(items, 0) << train.label_path(i) << ": a scene without items";
    ASSERT_GT(bg, 0) << train.label_path(i);
    EXPECT_GT(item_sum / items, kMinItemMean) << train.image_path(i);
    EXPECT_LT(bg_sum / bg, kMaxBackgroundMean) << train.image_path(i);
  }
  EXPECT_GE(item_classes.size(), 3u) << "8 scenes of 2-4 random items should show several classes";
  // Deterministic per seed.
  ASSERT_EQ(run_main(with_out(again.path)), 0);
  const auto twin = Ade20kDataset::open({again.path, "training"});
  for (int64_t i = 0; i < train.size(); ++i)
    EXPECT_EQ(read_file_bytes(train.label_path(i)), read_file_bytes(twin.label_path(i))) << i;
  EXPECT_EQ(run_main({"fashion-mnist-segmentation", "--out", d.path, "--size", "20"}), 2);  // smaller than an item
  EXPECT_EQ(run_main({"fashion-mnist-segmentation", "--out", d.path, "--min-items", "3", "--max-items", "2"}), 2);
}

namespace {

// Per item class in a scene's annotation: the bounding box (y0, x0, y1, x1 inclusive) of its pixels.
std::map<int, std::array<int, 4>> class_boxes(const Image& lab) {
  std::map<int, std::array<int, 4>> boxes;
  for (int y = 0; y < lab.height; ++y)
    for (int x = 0; x < lab.width; ++x) {
      const int v = lab.pixels[static_cast<size_t>(y) * lab.width + x];
      if (v < 2) continue;
      auto& b = boxes.try_emplace(v, std::array<int, 4>{y, x, y, x}).first->second;
      b = {std::min(b[0], y), std::min(b[1], x), std::max(b[2], y), std::max(b[3], x)};
    }
  return boxes;
}

// Among `scenes` two-item scenes written with `extra` options: those whose two items' pixel boxes intersect.
// A scene showing one class (both items of one class, or one left out) is not counted: with two classes, each
// class box lies inside its item's box.
int scenes_with_touching_items(const std::string& out, const std::vector<std::string>& extra, int scenes) {
  std::vector<std::string> a = {"fashion-mnist-segmentation", "--out", out, "--train", std::to_string(scenes),
                                "--val", "1", "--size", "64", "--min-items", "2", "--max-items", "2",
                                "--min-scale", "1", "--max-scale", "1.2", "--foreground", "1"};
  a.insert(a.end(), extra.begin(), extra.end());
  if (run_main(a) != 0) return -1;
  const auto train = Ade20kDataset::open({out, "training"});
  int touching = 0;
  for (int64_t i = 0; i < train.size(); ++i) {
    const auto boxes = class_boxes(decode_label_png(read_file_bytes(train.label_path(i)), train.label_path(i)));
    if (boxes.size() != 2) continue;
    const auto &p = boxes.begin()->second, &q = std::next(boxes.begin())->second;
    touching += p[0] <= q[2] && q[0] <= p[2] && p[1] <= q[3] && q[1] <= p[3];
  }
  return touching;
}

}  // namespace

// --no-overlap: no two items' pixels share a box; without it, two 28-34 px items in 64 x 64 often do.
TEST(PrepareData, FashionMnistSegmentationNoOverlap) {
  ASSERT_TRUE(boost::filesystem::exists(kFmnist)) << kFmnist << kFmnistMissing;
  constexpr int kScenes = 30;
  TempDir apart, free;
  EXPECT_EQ(scenes_with_touching_items(apart.path, {"--no-overlap"}, kScenes), 0);
  EXPECT_GT(scenes_with_touching_items(free.path, {}, kScenes), 0) << "the check above would not see overlaps";
  EXPECT_EQ(run_main({"fashion-mnist-segmentation", "--out", apart.path, "--foreground", "0"}), 2);
}


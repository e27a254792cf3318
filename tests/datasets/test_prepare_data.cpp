#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <cmath>

#include "datasets/ade20k.h"
#include "datasets/decode.h"
#include "datasets/fashion_mnist.h"
#include "datasets/image_folder.h"
#include "tests/datasets/fixtures.h"
#include "tools/prepare_data.h"

using namespace rpct;
using rpct::test::TempDir;

namespace {

constexpr const char* kFmnist = "/usr/share/datasets/fashion-mnist";
// 28x28 grayscale JPEG at quality 95: mean absolute error per pixel stays well under 2 levels.
constexpr double kGrayJpegMeanAbsTol = 2.0;

int run_main(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return prepare_data_main(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST(PrepareData, FashionMnistAsImagenetLayout) {
  if (!boost::filesystem::exists(kFmnist)) GTEST_SKIP() << kFmnist << " missing (apt-get install dataset-fashion-mnist)";
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

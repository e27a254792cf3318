#include <gtest/gtest.h>

#include <fstream>

#include "core/file_io.h"
#include "trainer/data.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "tests/datasets/fixtures.h"

using namespace rpct;
using rpct::test::TempDir;

using rpct::test::expect_throw_with;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// train/<wnid>/ with classes given out of sorted order on purpose.
void make_folder_split(const TempDir& d, const std::string& split) {
  const char* wnids[3] = {"n03000000", "n01000000", "n02000000"};
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 2 + k; ++i)
      test::write_jpeg(d.sub(split + "/" + wnids[k] + "/" + wnids[k] + "_" + std::to_string(i) + ".JPEG"),
                       test::make_rgb(40, 30, k * 10 + i));
}

}  // namespace

TEST(ImageFolder, FolderLayoutSortedWnidsAreClassIndices) {
  TempDir d;
  make_folder_split(d, "train");
  write_text(d.sub("train/n01000000/readme.txt"), "not an image");
  write_text(d.sub("LOC_synset_mapping.txt"), "n01000000 tench, Tinca tinca\nn02000000 goldfish\nn03000000 great white shark\n");
  const auto ds = ImageFolderDataset::open({d.path, "train"});
  ASSERT_EQ(ds.size(), 2 + 3 + 4);  // .txt ignored
  ASSERT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.wnids()[0], "n01000000");
  EXPECT_EQ(ds.wnids()[2], "n03000000");
  EXPECT_EQ(ds.class_names()[0], "tench, Tinca tinca");
  EXPECT_EQ(ds.class_names()[1], "goldfish");
  for (int64_t i = 0; i < ds.size(); ++i) {
    // the label is the rank of the path's wnid directory
    const std::string& p = ds.path(i);
    EXPECT_NE(p.find("/" + ds.wnids()[ds.label(i)] + "/"), std::string::npos) << p;
  }
  EXPECT_EQ(ds.label(0), 0);
  EXPECT_EQ(ds.label(ds.size() - 1), 2);
  EXPECT_FALSE(ds.flat());
  // limit: evenly strided, still covers every class
  const auto sub = ImageFolderDataset::open({d.path, "train", "", "", 3});
  ASSERT_EQ(sub.size(), 3);
  std::set<int64_t> classes;
  for (int64_t i = 0; i < 3; ++i) classes.insert(sub.label(i));
  EXPECT_EQ(classes.size(), 3u);
}

TEST(ImageFolder, FlatValWithLocCsv) {
  TempDir d;
  make_folder_split(d, "train");
  test::write_jpeg(d.sub("val/ILSVRC2012_val_00000001.JPEG"), test::make_rgb(20, 20, 1));
  test::write_jpeg(d.sub("val/ILSVRC2012_val_00000002.JPEG"), test::make_rgb(20, 20, 2));
  test::write_jpeg(d.sub("val/ILSVRC2012_val_00000003.JPEG"), test::make_rgb(20, 20, 3));
  write_text(d.sub("LOC_val_solution.csv"),
             "ImageId,PredictionString\n"
             "ILSVRC2012_val_00000002,n01000000 1 2 3 4 n01000000 5 6 7 8\n"
             "ILSVRC2012_val_00000001,n03000000 1 2 3 4\n"
             "ILSVRC2012_val_00000003,n02000000 1 2 3 4\n");
  const auto ds = ImageFolderDataset::open({d.path, "val"});
  EXPECT_TRUE(ds.flat());
  ASSERT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_NE(ds.path(0).find("ILSVRC2012_val_00000001.JPEG"), std::string::npos);
  EXPECT_EQ(ds.label(0), 2);
  EXPECT_EQ(ds.label(1), 0);
  EXPECT_EQ(ds.label(2), 1);
}

TEST(ImageFolder, FlatValWithIndexLinesAndErrors) {
  TempDir d;
  test::write_jpeg(d.sub("val/a.JPEG"), test::make_rgb(20, 20, 1));
  test::write_jpeg(d.sub("val/b.JPEG"), test::make_rgb(20, 20, 2));
  write_text(d.sub("labels.txt"), "a.JPEG 7\nb 3\n");
  auto ds = ImageFolderDataset::open({d.path, "val", d.path + "/labels.txt"});
  ASSERT_EQ(ds.size(), 2);
  EXPECT_EQ(ds.label(0), 7);
  EXPECT_EQ(ds.label(1), 3);
  EXPECT_EQ(ds.num_classes(), 8);

  write_text(d.path + "/labels.txt", "a.JPEG 7\n");  // b has no label
  expect_throw_with([&] { ImageFolderDataset::open({d.path, "val", d.path + "/labels.txt"}); }, {"b.JPEG", "no label"});
  write_text(d.path + "/labels.txt", "a.JPEG 7\nb.JPEG 1\nc.JPEG 2\n");  // c is missing
  expect_throw_with([&] { ImageFolderDataset::open({d.path, "val", d.path + "/labels.txt"}); }, {"labels.txt:3", "'c.JPEG' not found"});
  write_text(d.path + "/labels.txt", "a.JPEG seven\n");
  expect_throw_with([&] { ImageFolderDataset::open({d.path, "val", d.path + "/labels.txt"}); }, {"labels.txt:1", "<file> <class index>"});
  expect_throw_with([&] { ImageFolderDataset::open({d.path, "val"}); }, {"needs a label file"});
  expect_throw_with([&] { ImageFolderDataset::open({d.path, "train"}); }, {d.path + "/train", "not found"});
  boost::filesystem::create_directories(d.path + "/t2/train/n01");
  expect_throw_with([&] { ImageFolderDataset::open({d.path + "/t2", "train"}); }, {"t2/train/n01", "no .JPEG"});
}

// A directory of odd files: a zero-byte JPEG, a truncated JPEG, a PNG named .JPEG, a CMYK JPEG
// and a grayscale JPEG, among good ones.
TEST(ImageFolder, OddFilesSkipCountsAndErrorNamesTheFile) {
  TempDir d;
  const std::string c0 = "train/n01000000/", c1 = "train/n02000000/";
  test::write_jpeg(d.sub(c0 + "a_good.JPEG"), test::make_rgb(80, 60, 1));
  write_file_bytes(d.sub(c0 + "b_empty.JPEG"), {});
  auto trunc = encode_jpeg(test::make_rgb(80, 60, 2), 90);
  trunc.resize(trunc.size() / 3);
  write_file_bytes(d.sub(c0 + "c_truncated.JPEG"), trunc);
  write_file_bytes(d.sub(c1 + "d_png.JPEG"), encode_png(test::make_rgb(50, 70, 3)));
  write_file_bytes(d.sub(c1 + "e_cmyk.JPEG"), encode_jpeg(test::make_solid(64, 48, 4, {255, 128, 64, 200}), 90));
  test::write_jpeg(d.sub(c1 + "f_gray.JPEG"), test::make_solid(64, 48, 1, {90}));
  const auto ds = ImageFolderDataset::open({d.path, "train"});
  ASSERT_EQ(ds.size(), 6);

  for (bool train : {true, false}) {
    ClassificationSourceOptions o;
    o.transform.train = train;
    o.transform.img_size = 32;
    o.transform.eval_resize = 36;
    o.on_bad_sample = BadSamplePolicy::kSkip;
    auto src = std::make_shared<ImageFolderSource>(ds, o);
    DataLoader loader(src, /*workers=*/2, /*prefetch=*/2);
    loader.start_epoch(0, {{0, 1, 2}, {3, 4, 5}});
    Batch b0 = loader.next(), b1 = loader.next();
    EXPECT_FALSE(loader.has_next());
    EXPECT_EQ(b0.skipped, 2);  // empty + truncated
    EXPECT_EQ(b1.skipped, 0);  // PNG-as-JPEG, CMYK and grayscale all load
    EXPECT_EQ(src->bad_samples().count(), 2);
    ASSERT_EQ(b0.x.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
    // Bad samples are replaced by the next good index, and the label follows the image actually used.
    EXPECT_EQ(b0.indices, (std::vector<int64_t>{0, 3, 3}));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(b0.y[i].item<int64_t>(), ds.label(b0.indices[i]));
    EXPECT_TRUE(torch::isfinite(b0.x).all().item<bool>());
    EXPECT_TRUE(torch::isfinite(b1.x).all().item<bool>());
    EXPECT_EQ(loader.stats().skipped, 2);
    const auto msgs = src->bad_samples().messages();
    ASSERT_EQ(msgs.size(), 2u);
    EXPECT_NE(msgs[0].find("b_empty.JPEG"), std::string::npos);
  }
  ClassificationSourceOptions o;
  o.transform.img_size = 32;
  o.on_bad_sample = BadSamplePolicy::kError;
  auto src = std::make_shared<ImageFolderSource>(ds, o);
  DataLoader loader(src, 1, 1);
  loader.start_epoch(0, {{0, 1}});
  expect_throw_with([&] { loader.next(); }, {"b_empty.JPEG", "on_bad_sample=error"});
  loader.start_epoch(0, {{2}});
  expect_throw_with([&] { loader.next(); }, {"c_truncated.JPEG"});
}

TEST(ImageFolder, SourceFromConfig) {
  TempDir d;
  make_folder_split(d, "train");
  make_folder_split(d, "val");
  const Config cfg = parse_config("data: {kind: imagenet, root: " + d.path + ", img_size: 32, workers: 1, on_bad_sample: error}\n",
                                  "test.yaml");
  auto src = make_batch_source(cfg, /*train=*/true);
  ASSERT_EQ(src->size(), 9);
  DataLoader loader(src, cfg.data.workers, cfg.data.prefetch);
  loader.start_epoch(0, {{0, 1, 2, 3}});
  Batch b = loader.next();
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{4, 3, 32, 32}));
  ASSERT_TRUE(b.y_soft.defined());  // Mixup/CutMix + label smoothing on in training
  EXPECT_EQ(b.y_soft.sizes(), (std::vector<int64_t>{4, 3}));
  auto eval = make_batch_source(cfg, /*train=*/false);
  Batch e = eval->make_batch(0, {0, 8});
  EXPECT_FALSE(e.y_soft.defined());
  EXPECT_EQ(e.y[1].item<int64_t>(), 2);
  EXPECT_THROW(parse_config("data: {on_bad_sample: maybe}\n", "t.yaml"), ConfigError);
}

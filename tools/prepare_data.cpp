#include "tools/prepare_data.h"

#include <array>
#include <boost/filesystem.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/file_io.h"
#include "datasets/ade20k.h"
#include "datasets/decode.h"
#include "datasets/fashion_mnist.h"
#include "datasets/transforms.h"

namespace fs = boost::filesystem;

namespace rpct {
namespace {

const char* const kFashionClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string wnid_of(int c) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "n%08d", c);
  return buf;
}

void make_dirs(const std::string& d) {
  boost::system::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw std::runtime_error(d + ": cannot create directory: " + ec.message());
}


}  // namespace

PrepareResult prepare_fashion_mnist_imagenet(const FmnistImagenetOptions& opt) {
  if (opt.out.empty()) throw std::invalid_argument("prepare-data fashion-mnist-imagenet: --out is required");
  const ImageSet train = load_fashion_mnist(opt.source, "train", opt.limit_train);
  const ImageSet val = load_fashion_mnist(opt.source, "test", opt.limit_val);
  {
    make_dirs(opt.out);
    std::ofstream syn(opt.out + "/LOC_synset_mapping.txt");
    for (int c = 0; c < 10; ++c) syn << wnid_of(c) << " " << kFashionClasses[c] << "\n";
    if (!syn) throw std::runtime_error(opt.out + "/LOC_synset_mapping.txt: write failed");
  }
  auto write_split = [&](const ImageSet& s, const std::string& split, bool flat) {
    const int64_t h = s.images.size(1), w = s.images.size(2);
    const uint8_t* px = s.images.data_ptr<uint8_t>();
    const int64_t* lab = s.labels.data_ptr<int64_t>();
    for (int c = 0; c < 10 && !flat; ++c) make_dirs(opt.out + "/" + split + "/" + wnid_of(c));
    if (flat) make_dirs(opt.out + "/" + split);
    std::ofstream csv;
    if (flat) {
      csv.open(opt.out + "/LOC_val_solution.csv");
      csv << "ImageId,PredictionString\n";
    }
    Image img;
    img.width = static_cast<int>(w);
    img.height = static_cast<int>(h);
    img.channels = 1;
    for (int64_t i = 0; i < s.size(); ++i) {
      img.pixels.assign(px + i * h * w, px + (i + 1) * h * w);
      const std::string wnid = wnid_of(static_cast<int>(lab[i]));
      char name[64];
      std::string path;
      if (flat) {
        std::snprintf(name, sizeof(name), "ILSVRC2012_val_%08lld", static_cast<long long>(i + 1));
        path = opt.out + "/" + split + "/" + name + ".JPEG";
        csv << name << "," << wnid << " 0 0 " << w - 1 << " " << h - 1 << "\n";
      } else {
        std::snprintf(name, sizeof(name), "%s_%lld.JPEG", wnid.c_str(), static_cast<long long>(i));
        path = opt.out + "/" + split + "/" + wnid + "/" + name;
      }
      write_file_bytes(path, encode_jpeg(img, opt.quality));
    }
    if (flat && !csv) throw std::runtime_error(opt.out + "/LOC_val_solution.csv: write failed");
  };
  write_split(train, "train", false);
  write_split(val, "val", opt.flat_val);
  return {opt.out, train.size(), val.size(), 10};
}

PrepareResult prepare_synthetic_ade20k(const SyntheticAde20kOptions& opt) {
  if (opt.out.empty()) throw std::invalid_argument("prepare-data ade20k-synthetic: --out is required");
  if (opt.classes < 1 || opt.classes > 254) throw std::invalid_argument("ade20k-synthetic: --classes must be in 1..254");
  if (opt.width < 8 || opt.height < 8) throw std::invalid_argument("ade20k-synthetic: --width/--height must be >= 8");
  const std::string root = opt.out + "/ADEChallengeData2016";
  auto palette = [](int c, int ch) { return static_cast<int>(mix64(0xC0105ull * 131 + c * 3 + ch) % 200) + 28; };
  auto write_split = [&](const std::string& split, const std::string& prefix, int64_t n, uint64_t stream) {
    const std::string img_dir = root + "/images/" + split, ann_dir = root + "/annotations/" + split;
    make_dirs(img_dir);
    make_dirs(ann_dir);
    const int W = opt.width, H = opt.height;
    for (int64_t i = 0; i < n; ++i) {
      SampleRng rng(opt.seed, static_cast<int64_t>(stream), i);
      Image lab;
      lab.width = W;
      lab.height = H;
      lab.channels = 1;
      lab.pixels.assign(static_cast<size_t>(W) * H, static_cast<uint8_t>(rng.randint(1, opt.classes)));
      const int shapes = static_cast<int>(rng.randint(3, 8));
      for (int s = 0; s < shapes; ++s) {
        // About one shape in eight is "other" (label 0, ignored after reduce_zero_label).
        const uint8_t cls = rng.bernoulli(0.125) ? 0 : static_cast<uint8_t>(rng.randint(1, opt.classes));
        const double cx = rng.uniform(0, W), cy = rng.uniform(0, H);
        const double rx = rng.uniform(0.05, 0.35) * W, ry = rng.uniform(0.05, 0.35) * H;
        const bool ellipse = rng.bernoulli(0.5);
        for (int y = std::max(0, int(cy - ry)); y < std::min(H, int(cy + ry) + 1); ++y)
          for (int x = std::max(0, int(cx - rx)); x < std::min(W, int(cx + rx) + 1); ++x) {
            const double dx = (x - cx) / rx, dy = (y - cy) / ry;
            if (!ellipse || dx * dx + dy * dy <= 1.0) lab.pixels[static_cast<size_t>(y) * W + x] = cls;
          }
      }
      Image img;
      img.width = W;
      img.height = H;
      img.channels = 3;
      img.pixels.resize(static_cast<size_t>(W) * H * 3);
      for (size_t p = 0; p < lab.pixels.size(); ++p) {
        const int c = lab.pixels[p];
        for (int ch = 0; ch < 3; ++ch) {
          const int base = c == 0 ? 128 : palette(c, ch);
          img.pixels[3 * p + ch] = static_cast<uint8_t>(std::min(255, std::max(0, base + int(rng.randint(-12, 12)))));
        }
      }
      char name[64];
      std::snprintf(name, sizeof(name), "ADE_%s_%08lld", prefix.c_str(), static_cast<long long>(i + 1));
      write_file_bytes(img_dir + "/" + name + ".jpg", encode_jpeg(img, opt.quality));
      write_file_bytes(ann_dir + "/" + name + ".png", encode_png(lab));
    }
  };
  write_split("training", "train", opt.train, 0);
  write_split("validation", "val", opt.val, 1);
  return {root, opt.train, opt.val, opt.classes};
}

PrepareResult prepare_fashion_mnist_segmentation(const FmnistSegmentationOptions& opt) {
  const std::string what = "prepare-data fashion-mnist-segmentation: ";
  if (opt.out.empty()) throw std::invalid_argument(what + "--out is required");
  if (opt.size < kFashionMnistSide)
    throw std::invalid_argument(what + "--size must be >= " + std::to_string(kFashionMnistSide));
  if (opt.min_items < 1 || opt.max_items < opt.min_items)
    throw std::invalid_argument(what + "need 1 <= --min-items <= --max-items");
  if (opt.min_scale <= 0 || opt.max_scale < opt.min_scale || kFashionMnistSide * opt.max_scale > opt.size)
    throw std::invalid_argument(what + "need 0 < --min-scale <= --max-scale and " + std::to_string(kFashionMnistSide) +
                                " x --max-scale <= --size");
  const std::string root = opt.out + "/ADEChallengeData2016";
  constexpr uint8_t kBackgroundLabel = 1;  // item class c is labelled c + 2
  constexpr int kPlacementTries = 20;      // random positions tried per item when items may not overlap
  if (opt.foreground < 1 || opt.foreground > 255) throw std::invalid_argument(what + "need 1 <= --foreground <= 255");
  auto write_split = [&](const ImageSet& items, const std::string& split, const std::string& prefix, int64_t n,
                         int64_t stream) {
    const std::string img_dir = root + "/images/" + split, ann_dir = root + "/annotations/" + split;
    make_dirs(img_dir);
    make_dirs(ann_dir);
    const int S = opt.size;
    const int64_t H0 = items.images.size(1), W0 = items.images.size(2);
    const auto* src = items.images.data_ptr<uint8_t>();
    const auto* cls = items.labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      SampleRng rng(opt.seed, stream, i);
      Image img, lab;
      img.width = lab.width = S;
      img.height = lab.height = S;
      img.channels = 1;
      lab.channels = 1;
      img.pixels.resize(static_cast<size_t>(S) * S);
      for (auto& p : img.pixels) p = static_cast<uint8_t>(rng.randint(0, opt.foreground / 2));  // faint noise
      lab.pixels.assign(static_cast<size_t>(S) * S, kBackgroundLabel);
      const int64_t k = rng.randint(opt.min_items, opt.max_items);
      std::vector<std::array<int, 3>> boxes;  // (y0, x0, side) of the items placed so far
      auto is_free = [&](int y0, int x0, int side) {
        for (const auto& [by, bx, bs] : boxes)
          if (y0 < by + bs && by < y0 + side && x0 < bx + bs && bx < x0 + side) return false;
        return true;
      };
      for (int64_t it = 0; it < k; ++it) {  // later items occlude earlier ones, in the image and the labels
        const int64_t item = rng.randint(0, items.size() - 1);
        double scale = 0;
        int side = 0, y0 = 0, x0 = 0;
        bool placed = false;
        for (int attempt = 0; attempt < kPlacementTries && !placed; ++attempt) {
          scale = rng.uniform(opt.min_scale, opt.max_scale);
          side = static_cast<int>(scaled_extent(std::max(H0, W0), scale));  // the item's box, as drawn below
          y0 = static_cast<int>(rng.randint(0, S - side));
          x0 = static_cast<int>(rng.randint(0, S - side));
          placed = opt.overlap || is_free(y0, x0, side);
        }
        if (!placed) continue;
        boxes.push_back({y0, x0, side});
        const uint8_t* px = src + item * H0 * W0;
        for_each_scaled_pixel(H0, W0, scale, [&](int64_t y, int64_t x, int64_t from) {  // side x side
          const uint8_t v = px[from];
          if (v < opt.foreground) return;
          const size_t p = static_cast<size_t>(y0 + y) * S + (x0 + x);
          img.pixels[p] = v;
          lab.pixels[p] = static_cast<uint8_t>(cls[item] + 2);
        });
      }
      char name[64];
      std::snprintf(name, sizeof(name), "ADE_%s_%08lld", prefix.c_str(), static_cast<long long>(i + 1));
      write_file_bytes(img_dir + "/" + name + ".jpg", encode_jpeg(img, opt.quality));
      write_file_bytes(ann_dir + "/" + name + ".png", encode_png(lab));
    }
  };
  write_split(load_fashion_mnist(opt.source, "train"), "training", "train", opt.train, 0);
  write_split(load_fashion_mnist(opt.source, "test"), "validation", "val", opt.val, 1);
  {  // training id i (after reduce_zero_label) -> name, for the evaluation's per-class table
    std::ofstream names(root + "/" + kClassNamesFile);
    names << "background\n";
    for (const char* name : kFashionClasses) names << name << "\n";
    if (!names) throw std::runtime_error(root + "/" + kClassNamesFile + ": write failed");
  }
  return {root, opt.train, opt.val, 11};
}

}  // namespace rpct

#include "datasets/ade20k.h"

#include <boost/filesystem.hpp>
#include <fstream>
#include <map>
#include <stdexcept>

#include "core/file_io.h"
#include "datasets/fashion_mnist.h"  // mix64
#include "datasets/image_folder.h"

namespace fs = boost::filesystem;

namespace rpct {
namespace {

// ADEChallengeData2016 itself, given it or its parent.
std::string dataset_root(const std::string& root) {
  if (!fs::is_directory(root + "/images") && fs::is_directory(root + "/ADEChallengeData2016"))
    return root + "/ADEChallengeData2016";
  return root;
}

struct PairBytes {
  std::vector<uint8_t> image, label;
};

// The encoded image and annotation of sample `idx`; a FileReadError naming the file if one is missing.
PairBytes read_pair(const Ade20kDataset& ds, int64_t idx) {
  if (!ds.pair_problem(idx).empty()) throw DecodeError(ds.pair_problem(idx));
  return {read_file_bytes(ds.image_path(idx)), read_file_bytes(ds.label_path(idx))};
}

}  // namespace

Ade20kDataset Ade20kDataset::open(const Ade20kOptions& opt) {
  std::string split = opt.split;
  if (split == "train") split = "training";
  if (split == "val") split = "validation";
  if (split != "training" && split != "validation")
    throw std::invalid_argument("ade20k: split must be training or validation, got '" + opt.split + "'");
  const std::string root = dataset_root(opt.root);
  const std::string img_dir = root + "/images/" + split, ann_dir = root + "/annotations/" + split;
  for (const auto& d : {img_dir, ann_dir})
    if (!fs::is_directory(d))
      throw std::runtime_error(d + ": ADE20K directory not found (expected <root>/images/" + split +
                               "/*.jpg and <root>/annotations/" + split + "/*.png)");
  std::map<std::string, std::string> images, labels;  // stem -> file name
  for (const auto& f : list_image_files(img_dir)) {
    if (!images.emplace(stem_of(f), f).second)
      throw std::runtime_error(img_dir + "/" + f + ": two images share the stem '" + stem_of(f) + "'");
  }
  for (const auto& f : list_image_files(ann_dir)) {
    if (!labels.emplace(stem_of(f), f).second)
      throw std::runtime_error(ann_dir + "/" + f + ": two annotations share the stem '" + stem_of(f) + "'");
  }
  if (images.empty()) throw std::runtime_error(img_dir + ": no images");
  // Every stem is a sample, in stem order; one whose image or annotation is missing stays in the set as a
  // bad sample (pair_problem), so data.on_bad_sample decides: skip it (counted, named once) or stop.
  std::map<std::string, std::pair<std::string, std::string>> pairs;  // stem -> (image, annotation) or ""
  for (const auto& kv : images) pairs[kv.first].first = img_dir + "/" + kv.second;
  for (const auto& kv : labels) pairs[kv.first].second = ann_dir + "/" + kv.second;
  std::vector<std::pair<std::string, std::string>> all;
  std::vector<std::string> problems;
  for (const auto& [stem, p] : pairs) {
    all.push_back(p);
    if (p.second.empty())
      problems.push_back(p.first + ": annotation " + ann_dir + "/" + stem + ".png is missing");
    else if (p.first.empty())
      problems.push_back(p.second + ": image " + img_dir + "/" + stem + ".jpg is missing");
    else
      problems.emplace_back();
  }
  Ade20kDataset ds;
  for (int64_t i : strided_subset(static_cast<int64_t>(all.size()), opt.limit)) {
    ds.images_.push_back(all[i].first);
    ds.labels_.push_back(all[i].second);
    ds.problems_.push_back(problems[i]);
  }
  return ds;
}

void reduce_zero_label(uint8_t* labels, size_t n) {
  for (size_t i = 0; i < n; ++i) labels[i] = labels[i] == 0 ? kIgnoreLabel : (labels[i] == 255 ? 255 : labels[i] - 1);
}

Ade20kSource::Ade20kSource(Ade20kDataset ds, SegmentationSourceOptions opt) : ds_(std::move(ds)), opt_(std::move(opt)) {}

Batch Ade20kSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  const int64_t B = static_cast<int64_t>(indices.size()), S = opt_.transform.crop;
  Batch b;
  b.epoch = epoch;
  b.x = torch::empty({B, 3, S, S}, batch_float_options(opt_.pin_memory));  // (B, 3, S, S)
  b.y = torch::empty({B, S, S}, batch_label_options(opt_.pin_memory));  // (B, S, S)
  float* x = b.x.data_ptr<float>();
  int64_t* y = b.y.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t used = load_with_policy(indices[i], opt_.on_bad_sample, &b.skipped, [&](int64_t idx) {
      const PairBytes bytes = read_pair(ds_, idx);
      segmentation_train_transform(bytes.image, ds_.image_path(idx), bytes.label, ds_.label_path(idx), opt_.transform,
                                   opt_.seed, epoch, idx, x + i * 3 * S * S, y + i * S * S);
    });
    b.indices.push_back(used);
  }
  return b;
}

Ade20kEvalSource::Ade20kEvalSource(Ade20kDataset ds, SegmentationSourceOptions opt)
    : ds_(std::move(ds)), opt_(std::move(opt)) {
  if (opt_.transform.eval_scales.empty()) throw std::invalid_argument("Ade20kEvalSource: no eval scale");
}

Batch Ade20kEvalSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  Batch b;
  b.epoch = epoch;
  for (int64_t i : indices) {
    SegmentationEvalSample sample;
    const int64_t used = load_with_policy(i, opt_.on_bad_sample, &b.skipped, [&](int64_t idx) {
      const PairBytes bytes = read_pair(ds_, idx);
      ImageEdit edit;
      if (opt_.eval_image_edit) edit = [&](Image& image) { opt_.eval_image_edit(image, idx); };
      sample = segmentation_eval_transform(bytes.image, ds_.image_path(idx), bytes.label, ds_.label_path(idx),
                                           opt_.transform, edit);
    });
    b.indices.push_back(used);
    b.sample_views.push_back(std::move(sample.images));  // per scale (3, h_s, w_s)
    b.sample_labels.push_back(sample.label);             // (H, W)
  }
  return b;
}

std::vector<std::array<uint8_t, 3>> segmentation_palette(int num_classes) {
  // mmsegmentation ADE20KDataset.METAINFO['palette'], training ids 0..149.
  static const std::array<uint8_t, 3> kAde20k[kAde20kClasses] = {
      {120, 120, 120}, {180, 120, 120}, {6, 230, 230}, {80, 50, 50}, {4, 200, 3}, {120, 120, 80}, {140, 140, 140},
      {204, 5, 255}, {230, 230, 230}, {4, 250, 7}, {224, 5, 255}, {235, 255, 7}, {150, 5, 61}, {120, 120, 70},
      {8, 255, 51}, {255, 6, 82}, {143, 255, 140}, {204, 255, 4}, {255, 51, 7}, {204, 70, 3}, {0, 102, 200},
      {61, 230, 250}, {255, 6, 51}, {11, 102, 255}, {255, 7, 71}, {255, 9, 224}, {9, 7, 230}, {220, 220, 220},
      {255, 9, 92}, {112, 9, 255}, {8, 255, 214}, {7, 255, 224}, {255, 184, 6}, {10, 255, 71}, {255, 41, 10},
      {7, 255, 255}, {224, 255, 8}, {102, 8, 255}, {255, 61, 6}, {255, 194, 7}, {255, 122, 8}, {0, 255, 20},
      {255, 8, 41}, {255, 5, 153}, {6, 51, 255}, {235, 12, 255}, {160, 150, 20}, {0, 163, 255}, {140, 140, 140},
      {250, 10, 15}, {20, 255, 0}, {31, 255, 0}, {255, 31, 0}, {255, 224, 0}, {153, 255, 0}, {0, 0, 255},
      {255, 71, 0}, {0, 235, 255}, {0, 173, 255}, {31, 0, 255}, {11, 200, 200}, {255, 82, 0}, {0, 255, 245},
      {0, 61, 255}, {0, 255, 112}, {0, 255, 133}, {255, 0, 0}, {255, 163, 0}, {255, 102, 0}, {194, 255, 0},
      {0, 143, 255}, {51, 255, 0}, {0, 82, 255}, {0, 255, 41}, {0, 255, 173}, {10, 0, 255}, {173, 255, 0},
      {0, 255, 153}, {255, 92, 0}, {255, 0, 255}, {255, 0, 245}, {255, 0, 102}, {255, 173, 0}, {255, 0, 20},
      {255, 184, 184}, {0, 31, 255}, {0, 255, 61}, {0, 71, 255}, {255, 0, 204}, {0, 255, 194}, {0, 255, 82},
      {0, 10, 255}, {0, 112, 255}, {51, 0, 255}, {0, 194, 255}, {0, 122, 255}, {0, 255, 163}, {255, 153, 0},
      {0, 255, 10}, {255, 112, 0}, {143, 255, 0}, {82, 0, 255}, {163, 255, 0}, {255, 235, 0}, {8, 184, 170},
      {133, 0, 255}, {0, 255, 92}, {184, 0, 255}, {255, 0, 31}, {0, 184, 255}, {0, 214, 255}, {255, 0, 112},
      {92, 255, 0}, {0, 224, 255}, {112, 224, 255}, {70, 184, 160}, {163, 0, 255}, {153, 0, 255}, {71, 255, 0},
      {255, 0, 163}, {255, 204, 0}, {255, 0, 143}, {0, 255, 235}, {133, 255, 0}, {255, 0, 235}, {245, 0, 255},
      {255, 0, 122}, {255, 245, 0}, {10, 190, 212}, {214, 255, 0}, {0, 204, 255}, {20, 0, 255}, {255, 255, 0},
      {0, 153, 255}, {0, 41, 255}, {0, 255, 204}, {41, 0, 255}, {41, 255, 0}, {173, 0, 255}, {0, 245, 255},
      {71, 0, 255}, {122, 0, 255}, {0, 255, 184}, {0, 92, 255}, {184, 255, 0}, {0, 133, 255}, {255, 214, 0},
      {25, 194, 194}, {102, 255, 0}, {92, 0, 255},
  };
  // The Fashion-MNIST scenes (prepare-data fashion-mnist-segmentation): background, then the 10 item classes.
  static const std::array<uint8_t, 3> kScenes[11] = {{40, 40, 40},   {230, 25, 75},  {60, 180, 75},  {255, 225, 25},
                                                     {0, 130, 200},  {245, 130, 48}, {145, 30, 180}, {70, 240, 240},
                                                     {240, 50, 230}, {210, 245, 60}, {250, 190, 212}};
  std::vector<std::array<uint8_t, 3>> out;
  for (int c = 0; c < num_classes; ++c) {
    if (num_classes == kAde20kClasses)
      out.push_back(kAde20k[c]);
    else if (num_classes == 11)
      out.push_back(kScenes[c]);
    else {
      const uint64_t h = mix64(0x70616c65747465ull + static_cast<uint64_t>(c));  // "palette"
      out.push_back({static_cast<uint8_t>(64 + h % 192), static_cast<uint8_t>(64 + (h >> 8) % 192),
                     static_cast<uint8_t>(64 + (h >> 16) % 192)});
    }
  }
  return out;
}

const std::vector<std::string>& ade20k_class_names() {
  // mmsegmentation ADE20KDataset.METAINFO['classes'] (there 'bed ' has a trailing space, dropped here).
  static const std::vector<std::string> names{
      "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
      "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
      "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence",
      "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
      "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
      "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
      "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
      "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
      "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
      "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
      "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
      "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
      "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
      "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
      "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
      "glass", "clock", "flag"};
  return names;
}

std::vector<std::string> ade20k_layout_class_names(const std::string& root, int num_classes) {
  const std::string file = dataset_root(root) + "/" + kClassNamesFile;
  if (!root.empty() && fs::is_regular_file(file)) {
    std::ifstream in(file);
    std::vector<std::string> names;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) names.push_back(line);
    if (static_cast<int>(names.size()) != num_classes)
      throw std::runtime_error(file + ": names " + std::to_string(names.size()) + " classes, model.num_classes is " +
                               std::to_string(num_classes));
    return names;
  }
  if (num_classes == kAde20kClasses) return ade20k_class_names();
  std::vector<std::string> names;
  for (int c = 0; c < num_classes; ++c) names.push_back("class_" + std::to_string(c));
  return names;
}

std::string Ade20kEvalSource::sample_id(int64_t i) const {
  return boost::filesystem::path(ds_.image_path(i)).stem().string();
}

}  // namespace rpct

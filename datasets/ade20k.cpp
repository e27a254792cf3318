#include "datasets/ade20k.h"

#include <boost/filesystem.hpp>
#include <fstream>
#include <map>
#include <stdexcept>

#include "core/file_io.h"
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

}  // namespace rpct

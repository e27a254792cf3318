// ADE20K scene parsing (ADEChallengeData2016, data.kind: ade20k).
//   <root>/images/{training,validation}/*.jpg + <root>/annotations/{training,validation}/*.png
// Pairs are matched by file stem. An image without its annotation (or the reverse), an annotation whose
// size differs from its image, a label value above the class count or a colour annotation is a bad
// sample: skipped (counted, named once in the log) or, with data.on_bad_sample: error, the run stops
// naming the file. Labels: 0 = "other" -> ignore (255), 1..150 -> 0..149 (reduce_zero_label, the
// mmsegmentation convention). Ade20kSource makes training batches (fixed-size crops), Ade20kEvalSource
// evaluation batches (every image whole, rescaled as mmseg's test pipeline, its label at full resolution).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "datasets/batch_source.h"
#include "datasets/transforms.h"

namespace rpct {

constexpr int kAde20kClasses = 150;
constexpr uint8_t kIgnoreLabel = 255;

struct Ade20kOptions {
  std::string root;               // ADEChallengeData2016 (or its parent)
  std::string split = "training"; // training | validation (train | val accepted)
  int64_t limit = 0;              // > 0: evenly strided subset
};

class Ade20kDataset {
 public:
  static Ade20kDataset open(const Ade20kOptions& opt);
  int64_t size() const { return static_cast<int64_t>(images_.size()); }
  // Empty when sample i lacks its image or its annotation (see pair_problem).
  const std::string& image_path(int64_t i) const { return images_[i]; }
  const std::string& label_path(int64_t i) const { return labels_[i]; }
  // "" for a complete pair; else why sample i is bad ("<file>: annotation <path> is missing" or the reverse).
  const std::string& pair_problem(int64_t i) const { return problems_[i]; }

 private:
  std::vector<std::string> images_, labels_, problems_;
};

// The 150 ADE20K (SceneParsing / ADEChallengeData2016) classes in objectInfo150 order, i.e. training ids
// 0..149 after reduce_zero_label (mmsegmentation's ADE20KDataset classes): wall, building, sky, ...
const std::vector<std::string>& ade20k_class_names();

// The file in which an ADE20K-layout data set made by prepare-data names its classes: one name per line,
// line i = training id i (after reduce_zero_label), in <root>/ADEChallengeData2016/.
constexpr const char* kClassNamesFile = "class_names.txt";

// The names of training ids 0..num_classes-1 of the ADE20K-layout set at `root` (ADEChallengeData2016 or
// its parent): its class_names.txt when there is one (another number of lines than num_classes is an error
// naming the file), else the ADE20K names when num_classes is 150, else class_0, class_1, ...
std::vector<std::string> ade20k_layout_class_names(const std::string& root, int num_classes);

// The colours of training ids 0..num_classes-1 in pictures (ignore, 255, is drawn black): ADE20K's 150
// (mmsegmentation's ADE20KDataset palette) for 150 classes; for the 11 of the Fashion-MNIST scenes (background +
// 10 items) dark grey and ten distinct hues; else colours drawn from a fixed hash of the id.
std::vector<std::array<uint8_t, 3>> segmentation_palette(int num_classes);

// In place: 0 -> 255, v -> v - 1 (so 255 stays 255).
void reduce_zero_label(uint8_t* labels, size_t n);

struct SegmentationSourceOptions {
  SegmentationTransformOptions transform;
  uint64_t seed = 0;
  BadSamplePolicy on_bad_sample = BadSamplePolicy::kSkip;
  bool pin_memory = true;
  // Ade20kEvalSource only (optional): changes each image as decoded, at full resolution, before the eval
  // transform rescales and normalizes it (labels untouched); index: the sample's dataset index. Called from
  // loader threads at once: must be thread-safe. Robustness benchmarks corrupt the images here.
  std::function<void(Image& image, int64_t index)> eval_image_edit;
};

// Train batches: (B, 3, crop, crop) float + (B, crop, crop) int64 labels (255 = ignore).
class Ade20kSource : public BatchSource {
 public:
  Ade20kSource(Ade20kDataset ds, SegmentationSourceOptions opt);
  int64_t size() const override { return ds_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  const Ade20kDataset& dataset() const { return ds_; }

 private:
  Ade20kDataset ds_;
  SegmentationSourceOptions opt_;
};

// Evaluation batches (mmseg's test pipeline): each image whole, rescaled (keep ratio) to fit
// transform.scale_long x scale_short once per ratio of transform.eval_scales, its label at the original
// resolution. The samples differ in size, so they stay a list: Batch::sample_views[i] (one (3, h_s, w_s)
// float image per scale) and Batch::sample_labels[i] ((H_i, W_i) int64, 255 = ignore); x and y are empty.
// Bad samples follow on_bad_sample like the training source's.
class Ade20kEvalSource : public BatchSource {
 public:
  Ade20kEvalSource(Ade20kDataset ds, SegmentationSourceOptions opt);
  int64_t size() const override { return ds_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  std::string sample_id(int64_t i) const override;

 private:
  Ade20kDataset ds_;
  SegmentationSourceOptions opt_;
};

}  // namespace rpct

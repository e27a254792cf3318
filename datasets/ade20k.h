// ADE20K scene parsing (ADEChallengeData2016, data.kind: ade20k).
//   <root>/images/{training,validation}/*.jpg + <root>/annotations/{training,validation}/*.png
// Pairs are matched by file stem; an image without its annotation (or the reverse) is an error naming
// the missing file. Labels: 0 = "other" -> ignore (255), 1..150 -> 0..149 (reduce_zero_label, the
// mmsegmentation convention).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
  const std::string& image_path(int64_t i) const { return images_[i]; }
  const std::string& label_path(int64_t i) const { return labels_[i]; }

 private:
  std::vector<std::string> images_, labels_;
};

// In place: 0 -> 255, v -> v - 1 (so 255 stays 255).
void reduce_zero_label(uint8_t* labels, size_t n);

}  // namespace rpct

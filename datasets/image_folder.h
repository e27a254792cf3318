// ImageNet-1K on disk (data.kind: imagenet).
//   <root>/train/<wnid>/*.JPEG, <root>/val/<wnid>/*.JPEG      class index = rank of the wnid in sorted
//                                                          order (torchvision ImageFolder)
//   or a flat <root>/val/*.JPEG with a label file: LOC_val_solution.csv (ImageId,PredictionString whose
//   first token is the wnid) or "<file> <class index>" lines.
// Class names come from an optional synset-words file ("<wnid> <name...>" lines, LOC_synset_mapping.txt
// or synset_words.txt). Only the directory tree is read here; images are decoded by the loader.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/batch_source.h"
#include "datasets/transforms.h"

namespace rpct {

struct ImageFolderOptions {
  std::string root;           // holds train/ and val/ (or pass the split directory's parent)
  std::string split = "train";
  std::string label_file;     // flat val only; "" = <root>/LOC_val_solution.csv or <root>/val_labels.txt
  std::string synset_words;   // "" = <root>/LOC_synset_mapping.txt or <root>/synset_words.txt if present
  int64_t limit = 0;          // > 0: an evenly strided subset of this many samples (all classes kept)
};

class ImageFolderDataset {
 public:
  // Scans the layout. Errors (std::runtime_error) name the offending directory or file: a missing
  // split directory, a class directory without images, an image without a label, a label-file line
  // that cannot be parsed or names an unknown wnid or a missing image.
  static ImageFolderDataset open(const ImageFolderOptions& opt);

  int64_t size() const { return static_cast<int64_t>(paths_.size()); }
  const std::string& path(int64_t i) const { return paths_[i]; }
  int64_t label(int64_t i) const { return labels_[i]; }
  int64_t num_classes() const { return static_cast<int64_t>(wnids_.size()); }
  const std::vector<std::string>& wnids() const { return wnids_; }          // class index -> wnid
  const std::vector<std::string>& class_names() const { return names_; }    // synset words, else wnids
  bool flat() const { return flat_; }                                       // flat val + label file

 private:
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
  std::vector<std::string> wnids_, names_;
  bool flat_ = false;
};

// Lower-cased extension check against .jpg .jpeg .png.
bool has_image_extension(const std::string& name);
// A file name without its last extension ("a.b.png" -> "a.b"; a name without a dot stays as it is).
std::string stem_of(const std::string& name);
// Sorted (byte order) names of the regular files in `dir` with an image extension.
std::vector<std::string> list_image_files(const std::string& dir);
// Sorted names of the subdirectories of `dir`.
std::vector<std::string> list_subdirs(const std::string& dir);
// Indices of an evenly strided subset of k out of n (all if k <= 0 or k >= n).
std::vector<int64_t> strided_subset(int64_t n, int64_t k);

// The training / evaluation batches of an ImageFolderDataset: (B, 3, S, S) float + (B,) labels, Mixup/CutMix
// soft targets when training with them on.
struct ClassificationSourceOptions {
  ClassificationTransformOptions transform;
  MixupOptions mixup;          // used when train && mixup.enabled(); num_classes set from the dataset
  bool mixup_on = true;
  uint64_t seed = 0;
  BadSamplePolicy on_bad_sample = BadSamplePolicy::kSkip;
  bool pin_memory = true;      // only when CUDA is available
};

class ImageFolderSource : public BatchSource {
 public:
  ImageFolderSource(ImageFolderDataset ds, ClassificationSourceOptions opt);
  int64_t size() const override { return ds_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  std::string sample_id(int64_t i) const override;
  const ImageFolderDataset& dataset() const { return ds_; }

 private:
  ImageFolderDataset ds_;
  ClassificationSourceOptions opt_;
};

}  // namespace rpct

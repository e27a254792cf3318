// Config -> input pipeline for data.kind imagenet | ade20k (the trainer's one call).
#pragma once
#include <memory>

#include "datasets/fashion_mnist.h"
#include "datasets/loader.h"
#include "trainer/config.h"

namespace rpct {

// Options from the validated config: train.seed, train.label_smoothing and the data.* keys.
// train && data.augment -> the DeiT train transform + Mixup/CutMix; otherwise the eval transform.
ClassificationSourceOptions classification_source_options(const Config& cfg, bool train);
SegmentationSourceOptions segmentation_source_options(const Config& cfg);

// Fashion-MNIST from the IDX reader as a BatchSource: 1-channel 28x28, shift/flip augmentation.
class FashionMnistSource : public BatchSource {
 public:
  FashionMnistSource(ImageSet set, bool augment, uint64_t seed);
  int64_t size() const override { return set_.size(); }
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;

 private:
  ImageSet set_;
  bool augment_;
  uint64_t seed_;
};

// fashion_mnist: FashionMnistSource (train: augmented per data.augment; test: plain).
// imagenet: ImageFolderSource over <data.root>/train or /val (limit_train / limit_test).
// ade20k: Ade20kSource over training / validation; its make_batch gives train crops; for evaluation
// call Ade20kSource::eval_sample(i) with sliding_windows (variable image sizes).
std::shared_ptr<BatchSource> make_batch_source(const Config& cfg, bool train);

}  // namespace rpct

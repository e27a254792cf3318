// Semantic segmentation as a Task: a Segmenter (models/segmenter.h) on (B, 3, H, W) images and (B, H, W)
// labels (255 = ignore), trained with per-pixel cross-entropy, measured by mIoU / mAcc / aAcc from one
// confusion matrix summed over batches and ranks (trainer/segmentation_eval.h); mIoU picks the best
// checkpoint. Evaluation (as Segmenter / mmseg test): the model over sliding windows (seg.window,
// seg.stride; crops padded to multiples of the patch), the logits resized to the label's original size,
// averaged as probabilities over the test scales (seg.eval_scales, made by the eval source) and mirror
// images (seg.eval_flip), argmax. Eval batches are either collated (x (B, 3, H, W), y (B, H0, W0)) or
// per-sample lists of different sizes (Batch::sample_views / sample_labels, datasets/ade20k.h).
#pragma once
#include "models/segmenter.h"
#include "trainer/config.h"
#include "trainer/task.h"

namespace rpct {

// The stem of the per-class table files a segmentation evaluation writes: <stem>.md and <stem>.json.
constexpr const char* kPerClassTableFile = "eval_per_class";

class SegmentationTask : public Task {
 public:
  SegmentationTask(const Config& cfg, torch::Device device);

  torch::nn::Module& model() override { return *segmenter_; }
  Segmenter& segmenter() { return segmenter_; }
  torch::Device device() const override { return device_; }
  std::string describe() const override;
  // The classifier's rule plus the mask decoder's class embeddings (Segmenter's no_weight_decay).
  bool no_weight_decay(const std::string& name, const torch::Tensor& param) const override;
  torch::Tensor train_loss(const Batch& batch) override;
  // Sums (K*K,): the confusion matrix [label][prediction] of the batch, flattened.
  int64_t num_eval_sums() const override { return n_cls_ * n_cls_; }
  torch::Tensor eval_sums(const Batch& batch) override;
  // miou, macc, aacc; files: the per-class table (kPerClassTableFile .md and .json) with the data set's
  // class names (datasets/ade20k.h ade20k_layout_class_names).
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;
  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  // seg.backbone: the encoder's weights from a trained ViT (trainer/backbone.h); errors name the config key.
  void init_backbone(const std::string& path);

  Config cfg_;
  torch::Device device_;
  int64_t n_cls_, window_, stride_;
  Segmenter segmenter_{nullptr};
  std::vector<std::string> class_names_;
};

}  // namespace rpct

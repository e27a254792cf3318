// Semantic segmentation as a Task: a Segmenter (models/segmenter.h) on (B, 3, H, W) images and (B, H, W)
// labels (255 = ignore), trained with per-pixel cross-entropy, measured by mIoU / mAcc / aAcc from one
// confusion matrix summed over batches and ranks (trainer/segmentation_eval.h); mIoU picks the best
// checkpoint. Evaluation runs the model over sliding windows (seg.window, seg.stride) and, when a label
// map has another size than its image, resizes the logits to the label's size before the argmax.
#pragma once
#include "models/segmenter.h"
#include "trainer/config.h"
#include "trainer/task.h"

namespace rpct {

// model.*, attention.* and seg.* of the config as the Segmenter's options (the encoder's classifier head
// is not built; model.num_classes is the number of segmentation classes).
SegmenterOptions segmenter_options(const Config& cfg);

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
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;

 private:
  // seg.backbone: the encoder's weights from a trained ViT (trainer/backbone.h); errors name the config key.
  void init_backbone(const std::string& path);

  Config cfg_;
  torch::Device device_;
  int64_t n_cls_, window_, stride_;
  Segmenter segmenter_{nullptr};
};

}  // namespace rpct

// Semantic segmentation as a Task: a Segmenter (models/segmenter.h) on (B, 3, H, W) images and (B, H, W)
// labels (255 = ignore), trained with per-pixel cross-entropy, measured by mIoU / mAcc / aAcc from one
// confusion matrix summed over batches and ranks (trainer/segmentation_eval.h); mIoU picks the best
// checkpoint. Evaluation (as Segmenter / mmseg test): the model over sliding windows (seg.window,
// seg.stride; crops padded to multiples of the patch), the logits resized to the label's original size,
// averaged as probabilities over the test scales (seg.eval_scales, made by the eval source) and mirror
// images (seg.eval_flip), argmax. Eval batches are either collated (x (B, 3, H, W), y (B, H0, W0)) or
// per-sample lists of different sizes (Batch::sample_views / sample_labels, datasets/ade20k.h).
#pragma once
#include <functional>
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
  // The evaluation's predictions (the same forward as eval_sums: sliding windows, test scales, flip): one
  // (H0, W0) int64 label map per sample of `batch`, at its label's resolution, on the CPU; with `scores`, also
  // each sample's (K, H0, W0) float32 class scores (probabilities averaged over the test views).
  std::vector<torch::Tensor> predict(const Batch& batch, std::vector<torch::Tensor>* scores = nullptr);
  // Sample i of an evaluation batch beside its ground truth and `prediction` (H0, W0), left to right, at the
  // label's resolution, in the class palette (datasets/ade20k.h segmentation_palette; ignore in black).
  Image prediction_picture(const Batch& batch, size_t i, const torch::Tensor& prediction) const;
  std::vector<std::pair<std::string, Image>> eval_pictures(BatchSource& set, int count) override;
  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  // seg.backbone: the encoder's weights from a trained ViT (trainer/backbone.h); errors name the config key.
  void init_backbone(const std::string& path);
  // fn(scores (B, K, H0, W0), labels (B, H0, W0)) for each run of same-size samples of an evaluation batch.
  void for_each_scored_run(const Batch& batch,
                           const std::function<void(const torch::Tensor&, const torch::Tensor&)>& fn);

  Config cfg_;
  torch::Device device_;
  int64_t n_cls_, window_, stride_;
  Segmenter segmenter_{nullptr};
  std::vector<std::string> class_names_;
};

// `rpctrain eval --save-predictions DIR / --save-logits FILE`: for `limit` evenly spaced samples of `set` (0: all),
// on this rank alone: DIR/<id>.png (image | ground truth | prediction, SegmentationTask::prediction_picture) and
// DIR/labels/<id>.png (the prediction as an 8-bit label map in the ADEChallengeData2016 convention: training id
// + 1, 0 = "other", so other tools can score it); FILE (.safetensors): each sample's (K, H0, W0) float32 scores
// at the label's resolution (the logits with one test view; the mean of the views' probabilities with several),
// named by its id. An empty dir / file skips that output. Returns the sample ids written, in order.
std::vector<std::string> save_segmentation_outputs(SegmentationTask& task, BatchSource& set, const std::string& dir,
                                                   const std::string& logits_file, int64_t limit);

}  // namespace rpct

// The pieces a robustness suite item is evaluated with, on top of the trainer's sharded, all-reduced
// evaluation (trainer::evaluate) and the classification Task's forward:
//   SuiteSource   wraps an evaluation BatchSource: an evenly strided subset (--limit), a corruption applied
//                 to each 8-bit image before normalisation, labels mapped to the model's classes, a progress
//                 line on rank 0; its batches carry the requested (slot) indices, the keys of every random
//                 draw and of per-sample outputs.
//   MaskedTopkTask  top-1 / top-5 with the logits restricted to a class subset (ImageNet-A/-R: 200 wnids).
//   MaxSoftmaxScoreTask  per-sample OOD scores -max softmax (ImageNet-O), gathered through the sums.
//   AttackTask    accuracy on adversarial inputs (robust/attacks.h) made against the clean predictions.
//   image_corruption  a corruption as a per-image edit, for sources that hand out their decoded images (the
//                 ADE20K evaluation source of bench segment: corrupted before the segmentation eval transform).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datasets/batch_source.h"
#include "datasets/decode.h"
#include "robust/attacks.h"
#include "robust/corruptions.h"
#include "trainer/classification.h"
#include "trainer/metrics.h"
#include "trainer/task.h"

namespace rpct::robust {

// How a data set's 8-bit images become model inputs: x = (pixel / 255 - mean) / std per channel.
struct InputNormalization {
  std::vector<double> mean, std;  // one per input channel (1: gray Fashion-MNIST, 3: RGB)
};
// data.kind fashion_mnist: 1 channel (kFashionMnistMean/Std); imagenet: data.mean / data.std. Throws naming
// the config file and data.kind otherwise.
InputNormalization input_normalization(const Config& cfg);

struct CorruptionSpec {
  Corruption corruption;
  int severity;      // 1..5
  uint64_t seed;     // the run seed; each image's seed is derived from (seed, slot, corruption, severity)
};

// The seed of one image's corruption: (run seed, image slot, corruption, severity).
uint64_t corruption_seed(uint64_t seed, int64_t slot, Corruption c, int severity);

// A per-image edit that corrupts an 8-bit RGB image (H, W, 3) in place with `spec`, its seed derived from
// (spec.seed, the image's dataset index, corruption, severity): for sources that hand out their decoded images
// (the ADE20K evaluation source's SegmentationSourceOptions::eval_image_edit, before its eval transform).
// Thread-safe. Another channel count is an error naming it.
std::function<void(Image& image, int64_t index)> image_corruption(const CorruptionSpec& spec);

// Applies `spec` to a normalized batch (B, C, H, W), C = 1 or 3, in place of its values: each image is turned
// back into its 8-bit pixels (exactly: the sources normalize 8-bit images; anything else is an error naming
// `what`), corrupted as an (H, W, 3) image (gray: replicated to RGB, corrupted, back to gray as the rounded
// mean of the 3 channels), and normalized again. slots: the images' keys (B values).
void corrupt_normalized_batch(torch::Tensor& x, const InputNormalization& norm, const CorruptionSpec& spec,
                              const std::vector<int64_t>& slots, const std::string& what);

class SuiteSource : public BatchSource {
 public:
  // inner: the evaluation set; subset: the inner indices evaluated (slot i = inner index subset[i]);
  // label_map: when not empty, inner label -> model class.
  SuiteSource(std::shared_ptr<BatchSource> inner, std::vector<int64_t> subset, std::vector<int64_t> label_map = {});
  // All of `inner`, or (limit > 0) an evenly strided subset of `limit` samples (all classes kept).
  SuiteSource(std::shared_ptr<BatchSource> inner, int64_t limit, std::vector<int64_t> label_map = {});
  void set_corruption(const CorruptionSpec& spec, InputNormalization norm, std::string what);
  // Rank 0's progress: `label`, `total_batches` of this rank's shard. A batch counts as done when the next one
  // is asked for; finish_progress() (after the evaluation) reports the last.
  void set_progress(const std::string& label, int64_t total_batches, bool enabled);
  void finish_progress();

  int64_t size() const override { return static_cast<int64_t>(subset_.size()); }
  // indices: slots 0..size()-1. The batch's `indices` are these slots (not the inner set's indices).
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& indices) override;
  int64_t skipped() const { return skipped_; }  // bad samples the inner set replaced so far

 private:
  std::shared_ptr<BatchSource> inner_;
  std::vector<int64_t> subset_, label_map_;
  std::optional<CorruptionSpec> corruption_;
  InputNormalization norm_;
  std::string what_;
  std::unique_ptr<Progress> progress_;
  int64_t batches_ = 0, images_ = 0, skipped_ = 0, progress_every_ = 1;
};

// A Task that evaluates through a ClassificationTask's model (the same forward) with other statistics.
class ClassifierEvalTask : public Task {
 public:
  explicit ClassifierEvalTask(ClassificationTask& classifier) : classifier_(classifier) {}
  torch::nn::Module& model() override { return classifier_.model(); }
  torch::Device device() const override { return classifier_.device(); }
  std::string describe() const override { return classifier_.describe(); }
  torch::Tensor train_loss(const Batch& batch) override;  // not a training task: throws
  // EvalResult from sums with the task's metric names.
  torch::Tensor logits(const torch::Tensor& x);  // (B, classes) of model inputs (B, C, H, W)

 protected:
  ClassificationTask& classifier_;
};

// Top-1 / top-5 over the logits restricted to `classes` (ascending model class indices; the labels are
// positions in that list). Empty `classes`: all logits. Sums (2,): top-1 hits, top-5 hits.
class MaskedTopkTask : public ClassifierEvalTask {
 public:
  MaskedTopkTask(ClassificationTask& classifier, std::vector<int64_t> classes);
  int64_t num_eval_sums() const override { return 2; }
  torch::Tensor eval_sums(const Batch& batch) override;
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;

 private:
  torch::Tensor classes_;  // (K,) int64 on the device, or undefined
};

// Per-sample -max softmax probability over the logits restricted to `classes`, at each sample's slot:
// sums (2N,) = scores at [slot], 1 at [N + slot] (a bad sample replaced by another counts that one twice).
// Collect them with `scores` after evaluate().
class MaxSoftmaxScoreTask : public ClassifierEvalTask {
 public:
  MaxSoftmaxScoreTask(ClassificationTask& classifier, std::vector<int64_t> classes, int64_t num_samples);
  int64_t num_eval_sums() const override { return 2 * n_; }
  torch::Tensor eval_sums(const Batch& batch) override;
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;
  const std::vector<double>& scores() const { return scores_; }  // of the last eval_result, one per evaluation

 private:
  torch::Tensor classes_;
  int64_t n_;
  mutable std::vector<double> scores_;
};

// Accuracy under attack: labels for the attack = the model's clean predictions; sums (3,): clean top-1 hits,
// adversarial top-1 hits (against the true labels), predictions changed by the attack.
// Metrics: clean_top1, top1 (under attack), flip_rate.
class AttackTask : public ClassifierEvalTask {
 public:
  AttackTask(ClassificationTask& classifier, AttackOptions options);
  int64_t num_eval_sums() const override { return 3; }
  torch::Tensor eval_sums(const Batch& batch) override;
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;

 private:
  AttackOptions opt_;
};

}  // namespace rpct::robust

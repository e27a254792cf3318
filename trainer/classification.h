// Image classification as a Task: a ViT (models/vit.h) on (B, C, H, W) images and (B,) labels, trained
// with cross-entropy (label smoothing, or Mixup/CutMix soft targets when the batch carries them), measured
// by loss, top-1 and top-5.
#pragma once
#include <memory>

#include "models/vit.h"
#include "trainer/config.h"
#include "trainer/task.h"

namespace rpct {

// Cross-entropy of (B, classes) logits: against soft targets (B, classes) when `soft` is defined (Mixup /
// CutMix, smoothing already folded in), else against (B,) labels with label smoothing `smoothing`.
torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& soft,
                                  double smoothing);

class ClassificationTask : public Task {
 public:
  // Builds the ViT of `cfg` (its initialisation draws from torch's RNG) and moves it to `device`.
  ClassificationTask(const Config& cfg, torch::Device device);

  torch::nn::Module& model() override { return *vit_; }
  ViT& vit() { return vit_; }
  torch::Device device() const override { return device_; }
  std::string describe() const override;
  torch::Tensor train_loss(const Batch& batch) override;
  // Sums (3,): cross-entropy (no smoothing), top-1 hits, top-5 hits.
  int64_t num_eval_sums() const override { return 3; }
  torch::Tensor eval_sums(const Batch& batch) override;
  EvalResult eval_result(const std::vector<double>& sums, int64_t samples) const override;

 private:
  Config cfg_;
  torch::Device device_;
  ViT vit_{nullptr};
};

}  // namespace rpct

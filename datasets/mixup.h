// timm's Mixup / CutMix (mode "batch") and label-smoothed targets, on collated batches.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace rpct {

struct MixupOptions {
  double mixup_alpha = 0.8, cutmix_alpha = 1.0;
  double prob = 1.0, switch_prob = 0.5;
  double label_smoothing = 0.1;
  int64_t num_classes = 1000;
  bool enabled() const { return mixup_alpha > 0 || cutmix_alpha > 0; }
};

// timm Mixup, mode "batch": one lambda per batch, each sample mixed with its mirror x[B-1-i].
// x: (B, C, H, W) float, modified in place; labels (B,) int64. Returns soft targets (B, num_classes).
// The batch's randomness comes from (seed, epoch, the batch's global indices), not from the rank.
torch::Tensor mixup_cutmix(torch::Tensor& x, const torch::Tensor& labels, const MixupOptions& opt, uint64_t seed,
                           int64_t epoch, const std::vector<int64_t>& indices);
// Label-smoothed one-hot targets (B, num_classes), for a batch without mixing.
torch::Tensor smooth_one_hot(const torch::Tensor& labels, int64_t num_classes, double smoothing);

}  // namespace rpct

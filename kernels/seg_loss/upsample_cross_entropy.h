// Segmentation loss without the full-resolution logits: bilinear upsampling (align_corners = false, as
// F::interpolate) of low-resolution class logits to the label map's size, then pixel cross-entropy with an
// ignore index and mean reduction over the labelled pixels (as F::cross_entropy). See README.md.
#pragma once
#include <torch/torch.h>

namespace rpct {

// logits (B, K, h, w), any strides; labels (B, H, W) int64 with values in [0, K) or ignore_index. Returns the
// mean loss over pixels whose label is not ignore_index (NaN when there are none, as F::cross_entropy), and
// its gradient w.r.t. logits through autograd. CPU float32 / float64: the fused kernel (never materializes the
// (B, K, H, W) upsampled logits); any other device or dtype: upsample_cross_entropy_reference.
torch::Tensor upsample_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t ignore_index);

// The composed LibTorch ops the fused kernel is tested against: F::interpolate (bilinear, align_corners
// false) to (H, W), then F::cross_entropy with ignore_index.
torch::Tensor upsample_cross_entropy_reference(const torch::Tensor& logits, const torch::Tensor& labels,
                                               int64_t ignore_index);

// Whether upsample_cross_entropy takes the fused kernel for these logits (CPU, float32 or float64).
bool upsample_cross_entropy_fused_supports(const torch::Tensor& logits);

}  // namespace rpct

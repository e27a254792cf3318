// Segmentation evaluation math, as pure functions: the confusion matrix of one batch, the metrics
// of a confusion matrix summed over batches and ranks, sliding-window inference, the test-time scores of
// several views (multi-scale, flip) at the label's resolution, and the per-class table (Markdown, JSON).
// The segmentation Task sums confusion_matrix() over its batches (Task::eval_sums), the loop all-reduces the
// sums once, and segmentation_metrics() turns the total into mIoU / mAcc / aAcc.
//
// Conventions follow mmsegmentation (IoUMetric.intersect_and_union / total_area_to_metrics, and
// EncoderDecoder.slide_inference), which the Segmenter and RPC-Attention numbers are computed with:
// - pixels whose label is the ignore index (255) count nowhere;
// - per class c: IoU_c = TP / (TP + FP + FN) is NaN when the union TP + FP + FN is 0 (c neither in the labels
//   nor in the predictions), Acc_c = TP / (TP + FN) is NaN when c has no label pixel;
// - mIoU and mAcc are nanmeans: a class with no label pixels and no predicted pixels is left out of both
//   means; a class only predicted (no label pixel) counts in mIoU with IoU 0 and is left out of mAcc;
// - aAcc = sum_c TP_c / (number of labelled pixels).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rpct {

// Label value that marks pixels without ground truth (ADE20K's "other" after reduce_zero_label, padding).
constexpr int64_t kSegmentationIgnoreIndex = 255;

// Counts of (label, prediction) pairs: result[l][p] = number of pixels with label l predicted as p, over the
// pixels whose label != ignore_index. pred, label: integer tensors of the same shape (any, e.g. (B, H, W)),
// on any device; returns (n_cls, n_cls) int64 on that device. A label outside [0, n_cls) other than the
// ignore index, or a prediction outside [0, n_cls), is an error naming the value.
torch::Tensor confusion_matrix(const torch::Tensor& pred, const torch::Tensor& label, int64_t n_cls,
                               int64_t ignore_index = kSegmentationIgnoreIndex);

// Metrics of a confusion matrix (conventions above). Fractions in [0, 1]; NaN marks a per-class value that
// does not exist (and a mean over no class, or aAcc of an empty matrix).
struct SegmentationMetrics {
  double miou = 0, macc = 0, aacc = 0;
  std::vector<double> iou, acc;  // per class, NaN where undefined (see above)
  std::vector<bool> present;     // the class has label or predicted pixels (its IoU counts in mIoU)
};

// confusion: (n_cls, n_cls) counts [label][pred], any numeric dtype and device.
SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion);

// The logits of a crop: (B, C, h, w) -> (B, n_cls, h, w).
using SegmentationForward = std::function<torch::Tensor(const torch::Tensor&)>;

// Sliding-window inference (mmseg "slide" mode, as Segmenter evaluates): windows of window x window pixels
// every `stride` pixels along H and along W, the last one moved back to end at the border
// (start = max(min(i * stride + window, size) - window, 0)); along a side shorter than the window, the window
// is that whole side (no padding). Logits of overlapping windows are summed and divided by the number of
// windows covering each pixel. image: (B, C, H, W); returns (B, n_cls, H, W) in the forward's dtype.
// Requires 0 < stride <= window (a larger stride would leave pixels no window covers).
torch::Tensor sliding_window_logits(const SegmentationForward& forward, const torch::Tensor& image, int64_t n_cls,
                                    int64_t window, int64_t stride);

// A forward for crops of any size: pads the crop at the bottom and right with zeros (the normalised mean
// colour, as Segmenter's padding) up to multiples of `multiple` (the patch), runs `forward`, and crops the
// logits back to the crop's size. Crops already of such a size go through unchanged.
SegmentationForward padded_to_multiple(SegmentationForward forward, int64_t multiple);

// Test-time class scores of a batch at its labels' resolution out_h x out_w, as Segmenter's inference and
// mmseg's (aug) test compute them. views: the batch rescaled to each test scale, (B, C, h_v, w_v) each. Per
// view, and with `flip` also for its mirror image: sliding_window_logits, bilinearly resized to
// out_h x out_w, mirrored back. One view without flip: those logits (the plain test); otherwise the mean of
// the views' softmax probabilities (both references average probabilities, not logits). Returns
// (B, n_cls, out_h, out_w); the argmax is the prediction.
torch::Tensor test_time_scores(const SegmentationForward& forward, const std::vector<torch::Tensor>& views,
                               int64_t n_cls, int64_t window, int64_t stride, int64_t out_h, int64_t out_w, bool flip);

// Samples of one size, stacked: views[v] (B, C, h_v, w_v) per test scale, labels (B, H, W).
struct SameSizeSamples {
  std::vector<torch::Tensor> views;
  torch::Tensor labels;
};
// Per-sample views and labels (Batch::sample_views / sample_labels) as runs of consecutive samples whose
// views and labels have the same sizes, each run stacked (one forward per run instead of per sample).
std::vector<SameSizeSamples> stack_same_size_runs(const std::vector<std::vector<torch::Tensor>>& sample_views,
                                                  const std::vector<torch::Tensor>& sample_labels);

// A Markdown table, one row per class: class, IoU (%), Acc (%), two decimals; "-" where a value is NaN
// (IoU of a class left out of mIoU, Acc of a class without label pixels). class_names: one per class.
std::string per_class_table_markdown(const SegmentationMetrics& metrics, const std::vector<std::string>& class_names);
// The same as JSON text: {"miou", "macc", "aacc", "classes": [{"id", "name", "iou", "acc"}...] (fractions,
// null where NaN), "confusion": [[...]] ([label][prediction] pixel counts, from which every value follows)}.
std::string per_class_table_json(const SegmentationMetrics& metrics, const std::vector<std::string>& class_names,
                                 const torch::Tensor& confusion);

}  // namespace rpct

#include "trainer/segmentation_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "datasets/transforms.h"
#include "models/vit.h"

namespace rpct {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Throws naming the first value of `values` (1-D int64) outside [0, n_cls), if any; `what` names the tensor.
void check_class_range(const torch::Tensor& values, int64_t n_cls, const char* what, const std::string& extra) {
  const torch::Tensor bad = (values < 0) | (values >= n_cls);
  if (!bad.any().item<bool>()) return;
  const int64_t value = values.masked_select(bad)[0].item<int64_t>();
  throw std::invalid_argument(std::string("confusion_matrix: ") + what + " value " + std::to_string(value) +
                              " outside the classes [0, " + std::to_string(n_cls) + ")" + extra);
}

// mean of the values that are not NaN (numpy's nanmean); NaN when every value is NaN.
double nan_mean(const std::vector<double>& values) {
  double sum = 0;
  int64_t n = 0;
  for (double v : values) {
    if (std::isnan(v)) continue;
    sum += v;
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : kNaN;
}

std::string percent_or_dash(double fraction) {
  if (std::isnan(fraction)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", 100.0 * fraction);
  return buf;
}

}  // namespace

torch::Tensor confusion_matrix(const torch::Tensor& pred, const torch::Tensor& label, int64_t n_cls,
                               int64_t ignore_index) {
  if (n_cls <= 0) throw std::invalid_argument("confusion_matrix: n_cls must be positive, got " + std::to_string(n_cls));
  if (pred.sizes() != label.sizes())
    throw std::invalid_argument("confusion_matrix: prediction shape " + c10::str(pred.sizes()) +
                                " differs from label shape " + c10::str(label.sizes()));
  if (torch::isFloatingType(pred.scalar_type()) || torch::isFloatingType(label.scalar_type()))
    throw std::invalid_argument(std::string("confusion_matrix: prediction and label must be integer tensors, got ") +
                                c10::toString(pred.scalar_type()) + " and " + c10::toString(label.scalar_type()));
  const torch::Tensor labelled = label != ignore_index;
  const torch::Tensor l = label.masked_select(labelled).to(torch::kLong);  // (P,) labelled pixels
  const torch::Tensor p = pred.masked_select(labelled).to(torch::kLong);   // (P,)
  check_class_range(l, n_cls, "label", " (ignore index " + std::to_string(ignore_index) + ")");
  check_class_range(p, n_cls, "prediction", "");
  return torch::bincount(l * n_cls + p, /*weights=*/{}, /*minlength=*/n_cls * n_cls).view({n_cls, n_cls});
}

SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion) {
  if (confusion.dim() != 2 || confusion.size(0) != confusion.size(1))
    throw std::invalid_argument("segmentation_metrics: confusion matrix must be (n_cls, n_cls), got " +
                                c10::str(confusion.sizes()));
  const torch::Tensor counts = confusion.detach().to(torch::kCPU, torch::kDouble).contiguous();  // (n, n)
  const int64_t n_cls = counts.size(0);
  const torch::Tensor tp = counts.diagonal();             // (n,) intersection
  const torch::Tensor label_area = counts.sum(1);         // (n,) TP + FN
  const torch::Tensor union_area = label_area + counts.sum(0) - tp;  // (n,) TP + FN + FP
  const auto tp_a = tp.accessor<double, 1>();
  const auto label_a = label_area.accessor<double, 1>();
  const auto union_a = union_area.accessor<double, 1>();

  SegmentationMetrics m;
  double tp_total = 0, label_total = 0;
  for (int64_t c = 0; c < n_cls; ++c) {
    m.iou.push_back(union_a[c] > 0 ? tp_a[c] / union_a[c] : kNaN);
    m.acc.push_back(label_a[c] > 0 ? tp_a[c] / label_a[c] : kNaN);
    m.present.push_back(union_a[c] > 0);
    tp_total += tp_a[c];
    label_total += label_a[c];
  }
  m.miou = nan_mean(m.iou);
  m.macc = nan_mean(m.acc);
  m.aacc = label_total > 0 ? tp_total / label_total : kNaN;
  return m;
}

torch::Tensor sliding_window_logits(const SegmentationForward& forward, const torch::Tensor& image, int64_t n_cls,
                                    int64_t window, int64_t stride) {
  if (image.dim() != 4)
    throw std::invalid_argument("sliding_window_logits: image must be (B, C, H, W), got " + c10::str(image.sizes()));
  if (window <= 0 || stride <= 0 || stride > window)
    throw std::invalid_argument("sliding_window_logits: need 0 < stride <= window, got window " +
                                std::to_string(window) + ", stride " + std::to_string(stride));
  using torch::indexing::Slice;
  const int64_t batch = image.size(0), height = image.size(2), width = image.size(3);
  const int64_t crop_h = std::min(window, height), crop_w = std::min(window, width);

  torch::Tensor sums;   // (B, n_cls, H, W), allocated with the first window's dtype
  torch::Tensor count;  // (1, 1, H, W): windows covering each pixel
  // mmseg slide_inference's windows (datasets/transforms.h), shared with the data pipeline.
  for (const Window& w : sliding_windows(static_cast<int>(height), static_cast<int>(width), static_cast<int>(window),
                                         static_cast<int>(stride))) {
    const int64_t y = w.y0, x = w.x0;
    const auto ys = Slice(y, y + crop_h), xs = Slice(x, x + crop_w);
    const torch::Tensor logits = forward(image.index({Slice(), Slice(), ys, xs}));  // (B, n_cls, h, w)
    const std::vector<int64_t> expected{batch, n_cls, crop_h, crop_w};
    if (logits.sizes() != c10::IntArrayRef(expected))
      throw std::invalid_argument("sliding_window_logits: forward returned " + c10::str(logits.sizes()) +
                                  " for a crop at (" + std::to_string(y) + ", " + std::to_string(x) +
                                  "), expected " + c10::str(c10::IntArrayRef(expected)));
    if (!sums.defined()) {
      sums = torch::zeros({batch, n_cls, height, width}, logits.options());
      count = torch::zeros({1, 1, height, width}, logits.options());
    }
    sums.index({Slice(), Slice(), ys, xs}).add_(logits);
    count.index({Slice(), Slice(), ys, xs}).add_(1);
  }
  return sums.div_(count);  // every pixel is covered: the windows tile each side (stride <= window)
}

SegmentationForward padded_to_multiple(SegmentationForward forward, int64_t multiple) {
  if (multiple <= 0) throw std::invalid_argument("padded_to_multiple: multiple must be positive");
  return [forward = std::move(forward), multiple](const torch::Tensor& crop) {  // (B, C, h, w)
    const int64_t h = crop.size(2), w = crop.size(3);
    const int64_t pad_h = (multiple - h % multiple) % multiple, pad_w = (multiple - w % multiple) % multiple;
    if (pad_h == 0 && pad_w == 0) return forward(crop);
    namespace F = torch::nn::functional;
    const auto padded = F::pad(crop, F::PadFuncOptions({0, pad_w, 0, pad_h}));  // (B, C, h + pad_h, w + pad_w)
    using torch::indexing::Slice;
    return forward(padded).index({Slice(), Slice(), Slice(0, h), Slice(0, w)});  // (B, n_cls, h, w)
  };
}

torch::Tensor test_time_scores(const SegmentationForward& forward, const std::vector<torch::Tensor>& views,
                               int64_t n_cls, int64_t window, int64_t stride, int64_t out_h, int64_t out_w, bool flip) {
  if (views.empty()) throw std::invalid_argument("test_time_scores: no view");
  const bool single = views.size() == 1 && !flip;
  torch::Tensor sum;  // (B, n_cls, out_h, out_w)
  for (const auto& view : views)
    for (const bool mirrored : flip ? std::vector<bool>{false, true} : std::vector<bool>{false}) {
      const auto input = mirrored ? view.flip({3}) : view;                              // (B, C, h, w)
      auto logits = sliding_window_logits(forward, input, n_cls, window, stride);       // (B, n_cls, h, w)
      if (logits.size(2) != out_h || logits.size(3) != out_w) logits = bilinear_resize(logits, out_h, out_w);
      if (mirrored) logits = logits.flip({3});
      if (single) return logits;
      const auto prob = logits.softmax(1);
      sum = sum.defined() ? sum.add_(prob) : prob;
    }
  return sum.div_(static_cast<double>(views.size() * (flip ? 2 : 1)));
}

std::vector<SameSizeSamples> stack_same_size_runs(const std::vector<std::vector<torch::Tensor>>& sample_views,
                                                  const std::vector<torch::Tensor>& sample_labels) {
  if (sample_views.size() != sample_labels.size())
    throw std::invalid_argument("stack_same_size_runs: " + std::to_string(sample_views.size()) + " samples' views, " +
                                std::to_string(sample_labels.size()) + " labels");
  auto same_sizes = [&](size_t a, size_t b) {
    if (sample_labels[a].sizes() != sample_labels[b].sizes() || sample_views[a].size() != sample_views[b].size())
      return false;
    for (size_t v = 0; v < sample_views[a].size(); ++v)
      if (sample_views[a][v].sizes() != sample_views[b][v].sizes()) return false;
    return true;
  };
  std::vector<SameSizeSamples> runs;
  for (size_t first = 0, end = 0; first < sample_labels.size(); first = end) {
    for (end = first + 1; end < sample_labels.size() && same_sizes(first, end);) ++end;
    SameSizeSamples run;
    for (size_t v = 0; v < sample_views[first].size(); ++v) {
      std::vector<torch::Tensor> parts;
      for (size_t i = first; i < end; ++i) parts.push_back(sample_views[i][v]);
      run.views.push_back(torch::stack(parts));  // (B, C, h_v, w_v)
    }
    run.labels = torch::stack(std::vector<torch::Tensor>(sample_labels.begin() + first, sample_labels.begin() + end));
    runs.push_back(std::move(run));
  }
  return runs;
}

namespace {

void check_class_names(const char* what, const SegmentationMetrics& metrics, const std::vector<std::string>& names) {
  if (names.size() != metrics.iou.size() || metrics.acc.size() != metrics.iou.size())
    throw std::invalid_argument(std::string(what) + ": " + std::to_string(names.size()) + " class names for " +
                                std::to_string(metrics.iou.size()) + " classes");
}

// A fraction for JSON: null where NaN (JSON has no NaN).
nlohmann::json fraction_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace

std::string per_class_table_json(const SegmentationMetrics& metrics, const std::vector<std::string>& class_names,
                                 const torch::Tensor& confusion) {
  check_class_names("per_class_table_json", metrics, class_names);
  const auto counts = confusion.to(torch::kCPU, torch::kDouble).contiguous();  // (n, n)
  const int64_t n = static_cast<int64_t>(class_names.size());
  if (counts.dim() != 2 || counts.size(0) != n || counts.size(1) != n)
    throw std::invalid_argument("per_class_table_json: confusion matrix " + c10::str(counts.sizes()) + " for " +
                                std::to_string(n) + " classes");
  // One class and one confusion row per line: readable, and still one JSON object.
  std::ostringstream out;
  out << "{\"miou\": " << fraction_or_null(metrics.miou).dump() << ", \"macc\": " << fraction_or_null(metrics.macc).dump()
      << ", \"aacc\": " << fraction_or_null(metrics.aacc).dump() << ",\n \"classes\": [\n";
  for (int64_t c = 0; c < n; ++c) {
    const nlohmann::json row = {{"id", c},
                                {"name", class_names[c]},
                                {"iou", fraction_or_null(metrics.iou[c])},
                                {"acc", fraction_or_null(metrics.acc[c])}};
    out << "  " << row.dump() << (c + 1 < n ? ",\n" : "\n");
  }
  out << " ],\n \"confusion\": [\n";
  const auto a = counts.accessor<double, 2>();
  for (int64_t l = 0; l < n; ++l) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t p = 0; p < n; ++p) row.push_back(static_cast<int64_t>(a[l][p]));
    out << "  " << row.dump() << (l + 1 < n ? ",\n" : "\n");
  }
  out << " ]}\n";
  return out.str();
}

std::string per_class_table_markdown(const SegmentationMetrics& metrics, const std::vector<std::string>& class_names) {
  check_class_names("per_class_table_markdown", metrics, class_names);
  std::ostringstream out;
  out << "| class | IoU (%) | Acc (%) |\n| --- | ---: | ---: |\n";
  for (size_t c = 0; c < class_names.size(); ++c)
    out << "| " << class_names[c] << " | " << percent_or_dash(metrics.iou[c]) << " | "
        << percent_or_dash(metrics.acc[c]) << " |\n";
  return out.str();
}

}  // namespace rpct

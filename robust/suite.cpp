#include "robust/suite.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "datasets/fashion_mnist.h"
#include "datasets/image_folder.h"
#include "datasets/transforms.h"

namespace rpct::robust {

namespace {

// A normalized 8-bit image maps back to pixel values within float32 rounding of integers; more than this
// off means the source did not normalize plain 8-bit pixels (e.g. augmentation), which corrupting would hide.
constexpr double kPixelRoundTripTolerance = 1e-2;
// Progress lines per suite item when stdout is not a terminal (a live bar otherwise).
constexpr int64_t kProgressLines = 4;

torch::Tensor class_tensor(const std::vector<int64_t>& classes, torch::Device device) {
  if (classes.empty()) return {};
  for (size_t i = 1; i < classes.size(); ++i)
    if (classes[i] <= classes[i - 1]) throw std::invalid_argument("class subset must be ascending model classes");
  return torch::tensor(classes, torch::kInt64).to(device);
}

torch::Tensor restrict_to(const torch::Tensor& logits, const torch::Tensor& classes) {
  return classes.defined() ? logits.index_select(1, classes) : logits;
}

}  // namespace

InputNormalization input_normalization(const Config& cfg) {
  if (cfg.data.kind == "fashion_mnist") return {{kFashionMnistMean}, {kFashionMnistStd}};
  if (cfg.data.kind == "imagenet")  // data.mean / data.std, ImageNet's by default
    return {{cfg.data.mean.begin(), cfg.data.mean.end()}, {cfg.data.std.begin(), cfg.data.std.end()}};
  throw std::invalid_argument(cfg.source + ": data.kind '" + cfg.data.kind +
                              "' has no classification benchmark (fashion_mnist, imagenet)");
}

uint64_t corruption_seed(uint64_t seed, int64_t slot, Corruption c, int severity) {
  return mix64(mix64(mix64(seed ^ 0x436F727275707431ull) ^ static_cast<uint64_t>(slot)) ^
               (static_cast<uint64_t>(c) << 8 | static_cast<uint64_t>(severity)));
}

std::function<void(Image&, int64_t)> image_corruption(const CorruptionSpec& spec) {
  return [spec](Image& image, int64_t index) {
    TORCH_CHECK(image.channels == 3 && image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
                "image_corruption: needs an 8-bit RGB image, got ", image.channels, " channels");
    auto hwc = torch::from_blob(image.pixels.data(), {image.height, image.width, 3}, torch::kUInt8);  // (H, W, 3)
    auto out = corrupt(hwc, spec.corruption, spec.severity,
                       corruption_seed(spec.seed, index, spec.corruption, spec.severity)).contiguous();  // (H, W, 3)
    std::memcpy(image.pixels.data(), out.data_ptr<uint8_t>(), image.pixels.size());
  };
}

void corrupt_normalized_batch(torch::Tensor& x, const InputNormalization& norm, const CorruptionSpec& spec,
                              const std::vector<int64_t>& slots, const std::string& what) {
  TORCH_CHECK(x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3), what, ": corruptions need (B, 1|3, H, W) images, got ",
              x.sizes());
  const int64_t B = x.size(0), C = x.size(1);
  TORCH_CHECK(static_cast<int64_t>(norm.mean.size()) == C && static_cast<int64_t>(slots.size()) == B, what,
              ": normalization for ", norm.mean.size(), " channels and ", slots.size(), " slots, batch ", x.sizes());
  auto mean = torch::tensor(norm.mean, torch::kFloat64).view({1, C, 1, 1});
  auto std = torch::tensor(norm.std, torch::kFloat64).view({1, C, 1, 1});
  auto pixels = (x.to(torch::kCPU, torch::kFloat64) * std + mean) * 255.0;  // (B, C, H, W)
  auto rounded = pixels.round();
  const double off = (pixels - rounded).abs().max().item<double>();
  TORCH_CHECK(off <= kPixelRoundTripTolerance, what, ": the evaluation images are not normalized 8-bit pixels (",
              off, " off an integer); corruptions apply to the 8-bit image before normalisation");
  auto u8 = rounded.clamp(0, 255).to(torch::kUInt8);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < B; ++i) {
    auto hwc = u8[i].permute({1, 2, 0});                          // (H, W, C)
    if (C == 1) hwc = hwc.expand({-1, -1, 3});                    // gray -> RGB
    auto c = corrupt(hwc.contiguous(), spec.corruption, spec.severity,
                     corruption_seed(spec.seed, slots[i], spec.corruption, spec.severity));  // (H, W, 3) uint8
    auto chw = c.permute({2, 0, 1}).to(torch::kFloat64);         // (3, H, W)
    if (C == 1) chw = chw.mean(0, /*keepdim=*/true).round();      // RGB -> gray: the channels' rounded mean
    out.push_back(chw);
  }
  auto corrupted = (torch::stack(out) / 255.0 - mean) / std;     // (B, C, H, W)
  x.copy_(corrupted.to(x.scalar_type()));
}

// ---------------------------------------------------------------------------------------------------
SuiteSource::SuiteSource(std::shared_ptr<BatchSource> inner, std::vector<int64_t> subset, std::vector<int64_t> label_map)
    : inner_(std::move(inner)), subset_(std::move(subset)), label_map_(std::move(label_map)) {
  for (int64_t i : subset_)
    TORCH_CHECK(i >= 0 && i < inner_->size(), "SuiteSource: index ", i, " outside the set's ", inner_->size());
}

SuiteSource::SuiteSource(std::shared_ptr<BatchSource> inner, int64_t limit, std::vector<int64_t> label_map)
    : SuiteSource(inner, strided_subset(inner->size(), limit), std::move(label_map)) {}

void SuiteSource::set_corruption(const CorruptionSpec& spec, InputNormalization norm, std::string what) {
  corruption_ = spec;
  norm_ = std::move(norm);
  what_ = std::move(what);
}

void SuiteSource::set_progress(const std::string& label, int64_t total_batches, bool enabled) {
  progress_ = std::make_unique<Progress>(label, total_batches, enabled);
  progress_every_ = std::max<int64_t>(1, total_batches / kProgressLines);
  batches_ = images_ = 0;
}

void SuiteSource::finish_progress() {
  if (!progress_) return;
  if (batches_ > 0) progress_->update(batches_, images_, "", progress_every_);  // the last batch is done
  progress_->finish();
  progress_.reset();
}

Batch SuiteSource::make_batch(int64_t epoch, const std::vector<int64_t>& indices) {
  std::vector<int64_t> inner_idx;
  for (int64_t i : indices) {
    TORCH_CHECK(i >= 0 && i < size(), "SuiteSource: slot ", i, " out of range [0, ", size(), ")");
    inner_idx.push_back(subset_[i]);
  }
  Batch b = inner_->make_batch(epoch, inner_idx);
  skipped_ += b.skipped;
  b.indices = indices;  // slots: the keys of per-sample randomness and outputs
  if (!label_map_.empty()) {
    auto y = b.y.contiguous();
    int64_t* p = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < y.numel(); ++i) {
      TORCH_CHECK(p[i] >= 0 && p[i] < static_cast<int64_t>(label_map_.size()), "SuiteSource: label ", p[i],
                  " has no model class");
      p[i] = label_map_[p[i]];
    }
    b.y = y;
  }
  if (corruption_) corrupt_normalized_batch(b.x, norm_, *corruption_, indices, what_);
  // The evaluation asks for a batch when it is done with the previous one: report that one.
  if (progress_ && batches_ > 0) progress_->update(batches_, images_, "", progress_every_);
  ++batches_;
  images_ += static_cast<int64_t>(indices.size());
  return b;
}

// ---------------------------------------------------------------------------------------------------
torch::Tensor ClassifierEvalTask::train_loss(const Batch&) {
  throw std::logic_error("a robustness evaluation task cannot be trained (use ClassificationTask)");
}

torch::Tensor ClassifierEvalTask::logits(const torch::Tensor& x) { return classifier_.vit()->forward(x); }

MaskedTopkTask::MaskedTopkTask(ClassificationTask& classifier, std::vector<int64_t> classes)
    : ClassifierEvalTask(classifier), classes_(class_tensor(classes, classifier.device())) {}

torch::Tensor MaskedTopkTask::eval_sums(const Batch& batch) {
  auto y = batch.y.to(device());                                        // (B,)
  auto out = restrict_to(logits(batch.x.to(device())), classes_);          // (B, K)
  const int64_t k = std::min<int64_t>(5, out.size(1));
  auto hit = std::get<1>(out.topk(k, 1)).eq(y.unsqueeze(1));            // (B, k)
  return torch::stack({hit.select(1, 0).sum(), hit.any(1).sum()}).to(torch::kFloat64);
}

EvalResult MaskedTopkTask::eval_result(const std::vector<double>& sums, int64_t samples) const {
  return mean_metrics({"top1", "top5"}, sums, samples, "top1");
}

MaxSoftmaxScoreTask::MaxSoftmaxScoreTask(ClassificationTask& classifier, std::vector<int64_t> classes,
                                         int64_t num_samples)
    : ClassifierEvalTask(classifier), classes_(class_tensor(classes, classifier.device())), n_(num_samples) {}

torch::Tensor MaxSoftmaxScoreTask::eval_sums(const Batch& batch) {
  auto out = restrict_to(logits(batch.x.to(device())), classes_);              // (B, K)
  auto score = -std::get<0>(torch::softmax(out.to(torch::kFloat64), 1).max(1)).cpu();  // (B,)
  for (int64_t slot : batch.indices)
    TORCH_CHECK(slot >= 0 && slot < n_, "MaxSoftmaxScoreTask: slot ", slot, " outside [0, ", n_, ")");
  auto slots = torch::tensor(batch.indices, torch::kInt64);
  auto sums = torch::zeros({2 * n_}, torch::kFloat64);  // (2N,): scores, then counts, at the slots
  sums.narrow(0, 0, n_).index_add_(0, slots, score);
  sums.narrow(0, n_, n_).index_add_(0, slots, torch::ones_like(score));
  return sums;
}

EvalResult MaxSoftmaxScoreTask::eval_result(const std::vector<double>& sums, int64_t samples) const {
  scores_.clear();
  double mean = 0;
  for (int64_t s = 0; s < n_; ++s)
    for (int c = 0; c < static_cast<int>(sums[n_ + s]); ++c) {  // a sample evaluated twice counts twice
      scores_.push_back(sums[s] / sums[n_ + s]);
      mean += scores_.back();
    }
  EvalResult r;
  r.samples = samples;
  r.metrics = {{"mean_score", scores_.empty() ? 0.0 : mean / scores_.size()}};
  r.primary = "mean_score";
  return r;
}

AttackTask::AttackTask(ClassificationTask& classifier, AttackOptions options)
    : ClassifierEvalTask(classifier), opt_(std::move(options)) {}

torch::Tensor AttackTask::eval_sums(const Batch& batch) {
  auto x = batch.x.to(device());                        // (B, C, H, W)
  auto y = batch.y.to(device());                        // (B,)
  auto clean_pred = logits(x).argmax(1);                // (B,) the attack's labels
  auto adv = attack([this](const torch::Tensor& in) { return logits(in); }, x, clean_pred, batch.indices, opt_);
  auto adv_pred = logits(adv).argmax(1);
  return torch::stack({clean_pred.eq(y).sum(), adv_pred.eq(y).sum(), adv_pred.ne(clean_pred).sum()})
      .to(torch::kFloat64);
}

EvalResult AttackTask::eval_result(const std::vector<double>& sums, int64_t samples) const {
  return mean_metrics({"clean_top1", "top1", "flip_rate"}, sums, samples, "top1");
}

}  // namespace rpct::robust

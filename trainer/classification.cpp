#include "trainer/classification.h"

#include <algorithm>
#include <cstdio>

#include "trainer/model_options.h"
#include "trainer/weights.h"

namespace rpct {

namespace F = torch::nn::functional;

torch::Tensor classification_loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& soft,
                                  double smoothing) {
  if (soft.defined()) return -(soft * torch::log_softmax(logits, 1)).sum(1).mean();
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

ClassificationTask::ClassificationTask(const Config& cfg, torch::Device device)
    : cfg_(cfg), device_(device), vit_(vit_options(cfg)) {
  vit_->to(device_);
}

std::string ClassificationTask::describe() const {
  const int64_t n = num_parameters(*vit_);
  const auto& m = cfg_.model;
  char line[512];
  std::snprintf(line, sizeof(line), "ViT %s dim %d depth %d heads %d patch %d tokens %lld attention %s (%lld params) on %s",
                m.arch.c_str(), m.dim, m.depth, m.heads, m.patch, static_cast<long long>(vit_->num_tokens()),
                cfg_.attention.kind.c_str(), static_cast<long long>(n), device_.str().c_str());
  return line;
}

torch::Tensor ClassificationTask::train_loss(const Batch& batch) {
  auto logits = vit_->forward(batch.x.to(device_, /*non_blocking=*/true));  // (B, classes)
  return classification_loss(logits, batch.y.to(device_, /*non_blocking=*/true),
                             batch.y_soft.defined() ? batch.y_soft.to(device_, /*non_blocking=*/true) : torch::Tensor(),
                             cfg_.train.label_smoothing);
}

torch::Tensor ClassificationTask::eval_sums(const Batch& batch) {
  auto y = batch.y.to(device_);                        // (B,)
  auto logits = vit_->forward(batch.x.to(device_));    // (B, classes)
  const int64_t k = std::min<int64_t>(5, logits.size(1));
  auto loss = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  auto hit = std::get<1>(logits.topk(k, 1)).eq(y.unsqueeze(1));  // (B, k)
  return torch::stack({loss.to(torch::kFloat64), hit.select(1, 0).sum().to(torch::kFloat64),
                       hit.any(1).sum().to(torch::kFloat64)});
}

EvalResult ClassificationTask::eval_result(const std::vector<double>& sums, int64_t samples) const {
  return mean_metrics({"loss", "top1", "top5"}, sums, samples, "top1");
}

}  // namespace rpct

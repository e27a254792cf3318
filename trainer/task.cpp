// The Task helpers every task shares (trainer/task.h) and the factory that picks a run's task.
#include "trainer/task.h"

#include <algorithm>
#include <stdexcept>

#include "trainer/classification.h"
#include "trainer/segmentation.h"

namespace rpct {

double EvalResult::at(const std::string& name) const {
  for (const auto& [n, v] : metrics)
    if (n == name) return v;
  throw std::out_of_range("evaluation has no metric '" + name + "'");
}

EvalResult mean_metrics(const std::vector<std::string>& names, const std::vector<double>& sums, int64_t samples,
                        const std::string& primary) {
  TORCH_CHECK(names.size() <= sums.size(), "mean_metrics: ", names.size(), " names for ", sums.size(), " sums");
  const double n = std::max<double>(1.0, static_cast<double>(samples));
  EvalResult r;
  r.samples = samples;
  for (size_t i = 0; i < names.size(); ++i) r.metrics.emplace_back(names[i], sums[i] / n);
  r.primary = primary;
  return r;
}

bool Task::no_weight_decay(const std::string& name, const torch::Tensor& param) const {
  return param.dim() <= 1 || name.find("cls_token") != std::string::npos || name.find("pos_embed") != std::string::npos;
}

std::unique_ptr<Task> make_task(const Config& cfg, torch::Device device) {
  if (cfg.data.kind == "ade20k") return std::make_unique<SegmentationTask>(cfg, device);
  return std::make_unique<ClassificationTask>(cfg, device);
}

}  // namespace rpct

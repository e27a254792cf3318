#include "datasets/batch_source.h"

#include <stdexcept>

#include "core/log.h"

namespace rpct {

namespace {
torch::TensorOptions batch_options(torch::ScalarType dtype, bool pin) {
  auto o = torch::TensorOptions().dtype(dtype);
  if (pin && torch::cuda::is_available()) o = o.pinned_memory(true);
  return o;
}
}  // namespace

torch::TensorOptions batch_float_options(bool pin) { return batch_options(torch::kFloat32, pin); }
torch::TensorOptions batch_label_options(bool pin) { return batch_options(torch::kInt64, pin); }

BadSamplePolicy parse_bad_sample_policy(const std::string& s) {
  if (s == "skip") return BadSamplePolicy::kSkip;
  if (s == "error") return BadSamplePolicy::kError;
  throw std::invalid_argument("data.on_bad_sample must be skip or error, got '" + s + "'");
}

bool BadSampleTracker::mark(int64_t index, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!bad_.insert(index).second) return false;
  messages_.push_back(message);
  log_info("skipping bad sample %lld: %s", static_cast<long long>(index), message.c_str());
  return true;
}
bool BadSampleTracker::is_bad(int64_t index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return bad_.count(index) != 0;
}
int64_t BadSampleTracker::count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(bad_.size());
}
std::vector<std::string> BadSampleTracker::messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

}  // namespace rpct

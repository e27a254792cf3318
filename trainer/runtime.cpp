#include "trainer/runtime.h"

#include <algorithm>
#include <thread>

#include "core/ftz.h"

namespace rpct {

void configure_runtime(const Config& cfg, const DistContext& dist) {
  int threads = cfg.train.threads;
  if (threads == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, dist.local_size()));
  }
  torch::set_num_threads(threads);
  set_flush_denormal_all_threads(cfg.train.flush_denormal);
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
}

torch::Device pick_device(const Config& cfg, const DistContext& dist) {
  const auto& d = cfg.train.device;
  if (d == "cpu" || (d == "auto" && !torch::cuda::is_available())) return torch::kCPU;
  TORCH_CHECK(torch::cuda::is_available(), "train.device is 'cuda' but no CUDA device is available");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist.local_rank() % torch::cuda::device_count()));
}

}  // namespace rpct

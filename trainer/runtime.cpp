// Process set-up (threads, flush-to-zero, TF32, seeds), the rank's device and the autocast scope.
#include "trainer/runtime.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "core/ftz.h"
#include "core/log.h"

namespace rpct {

void configure_runtime(const Config& cfg, const DistContext& dist) {
  int threads = cfg.train.threads;
  if (threads == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, dist.local_size()));
  }
  torch::set_num_threads(threads);
  set_flush_denormal_all_threads(cfg.train.flush_denormal);
  at::globalContext().setAllowTF32CuBLAS(cfg.train.tf32);
  at::globalContext().setAllowTF32CuDNN(cfg.train.tf32);
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
}

void seed_training_rng(const Config& cfg, const DistContext& dist) {
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed) + static_cast<uint64_t>(dist.rank()));
}

DeviceChoice choose_device(const std::string& setting, int cuda_devices, int rank, int local_rank, int local_size) {
  if (setting == "cpu") return {};
  if (setting != "auto" && setting != "cuda")
    throw std::invalid_argument("train.device must be auto, cpu or cuda, got '" + setting + "'");
  if (cuda_devices == 0) {
    if (setting == "auto") return {};
    throw std::runtime_error("rank " + std::to_string(rank) + ": train.device is 'cuda' but no CUDA device is available");
  }
  if (local_size > cuda_devices) {
    const std::string counts = std::to_string(local_size) + " ranks on this node but " + std::to_string(cuda_devices) +
                               " CUDA device(s): one process per GPU is needed (NCCL cannot put two ranks on one GPU)";
    if (setting == "cuda")
      throw std::runtime_error("rank " + std::to_string(rank) + ": train.device is 'cuda' with " + counts +
                               "; start at most " + std::to_string(cuda_devices) + " ranks per node");
    return {torch::kCPU, "train.device auto: " + counts + "; training on the CPU with the MPI backend instead"};
  }
  return {torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank)), ""};
}

torch::Device pick_device(const Config& cfg, const DistContext& dist) {
  const int cuda_devices = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  const auto choice = choose_device(cfg.train.device, cuda_devices, dist.rank(), dist.local_rank(), dist.local_size());
  if (!choice.warning.empty() && dist.is_root()) log_info("warning: %s", choice.warning.c_str());
  return choice.device;
}

std::string resolve_precision(const std::string& setting, torch::Device device, std::string* why) {
  if (setting != "auto") return setting;
  std::string chosen = "fp32", reason;
  if (device.is_cuda()) {
    chosen = "bf16";
    reason = "CUDA device";
  } else {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    const bool amx = __builtin_cpu_supports("amx-bf16") != 0, avx512bf16 = __builtin_cpu_supports("avx512bf16") != 0;
#else
    const bool amx = false, avx512bf16 = false;
#endif
    if (amx || avx512bf16) {
      chosen = "bf16";
      reason = std::string("this CPU has ") + (amx ? "AMX-BF16" : "AVX512-BF16");
    } else {
      reason = "this CPU has neither AMX-BF16 nor AVX512-BF16 (bfloat16 products would be emulated, slower than float32)";
    }
  }
  if (why != nullptr) *why = "train.precision auto: " + chosen + " (" + reason + ")";
  return chosen;
}

AutocastScope::AutocastScope(const std::string& precision, torch::Device device) {
  if (precision == "fp32") return;
  TORCH_CHECK(precision == "bf16", "train.precision must be fp32 or bf16, got '", precision, "'");
  active_ = true;
  type_ = device.type();
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  was_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost autocast region drops the cast copies of the weights cached within it.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, was_dtype_);
}

}  // namespace rpct

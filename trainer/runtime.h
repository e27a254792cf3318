// Per-process runtime set-up shared by every command that runs a model: threads, flush-to-zero, TF32,
// seeds, the device of this rank, and the forward pass's precision (autocast).
#pragma once
#include <torch/torch.h>

#include <string>

#include "distributed/dist_context.h"
#include "trainer/config.h"

namespace rpct {

// Sets intra-op threads (train.threads, or cores / ranks on this node), flush-to-zero per
// train.flush_denormal (core/ftz.h), TF32 for CUDA matmuls/convolutions per train.tf32, and seeds torch
// (CPU and every CUDA device) with train.seed: the model's initialization is the same on every rank.
void configure_runtime(const Config& cfg, const DistContext& dist);

// The training RNG of this rank: torch (CPU and CUDA generators) seeded with train.seed + rank (timm's
// convention), so ranks draw different drop-path and dropout masks. Called after the start-up broadcast
// of rank 0's weights, so the initialization is unaffected; a resumed run then restores the saved states.
void seed_training_rng(const Config& cfg, const DistContext& dist);

// Where a rank runs, given train.device and what its node has (a pure function, testable without a GPU).
struct DeviceChoice {
  torch::Device device = torch::kCPU;
  std::string warning;  // non-empty when `auto` fell back to the CPU although CUDA devices exist
};
// `setting`: auto | cpu | cuda; `cuda_devices`: devices visible to this process; `local_rank` /
// `local_size`: this rank's place among the ranks on its node. One process per GPU: a node with more
// ranks than GPUs cannot run NCCL (two ranks on one GPU: "Duplicate GPU detected"), so `cuda` is then an
// error naming the rank and the counts, and `auto` falls back to the CPU (MPI backend) with a warning.
DeviceChoice choose_device(const std::string& setting, int cuda_devices, int rank, int local_rank, int local_size);

// The device of this rank (choose_device with this process's CUDA devices); rank 0 logs a warning if any.
torch::Device pick_device(const Config& cfg, const DistContext& dist);

// train.precision resolved for `device`: "fp32" or "bf16" as set; "auto" is bf16 on CUDA and on a CPU with
// bfloat16 matrix units (AMX-BF16 or AVX512-BF16), else fp32. *why (when given) says what auto chose and why.
std::string resolve_precision(const std::string& setting, torch::Device device, std::string* why = nullptr);

// The forward pass under autocast to bfloat16 on `device` while in scope when `precision` is "bf16";
// nothing for "fp32". Parameters stay float32; run backward after the scope ends (PyTorch's AMP recipe).
class AutocastScope {
 public:
  AutocastScope(const std::string& precision, torch::Device device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace rpct

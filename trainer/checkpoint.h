// Checkpoints: <run>/ckpt/step_XXXXXXXX/ holding model.safetensors (parameters, "buffer/" buffers, "ema/"
// EMA), optim.safetensors (optimizer state: AdamW moments or SGD momentum buffers, trainer/optimizer.h),
// meta.json (step, epoch position, world size, config, format version), rank_XXXXX.safetensors per rank
// (RNG state), and DONE: written by rank 0 after a barrier, listing every file with its SHA-256.
// Every file is written to a temporary name, fsynced, renamed. A directory without a DONE, or whose
// checksums do not verify, is never loaded.
#pragma once
#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "distributed/dist_context.h"
#include "trainer/checkpoint_files.h"  // TrainState, meta.json / DONE, SHA-256, verify_checkpoint
#include "trainer/config.h"

namespace rpct {

// SHA-256 over parameter names and bytes, in the model's registration order (fixed).
std::string params_sha256(const std::vector<std::pair<std::string, torch::Tensor>>& named);

// Copies src[prefix + name] into every (name, tensor) of dst. Floating-point widths convert (F16/BF16/F64
// into F32); a missing name, another shape or another kind of dtype (integer or bool data for a float
// tensor, or the reverse) is an error naming `file` and the tensor.
void copy_named_tensors(const std::vector<std::pair<std::string, torch::Tensor>>& src, const std::string& prefix,
                        const std::vector<std::pair<std::string, torch::Tensor>>& dst, const std::string& file);

// A checkpoint directory passed over, and why (verify_checkpoint's message, which names the file).
struct SkippedCheckpoint {
  std::string dir, why;
};
// The newest step_* directory under `ckpt_root` (<run>/ckpt) that is complete and verifies, or ""
// when there is none; each newer one that does not verify is appended to `skipped`.
std::string newest_complete_checkpoint(const std::string& ckpt_root, std::vector<SkippedCheckpoint>* skipped);

// The checkpoint a user-given path means: a checkpoint directory -> itself (an error saying why if it
// is incomplete or does not verify); a run directory (one with ckpt/) -> its newest complete and
// verified checkpoint (an error naming the skipped ones if there is none); anything else -> an error
// naming the path.
std::string resolve_checkpoint_dir(const std::string& path);

struct LoadedCheckpoint {
  std::string dir;
  TrainState state;
  int world_size = 0;
  std::string config_yaml;
};

class Checkpointer {
 public:
  Checkpointer(std::string run_dir, const Config& cfg, const DistContext& dist);

  // Collective. Writes the checkpoint for `state` and prunes old ones (keep the last ckpt.keep plus
  // the best). `ema` may be empty. Returns the directory.
  std::string save(const std::vector<std::pair<std::string, torch::Tensor>>& params,
                   const std::vector<std::pair<std::string, torch::Tensor>>& buffers,
                   const std::vector<torch::Tensor>& ema, torch::optim::Optimizer& opt, const TrainState& state);

  // Collective. `spec` is "auto" (newest complete and verified checkpoint of this run; incomplete or
  // corrupt ones are reported by name and skipped; none: nullopt) or a directory (an error unless it
  // is complete and valid). Loads into the given tensors / optimizer and restores this rank's RNG.
  std::optional<LoadedCheckpoint> load(const std::string& spec,
                                       const std::vector<std::pair<std::string, torch::Tensor>>& params,
                                       const std::vector<std::pair<std::string, torch::Tensor>>& buffers,
                                       const std::vector<torch::Tensor>& ema, torch::optim::Optimizer& opt);

  // Creates ckpt/ and writes (then removes) a small probe file in it from this rank, so that a checkpoint
  // directory this rank cannot write fails at start, naming it, rather than at the first checkpoint. Every rank
  // probes: each writes its own rank file into every checkpoint (on another node, through its own mount).
  void check_writable() const;

  std::string ckpt_root() const { return run_dir_ + "/ckpt"; }

 private:
  void prune(int64_t best_step);
  std::string run_dir_;
  Config cfg_;
  const DistContext& dist_;
};

// Reads a checkpoint's model.safetensors: parameter name -> tensor in saved order, without the buffer/
// and ema/ entries (for inspect/export).
std::vector<std::pair<std::string, torch::Tensor>> read_checkpoint_params(const std::string& dir);

}  // namespace rpct

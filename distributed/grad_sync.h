// GradSync: DistributedDataParallel for LibTorch. Parameters are bucketed in reverse registration
// order (first bucket ~first_bucket_mb, then bucket_mb); autograd hooks copy each gradient into its
// bucket's flat buffer as it becomes ready, and a full bucket's sum all-reduce is launched at once
// (in bucket order, identical on every rank) while backward goes on. finish() waits (under the
// watchdog) and writes the mean into every parameter's .grad (gradients are scaled by 1/world
// as they are copied into the buckets, so the all-reduced sum is already the mean).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "distributed/backend.h"
#include "distributed/dist_context.h"
#include "distributed/watchdog.h"

namespace rpct {

struct GradSyncOptions {
  double first_bucket_mb = 1.0;
  double bucket_mb = 25.0;
  double timeout_s = 300.0;
};

class GradSync {
 public:
  // `params`: the model's named parameters in registration order. `backend` may be null when the
  // world size is 1 (then GradSync does nothing but keeps the same API).
  GradSync(std::vector<std::pair<std::string, torch::Tensor>> params, const DistContext& dist,
           std::unique_ptr<CommBackend> backend, const GradSyncOptions& opt);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Copies rank 0's parameters and buffers to every rank.
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors);
  // Compares a fingerprint of `config_text` and of the parameter names/shapes/dtypes across ranks;
  // on a mismatch every rank throws an error naming the differing ranks (no hang).
  void check_fingerprint(const std::string& config_text);

  void set_step(int64_t step) { step_ = step; }
  // false = no_sync: gradients only accumulate locally (gradient accumulation micro-batches).
  void set_sync(bool enabled) { sync_ = enabled; }
  bool sync_enabled() const { return sync_; }
  // After backward of a synced micro-batch: launch what is left, wait, average into .grad.
  void finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  std::vector<int64_t> bucket_bytes() const;
  Watchdog* watchdog() { return watchdog_.get(); }
  bool active() const { return backend_ != nullptr; }
  CommBackend* backend() { return backend_.get(); }

 private:
  struct Slot {
    int64_t param, offset, numel;
  };
  struct Bucket {
    torch::Tensor buffer;  // flat, all slots
    std::vector<Slot> slots;
    int64_t pending = 0;
    bool launched = false;
    std::unique_ptr<CommWork> work;
  };
  void on_grad(int64_t param, const torch::Tensor& grad);
  void launch_ready_in_order();
  void reset_round();

  const DistContext& dist_;
  std::unique_ptr<CommBackend> backend_;
  GradSyncOptions opt_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<std::pair<int64_t, int64_t>> where_;  // param -> (bucket, slot index)
  std::vector<std::pair<int64_t, unsigned>> hooks_;  // (param, hook id)
  std::vector<Bucket> buckets_;
  std::vector<bool> ready_;  // per param, this round
  int64_t next_launch_ = 0;
  int64_t step_ = 0;
  bool sync_ = true;
  torch::Tensor inv_world_;  // 1 / world size (0-dim), gradients are scaled by it on copy-in
  std::unique_ptr<Watchdog> watchdog_;
};

// 64-bit FNV-1a, for fingerprints.
uint64_t fnv1a64(const std::string& s, uint64_t h = 1469598103934665603ull);

}  // namespace rpct

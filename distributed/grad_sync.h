// GradSync: DistributedDataParallel for LibTorch. Parameters are bucketed in reverse registration
// order (first bucket ~first_bucket_mb, then bucket_mb). Every parameter's .grad is a view into its
// bucket's flat buffer (PyTorch DDP's gradient_as_bucket_view), so autograd's AccumulateGrad writes
// gradients straight into the buckets; a post-accumulate-grad hook marks each one ready, and a full
// bucket's sum all-reduce is launched at once (in bucket order, identical on every rank) while backward
// goes on. finish() waits (under the watchdog); .grad then holds the mean over ranks.
//
// Zeroing: call zero_grad() (zeroes the buckets in place). If a caller sets .grad to undefined instead
// (optimizer.zero_grad() with set_to_none), gradients land outside the buckets and GradSync copies
// each one in when it is ready: correct, one extra copy of every gradient.
// Votes: with `carry_votes`, one more element at the end of the last bucket (the one launched last) carries
// each rank's vote (the vote source's answer at that launch, 1 or 0) through the step's all-reduce, so
// ranks agree on a yes/no question every step without a collective of their own (a graceful stop on a
// signal, trainer/graceful_stop.h).
// Averaging: by default each gradient is scaled by 1/world when it is ready (in cache, right after its
// accumulation). With `prescaled_loss` the caller multiplies its loss by loss_scale() (= 1/world)
// instead, the gradients arrive averaged, and the buckets are all-reduced as they are (no extra pass).
#pragma once
#include <c10/core/Event.h>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "distributed/backend.h"
#include "distributed/dist_context.h"
#include "distributed/watchdog.h"

namespace rpct {

struct GradSyncOptions {
  double first_bucket_mb = 1.0;
  double bucket_mb = 25.0;
  bool prescaled_loss = false;  // the caller scales its loss by loss_scale(); see above
  // Launch each bucket's all-reduce as soon as it is full, during backward (DDP). false: launch them all
  // in finish(). On a CPU whose cores are all taken by compute threads, an all-reduce launched early
  // only busy-polls (MPI's progress loop) on a core that backward needs until the peers catch up.
  bool overlap = true;
  bool carry_votes = false;  // see Votes above
};

class GradSync {
 public:
  // `params`: the model's named parameters in registration order. `backend` may be null when the
  // world size is 1 (then GradSync does nothing but keeps the same API). `watchdog` (not owned; the run's,
  // trainer/trainer.h; may be null) times every collective GradSync enters and, on a timeout, has the backend
  // give its communicator back before the job is aborted.
  GradSync(std::vector<std::pair<std::string, torch::Tensor>> params, const DistContext& dist,
           std::unique_ptr<CommBackend> backend, const GradSyncOptions& opt, Watchdog* watchdog = nullptr);
  // The same, creating the backend under the watchdog (a communicator init that hangs, e.g. a peer that
  // never calls ncclCommInitRank, aborts the job naming this rank). A null `make_backend`: no backend.
  using BackendFactory = std::function<std::unique_ptr<CommBackend>()>;
  GradSync(std::vector<std::pair<std::string, torch::Tensor>> params, const DistContext& dist,
           const BackendFactory& make_backend, const GradSyncOptions& opt, Watchdog* watchdog = nullptr);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Copies rank 0's parameters and buffers to every rank (under the watchdog).
  void broadcast_from_root(const std::vector<torch::Tensor>& tensors);
  // Compares a fingerprint of `config_text` and of the parameter names/shapes/dtypes across ranks;
  // on a mismatch every rank throws an error naming the differing ranks (no hang).
  void check_fingerprint(const std::string& config_text) { check_fingerprint(dist_, config_text, params_); }
  // The same check without a GradSync, through DistContext (MPI) only: callers run it before creating a
  // backend, whose set-up is itself a collective that ranks in disagreement (e.g. about the device) hang in.
  static void check_fingerprint(const DistContext& dist, const std::string& config_text,
                                const std::vector<std::pair<std::string, torch::Tensor>>& params);

  void set_step(int64_t step) { step_ = step; }
  int64_t step() const { return step_; }
  // false = no_sync: gradients only accumulate locally (gradient accumulation micro-batches).
  void set_sync(bool enabled) { sync_ = enabled; }
  // After backward of a synced micro-batch: launch what is left, wait; .grad holds the mean.
  void finish();
  // The vote this rank adds to each synced round (carry_votes), asked when the last bucket is launched.
  void set_vote_source(std::function<bool()> source) { vote_source_ = std::move(source); }
  // How many ranks voted yes in the newest round whose sum has reached the host; the same on every rank.
  // On the CPU that is the round the last finish() completed; on a GPU the one before it (the sum is
  // copied to pinned memory behind the all-reduce and read one step later, so no step waits for the
  // device). Without a backend: this rank's vote, asked now.
  int64_t votes();
  // Zeroes every gradient in place (the buckets); makes each .grad its bucket view again if a caller
  // replaced it. Without a backend (world size 1): sets every .grad to undefined, like set_to_none.
  void zero_grad();
  // The factor the caller multiplies its loss by: 1/world with prescaled_loss and a backend, else 1.
  double loss_scale() const;

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Buckets whose all-reduce has been launched in this round (reset by finish()).
  int64_t num_launched() const { return next_launch_; }
  std::vector<int64_t> bucket_bytes() const;
  const torch::Tensor& bucket_buffer(int64_t i) const { return buckets_[i].buffer; }
  bool active() const { return backend_ != nullptr; }
  bool overlaps() const { return opt_.overlap; }
  CommBackend* backend() { return backend_.get(); }

 private:
  struct Slot {
    int64_t param, offset, numel;
  };
  struct Bucket {
    torch::Tensor buffer;  // flat, all slots
    std::vector<Slot> slots;
    int64_t pending = 0;
    std::unique_ptr<CommWork> work;
    int64_t seq = 0;  // its number among the watched collectives this round (Watchdog::arrive)
  };
  void on_grad_ready(int64_t param);
  torch::Tensor slot_view(int64_t param) const;  // shaped like the parameter
  bool grad_is_slot_view(int64_t param) const;
  // Brings param's gradient into its slot (copy if .grad is elsewhere, zeros if undefined), averaged.
  void gather_into_slot(int64_t param);
  void launch_ready_in_order();
  void read_votes(const torch::Tensor& last_bucket);
  int64_t arrive(const std::string& where) { return watchdog_ ? watchdog_->arrive(where) : 0; }
  void reset_round();

  const DistContext& dist_;
  std::unique_ptr<CommBackend> backend_;
  GradSyncOptions opt_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<std::pair<int64_t, int64_t>> where_;  // param -> (bucket, slot index)
  std::vector<Bucket> buckets_;
  std::vector<bool> ready_;  // per param, this round
  int64_t next_launch_ = 0;
  int64_t step_ = 0;
  bool sync_ = true;
  torch::Tensor inv_world_;  // 1 / world size (0-dim)
  std::function<bool()> vote_source_;
  int64_t votes_ = 0;               // the newest round's vote sum on the host
  torch::Tensor votes_host_;        // (1,) pinned: a device round's vote sum on its way to the host
  std::optional<c10::Event> votes_copied_;  // recorded after that copy
  Watchdog* watchdog_;  // the run's, or null
};

// 64-bit FNV-1a, for fingerprints.
uint64_t fnv1a64(const std::string& s, uint64_t h = 1469598103934665603ull);

}  // namespace rpct

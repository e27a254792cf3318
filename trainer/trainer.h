// The training loop, written once for every Task (trainer/task.h), data-parallel over the ranks of
// DistContext (one process = world size 1):
//   train()    the whole run: data, Trainer, checkpoints/resume, epochs, evaluation, logs, final export;
//   Trainer    one rank's model, optimizer, GradSync and EMA; step() = one optimizer step over
//              micro-batches (what the tests run too);
//   evaluate() a task on an evaluation set, sharded over the ranks, reduced once.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/dist_context.h"
#include "distributed/grad_sync.h"
#include "distributed/progress_board.h"
#include "distributed/watchdog.h"
#include "trainer/config.h"
#include "trainer/ema.h"
#include "trainer/optimizer.h"  // make_optimizer
#include "trainer/safetensors.h"
#include "trainer/task.h"

namespace rpct {

struct TrainResult {
  EvalResult eval;        // after the last epoch
  double train_loss = 0;  // mean over the last epoch, all ranks
  int epochs = 0;
  int64_t steps = 0;
  double images_per_s = 0;  // training images per second (train steps only), all ranks together
  double seconds = 0;
  std::string run_dir;
  std::string params_sha256;  // of the final parameters (names + bytes, registration order)
  int64_t skipped_steps = 0;  // steps dropped for a non-finite loss (train.on_nonfinite = skip), whole run
  // A graceful stop (trainer/graceful_stop.h): what stopped the run ("SIGTERM") and its checkpoint.
  bool stopped = false;
  std::string stop_signal;
  std::string checkpoint;
};

// Trains per `cfg`; rank 0 writes <run_dir>/{metrics.jsonl, model.safetensors, ckpt/step_*/}. A stop signal
// (trainer/graceful_stop.h) ends it early at a step all ranks agree on, with a checkpoint there and no
// model.safetensors: the result says stopped (the command then exits with kExitStopped).
// `resume`: "" (fresh), "auto" (newest valid checkpoint of run_dir, if any) or a checkpoint dir.
TrainResult train(const Config& cfg, DistContext& dist, const std::string& run_dir, const std::string& resume = "");


// Evaluates `task` on `set`: this rank's contiguous shard in batches of `batch_size`, the sums reduced
// over all ranks once (under `watchdog`, if given); the metrics are global. Collective.
EvalResult evaluate(Task& task, BatchSource& set, int64_t batch_size, const DistContext& dist,
                    Watchdog* watchdog = nullptr);
// Writes the result's files (EvalResult::files, e.g. the per-class table) into `dir`, each atomically;
// returns their paths. Rank 0's job.
std::vector<std::string> write_eval_files(const EvalResult& result, const std::string& dir);

// dist.overlap ("auto" | "on" | "off") for a task on `device`: whether GradSync launches all-reduces
// during backward. auto: on, except on a CPU whose cores this node's ranks x intra-op threads fill.
bool overlap_all_reduce(const std::string& setting, torch::Device device, const DistContext& dist);

// The global L2 norm of the gradients of `params` (a 0-dim tensor on their device; undefined when none has a
// gradient), without reading it back to the host.
torch::Tensor grad_norm_on_device(const std::vector<torch::Tensor>& params);
// Scales the gradients of `params` so their global L2 norm is at most `max_norm`: LibTorch's
// clip_grad_norm_ without reading the norm back to the host (no sync per step on CUDA). Returns the norm
// before clipping (grad_norm_on_device).
torch::Tensor clip_grad_norm_on_device(const std::vector<torch::Tensor>& params, double max_norm);

class Trainer {
 public:
  // Sets up the optimizer, the EMA (train.ema > 0) and, when `data_parallel` and the world has more than
  // one rank, GradSync (fingerprint check of the config and parameters, rank 0's weights broadcast).
  Trainer(const Config& cfg, DistContext& dist, std::unique_ptr<Task> task, bool data_parallel = true);

  // One optimizer step at learning rate `lr` over this rank's `micro_batches` micro-batches, taken one at a
  // time from `next`: forward + backward of each (gradients accumulate locally; the all-reduce overlaps the
  // last backward), gradient clipping (train.clip_grad), optimizer step, EMA. Returns the step's loss: the
  // mean over its micro-batches on this rank. A non-finite loss follows train.on_nonfinite: abort throws
  // (naming the step and rank), skip updates nothing on every rank (last_step_skipped()).
  // The forward and loss run under train.precision's autocast. The loss is returned as a 0-dim float64
  // tensor on the model's device. The non-finite check reads it back every step on the CPU and with skip
  // (every rank's verdict is needed before the update); on CUDA with abort, check_read_back() does it where
  // the loop reads the loss anyway, so the host queues the next step at once.
  torch::Tensor step_device_loss(int micro_batches, const std::function<Batch()>& next, double lr);
  // The same, reading the loss back (a host sync on CUDA): for tests and tools, not the training loop.
  double step(int micro_batches, const std::function<Batch()>& next, double lr) {
    return step_device_loss(micro_batches, next, lr).item<double>();
  }
  double step(const Batch& batch, double lr) {
    return step(1, [&] { return batch; }, lr);
  }

  // The task's evaluation on `set` (rpct::evaluate) under train.precision's autocast.
  EvalResult evaluate(BatchSource& set);

  Task& task() { return *task_; }
  const NamedTensors& params() const { return params_; }
  const NamedTensors& buffers() const { return buffers_; }
  torch::optim::Optimizer& optimizer() { return *opt_; }
  // The EMA's tensors, or empty when train.ema is off (the form Checkpointer takes).
  const std::vector<torch::Tensor>& ema_tensors() const;
  GradSync& grad_sync() { return *sync_; }
  // The run's collective watchdog (null with one rank or without data parallelism): GradSync's collectives and
  // the loop's own (evaluation, checkpoints, metric reductions) run under it.
  Watchdog* watchdog() { return watchdog_.get(); }
  // Collective (one barrier). From now on every watched collective this rank enters is published to
  // <dir>/rank_XXXXX.progress, so that a watchdog timeout names the ranks that never arrived. No-op without
  // a watchdog.
  void publish_progress_to(const std::string& dir);
  bool last_step_skipped() const { return last_step_skipped_; }
  // The gradient norm of the last step (before clipping; 0-dim on the device), or undefined when it was not
  // measured: it is when train.clip_grad > 0 (clipping needs it) or after measure_grad_norm(true).
  void measure_grad_norm(bool on) { measure_grad_norm_ = on; }
  const torch::Tensor& last_grad_norm() const { return last_grad_norm_; }
  // train.on_nonfinite abort on CUDA: `loss_sum`, the epoch's loss sum read back at `step`, must be finite;
  // else an error naming the steps since `checked_step` and the rank. A no-op where step() checks each step.
  void check_read_back(double loss_sum, int64_t checked_step, int64_t step) const;

 private:
  // train.on_nonfinite for a step whose loss on this rank is `loss`, after the gradient all-reduce: true when
  // no rank may update (skip: decided together), throws on the bad rank(s) (abort).
  bool drop_nonfinite_step(double loss);
  bool checks_each_step() const;

  Config cfg_;
  DistContext& dist_;
  std::unique_ptr<Task> task_;
  NamedTensors params_, buffers_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  // In this order: the watchdog reads the board, GradSync uses the watchdog (destroyed in reverse).
  std::unique_ptr<ProgressBoard> board_;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<GradSync> sync_;
  std::unique_ptr<Ema> ema_;
  bool last_step_skipped_ = false;
  bool measure_grad_norm_ = false;
  torch::Tensor last_grad_norm_;
};

}  // namespace rpct

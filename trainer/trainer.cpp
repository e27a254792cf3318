#include "trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <thread>

#include "core/file_io.h"
#include "core/log.h"
#include "core/tensorboard.h"
#include "datasets/decode.h"  // encode_png
#include "datasets/loader.h"
#include "datasets/sampler.h"
#include "trainer/checkpoint.h"
#include "trainer/data.h"
#include "trainer/graceful_stop.h"
#include "trainer/lr_schedule.h"
#include "trainer/metrics.h"
#include "trainer/optimizer.h"
#include "trainer/run_dir.h"
#include "trainer/runtime.h"
#include "trainer/safetensors.h"
#include "trainer/test_hooks.h"
#include "trainer/weights.h"

namespace rpct {

EvalResult evaluate(Task& task, BatchSource& set, int64_t batch_size, const DistContext& dist, Watchdog* watchdog) {
  torch::NoGradGuard no_grad;
  task.model().eval();
  const auto [begin, end] = eval_shard(set.size(), dist.world_size(), dist.rank());
  torch::Tensor sums;  // (S,) float64
  for (int64_t s = begin; s < end; s += batch_size) {
    std::vector<int64_t> idx(std::min(end, s + batch_size) - s);
    std::iota(idx.begin(), idx.end(), s);
    auto part = task.eval_sums(set.make_batch(0, idx));
    sums = sums.defined() ? sums + part : part;
  }
  std::vector<double> local(task.num_eval_sums() + 1, 0.0);  // + this shard's sample count
  if (sums.defined()) {
    auto cpu = sums.to(torch::kCPU, torch::kFloat64).contiguous();
    TORCH_CHECK(cpu.numel() == task.num_eval_sums(), "Task::eval_sums gave ", cpu.numel(), " sums, expected ",
                task.num_eval_sums());
    std::copy(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel(), local.begin());
  }
  local.back() = static_cast<double>(end - begin);
  std::vector<double> total;
  {
    Watchdog::Scope guard(watchdog, "evaluation reduction", "evaluation reduction");
    total = dist.allreduce_sum(local);
  }
  const auto samples = static_cast<int64_t>(total.back());
  total.pop_back();
  return task.eval_result(total, samples);
}

std::vector<std::string> write_eval_files(const EvalResult& result, const std::string& dir) {
  std::vector<std::string> paths;
  for (const auto& [name, text] : result.files) {
    paths.push_back(dir + "/" + name);
    write_file_atomic(paths.back(), text);
  }
  return paths;
}

bool overlap_all_reduce(const std::string& setting, torch::Device device, const DistContext& dist) {
  if (setting != "auto") return setting == "on";
  if (!device.is_cpu()) return true;
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int64_t>(dist.local_size()) * torch::get_num_threads() < cores;
}

// torch::nn::utils::clip_grad_norm_ (L2) without its final total_norm.item(), a host sync in every step on
// CUDA: the same operations in the same order (so the same numbers), the norm never leaves the device.
torch::Tensor grad_norm_on_device(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().data().norm(2.0));
  if (norms.empty()) return {};
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2.0);  // ()
}

torch::Tensor clip_grad_norm_on_device(const std::vector<torch::Tensor>& params, double max_norm) {
  const torch::Tensor total = grad_norm_on_device(params);  // ()
  if (!total.defined()) return total;
  // LibTorch's epsilon: keeps the coefficient finite for all-zero gradients.
  constexpr double kNormEpsilon = 1e-6;
  const torch::Tensor coef = torch::clamp(max_norm / (total + kNormEpsilon), std::nullopt, 1.0);  // ()
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().data().mul_(coef);
  return total;
}

// ---------------------------------------------------------------------------------------------------
Trainer::Trainer(const Config& cfg, DistContext& dist, std::unique_ptr<Task> task, bool data_parallel)
    : cfg_(cfg), dist_(dist), task_(std::move(task)), params_(named_parameters(task_->model())) {
  for (const auto& b : task_->model().named_buffers()) buffers_.emplace_back(b.key(), b.value());
  opt_ = make_optimizer(*task_, cfg.train);
  const bool synced = data_parallel && dist.world_size() > 1;
  const torch::Device device = task_->device();
  std::string precision_note;
  cfg_.train.precision = resolve_precision(cfg.train.precision, device, &precision_note);  // auto -> fp32 | bf16
  if (!precision_note.empty() && dist.is_root()) log_info("%s", precision_note.c_str());
  // Before any backend exists: its set-up is a collective (NCCL's communicator init, on every rank's
  // device), so ranks that disagree about the config, the model or the device must be named here first.
  GradSync::check_fingerprint(dist, to_yaml(cfg), params_);
  GradSyncOptions opt{cfg.dist.first_bucket_mb, cfg.dist.bucket_mb, /*prescaled_loss=*/true};
  opt.overlap = overlap_all_reduce(cfg.dist.overlap, device, dist);
  opt.carry_votes = true;  // the ranks' stop votes ride on each step's all-reduce (trainer/graceful_stop.h)
  GradSync::BackendFactory backend;  // none: GradSync keeps its API and does nothing
  if (synced) {
    backend = [&dist, device] { return make_backend(dist, device); };
    watchdog_ = std::make_unique<Watchdog>(dist, cfg.dist.timeout_s);
  }
  sync_ = std::make_unique<GradSync>(params_, dist, backend, opt, watchdog_.get());
  sync_->set_vote_source(&GracefulStop::requested);
  std::vector<torch::Tensor> state;
  for (const auto& p : params_) state.push_back(p.second);
  for (const auto& b : buffers_) state.push_back(b.second);
  sync_->broadcast_from_root(state);
  if (cfg.train.ema > 0) ema_ = std::make_unique<Ema>(params_, cfg.train.ema);
}

torch::Tensor Trainer::step_device_loss(int micro_batches, const std::function<Batch()>& next, double lr) {
  task_->model().train();
  last_grad_norm_ = torch::Tensor();
  for (auto& group : opt_->param_groups()) group.options().set_lr(lr);
  sync_->zero_grad();  // in place: .grad are views into GradSync's buckets
  torch::Tensor loss_sum;  // () float64 on the device: summed there, never read back here (no host sync)
  for (int a = 0; a < micro_batches; ++a) {
    const Batch batch = next();
    sync_->set_sync(a == micro_batches - 1);  // no_sync for all but the last micro-batch
    torch::Tensor loss;
    {
      AutocastScope autocast(cfg_.train.precision, task_->device());  // forward and loss; backward outside
      loss = task_->train_loss(batch).to(torch::kFloat32) / micro_batches * injected_loss_factor();  // factor: 1 unless a test injects
    }
    (loss * sync_->loss_scale()).backward();  // 1/world: gradients arrive averaged over ranks
    auto part = loss.detach().to(torch::kFloat64);
    loss_sum = loss_sum.defined() ? loss_sum + part : part;
  }
  sync_->finish();
  if (checks_each_step()) {  // else check_read_back() does it
    last_step_skipped_ = drop_nonfinite_step(loss_sum.item<double>());
    if (last_step_skipped_) return loss_sum;
  }
  if (cfg_.train.clip_grad > 0)
    last_grad_norm_ = clip_grad_norm_on_device(task_->model().parameters(), cfg_.train.clip_grad);
  else if (measure_grad_norm_)
    last_grad_norm_ = grad_norm_on_device(task_->model().parameters());
  opt_->step();
  if (ema_) ema_->update();
  return loss_sum;
}

EvalResult Trainer::evaluate(BatchSource& set) {
  AutocastScope autocast(cfg_.train.precision, task_->device());
  return rpct::evaluate(*task_, set, cfg_.train.eval_batch_size, dist_, watchdog_.get());
}

void Trainer::publish_progress_to(const std::string& dir) {
  if (!watchdog_) return;
  board_ = std::make_unique<ProgressBoard>(dir, dist_.rank(), dist_.world_size());
  // Every rank's file is reset (a previous attempt's progress must not count) before any of them can time out.
  dist_.barrier();
  watchdog_->set_progress_board(board_.get());
}

bool Trainer::checks_each_step() const {
  return cfg_.train.on_nonfinite == "skip" || !task_->device().is_cuda();
}

void Trainer::check_read_back(double loss_sum, int64_t checked_step, int64_t step) const {
  if (checks_each_step() || std::isfinite(loss_sum)) return;
  throw std::runtime_error("the loss is not finite at a step in " + std::to_string(checked_step + 1) + ".." +
                           std::to_string(step) + " on rank " + std::to_string(dist_.rank()) +
                           " (train.on_nonfinite = abort; on CUDA it is checked where the loss is read back, every "
                           "train.log_every steps, to keep the host from waiting for every step)");
}

bool Trainer::drop_nonfinite_step(double loss) {
  const bool bad_here = !std::isfinite(loss);
  const long long step = static_cast<long long>(sync_->step());
  if (cfg_.train.on_nonfinite == "abort") {
    if (bad_here)
      throw std::runtime_error(std::string("the loss is ") + (std::isnan(loss) ? "NaN" : loss > 0 ? "+inf" : "-inf") +
                               " at step " + std::to_string(step) + " on rank " +
                               std::to_string(dist_.rank()) +
                               " (train.on_nonfinite = abort; 'skip' would drop such steps on every rank)");
    return false;
  }
  // skip: every rank must take the same decision, so the count of bad ranks is all-reduced (one number a step).
  {
    Watchdog::Scope guard(watchdog_.get(), "non-finite loss check at step " + std::to_string(step),
                          "non-finite check of step " + std::to_string(step));
    if (dist_.allreduce_sum(bad_here ? 1.0 : 0.0) == 0) return false;
  }
  const auto bad = dist_.allgather_u64(bad_here ? 1 : 0);  // rare: only to name the ranks
  std::string ranks;
  for (int r = 0; r < dist_.world_size(); ++r)
    if (bad[r]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  if (dist_.is_root())
    log_info("step %lld skipped on every rank (train.on_nonfinite = skip): non-finite loss on rank(s) %s", step,
             ranks.c_str());
  return true;
}

const std::vector<torch::Tensor>& Trainer::ema_tensors() const {
  static const std::vector<torch::Tensor> kNone;
  return ema_ ? ema_->tensors() : kNone;
}

// ---------------------------------------------------------------------------------------------------
namespace {

// Which samples each optimizer step takes: this rank's share of a global batch of
// ranks x train.batch_size x train.accum_steps samples, from the distributed, resumable sampler; and how
// long the run is: train.epochs, or train.iters optimizer steps (the last epoch then possibly partial).
struct EpochPlan {
  EpochPlan(const Config& cfg, const DistContext& dist, int64_t n_train)
      : sampler(n_train, cfg.train.batch_size, dist.world_size(), dist.rank(), static_cast<uint64_t>(cfg.train.seed),
                /*shuffle=*/true, cfg.data.repeated_aug),
        n_train(n_train),
        accum(cfg.train.accum_steps),
        per_step(sampler.global_batch() * accum),
        steps_per_epoch(n_train / per_step),
        iters(cfg.train.iters),
        epochs(iters > 0 ? (iters + steps_per_epoch - 1) / steps_per_epoch : cfg.train.epochs) {
    TORCH_CHECK(steps_per_epoch > 0, "train: one optimizer step needs ", per_step,
                " samples (ranks x batch x accum), the training set has ", n_train);
  }
  int64_t steps_left(int64_t epoch_pos) const { return (n_train - epoch_pos) / per_step; }
  // The optimizer steps st's epoch still takes: to its end or, with train.iters, to the run's end.
  int64_t steps_to_take(const TrainState& st) const {
    const int64_t to_epoch_end = steps_left(st.epoch_pos);
    return iters > 0 ? std::clamp<int64_t>(iters - st.step, 0, to_epoch_end) : to_epoch_end;
  }
  bool finished(const TrainState& st) const { return iters > 0 ? st.step >= iters : st.epoch >= epochs; }
  // The LR of st's next optimizer step (trainer/lr_schedule.h).
  double lr(const TrainConfig& t, const TrainState& st) const {
    const double epoch_progress = st.epoch + static_cast<double>(st.epoch_pos) / n_train;
    return lr_at(t, schedule_position(t, steps_per_epoch, st.step, epoch_progress));
  }
  // This rank's micro-batches of the next `steps` steps from global position `pos`, in order (not const: the
  // sampler caches a permutation).
  std::vector<std::vector<int64_t>> micro_batches(int64_t epoch, int64_t pos, int64_t steps) {
    std::vector<std::vector<int64_t>> micro;
    for (int64_t s = 0; s < steps; ++s)
      for (int a = 0; a < accum; ++a)
        micro.push_back(sampler.batch_at(epoch, pos + s * per_step + a * sampler.global_batch()));
    return micro;
  }

  DistributedSampler sampler;
  int64_t n_train;
  int accum;
  int64_t per_step, steps_per_epoch;
  int64_t iters;   // train.iters: the run's length in optimizer steps; 0 = epochs
  int64_t epochs;  // the run's epochs (with iters: those it touches, the last possibly partial)
};

std::string format_metrics(const EvalResult& ev) {
  std::string out;
  char part[64];
  for (const auto& [name, v] : ev.metrics) {
    if (name == "loss")
      std::snprintf(part, sizeof(part), "%stest loss %.4f", out.empty() ? "" : " ", v);
    else
      std::snprintf(part, sizeof(part), "%s%s %.2f%%", out.empty() ? "" : " ", name.c_str(), 100 * v);
    out += part;
  }
  return out;
}

// What rank 0 tells the user (log lines, progress) and writes to metrics.jsonl; the run's TrainResult.
class RunReport {
 public:
  RunReport(const Config& cfg, const DistContext& dist, const std::string& run_dir)
      : cfg_(cfg), root_(dist.is_root()), t0_(std::chrono::steady_clock::now()) {
    result_.run_dir = run_dir;
    if (root_) metrics_ = JsonlWriter(run_dir + "/metrics.jsonl");
    if (root_ && cfg.train.tensorboard) events_ = EventsWriter(run_dir + "/tb");
  }

  // `resumed`: the position a resumed run starts from (step 0: a fresh run).
  void start(Trainer& trainer, const EpochPlan& plan, int64_t n_test, const DistContext& dist, const TrainState& resumed) {
    epochs_ = plan.epochs;
    if (!root_) return;
    // A resumed run's points continue the curve: TensorBoard drops what the earlier attempt logged after the
    // checkpoint (as a restarted metrics.jsonl's later records replace the earlier ones).
    if (events_.is_open() && resumed.step > 0) events_.session_start(resumed.step + 1);
    log_info("model: %s", trainer.task().describe().c_str());
    auto& sync = trainer.grad_sync();
    if (sync.active())
      log_info("dist: %d ranks, backend %s, %lld gradient buckets (first %.2f MB) all-reduced %s, watchdog %.0f s",
               dist.world_size(), sync.backend()->name().c_str(), static_cast<long long>(sync.num_buckets()),
               sync.bucket_bytes().front() / 1048576.0, sync.overlaps() ? "during backward" : "after backward",
               cfg_.dist.timeout_s);
    log_info("data: %lld train / %lld test images; %d ranks x batch %d x accum %d; %lld steps/epoch; threads %d",
             static_cast<long long>(plan.n_train), static_cast<long long>(n_test), dist.world_size(),
             cfg_.train.batch_size, plan.accum, static_cast<long long>(plan.steps_per_epoch), torch::get_num_threads());
    log_info("optimizer %s, lr %g, %s schedule to %g; %lld %s", cfg_.train.optimizer.c_str(), cfg_.train.lr,
             cfg_.train.schedule.c_str(), cfg_.train.min_lr,
             static_cast<long long>(plan.iters > 0 ? plan.iters : plan.epochs),
             plan.iters > 0 ? "iterations (train.iters)" : "epochs");
  }

  // `grad_norm`: NaN when not measured at this step.
  void step_done(const TrainState& st, double loss, double lr, double grad_norm) {
    if (!root_ || st.step % cfg_.train.log_every != 0) return;
    nlohmann::json rec = {{"kind", "step"}, {"step", st.step}, {"epoch", st.epoch + 1}, {"loss", loss}, {"lr", lr}};
    if (std::isfinite(grad_norm)) rec["grad_norm"] = grad_norm;
    record(rec);
  }

  void epoch_trained(double seconds, int64_t images) {
    train_seconds_ += seconds;
    images_ += images;
  }

  // At the end of st's epoch (or of the run, with train.iters), after its evaluation if it had one (`ev` empty:
  // none, train.eval_every; the result keeps the last one); `lr` that of the next step.
  void epoch_evaluated(const TrainState& st, double train_loss, const EvalResult& ev, const LoaderStats& ls,
                       double skipped, double lr) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const bool evaluated = !ev.metrics.empty();
    if (evaluated) result_.eval = ev;
    result_.train_loss = train_loss;
    result_.epochs = static_cast<int>(st.epoch + 1);
    result_.steps = st.step;
    result_.skipped_steps = st.skipped_steps;
    result_.seconds = elapsed;
    result_.images_per_s = train_seconds_ > 0 ? images_ / train_seconds_ : 0;
    if (!root_) return;
    log_info("epoch %lld/%lld: train loss %.4f | %s | %.0f img/s | loader %.0f img/s per worker, waited %.1f s, %.0f "
             "bad samples skipped | %lld steps skipped (non-finite loss) | %s",
             static_cast<long long>(st.epoch + 1), static_cast<long long>(epochs_), train_loss,
             evaluated ? format_metrics(ev).c_str() : "not evaluated (train.eval_every)",
             result_.images_per_s, ls.images_per_worker_second(), ls.wait_seconds, skipped,
             static_cast<long long>(st.skipped_steps), format_duration(elapsed).c_str());
    nlohmann::json rec = {{"kind", "epoch"}, {"epoch", st.epoch + 1}, {"step", st.step}, {"train_loss", train_loss}};
    for (const auto& [name, v] : ev.metrics) rec[name == "loss" ? "test_loss" : name] = v;
    rec.update({{"lr", lr},
                {"images_per_s", result_.images_per_s},
                {"skipped_samples", skipped},
                {"skipped_steps", st.skipped_steps},
                {"loader_wait_s", ls.wait_seconds},
                {"elapsed_s", elapsed}});
    record(rec, /*flush=*/true);
    if (evaluated) write_eval_files(ev, result_.run_dir);  // the latest evaluation's per-class table, if any
  }

  // The task's pictures of its evaluation after `step` (segmentation: image | ground truth | prediction of 4
  // fixed validation images) as TensorBoard image summaries test/prediction/<sample id>. Rank 0, TensorBoard on.
  bool wants_pictures() const { return events_.is_open(); }
  // Writes out the buffered TensorBoard events: before every checkpoint, so that whatever a resume starts from
  // is on disk (a crash loses only points after the checkpoint, which the resumed run logs again).
  void flush_events() {
    if (!events_.is_open()) return;
    events_.flush();
    last_flush_ = std::chrono::steady_clock::now();
  }
  void pictures(int64_t step, const std::vector<std::pair<std::string, Image>>& pictures) {
    for (const auto& [name, img] : pictures)
      events_.image(step, "test/prediction/" + name, img.height, img.width, img.channels, encode_png(img));
    if (!pictures.empty()) flush_events();
  }

  // A graceful stop after st's step: one line, a metrics record; the result (no model.safetensors: the run
  // is not finished, its checkpoint is what a resume takes).
  TrainResult stopped(const Trainer& trainer, const TrainState& st, const EpochPlan& plan, const std::string& by,
                      const std::string& checkpoint) {
    result_.stopped = true;
    result_.stop_signal = by;
    result_.checkpoint = checkpoint;
    result_.steps = st.step;
    result_.epochs = static_cast<int>(st.epoch);  // the epochs completed
    result_.skipped_steps = st.skipped_steps;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    result_.params_sha256 = params_sha256(trainer.params());
    if (root_) {
      const double done = 100.0 * static_cast<double>(st.epoch_pos) / static_cast<double>(plan.n_train);
      log_info("stopped by %s at step %lld (epoch %lld, %.0f%%); checkpoint %s; resume with --resume auto", by.c_str(),
               static_cast<long long>(st.step), static_cast<long long>(st.epoch + 1), done, checkpoint.c_str());
      record({{"kind", "stop"}, {"step", st.step}, {"epoch", st.epoch + 1}, {"signal", by},
              {"checkpoint", checkpoint}, {"elapsed_s", result_.seconds}},
             /*flush=*/true);
    }
    return result_;
  }

  // The final parameters' hash; rank 0 writes <run_dir>/model.safetensors (parameters + buffers).
  TrainResult finish(const Trainer& trainer) {
    result_.params_sha256 = params_sha256(trainer.params());
    flush_events();
    if (root_) {
      NamedTensors weights = trainer.params();
      for (const auto& b : trainer.buffers()) weights.push_back(b);
      write_safetensors(result_.run_dir + "/model.safetensors", weights, {{"format", "rpctrain"}});
    }
    return result_;
  }

 private:
  // One metrics.jsonl record, and its TensorBoard scalars (metrics.h tensorboard_scalars), flushed at least
  // every kEventsFlushSeconds and when `flush` (epoch ends, the run's end), so TensorBoard follows a live run.
  void record(const nlohmann::json& rec, bool flush = false) {
    metrics_.write(rec);
    if (!events_.is_open()) return;
    const int64_t step = rec.value("step", int64_t{0});
    for (const auto& [tag, value] : tensorboard_scalars(rec)) events_.scalar(step, tag, value);
    constexpr double kEventsFlushSeconds = 5;
    const auto now = std::chrono::steady_clock::now();
    if (flush || std::chrono::duration<double>(now - last_flush_).count() >= kEventsFlushSeconds) flush_events();
  }

  const Config& cfg_;
  bool root_;
  std::chrono::steady_clock::time_point t0_;
  JsonlWriter metrics_;
  EventsWriter events_;
  std::chrono::steady_clock::time_point last_flush_;
  double train_seconds_ = 0;
  int64_t images_ = 0;
  int64_t epochs_ = 0;
  TrainResult result_;
};

// The state to start from: fresh, or loaded from the checkpoint `resume` names (into the trainer's tensors).
TrainState resume_state(Checkpointer& ckpt, Trainer& trainer, const std::string& resume, const DistContext& dist) {
  if (resume.empty()) return {};
  auto loaded = ckpt.load(resume, trainer.params(), trainer.buffers(), trainer.ema_tensors(), trainer.optimizer());
  if (!loaded) {
    if (dist.is_root())
      log_info("resume %s: no complete checkpoint under %s; starting from scratch", resume.c_str(),
               ckpt.ckpt_root().c_str());
    return {};
  }
  const TrainState& st = loaded->state;
  if (dist.is_root())
    log_info("resumed from %s: step %lld, epoch %lld, position %lld (saved by %d ranks, now %d)", loaded->dir.c_str(),
             static_cast<long long>(st.step), static_cast<long long>(st.epoch + 1),
             static_cast<long long>(st.epoch_pos), loaded->world_size, dist.world_size());
  return st;
}

// Everything one run's loop works with: the pieces train() sets up, and the position (st) it advances.
struct RunLoop {
  const Config& cfg;
  DistContext& dist;
  Trainer& trainer;
  DataLoader& loader;
  BatchSource& test_set;
  EpochPlan& plan;
  Checkpointer& ckpt;
  RunReport& report;
  GracefulStop& stop;
  TrainState st;

  std::string save_checkpoint();
  struct EpochOutcome {
    int64_t skipped = 0;  // bad samples this rank skipped
    std::string stopped_by;  // non-empty: the ranks agreed to stop (GracefulStop::agree), checkpoint written
    std::string checkpoint;
  };
  EpochOutcome run_epoch();
  std::string end_epoch(int64_t skipped);
  bool stop_between_epochs();
};

std::string RunLoop::save_checkpoint() {
  report.flush_events();
  // Its barriers wait for every rank (and for rank 0's writes, seconds even for large models).
  Watchdog::Scope guard(trainer.watchdog(), "checkpoint at step " + std::to_string(st.step),
                        "checkpoint at step " + std::to_string(st.step));
  const auto dir = ckpt.save(trainer.params(), trainer.buffers(), trainer.ema_tensors(), trainer.optimizer(), st);
  if (dist.is_root()) log_info("checkpoint %s", dir.c_str());
  return dir;
}

// Trains from st's position to the end of its epoch, or of the run with train.iters (checkpoints every
// ckpt.every_steps on the way), or to the step after which the ranks agreed to stop (their votes ride on
// the step's all-reduce): then with a checkpoint of that step.
RunLoop::EpochOutcome RunLoop::run_epoch() {
  const auto& t = cfg.train;
  const int64_t epoch = st.epoch, steps = plan.steps_to_take(st);
  loader.start_epoch(epoch, plan.micro_batches(epoch, st.epoch_pos, steps));
  EpochOutcome out;
  auto next_micro_batch = [&] {
    Batch b = loader.next();
    trace_samples(dist.rank(), epoch, st.step, b.indices);
    out.skipped += b.skipped;
    return b;
  };
  Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(plan.epochs), steps, dist.is_root());
  // The losses stay on the device (float64, the same sums the host would form) and are read back only
  // where they are shown or saved: every train.log_every steps, at checkpoints and at the epoch's end.
  const auto loss_options = torch::TensorOptions(torch::kFloat64).device(trainer.task().device());
  torch::Tensor epoch_loss_sum = torch::scalar_tensor(st.epoch_loss_sum, loss_options);  // ()
  double shown_loss = std::numeric_limits<double>::quiet_NaN();  // the last loss read back
  double grad_norm = std::numeric_limits<double>::quiet_NaN();   // the last step's, when read back
  int64_t checked_step = st.step;  // the loss sum is known finite up to here
  const auto t0 = std::chrono::steady_clock::now();
  stop.set_step(st.step);
  for (int64_t s = 0; s < steps; ++s) {
    maybe_inject_fault(dist.rank(), st.step);
    const double lr = plan.lr(t, st);
    trainer.grad_sync().set_step(st.step);  // named by the watchdog
    trainer.measure_grad_norm((st.step + 1) % t.log_every == 0);  // the steps report.step_done logs
    const torch::Tensor loss = trainer.step_device_loss(plan.accum, next_micro_batch, lr);  // ()
    ++st.step;
    stop.set_step(st.step);
    ++st.epoch_steps;
    st.epoch_pos += plan.per_step;
    if (trainer.last_step_skipped()) {
      ++st.skipped_steps;
      ++st.epoch_skipped;
    } else {
      epoch_loss_sum.add_(loss);
    }
    const bool last = s + 1 == steps;  // of the epoch or the run: end_epoch checkpoints it
    const bool stop_now = trainer.grad_sync().votes() > 0;  // the same on every rank
    const bool checkpoint_now = (cfg.ckpt.every_steps > 0 && st.step % cfg.ckpt.every_steps == 0 && !last) || stop_now;
    if (s == 0 || st.step % t.log_every == 0 || (s + 1) % t.log_every == 0 || last || checkpoint_now) {
      // The host waits here for every step queued since the last read, all-reduces included.
      Watchdog::Scope guard(trainer.watchdog(),
                            "loss read-back at step " + std::to_string(st.step) + " (waits for the queued steps)",
                            "loss read-back of step " + std::to_string(st.step));
      shown_loss = loss.item<double>();
      const torch::Tensor& norm = trainer.last_grad_norm();
      grad_norm = norm.defined() ? norm.item<double>() : std::numeric_limits<double>::quiet_NaN();
      st.epoch_loss_sum = epoch_loss_sum.item<double>();
      trainer.check_read_back(st.epoch_loss_sum, checked_step, st.step);
      checked_step = st.step;
    }
    progress.update(s + 1, (s + 1) * plan.per_step, shown_loss, lr, t.log_every);
    report.step_done(st, shown_loss, lr, grad_norm);
    if (stop_now) {
      out.stopped_by = stop.agree();
      maybe_inject_fault(dist.rank(), st.step, "stop");  // tests: a stop whose checkpoint hangs
    }
    if (checkpoint_now) out.checkpoint = save_checkpoint();
    if (stop_now) {
      stop.finish();
      progress.finish();
      return out;
    }
  }
  st.epoch_loss_sum = epoch_loss_sum.item<double>();
  progress.finish();
  report.epoch_trained(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                       steps * plan.per_step);
  return out;
}

// After an epoch's steps, or the run's last step with train.iters (possibly mid-epoch): the epoch's mean
// loss over ranks, evaluation, best metric, report; then st moves to the start of the next epoch (unless
// the run stopped mid-epoch), which the epoch-end checkpoint (ckpt.epoch_end) records. `skipped`: the bad
// samples this rank skipped in the epoch. Returns the epoch-end checkpoint's directory ("" when
// ckpt.epoch_end is off).
std::string RunLoop::end_epoch(int64_t skipped) {
  double train_loss = 0, skipped_all = 0;
  {
    // One watched reduction for both sums: an unwatched collective here would hang on a stopped peer.
    Watchdog::Scope guard(trainer.watchdog(), "metrics reduction after epoch " + std::to_string(st.epoch + 1),
                          "metrics of epoch " + std::to_string(st.epoch + 1));
    const std::vector<double> sums = dist.allreduce_sum(std::vector<double>{st.epoch_loss_sum, static_cast<double>(skipped)});
    train_loss = sums[0] / dist.world_size() /
                 std::max<int64_t>(1, st.epoch_steps - st.epoch_skipped);  // mean over the steps that updated
    skipped_all = sums[1];
  }
  const TrainState ended = st;
  if (plan.steps_left(st.epoch_pos) == 0) {  // else the run stopped mid-epoch (train.iters)
    st.epoch += 1;
    st.epoch_pos = st.epoch_steps = st.epoch_skipped = 0;
    st.epoch_loss_sum = 0;
  }
  // train.eval_every: every k-th epoch and always the run's last (mmseg's evaluation interval).
  const int every = cfg.train.eval_every;
  EvalResult ev;  // empty: not evaluated this time
  if (plan.finished(st) || (every > 0 && (ended.epoch + 1) % every == 0)) {
    maybe_inject_fault(dist.rank(), st.step, "eval");  // tests: a signal as the evaluation starts
    ev = trainer.evaluate(test_set);
    constexpr int kPictures = 4;  // segmentation: fixed validation images shown in TensorBoard
    if (report.wants_pictures()) report.pictures(st.step, trainer.task().eval_pictures(test_set, kPictures));
    if (ev.primary_value() > st.best_metric) {
      st.best_metric = ev.primary_value();
      st.best_step = st.step;
    }
  }
  report.epoch_evaluated(ended, train_loss, ev, loader.stats(), skipped_all, plan.lr(cfg.train, st));
  return cfg.ckpt.epoch_end ? save_checkpoint() : "";
}

// Between epochs (after the evaluation and the epoch-end checkpoint, which a signal lets finish): whether
// any rank was asked to stop. Collective: one watched reduction per epoch.
bool RunLoop::stop_between_epochs() {
  Watchdog::Scope guard(trainer.watchdog(), "stop check after epoch " + std::to_string(st.epoch),
                        "stop check after epoch " + std::to_string(st.epoch));
  return dist.allreduce_sum(GracefulStop::requested() ? 1.0 : 0.0) > 0;
}

}  // namespace

TrainResult train(const Config& cfg, DistContext& dist, const std::string& run_dir, const std::string& resume) {
  GracefulStop stop(cfg, dist, run_dir);  // from here on a stop signal stops the run at a step boundary
  configure_runtime(cfg, dist);
  Checkpointer ckpt(run_dir, cfg, dist);
  if (cfg.ckpt.epoch_end || cfg.ckpt.every_steps > 0) ckpt.check_writable();  // before any data or training
  auto train_set = make_batch_source(cfg, /*train=*/true);
  auto test_set = make_batch_source(cfg, /*train=*/false);
  DataLoader loader(train_set, cfg.data.workers, cfg.data.prefetch);
  Trainer trainer(cfg, dist, make_task(cfg, pick_device(cfg, dist)));
  seed_training_rng(cfg, dist);  // after the start-up broadcast: ranks draw their own dropout masks
  trainer.publish_progress_to(run_dir + "/progress");  // the watchdog names ranks that never arrive
  TrainState st = resume_state(ckpt, trainer, resume, dist);
  EpochPlan plan(cfg, dist, train_set->size());
  RunReport report(cfg, dist, run_dir);
  RunLoop loop{cfg, dist, trainer, loader, *test_set, plan, ckpt, report, stop, st};
  report.start(trainer, plan, test_set->size(), dist, st);
  while (!plan.finished(loop.st)) {
    const RunLoop::EpochOutcome epoch = loop.run_epoch();
    if (!epoch.stopped_by.empty()) return report.stopped(trainer, loop.st, plan, epoch.stopped_by, epoch.checkpoint);
    std::string checkpoint = loop.end_epoch(epoch.skipped);
    if (!plan.finished(loop.st) && loop.stop_between_epochs()) {
      const std::string by = stop.agree();
      if (checkpoint.empty()) checkpoint = loop.save_checkpoint();
      stop.finish();
      return report.stopped(trainer, loop.st, plan, by, checkpoint);
    }
  }
  stop.finish();
  return report.finish(trainer);
}

}  // namespace rpct

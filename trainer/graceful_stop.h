// A run's graceful stop: SIGTERM, SIGINT, SIGUSR1 or run.stop_signal (core/stop_signal.h) asks every rank
// to stop at the same optimizer step, write a checkpoint and exit with kExitStopped (3), resumable with
// --resume auto. The ranks agree through the step's gradient all-reduce, which carries one vote per rank
// (GradSync's carry_votes): a signal that reached only some ranks, or reached them at different steps,
// still stops every rank after the same step. Evaluation and a checkpoint write in progress finish first.
// The budget: run.stop_grace_s from the signal (on a rank that got none, from the agreement) to a written
// checkpoint; past it the rank exits without one (the previous checkpoint stays valid) and says so.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/stop_signal.h"
#include "distributed/dist_context.h"
#include "trainer/config.h"

namespace rpct {

class GracefulStop {
 public:
  // Installs the signal handlers and starts the deadline's watcher thread; `run_dir` is named in messages.
  GracefulStop(const Config& cfg, const DistContext& dist, std::string run_dir);
  ~GracefulStop();  // stops the watcher, restores the previous handlers
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  // This rank's vote: a stop signal arrived (the vote source of GradSync).
  static bool requested() { return stop_signal() != 0; }
  // The optimizer steps done so far, named if the deadline passes.
  void set_step(int64_t step) { step_.store(step); }
  // Collective, called by every rank once the votes said stop: starts this rank's deadline if no signal
  // reached it and returns what stopped the run, e.g. "SIGTERM" or "SIGUSR1 on rank 1 (none on rank 0)".
  std::string agree();
  // The stop's checkpoint is written: the deadline no longer applies.
  void finish();

 private:
  void watch();
  [[noreturn]] void exit_without_checkpoint(const std::string& what);

  const DistContext& dist_;
  std::string run_dir_;
  double grace_s_;
  StopSignals signals_;
  std::atomic<int64_t> step_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool finished_ = false;
  std::optional<std::chrono::steady_clock::time_point> agreed_at_;
  std::thread watcher_;
};

}  // namespace rpct

#include "trainer/graceful_stop.h"

#include <cstdio>
#include <map>
#include <vector>

#include "core/json_result.h"
#include "core/log.h"

namespace rpct {

namespace {
// How often the watcher looks at the signal flag and the clock: the budget is met to within this.
constexpr auto kWatchInterval = std::chrono::milliseconds(50);
}  // namespace

GracefulStop::GracefulStop(const Config& cfg, const DistContext& dist, std::string run_dir)
    : dist_(dist),
      run_dir_(std::move(run_dir)),
      grace_s_(cfg.run.stop_grace_s),
      signals_(signal_from_name(cfg.run.stop_signal)),
      watcher_([this] { watch(); }) {}

GracefulStop::~GracefulStop() {
  finish();
  watcher_.join();
}

std::string GracefulStop::agree() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!agreed_at_) agreed_at_ = std::chrono::steady_clock::now();
  }
  const auto got = dist_.allgather_u64(static_cast<uint64_t>(stop_signal()));
  std::map<uint64_t, std::vector<int>> ranks_of;  // signal -> the ranks it reached (0: none)
  for (int r = 0; r < static_cast<int>(got.size()); ++r) ranks_of[got[r]].push_back(r);
  if (ranks_of.size() == 1) return signal_name(static_cast<int>(got[0]));  // the same on every rank
  const auto on_ranks = [](const std::vector<int>& ranks) {
    std::string list;
    for (int r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
    return (ranks.size() > 1 ? "ranks " : "rank ") + list;
  };
  std::string what;  // "SIGTERM on rank 1, SIGUSR1 on rank 2 (none on ranks 0, 3)"
  for (const auto& [sig, ranks] : ranks_of)
    if (sig != 0) what += (what.empty() ? "" : ", ") + signal_name(static_cast<int>(sig)) + " on " + on_ranks(ranks);
  if (ranks_of.count(0)) what += " (none on " + on_ranks(ranks_of[0]) + ")";
  return what;
}

void GracefulStop::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  wake_.notify_all();
}

void GracefulStop::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!finished_) {
    wake_.wait_for(lock, kWatchInterval);
    if (finished_) return;
    double waited = 0;  // since the signal, or (a rank that got none) since the agreement
    if (stop_signal() != 0)
      waited = seconds_since_stop_signal();
    else if (agreed_at_)
      waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - *agreed_at_).count();
    else
      continue;
    if (waited >= grace_s_) {
      lock.unlock();
      exit_without_checkpoint(stop_signal() != 0 ? signal_name(stop_signal()) : "the other ranks' stop");
    }
  }
}

void GracefulStop::exit_without_checkpoint(const std::string& what) {
  const long long step = static_cast<long long>(step_.load());
  std::fflush(stdout);
  std::fprintf(stderr,
               "rank %d: stop (%s) not complete within run.stop_grace_s = %g s at step %lld: exiting without a "
               "checkpoint of this step; the newest complete checkpoint in %s/ckpt stays valid (resume with "
               "--resume auto)\n",
               dist_.rank(), what.c_str(), grace_s_, step, run_dir_.c_str());
  std::fflush(stderr);
  if (dist_.is_root())
    print_result({{"cmd", "train"}, {"ok", true}, {"stopped", true}, {"stop_signal", what}, {"step", step},
                  {"checkpoint", nullptr}, {"run_dir", run_dir_}});
  std::_Exit(kExitStopped);  // no destructors, no MPI_Finalize: other threads may be inside the step
}

}  // namespace rpct

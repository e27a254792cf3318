#include "distributed/watchdog.h"

#include <algorithm>
#include <cstdio>

#include "distributed/dist_context.h"
#include "distributed/progress_board.h"

namespace rpct {

Watchdog::Watchdog(const DistContext& dist, double timeout_s)
    : dist_(dist), timeout_s_(timeout_s), thread_([this] { loop(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::set_progress_board(ProgressBoard* board) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    board_ = board;
  }
  cv_.notify_all();  // start the heartbeat
}

int64_t Watchdog::arrive(const std::string& where) {
  std::lock_guard<std::mutex> lock(mu_);
  return board_ ? board_->arrive(where) : 0;
}

void Watchdog::arm(const std::string& what, int64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    what_ = what;
    seq_ = seq;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                       std::chrono::duration<double>(timeout_s_));
  }
  cv_.notify_all();
}

void Watchdog::set_on_timeout(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_timeout_ = std::move(fn);
}

void Watchdog::disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = false;
}

namespace {

// The heartbeat period, a fraction of the timeout (fine enough to tell a silent rank from a waiting one well
// before the timeout, coarse enough to cost nothing: a pwrite per period), and when a rank counts as silent.
constexpr double kHeartbeatFraction = 0.1, kMinHeartbeatS = 0.05, kMaxHeartbeatS = 5.0;
constexpr double kSilentPeriods = 3;  // missed beats (the beating thread may wait for a core on a busy node)

double heartbeat_period_s(double timeout_s) {
  return std::min(kMaxHeartbeatS, std::max(kMinHeartbeatS, kHeartbeatFraction * timeout_s));
}

}  // namespace

void Watchdog::loop() {
  using Clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(heartbeat_period_s(timeout_s_)));
  std::unique_lock<std::mutex> lock(mu_);
  auto next_beat = Clock::now();
  while (!stop_) {
    const auto now = Clock::now();
    if (board_ && now >= next_beat) {
      board_->heartbeat();
      next_beat = now + period;
    }
    if (armed_ && now >= deadline_) abort_job();
    auto wake = board_ ? next_beat : Clock::time_point::max();
    if (armed_) wake = std::min(wake, deadline_);
    if (wake == Clock::time_point::max())
      cv_.wait(lock);  // woken by arm(), set_progress_board() or the destructor
    else
      cv_.wait_until(lock, wake);
  }
}

void Watchdog::abort_job() {
  std::string culprits = "a peer rank is dead, stuck or out of step";
  if (board_ && seq_ > 0)
    culprits = describe_culprits(board_->read_all(), seq_, kSilentPeriods * heartbeat_period_s(timeout_s_));
  char msg[1024];
  std::snprintf(msg, sizeof(msg), "rank %d (%s): watchdog: %s did not finish within dist.timeout_s = %.1f s; %s. "
                "Aborting the job.", dist_.rank(), dist_.host().c_str(), what_.c_str(), timeout_s_, culprits.c_str());
  if (on_timeout_) on_timeout_();  // e.g. ncclCommAbort, so a collective stuck on the GPU releases its communicator
  dist_.abort_all(msg, kExitWatchdog);
}

}  // namespace rpct

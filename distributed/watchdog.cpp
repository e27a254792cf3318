#include "distributed/watchdog.h"

#include <cstdio>

#include "distributed/dist_context.h"

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

void Watchdog::arm(const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = true;
    what_ = what;
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

void Watchdog::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!armed_) {
      cv_.wait(lock, [this] { return stop_ || armed_; });
      continue;
    }
    const auto deadline = deadline_;
    if (cv_.wait_until(lock, deadline, [&] { return stop_ || !armed_ || deadline_ != deadline; })) continue;
    char msg[512];
    std::snprintf(msg, sizeof(msg),
                  "rank %d (%s): watchdog: %s did not finish within dist.timeout_s = %.1f s; a peer rank is dead, "
                  "stuck or out of step. Aborting the job.",
                  dist_.rank(), dist_.host().c_str(), what_.c_str(), timeout_s_);
    if (on_timeout_) on_timeout_();
    dist_.abort_all(msg, 3);
  }
}

}  // namespace rpct

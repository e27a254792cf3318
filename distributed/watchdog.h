// Watchdog for collectives (Horovod's stall inspector is the model): a collective that does not
// finish within the timeout aborts the whole job with a message naming the rank, what was
// waited for (bucket, step) and the timeout — so a dead or stuck rank never hangs the others.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace rpct {

class DistContext;

class Watchdog {
 public:
  Watchdog(const DistContext& dist, double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts timing `what` (e.g. "all-reduce of bucket 3 at step 17"); disarm() when it finished.
  void arm(const std::string& what);
  void disarm();
  double timeout_s() const { return timeout_s_; }
  // Runs on a timeout before the job is aborted, e.g. ncclCommAbort so a collective stuck on the GPU
  // releases its communicator. Set before arming.
  void set_on_timeout(std::function<void()> fn);

  // RAII arm/disarm.
  struct Scope {
    Scope(Watchdog* w, const std::string& what) : w_(w) {
      if (w_) w_->arm(what);
    }
    ~Scope() {
      if (w_) w_->disarm();
    }
    Watchdog* w_;
  };

 private:
  void loop();
  const DistContext& dist_;
  double timeout_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  std::string what_;
  std::function<void()> on_timeout_;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace rpct

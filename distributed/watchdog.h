// Watchdog for collectives (Horovod's stall inspector is the model): a collective that does not
// finish within the timeout aborts the whole job with a message naming the rank, what was
// waited for (bucket, step) and the timeout — so a dead or stuck rank never hangs the others. With a
// ProgressBoard (distributed/progress_board.h) every watched collective is numbered as it is entered, and the
// message also names the rank(s) that never entered it or stopped responding inside it, read from the board
// without any MPI call; the watchdog thread writes this rank's heartbeat there (a tenth of the timeout apart).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace rpct {

class DistContext;
class ProgressBoard;

// The exit code of a job the watchdog aborted (MPI_Abort): distinct from a graceful stop's 3, so a launcher
// restarts it.
constexpr int kExitWatchdog = 4;

class Watchdog {
 public:
  Watchdog(const DistContext& dist, double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // This rank enters a watched collective (every rank enters the same ones in the same order); `where`
  // describes it briefly ("bucket 0 of step 2"). Returns its number on the board (0 without a board).
  int64_t arrive(const std::string& where);
  // Starts timing `what` (e.g. "all-reduce of bucket 3 at step 17"), collective number `seq` (from arrive();
  // 0: unknown); disarm() when it finished.
  void arm(const std::string& what, int64_t seq = 0);
  void disarm();
  double timeout_s() const { return timeout_s_; }
  // Runs on a timeout before the job is aborted, e.g. ncclCommAbort so a collective stuck on the GPU
  // releases its communicator. Set before arming.
  void set_on_timeout(std::function<void()> fn);
  // The board the ranks publish their progress to (not owned; null: no rank names in the message). Set it
  // on every rank before the first watched collective.
  void set_progress_board(ProgressBoard* board);

  // RAII arm/disarm of one collective: entered now (arrive(where)), or entered earlier as number `seq`
  // (a bucket's all-reduce launched during backward).
  struct Scope {
    Scope(Watchdog* w, const std::string& what, const std::string& where) : w_(w) {
      if (w_) w_->arm(what, w_->arrive(where));
    }
    Scope(Watchdog* w, const std::string& what, int64_t seq) : w_(w) {
      if (w_) w_->arm(what, seq);
    }
    ~Scope() {
      if (w_) w_->disarm();
    }
    Watchdog* w_;
  };

 private:
  void loop();
  [[noreturn]] void abort_job();  // with mu_ held: the message, then DistContext::abort_all
  const DistContext& dist_;
  double timeout_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, stop_ = false;
  std::string what_;
  std::function<void()> on_timeout_;
  int64_t seq_ = 0;
  ProgressBoard* board_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  std::thread thread_;
};

}  // namespace rpct

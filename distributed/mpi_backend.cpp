// MPI backend for CPU tensors, on a communicator of its own (MPI_Comm_dup). Asynchronous
// all-reduces run as blocking MPI_Allreduce calls, in launch order, on a dedicated comm thread
// (when MPI provides MPI_THREAD_MULTIPLE): Open MPI's non-blocking MPI_Iallreduce (libnbc) was
// 2.5x slower than its tuned blocking MPI_Allreduce for a 23 MB buffer on this machine, and it only
// progresses inside MPI calls, so it would not overlap with backward anyway. Without
// THREAD_MULTIPLE it falls back to MPI_Iallreduce.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "distributed/backend.h"
#include "distributed/dist_context.h"
#include <mpi.h>

#include "core/check.h"

namespace rpct {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return MPI_FLOAT;
    case torch::kFloat64: return MPI_DOUBLE;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default:
      TORCH_CHECK(false, "MPI backend: unsupported dtype ", t.scalar_type(), " (float32, float64, int32, int64, uint8)");
  }
}

class MpiWork : public CommWork {
 public:
  explicit MpiWork(MPI_Request req) : req_(req) {}
  ~MpiWork() override {
    if (req_ != MPI_REQUEST_NULL) MPI_Request_free(&req_);
  }
  bool test() override {
    if (req_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    RPCT_MPI(MPI_Test(&req_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }
  void wait() override {
    // Called after backward, when there is nothing left to overlap: MPI_Wait drives progress at
    // full speed (polling MPI_Test with sleeps in between made a 23 MB all-reduce 6x slower).
    if (req_ != MPI_REQUEST_NULL) RPCT_MPI(MPI_Wait(&req_, MPI_STATUS_IGNORE));
  }

 private:
  MPI_Request req_;
};

// A collective queued to the comm thread; done when the thread ran it (or failed).
struct ThreadWorkState {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
};

class ThreadWork : public CommWork {
 public:
  explicit ThreadWork(std::shared_ptr<ThreadWorkState> s) : s_(std::move(s)) {}
  bool test() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    return s_->done;
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(s_->mu);
    s_->cv.wait(lock, [&] { return s_->done; });
    if (s_->error) std::rethrow_exception(s_->error);
  }

 private:
  std::shared_ptr<ThreadWorkState> s_;
};

class MpiBackend : public CommBackend {
 public:
  explicit MpiBackend(const DistContext&) {
    RPCT_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    int level = 0;
    RPCT_MPI(MPI_Query_thread(&level));
    if (level == MPI_THREAD_MULTIPLE) thread_ = std::thread([this] { comm_loop(); });
  }
  ~MpiBackend() override {
    if (thread_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      thread_.join();
    }
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&comm_);
  }
  std::string name() const override { return thread_.joinable() ? "mpi (comm thread)" : "mpi"; }

  std::unique_ptr<CommWork> allreduce_sum_async(torch::Tensor buf) override {
    check(buf);
    if (thread_.joinable()) {
      auto state = std::make_shared<ThreadWorkState>();
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back([this, buf, state] {
          try {
            allreduce_sum(buf);
          } catch (...) {
            state->error = std::current_exception();
          }
          {
            std::lock_guard<std::mutex> l(state->mu);
            state->done = true;
          }
          state->cv.notify_all();
        });
      }
      cv_.notify_all();
      return std::make_unique<ThreadWork>(state);
    }
    MPI_Request req;
    RPCT_MPI(MPI_Iallreduce(MPI_IN_PLACE, buf.data_ptr(), count(buf), mpi_type(buf), MPI_SUM, comm_, &req));
    return std::make_unique<MpiWork>(req);
  }
  void allreduce_sum(torch::Tensor buf) override {
    check(buf);
    RPCT_MPI(MPI_Allreduce(MPI_IN_PLACE, buf.data_ptr(), count(buf), mpi_type(buf), MPI_SUM, comm_));
  }
  void broadcast(torch::Tensor buf, int root) override {
    check(buf);
    RPCT_MPI(MPI_Bcast(buf.data_ptr(), count(buf), mpi_type(buf), root, comm_));
  }

 private:
  static void check(const torch::Tensor& t) {
    TORCH_CHECK(t.device().is_cpu(), "MPI backend: CPU tensors only, got ", t.device());
    TORCH_CHECK(t.is_contiguous(), "MPI backend: tensor must be contiguous");
    TORCH_CHECK(t.numel() <= std::numeric_limits<int>::max(), "MPI backend: tensor too large for one call");
  }
  static int count(const torch::Tensor& t) { return static_cast<int>(t.numel()); }
  void comm_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and nothing left
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }
  MPI_Comm comm_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
};

}  // namespace

std::unique_ptr<CommBackend> make_mpi_backend(const DistContext& dist) { return std::make_unique<MpiBackend>(dist); }

}  // namespace rpct

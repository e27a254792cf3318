// MPI backend for CPU tensors: MPI_Iallreduce on a communicator of its own (MPI_Comm_dup).
#include <chrono>
#include <thread>

#include "distributed/backend.h"
#include "distributed/dist_context.h"
#include "distributed/mpi_check.h"

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
    // Poll with short sleeps rather than MPI_Wait: Open MPI's wait spins a core, which on a
    // 2-core machine running 2 ranks steals the CPU that backward is computing on.
    while (!test()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }

 private:
  MPI_Request req_;
};

class MpiBackend : public CommBackend {
 public:
  explicit MpiBackend(const DistContext&) { RPCT_MPI(MPI_Comm_dup(MPI_COMM_WORLD, &comm_)); }
  ~MpiBackend() override {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Comm_free(&comm_);
  }
  std::string name() const override { return "mpi"; }

  std::unique_ptr<CommWork> allreduce_sum_async(torch::Tensor buf) override {
    check(buf);
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
  MPI_Comm comm_;
};

}  // namespace

std::unique_ptr<CommBackend> make_mpi_backend(const DistContext& dist) { return std::make_unique<MpiBackend>(dist); }

std::unique_ptr<CommBackend> make_backend(const DistContext& dist, const torch::Device& device) {
  if (device.is_cpu()) return make_mpi_backend(dist);
#ifdef RPCT_WITH_CUDA
  if (device.is_cuda()) return make_nccl_backend(dist, device.has_index() ? device.index() : dist.local_rank());
#endif
  TORCH_CHECK(false, "rank ", dist.rank(), ": no collective backend for device ", device,
              " (CUDA tensors need a build with RPCT_WITH_CUDA)");
}

}  // namespace rpct

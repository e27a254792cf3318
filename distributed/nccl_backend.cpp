// NCCL backend for CUDA tensors (built only with RPCT_WITH_CUDA). Rank 0 creates the ncclUniqueId,
// MPI broadcasts it (through DistContext), every rank ncclCommInitRank's (GradSync runs this under its
// watchdog). Each all-reduce runs on a dedicated comm stream ordered after the caller's compute stream
// by an event; CommWork::wait orders the compute stream after the all-reduce's event, without blocking
// the host (llm.c / DDP style). The buffer is kept alive by the work and recorded on the comm stream,
// so the caching allocator never hands its memory out while NCCL still reads or writes it.
// Errors: every host-side poll checks ncclCommGetAsyncError (a failed peer or network error becomes an
// exception naming the rank, after ncclCommAbort); the watchdog's timeout calls abort() = ncclCommAbort.
#ifdef RPCT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/check.h"
#include "distributed/backend.h"
#include "distributed/dist_context.h"

namespace rpct {
namespace {

// Host-side poll interval while waiting for a blocking NCCL call (start-up broadcast, the benchmark's
// blocking all-reduce): short next to a collective, long enough not to burn a core.
constexpr auto kHostPollInterval = std::chrono::microseconds(50);

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kInt32: return ncclInt32;
    case torch::kInt64: return ncclInt64;
    case torch::kUInt8: return ncclUint8;
    default: TORCH_CHECK(false, "NCCL backend: unsupported dtype ", t.scalar_type());
  }
}

// The communicator and what every poll needs to name: shared by the backend and its works.
struct NcclComm {
  ncclComm_t comm = nullptr;
  int rank = 0;
  std::atomic<bool> aborted{false};

  // Throws (after ncclCommAbort) if NCCL reported an asynchronous error on this communicator.
  void check_async_error() {
    if (aborted.load()) throw std::runtime_error("rank " + std::to_string(rank) + ": NCCL communicator was aborted");
    ncclResult_t async = ncclSuccess;
    RPCT_NCCL(ncclCommGetAsyncError(comm, &async));
    if (async == ncclSuccess || async == ncclInProgress) return;
    abort();
    throw std::runtime_error("rank " + std::to_string(rank) + ": NCCL asynchronous error: " + ncclGetErrorString(async) +
                             " (communicator aborted; a peer rank failed or the network broke)");
  }
  void abort() {
    if (!aborted.exchange(true)) ncclCommAbort(comm);
  }
  // Blocks the host until `event` completed, polling NCCL's asynchronous error state meanwhile.
  void host_wait(cudaEvent_t event) {
    for (;;) {
      const cudaError_t e = cudaEventQuery(event);
      if (e == cudaSuccess) return;
      if (e != cudaErrorNotReady) RPCT_CUDA(e);
      check_async_error();
      std::this_thread::sleep_for(kHostPollInterval);
    }
  }
};

cudaEvent_t record_event(cudaStream_t stream) {
  cudaEvent_t ev;
  RPCT_CUDA(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  RPCT_CUDA(cudaEventRecord(ev, stream));
  return ev;
}

// Makes `device` current and returns a high-priority stream of LibTorch's pool on it for the collectives.
c10::cuda::CUDAStream comm_stream_on(int device) {
  RPCT_CUDA(cudaSetDevice(device));
  return c10::cuda::getStreamFromPool(/*isHighPriority=*/true, static_cast<c10::DeviceIndex>(device));
}

class NcclWork : public CommWork {
 public:
  // `buf` is held until the work is destroyed: the all-reduce may still use it after the caller let go.
  NcclWork(cudaEvent_t done, torch::Tensor buf, std::shared_ptr<NcclComm> comm)
      : done_(done), buf_(std::move(buf)), comm_(std::move(comm)) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  bool test() override {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaSuccess) return true;
    if (e != cudaErrorNotReady) RPCT_CUDA(e);
    comm_->check_async_error();
    return false;
  }
  void wait() override {
    // Later work on the caller's stream (the optimizer step) runs after the all-reduce; the host goes on.
    comm_->check_async_error();
    RPCT_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream().stream(), done_, 0));
  }
  // Blocks the host until the all-reduce finished (the blocking allreduce_sum).
  void host_wait() { comm_->host_wait(done_); }

 private:
  cudaEvent_t done_;
  torch::Tensor buf_;
  std::shared_ptr<NcclComm> comm_;
};

class NcclBackend : public CommBackend {
 public:
  NcclBackend(const DistContext& dist, int device)
      : comm_(std::make_shared<NcclComm>()),
        device_(device),
        stream_(comm_stream_on(device)) {
    comm_->rank = dist.rank();
    ncclUniqueId id;
    if (dist.is_root()) RPCT_NCCL(ncclGetUniqueId(&id));
    dist.broadcast_bytes(&id, sizeof(id), 0);
    RPCT_NCCL(ncclCommInitRank(&comm_->comm, dist.world_size(), id, dist.rank()));
  }
  ~NcclBackend() override {
    if (!comm_->aborted.load()) ncclCommDestroy(comm_->comm);
  }
  std::string name() const override { return "nccl"; }
  void abort() override { comm_->abort(); }

  std::unique_ptr<CommWork> allreduce_sum_async(torch::Tensor buf) override {
    check(buf);
    comm_->check_async_error();
    // The comm stream starts after everything the caller's stream queued so far (the gradients).
    cudaEvent_t ready = record_event(c10::cuda::getCurrentCUDAStream(device_).stream());
    RPCT_CUDA(cudaStreamWaitEvent(stream_.stream(), ready, 0));
    RPCT_CUDA(cudaEventDestroy(ready));
    // The buffer is in use on the comm stream too: the caching allocator must not reuse its memory
    // before the comm stream's work on it is done, even if every tensor referring to it is freed.
    c10::cuda::CUDACachingAllocator::recordStream(buf.storage().data_ptr(), stream_);
    RPCT_NCCL(ncclAllReduce(buf.data_ptr(), buf.data_ptr(), buf.numel(), nccl_type(buf), ncclSum, comm_->comm,
                            stream_.stream()));
    return std::make_unique<NcclWork>(record_event(stream_.stream()), std::move(buf), comm_);
  }
  void allreduce_sum(torch::Tensor buf) override {
    auto work = allreduce_sum_async(std::move(buf));
    static_cast<NcclWork*>(work.get())->host_wait();
  }
  void broadcast(torch::Tensor buf, int root) override {
    check(buf);
    auto stream = c10::cuda::getCurrentCUDAStream(device_).stream();
    RPCT_NCCL(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), buf.numel(), nccl_type(buf), root, comm_->comm, stream));
    cudaEvent_t done = record_event(stream);
    comm_->host_wait(done);
    RPCT_CUDA(cudaEventDestroy(done));
  }

 private:
  void check(const torch::Tensor& t) const {
    TORCH_CHECK(t.is_cuda(), "rank ", comm_->rank, ": NCCL backend: CUDA tensors only, got ", t.device());
    TORCH_CHECK(t.device().index() == device_, "rank ", comm_->rank, ": NCCL backend on cuda:", device_,
                " got a tensor on ", t.device());
    TORCH_CHECK(t.is_contiguous(), "rank ", comm_->rank, ": NCCL backend: tensor must be contiguous");
  }
  std::shared_ptr<NcclComm> comm_;
  int device_;
  c10::cuda::CUDAStream stream_;  // the comm stream (from LibTorch's pool, so the allocator knows it)
};

}  // namespace

std::unique_ptr<CommBackend> make_nccl_backend(const DistContext& dist, int device_index) {
  return std::make_unique<NcclBackend>(dist, device_index);
}

}  // namespace rpct
#endif  // RPCT_WITH_CUDA

// NCCL backend for CUDA tensors (built only with RPCT_WITH_CUDA). Rank 0 creates the ncclUniqueId,
// MPI broadcasts it (through DistContext), every rank ncclCommInitRank's. Each all-reduce runs on a
// dedicated comm stream ordered after the compute stream with an event (llm.c / DDP style).
#ifdef RPCT_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "core/check.h"
#include "distributed/backend.h"
#include "distributed/dist_context.h"

namespace rpct {
namespace {

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

class NcclWork : public CommWork {
 public:
  NcclWork(cudaEvent_t done, int rank) : done_(done), rank_(rank) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  bool test() override {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaErrorNotReady) return false;
    RPCT_CUDA(e);
    return true;
  }
  void wait() override {
    while (!test()) std::this_thread::sleep_for(std::chrono::microseconds(20));
    // Later work on the compute stream is ordered after the all-reduce.
    RPCT_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream().stream(), done_, 0));
  }

 private:
  cudaEvent_t done_;
  int rank_;
};

class NcclBackend : public CommBackend {
 public:
  NcclBackend(const DistContext& dist, int device) : rank_(dist.rank()), device_(device) {
    RPCT_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (dist.is_root()) RPCT_NCCL(ncclGetUniqueId(&id));
    dist.broadcast_bytes(&id, sizeof(id), 0);
    RPCT_NCCL(ncclCommInitRank(&comm_, dist.world_size(), id, dist.rank()));
    RPCT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~NcclBackend() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "nccl"; }

  std::unique_ptr<CommWork> allreduce_sum_async(torch::Tensor buf) override {
    check(buf);
    cudaEvent_t ready, done;
    RPCT_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    RPCT_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    RPCT_CUDA(cudaEventRecord(ready, c10::cuda::getCurrentCUDAStream().stream()));
    RPCT_CUDA(cudaStreamWaitEvent(stream_, ready, 0));
    RPCT_NCCL(ncclAllReduce(buf.data_ptr(), buf.data_ptr(), buf.numel(), nccl_type(buf), ncclSum, comm_, stream_));
    RPCT_CUDA(cudaEventRecord(done, stream_));
    RPCT_CUDA(cudaEventDestroy(ready));
    return std::make_unique<NcclWork>(done, rank_);
  }
  void allreduce_sum(torch::Tensor buf) override { allreduce_sum_async(buf)->wait(); }
  void broadcast(torch::Tensor buf, int root) override {
    check(buf);
    auto stream = c10::cuda::getCurrentCUDAStream().stream();
    RPCT_NCCL(ncclBroadcast(buf.data_ptr(), buf.data_ptr(), buf.numel(), nccl_type(buf), root, comm_, stream));
    RPCT_CUDA(cudaStreamSynchronize(stream));
  }

 private:
  void check(const torch::Tensor& t) const {
    TORCH_CHECK(t.is_cuda(), "rank ", rank_, ": NCCL backend: CUDA tensors only, got ", t.device());
    TORCH_CHECK(t.is_contiguous(), "rank ", rank_, ": NCCL backend: tensor must be contiguous");
  }
  int rank_, device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<CommBackend> make_nccl_backend(const DistContext& dist, int device_index) {
  return std::make_unique<NcclBackend>(dist, device_index);
}

}  // namespace rpct
#endif  // RPCT_WITH_CUDA

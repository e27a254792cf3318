// Collective backends behind one interface: MPI for CPU tensors, NCCL for CUDA tensors.
// MPI-free header: the implementations live in distributed/*.cpp.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

namespace rpct {

class DistContext;

// An in-flight collective.
class CommWork {
 public:
  virtual ~CommWork() = default;
  virtual bool test() = 0;  // true when finished (non-blocking)
  // Orders what the caller does next after the collective: MPI blocks until it finished; NCCL makes the
  // caller's current CUDA stream wait on the collective's event (no host block; a stuck NCCL collective
  // is caught where the host next synchronizes, under the watchdog).
  virtual void wait() = 0;
};

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual std::string name() const = 0;
  // Sum all-reduce of `buf` in place across all ranks, asynchronously. `buf` contiguous.
  virtual std::unique_ptr<CommWork> allreduce_sum_async(torch::Tensor buf) = 0;
  // Blocking sum all-reduce in place (the raw baseline in benchmarks).
  virtual void allreduce_sum(torch::Tensor buf) = 0;
  virtual void broadcast(torch::Tensor buf, int root) = 0;
  // Called by the watchdog on a timeout, from its own thread, just before the job is aborted: gives
  // the backend's resources back (NCCL: ncclCommAbort unblocks a collective stuck on the GPU).
  virtual void abort() {}
};

// The backend for tensors on `device`: MPI for CPU; NCCL for CUDA (needs a CUDA build).
// Each backend has its own communicator, so its collectives never interleave with DistContext's.
std::unique_ptr<CommBackend> make_backend(const DistContext& dist, const torch::Device& device);
std::unique_ptr<CommBackend> make_mpi_backend(const DistContext& dist);
#ifdef RPCT_WITH_CUDA
std::unique_ptr<CommBackend> make_nccl_backend(const DistContext& dist, int device_index);
#endif

}  // namespace rpct

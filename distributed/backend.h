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
  virtual void wait() = 0;  // blocks until finished
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
};

// The backend for tensors on `device`: MPI for CPU; NCCL for CUDA (needs a CUDA build).
// Each backend has its own communicator, so its collectives never interleave with DistContext's.
std::unique_ptr<CommBackend> make_backend(const DistContext& dist, const torch::Device& device);
std::unique_ptr<CommBackend> make_mpi_backend(const DistContext& dist);
#ifdef RPCT_WITH_CUDA
std::unique_ptr<CommBackend> make_nccl_backend(const DistContext& dist, int device_index);
#endif

}  // namespace rpct

// The process group: MPI world (or a single process without mpirun), local rank per node,
// barrier / broadcast / scalar all-reduce. The only headers that include mpi.h or nccl.h live
// in distributed/*.cpp; this interface is MPI-free so the rest of the tree never sees MPI.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rpct {

class DistContext {
 public:
  // Initializes MPI once per process (MPI_Init_thread); safe to call again (returns the same).
  static DistContext& init(int* argc = nullptr, char*** argv = nullptr);
  static DistContext& get();  // init() with no arguments if needed

  int rank() const { return rank_; }
  int world_size() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  std::string host() const { return host_; }

  void barrier() const;
  void broadcast_bytes(void* data, size_t bytes, int root = 0) const;
  std::string broadcast_string(const std::string& s, int root = 0) const;
  std::vector<double> allreduce_sum(const std::vector<double>& values) const;
  double allreduce_sum(double v) const { return allreduce_sum(std::vector<double>{v})[0]; }
  std::vector<uint64_t> allgather_u64(uint64_t v) const;
  // Aborts every rank (MPI_Abort) after printing `message` to stderr; for the watchdog and fatal
  // cross-rank errors, where an exception on one rank would leave the others hanging.
  [[noreturn]] void abort_all(const std::string& message, int code = 1) const;
  void finalize();

 private:
  DistContext() = default;
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string host_;
  bool finalized_ = false;
};

}  // namespace rpct

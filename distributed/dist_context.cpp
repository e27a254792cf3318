#include "distributed/dist_context.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <mpi.h>

#include "core/check.h"

#ifdef RPCT_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace rpct {

DistContext& DistContext::init(int* argc, char*** argv) {
  static DistContext* ctx = nullptr;
  if (ctx) return *ctx;
  ctx = new DistContext();  // lives until exit; finalize() is explicit
  int initialized = 0;
  RPCT_MPI(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    RPCT_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
  }
  // Errors are returned (and turned into exceptions naming rank and call), not fatal.
  RPCT_MPI(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  RPCT_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &ctx->rank_));
  process_rank() = ctx->rank_;  // named by every checked-call error from here on
  RPCT_MPI(MPI_Comm_size(MPI_COMM_WORLD, &ctx->world_));
  MPI_Comm local;
  RPCT_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, ctx->rank_, MPI_INFO_NULL, &local));
  RPCT_MPI(MPI_Comm_rank(local, &ctx->local_rank_));
  RPCT_MPI(MPI_Comm_size(local, &ctx->local_size_));
  RPCT_MPI(MPI_Comm_free(&local));
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  ctx->host_ = host;
#ifdef RPCT_WITH_CUDA
  // One GPU per local rank, selected before anything allocates on a device. A node with more ranks than
  // GPUs is not wrapped around (two ranks on one GPU break NCCL): the trainer's device choice
  // (trainer/runtime.h choose_device) refuses it or falls back to the CPU.
  int n_dev = 0;
  if (cudaGetDeviceCount(&n_dev) == cudaSuccess && n_dev > 0) {
    if (ctx->local_rank_ < n_dev) RPCT_CUDA(cudaSetDevice(ctx->local_rank_));
  } else {
    cudaGetLastError();  // no device: CPU run
  }
#endif
  return *ctx;
}

DistContext& DistContext::get() { return init(nullptr, nullptr); }

void DistContext::barrier() const { RPCT_MPI(MPI_Barrier(MPI_COMM_WORLD)); }

void DistContext::broadcast_bytes(void* data, size_t bytes, int root) const {
  constexpr size_t kChunk = size_t(1) << 30;  // MPI counts are int
  auto* p = static_cast<char*>(data);
  for (size_t off = 0; off < bytes; off += kChunk)
    RPCT_MPI(MPI_Bcast(p + off, static_cast<int>(std::min(kChunk, bytes - off)), MPI_BYTE, root, MPI_COMM_WORLD));
}

std::string DistContext::broadcast_string(const std::string& s, int root) const {
  uint64_t n = s.size();
  broadcast_bytes(&n, sizeof(n), root);
  std::string out = rank_ == root ? s : std::string(n, '\0');
  broadcast_bytes(out.data(), n, root);
  return out;
}

std::vector<double> DistContext::allreduce_sum(const std::vector<double>& values) const {
  std::vector<double> out(values.size());
  RPCT_MPI(MPI_Allreduce(values.data(), out.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM,
                         MPI_COMM_WORLD));
  return out;
}

std::vector<uint64_t> DistContext::allgather_u64(uint64_t v) const {
  std::vector<uint64_t> out(world_);
  RPCT_MPI(MPI_Allgather(&v, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD));
  return out;
}

void DistContext::abort_all(const std::string& message, int code) const {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void DistContext::finalize() {
  if (finalized_) return;
  finalized_ = true;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

}  // namespace rpct

// The choice of collective backend per device (MPI for CPU tensors, NCCL for CUDA tensors).
#include "distributed/backend.h"

#include "distributed/dist_context.h"

namespace rpct {

std::unique_ptr<CommBackend> make_backend(const DistContext& dist, const torch::Device& device) {
  if (device.is_cpu()) return make_mpi_backend(dist);
#ifdef RPCT_WITH_CUDA
  if (device.is_cuda()) return make_nccl_backend(dist, device.has_index() ? device.index() : dist.local_rank());
#endif
  TORCH_CHECK(false, "rank ", dist.rank(), ": no collective backend for device ", device,
              " (CUDA tensors need a build with RPCT_WITH_CUDA)");
}

}  // namespace rpct

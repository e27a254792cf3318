// Checked calls for MPI, NCCL and CUDA: a failure throws (never exits) with the call's text, file:line
// and this process's rank, e.g. "rank 3: ncclCommInitRank(...) failed at nccl_backend.cpp:72: ...".
// The macros expand to code that needs the library's own header (mpi.h, nccl.h, cuda_runtime.h) only
// where they are used; this header includes none of them, so every floor may include it.
#pragma once
#include <string>

namespace rpct {

// The rank named in errors: set by DistContext once MPI is up; -1 before (or without MPI).
int& process_rank();

// Throws std::runtime_error("rank R: CALL failed at FILE:LINE: DETAIL").
[[noreturn]] void throw_call_failed(const char* call, const char* file, int line, const std::string& detail);

}  // namespace rpct

// MPI: `call` returns an int error code; the detail is MPI_Error_string's text.
#define RPCT_MPI(call)                                                              \
  do {                                                                              \
    const int rpct_rc_ = (call);                                                    \
    if (rpct_rc_ != MPI_SUCCESS) {                                                  \
      char rpct_msg_[MPI_MAX_ERROR_STRING];                                         \
      int rpct_len_ = 0;                                                            \
      MPI_Error_string(rpct_rc_, rpct_msg_, &rpct_len_);                            \
      ::rpct::throw_call_failed(#call, __FILE__, __LINE__, std::string(rpct_msg_, rpct_len_)); \
    }                                                                               \
  } while (0)

#define RPCT_NCCL(call)                                                                      \
  do {                                                                                       \
    const ncclResult_t rpct_rc_ = (call);                                                    \
    if (rpct_rc_ != ncclSuccess) ::rpct::throw_call_failed(#call, __FILE__, __LINE__, ncclGetErrorString(rpct_rc_)); \
  } while (0)

#define RPCT_CUDA(call)                                                                      \
  do {                                                                                       \
    const cudaError_t rpct_rc_ = (call);                                                     \
    if (rpct_rc_ != cudaSuccess) ::rpct::throw_call_failed(#call, __FILE__, __LINE__, cudaGetErrorString(rpct_rc_)); \
  } while (0)

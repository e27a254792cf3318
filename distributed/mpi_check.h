// Checked MPI calls: an error names the call, the file:line and the rank. Include only in distributed/.
#pragma once
#include <mpi.h>

#include <stdexcept>
#include <string>

namespace rpct {

inline int mpi_rank_or_minus1() {
  int init = 0, fin = 0, r = -1;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

inline void mpi_check(int rc, const char* call, const char* file, int line) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string("rank ") + std::to_string(mpi_rank_or_minus1()) + ": " + call + " failed at " +
                           file + ":" + std::to_string(line) + ": " + std::string(msg, len));
}

}  // namespace rpct

#define RPCT_MPI(call) ::rpct::mpi_check((call), #call, __FILE__, __LINE__)

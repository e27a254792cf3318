#include "core/check.h"

#include <stdexcept>

namespace rpct {

int& process_rank() {
  static int rank = -1;
  return rank;
}

void throw_call_failed(const char* call, const char* file, int line, const std::string& detail) {
  throw std::runtime_error("rank " + std::to_string(process_rank()) + ": " + call + " failed at " + file + ":" +
                           std::to_string(line) + ": " + detail);
}

}  // namespace rpct

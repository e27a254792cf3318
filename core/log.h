// Minimal rank-0 logger (printf-style). spdlog is not used: Debian's spdlog is built against
// Debian's fmt 9, while LibTorch's headers ship their own fmt 12 on the include path; mixing
// the two does not compile.
#pragma once
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace rpct {

inline bool& log_enabled() {
  static bool enabled = true;
  return enabled;
}

__attribute__((format(printf, 1, 2))) inline void log_info(const char* fmt, ...) {
  if (!log_enabled()) return;
  const std::time_t now = std::time(nullptr);
  char ts[16];
  std::strftime(ts, sizeof(ts), "%H:%M:%S", std::localtime(&now));
  std::printf("[rpctrain %s] ", ts);
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace rpct

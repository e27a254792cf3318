#include "core/json_result.h"

#include <cstdio>
#include <iostream>

namespace rpct {

void print_result(const nlohmann::json& result) { std::cout << result.dump() << std::endl; }

void print_error_result(const std::string& cmd, const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::fflush(stderr);
  print_result({{"cmd", cmd}, {"ok", false}, {"error", message}});
}

}  // namespace rpct

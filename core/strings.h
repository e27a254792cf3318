// Small string helpers shared by several folders (ground floor: includes only the standard library).
#pragma once

#include <string>

namespace rpct {

// True when `s` begins with `prefix` (C++20's std::string::starts_with, for C++17).
inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace rpct

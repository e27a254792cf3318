// The result line every command ends with: one JSON object, alone on the last stdout line
// ({"cmd":"train","ok":true,...} or {"cmd":...,"ok":false,"error":...}), flushed.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace rpct {

void print_result(const nlohmann::json& result);
// {"cmd": cmd, "ok": false, "error": message} on stdout, and "error: message" on stderr.
void print_error_result(const std::string& cmd, const std::string& message);

}  // namespace rpct

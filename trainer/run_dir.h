// Run directories: <out_dir>/<name>, created by rank 0, with the resolved config saved in it.
#pragma once
#include <string>

#include "trainer/config.h"

namespace rpct {

// The run directory name for `cfg` (run.name, or "<config stem>-<UTC timestamp>").
std::string default_run_name(const Config& cfg);
// Creates the directory (and parents); returns its path. Throws naming it on failure.
std::string make_run_dir(const std::string& path);
// Writes `text` to `path` atomically (temporary file, fsync, rename).
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace rpct

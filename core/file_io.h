// Whole-file I/O, the one home of it: reading a file's bytes, writing them, and the atomic write (temporary
// file, fsync, rename, directory fsync) that checkpoints, configs, metrics and reports use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpct {

// A file that is missing, unreadable or empty; the message names it. (datasets/decode.h's DecodeError, a file
// that does not decode, is one too.)
struct FileReadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads a whole file; throws FileReadError naming it when missing/unreadable or empty.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Writes `bytes` to `path` (created or truncated; not atomic: for outputs a rerun rewrites, e.g. prepare-data's).
void write_file_bytes(const std::string& path, const std::vector<uint8_t>& bytes);

// Writes `path` atomically: `fill` writes the content through the given function into a temporary
// file, which is then fsynced and renamed over `path` (and the directory fsynced). A failure (disk
// full) leaves the old file untouched and throws naming the file.
using WriteFn = std::function<void(const void* data, size_t bytes)>;
void write_atomic(const std::string& path, const std::function<void(const WriteFn&)>& fill);
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace rpct

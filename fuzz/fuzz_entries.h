// The fuzz targets' entry functions, one per parser of untrusted files. Each takes the fuzzer's bytes, runs
// the project's own reader on them (through a scratch file where the reader takes a path), and accepts two
// outcomes: success (then it checks what was read: sizes agree, a write -> read round trip gives it back) or a
// std::exception whose message names the file. Anything else is a finding: a crash, a sanitizer report, a
// hang or a huge allocation (libFuzzer's -timeout / -rss_limit_mb / -malloc_limit_mb), or a FuzzFinding thrown
// here (an error that does not name the file, a round trip that changes the data).
// Shared by the libFuzzer binaries (fuzz/CMakeLists.txt, clang) and the replay test of the committed inputs
// (tests/fuzz/test_fuzz_inputs.cpp, the normal build).
#pragma once
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpct::fuzz {

// A bug found: the entry functions throw it outside their own try blocks, so it is never taken for the
// parser's clean error (under libFuzzer an uncaught exception aborts: a crash with this message).
struct FuzzFinding : std::logic_error {
  using std::logic_error::logic_error;
};

void config_entry(const uint8_t* data, size_t size);           // YAML + --set lines (entry_config.cpp)
void idx_entry(const uint8_t* data, size_t size);              // IDX images / labels, plain or gzip
void decode_entry(const uint8_t* data, size_t size);           // JPEG / PNG decode, header, label PNG
void safetensors_entry(const uint8_t* data, size_t size);      // safetensors reader
void checkpoint_meta_entry(const uint8_t* data, size_t size);  // meta.json + DONE of a checkpoint directory
// The bytes of model.safetensors in checkpoint_meta_entry's directory (a DONE listing it with their SHA-256
// verifies: fuzz/write_seeds.cpp writes such seeds).
inline const std::string kCheckpointFuzzModelBytes = "rpctrain fuzz model\n";

// --- helpers (fuzz_common.cpp) ---
// The message of a clean error must name one of `names` (the file, or e.g. "--set"): throws FuzzFinding if not.
void expect_named_error(const std::exception& e, const std::vector<std::string>& names);
// Throws FuzzFinding(what) unless `ok`.
void expect(bool ok, const std::string& what);
// A text the project wrote from what it read (`written`) must read back and give the same text again:
// `reread(written)` parses it and writes it once more. What failed is named by `what` (e.g. "meta.json").
void expect_stable_text(const std::string& what, const std::string& written,
                        const std::function<std::string(const std::string&)>& reread);
// A directory of this process for scratch files (created once, removed at exit).
const std::string& scratch_dir();
// Writes `size` bytes to `path` (replacing it).
void write_scratch(const std::string& path, const uint8_t* data, size_t size);

}  // namespace rpct::fuzz

// Helpers of the fuzz entry functions (fuzz_entries.h): the check of a clean error and the scratch directory.
#include <unistd.h>

#include <boost/filesystem.hpp>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_entries.h"

namespace rpct::fuzz {

void expect(bool ok, const std::string& what) {
  if (!ok) throw FuzzFinding(what);
}

void expect_stable_text(const std::string& what, const std::string& written,
                        const std::function<std::string(const std::string&)>& reread) {
  std::string again;
  try {
    again = reread(written);
  } catch (const std::exception& e) {
    throw FuzzFinding(what + ": the written text does not read back: " + e.what() + "\n" + written);
  }
  expect(again == written, what + ": write -> read -> write changed the text:\n" + written + "\nbecame\n" + again);
}

void expect_named_error(const std::exception& e, const std::vector<std::string>& names) {
  const std::string what = e.what();
  for (const auto& n : names)
    if (what.find(n) != std::string::npos) return;
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "'" : " or '") + n + "'";
  throw FuzzFinding("error message does not name " + all + ": " + what);
}

const std::string& scratch_dir() {
  // Allocated once and never freed: the atexit handler below runs after the static destructors of objects
  // made before it was registered, so it must not use a function-local static std::string.
  static const std::string* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    // /dev/shm when there is one: scratch files are rewritten on every execution.
    const std::string base = tmp && *tmp ? tmp : (boost::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");
    auto* d = new std::string(base + "/rpct_fuzz_" + std::to_string(::getpid()));
    boost::filesystem::create_directories(*d);
    std::atexit([] {
      boost::system::error_code ec;
      boost::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

void write_scratch(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  expect(f != nullptr, path + ": cannot create the scratch file");
  const bool ok = std::fwrite(data, 1, size, f) == size;
  std::fclose(f);
  expect(ok, path + ": cannot write the scratch file");
}

}  // namespace rpct::fuzz

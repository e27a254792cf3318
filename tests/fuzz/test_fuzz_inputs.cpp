// Replays every committed fuzz input through the fuzz targets' entry functions (fuzz/fuzz_entries.h) in the
// normal build, so CI catches a relapse without clang or libFuzzer: the seeds (fuzz/corpus/TARGET/) and the
// inputs of past findings (fuzz/regressions/TARGET/) must each load or give a clean error naming the file. A
// finding here is a FuzzFinding (an error that does not name the file, a round trip that changes the data) or
// a crash of the test; the fuzz build also runs the sanitizers on them (scripts/fuzz.sh).
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_entries.h"

namespace fs = boost::filesystem;

namespace {

using Entry = void (*)(const uint8_t*, size_t);

struct Target {
  const char* name;
  Entry entry;
};

const Target kTargets[] = {{"config", rpct::fuzz::config_entry},
                           {"idx", rpct::fuzz::idx_entry},
                           {"decode", rpct::fuzz::decode_entry},
                           {"safetensors", rpct::fuzz::safetensors_entry},
                           {"checkpoint_meta", rpct::fuzz::checkpoint_meta_entry}};

std::string fuzz_dir() {
  const char* src = std::getenv("RPCT_SOURCE_DIR");
  return std::string(src ? src : ".") + "/fuzz";
}

// Every file of fuzz/<kind>/<target>/ through the target's entry; returns how many there were.
int replay(const Target& t, const std::string& kind) {
  const fs::path dir = fs::path(fuzz_dir()) / kind / t.name;
  int n = 0;
  if (!fs::is_directory(dir)) return n;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (!fs::is_regular_file(f.path())) continue;
    std::ifstream in(f.path().string(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++n;
    try {
      t.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << f.path().string() << ": " << e.what();
    }
  }
  return n;
}

class FuzzInputs : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzInputs, SeedsAndRegressionsLoadOrGiveANamedError) {
  const Target& t = GetParam();
  const int seeds = replay(t, "corpus"), regressions = replay(t, "regressions");
  std::printf("%s: %d seeds, %d regression inputs\n", t.name, seeds, regressions);
  EXPECT_GT(seeds, 0) << "no seeds in " << fuzz_dir() << "/corpus/" << t.name;
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& i) { return std::string(i.param.name); });

}  // namespace

// Seeds for randomized tests: fresh each run (so repeated runs explore new inputs) yet reproducible.
// test_seed() takes RPCT_TEST_SEED from the environment when it is set, else draws one from
// std::random_device; it prints the seed and records it as a GoogleTest property (in the XML report),
// so a failure can be replayed with `RPCT_TEST_SEED=N ctest -R NAME`.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

namespace rpct::test {

inline uint64_t test_seed() {
  uint64_t seed = 0;
  if (const char* env = std::getenv("RPCT_TEST_SEED"); env != nullptr && *env != '\0') {
    try {
      seed = std::stoull(env);
    } catch (const std::exception&) {
      throw std::invalid_argument(std::string("RPCT_TEST_SEED='") + env + "': expected an unsigned integer");
    }
  } else {
    std::random_device rd;
    seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  std::printf("seed=%llu (reproduce with RPCT_TEST_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

}  // namespace rpct::test

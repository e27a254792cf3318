// libFuzzer's entry point for one target: fuzz/CMakeLists.txt compiles this file once per target with
// RPCT_FUZZ_ENTRY set to that target's entry function (fuzz_entries.h).
#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RPCT_FUZZ_ENTRY(data, size);
  return 0;
}

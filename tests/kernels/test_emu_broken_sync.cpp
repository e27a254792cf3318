// A deliberately broken variant of the CUDA RPC-Attention kernels: RPCT_EMU_BREAK_SYNC
// (see rpc_attention_kernels.cuh). The test passes when the emulated run DETECTS the bug, i.e. the
// result misses the float64 reference by far more than the tolerance that the correct kernels meet
// (test_emu_attention, same cases; here on the fixed inputs of kBrokenVariantSeed, where that test draws new
// ones every run). The emulator's warp-ordered schedule and the fixed inputs make this deterministic: the
// outcome is the same on every run.
#define RPCT_EMU_BREAK_SYNC
#define RPCT_KERNELS_NS kernels_broken_sync
#include <gtest/gtest.h>

#include "tests/kernels/test_emu_backend.h"

TEST(EmuBroken_sync, IsDetected) { expect_broken_variant_detected("broken sync"); }

// A deliberately broken variant of the CUDA RPC-Attention kernels: RPCT_EMU_BREAK_SYNC
// (see rpc_attention_kernels.cuh). The test passes when the emulated run DETECTS the bug, i.e. the
// result misses the float64 reference by far more than the tolerance that the correct kernels meet
// (test_emu_attention, same cases and seeds). The emulator's warp-ordered schedule makes this
// deterministic: the outcome is the same on every run.
#define RPCT_EMU_BREAK_SYNC
#define RPCT_KERNELS_NS kernels_broken_sync
#include <gtest/gtest.h>

#include "tests/kernels/test_emu_backend.h"

namespace {

TEST(EmuBroken_sync, IsDetected) {
  using rpct::test::Case;
  // N = 45: not a multiple of the 32-key tile (the off-by-one needs a partial tile to show).
  for (const Case& c : {Case{1, 2, 45, 32, 0, 0.3, torch::kFloat32}, Case{1, 2, 45, 32, 2, 0.3, torch::kFloat32},
                        Case{1, 2, 37, 64, 1, 0.3, torch::kBFloat16}}) {
    for (auto order : {rpct::emu::WarpOrder::kAscending, rpct::emu::WarpOrder::kDescending}) {
      rpct::emu::Options o;
      o.warp_order = order;
      rpct::emu::ScopedOptions s(o);
      const auto e = emu_errors(c);
      const double tol = rpct::test::tolerance(c.dtype);
      std::cout << "[broken sync] " << c.str() << (order == rpct::emu::WarpOrder::kAscending ? " asc" : " desc")
                << ": " << e.str() << " (tol " << tol << ")\n";
      // "detected" = the regular test (test_emu_attention, same tolerance) would fail on this result
      EXPECT_GT(e.max(), tol) << "RPCT_EMU_BREAK_SYNC was NOT detected for " << c.str();
    }
  }
}

}  // namespace

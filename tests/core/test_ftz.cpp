// core/ftz: flush-to-zero + denormals-are-zero. set_flush_denormal_all_threads must reach every LibTorch
// intra-op thread (where the GEMMs run), not only the calling thread as torch.set_flush_denormal does, and
// `off` must undo it; ScopedFlushDenormal sets the mode in its scope and restores the previous one.
#include <gtest/gtest.h>

#include <limits>

#include "core/ftz.h"

namespace {

// A denormal times 2 is still denormal (non-zero) unless DAZ/FTZ turn it into 0. volatile: computed at run
// time under the current floating-point mode, not folded by the compiler.
float twice_the_smallest_denormal() {
  volatile float tiny = std::numeric_limits<float>::denorm_min();
  return tiny * 2.0f;
}

}  // namespace

#if defined(__x86_64__)
#include <ATen/Parallel.h>
#include <xmmintrin.h>

#include <atomic>
#include <utility>

namespace {

constexpr unsigned kFtzDaz = 0x8040u;  // MXCSR FTZ (bit 15) | DAZ (bit 6)

bool calling_thread_has_ftz() { return (_mm_getcsr() & kFtzDaz) == kFtzDaz; }

// (threads with FTZ/DAZ, tasks run): one task per intra-op thread.
std::pair<int, int> threads_with_ftz() {
  std::atomic<int> with{0}, tasks{0};
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
    ++tasks;
    if (calling_thread_has_ftz()) ++with;
  });
  return {with.load(), tasks.load()};
}

}  // namespace

TEST(FlushDenormal, ReachesEveryIntraOpThreadAndUndoes) {
  at::set_num_threads(2);
  ASSERT_TRUE(rpct::have_flush_denormal());
  ASSERT_TRUE(rpct::set_flush_denormal_all_threads(true));
  auto [with, tasks] = threads_with_ftz();
  EXPECT_EQ(tasks, at::get_num_threads());
  EXPECT_EQ(with, tasks);
  EXPECT_EQ(twice_the_smallest_denormal(), 0.0f);  // a denormal operand reads as 0
  ASSERT_TRUE(rpct::set_flush_denormal_all_threads(false));
  EXPECT_EQ(threads_with_ftz().first, 0);
  EXPECT_GT(twice_the_smallest_denormal(), 0.0f);
}

TEST(FlushDenormal, ScopeSetsTheModeAndRestoresThePreviousOne) {
  ASSERT_TRUE(rpct::set_flush_denormal_all_threads(false));
  {
    rpct::ScopedFlushDenormal ftz;
    EXPECT_TRUE(calling_thread_has_ftz());
    EXPECT_EQ(twice_the_smallest_denormal(), 0.0f);
    {
      rpct::ScopedFlushDenormal nested;  // already on: stays on after the inner scope
    }
    EXPECT_TRUE(calling_thread_has_ftz());
  }
  EXPECT_FALSE(calling_thread_has_ftz());
  EXPECT_GT(twice_the_smallest_denormal(), 0.0f);
}

#else

TEST(FlushDenormal, AbsentModeIsReportedAndChangesNothing) {
  EXPECT_FALSE(rpct::have_flush_denormal());
  EXPECT_FALSE(rpct::set_flush_denormal_all_threads(true));
  EXPECT_GT(twice_the_smallest_denormal(), 0.0f);
}

#endif

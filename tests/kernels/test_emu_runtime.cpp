// The CUDA emulator itself (kernels/cuda_emu/cuda_emu.h): indices, barrier, shared memory (per block,
// poisoned), warp shuffles and votes, atomics, and the deterministic detection of a missing barrier.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_emu/cuda_emu.h"

namespace {

constexpr int kN = 128;

// Block reverse through shared memory; the barrier between the write and the read is optional.
template <bool kSync>
__global__ void reverse_kernel(const int* in, int* out) {
  RPCT_EMU_SHARED(int, s, [kN]);
  const int t = threadIdx.x, base = blockIdx.x * kN;
  s[t] = in[base + t];
  if (kSync) __syncthreads();
  out[base + t] = s[kN - 1 - t];
}

TEST(EmuRuntime, BarrierAndSharedMemory) {
  std::vector<int> in(3 * kN), out(3 * kN, -1);
  for (int i = 0; i < 3 * kN; ++i) in[i] = i;
  rpct::emu::launch(reverse_kernel<true>, dim3(3), dim3(kN), in.data(), out.data());
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < kN; ++t) ASSERT_EQ(out[b * kN + t], b * kN + kN - 1 - t);
}

TEST(EmuRuntime, MissingBarrierIsDetectedDeterministically) {
  std::vector<int> in(kN), out(kN);
  for (int i = 0; i < kN; ++i) in[i] = i;
  for (int rep = 0; rep < 3; ++rep) {  // same outcome every time: warp 0 reads slots warps 1..3 have not written
    rpct::emu::launch(reverse_kernel<false>, dim3(1), dim3(kN), in.data(), out.data());
    EXPECT_EQ(out[0], -1) << "poisoned shared memory (0xFFFFFFFF) expected";
    EXPECT_EQ(out[kN - 1], 0) << "the last warp runs after everyone wrote";
  }
}

__global__ void warp_kernel(int* out) {
  const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
  int* o = out + threadIdx.x * 8;
  o[0] = __shfl_sync(0xffffffffu, lane * 10, 3);           // broadcast lane 3
  o[1] = __shfl_xor_sync(0xffffffffu, lane, 1);           // swap pairs
  o[2] = __shfl_down_sync(0xffffffffu, lane, 4);          // lane+4, own value past the end
  o[3] = __shfl_up_sync(0xffffffffu, lane, 2, 16);        // width 16 segments
  o[4] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  o[5] = __any_sync(0xffffffffu, lane == 31 && w == 1);
  o[6] = __all_sync(0xffffffffu, lane < 32);
  float x = static_cast<float>(lane);
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  o[7] = static_cast<int>(x);
}

TEST(EmuRuntime, WarpShufflesAndVotes) {
  std::vector<int> out(64 * 8);
  rpct::emu::launch(warp_kernel, dim3(1), dim3(64), out.data());
  unsigned ballot = 0;
  for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32;
    const int* o = &out[t * 8];
    EXPECT_EQ(o[0], 30);
    EXPECT_EQ(o[1], lane ^ 1);
    EXPECT_EQ(o[2], lane + 4 < 32 ? lane + 4 : lane);
    EXPECT_EQ(o[3], lane % 16 >= 2 ? lane - 2 : lane);
    EXPECT_EQ(static_cast<unsigned>(o[4]), ballot);
    EXPECT_EQ(o[5], t >= 32 ? 1 : 0);
    EXPECT_EQ(o[6], 1);
    EXPECT_EQ(o[7], 31 * 32 / 2);
  }
}

__global__ void atomic_kernel(float* fsum, int* imax, unsigned* count) {
  atomicAdd(fsum, 0.5f);
  atomicMax(imax, static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x));
  atomicAdd(count, 1u);
}

TEST(EmuRuntime, AtomicsAcrossThreadsAndBlocks) {
  float f = 0;
  int m = -1;
  unsigned c = 0;
  rpct::emu::Options o;
  o.schedule = rpct::emu::Schedule::kFree;  // warps interleaved, several blocks: every add must land
  rpct::emu::ScopedOptions s(o);
  rpct::emu::launch(atomic_kernel, dim3(4), dim3(96), &f, &m, &c);
  EXPECT_EQ(f, 0.5f * 4 * 96);
  EXPECT_EQ(m, 4 * 96 - 1);
  EXPECT_EQ(c, 4u * 96u);
}

__global__ void index_kernel(int* out) {
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int b = blockIdx.x + gridDim.x * blockIdx.y;
  out[b * 24 + t] = b * 1000 + t;
}

TEST(EmuRuntime, MultiDimensionalIndices) {
  std::vector<int> out(6 * 24, -1);
  rpct::emu::launch(index_kernel, dim3(3, 2), dim3(2, 3, 4), out.data());
  for (int b = 0; b < 6; ++b)
    for (int t = 0; t < 24; ++t) ASSERT_EQ(out[b * 24 + t], b * 1000 + t);
}

__global__ void diverged_shuffle_kernel(int* out) {
  if (threadIdx.x == 5) return;  // lane 5 leaves; the others shuffle with a full mask
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}

__global__ void shared_overflow_kernel(int* out) {
  RPCT_EMU_SHARED(float, big, [13 * 1024]);  // 52 KiB > 48 KiB
  big[threadIdx.x] = 0;
  out[0] = 0;
}

// The message of the std::runtime_error that f throws ("" if none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

__global__ void barrier_vs_shuffle_kernel(int* out) {
  if (threadIdx.x >= 16) __syncthreads();  // half the warp parks at the barrier
  else out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}

__global__ void throwing_kernel(int* out) {
  if (threadIdx.x == 40) throw std::runtime_error("thread 40 gives up");
  __syncthreads();  // the others wait here for a thread that never comes
  out[threadIdx.x] = 1;
}

__global__ void partial_warp_shuffle_kernel(int* out) {  // 48 threads: warp 1 has lanes 0..15 only
  out[threadIdx.x] = __shfl_sync(0xffffffffu, 1, 0);
}

// Each bad kernel is reported with a message that names the problem (a deadlock is detected exactly, at
// once), and the next launch runs normally.
TEST(EmuRuntime, ReportsBadKernels) {
  std::vector<int> out(64);
  for (auto schedule : {rpct::emu::Schedule::kWarpOrdered, rpct::emu::Schedule::kFree}) {
    rpct::emu::Options o;
    o.schedule = schedule;
    rpct::emu::ScopedOptions s(o);
    EXPECT_EQ(error_of([&] { rpct::emu::launch(diverged_shuffle_kernel, dim3(1), dim3(32), out.data()); }),
              "cuda_emu: __shfl_sync: lane 5 of warp 0 has exited while lane 0 waits for it");
    EXPECT_EQ(error_of([&] { rpct::emu::launch(barrier_vs_shuffle_kernel, dim3(1), dim3(32), out.data()); }),
              "cuda_emu: __shfl_sync: lane 16 of warp 0 waits at __syncthreads while lane 0 waits for it");
    EXPECT_EQ(error_of([&] { rpct::emu::launch(partial_warp_shuffle_kernel, dim3(1), dim3(48), out.data()); }),
              "cuda_emu: __shfl_sync: lane 16 of warp 1 does not exist (block of 48 threads) while lane 0 waits for it");
    EXPECT_EQ(error_of([&] { rpct::emu::launch(shared_overflow_kernel, dim3(1), dim3(32), out.data()); }),
              "cuda_emu: block uses more than 49152 bytes of static shared memory");
    EXPECT_EQ(error_of([&] { rpct::emu::launch(throwing_kernel, dim3(2), dim3(64), out.data()); }), "thread 40 gives up");
    std::vector<int> in(kN), rev(kN);
    for (int i = 0; i < kN; ++i) in[i] = i;
    rpct::emu::launch(reverse_kernel<true>, dim3(1), dim3(kN), in.data(), rev.data());
    EXPECT_EQ(rev[0], kN - 1);
  }
  EXPECT_EQ(error_of([] { __syncthreads(); }), "cuda_emu: device function called outside emu::launch");
}

// Lanes 0..15 start a second collective while lanes 16..30 have not yet read the first one's result
// (the warp-ordered schedule runs lane 31, which completes the first, then lanes 0..15 first): each lane
// must still read its own collective's values.
__global__ void overlapping_collectives_kernel(int* out) {
  const int lane = threadIdx.x;
  const int a = __shfl_sync(0xffffffffu, lane + 100, 31);
  int b = -1;
  if (lane < 16) b = __shfl_sync(0x0000ffffu, lane + 200, 15);
  out[2 * lane] = a;
  out[2 * lane + 1] = b;
}

TEST(EmuRuntime, EachLaneReadsItsOwnCollective) {
  std::vector<int> out(64);
  rpct::emu::launch(overlapping_collectives_kernel, dim3(1), dim3(32), out.data());
  for (int lane = 0; lane < 32; ++lane) {
    EXPECT_EQ(out[2 * lane], 131) << "lane " << lane;
    EXPECT_EQ(out[2 * lane + 1], lane < 16 ? 215 : -1) << "lane " << lane;
  }
}

// The schedules are deterministic, and differ: warp-ordered runs each warp up to the barrier, kFree
// lets the warps take turns at every collective.
__global__ void order_kernel(int* order, int* next) {
  const int v = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 0);
  if (threadIdx.x % 32 == 0) order[(*next)++] = static_cast<int>(threadIdx.x) / 32 * 10;
  __shfl_sync(0xffffffffu, v, 0);
  if (threadIdx.x % 32 == 0) order[(*next)++] = static_cast<int>(threadIdx.x) / 32 * 10 + 1;
}

TEST(EmuRuntime, SchedulesAreDeterministicAndDiffer) {
  auto run = [](rpct::emu::Options o) {
    rpct::emu::ScopedOptions s(o);
    std::vector<int> order(4, -1);
    int next = 0;
    rpct::emu::launch(order_kernel, dim3(1), dim3(64), order.data(), &next);
    return order;
  };
  rpct::emu::Options descending;
  descending.warp_order = rpct::emu::WarpOrder::kDescending;
  rpct::emu::Options free;
  free.schedule = rpct::emu::Schedule::kFree;
  for (int rep = 0; rep < 3; ++rep) {
    EXPECT_EQ(run({}), (std::vector<int>{0, 1, 10, 11}));
    EXPECT_EQ(run(descending), (std::vector<int>{10, 11, 0, 1}));
    EXPECT_EQ(run(free), (std::vector<int>{0, 10, 1, 11}));
  }
}

TEST(EmuRuntime, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f)), 1.0f);
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 1.0f / 256)), 1.0f);             // tie -> even
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);  // tie -> even (up)
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 1.5f / 256)), 1.0f + 2.0f / 256);
}

}  // namespace

// The CUDA emulator itself (kernels/cuda_emu/cuda_emu.h): indices, barrier, shared memory (per block,
// poisoned), warp shuffles and votes, atomics, and the deterministic detection of a missing barrier.
#include <gtest/gtest.h>

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
  o.schedule = rpct::emu::Schedule::kFree;  // all threads at once: contended atomics
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

TEST(EmuRuntime, ReportsBadKernels) {
  std::vector<int> out(32);
  EXPECT_THROW(rpct::emu::launch(diverged_shuffle_kernel, dim3(1), dim3(32), out.data()), std::runtime_error);
  EXPECT_THROW(rpct::emu::launch(shared_overflow_kernel, dim3(1), dim3(32), out.data()), std::runtime_error);
}

TEST(EmuRuntime, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f)), 1.0f);
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 1.0f / 256)), 1.0f);             // tie -> even
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);  // tie -> even (up)
  EXPECT_EQ(__bfloat162float(__float2bfloat16(1.0f + 1.5f / 256)), 1.0f + 2.0f / 256);
}

}  // namespace

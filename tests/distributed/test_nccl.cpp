// The NCCL backend on the GPU(s), against closed-form values (nccl-tests' way): rank r contributes
// (r + 1) * (i % 7 + 1) at element i, so the sum over W ranks is (i % 7 + 1) * W (W + 1) / 2, exact in
// every tested dtype. One rank under ctest (label gpu), two under scripts/gpu_check.sh with two GPUs.
// Skips with a reason without a CUDA build, without a device, or with more ranks than GPUs on a node.
#include <gtest/gtest.h>

#include "distributed/backend.h"
#include "distributed/dist_context.h"

namespace {

rpct::DistContext& dist() { return rpct::DistContext::get(); }

#define REQUIRE_ONE_GPU_PER_RANK()                                                                             \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible (torch::cuda::is_available() is false)"; \
  if (dist().local_size() > static_cast<int>(torch::cuda::device_count()))                                      \
    GTEST_SKIP() << dist().local_size() << " ranks on this node but " << torch::cuda::device_count() << " GPU(s)"

#ifdef RPCT_WITH_CUDA
torch::Device my_gpu() { return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(dist().local_rank())); }

// (n,) this rank's contribution and the closed-form sum over all ranks, on the rank's GPU.
std::pair<torch::Tensor, torch::Tensor> contribution_and_sum(int64_t n, torch::ScalarType dtype) {
  const auto base = torch::arange(n, torch::kInt64).remainder(7).add(1);  // i % 7 + 1
  const int64_t w = dist().world_size(), r = dist().rank();
  return {(base * (r + 1)).to(my_gpu(), dtype), (base * (w * (w + 1) / 2)).to(my_gpu(), dtype)};
}
#endif

}  // namespace

TEST(Nccl, AllReduceSumMatchesTheClosedForm) {
#ifndef RPCT_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (RPCT_WITH_CUDA=OFF)";
#else
  REQUIRE_ONE_GPU_PER_RANK();
  auto backend = rpct::make_nccl_backend(dist(), dist().local_rank());
  for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat64, torch::kInt64})
    for (int64_t n : {1, 1000, (1 << 20) + 3}) {  // odd sizes included
      auto [buf, expected] = contribution_and_sum(n, dtype);
      auto work = backend->allreduce_sum_async(buf);
      work->wait();  // the current stream waits on the all-reduce; the copy below is ordered after it
      EXPECT_TRUE(torch::equal(buf.cpu(), expected.cpu())) << "dtype " << dtype << " n " << n;
      EXPECT_TRUE(work->test());
      auto [blocking, expected2] = contribution_and_sum(n, dtype);
      backend->allreduce_sum(blocking);
      EXPECT_TRUE(torch::equal(blocking.cpu(), expected2.cpu())) << "blocking, dtype " << dtype << " n " << n;
    }
#endif
}

// The in-flight all-reduce holds its buffer: the caller may drop its last reference at once.
TEST(Nccl, InFlightAllReduceKeepsItsBufferAlive) {
#ifndef RPCT_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (RPCT_WITH_CUDA=OFF)";
#else
  REQUIRE_ONE_GPU_PER_RANK();
  auto backend = rpct::make_nccl_backend(dist(), dist().local_rank());
  auto [buf, expected] = contribution_and_sum(1 << 22, torch::kFloat32);
  const long refs_before = buf.use_count();
  auto work = backend->allreduce_sum_async(buf);
  EXPECT_EQ(buf.use_count(), refs_before + 1) << "the work holds a reference to the buffer";
  torch::Tensor view = buf.view({-1});  // read the result through another handle after dropping `buf`
  buf = torch::Tensor();
  auto scratch = torch::full({1 << 22}, -1.0f, torch::TensorOptions().device(my_gpu()));  // would reuse freed memory
  work->wait();
  EXPECT_TRUE(torch::equal(view.cpu(), expected.cpu()));
  EXPECT_EQ(scratch.min().item<float>(), -1.0f);
#endif
}

TEST(Nccl, BroadcastFromRoot) {
#ifndef RPCT_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (RPCT_WITH_CUDA=OFF)";
#else
  REQUIRE_ONE_GPU_PER_RANK();
  auto backend = rpct::make_nccl_backend(dist(), dist().local_rank());
  const auto root_values = torch::arange(4099, torch::kFloat32).mul(0.5).add(42);  // (4099,)
  auto buf = dist().is_root() ? root_values.to(my_gpu()) : torch::zeros({4099}, torch::TensorOptions().device(my_gpu()));
  backend->broadcast(buf, 0);
  EXPECT_TRUE(torch::equal(buf.cpu(), root_values));
#endif
}

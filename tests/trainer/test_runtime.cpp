// trainer/runtime: the rank's device choice (more ranks than GPUs), the bf16 autocast scope, TF32, and the
// trainer's sync-free gradient clipping. All run without a GPU; tests/trainer/test_gpu_trainer.cpp covers
// the CUDA side.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <fstream>
#include <functional>
#include <string>

#include "tests/test_seed.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Runtime, DeviceChoiceOneRankPerGpu) {
  // (setting, visible GPUs, rank, local rank, local size)
  EXPECT_EQ(rpct::choose_device("cpu", 8, 3, 3, 8).device, torch::Device(torch::kCPU));
  EXPECT_EQ(rpct::choose_device("auto", 0, 0, 0, 2).device, torch::Device(torch::kCPU));
  EXPECT_EQ(rpct::choose_device("auto", 8, 11, 3, 8).device, torch::Device(torch::kCUDA, 3));
  EXPECT_EQ(rpct::choose_device("cuda", 2, 1, 1, 2).device, torch::Device(torch::kCUDA, 1));
  EXPECT_TRUE(rpct::choose_device("cuda", 2, 1, 1, 2).warning.empty());
}

TEST(Runtime, MoreRanksThanGpusIsRefusedOrFallsBackToTheCpu) {
  // train.device cuda: an error naming the rank and both counts (NCCL would fail on a shared GPU).
  const std::string err = error_of([] { rpct::choose_device("cuda", 1, 1, 1, 2); });
  EXPECT_NE(err.find("rank 1"), std::string::npos) << err;
  EXPECT_NE(err.find("2 ranks on this node but 1 CUDA device"), std::string::npos) << err;
  // auto: the CPU (MPI backend), with a warning that says why.
  const auto choice = rpct::choose_device("auto", 1, 1, 1, 2);
  EXPECT_EQ(choice.device, torch::Device(torch::kCPU));
  EXPECT_NE(choice.warning.find("training on the CPU"), std::string::npos) << choice.warning;
  // cuda without any device: named.
  EXPECT_NE(error_of([] { rpct::choose_device("cuda", 0, 0, 0, 1); }).find("no CUDA device"), std::string::npos);
}

TEST(Runtime, Bf16AutocastScopeOnTheCpu) {
  torch::manual_seed(rpct::test::test_seed());
  torch::nn::Linear lin(8, 4);
  const auto x = torch::randn({3, 8});  // (B, 8) float32
  {
    rpct::AutocastScope fp32("fp32", torch::kCPU);
    EXPECT_EQ(lin->forward(x).scalar_type(), torch::kFloat32);
  }
  {
    rpct::AutocastScope bf16("bf16", torch::kCPU);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU));
    EXPECT_EQ(lin->forward(x).scalar_type(), torch::kBFloat16);  // the matmul ran in bf16
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(c10::DeviceType::CPU)) << "the scope restores the previous state";
  EXPECT_EQ(lin->forward(x).scalar_type(), torch::kFloat32);
  EXPECT_EQ(lin->weight.scalar_type(), torch::kFloat32) << "parameters stay float32";
}

TEST(Runtime, Tf32FollowsTheConfig) {
  auto& dist = rpct::DistContext::get();
  for (bool on : {false, true}) {
    auto cfg = rpct::parse_config(std::string("train: {tf32: ") + (on ? "true" : "false") + ", threads: 1}\n", "t.yaml");
    rpct::configure_runtime(cfg, dist);
    EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), on);
    EXPECT_EQ(at::globalContext().allowTF32CuDNN(), on);
  }
}

// The trainer's clipping must give exactly LibTorch's clip_grad_norm_ results (resume exactness, and the
// main job's numbers), only without reading the norm back to the host.
TEST(Runtime, DeviceClippingEqualsLibTorchBitForBit) {
  torch::manual_seed(rpct::test::test_seed());
  for (double max_norm : {0.5, 1e6}) {  // clipping active, and a no-op (coefficient clamped to 1)
    std::vector<torch::Tensor> a, b;
    for (auto shape : {std::vector<int64_t>{7, 5}, {13}, {3, 2, 4}}) {
      auto p = torch::randn(shape).requires_grad_();
      p.mutable_grad() = torch::randn(shape) * 3;
      auto q = p.detach().clone().requires_grad_();
      q.mutable_grad() = p.grad().clone();
      a.push_back(p);
      b.push_back(q);
    }
    torch::nn::utils::clip_grad_norm_(a, max_norm);
    rpct::clip_grad_norm_on_device(b, max_norm);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].grad(), b[i].grad())) << "tensor " << i;
  }
}

// train.precision auto: bf16 on CUDA and on CPUs with bfloat16 matrix units, fp32 elsewhere, and a note that says
// which and why; fp32 and bf16 pass through without a note. The CPU's answer is checked against /proc/cpuinfo's
// flags (amx_bf16, avx512_bf16), a source independent of the compiler builtins the resolver uses.
TEST(Runtime, PrecisionAutoFollowsTheHardware) {
  std::string why = "unchanged";
  EXPECT_EQ(rpct::resolve_precision("fp32", torch::kCPU, &why), "fp32");
  EXPECT_EQ(rpct::resolve_precision("bf16", torch::kCPU, &why), "bf16");
  EXPECT_EQ(why, "unchanged");
  EXPECT_EQ(rpct::resolve_precision("auto", torch::Device(torch::kCUDA, 0), &why), "bf16");
  EXPECT_NE(why.find("CUDA"), std::string::npos) << why;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags to compare with";
  const bool bf16_units = flags.find(" amx_bf16 ") != std::string::npos || flags.find(" avx512_bf16 ") != std::string::npos;
  EXPECT_EQ(rpct::resolve_precision("auto", torch::kCPU, &why), bf16_units ? "bf16" : "fp32") << flags;
  EXPECT_NE(why.find(bf16_units ? "this CPU has" : "neither"), std::string::npos) << why;
}

// The CUDA trainer path on a device (label gpu; skips with a reason without a CUDA build or device):
// every tensor the trainer creates is on the rank's GPU, bf16 autocast and TF32 train, batches come from
// pinned memory, and checkpoints carry the CUDA generator so dropout masks continue after a resume.
// The CPU halves of these checks are in test_runtime.cpp, test_train_step.cpp and test_dist.cpp.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <numeric>

#include "datasets/batch_source.h"
#include "datasets/fashion_mnist.h"
#include "trainer/checkpoint.h"
#include "trainer/runtime.h"
#include "trainer/trainer.h"

namespace {

#define REQUIRE_GPU()                                                                         \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible (torch::cuda::is_available() is false)"

rpct::Config small_config(const std::string& train_extra) {
  return rpct::parse_config("model: {patch: 7, dim: 32, depth: 2, heads: 2, drop_path: 0.1}\n"
                            "train: {lr: 2.0e-3, clip_grad: 1.0, ema: 0.9, device: cuda" + train_extra + "}\n",
                            "gpu.yaml");
}

rpct::Batch real_batch(int64_t n) {
  auto set = rpct::load_fashion_mnist(rpct::DataConfig{}.root, "train", n);
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  rpct::Batch batch;
  std::tie(batch.x, batch.y) = rpct::make_batch(set, idx, false, 0, 0);
  return batch;
}

// Fitting one fixed batch for 20 steps must lower the loss clearly (as test_train_step's CPU test).
constexpr double kMinRelativeDrop = 0.2;

}  // namespace

TEST(GpuTrainer, EveryTensorOnTheDeviceAndBothPrecisionsLearn) {
  REQUIRE_GPU();
  auto& dist = rpct::DistContext::get();
  for (const std::string precision : {"fp32", "bf16"}) {
    const auto cfg = small_config(", precision: " + precision);
    rpct::configure_runtime(cfg, dist);
    const torch::Device device = rpct::pick_device(cfg, dist);
    ASSERT_TRUE(device.is_cuda());
    rpct::Trainer trainer(cfg, dist, rpct::make_task(cfg, device));
    const auto batch = real_batch(64);
    const double first = trainer.step(batch, cfg.train.lr);
    double last = first;
    for (int i = 0; i < 20; ++i) last = trainer.step(batch, cfg.train.lr);
    EXPECT_LT(last, first * (1.0 - kMinRelativeDrop)) << precision << ": first " << first << " last " << last;
    for (const auto& [name, p] : trainer.params()) {
      EXPECT_EQ(p.device(), device) << name;
      EXPECT_EQ(p.scalar_type(), torch::kFloat32) << name << " (autocast must not change parameters)";
      if (p.grad().defined()) EXPECT_EQ(p.grad().device(), device) << name << ".grad";
    }
    for (const auto& [name, b] : trainer.buffers()) EXPECT_EQ(b.device(), device) << name;
    for (const auto& e : trainer.ema_tensors()) EXPECT_EQ(e.device(), device) << "EMA";
    const auto loss = trainer.step_device_loss(1, [&] { return batch; }, cfg.train.lr);
    EXPECT_EQ(loss.device(), device) << "the step's loss stays on the device";
  }
}

TEST(GpuTrainer, Tf32SwitchReachesCublas) {
  REQUIRE_GPU();
  auto& dist = rpct::DistContext::get();
  for (bool on : {true, false}) {
    rpct::configure_runtime(small_config(std::string(", tf32: ") + (on ? "true" : "false")), dist);
    EXPECT_EQ(at::globalContext().allowTF32CuBLAS(), on);
  }
}

TEST(GpuTrainer, BatchesArePinnedForNonBlockingCopies) {
  REQUIRE_GPU();
  EXPECT_TRUE(torch::empty({2, 3}, rpct::batch_float_options(true)).is_pinned());
  EXPECT_TRUE(torch::empty({2}, rpct::batch_label_options(true)).is_pinned());
  EXPECT_FALSE(torch::empty({2}, rpct::batch_label_options(false)).is_pinned());
}

// Dropout/drop-path masks of a CUDA model come from the CUDA generator: a resume must continue its stream.
TEST(GpuTrainer, CheckpointRestoresTheCudaGenerator) {
  REQUIRE_GPU();
  auto& dist = rpct::DistContext::get();
  const auto cfg = small_config("");
  rpct::configure_runtime(cfg, dist);
  rpct::Trainer trainer(cfg, dist, rpct::make_task(cfg, rpct::pick_device(cfg, dist)));
  const auto dir = boost::filesystem::temp_directory_path() / "rpct_gpu_ckpt_rng";
  boost::filesystem::remove_all(dir);
  rpct::Checkpointer ckpt(dir.string(), cfg, dist);
  rpct::TrainState st;
  st.step = 1;
  torch::rand({5}, torch::TensorOptions().device(torch::kCUDA));  // move the stream off its seed
  const auto saved = ckpt.save(trainer.params(), trainer.buffers(), trainer.ema_tensors(), trainer.optimizer(), st);
  const auto after_save = torch::rand({1000}, torch::TensorOptions().device(torch::kCUDA)).cpu();
  torch::manual_seed(12345);  // a restarted process would start from the seed
  ASSERT_TRUE(ckpt.load(saved, trainer.params(), trainer.buffers(), trainer.ema_tensors(), trainer.optimizer()));
  const auto after_load = torch::rand({1000}, torch::TensorOptions().device(torch::kCUDA)).cpu();
  EXPECT_TRUE(torch::equal(after_save, after_load)) << "the CUDA stream did not continue from the checkpoint";
  boost::filesystem::remove_all(dir);
}

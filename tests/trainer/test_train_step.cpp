#include <gtest/gtest.h>

#include <boost/filesystem.hpp>

#include <algorithm>
#include <thread>
#include <vector>

#include "datasets/fashion_mnist.h"
#include "trainer/trainer.h"

namespace {

// Fits one fixed batch of real images for 20 steps with `extra` config lines; returns (first, last) loss.
std::pair<double, double> fit_one_batch(const std::string& extra) {
  torch::manual_seed(0);
  torch::set_num_threads(1);
  auto cfg = rpct::parse_config(
      "model: {patch: 7, dim: 32, depth: 2, heads: 2}\ntrain: {lr: 2.0e-3, clip_grad: 1.0" + extra + "}\n", "t.yaml");
  auto set = rpct::load_fashion_mnist(cfg.data.root, "train", 256);
  std::vector<int64_t> idx(64);
  std::iota(idx.begin(), idx.end(), 0);
  rpct::Batch batch;
  std::tie(batch.x, batch.y) = rpct::make_batch(set, idx, false, 0, 0);
  rpct::Trainer trainer(cfg, rpct::DistContext::get(), rpct::make_task(cfg, torch::kCPU));
  const double first = trainer.step(batch, cfg.train.lr);
  double last = first;
  for (int i = 0; i < 20; ++i) last = trainer.step(batch, cfg.train.lr);
  for (const auto& [name, p] : trainer.params()) EXPECT_EQ(p.scalar_type(), torch::kFloat32) << name;
  return {first, last};
}

// Fitting one fixed batch for 20 steps must lower the loss clearly, not by noise.
constexpr double kMinRelativeDrop = 0.2;

}  // namespace

TEST(Train, StepsOnRealDataDecreaseTheLoss) {
  const auto [first, last] = fit_one_batch("");
  EXPECT_LT(last, first * (1.0 - kMinRelativeDrop)) << "first " << first << " last " << last;
}

// train.precision bf16 on the CPU: the forward runs under bf16 autocast, the weights stay float32, and
// the model still learns; its losses differ from float32's (so autocast was really on).
TEST(Train, Bf16AutocastStepsDecreaseTheLoss) {
  const auto [first, last] = fit_one_batch(", precision: bf16");
  EXPECT_LT(last, first * (1.0 - kMinRelativeDrop)) << "first " << first << " last " << last;
  const auto fp32 = fit_one_batch(", precision: fp32");
  EXPECT_NE(first, fp32.first) << "bf16 and fp32 forward passes gave the same loss: autocast did nothing";
}

// dist.overlap: on / off as set; auto is off on a CPU whose cores the ranks' threads fill, on for CUDA.
TEST(Train, OverlapSettingFollowsTheCores) {
  auto& dist = rpct::DistContext::get();
  EXPECT_TRUE(rpct::overlap_all_reduce("on", torch::kCPU, dist));
  EXPECT_FALSE(rpct::overlap_all_reduce("off", torch::Device(torch::kCUDA, 0), dist));
  EXPECT_TRUE(rpct::overlap_all_reduce("auto", torch::Device(torch::kCUDA, 0), dist));
  const int threads = torch::get_num_threads();
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_FALSE(rpct::overlap_all_reduce("auto", torch::kCPU, dist)) << "every core computes: no spare one to poll";
  torch::set_num_threads(threads);
}

// train.ema: the EMA (trainer/ema.h) starts as a copy of the initial parameters and after every optimizer step
// becomes decay * ema + (1 - decay) * param, with the parameters after that step (a fixed decay, no warmup);
// it covers the parameters only, not the buffers. Checked against the same loop in float64 after each of 3
// AdamW steps of a large LR (so the weights move and the EMA visibly lags behind them).
TEST(Train, EmaIsTheDecayedAverageOfTheParametersAfterEachStep) {
  torch::manual_seed(0);
  torch::set_num_threads(1);
  constexpr double kDecay = 0.75;
  auto cfg = rpct::parse_config(
      "model: {patch: 7, dim: 16, depth: 1, heads: 2}\ntrain: {lr: 1.0e-2, clip_grad: 0.0, ema: 0.75}\n", "t.yaml");
  rpct::Trainer trainer(cfg, rpct::DistContext::get(), rpct::make_task(cfg, torch::kCPU));
  const auto& params = trainer.params();
  const auto& ema = trainer.ema_tensors();
  ASSERT_EQ(ema.size(), params.size()) << "one EMA tensor per parameter";
  std::vector<torch::Tensor> expected;
  for (const auto& [name, p] : params) expected.push_back(p.detach().to(torch::kFloat64));
  rpct::Batch batch;
  batch.x = torch::randn({8, 1, 28, 28});
  batch.y = torch::randint(0, 10, {8}, torch::kLong);
  // The EMA is float32 arithmetic on values of order 1, 3 updates: a few float32 ulps (1.2e-7) each.
  constexpr double kEmaTol = 1e-6;
  for (int step = 1; step <= 3; ++step) {
    SCOPED_TRACE("after step " + std::to_string(step));
    trainer.step(batch, cfg.train.lr);
    double lag = 0;  // how far the EMA is behind the parameters: it must be well above the tolerance
    for (size_t i = 0; i < params.size(); ++i) {
      const auto p = params[i].second.detach().to(torch::kFloat64);
      expected[i] = kDecay * expected[i] + (1.0 - kDecay) * p;
      ASSERT_EQ(ema[i].sizes(), params[i].second.sizes()) << params[i].first;
      const double diff = (ema[i].to(torch::kFloat64) - expected[i]).abs().max().item<double>();
      EXPECT_LE(diff, kEmaTol) << "ema of " << params[i].first << ": max difference " << diff;
      lag = std::max(lag, (p - expected[i]).abs().max().item<double>());
    }
    EXPECT_GT(lag, 1000 * kEmaTol) << "the weights barely moved: the check above would not see a wrong decay";
  }
}

TEST(Train, ShortRunIsDeterministic) {
  auto cfg = rpct::parse_config(
      "model: {patch: 7, dim: 16, depth: 1, heads: 2}\n"
      "data: {limit_train: 256, limit_test: 100}\ntrain: {epochs: 1, batch_size: 32, threads: 1}\n",
      "t.yaml");
  auto& dist = rpct::DistContext::get();
  auto dir = boost::filesystem::temp_directory_path() / "rpct_train_det";
  boost::filesystem::create_directories(dir);
  auto a = rpct::train(cfg, dist, dir.string());
  auto b = rpct::train(cfg, dist, dir.string());
  EXPECT_EQ(a.train_loss, b.train_loss);  // bit-identical: same seed, same thread count
  EXPECT_EQ(a.eval.at("loss"), b.eval.at("loss"));
  boost::filesystem::remove_all(dir);
}

// trainer/lr_schedule.h and trainer/optimizer: the LR curves (warmup + cosine by epochs, mmseg's poly by
// optimizer steps with train.iters) against their closed forms; make_optimizer's SGD against a momentum
// update computed by hand, weight decay only in the decay group; the optimizer state as named tensors
// (what optim.safetensors holds) round-trips for AdamW and SGD, a state of the other optimizer is an error
// naming the file and both (the one test of that error below the CLI), and an AdamW state without the
// "optimizer" key (older checkpoints) loads. The train.* defaults (AdamW, cosine) are test_config's.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/expect_error.h"
#include "tests/test_seed.h"
#include "trainer/lr_schedule.h"
#include "trainer/optimizer.h"
#include "trainer/trainer.h"

using rpct::test::expect_error_naming;

namespace {

// The schedules are double arithmetic on a handful of operations: they must match the closed form to
// rounding (a few ulps of values around 1e-3).
constexpr double kLrTolerance = 1e-15;

rpct::TrainConfig poly_config() {
  rpct::TrainConfig t;
  t.schedule = "poly";
  t.lr = 1e-3;
  t.min_lr = 1e-5;
  t.poly_power = 0.9;
  t.warmup_epochs = 0;
  t.iters = 160000;
  return t;
}

// mmseg PolyLR: the LR of iteration `it` (0-based) of `max_it`.
double mmseg_poly(const rpct::TrainConfig& t, double it, double max_it) {
  return (t.lr - t.min_lr) * std::pow(1.0 - it / max_it, t.poly_power) + t.min_lr;
}

double lr_at_step(const rpct::TrainConfig& t, int64_t steps_per_epoch, int64_t step) {
  // epoch_progress deliberately far off: with train.iters the curve must be measured in steps only.
  return rpct::lr_at(t, rpct::schedule_position(t, steps_per_epoch, step, /*epoch_progress=*/1234.5));
}

}  // namespace

TEST(LrSchedule, CosineWarmsUpThenDecaysByEpochs) {
  rpct::TrainConfig t;
  t.lr = 1e-3;
  t.min_lr = 1e-5;
  t.warmup_lr = 1e-6;
  t.warmup_epochs = 1;
  t.epochs = 10;
  auto at_epoch = [&](double e) { return rpct::lr_at(t, rpct::schedule_position(t, /*steps_per_epoch=*/7, 0, e)); };
  EXPECT_DOUBLE_EQ(at_epoch(0.0), 1e-6);
  EXPECT_NEAR(at_epoch(0.5), (1e-6 + 1e-3) / 2, kLrTolerance);
  EXPECT_DOUBLE_EQ(at_epoch(1.0), 1e-3);
  EXPECT_NEAR(at_epoch(5.5), (1e-3 + 1e-5) / 2, kLrTolerance);
  EXPECT_NEAR(at_epoch(10.0), 1e-5, kLrTolerance);
}

TEST(LrSchedule, PolyByIterationsIsMmsegsPolyLR) {
  const auto t = poly_config();
  EXPECT_DOUBLE_EQ(lr_at_step(t, 2526, 0), 1e-3);
  // Half-way: (1e-3 - 1e-5) * 0.5^0.9 + 1e-5, 0.5^0.9 = 0.53588673...
  EXPECT_NEAR(lr_at_step(t, 2526, 80000), 0.99e-3 * 0.5358867312681466 + 1e-5, kLrTolerance);
  for (int64_t it : {1, 2526, 40000, 123457, 159999})
    EXPECT_NEAR(lr_at_step(t, 2526, it), mmseg_poly(t, it, 160000), kLrTolerance) << "iteration " << it;
  EXPECT_DOUBLE_EQ(lr_at_step(t, 2526, 160000), 1e-5);
  // Strictly decreasing over the run.
  EXPECT_GT(lr_at_step(t, 2526, 159999), lr_at_step(t, 2526, 160000));
  EXPECT_GT(lr_at_step(t, 2526, 100), lr_at_step(t, 2526, 101));
}

TEST(LrSchedule, PolyByEpochsDecaysOverTheEpochs) {
  auto t = poly_config();
  t.iters = 0;
  t.epochs = 4;
  // In epochs, the same curve: progress 1 of 4 epochs = iteration 1 of 4.
  EXPECT_NEAR(rpct::lr_at(t, rpct::schedule_position(t, 100, 0, 1.0)), mmseg_poly(t, 1, 4), kLrTolerance);
  EXPECT_NEAR(rpct::lr_at(t, rpct::schedule_position(t, 100, 0, 3.5)), mmseg_poly(t, 3.5, 4), kLrTolerance);
}

// warmup_epochs converts to optimizer steps; the poly decay then spans the remaining steps.
TEST(LrSchedule, PolyAfterAWarmupInSteps) {
  auto t = poly_config();
  t.iters = 110;
  t.warmup_epochs = 1;
  t.warmup_lr = 1e-6;
  const int64_t steps_per_epoch = 10;
  EXPECT_DOUBLE_EQ(lr_at_step(t, steps_per_epoch, 0), 1e-6);
  EXPECT_NEAR(lr_at_step(t, steps_per_epoch, 5), (1e-6 + 1e-3) / 2, kLrTolerance);
  EXPECT_DOUBLE_EQ(lr_at_step(t, steps_per_epoch, 10), 1e-3);
  EXPECT_NEAR(lr_at_step(t, steps_per_epoch, 60), mmseg_poly(t, 50, 100), kLrTolerance);
  EXPECT_DOUBLE_EQ(lr_at_step(t, steps_per_epoch, 110), 1e-5);
}

namespace {

// A tiny classification task whose optimizer train.* builds.
struct TinyTask {
  explicit TinyTask(const std::string& train_yaml)
      : cfg(rpct::parse_config("model: {patch: 7, dim: 16, depth: 1, heads: 2}\n"
                               "train: " + train_yaml + "\n",
                               "t.yaml")),
        task(rpct::make_task(cfg, torch::kCPU)),
        opt(rpct::make_optimizer(*task, cfg.train)) {
    for (const auto& p : task->model().named_parameters()) params.emplace_back(p.key(), p.value());
  }
  // Sets every parameter's gradient to a fresh random tensor; returns them in parameter order.
  std::vector<torch::Tensor> random_grads() {
    std::vector<torch::Tensor> g;
    for (auto& [n, p] : params) {
      g.push_back(torch::randn_like(p));
      p.mutable_grad() = g.back().clone();
    }
    return g;
  }
  std::vector<torch::Tensor> values() const {
    std::vector<torch::Tensor> v;
    for (const auto& [n, p] : params) v.push_back(p.detach().clone());
    return v;
  }

  rpct::Config cfg;
  std::unique_ptr<rpct::Task> task;
  std::unique_ptr<torch::optim::Optimizer> opt;
  rpct::NamedTensors params;
};

// float32 updates against the same arithmetic in float64: a few float32 ulps of values of order 1.
constexpr double kFloat32UpdateTolerance = 1e-5;

}  // namespace

// Two SGD steps: buf = g (first step), then buf = momentum * buf + g; p -= lr * buf, with g the gradient
// plus weight_decay * p in the decay group only (PyTorch's SGD, dampening 0, no Nesterov).
TEST(Optimizer, SgdStepIsTheMomentumUpdateWithDecayOnlyWhereDue) {
  torch::manual_seed(rpct::test::test_seed());
  TinyTask run("{optimizer: sgd, momentum: 0.9, weight_decay: 0.1, lr: 0.5}");
  ASSERT_EQ(rpct::optimizer_kind(*run.opt), "sgd");
  const double lr = 0.5, momentum = 0.9, weight_decay = 0.1;
  std::vector<torch::Tensor> expected = run.values(), buf(run.params.size());
  int decayed = 0, not_decayed = 0;
  for (int step = 0; step < 2; ++step) {
    const auto grads = run.random_grads();
    run.opt->step();
    for (size_t i = 0; i < run.params.size(); ++i) {
      const auto& [name, p] = run.params[i];
      const bool decays = !run.task->no_weight_decay(name, p);
      auto d = grads[i].to(torch::kFloat64) + (decays ? weight_decay : 0.0) * expected[i].to(torch::kFloat64);
      buf[i] = step == 0 ? d : momentum * buf[i] + d;
      expected[i] = expected[i].to(torch::kFloat64) - lr * buf[i];
      if (step == 1) (decays ? decayed : not_decayed) += 1;
    }
  }
  ASSERT_GT(decayed, 0);
  ASSERT_GT(not_decayed, 0);  // both groups exercised
  for (size_t i = 0; i < run.params.size(); ++i)
    EXPECT_TRUE(torch::allclose(run.params[i].second.to(torch::kFloat64), expected[i], 0, kFloat32UpdateTolerance))
        << run.params[i].first << ": max difference "
        << (run.params[i].second.to(torch::kFloat64) - expected[i]).abs().max().item<double>();
}

// The named-tensor form of each optimizer's state, loaded into a fresh optimizer, gives the same next step.
TEST(Optimizer, StateRoundTripsForAdamWAndSgd) {
  torch::manual_seed(rpct::test::test_seed());
  for (const std::string kind : {"adamw", "sgd"}) {
    SCOPED_TRACE(kind);
    const std::string yaml = "{optimizer: " + kind + ", lr: 0.01}";
    TinyTask a(yaml);
    a.random_grads();
    a.opt->step();
    const auto saved = rpct::save_optimizer_state(*a.opt, a.params);
    EXPECT_EQ(saved.metadata.at("optimizer"), kind);
    EXPECT_EQ(saved.tensors.size(), a.params.size() * (kind == "adamw" ? 2 : 1));
    // b: the same parameters, a fresh optimizer loaded from the saved state.
    TinyTask b(yaml);
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < a.params.size(); ++i) b.params[i].second.copy_(a.params[i].second);
    }
    rpct::load_optimizer_state(*b.opt, b.params, saved, "optim.safetensors");
    const auto grads = a.random_grads();
    for (size_t i = 0; i < grads.size(); ++i) b.params[i].second.mutable_grad() = grads[i].clone();
    a.opt->step();
    b.opt->step();
    for (size_t i = 0; i < a.params.size(); ++i)
      EXPECT_TRUE(a.params[i].second.equal(b.params[i].second)) << a.params[i].first;
  }
}

TEST(Optimizer, StateOfAnotherOptimizerIsAnErrorNamingFileAndBoth) {
  TinyTask adamw("{optimizer: adamw}"), sgd("{optimizer: sgd}");
  for (auto* run : {&adamw, &sgd}) {
    run->random_grads();
    run->opt->step();
  }
  const auto adamw_state = rpct::save_optimizer_state(*adamw.opt, adamw.params);
  const auto sgd_state = rpct::save_optimizer_state(*sgd.opt, sgd.params);
  expect_error_naming([&] { rpct::load_optimizer_state(*sgd.opt, sgd.params, adamw_state, "run/optim.safetensors"); },
                      {"run/optim.safetensors", "'adamw'", "'sgd'", "train.optimizer"});
  expect_error_naming([&] { rpct::load_optimizer_state(*adamw.opt, adamw.params, sgd_state, "run/optim.safetensors"); },
                      {"run/optim.safetensors", "'sgd'", "'adamw'", "train.optimizer"});
}

// Checkpoints written before SGD existed have no "optimizer" key: they are AdamW states and load as such.
TEST(Optimizer, AdamWStateWithoutItsNameLoads) {
  TinyTask a("{}"), b("{}");
  a.random_grads();
  a.opt->step();
  auto old_format = rpct::save_optimizer_state(*a.opt, a.params);
  old_format.metadata.erase("optimizer");
  rpct::load_optimizer_state(*b.opt, b.params, old_format, "old/optim.safetensors");
  for (size_t i = 0; i < a.params.size(); ++i) {
    const auto* sa = static_cast<torch::optim::AdamWParamState*>(
        a.opt->state().at(a.params[i].second.unsafeGetTensorImpl()).get());
    const auto* sb = static_cast<torch::optim::AdamWParamState*>(
        b.opt->state().at(b.params[i].second.unsafeGetTensorImpl()).get());
    EXPECT_TRUE(sa->exp_avg().equal(sb->exp_avg())) << a.params[i].first;
    EXPECT_TRUE(sa->exp_avg_sq().equal(sb->exp_avg_sq())) << a.params[i].first;
    EXPECT_EQ(sa->step(), sb->step());
  }
}

// A saved state of another shape than its parameter names the file and the tensor.
TEST(Optimizer, StateOfAnotherShapeNamesFileAndTensor) {
  TinyTask run("{optimizer: sgd}");
  run.random_grads();
  run.opt->step();
  auto saved = rpct::save_optimizer_state(*run.opt, run.params);
  auto& [name, tensor] = saved.tensors.front();
  tensor = torch::zeros({tensor.numel() + 1});
  expect_error_naming([&] { rpct::load_optimizer_state(*run.opt, run.params, saved, "x/optim.safetensors"); },
                      {"x/optim.safetensors", "'" + name + "'"});
}

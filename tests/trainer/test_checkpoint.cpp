// trainer/checkpoint in one process (world size 1): Checkpointer save -> load restores parameters,
// buffers, EMA, AdamW state (or SGD's momentum buffers), the train state and the RNG stream (a state of the
// other optimizer is test_optimizer's); verify_checkpoint rejects a directory without DONE, with a damaged,
// truncated or missing file, naming the file; resume "auto" skips such a checkpoint for the previous one;
// saving prunes to the newest ckpt.keep complete checkpoints plus the best, leaving an incomplete one newer
// than all of them; copy_named_tensors names the file and the tensor of a wrong shape, a missing tensor or a
// wrong dtype.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "distributed/dist_context.h"
#include "tests/expect_error.h"
#include "tests/test_files.h"
#include "tests/test_seed.h"
#include "trainer/checkpoint.h"
#include "trainer/safetensors.h"

using rpct::test::expect_error_naming;
using rpct::test::expect_text_naming;
using rpct::test::read_bytes;
using rpct::test::TempDir;
using rpct::test::write_bytes;

namespace {

// A tiny "model" (parameters, a buffer, their EMA) with an optimizer (AdamW, or SGD with momentum) that has
// taken steps, so that every part of a checkpoint holds values that a load must restore.
struct TinyRun {
  rpct::NamedTensors params, buffers;
  std::vector<torch::Tensor> ema;
  std::unique_ptr<torch::optim::Optimizer> opt;

  explicit TinyRun(const std::string& optimizer = "adamw") {
    params = {{"w", torch::randn({3, 4}).requires_grad_(true)}, {"b", torch::randn({4}).requires_grad_(true)}};
    buffers = {{"count", torch::randint(0, 100, {2}, torch::kLong)}};
    for (auto& [n, p] : params) ema.push_back(p.detach().clone() * 0.5);
    const std::vector<torch::Tensor> trained{params[0].second, params[1].second};
    if (optimizer == "sgd")
      opt = std::make_unique<torch::optim::SGD>(trained, torch::optim::SGDOptions(1e-2).momentum(0.9));
    else
      opt = std::make_unique<torch::optim::AdamW>(trained, torch::optim::AdamWOptions(1e-2));
    for (int step = 0; step < 2; ++step) {
      opt->zero_grad();
      (params[0].second.sum() * params[1].second.pow(2).sum()).backward();
      opt->step();
    }
  }
  // Every value a checkpoint holds, set to something else.
  void scramble() {
    torch::NoGradGuard ng;
    for (auto& [n, p] : params) p.fill_(-7);
    for (auto& [n, b] : buffers) b.fill_(-7);
    for (auto& e : ema) e.fill_(-7);
    opt->state().clear();
  }
  std::string save(rpct::Checkpointer& ck, const rpct::TrainState& s) { return ck.save(params, buffers, ema, *opt, s); }
  std::optional<rpct::LoadedCheckpoint> load(rpct::Checkpointer& ck, const std::string& spec) {
    return ck.load(spec, params, buffers, ema, *opt);
  }
};

rpct::TrainState state_at(int64_t step) {
  rpct::TrainState s;
  s.step = step;
  s.epoch = 3;
  s.epoch_pos = 640;
  s.epoch_steps = 5;
  s.epoch_loss_sum = 11.25;
  s.best_metric = 0.5;
  s.best_step = -1;
  return s;
}

const torch::optim::AdamWParamState& adam_state(torch::optim::Optimizer& opt, const torch::Tensor& p) {
  return static_cast<const torch::optim::AdamWParamState&>(*opt.state().at(p.unsafeGetTensorImpl()));
}
const torch::optim::SGDParamState& sgd_state(torch::optim::Optimizer& opt, const torch::Tensor& p) {
  return static_cast<const torch::optim::SGDParamState&>(*opt.state().at(p.unsafeGetTensorImpl()));
}

// Flips one bit in the middle of `path`.
void flip_a_bit(const std::string& path) {
  std::string bytes = read_bytes(path);
  bytes[bytes.size() / 2] ^= 0x40;
  write_bytes(path, bytes);
}

}  // namespace

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(rpct::test::test_seed()); }
  TempDir run_dir_;
  rpct::Config cfg_;
  rpct::Checkpointer ck_{run_dir_.str(), cfg_, rpct::DistContext::get()};
};

TEST_F(Checkpoint, SaveThenLoadRestoresEverything) {
  TinyRun run;
  const auto saved_state = state_at(10);
  const auto dir = run.save(ck_, saved_state);
  EXPECT_EQ(rpct::verify_checkpoint(dir), "");
  // What must come back, copied before scrambling.
  std::vector<torch::Tensor> params, buffers, ema, exp_avg, exp_avg_sq;
  std::vector<int64_t> adam_steps;
  for (auto& [n, p] : run.params) {
    params.push_back(p.detach().clone());
    const auto& st = adam_state(*run.opt, p);
    exp_avg.push_back(st.exp_avg().clone());
    exp_avg_sq.push_back(st.exp_avg_sq().clone());
    adam_steps.push_back(st.step());
  }
  for (auto& [n, b] : run.buffers) buffers.push_back(b.clone());
  for (auto& e : run.ema) ema.push_back(e.clone());
  const auto next_draw = torch::rand({4});  // the RNG stream right after the save

  run.scramble();
  torch::rand({100});  // move the RNG on
  const auto loaded = run.load(ck_, "auto");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->dir, dir);
  EXPECT_EQ(loaded->world_size, 1);
  EXPECT_EQ(loaded->config_yaml, rpct::to_yaml(cfg_));
  const auto& s = loaded->state;
  EXPECT_EQ(s.step, saved_state.step);
  EXPECT_EQ(s.epoch, saved_state.epoch);
  EXPECT_EQ(s.epoch_pos, saved_state.epoch_pos);
  EXPECT_EQ(s.epoch_steps, saved_state.epoch_steps);
  EXPECT_EQ(s.epoch_loss_sum, saved_state.epoch_loss_sum);
  EXPECT_EQ(s.best_metric, saved_state.best_metric);
  EXPECT_EQ(s.best_step, saved_state.best_step);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& name = run.params[i].first;
    EXPECT_TRUE(run.params[i].second.equal(params[i])) << name;
    EXPECT_TRUE(run.ema[i].equal(ema[i])) << "ema of " << name;
    const auto& st = adam_state(*run.opt, run.params[i].second);
    EXPECT_TRUE(st.exp_avg().equal(exp_avg[i])) << "exp_avg of " << name;
    EXPECT_TRUE(st.exp_avg_sq().equal(exp_avg_sq[i])) << "exp_avg_sq of " << name;
    EXPECT_EQ(st.step(), adam_steps[i]) << "AdamW step of " << name;
  }
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(run.buffers[i].second.equal(buffers[i]));
  EXPECT_TRUE(torch::rand({4}).equal(next_draw)) << "the RNG stream was not restored";
}

TEST_F(Checkpoint, SaveThenLoadRestoresSgdMomentumBuffers) {
  TinyRun run("sgd");
  const auto dir = run.save(ck_, state_at(10));
  std::vector<torch::Tensor> momentum;
  for (auto& [n, p] : run.params) momentum.push_back(sgd_state(*run.opt, p).momentum_buffer().clone());
  run.scramble();
  ASSERT_TRUE(run.load(ck_, dir).has_value());
  for (size_t i = 0; i < momentum.size(); ++i) {
    ASSERT_TRUE(run.opt->state().count(run.params[i].second.unsafeGetTensorImpl())) << run.params[i].first;
    EXPECT_TRUE(sgd_state(*run.opt, run.params[i].second).momentum_buffer().equal(momentum[i]))
        << "momentum buffer of " << run.params[i].first;
  }
}

TEST_F(Checkpoint, NothingToResumeIsNotAnError) {
  TinyRun run;
  EXPECT_FALSE(run.load(ck_, "auto").has_value());
}

TEST_F(Checkpoint, VerifyRejectsIncompleteOrDamagedDirectoriesNamingTheFile) {
  TinyRun run;
  const auto dir = run.save(ck_, state_at(10));
  const std::string copy = run_dir_.file("copy");
  // Each damage on a fresh copy of the good checkpoint: how, and what the report must name.
  struct Damage {
    std::string what;
    std::function<void(const std::string&)> apply;
    std::vector<std::string> named;
  };
  const std::vector<Damage> damages = {
      {"no DONE", [](const std::string& d) { boost::filesystem::remove(d + "/DONE"); }, {"no DONE"}},
      {"bit flip", [](const std::string& d) { flip_a_bit(d + "/model.safetensors"); },
       {"/model.safetensors", "checksum mismatch"}},
      {"truncated", [](const std::string& d) { boost::filesystem::resize_file(d + "/optim.safetensors", 100); },
       {"/optim.safetensors", "checksum mismatch"}},
      {"missing file", [](const std::string& d) { boost::filesystem::remove(d + "/meta.json"); },
       {"/meta.json", "missing"}},
      {"corrupt DONE", [](const std::string& d) { write_bytes(d + "/DONE", "{\"files\": "); }, {"/DONE", "corrupt"}},
  };
  for (const auto& dmg : damages) {
    SCOPED_TRACE(dmg.what);
    boost::filesystem::remove_all(copy);
    boost::filesystem::create_directories(copy);
    for (const auto& e : boost::filesystem::directory_iterator(dir))
      boost::filesystem::copy_file(e.path(), copy + "/" + e.path().filename().string());
    ASSERT_EQ(rpct::verify_checkpoint(copy), "") << "the undamaged copy must verify";
    dmg.apply(copy);
    auto named = dmg.named;
    named.push_back(copy);
    expect_text_naming(rpct::verify_checkpoint(copy), named);
    expect_error_naming([&] { run.load(ck_, copy); }, {"--resume " + copy, "not a complete, valid checkpoint"});
  }
  expect_text_naming(rpct::verify_checkpoint(run_dir_.file("nope")), {run_dir_.file("nope"), "not found"});
}

// resume "auto" takes the newest checkpoint that verifies: a damaged newer one is skipped.
TEST_F(Checkpoint, AutoResumeSkipsADamagedNewestCheckpoint) {
  TinyRun run;
  const auto older = run.save(ck_, state_at(5));
  const auto newer = run.save(ck_, state_at(10));
  flip_a_bit(newer + "/model.safetensors");
  const auto loaded = run.load(ck_, "auto");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->dir, older);
  EXPECT_EQ(loaded->state.step, 5);
}

// Retention (ckpt.keep 2): each save keeps the newest 2 complete checkpoints plus the best one (the train
// state's best_step, here 20 from its save on) however old, and removes the rest. Before the last save, two
// incomplete directories (no DONE): step 60, newer than every complete checkpoint, may be a write in progress
// and is left alone; step 35, older than the complete step 40, is an interrupted write's debris and goes.
// Steps 10..50 (not 1..5) leave room for the incomplete step between two complete ones.
TEST_F(Checkpoint, SavePrunesToTheNewestCompleteOnesAndTheBest) {
  rpct::Config cfg = cfg_;
  cfg.ckpt.keep = 2;
  rpct::Checkpointer ck(run_dir_.str(), cfg, rpct::DistContext::get());
  TinyRun run;
  const int64_t best = 20;
  auto name = [](int64_t step) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "step_%08lld", static_cast<long long>(step));
    return std::string(buf);
  };
  auto remaining = [&] {
    std::set<std::string> out;
    for (const auto& e : boost::filesystem::directory_iterator(ck.ckpt_root()))
      if (e.path().filename().string().rfind("step_", 0) == 0) out.insert(e.path().filename().string());
    return out;
  };
  auto save = [&](int64_t step) {
    auto s = state_at(step);
    s.best_step = step >= best ? best : -1;
    const auto dir = run.save(ck, s);
    EXPECT_EQ(boost::filesystem::path(dir).filename().string(), name(step)) << "the naming this test assumes";
  };
  std::vector<int64_t> saved;
  for (int64_t step : {10, 20, 30, 40}) {
    save(step);
    saved.push_back(step);
    std::set<std::string> expected;  // the two newest, and the best once there is one
    for (size_t i = saved.size() < 2 ? 0 : saved.size() - 2; i < saved.size(); ++i) expected.insert(name(saved[i]));
    if (step >= best) expected.insert(name(best));
    EXPECT_EQ(remaining(), expected) << "after saving step " << step;
  }
  for (int64_t step : {35, 60}) {
    const std::string dir = ck.ckpt_root() + "/" + name(step);
    boost::filesystem::create_directories(dir);
    write_bytes(dir + "/model.safetensors", "a partial write");
  }
  save(50);
  EXPECT_EQ(remaining(), (std::set<std::string>{name(20), name(40), name(50), name(60)}));
  const std::string partial = ck.ckpt_root() + "/" + name(60) + "/model.safetensors";
  ASSERT_TRUE(boost::filesystem::exists(partial)) << "the incomplete newest directory was removed";
  EXPECT_EQ(read_bytes(partial), "a partial write") << "the incomplete newest directory was touched";
  for (int64_t step : {20, 40, 50}) EXPECT_EQ(rpct::verify_checkpoint(ck.ckpt_root() + "/" + name(step)), "");
}

// Loading into a model of another shape names the file and the tensor (and both shapes).
TEST_F(Checkpoint, LoadIntoAnotherShapeNamesFileAndTensor) {
  TinyRun run;
  const auto dir = run.save(ck_, state_at(10));
  run.params[1].second = torch::zeros({5}).requires_grad_(true);
  expect_error_naming([&] { run.load(ck_, dir); }, {dir + "/model.safetensors", "tensor 'b'", "[4]", "[5]"});
}

TEST(CopyNamedTensors, NamesFileAndTensorOfAMissingTensorAWrongShapeOrAWrongDtype) {
  const std::string file = "weights.safetensors";
  const rpct::NamedTensors src = {{"enc.w", torch::ones({2, 3})}, {"enc.ids", torch::ones({2}, torch::kLong)}};
  auto dst = [](const std::string& name, torch::Tensor t) { return rpct::NamedTensors{{name, t}}; };
  expect_error_naming([&] { rpct::copy_named_tensors(src, "", dst("dec.w", torch::zeros({2, 3})), file); },
                      {file, "missing tensor 'dec.w'"});
  expect_error_naming([&] { rpct::copy_named_tensors(src, "", dst("w", torch::zeros({2, 3})), file); },
                      {file, "missing tensor 'w'"});  // the prefix is part of the name
  expect_error_naming([&] { rpct::copy_named_tensors(src, "", dst("enc.w", torch::zeros({3, 2})), file); },
                      {file, "tensor 'enc.w'", "[2, 3]", "[3, 2]"});
  expect_error_naming([&] { rpct::copy_named_tensors(src, "", dst("enc.ids", torch::zeros({2})), file); },
                      {file, "tensor 'enc.ids'", "Long", "Float"});
  // Floating-point widths convert: float64 or bfloat16 data into a float32 tensor, by value.
  auto f32 = torch::zeros({2, 3});
  rpct::copy_named_tensors({{"w", torch::full({2, 3}, 0.25, torch::kDouble)}}, "", dst("w", f32), file);
  EXPECT_TRUE(f32.equal(torch::full({2, 3}, 0.25)));
  rpct::copy_named_tensors({{"enc.w", torch::full({2, 3}, 1.5).to(torch::kBFloat16)}}, "enc.", dst("w", f32), file);
  EXPECT_TRUE(f32.equal(torch::full({2, 3}, 1.5)));
}

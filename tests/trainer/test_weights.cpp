// Where weights come from: resolve_checkpoint_dir (checkpoint dir, run dir -> newest complete and
// verified checkpoint, anything else -> an error naming the path), read_weights / load_weights (EMA or
// not, buffers left out, timm names accepted) and the timm name mapping. Checkpoints are written by
// hand here (model.safetensors + DONE with its checksum), in the layout Checkpointer::save writes.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

#include "models/vit_weights.h"
#include "tests/datasets/fixtures.h"
#include "trainer/checkpoint.h"
#include "trainer/run_dir.h"
#include "trainer/weights.h"

namespace fs = boost::filesystem;
using rpct::NamedTensors;
using rpct::test::TempDir;

namespace {

// Writes <dir>/model.safetensors with `tensors`; with `complete`, also the DONE marker listing it.
std::string write_checkpoint(const std::string& dir, const NamedTensors& tensors, bool complete) {
  fs::create_directories(dir);
  rpct::write_safetensors(dir + "/model.safetensors", tensors);
  if (complete) {
    const nlohmann::json files = {{"model.safetensors", rpct::sha256_file(dir + "/model.safetensors")}};
    rpct::write_file_atomic(dir + "/DONE", nlohmann::json{{"files", files}}.dump());
  }
  return dir;
}

// Asserts that resolve_checkpoint_dir(path) throws and that the message contains every needle.
void expect_resolve_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    const auto got = rpct::resolve_checkpoint_dir(path);
    FAIL() << path << " resolved to " << got << ", expected an error";
  } catch (const std::runtime_error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

NamedTensors small_weights(float value) {
  return {{"cls_token", torch::full({1, 1, 4}, value)}, {"blocks.0.fc1.weight", torch::full({8, 4}, value)}};
}

}  // namespace

TEST(ResolveCheckpointDir, RunDirGivesNewestCompleteCheckpoint) {
  TempDir run;
  const auto older = write_checkpoint(run.path + "/ckpt/step_00000005", small_weights(1), true);
  const auto newer = write_checkpoint(run.path + "/ckpt/step_00000010", small_weights(2), true);
  write_checkpoint(run.path + "/ckpt/step_00000015", small_weights(3), false);  // crashed before DONE
  EXPECT_EQ(rpct::resolve_checkpoint_dir(run.path), newer);
  EXPECT_EQ(rpct::resolve_checkpoint_dir(older), older);  // a checkpoint dir is itself

  std::vector<rpct::SkippedCheckpoint> skipped;
  EXPECT_EQ(rpct::newest_complete_checkpoint(run.path + "/ckpt", &skipped), newer);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].dir, run.path + "/ckpt/step_00000015");
  EXPECT_EQ(skipped[0].why, skipped[0].dir + ": incomplete (no DONE marker)");
}

TEST(ResolveCheckpointDir, CorruptNewestIsSkipped) {
  TempDir run;
  const auto good = write_checkpoint(run.path + "/ckpt/step_00000005", small_weights(1), true);
  const auto bad = write_checkpoint(run.path + "/ckpt/step_00000010", small_weights(2), true);
  rpct::write_safetensors(bad + "/model.safetensors", small_weights(7));  // after DONE: checksum differs
  EXPECT_EQ(rpct::resolve_checkpoint_dir(run.path), good);
  expect_resolve_error(bad, {"model.safetensors: checksum mismatch"});
}

TEST(ResolveCheckpointDir, ErrorsNameThePath) {
  TempDir t;
  write_checkpoint(t.path + "/run/ckpt/step_00000003", small_weights(1), false);
  expect_resolve_error(t.path + "/run", {t.path + "/run: run directory without a complete checkpoint",
                                         "step_00000003: incomplete (no DONE marker)"});
  fs::create_directories(t.path + "/empty_run/ckpt");
  expect_resolve_error(t.path + "/empty_run", {"empty_run: run directory without a complete checkpoint", "none"});
  expect_resolve_error(t.path + "/run/ckpt/step_00000003", {"step_00000003: incomplete (no DONE marker)"});
  fs::create_directories(t.path + "/photos");
  expect_resolve_error(t.path + "/photos", {t.path + "/photos: neither a checkpoint directory"});
  expect_resolve_error(t.path + "/nope", {t.path + "/nope: checkpoint or run directory not found"});
}

TEST(Weights, EmaOrTrainedWithoutBuffers) {
  TempDir run;
  NamedTensors stored = small_weights(1);
  stored.emplace_back("buffer/rel_index", torch::zeros({3}, torch::kLong));
  for (auto& [n, t] : small_weights(5)) stored.emplace_back("ema/" + n, t);
  write_checkpoint(run.path + "/ckpt/step_00000001", stored, true);

  for (const bool ema : {false, true}) {
    const auto w = rpct::read_weights(run.path, ema);
    ASSERT_EQ(w.params.size(), 2u) << "ema " << ema;
    EXPECT_EQ(w.params[0].first, "cls_token");
    EXPECT_EQ(w.params[1].first, "blocks.0.fc1.weight");
    EXPECT_TRUE(w.params[1].second.eq(ema ? 5.0 : 1.0).all().item<bool>()) << "ema " << ema;
  }
  TempDir plain;
  write_checkpoint(plain.path + "/ckpt/step_00000001", small_weights(1), true);
  EXPECT_THROW(rpct::read_weights(plain.path, /*ema=*/true), std::runtime_error);  // no EMA copies saved
}

TEST(Weights, LoadsTimmNamesAndNamesShapeMismatches) {
  TempDir t;
  NamedTensors timm;
  for (auto& [n, v] : small_weights(3)) timm.emplace_back(rpct::to_timm_name(n), v);
  EXPECT_EQ(timm[1].first, "blocks.0.mlp.fc1.weight");
  const std::string file = t.path + "/timm.safetensors";
  rpct::write_safetensors(file, timm);

  const NamedTensors model = small_weights(0);
  rpct::load_weights(model, file, /*ema=*/false);
  for (const auto& [n, v] : model) EXPECT_TRUE(v.eq(3.0).all().item<bool>()) << n;

  const NamedTensors wider = {{"cls_token", torch::zeros({1, 1, 6})}, {"blocks.0.fc1.weight", torch::zeros({8, 4})}};
  try {
    rpct::load_weights(wider, file, false);
    FAIL() << "a shape mismatch loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("timm.safetensors: tensor 'cls_token' has shape [1, 1, 4]"), std::string::npos)
        << e.what();
  }
}

TEST(TimmNames, MlpMovesUnderMlpAndBack) {
  EXPECT_EQ(rpct::to_timm_name("blocks.11.fc2.bias"), "blocks.11.mlp.fc2.bias");
  EXPECT_EQ(rpct::to_timm_name("head.weight"), "head.weight");
  EXPECT_EQ(rpct::to_timm_name("fc1.weight"), "fc1.weight");  // only inside blocks
  EXPECT_EQ(rpct::from_timm_name("blocks.11.mlp.fc2.bias"), "blocks.11.fc2.bias");
  EXPECT_EQ(rpct::from_timm_name("blocks.11.fc2.bias"), "blocks.11.fc2.bias");
  EXPECT_EQ(rpct::from_timm_name("blocks.0.attn.qkv.weight"), "blocks.0.attn.qkv.weight");
}

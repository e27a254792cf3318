// Where weights come from: resolve_checkpoint_dir (checkpoint dir, run dir -> newest complete and
// verified checkpoint, anything else -> an error naming the path), read_weights / load_weights (EMA or
// not, buffers left out, timm names accepted), the timm / Segmenter name and layout mapping, and the
// Segmenter's export -> load round trip (identical logits). Checkpoints are written by
// hand here (model.safetensors + DONE with its checksum), in the layout Checkpointer::save writes.
#include <gtest/gtest.h>

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>

#include "core/file_io.h"
#include "models/segmenter.h"
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

TEST(TimmNames, SegmenterEncoderAndDecoderBlocksAndTheKvPosTable) {
  EXPECT_EQ(rpct::to_timm_name("encoder.blocks.3.fc1.weight"), "encoder.blocks.3.mlp.fc1.weight");
  EXPECT_EQ(rpct::to_timm_name("decoder.blocks.1.fc2.bias"), "decoder.blocks.1.mlp.fc2.bias");
  EXPECT_EQ(rpct::to_timm_name("decoder.proj_dec.weight"), "decoder.proj_dec.weight");
  EXPECT_EQ(rpct::to_timm_name("encoder.blocks.0.attn.rel_pos_table"),
            "encoder.blocks.0.attn.relative_position_bias_table");
  EXPECT_EQ(rpct::to_timm_name("myblocks.0.fc1.weight"), "myblocks.0.fc1.weight");  // "blocks" is a whole name
  for (const std::string n : {"encoder.blocks.3.fc1.weight", "decoder.blocks.1.fc2.bias", "blocks.2.attn.rel_pos_table",
                              "decoder.cls_emb", "encoder.pos_embed"})
    EXPECT_EQ(rpct::from_timm_name(rpct::to_timm_name(n)), n);
}

namespace {

// A small Segmenter: 24x24 input, patch 8 (3x3 grid), width 32 with 2 heads, depth 2; `encoder_kind` in
// the encoder (rpc: RPC in block 0, sym in block 1), the decoder's blocks the same (kvpos: sym).
rpct::Segmenter small_segmenter(rpct::SegDecoderKind decoder, rpct::AttentionKind encoder_kind, uint64_t seed) {
  torch::manual_seed(seed);
  rpct::SegmenterOptions o;
  o.encoder.img_size = 24;
  o.encoder.patch = 8;
  o.encoder.in_chans = 3;
  o.encoder.dim = 32;
  o.encoder.depth = 2;
  o.encoder.heads = 2;
  o.encoder.attention.kind = encoder_kind;
  o.n_cls = 4;
  o.decoder = decoder;
  o.decoder_attention.kind = encoder_kind == rpct::AttentionKind::kKvPos ? rpct::AttentionKind::kSym : encoder_kind;
  rpct::Segmenter model(o);
  model->eval();
  return model;
}

// Exports `model` as `rpctrain export` does into `file`; returns the exported tensors by name.
std::map<std::string, torch::Tensor> export_to(const rpct::Segmenter& model, const std::string& file) {
  const auto exported = rpct::to_timm_weights(rpct::named_parameters(*model));
  rpct::write_safetensors(file, exported);
  return {exported.begin(), exported.end()};
}

}  // namespace

TEST(SegmenterWeights, ExportHasSegmenterNamesAndImportGivesIdenticalLogits) {
  TempDir t;
  const auto image = torch::randn({2, 3, 24, 24});
  for (const auto decoder : {rpct::SegDecoderKind::kMask, rpct::SegDecoderKind::kLinear})
    for (const auto kind : {rpct::AttentionKind::kRpc, rpct::AttentionKind::kSoftmax, rpct::AttentionKind::kKvPos}) {
      const std::string what = rpct::seg_decoder_kind_name(decoder) + " decoder, " + rpct::attention_kind_name(kind);
      auto trained = small_segmenter(decoder, kind, 1);
      const std::string file = t.path + "/segmenter.safetensors";
      const auto names = export_to(trained, file);
      // rstrudel/segmenter's names (timm's ViT under encoder., no encoder head).
      for (const std::string n :
           {"encoder.patch_embed.proj.weight", "encoder.cls_token", "encoder.pos_embed",
            "encoder.blocks.1.norm1.weight", "encoder.blocks.1.attn.qkv.weight", "encoder.blocks.1.attn.proj.bias",
            "encoder.blocks.1.norm2.bias", "encoder.blocks.1.mlp.fc1.weight", "encoder.blocks.1.mlp.fc2.bias",
            "encoder.norm.weight"})
        EXPECT_EQ(names.count(n), 1u) << what << ": " << n;
      EXPECT_EQ(names.count("encoder.head.weight"), 0u) << what;
      const std::vector<std::string> decoder_names =
          decoder == rpct::SegDecoderKind::kLinear
              ? std::vector<std::string>{"decoder.head.weight", "decoder.head.bias"}
              : std::vector<std::string>{"decoder.proj_dec.weight", "decoder.cls_emb",
                                         "decoder.blocks.1.mlp.fc2.weight", "decoder.blocks.0.attn.qkv.bias",
                                         "decoder.decoder_norm.weight", "decoder.mask_norm.bias",
                                         "decoder.proj_patch", "decoder.proj_classes"};
      for (const auto& n : decoder_names) EXPECT_EQ(names.count(n), 1u) << what << ": " << n;
      const std::regex rpctrain_mlp(R"(blocks\.\d+\.fc[12]\.)");
      for (const auto& [n, v] : names) EXPECT_FALSE(std::regex_search(n, rpctrain_mlp)) << what << ": " << n;
      // Every qkv has timm's 3C rows; a KV block's query rows are its key rows.
      const auto& qkv = names.at("encoder.blocks.0.attn.qkv.weight");
      ASSERT_EQ(qkv.size(0), 3 * 32) << what;
      const bool query_is_key = torch::equal(qkv.narrow(0, 0, 32), qkv.narrow(0, 32, 32));
      EXPECT_EQ(query_is_key, kind != rpct::AttentionKind::kSoftmax) << what;
      if (kind == rpct::AttentionKind::kKvPos) {  // BEiT's (T, H) table: T = (2*3-1)^2 + 3
        const auto& table = names.at("encoder.blocks.0.attn.relative_position_bias_table");
        EXPECT_EQ(table.sizes(), (std::vector<int64_t>{28, 2}));
      }

      auto imported = small_segmenter(decoder, kind, 2);
      ASSERT_FALSE(torch::equal(imported->forward(image), trained->forward(image))) << what << ": same model twice";
      rpct::load_weights(rpct::named_parameters(*imported), file, /*ema=*/false);
      EXPECT_TRUE(torch::equal(imported->forward(image), trained->forward(image))) << what;
      const auto a = rpct::named_parameters(*trained), b = rpct::named_parameters(*imported);
      for (size_t i = 0; i < a.size(); ++i)
        EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << what << ": " << a[i].first;
    }
}

TEST(SegmenterWeights, SoftmaxQkvDoesNotLoadIntoSymmetricAttention) {
  TempDir t;
  const std::string file = t.path + "/softmax.safetensors";
  export_to(small_segmenter(rpct::SegDecoderKind::kMask, rpct::AttentionKind::kSoftmax, 1), file);
  auto sym = small_segmenter(rpct::SegDecoderKind::kMask, rpct::AttentionKind::kSym, 2);
  try {
    rpct::load_weights(rpct::named_parameters(*sym), file, false);
    FAIL() << "softmax weights loaded into a sym model";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax.safetensors: tensor 'encoder.blocks.0.attn.qkv.weight' is a "
                                         "softmax-attention qkv (its query rows differ from its key rows)"),
              std::string::npos)
        << e.what();
  }
}

#include <gtest/gtest.h>

#include "trainer/config.h"
#include "trainer/model_options.h"
#include "trainer/data.h"

using rpct::ConfigError;
using rpct::parse_config;

namespace {

// Asserts that parsing throws a ConfigError whose message contains every one of `needles`.
void expect_error(const std::string& yaml, const std::vector<std::string>& needles,
                  const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, "cfg.yaml", overrides);
    FAIL() << "expected a ConfigError for:\n" << yaml;
  } catch (const ConfigError& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Config, DefaultsAndValues) {
  auto c = parse_config("model: {dim: 64, heads: 4, depth: 2}\ntrain: {lr: 5.0e-4, epochs: 3}\n", "x.yaml");
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_EQ(c.model.depth, 2);
  EXPECT_DOUBLE_EQ(c.train.lr, 5e-4);
  EXPECT_EQ(c.train.epochs, 3);
  EXPECT_EQ(c.train.batch_size, rpct::TrainConfig{}.batch_size);
  EXPECT_EQ(c.source, "x.yaml");
}

TEST(Config, UnknownKeyNamesFileAndKey) {
  expect_error("train: {lrr: 1}\n", {"cfg.yaml", "train.lrr", "unknown key"});
  expect_error("trian: {lr: 1}\n", {"cfg.yaml", "trian", "unknown key"});
}

TEST(Config, WrongTypeNamesKey) {
  expect_error("train: {lr: fast}\n", {"cfg.yaml", "train.lr", "expected a number", "fast"});
  expect_error("train: {epochs: 2.5}\n", {"train.epochs", "expected an integer"});
  expect_error("data: {augment: maybe}\n", {"data.augment", "true or false"});
  expect_error("train: 3\n", {"train", "expected a mapping"});
}

TEST(Config, OutOfRangeAndChoices) {
  expect_error("train: {epochs: 0}\n", {"train.epochs", "out of range"});
  expect_error("attention: {kind: linear}\n", {"attention.kind", "linear", "softmax"});
  expect_error("model: {dim: 100, heads: 3}\n", {"model.heads", "divisible"});
  expect_error("model: {global_pool: mean}\n", {"model.global_pool", "mean"});
  expect_error("model: {img_size: 35, patch: 7}\ndata: {canvas: 42}\n", {"model.img_size", "35", "data.canvas 42"});
  expect_error("model: {img_size: 42, patch: 7}\ndata: {canvas: 42, canvas_max_scale: 1.6}\n",
               {"data.canvas_max_scale", "45 px", "data.canvas 42"});
  expect_error("data: {canvas: 20}\n", {"data.canvas", "smaller than the 28x28"});
  expect_error("data: {kind: ade20k, canvas: 56}\nmodel: {img_size: 56, patch: 7}\n", {"data.canvas", "fashion_mnist only"});
  expect_error("model: {depth: 2}\nattention: {rpc: {layers: [5]}}\n", {"attention.rpc.layers", "5"});
  expect_error("train: {on_nonfinite: ignore}\n", {"train.on_nonfinite", "ignore", "abort", "skip"});
}

TEST(Config, NonFiniteLossPolicy) {
  EXPECT_EQ(parse_config("", "x.yaml").train.on_nonfinite, "abort");  // a NaN run is garbage: stop by default
  EXPECT_EQ(parse_config("train: {on_nonfinite: skip}\n", "x.yaml").train.on_nonfinite, "skip");
  const auto round_trip = parse_config(rpct::to_yaml(parse_config("train: {on_nonfinite: skip}\n", "x.yaml")), "y.yaml");
  EXPECT_EQ(round_trip.train.on_nonfinite, "skip") << "saved with every checkpoint's config";
}

TEST(Config, OverridesApplyAndAreChecked) {
  auto c = parse_config("train: {lr: 1.0e-3}\n", "x.yaml", {"train.lr=2e-3", "model.dim=48", "attention.rpc.layers=all"});
  EXPECT_DOUBLE_EQ(c.train.lr, 2e-3);
  EXPECT_EQ(c.model.dim, 48);
  EXPECT_TRUE(c.attention.rpc_all_layers);
  expect_error("", {"--set", "train.nope"}, {"train.nope=1"});
  expect_error("", {"train.lr", "expected a number"}, {"train.lr=abc"});
  expect_error("", {"--set", "expected key.sub=value"}, {"novalue"});
  // An empty value is the empty string: it clears a path key (seg.backbone), and is a type error elsewhere.
  EXPECT_EQ(parse_config("seg: {backbone: runs/b}\ndata: {kind: ade20k}\n", "x.yaml", {"seg.backbone="}).seg.backbone, "");
  expect_error("", {"train.lr", "expected a number"}, {"train.lr="});
}

TEST(Config, LayerNormEpsilon) {
  EXPECT_DOUBLE_EQ(parse_config("", "x.yaml").model.ln_eps, 1e-6) << "timm's, and what configs saved before the key mean";
  EXPECT_DOUBLE_EQ(parse_config("model: {ln_eps: 1.0e-5}\n", "x.yaml").model.ln_eps, 1e-5);
  EXPECT_DOUBLE_EQ(rpct::vit_options(parse_config("model: {ln_eps: 1.0e-5}\n", "x.yaml")).ln_eps, 1e-5);
  expect_error("model: {ln_eps: 0.5}\n", {"model.ln_eps", "out of range"});
}

TEST(Config, PresetsAndRoundTrip) {
  auto c = parse_config("model: {arch: tiny, img_size: 224, patch: 16, num_classes: 1000, in_chans: 3}\n", "x.yaml");
  EXPECT_EQ(c.model.dim, 192);
  EXPECT_EQ(c.model.depth, 12);
  EXPECT_EQ(c.model.heads, 3);
  expect_error("model: {arch: small, dim: 100}\n", {"model.dim", "small"});
  // The resolved YAML parses back to the same config.
  auto again = parse_config(rpct::to_yaml(c), "resolved.yaml");
  EXPECT_EQ(rpct::to_yaml(again), rpct::to_yaml(c));
}

TEST(Config, MissingFileNamesIt) {
  try {
    rpct::load_config("/nonexistent/dir/cfg.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/cfg.yaml"), std::string::npos);
  }
}

TEST(Config, ShippedConfigsLoad) {
  const char* src = std::getenv("RPCT_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  for (const char* f : {"configs/fmnist_vit.yaml", "configs/fmnist_quick.yaml", "configs/fmnist_imagenet_layout.yaml",
                        "configs/deit_tiny_imagenet.yaml", "configs/fmnist_seg.yaml",
                        "configs/segmenter_tiny_ade20k_sym.yaml", "configs/segmenter_tiny_ade20k_rpc.yaml"})
    EXPECT_NO_THROW(rpct::load_config(std::string(src) + "/" + f)) << f;
}

// data.mean / data.std (mmseg's img_norm_cfg): ImageNet's by default, 3 numbers, std > 0, reach both input
// pipelines' transforms, refused for fashion_mnist (normalized with its own constants).
TEST(Config, InputNormalization) {
  const auto d = parse_config("", "x.yaml");
  EXPECT_EQ(d.data.mean, (std::array<double, 3>{0.485, 0.456, 0.406}));
  EXPECT_EQ(d.data.std, (std::array<double, 3>{0.229, 0.224, 0.225}));
  const auto c = parse_config("data: {kind: ade20k, mean: [0.25, 0.5, 0.75], std: [0.5, 0.25, 0.125]}\n", "x.yaml");
  EXPECT_EQ(c.data.mean, (std::array<double, 3>{0.25, 0.5, 0.75}));
  EXPECT_EQ(parse_config(rpct::to_yaml(c), "again.yaml").data.std, c.data.std) << "round trip";
  for (bool train : {true, false}) {
    const auto seg = rpct::segmentation_source_options(c, train).transform;
    EXPECT_EQ(seg.mean, (std::array<float, 3>{0.25f, 0.5f, 0.75f}));
    EXPECT_EQ(seg.std, (std::array<float, 3>{0.5f, 0.25f, 0.125f}));
    const auto cls = rpct::classification_source_options(c, train).transform;
    EXPECT_EQ(cls.mean, seg.mean);
    EXPECT_EQ(cls.std, seg.std);
  }
  expect_error("data: {kind: ade20k, mean: [0.5, 0.5]}\n", {"data.mean", "3 numbers"});
  expect_error("data: {kind: ade20k, std: [0.5, 0, 0.5]}\n", {"data.std", "out of range"});
  expect_error("data: {kind: imagenet, std: 0.5}\n", {"data.std", "3 numbers"});
  expect_error("data: {kind: fashion_mnist, mean: [0.5, 0.5, 0.5]}\n", {"data.mean", "fashion_mnist"});
}

TEST(Config, SegmentationTestScalesAndFlip) {
  const auto d = parse_config("", "x.yaml");
  EXPECT_EQ(d.seg.eval_scales, (std::vector<double>{1.0}));
  EXPECT_FALSE(d.seg.eval_flip);
  const auto c = parse_config("seg: {eval_scales: [0.5, 0.75, 1.0, 1.25, 1.5, 1.75], eval_flip: true}\n", "x.yaml");
  EXPECT_EQ(c.seg.eval_scales, (std::vector<double>{0.5, 0.75, 1.0, 1.25, 1.5, 1.75}));
  EXPECT_TRUE(c.seg.eval_flip);
  EXPECT_EQ(parse_config(rpct::to_yaml(c), "again.yaml").seg.eval_scales, c.seg.eval_scales) << "round trip";
  expect_error("seg: {eval_scales: []}\n", {"seg.eval_scales", "non-empty list"});
  expect_error("seg: {eval_scales: 1.0}\n", {"seg.eval_scales", "list"});
  expect_error("seg: {eval_scales: [1.0, 0]}\n", {"seg.eval_scales", "out of range"});
  expect_error("seg: {eval_flip: sometimes}\n", {"seg.eval_flip", "true or false"});
}

TEST(Config, OptimizerScheduleAndIters) {
  const rpct::TrainConfig defaults;
  EXPECT_EQ(defaults.optimizer, "adamw");  // the classification recipe stays the default
  EXPECT_EQ(defaults.schedule, "cosine");
  EXPECT_EQ(defaults.iters, 0);
  auto c = parse_config("train: {optimizer: sgd, momentum: 0.8, schedule: poly, poly_power: 1.0, iters: 160000}\n",
                        "x.yaml");
  EXPECT_EQ(c.train.optimizer, "sgd");
  EXPECT_DOUBLE_EQ(c.train.momentum, 0.8);
  EXPECT_EQ(c.train.schedule, "poly");
  EXPECT_DOUBLE_EQ(c.train.poly_power, 1.0);
  EXPECT_EQ(c.train.iters, 160000);
  EXPECT_EQ(rpct::to_yaml(parse_config(rpct::to_yaml(c), "resolved.yaml")), rpct::to_yaml(c));
  expect_error("train: {optimizer: adam}\n", {"cfg.yaml", "train.optimizer", "'adam'", "adamw|sgd"});
  expect_error("train: {schedule: step}\n", {"train.schedule", "'step'", "cosine|poly"});
  expect_error("train: {momentum: 1.5}\n", {"train.momentum", "out of range"});
  expect_error("train: {poly_power: 0}\n", {"train.poly_power", "out of range"});
  expect_error("train: {iters: -1}\n", {"train.iters", "out of range"});
  expect_error("train: {iters: 1.5}\n", {"train.iters", "expected an integer"});
}

// Segmenter-Tiny on ADE20K as its authors trained it: DeiT-Tiny encoder at 512, mask decoder,
// SGD + poly by iterations, global batch 8, sliding-window evaluation 512 / 480; SymViT or RPC in encoder
// and decoder block 0 with 6 iterations.
TEST(Config, Ade20kSegmenterConfigsFollowThePaper) {
  const char* src = std::getenv("RPCT_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  for (const std::string kind : {"sym", "rpc"}) {
    SCOPED_TRACE(kind);
    const auto c = rpct::load_config(std::string(src) + "/configs/segmenter_tiny_ade20k_" + kind + ".yaml");
    EXPECT_EQ(c.model.dim, 192);
    EXPECT_EQ(c.model.depth, 12);
    EXPECT_EQ(c.model.heads, 3);
    EXPECT_EQ(c.model.patch, 16);
    EXPECT_EQ(c.model.img_size, 512);
    EXPECT_DOUBLE_EQ(c.model.drop_path, 0.1);
    EXPECT_EQ(c.model.num_classes, 150);
    EXPECT_EQ(c.seg.decoder, "mask");
    EXPECT_EQ(c.seg.decoder_depth, 2);
    EXPECT_DOUBLE_EQ(c.seg.decoder_dropout, 0.1);
    EXPECT_EQ(c.seg.window, 512);
    EXPECT_EQ(c.seg.stride, 480);
    EXPECT_EQ(c.data.kind, "ade20k");
    EXPECT_EQ(c.data.seg_crop, 512);
    EXPECT_EQ(c.train.batch_size * c.train.accum_steps * 8, 8) << "global batch 8 on 8 GPUs";
    EXPECT_EQ(c.train.optimizer, "sgd");
    EXPECT_DOUBLE_EQ(c.train.momentum, 0.9);
    EXPECT_DOUBLE_EQ(c.train.lr, 1e-3);
    EXPECT_DOUBLE_EQ(c.train.weight_decay, 0.0);
    EXPECT_EQ(c.train.schedule, "poly");
    EXPECT_DOUBLE_EQ(c.train.poly_power, 0.9);
    EXPECT_DOUBLE_EQ(c.train.min_lr, 1e-5);
    EXPECT_DOUBLE_EQ(c.train.warmup_epochs, 0.0);
    EXPECT_EQ(c.train.iters, 160000);
    EXPECT_EQ(c.attention.kind, kind);
  }
  const auto rpc = rpct::load_config(std::string(src) + "/configs/segmenter_tiny_ade20k_rpc.yaml");
  EXPECT_EQ(rpc.attention.rpc_n_iter, 6);
  EXPECT_DOUBLE_EQ(rpc.attention.rpc_lambda, 4.0);
  EXPECT_FALSE(rpc.attention.rpc_all_layers);
  EXPECT_EQ(rpc.attention.rpc_layers, std::vector<int>{0});  // encoder block 0 and decoder block 0
}

TEST(Config, PrecisionAndTf32) {
  const auto d = parse_config("{}\n", "x.yaml");
  EXPECT_EQ(d.train.precision, "fp32");
  EXPECT_TRUE(d.train.tf32);
  const auto c = parse_config("train: {precision: bf16, tf32: false}\n", "x.yaml");
  EXPECT_EQ(c.train.precision, "bf16");
  EXPECT_FALSE(c.train.tf32);
  expect_error("train: {precision: fp16}\n", {"cfg.yaml", "train.precision", "fp16"});
  expect_error("train: {tf32: maybe}\n", {"cfg.yaml", "train.tf32"});
}

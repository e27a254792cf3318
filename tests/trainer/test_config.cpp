#include <gtest/gtest.h>

#include "trainer/config.h"

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
                        "configs/deit_tiny_imagenet.yaml", "configs/fmnist_seg.yaml"})
    EXPECT_NO_THROW(rpct::load_config(std::string(src) + "/" + f)) << f;
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

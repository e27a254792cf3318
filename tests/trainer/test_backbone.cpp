// seg.backbone (trainer/backbone.h): a Fashion-MNIST-shaped classifier's weights (28 x 28, 1 channel, patch 7:
// a 4 x 4 grid) loaded into a Segmenter encoder at 56 x 56, 3 channels (an 8 x 8 grid): every block tensor
// copied unchanged, the position embedding resized, the patch embedding adapted so a gray image replicated
// to RGB embeds as the classifier embeds it, the head ignored; timm names and a Segmenter checkpoint as
// sources; another patch size, width or depth named in the error with the file; the config key wired into
// SegmentationTask.
#include <gtest/gtest.h>

#include "models/segmenter.h"
#include "models/vit_weights.h"
#include "tests/expect_error.h"
#include "tests/test_files.h"
#include "tests/test_seed.h"
#include "trainer/backbone.h"
#include "trainer/config.h"
#include "trainer/segmentation.h"
#include "trainer/weights.h"

using rpct::NamedTensors;
using rpct::test::expect_error_naming;
using rpct::test::TempDir;

namespace {

constexpr int64_t kDim = 32, kDepth = 2, kHeads = 2, kPatch = 7, kClassifierSize = 28, kSegSize = 56;
// The adapted patch embedding sums three thirds of the weight where the classifier multiplies it once:
// float32 rounding of a 49-term dot product, a few ulps of values of order 1.
constexpr double kEmbedTolerance = 1e-5;

rpct::ViTOptions encoder_options(int64_t img_size, int64_t patch, int64_t in_chans, int64_t dim, int64_t depth) {
  rpct::ViTOptions o;
  o.img_size = img_size;
  o.patch = patch;
  o.in_chans = in_chans;
  o.dim = dim;
  o.depth = depth;
  o.heads = kHeads;
  o.mlp_ratio = 2.0;
  o.num_classes = 10;
  return o;  // softmax attention (AttentionPlan's default)
}

// A classifier with random (not initial) weights, so that a copy cannot pass by coincidence.
rpct::ViT random_classifier(int64_t patch = kPatch, int64_t dim = kDim, int64_t depth = kDepth) {
  rpct::ViT vit(encoder_options(kClassifierSize, patch, 1, dim, depth));
  torch::NoGradGuard no_grad;
  for (auto& p : vit->parameters()) p.normal_();
  return vit;
}

rpct::Segmenter segmenter(int64_t patch = kPatch, int64_t dim = kDim, int64_t depth = kDepth) {
  rpct::SegmenterOptions o;
  o.encoder = encoder_options(kSegSize, patch, 3, dim, depth);
  o.n_cls = 11;
  o.decoder = rpct::SegDecoderKind::kLinear;
  return rpct::Segmenter(o);
}

std::string save(const torch::nn::Module& model, const std::string& file, bool timm_names = false) {
  NamedTensors tensors;
  for (const auto& [n, t] : rpct::named_parameters(model)) tensors.emplace_back(timm_names ? rpct::to_timm_name(n) : n, t);
  rpct::write_safetensors(file, tensors);
  return file;
}

torch::Tensor param(const torch::nn::Module& m, const std::string& name) {
  const auto params = m.named_parameters();
  const torch::Tensor* t = params.find(name);
  if (t == nullptr) throw std::out_of_range("no parameter " + name);
  return *t;
}

}  // namespace

TEST(Backbone, ClassifierIntoSegmenterEncoder) {
  torch::manual_seed(rpct::test::test_seed());
  TempDir dir;
  const auto classifier = random_classifier();
  const std::string file = save(*classifier, dir.file("classifier.safetensors"), /*timm_names=*/true);
  auto seg = segmenter();
  const auto init = rpct::load_vit_backbone(rpct::named_parameters(*seg->encoder()), file);

  EXPECT_EQ(init.file, file);
  EXPECT_EQ(init.copied, static_cast<int64_t>(seg->encoder()->parameters().size()));
  EXPECT_EQ(init.ignored, (std::vector<std::string>{"head.weight", "head.bias"}));
  EXPECT_EQ(init.source_grid, kClassifierSize / kPatch);
  EXPECT_TRUE(init.input_channels_adapted);
  for (const auto& [name, t] : rpct::named_parameters(*seg->encoder())) {
    if (name == "pos_embed" || name == "patch_embed.proj.weight") continue;
    EXPECT_TRUE(torch::equal(t, param(*classifier, name))) << name << " not copied";
  }
  const int64_t grid = kSegSize / kPatch;
  EXPECT_TRUE(torch::equal(param(*seg->encoder(), "pos_embed"),
                           rpct::resize_pos_embed(param(*classifier, "pos_embed"), grid, grid)));

  // A gray crop replicated to 3 channels embeds as the classifier embeds the gray crop.
  const auto gray = torch::rand({2, 1, kClassifierSize, kClassifierSize});  // (B, 1, H, W)
  const auto encoder_proj = param(*seg->encoder(), "patch_embed.proj.weight");
  const auto classifier_proj = param(*classifier, "patch_embed.proj.weight");
  const auto bias = param(*classifier, "patch_embed.proj.bias");
  namespace F = torch::nn::functional;
  const auto expected = F::conv2d(gray, classifier_proj, F::Conv2dFuncOptions().bias(bias).stride(kPatch));
  const auto got = F::conv2d(gray.expand({-1, 3, -1, -1}), encoder_proj, F::Conv2dFuncOptions().bias(bias).stride(kPatch));
  EXPECT_TRUE(torch::allclose(got, expected, kEmbedTolerance, kEmbedTolerance));
}

TEST(Backbone, SegmenterEncoderAsSourceAndTheGridUnchanged) {
  torch::manual_seed(rpct::test::test_seed());
  TempDir dir;
  auto trained = segmenter();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : trained->parameters()) p.normal_();
  }
  const std::string file = save(*trained, dir.file("segmenter.safetensors"));
  auto seg = segmenter();
  const auto init = rpct::load_vit_backbone(rpct::named_parameters(*seg->encoder()), file);
  EXPECT_EQ(init.source_grid, 0);
  EXPECT_FALSE(init.input_channels_adapted);
  EXPECT_EQ(init.ignored, (std::vector<std::string>{"decoder.head.weight", "decoder.head.bias"}));
  for (const auto& [name, t] : rpct::named_parameters(*seg->encoder()))
    EXPECT_TRUE(torch::equal(t, param(*trained->encoder(), name))) << name;
  EXPECT_FALSE(torch::equal(param(*seg, "decoder.head.weight"), param(*trained, "decoder.head.weight")));
}

TEST(Backbone, MismatchesNameTheFileAndTheParameter) {
  TempDir dir;
  const auto seg_params = rpct::named_parameters(*segmenter()->encoder());
  const std::string other_patch = save(*random_classifier(/*patch=*/4), dir.file("patch4.safetensors"));
  expect_error_naming([&] { rpct::load_vit_backbone(seg_params, other_patch); },
                      {"patch4.safetensors", "patch_embed.proj.weight", "patch size 4x4", "model.patch is 7"});
  const std::string wider = save(*random_classifier(kPatch, /*dim=*/64), dir.file("wide.safetensors"));
  expect_error_naming([&] { rpct::load_vit_backbone(seg_params, wider); },
                      {"wide.safetensors", "width 64", "model.dim is 32"});
  const std::string deeper = save(*random_classifier(kPatch, kDim, /*depth=*/3), dir.file("deep.safetensors"));
  expect_error_naming([&] { rpct::load_vit_backbone(seg_params, deeper); }, {"deep.safetensors", "'blocks.2."});
  const std::string shallower = save(*random_classifier(kPatch, kDim, /*depth=*/1), dir.file("shallow.safetensors"));
  expect_error_naming([&] { rpct::load_vit_backbone(seg_params, shallower); },
                      {"shallow.safetensors", "'blocks.1.", "missing"});
  expect_error_naming([&] { rpct::load_vit_backbone(seg_params, dir.file("absent.safetensors")); },
                      {"absent.safetensors", "not found"});
}

TEST(Backbone, ConfigKeyInitialisesTheTaskAndNamesItInErrors) {
  torch::manual_seed(rpct::test::test_seed());
  TempDir dir;
  const auto classifier = random_classifier();
  const std::string file = save(*classifier, dir.file("classifier.safetensors"));
  const std::string yaml =
      "model: {img_size: 56, patch: 7, in_chans: 3, num_classes: 11, dim: 32, depth: 2, heads: 2, mlp_ratio: 2.0}\n"
      "seg: {decoder: linear}\n"
      "data: {kind: ade20k, root: /nonexistent, seg_crop: 56}\n";
  rpct::SegmentationTask task(rpct::parse_config(yaml, "seg.yaml", {"seg.backbone=" + file}), torch::kCPU);
  EXPECT_TRUE(torch::equal(param(*task.segmenter()->encoder(), "blocks.1.fc2.weight"),
                           param(*classifier, "blocks.1.fc2.weight")));

  const auto missing = rpct::parse_config(yaml, "seg.yaml", {"seg.backbone=" + dir.file("none")});
  expect_error_naming([&] { rpct::SegmentationTask t(missing, torch::kCPU); }, {"seg.yaml", "seg.backbone", "none"});
  expect_error_naming([&] { rpct::parse_config("seg: {backbone: x.safetensors}\n", "cls.yaml"); },
                      {"cls.yaml", "seg.backbone", "data.kind ade20k"});
}

// The segmentation Task: its loss ignores label 255, its evaluation sums are a confusion matrix over the
// labelled pixels (also when the label map has another size than the image), and labels equal to the
// model's own predictions score mIoU = mAcc = aAcc = 1; per-sample batches of different sizes (the eval
// source's) are evaluated at each label's size; seg.eval_flip averages the mirror image in; the result
// carries the per-class table files.
#include <gtest/gtest.h>

#include "kernels/seg_loss/upsample_cross_entropy.h"
#include "tests/test_seed.h"
#include "trainer/runtime.h"
#include "trainer/segmentation.h"
#include "trainer/trainer.h"

namespace {

constexpr int64_t kClasses = 5;

rpct::Config tiny_seg_config(int window, int stride, const std::string& extra_seg = "") {
  return rpct::parse_config("model: {img_size: 32, patch: 8, in_chans: 3, num_classes: 5, dim: 32, depth: 1, heads: 2}\n"
                            "attention: {kind: sym}\n"
                            "seg: {decoder: mask, decoder_depth: 1, window: " +
                                std::to_string(window) + ", stride: " + std::to_string(stride) + extra_seg +
                                "}\n"
                                "data: {kind: ade20k, root: /nonexistent, seg_crop: 32}\n",
                            "seg.yaml");
}

rpct::Batch random_batch(int64_t b, int64_t h, int64_t w, int64_t label_h, int64_t label_w) {
  rpct::Batch batch;
  batch.x = torch::randn({b, 3, h, w});
  batch.y = torch::randint(0, kClasses, {b, label_h, label_w}, torch::kInt64);
  batch.y.index_put_({torch::indexing::Slice(), 0}, 255);  // the first row of every label map: ignore
  return batch;
}

}  // namespace

TEST(SegmentationTask, LossIgnoresLabel255) {
  torch::manual_seed(rpct::test::test_seed());
  rpct::SegmentationTask task(tiny_seg_config(32, 32), torch::kCPU);
  task.model().eval();  // no dropout: the two losses see the same logits
  auto batch = random_batch(2, 32, 32, 32, 32);
  const double loss = task.train_loss(batch).item<double>();
  auto relabelled = batch;
  relabelled.y = batch.y.clone();
  relabelled.y.index_put_({torch::indexing::Slice(), 0}, 255);
  relabelled.y.index_put_({torch::indexing::Slice(), 1}, 255);  // one more row ignored: another mean
  EXPECT_NE(task.train_loss(relabelled).item<double>(), loss);
  // The definition, computed independently: the mean over labelled pixels of -log p(label).
  auto logits = task.segmenter()->forward(batch.x);
  auto mask = batch.y != 255;
  auto per_pixel = -torch::log_softmax(logits, 1).gather(1, batch.y.clamp_max(kClasses - 1).unsqueeze(1)).squeeze(1);
  // float32 log-softmax summed in another order than cross_entropy's kernel: a few ulp of a value ~2.
  constexpr double kLossTol = 1e-5;
  EXPECT_NEAR(per_pixel.masked_select(mask).mean().item<double>(), loss, kLossTol);
}

// Under bf16 autocast (train.precision bf16) the loss is float32 and is the fused kernel's loss on the widened
// low-resolution logits (as the float32 path), not the composed ops' on (B, K, H, W) bf16 logits: equal, bit for
// bit, to upsample_cross_entropy of the float32 copy of the bf16 logits, and the fused kernel takes those.
TEST(SegmentationTask, Bf16AutocastLossIsTheFusedFloat32Loss) {
  torch::manual_seed(rpct::test::test_seed());
  rpct::SegmentationTask task(tiny_seg_config(32, 32), torch::kCPU);
  task.model().eval();
  auto batch = random_batch(2, 32, 32, 32, 32);
  rpct::AutocastScope autocast("bf16", torch::kCPU);
  auto loss = task.train_loss(batch);
  EXPECT_EQ(loss.scalar_type(), torch::kFloat);
  auto logits = task.segmenter()->forward_patch_logits(batch.x);
  ASSERT_EQ(logits.scalar_type(), torch::kBFloat16);
  ASSERT_TRUE(rpct::upsample_cross_entropy_fused_supports(logits.to(torch::kFloat)));
  EXPECT_TRUE(torch::equal(loss, rpct::upsample_cross_entropy(logits.to(torch::kFloat), batch.y, 255)));
}

TEST(SegmentationTask, EvalSumsCountLabelledPixelsAtTheLabelsResolution) {
  torch::manual_seed(rpct::test::test_seed());
  for (const auto& [window, stride] : std::vector<std::pair<int, int>>{{32, 32}, {16, 8}}) {
    SCOPED_TRACE("window " + std::to_string(window) + " stride " + std::to_string(stride));
    rpct::SegmentationTask task(tiny_seg_config(window, stride), torch::kCPU);
    task.model().eval();
    for (const auto& [lh, lw] : std::vector<std::pair<int64_t, int64_t>>{{32, 32}, {20, 28}}) {
      auto batch = random_batch(2, 32, 32, lh, lw);
      torch::NoGradGuard no_grad;
      const auto sums = task.eval_sums(batch);
      ASSERT_EQ(sums.numel(), task.num_eval_sums());
      EXPECT_EQ(sums.sum().item<double>(), static_cast<double>(2 * (lh - 1) * lw)) << "labelled pixels";
      // Per label class, the row sums are that class's labelled pixels.
      const auto rows = sums.view({kClasses, kClasses}).sum(1);
      for (int64_t c = 0; c < kClasses; ++c)
        EXPECT_EQ(rows[c].item<double>(), (batch.y == c).sum().item<double>()) << "class " << c;
    }
  }
}

TEST(SegmentationTask, OwnPredictionsScorePerfectly) {
  torch::manual_seed(rpct::test::test_seed());
  rpct::SegmentationTask task(tiny_seg_config(32, 32), torch::kCPU);
  task.model().eval();
  auto batch = random_batch(2, 32, 32, 32, 32);
  torch::NoGradGuard no_grad;
  batch.y = task.segmenter()->forward(batch.x).argmax(1);
  const auto sums = task.eval_sums(batch);
  std::vector<double> v(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel());
  const auto r = task.eval_result(v, 2);
  EXPECT_EQ(r.primary, "miou");
  EXPECT_DOUBLE_EQ(r.at("miou"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("macc"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("aacc"), 1.0);
  // And make_task picks this task for data.kind ade20k.
  auto t = rpct::make_task(tiny_seg_config(32, 32), torch::kCPU);
  EXPECT_NE(dynamic_cast<rpct::SegmentationTask*>(t.get()), nullptr);
}

// Weight decay skips what Segmenter skips: biases and norms (1-d), the encoder's tokens, the class embeddings.
TEST(SegmentationTask, NoWeightDecayForTokensNormsAndClassEmbeddings) {
  rpct::SegmentationTask task(tiny_seg_config(32, 32), torch::kCPU);
  int64_t exempt = 0;
  for (const auto& p : task.model().named_parameters()) {
    const bool skip = task.no_weight_decay(p.key(), p.value());
    exempt += skip;
    if (p.key() == "decoder.cls_emb" || p.key() == "encoder.pos_embed" || p.key() == "encoder.cls_token" ||
        p.value().dim() <= 1)
      EXPECT_TRUE(skip) << p.key();
    else
      EXPECT_FALSE(skip) << p.key();
  }
  EXPECT_GT(exempt, 3);
}

// Per-sample eval batches (the full-resolution eval source's form) give the confusion matrix of the collated
// batch when the samples have one size, and count every labelled pixel at each label's own size when they
// differ; images whose sides are not multiples of the patch are padded for the forward.
TEST(SegmentationTask, PerSampleBatchesOfAnySizeAreEvaluatedAtTheirLabelsSize) {
  torch::manual_seed(rpct::test::test_seed());
  rpct::SegmentationTask task(tiny_seg_config(16, 8), torch::kCPU);
  task.model().eval();
  torch::NoGradGuard no_grad;
  auto collated = random_batch(3, 32, 32, 20, 28);
  rpct::Batch per_sample;
  for (int64_t i = 0; i < 3; ++i) {
    per_sample.sample_views.push_back({collated.x[i]});
    per_sample.sample_labels.push_back(collated.y[i]);
  }
  EXPECT_TRUE(torch::equal(task.eval_sums(per_sample), task.eval_sums(collated)));

  rpct::Batch mixed;  // 21 x 30 (not multiples of the patch 8), 32 x 32, 12 x 40 (a side under the window)
  const std::vector<std::vector<int64_t>> image_sizes = {{21, 30}, {32, 32}, {12, 40}}, label_sizes = {{30, 41}, {32, 32}, {9, 33}};
  double labelled = 0;
  for (size_t i = 0; i < image_sizes.size(); ++i) {
    mixed.sample_views.push_back({torch::randn({3, image_sizes[i][0], image_sizes[i][1]})});
    auto y = torch::randint(0, kClasses, label_sizes[i], torch::kInt64);
    y.index_put_({0}, 255);
    labelled += static_cast<double>((label_sizes[i][0] - 1) * label_sizes[i][1]);
    mixed.sample_labels.push_back(y);
  }
  const auto sums = task.eval_sums(mixed);
  EXPECT_EQ(sums.sum().item<double>(), labelled);
  // Sample by sample gives the same total: the stacking of equal sizes changes nothing.
  torch::Tensor one_by_one = torch::zeros_like(sums);
  for (size_t i = 0; i < image_sizes.size(); ++i) {
    rpct::Batch b;
    b.sample_views = {mixed.sample_views[i]};
    b.sample_labels = {mixed.sample_labels[i]};
    one_by_one += task.eval_sums(b);
  }
  EXPECT_TRUE(torch::equal(one_by_one, sums));
}

// seg.eval_flip on: the scores average the image and its mirror; off: the plain path. The eval result
// carries the per-class table files, named with the generic class names without a data set.
TEST(SegmentationTask, FlipChangesTheScoresAndTheResultHasPerClassTables) {
  torch::manual_seed(rpct::test::test_seed());
  rpct::SegmentationTask plain(tiny_seg_config(32, 32), torch::kCPU);
  rpct::SegmentationTask flipped(tiny_seg_config(32, 32, ", eval_flip: true"), torch::kCPU);
  torch::NoGradGuard no_grad;
  for (auto& p : flipped.model().named_parameters())
    p.value().copy_(plain.model().named_parameters()[p.key()]);
  plain.model().eval();
  flipped.model().eval();
  auto batch = random_batch(4, 32, 32, 32, 32);
  batch.y = plain.segmenter()->forward(batch.x).argmax(1);  // perfect for the plain path
  const auto plain_sums = plain.eval_sums(batch), flip_sums = flipped.eval_sums(batch);
  EXPECT_EQ(plain_sums.view({kClasses, kClasses}).trace().item<double>(), plain_sums.sum().item<double>());
  EXPECT_EQ(flip_sums.sum().item<double>(), plain_sums.sum().item<double>());
  EXPECT_LT(flip_sums.view({kClasses, kClasses}).trace().item<double>(), flip_sums.sum().item<double>())
      << "an untrained model is not mirror-symmetric: some pixels must change their class with flip";

  std::vector<double> v(plain_sums.data_ptr<double>(), plain_sums.data_ptr<double>() + plain_sums.numel());
  const auto r = plain.eval_result(v, 4);
  ASSERT_EQ(r.files.size(), 2u);
  EXPECT_EQ(r.files[0].first, std::string(rpct::kPerClassTableFile) + ".md");
  EXPECT_EQ(r.files[1].first, std::string(rpct::kPerClassTableFile) + ".json");
  EXPECT_NE(r.files[0].second.find("| class_4 |"), std::string::npos) << r.files[0].second;
  EXPECT_NE(r.files[1].second.find("\"name\":\"class_0\""), std::string::npos) << r.files[1].second;
}

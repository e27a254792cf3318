// The segmentation Task: its loss ignores label 255, its evaluation sums are a confusion matrix over the
// labelled pixels (also when the label map has another size than the image), and labels equal to the
// model's own predictions score mIoU = mAcc = aAcc = 1.
#include <gtest/gtest.h>

#include "tests/test_seed.h"
#include "trainer/segmentation.h"
#include "trainer/trainer.h"

namespace {

constexpr int64_t kClasses = 5;

rpct::Config tiny_seg_config(int window, int stride) {
  return rpct::parse_config("model: {img_size: 32, patch: 8, in_chans: 3, num_classes: 5, dim: 32, depth: 1, heads: 2}\n"
                            "attention: {kind: sym}\n"
                            "seg: {decoder: mask, decoder_depth: 1, window: " +
                                std::to_string(window) + ", stride: " + std::to_string(stride) +
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

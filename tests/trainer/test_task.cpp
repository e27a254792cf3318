// The classification task (trainer/classification.h, trainer/task.cpp): which of a real ViT's parameters the
// optimizer's groups decay (make_optimizer, Task::no_weight_decay: tensors of dim <= 1, cls_token, pos_embed),
// named one by one; classification_loss with label smoothing and with soft targets against the definition
// worked out by hand on a 3-class example.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "trainer/classification.h"
#include "trainer/optimizer.h"

namespace {

// The names of the tensors of `group`, looked up among the model's named parameters.
std::set<std::string> names_in(const torch::optim::OptimizerParamGroup& group, const torch::nn::Module& model) {
  std::set<std::string> out;
  for (const auto& t : group.params())
    for (const auto& p : model.named_parameters())
      if (p.value().unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) out.insert(p.key());
  return out;
}

double weight_decay_of(const torch::optim::OptimizerParamGroup& group, const std::string& optimizer) {
  if (optimizer == "sgd") return static_cast<const torch::optim::SGDOptions&>(group.options()).weight_decay();
  return static_cast<const torch::optim::AdamWOptions&>(group.options()).weight_decay();
}

}  // namespace

// A depth-1 ViT: the weight matrices (and the patch embedding's conv kernel) decay; biases, LayerNorm weights
// and biases, and the cls token and position embedding (3-D tensors, exempt by name) do not. Both optimizers
// use the same two groups.
TEST(ClassificationTask, WeightDecayGroupsNameEveryParameter) {
  const std::set<std::string> decayed = {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
                                         "blocks.0.attn.proj.weight", "blocks.0.fc1.weight",
                                         "blocks.0.fc2.weight", "head.weight"};
  const std::set<std::string> not_decayed = {
      "cls_token",           "pos_embed",           "patch_embed.proj.bias", "blocks.0.norm1.weight",
      "blocks.0.norm1.bias", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.bias", "blocks.0.norm2.weight",
      "blocks.0.norm2.bias", "blocks.0.fc1.bias",   "blocks.0.fc2.bias",     "norm.weight",
      "norm.bias",           "head.bias"};
  for (const std::string optimizer : {"adamw", "sgd"}) {
    SCOPED_TRACE(optimizer);
    const auto cfg = rpct::parse_config("model: {patch: 7, dim: 16, depth: 1, heads: 2}\n"
                                        "train: {optimizer: " + optimizer + ", weight_decay: 0.25}\n",
                                        "t.yaml");
    auto task = rpct::make_task(cfg, torch::kCPU);
    std::set<std::string> all;
    for (const auto& p : task->model().named_parameters()) all.insert(p.key());
    std::set<std::string> expected_all = decayed;
    expected_all.insert(not_decayed.begin(), not_decayed.end());
    ASSERT_EQ(all, expected_all) << "the ViT's parameters changed: update the lists above";
    const auto opt = rpct::make_optimizer(*task, cfg.train);
    ASSERT_EQ(opt->param_groups().size(), 2u);
    const auto& decay_group = opt->param_groups()[0];
    const auto& no_decay_group = opt->param_groups()[1];
    EXPECT_EQ(names_in(decay_group, task->model()), decayed);
    EXPECT_EQ(weight_decay_of(decay_group, optimizer), 0.25);
    EXPECT_EQ(names_in(no_decay_group, task->model()), not_decayed);
    EXPECT_EQ(weight_decay_of(no_decay_group, optimizer), 0.0);
  }
}

namespace {

// Two samples, three classes, chosen so the softmax is exact: row 0 p = (1/2, 1/4, 1/4), row 1 p = (1/4, 1/2,
// 1/4) (each row shifted by a constant, which the softmax ignores). Labels 0 and 2.
torch::Tensor hand_logits() {
  const double l2 = std::log(2.0);
  return torch::tensor({{l2 + 1.0, 1.0, 1.0}, {-3.0, l2 - 3.0, -3.0}}, torch::kFloat32);
}
torch::Tensor hand_labels() { return torch::tensor({0, 2}, torch::kLong); }

// float32 log-softmax of logits of order 1 and a mean of two: a few float32 ulps of values around 1.
constexpr double kLossTol = 1e-6;

}  // namespace

// Label smoothing eps over K classes: the target is (1 - eps) one-hot + eps / K, the loss -sum_k q_k log p_k,
// averaged over the batch. With eps = 0.3, K = 3: q = (0.8, 0.1, 0.1) for label 0, (0.1, 0.1, 0.8) for label 2.
//   row 0: -(0.8 log 1/2 + 0.1 log 1/4 + 0.1 log 1/4) = (0.8 + 0.2 + 0.2) ln 2 = 1.2 ln 2
//   row 1: -(0.1 log 1/4 + 0.1 log 1/2 + 0.8 log 1/4) = (0.2 + 0.1 + 1.6) ln 2 = 1.9 ln 2
// mean 1.55 ln 2; without smoothing (ln 2 + 2 ln 2) / 2 = 1.5 ln 2.
TEST(ClassificationLoss, LabelSmoothingIsTheSmoothedTargetByHand) {
  const double ln2 = std::log(2.0);
  const auto smoothed = rpct::classification_loss(hand_logits(), hand_labels(), torch::Tensor(), 0.3);
  EXPECT_NEAR(smoothed.item<double>(), 1.55 * ln2, kLossTol);
  const auto plain = rpct::classification_loss(hand_logits(), hand_labels(), torch::Tensor(), 0.0);
  EXPECT_NEAR(plain.item<double>(), 1.5 * ln2, kLossTol);
}

// Soft targets (Mixup / CutMix, smoothing already in them): -sum_k soft_k log p_k, averaged over the batch; the
// labels and the smoothing argument are not used.
//   row 0, soft (0.6, 0.4, 0):   -(0.6 log 1/2 + 0.4 log 1/4) = (0.6 + 0.8) ln 2 = 1.4 ln 2
//   row 1, soft (0, 0.5, 0.5):   -(0.5 log 1/2 + 0.5 log 1/4) = (0.5 + 1.0) ln 2 = 1.5 ln 2
// mean 1.45 ln 2.
TEST(ClassificationLoss, SoftTargetsAreTheCrossEntropyByHand) {
  const auto soft = torch::tensor({{0.6, 0.4, 0.0}, {0.0, 0.5, 0.5}}, torch::kFloat32);
  const auto loss = rpct::classification_loss(hand_logits(), hand_labels(), soft, /*smoothing=*/0.3);
  EXPECT_NEAR(loss.item<double>(), 1.45 * std::log(2.0), kLossTol);
}

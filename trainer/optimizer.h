// The optimizer of train.*: AdamW (DeiT/timm) or SGD with momentum (Segmenter/mmseg), both with the same
// two parameter groups (weight decay, then none for Task::no_weight_decay's tensors); and its per-parameter
// state as named tensors, the form a checkpoint stores (optim.safetensors):
//   adamw: exp_avg/<param>, exp_avg_sq/<param> tensors, step/<param> in the metadata;
//   sgd:   momentum_buffer/<param> (absent before the first step, and with momentum 0);
// the metadata key "optimizer" names which ("adamw" when missing: checkpoints from before SGD).
#pragma once
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>

#include "trainer/config.h"
#include "trainer/safetensors.h"
#include "trainer/task.h"

namespace rpct {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Task& task, const TrainConfig& t);

// "adamw" or "sgd" (train.optimizer's names); throws for any other optimizer.
std::string optimizer_kind(const torch::optim::Optimizer& opt);

struct OptimizerState {
  NamedTensors tensors;                         // on the parameters' device
  std::map<std::string, std::string> metadata;  // "optimizer" + per-parameter scalars
};

// `opt`'s state of `params` (names as in the model): its live tensors, not copies; parameters without state
// (no step yet) are left out.
OptimizerState save_optimizer_state(torch::optim::Optimizer& opt, const NamedTensors& params);

// Replaces `opt`'s state of `params` by copies of `saved`, read from `file` (named in errors). A state written by
// another optimizer than `opt` is an error naming the file and both optimizers; a parameter whose state is
// absent gets none (it had taken no step); a saved tensor of another shape is an error naming it.
void load_optimizer_state(torch::optim::Optimizer& opt, const NamedTensors& params, const OptimizerState& saved,
                          const std::string& file);

}  // namespace rpct

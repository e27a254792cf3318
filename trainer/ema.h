// Exponential moving average of a model's parameters (timm's ModelEmaV2 without the buffers):
// after every optimizer step, ema = decay * ema + (1 - decay) * param. Checkpointed as "ema/<name>".
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace rpct {

class Ema {
 public:
  // Starts as a copy of `params` (name, tensor), whose tensors it follows.
  Ema(const std::vector<std::pair<std::string, torch::Tensor>>& params, double decay);
  void update();
  const std::vector<torch::Tensor>& tensors() const { return ema_; }  // same order as the parameters
  double decay() const { return decay_; }

 private:
  std::vector<torch::Tensor> params_, ema_;
  double decay_;
};

}  // namespace rpct

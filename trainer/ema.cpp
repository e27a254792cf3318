#include "trainer/ema.h"

namespace rpct {

Ema::Ema(const std::vector<std::pair<std::string, torch::Tensor>>& params, double decay) : decay_(decay) {
  for (const auto& p : params) {
    params_.push_back(p.second);
    ema_.push_back(p.second.detach().clone());
  }
}

void Ema::update() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ema_.size(); ++i) ema_[i].mul_(decay_).add_(params_[i].detach(), 1.0 - decay_);
}

}  // namespace rpct

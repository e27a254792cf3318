// LR as a function of training progress in epochs (e.g. 2.5 = half-way through the third epoch):
// linear warmup from warmup_lr to lr over warmup_epochs, then cosine decay to min_lr at t.epochs
// (DeiT/timm, per step). Progress in epochs, not steps, so a resume at another world size (other
// steps per epoch) follows the same curve.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "trainer/config.h"

namespace rpct {

inline double lr_at(const TrainConfig& t, double epoch_progress) {
  const double warm = t.warmup_epochs;
  if (epoch_progress < warm) return t.warmup_lr + (t.lr - t.warmup_lr) * epoch_progress / warm;
  const double span = std::max(1e-9, static_cast<double>(t.epochs) - warm);
  const double p = std::min(1.0, (epoch_progress - warm) / span);
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(M_PI * p));
}

}  // namespace rpct

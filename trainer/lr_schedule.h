// Per-step LR: linear warmup from warmup_lr to lr, then cosine decay to min_lr (DeiT/timm).
#pragma once
#include <cmath>
#include <cstdint>

#include "trainer/config.h"

namespace rpct {

inline double lr_at(const TrainConfig& t, int64_t step, int64_t total_steps, int64_t steps_per_epoch) {
  const double warm = t.warmup_epochs * static_cast<double>(steps_per_epoch);
  if (step < warm) return t.warmup_lr + (t.lr - t.warmup_lr) * step / warm;
  const double span = std::max(1.0, static_cast<double>(total_steps) - warm);
  const double progress = std::min(1.0, (step - warm) / span);
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace rpct

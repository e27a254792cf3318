// The learning rate as a function of training progress: linear warmup from warmup_lr to lr, then a decay
// to min_lr at the end of training, per optimizer step:
//   cosine (DeiT/timm):   lr(p) = min_lr + 0.5 (lr - min_lr)(1 + cos(pi p))
//   poly (mmseg PolyLR):  lr(p) = (lr - min_lr)(1 - p)^poly_power + min_lr
// where p in [0, 1] is the fraction of the post-warmup span done. Progress is counted in the unit that
// measures the run's length (SchedulePosition): epochs when train.iters is 0 (e.g. 2.5 = half-way through the
// third epoch, so a resume at another world size, with other steps per epoch, follows the same curve), or
// optimizer steps with train.iters (mmseg: the LR of iteration i, 0-based, is lr(i / iters)).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "trainer/config.h"

namespace rpct {

// Where training stands, all three in one unit (epochs or optimizer steps).
struct SchedulePosition {
  double done = 0;    // progress so far
  double total = 1;   // the run's length
  double warmup = 0;  // the warmup's length
};

// The position for a run with `steps_per_epoch` optimizer steps per epoch, `step` steps done and
// `epoch_progress` epochs done: in steps with train.iters (warmup_epochs converted to steps), else in epochs.
inline SchedulePosition schedule_position(const TrainConfig& t, int64_t steps_per_epoch, int64_t step,
                                          double epoch_progress) {
  if (t.iters > 0)
    return {static_cast<double>(step), static_cast<double>(t.iters), t.warmup_epochs * steps_per_epoch};
  return {epoch_progress, static_cast<double>(t.epochs), t.warmup_epochs};
}

inline double lr_at(const TrainConfig& t, const SchedulePosition& at) {
  const double warm = at.warmup;
  if (at.done < warm) return t.warmup_lr + (t.lr - t.warmup_lr) * at.done / warm;
  const double span = std::max(1e-9, at.total - warm);
  const double p = std::min(1.0, (at.done - warm) / span);
  if (t.schedule == "poly") return (t.lr - t.min_lr) * std::pow(1.0 - p, t.poly_power) + t.min_lr;
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(M_PI * p));
}

}  // namespace rpct

// Per-process runtime set-up shared by every command that runs a model: threads, flush-to-zero, seed,
// and the device of this rank.
#pragma once
#include <torch/torch.h>

#include "distributed/dist_context.h"
#include "trainer/config.h"

namespace rpct {

// Sets intra-op threads (train.threads, or cores / ranks on this node), flush-to-zero per
// train.flush_denormal (core/ftz.h), and seeds torch with train.seed.
void configure_runtime(const Config& cfg, const DistContext& dist);

// The device of this rank: train.device (auto = cuda:<local rank> when CUDA is available, else cpu).
torch::Device pick_device(const Config& cfg, const DistContext& dist);

}  // namespace rpct

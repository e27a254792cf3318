// The training loop: data-parallel over the ranks of DistContext (one process = world size 1).
#pragma once
#include <string>

#include "datasets/fashion_mnist.h"
#include "datasets/loader.h"
#include "distributed/dist_context.h"
#include "models/vit.h"
#include "trainer/config.h"

namespace rpct {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;
  int64_t samples = 0;
};

struct TrainResult {
  EvalResult eval;        // after the last epoch
  double train_loss = 0;  // mean over the last epoch, all ranks
  int epochs = 0;
  int64_t steps = 0;
  double images_per_s = 0;  // training images per second (train steps only), all ranks together
  double seconds = 0;
  std::string run_dir;
  std::string params_sha256;  // of the final parameters (names + bytes, registration order)
};

// Sets intra-op threads (train.threads, or cores / ranks on this node), flush-to-zero per
// train.flush_denormal, and seeds torch.
void configure_runtime(const Config& cfg, const DistContext& dist);

// The device of this rank: train.device (auto = cuda:<local rank> when CUDA is available, else cpu).
torch::Device pick_device(const Config& cfg, const DistContext& dist);

// Evaluates `model` on `set`, sharded across ranks; metrics are global (reduced).
EvalResult evaluate(ViT& model, BatchSource& set, const Config& cfg, const DistContext& dist);

// Trains per `cfg`; rank 0 writes <run_dir>/{metrics.jsonl, model.safetensors, ckpt/step_*/}.
// `resume`: "" (fresh), "auto" (newest valid checkpoint of run_dir, if any) or a checkpoint dir.
TrainResult train(const Config& cfg, DistContext& dist, const std::string& run_dir, const std::string& resume = "");

// One optimizer step on a batch (used by train() and by tests). Returns the loss.
double train_step(ViT& model, torch::optim::Optimizer& opt, const torch::Tensor& x, const torch::Tensor& y,
                  const TrainConfig& t);

// AdamW with timm's parameter groups: no weight decay for biases, norms, cls/pos tokens.
std::unique_ptr<torch::optim::AdamW> make_optimizer(ViT& model, const TrainConfig& t);

}  // namespace rpct

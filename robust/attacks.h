// Adversarial attacks on a classifier in eval mode (cleverhans' definitions, as the RPC-Attention authors
// ran them): untargeted, L-inf, against given labels (the benchmark passes the model's own clean
// predictions, cleverhans' default that avoids label leaking).
//   FGSM  one step z + eps * sign(grad_z CE(f(z), y)).
//   PGD   random start z + U(-eps, eps), then `pgd_steps` FGSM steps of pgd_step_fraction * eps, each
//         projected back onto the eps ball around z (and the valid range).
//   SPSA  gradient-free (Uesato et al. 2018): Adam (lr spsa_lr) on the perturbation, the gradient estimated
//         from spsa_samples random +-spsa_delta sign directions (each used with both signs) of the margin
//         loss logit_y - max_{k != y} logit_k, projected after every step; random start as PGD.
// Input spaces: kNormalized attacks the model's normalized input tensors with eps in those units and no
// clipping (the authors' setting); kPixel attacks the [0, 1] pixel image (model input = (pixel - mean) / std)
// with eps in pixel units, every iterate clipped to [0, 1] (the usual setting).
// Gradients come from LibTorch autograd through the whole model (the fused attention backward included).
// Every random draw is a function of (seed, the sample's global index, the attack and its eps), so the result
// of a sample does not depend on the batch or the rank it lands in.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rpct::robust {

enum class AttackKind { kFgsm, kPgd, kSpsa };
enum class InputSpace { kNormalized, kPixel };

const char* attack_name(AttackKind k);      // "fgsm" | "pgd" | "spsa"
const char* input_space_name(InputSpace s);  // "normalized" | "pixel"
AttackKind parse_attack_kind(const std::string& s);    // throws std::invalid_argument listing the valid names
InputSpace parse_input_space(const std::string& s);

// Model inputs (B, C, H, W) normalized -> logits (B, classes).
using LogitsFn = std::function<torch::Tensor(const torch::Tensor&)>;

struct AttackOptions {
  AttackKind kind = AttackKind::kFgsm;
  InputSpace space = InputSpace::kNormalized;
  double eps = 1.0 / 255;
  std::vector<double> mean, std;  // per input channel: pixel = normalized * std + mean
  int pgd_steps = 20;
  double pgd_step_fraction = 0.15;  // PGD step = this * eps
  // SPSA: cleverhans' defaults (lr, delta, samples); iterations as the authors' attack script (10; the
  // paper's text says 40).
  int spsa_iters = 10;
  int spsa_samples = 128;
  double spsa_lr = 0.01, spsa_delta = 0.01;
  uint64_t seed = 0;
};

// x: (B, C, H, W) normalized model inputs; labels: (B,) int64, the labels to move away from; slots: the
// samples' global indices (B values; keys of their random draws). Returns the adversarial model inputs
// (B, C, H, W), detached. Throws std::invalid_argument on mismatched sizes or a missing mean/std.
torch::Tensor attack(const LogitsFn& model, const torch::Tensor& x, const torch::Tensor& labels,
                     const std::vector<int64_t>& slots, const AttackOptions& opt);

// The margin loss of SPSA per sample: logit_y - max_{k != y} logit_k ((B,) from (B, classes) and (B,)).
torch::Tensor margin_loss(const torch::Tensor& logits, const torch::Tensor& labels);

// (B, sample_shape...) uniform [0, 1) float values; sample i's from (seed, slots[i], stream) only.
torch::Tensor per_sample_uniform(const std::vector<int64_t>& slots, at::IntArrayRef sample_shape, uint64_t seed,
                                 uint64_t stream);

}  // namespace rpct::robust

#include "robust/attacks.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "datasets/fashion_mnist.h"  // mix64
#include "datasets/transforms.h"     // SampleRng

namespace rpct::robust {

namespace F = torch::nn::functional;

namespace {

// Adam's constants (torch.optim.Adam defaults, which cleverhans' SPSA uses).
constexpr double kAdamBeta1 = 0.9, kAdamBeta2 = 0.999, kAdamEps = 1e-8;

// The attack's space and the model's input space: z = x (normalized) or z = x * std + mean (pixel).
struct Space {
  bool pixel = false;
  torch::Tensor mean, std;  // (1, C, 1, 1)

  torch::Tensor to_model(const torch::Tensor& z) const { return pixel ? (z - mean) / std : z; }
  torch::Tensor from_model(const torch::Tensor& x) const { return pixel ? x * std + mean : x; }
  torch::Tensor clip(const torch::Tensor& z) const { return pixel ? z.clamp(0.0, 1.0) : z; }
  // z0 + delta with delta in the eps ball, then the valid range (cleverhans clip_eta + clamp).
  torch::Tensor project(const torch::Tensor& z0, const torch::Tensor& z, double eps) const {
    return clip(z0 + (z - z0).clamp(-eps, eps));
  }
};

Space make_space(const AttackOptions& opt, const torch::Tensor& x) {
  Space s;
  s.pixel = opt.space == InputSpace::kPixel;
  if (!s.pixel) return s;
  const int64_t C = x.size(1);
  if (static_cast<int64_t>(opt.mean.size()) != C || static_cast<int64_t>(opt.std.size()) != C)
    throw std::invalid_argument("attack: pixel space needs one mean and std per input channel (" + std::to_string(C) +
                                "), got " + std::to_string(opt.mean.size()) + " and " + std::to_string(opt.std.size()));
  auto o = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  s.mean = torch::tensor(opt.mean, torch::kFloat64).to(o).view({1, C, 1, 1});
  s.std = torch::tensor(opt.std, torch::kFloat64).to(o).view({1, C, 1, 1});
  return s;
}

// The key of this attack's random draws: the kind, the space and eps (so the eps grid's runs differ).
uint64_t attack_stream(const AttackOptions& opt) {
  uint64_t eps_bits = 0;
  std::memcpy(&eps_bits, &opt.eps, sizeof(eps_bits));
  return mix64(mix64(static_cast<uint64_t>(opt.kind) * 2 + static_cast<uint64_t>(opt.space)) ^ eps_bits);
}

// d/dz of the summed cross-entropy of f(z) (the sum, not the mean: a sample's gradient then does not depend on
// the batch it is in; the sign, all FGSM and PGD use, is the same).
torch::Tensor input_gradient(const LogitsFn& model, const Space& sp, const torch::Tensor& z, const torch::Tensor& y) {
  torch::AutoGradMode grad_on(true);
  auto zz = z.detach().requires_grad_(true);
  auto loss = F::cross_entropy(model(sp.to_model(zz)), y, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  return torch::autograd::grad({loss}, {zz})[0];
}

torch::Tensor fgsm_step(const LogitsFn& model, const Space& sp, const torch::Tensor& z, const torch::Tensor& y,
                        double step) {
  return sp.clip(z + step * input_gradient(model, sp, z, y).sign()).detach();
}

// Random start: z0 + U(-eps, eps) per value, in the valid range.
torch::Tensor random_start(const Space& sp, const torch::Tensor& z0, const std::vector<int64_t>& slots, double eps,
                           uint64_t seed, uint64_t stream) {
  auto u = per_sample_uniform(slots, z0.sizes().slice(1), seed, stream).to(z0.device(), z0.scalar_type());
  return sp.project(z0, z0 + (u * 2 - 1) * eps, eps);
}

// (count, sample_shape...) values +-1, from (seed, slot, stream) only.
torch::Tensor random_signs(int64_t slot, int64_t count, at::IntArrayRef sample_shape, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> shape{count};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  auto t = torch::empty(shape, torch::kFloat32);
  float* p = t.data_ptr<float>();
  SampleRng rng(seed, /*epoch=*/0, slot, stream);
  uint64_t bits = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 64 == 0) bits = rng.next_u64();
    p[i] = (bits >> (i % 64)) & 1 ? 1.0f : -1.0f;
  }
  return t;
}

// SPSA on one sample z0 (1, C, H, W) with label y (1,). The gradient is estimated at the current iterate
// z0 + perturbation, as in Uesato et al. and cleverhans' TF version (the torch port's _compute_spsa_gradient
// is handed the clean x and a loss that adds x again, i.e. it probes 2x + delta).
torch::Tensor spsa_one(const LogitsFn& model, const Space& sp, const torch::Tensor& z0, const torch::Tensor& y,
                       int64_t slot, const AttackOptions& opt, uint64_t stream) {
  torch::NoGradGuard no_grad;
  const double eps = opt.eps, delta = opt.spsa_delta;
  const int64_t S = opt.spsa_samples;
  auto z = random_start(sp, z0, {slot}, eps, opt.seed, stream);
  auto m = torch::zeros_like(z), v = torch::zeros_like(z);
  auto labels = y.expand({2 * S});
  const auto sample_shape = z0.sizes().slice(1);
  std::vector<int64_t> bcast(z0.dim(), 1);
  bcast[0] = 2 * S;
  for (int t = 1; t <= opt.spsa_iters; ++t) {
    // Gradient estimate of the margin loss at z: mean over +-delta sign directions of loss * sign / delta.
    auto signs = random_signs(slot, S, sample_shape, opt.seed, mix64(stream + static_cast<uint64_t>(t)))
                     .to(z.device(), z.scalar_type());
    signs = torch::cat({signs, -signs});                                               // (2S, C, H, W)
    auto loss = margin_loss(model(sp.to_model(z + delta * signs)), labels);            // (2S,)
    auto g = (loss.view(bcast) * signs).mean(0, /*keepdim=*/true) / delta;              // (1, C, H, W)
    // Adam step on the perturbation (torch.optim.Adam), then the projection.
    m.mul_(kAdamBeta1).add_(g, 1 - kAdamBeta1);
    v.mul_(kAdamBeta2).addcmul_(g, g, 1 - kAdamBeta2);
    const double bc1 = 1 - std::pow(kAdamBeta1, t), bc2 = 1 - std::pow(kAdamBeta2, t);
    auto step = m / (v.sqrt() / std::sqrt(bc2) + kAdamEps) * (opt.spsa_lr / bc1);
    z = sp.project(z0, z - step, eps);
  }
  return z;
}

}  // namespace

const char* attack_name(AttackKind k) {
  switch (k) {
    case AttackKind::kFgsm: return "fgsm";
    case AttackKind::kPgd: return "pgd";
    case AttackKind::kSpsa: return "spsa";
  }
  return "?";
}

const char* input_space_name(InputSpace s) { return s == InputSpace::kPixel ? "pixel" : "normalized"; }

AttackKind parse_attack_kind(const std::string& s) {
  for (auto k : {AttackKind::kFgsm, AttackKind::kPgd, AttackKind::kSpsa})
    if (s == attack_name(k)) return k;
  throw std::invalid_argument("unknown attack '" + s + "' (fgsm, pgd, spsa)");
}

InputSpace parse_input_space(const std::string& s) {
  for (auto k : {InputSpace::kNormalized, InputSpace::kPixel})
    if (s == input_space_name(k)) return k;
  throw std::invalid_argument("unknown input space '" + s + "' (normalized, pixel)");
}

torch::Tensor margin_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto correct = logits.gather(1, labels.unsqueeze(1)).squeeze(1);  // (B,)
  auto others = logits.scatter(1, labels.unsqueeze(1), -std::numeric_limits<float>::infinity());
  return correct - std::get<0>(others.max(1));
}

torch::Tensor per_sample_uniform(const std::vector<int64_t>& slots, at::IntArrayRef sample_shape, uint64_t seed,
                                 uint64_t stream) {
  std::vector<int64_t> shape{static_cast<int64_t>(slots.size())};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  auto t = torch::empty(shape, torch::kFloat32);
  const int64_t per = slots.empty() ? 0 : t.numel() / static_cast<int64_t>(slots.size());
  float* p = t.data_ptr<float>();
  for (size_t i = 0; i < slots.size(); ++i) {
    SampleRng rng(seed, /*epoch=*/0, slots[i], stream);
    for (int64_t k = 0; k < per; ++k) p[i * per + k] = static_cast<float>(rng.uniform());
  }
  return t;
}

torch::Tensor attack(const LogitsFn& model, const torch::Tensor& x, const torch::Tensor& labels,
                     const std::vector<int64_t>& slots, const AttackOptions& opt) {
  if (x.dim() != 4 || labels.dim() != 1 || labels.size(0) != x.size(0) ||
      static_cast<int64_t>(slots.size()) != x.size(0))
    throw std::invalid_argument("attack: expected x (B, C, H, W), labels (B,) and B slots; got x " +
                                c10::str(x.sizes()) + ", labels " + c10::str(labels.sizes()) + ", " +
                                std::to_string(slots.size()) + " slots");
  if (!(opt.eps >= 0)) throw std::invalid_argument("attack: eps must be >= 0, got " + std::to_string(opt.eps));
  const Space sp = make_space(opt, x);
  const uint64_t stream = attack_stream(opt);
  const auto z0 = sp.from_model(x.detach());
  torch::Tensor z;
  switch (opt.kind) {
    case AttackKind::kFgsm:
      z = fgsm_step(model, sp, z0, labels, opt.eps);
      break;
    case AttackKind::kPgd: {
      z = random_start(sp, z0, slots, opt.eps, opt.seed, stream);
      for (int i = 0; i < opt.pgd_steps; ++i)
        z = sp.project(z0, fgsm_step(model, sp, z, labels, opt.pgd_step_fraction * opt.eps), opt.eps);
      break;
    }
    case AttackKind::kSpsa: {
      std::vector<torch::Tensor> out;
      for (int64_t i = 0; i < x.size(0); ++i)
        out.push_back(spsa_one(model, sp, z0.narrow(0, i, 1), labels.narrow(0, i, 1), slots[i], opt, stream));
      z = torch::cat(out);
      break;
    }
  }
  return sp.to_model(z).detach();
}

}  // namespace rpct::robust

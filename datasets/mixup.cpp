#include "datasets/mixup.h"

#include <algorithm>
#include <cmath>

#include "datasets/fashion_mnist.h"  // mix64

namespace rpct {

torch::Tensor smooth_one_hot(const torch::Tensor& labels, int64_t num_classes, double smoothing) {
  const int64_t B = labels.size(0);
  auto t = torch::full({B, num_classes}, static_cast<float>(smoothing / num_classes), torch::kFloat32);
  const float on = static_cast<float>(1.0 - smoothing + smoothing / num_classes);
  auto lab = labels.to(torch::kInt64).contiguous();
  const int64_t* l = lab.data_ptr<int64_t>();
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < B; ++i) {
    TORCH_CHECK(l[i] >= 0 && l[i] < num_classes, "smooth_one_hot: label ", l[i], " out of range [0, ", num_classes, ")");
    p[i * num_classes + l[i]] = on;
  }
  return t;
}

torch::Tensor mixup_cutmix(torch::Tensor& x, const torch::Tensor& labels, const MixupOptions& opt, uint64_t seed,
                           int64_t epoch, const std::vector<int64_t>& indices) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == torch::kFloat32 && x.is_contiguous(),
              "mixup_cutmix: x must be a contiguous float (B, C, H, W) tensor");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  uint64_t key = mix64(0x6D69787570ull);  // "mixup"
  for (int64_t i : indices) key = mix64(key ^ static_cast<uint64_t>(i));
  SampleRng rng(seed, epoch, static_cast<int64_t>(key), /*stream=*/3);
  double lam = 1.0;
  bool use_cutmix = false;
  double lam_mix = 1.0;
  if (opt.mixup_alpha > 0 && opt.cutmix_alpha > 0) {
    use_cutmix = rng.uniform() < opt.switch_prob;
    lam_mix = use_cutmix ? rng.beta(opt.cutmix_alpha, opt.cutmix_alpha) : rng.beta(opt.mixup_alpha, opt.mixup_alpha);
  } else if (opt.mixup_alpha > 0) {
    lam_mix = rng.beta(opt.mixup_alpha, opt.mixup_alpha);
  } else if (opt.cutmix_alpha > 0) {
    use_cutmix = true;
    lam_mix = rng.beta(opt.cutmix_alpha, opt.cutmix_alpha);
  }
  if (rng.uniform() < opt.prob) lam = lam_mix;
  float* p = x.data_ptr<float>();
  const int64_t plane = H * W, sample = C * plane;
  if (use_cutmix && lam < 1.0) {
    // timm rand_bbox + correct_lam: the box is cut around a uniform centre and clipped.
    const double ratio = std::sqrt(1.0 - lam);
    const int64_t cut_h = static_cast<int64_t>(H * ratio), cut_w = static_cast<int64_t>(W * ratio);
    const int64_t cy = rng.randint(0, H - 1), cx = rng.randint(0, W - 1);
    const int64_t yl = std::clamp<int64_t>(cy - cut_h / 2, 0, H), yh = std::clamp<int64_t>(cy + cut_h / 2, 0, H);
    const int64_t xl = std::clamp<int64_t>(cx - cut_w / 2, 0, W), xh = std::clamp<int64_t>(cx + cut_w / 2, 0, W);
    lam = 1.0 - double((yh - yl) * (xh - xl)) / double(H * W);
    for (int64_t i = 0; i < B / 2; ++i) {
      float* a = p + i * sample;
      float* b = p + (B - 1 - i) * sample;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = yl; y < yh; ++y)
          for (int64_t xx = xl; xx < xh; ++xx) std::swap(a[c * plane + y * W + xx], b[c * plane + y * W + xx]);
    }
  } else if (lam < 1.0) {
    const float l = static_cast<float>(lam), m = static_cast<float>(1.0 - lam);
    for (int64_t i = 0; i < B / 2; ++i) {
      float* a = p + i * sample;
      float* b = p + (B - 1 - i) * sample;
      for (int64_t k = 0; k < sample; ++k) {
        const float va = a[k], vb = b[k];
        a[k] = l * va + m * vb;
        b[k] = l * vb + m * va;
      }
    }
  }
  auto y1 = smooth_one_hot(labels, opt.num_classes, opt.label_smoothing);
  return y1.mul(static_cast<float>(lam)).add_(y1.flip({0}).mul_(static_cast<float>(1.0 - lam)));
}

}  // namespace rpct
